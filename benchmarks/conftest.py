"""Benchmarks run only on request: `pytest benchmarks/ --benchmark-only` (not in the default
test run, whose testpaths is tests/). Timings are for comparison within one run."""
