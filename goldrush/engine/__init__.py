"""The engine: reorder buffer, per-key evaluation, the worker's stages, and replay.

Pure Python over the compiled set: nothing here imports Faust, aiokafka or the agents,
so replay and the streaming worker run the very same code.
"""

from goldrush.engine.engine import Engine

__all__ = ["Engine"]
