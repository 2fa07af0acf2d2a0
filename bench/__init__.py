"""Benchmarks for the crisis timeline service (see bench/README.md)."""
