"""The five operators, one module each, behind one protocol (`base.Operator`).

Importing this package registers every built-in operator's builder in `BUILDERS`,
which the compiler consults by clause `op`.
"""

from goldrush.operators.base import BUILDERS, Operator, builds
from goldrush.operators.concurrent import ConcurrentOp
from goldrush.operators.frequency import COUNT_OPS, FrequencyOp
from goldrush.operators.recent import RecentOp
from goldrush.operators.sequence import Partial, SequenceOp
from goldrush.operators.trend import TrendOp, TrendState

__all__ = ["BUILDERS", "Operator", "builds", "ConcurrentOp", "FrequencyOp", "COUNT_OPS", "RecentOp",
           "Partial", "SequenceOp", "TrendOp", "TrendState"]
