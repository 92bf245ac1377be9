"""The test kit: sample events, a rules worker run as a process and readers of what it published.

Used by the tests and the benchmarks; no product module imports it (an import contract in ``.importlinter``).
"""
