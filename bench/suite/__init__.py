"""Comparisons across tasks: a suite file names cases (task, data, space, budget, seeds); `bench compare --suite` runs
every case for every algorithm and aggregates over them (bench.report.aggregate)."""
