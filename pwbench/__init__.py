"""pwbench: a benchmark harness for action-conditioned robot video world models."""

__version__ = "0.1.0"
