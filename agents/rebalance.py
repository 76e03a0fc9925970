"""What a rebalance does to the worker's in-memory state, registered on the Faust app."""

from __future__ import annotations

from typing import Any

import faust

from .host import EngineHost
from .in_place import Router, in_place_holds
from .keys_in_place import KeysHere
from .source_consumer import SourceConsumer


def follow_rebalances(app: faust.App, host: EngineHost, sources: SourceConsumer, router: Router | None,
                      keys_here: KeysHere | None, keyed_topic: str) -> None:
    """On revocation, state no snapshot covers is dropped and its input read again; on assignment,
    before the stages resume, the keys go in place or take the hop (agents/keys_in_place.py)."""

    @app.on_partitions_revoked.connect
    async def on_revoked(app_: faust.App, revoked: Any, **kwargs: Any) -> None:
        if router is not None:  # nothing in place until a new barrier passes; what no snapshot covers is read again
            router.reset()
            sources.rewind(in_place_holds([*router.take_dropped(), *(r for rs in host.unacked.values() for r in rs)]))
        host.unload_all()  # partitions may move: reload tenants and keys lazily from the tables
        if keys_here is not None:
            keys_here.reset()

    @app.on_partitions_assigned.connect
    async def on_assigned(app_: faust.App, assigned: Any, **kwargs: Any) -> None:
        """While no stage of the group writes to the keyed topic."""
        if keys_here is not None:
            await keys_here.follow({tp.partition for tp in assigned if tp.topic == keyed_topic})
