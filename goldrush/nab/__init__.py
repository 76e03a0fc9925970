"""The Numenta Anomaly Benchmark: corpus loading and a scorer written from NAB v1.1's rules."""
