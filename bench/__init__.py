"""Benchmarks: ``python -m bench`` (or ``make bench``) prints the tables for docs/performance.md."""
