"""Benchmarks behind `goldrush bench`: figures go in notes and the README, never into tests."""
