"""The speed suite's measurements (timed by pytest-benchmark in tests/speed)."""
