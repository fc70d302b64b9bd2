"""One tuning run: config, budget guard, the shared trial harness, training, records and progress."""
