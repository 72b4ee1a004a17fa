"""World models: the interface every model implements, the registry, calibration models."""

from pwbench.models.base import Frames, ModelSpec, RolloutContext, WorldModel
from pwbench.models.registry import available, build, resolve, resolve_options

__all__ = ["Frames", "ModelSpec", "RolloutContext", "WorldModel", "available", "build", "resolve", "resolve_options"]
