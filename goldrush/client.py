"""The public path of the Kafka clients (`from goldrush.client import EventProducer, ActionConsumer, PatternStore`).

They live in `goldrush.kafka.client`; this name is what the README documents.
"""

from goldrush.kafka.client import ActionConsumer, EventProducer
from goldrush.kafka.pattern_store import PatternStore

__all__ = ["EventProducer", "ActionConsumer", "PatternStore"]
