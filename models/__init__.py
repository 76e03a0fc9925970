"""Anomaly and trend models (numpy, scikit-learn) with a common online interface."""
