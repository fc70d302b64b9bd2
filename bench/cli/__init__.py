"""Command-line front ends: `bench run`, `list`, `space`, `compare`, `report`, `speed`."""
