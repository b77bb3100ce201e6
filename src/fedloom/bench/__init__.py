"""Benchmarks: ``run()`` functions returning plain dicts (the CLI prints them)."""
