"""Kafka at the edges: the asyncio producer and consumers users call, and the embedded broker."""
