"""Benchmarks for flowvault, run by hand: ``python -m bench``."""
