"""World models: the interface every model implements, the registry, calibration models."""

from pwbench.models.base import Frames, ModelSpec, RolloutContext, WorldModel
from pwbench.models.registry import DuplicateModel, UnknownModel, available, build, resolve

__all__ = ["Frames", "ModelSpec", "RolloutContext", "WorldModel", "DuplicateModel", "UnknownModel",
           "available", "build", "resolve"]
