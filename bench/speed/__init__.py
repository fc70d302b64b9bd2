"""The speed suite's measurements (timed by pytest-benchmark in bench/speed/suite, shipped with the package)."""
