"""The benchmark's phases, one module each. Every module's `run(bench)` (or,
for polling, `measure(bench, group)`) measures through bench/run.py's Bench:
its fixtures, its stack, and `bench.phase()` for CPU accounting and re-runs."""
