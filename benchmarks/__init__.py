"""Measurements of the bot (not tests): run them with `python -m benchmarks`; see benchmarks/README.md."""
