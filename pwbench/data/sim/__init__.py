"""droid-sim: a simulated DROID (Franka Panda + Robotiq 2F-85) generator, MuJoCo + tabletask.

Optional extra ``sim``; :func:`require_sim` turns a missing dependency into one clear error.
"""

from __future__ import annotations

import os

SIM_INSTALL_HINT = 'droid-sim generation needs the optional extra "sim": pip install -e ".[sim]"'


class SimUnavailable(ImportError):
    """mujoco or tabletask is missing."""


def require_sim():
    """Import and return ``mujoco`` (after checking ``tabletask``), or raise one clear error."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    try:
        import mujoco  # noqa: F401
        import tabletask  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise SimUnavailable(f"{SIM_INSTALL_HINT} ({exc})") from exc
    return mujoco
