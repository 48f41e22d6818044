"""Benchmark suite for fastmlp (airspeed velocity suite + ``compare.py``).

Kept deliberately empty: subprocess benchmarks import ``benchmarks._workloads``
and must not pay for anything else.
"""
