"""Errors a user can cause and fix: the CLI prints their message as one line, no traceback."""


class PwbenchError(Exception):
    """Base of every user-facing error (bad input, missing data or weights, mixed runs)."""


class DatasetError(PwbenchError):
    """A dataset file is missing, truncated or inconsistent; the message names the file."""


class ClipError(PwbenchError):
    """One clip could not be rolled out or scored; the run records it and goes on."""

    def __init__(self, clip_id: str, message: str) -> None:
        super().__init__(f"clip {clip_id}: {message}")
        self.clip_id = clip_id
        self.reason = message


class RunMismatch(PwbenchError):
    """An output folder holds a run that this command must not mix with."""


class WeightsMismatch(PwbenchError, ValueError):
    """Weights exist but belong to another configuration (names or shapes differ) or another split."""
