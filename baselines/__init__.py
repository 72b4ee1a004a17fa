"""Baseline world models, each a pwbench plugin (registered through the ``pwbench.models`` entry points)."""
