"""Tasks: what a trial trains and how it is scored (data splits, model builder, objective)."""
