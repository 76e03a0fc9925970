"""What the worker asks the broker about consumer groups' committed offsets, outside any stage."""

from __future__ import annotations

import logging

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata

from .config import WorkerConfig

log = logging.getLogger("goldrush.worker")


async def adopt_earlier_offsets(cfg: WorkerConfig) -> None:
    """Source partitions the ingest group `<app-id>-ingest` never committed get the offsets of the
    group `<app-id>`: versions before it read the sources with a Faust agent in that group, and an
    upgrade must not read the whole retention of the sources again.

    Done before joining, by committing for the ingest group: a rebalance listener
    seeks too late (aiokafka has fetched from the reset position by then).
    """
    ingest = AIOKafkaConsumer(bootstrap_servers=cfg.broker, group_id=f"{cfg.app_id}-ingest",
                              enable_auto_commit=False)
    earlier = AIOKafkaConsumer(bootstrap_servers=cfg.broker, group_id=cfg.app_id, enable_auto_commit=False)
    try:
        await ingest.start()
        await earlier.start()
        existing = await ingest.topics()  # only topics that exist: a metadata request may create one
        partitions = [TopicPartition(t, p) for t in cfg.topics if t in existing
                      for p in sorted(ingest.partitions_for_topic(t) or ())]
        if not partitions:
            return
        ingest.assign(partitions)
        earlier.assign(partitions)
        adopt = {}
        for tp in partitions:
            if await ingest.committed(tp) is None:
                offset = await earlier.committed(tp)
                if offset is not None:
                    adopt[tp] = OffsetAndMetadata(offset, "")
        if adopt:
            await ingest.commit(adopt)
            log.info("source partitions %s start where group %s stopped",
                     {f"{tp.topic}/{tp.partition}": o.offset for tp, o in adopt.items()}, cfg.app_id)
    except KafkaError as exc:  # e.g. members of the new group already committing: they have offsets
        log.warning("could not take over group %s's source offsets (%s)", cfg.app_id, exc)
    finally:
        await ingest.stop()
        await earlier.stop()


async def read_to_the_end(broker: str, topic: str, group: str, partitions: set[int]) -> set[int]:
    """Those `partitions` of `topic` that `group` has read to the end (committed offset = end offset),
    as far as the broker says now; none when it cannot say (agents/in_place.py then sends barriers)."""
    if not partitions:
        return set()
    tps = [TopicPartition(topic, p) for p in sorted(partitions)]
    reader = AIOKafkaConsumer(bootstrap_servers=broker, group_id=group, enable_auto_commit=False)
    try:
        await reader.start()
        ends = await reader.end_offsets(tps)
        starts = await reader.beginning_offsets(tps)
        out = set()
        for tp in tps:
            committed = await reader.committed(tp)
            if (starts[tp] if committed is None else committed) >= ends[tp]:
                out.add(tp.partition)
        return out
    except KafkaError as exc:
        log.info("could not tell whether %s was read to the end (%s): barriers instead", topic, exc)
        return set()
    finally:
        await reader.stop()
