"""Rebuild comparison tables, plots and report.html from recorded runs alone."""
