"""Anomaly and trend models (numpy, scikit-learn) with a common online interface."""

from . import registry  # noqa: F401  (installs the name lookup `Stateful.from_state` uses)
