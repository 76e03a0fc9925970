"""The public path of the Kafka clients (`from goldrush.client import EventProducer, ActionConsumer`).

They live in `goldrush.kafka.client`; this name is what the README documents.
"""

from goldrush.kafka.client import ActionConsumer, EventProducer

__all__ = ["EventProducer", "ActionConsumer"]
