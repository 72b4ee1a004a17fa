"""Inverse kinematics of the ``tcp`` site: damped least squares over the 7 arm joints.

Works on a private ``MjData`` (kinematics only), so solving never disturbs the simulation.
A small null-space pull towards a rest posture keeps the elbow in a DROID-like configuration.
"""

from __future__ import annotations

import numpy as np

from . import require_sim
from .scene import HOME, Scene

mujoco = require_sim()

# tcp orientation with the gripper pointing straight down at yaw 0 (fingers close along world y)
R_DOWN = np.array([[0.0, -1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])


def rot_z(yaw: float) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def down_rotation(yaw: float, tilt: float = 0.0) -> np.ndarray:
    """tcp rotation pointing down, turned by ``yaw`` about world z and tilted about world y."""
    c, s = np.cos(tilt), np.sin(tilt)
    tilt_m = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return rot_z(yaw) @ tilt_m @ R_DOWN


def rotation_error(target: np.ndarray, current: np.ndarray) -> np.ndarray:
    """World-frame rotation vector taking ``current`` to ``target``."""
    q_t = np.empty(4)
    q_c = np.empty(4)
    mujoco.mju_mat2Quat(q_t, target.reshape(9))
    mujoco.mju_mat2Quat(q_c, current.reshape(9))
    q_ci = np.empty(4)
    mujoco.mju_negQuat(q_ci, q_c)
    q_e = np.empty(4)
    mujoco.mju_mulQuat(q_e, q_t, q_ci)
    vel = np.empty(3)
    mujoco.mju_quat2Vel(vel, q_e, 1.0)
    return vel


class IKSolver:
    def __init__(self, scene: Scene, damping: float = 0.03, rest: np.ndarray | None = None):
        self.model = scene.model
        self.data = mujoco.MjData(scene.model)
        self.site = scene.tcp_site
        self.qadr = scene.arm_qadr
        self.dofadr = scene.arm_dofadr
        self.lo = self.model.jnt_range[[self.model.joint(f"joint{i}").id for i in range(1, 8)], 0] + 0.02
        self.hi = self.model.jnt_range[[self.model.joint(f"joint{i}").id for i in range(1, 8)], 1] - 0.02
        self.damping = damping
        self.rest = HOME.copy() if rest is None else np.asarray(rest, float)
        self._jp = np.zeros((3, self.model.nv))
        self._jr = np.zeros((3, self.model.nv))

    def fk(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = self.data
        d.qpos[self.qadr] = q
        mujoco.mj_kinematics(self.model, d)
        mujoco.mj_comPos(self.model, d)
        return d.site_xpos[self.site].copy(), d.site_xmat[self.site].reshape(3, 3).copy()

    def solve(self, pos: np.ndarray, rot: np.ndarray, q0: np.ndarray, iters: int = 30,
              tol: float = 1e-4, rot_weight: float = 0.5) -> np.ndarray:
        q = np.clip(np.asarray(q0, float).copy(), self.lo, self.hi)
        eye = np.eye(7)
        for _ in range(iters):
            p, r = self.fk(q)
            err = np.concatenate([pos - p, rot_weight * rotation_error(rot, r)])
            if np.linalg.norm(err[:3]) < tol and np.linalg.norm(err[3:]) < tol * 5:
                break
            mujoco.mj_jacSite(self.model, self.data, self._jp, self._jr, self.site)
            jac = np.vstack([self._jp[:, self.dofadr], rot_weight * self._jr[:, self.dofadr]])
            jjt = jac @ jac.T + self.damping**2 * np.eye(6)
            dq = jac.T @ np.linalg.solve(jjt, err)
            # null-space pull towards the rest posture
            pinv = jac.T @ np.linalg.solve(jjt, np.eye(6))
            dq += (eye - pinv @ jac) @ (0.1 * (self.rest - q))
            step = np.abs(dq).max()
            if step > 0.2:
                dq *= 0.2 / step
            q = np.clip(q + dq, self.lo, self.hi)
        return q
