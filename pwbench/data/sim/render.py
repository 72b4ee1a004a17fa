"""Rendering of the three DROID views: RGB frames and exact segmentation label maps.

Labels (``LABELS``): 0 background, 1 table (top), 2 robot (arm + gripper: every geom whose body
hangs from the robot base ``link0``), 3 + k object k (the free bodies, in scene order).
Fast mode: no MSAA (``offsamples = 0``) and no shadows, set in the scene's MjSpec and here.
"""

from __future__ import annotations

import numpy as np

from . import require_sim
from .scene import HEIGHT, WIDTH, Scene

mujoco = require_sim()

LABELS = {"background": 0, "table": 1, "robot": 2, "object": 3}
_GEOM = int(mujoco.mjtObj.mjOBJ_GEOM)  # compare with an int: the pybind enum is ~50 ms per frame


def geom_labels(scene: Scene) -> np.ndarray:
    """Label of every geom id (uint8), per ``LABELS``."""
    m = scene.model
    robot_root = m.body("link0").id
    lut = np.zeros(m.ngeom, dtype=np.uint8)
    for g in range(m.ngeom):
        body = m.geom_bodyid[g]
        if m.body_rootid[body] == robot_root:
            lut[g] = LABELS["robot"]
    lut[m.geom("table").id] = LABELS["table"]
    for k, b in enumerate(scene.object_bodies):
        lut[m.body_geomadr[b]: m.body_geomadr[b] + m.body_geomnum[b]] = LABELS["object"] + k
    return lut


class ViewRenderer:
    """Renders RGB and label maps of the three views of a scene, at 180x320."""

    def __init__(self, scene: Scene, height: int = HEIGHT, width: int = WIDTH):
        self.scene = scene
        self.renderer = mujoco.Renderer(scene.model, height=height, width=width)
        self.renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = 0
        self.renderer.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = 0
        self.lut = geom_labels(scene)
        # the label of "id" -1 (nothing drawn) is background: index the padded LUT with id + 1
        self._lut1 = np.concatenate([[0], self.lut]).astype(np.uint8)

    def render(self, view: str, labels: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        cam = self.scene.views[view]
        r = self.renderer
        r.update_scene(self.scene.data, camera=cam)
        rgb = r.render().copy()
        lab = None
        if labels:
            r.enable_segmentation_rendering()
            try:
                seg = r.render()
            finally:
                r.disable_segmentation_rendering()
            lab = self.labels_from_seg(seg)
        return rgb, lab

    def labels_from_seg(self, seg: np.ndarray) -> np.ndarray:
        ids = seg[..., 0]
        is_geom = seg[..., 1] == _GEOM
        ids = np.where(is_geom, ids, -1)
        return self._lut1[ids + 1]

    def close(self) -> None:
        self.renderer.close()


def camera_intrinsics(model, cam_id: int, height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """3x3 pinhole intrinsics of a MuJoCo camera (``fovy`` is the vertical field of view)."""
    fovy = np.deg2rad(model.cam_fovy[cam_id])
    f = 0.5 * height / np.tan(fovy / 2)
    return np.array([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1.0]])


def project(model, data, cam_id: int, points: np.ndarray, height: int = HEIGHT,
            width: int = WIDTH) -> tuple[np.ndarray, np.ndarray]:
    """Pixel (u, v) of world points in a camera, and their depth along the view axis.

    MuJoCo cameras look along their -z axis with +y up; image rows grow downwards.
    """
    pos = data.cam_xpos[cam_id]
    rot = data.cam_xmat[cam_id].reshape(3, 3)  # columns: camera x, y, z axes in world
    local = (np.atleast_2d(points) - pos) @ rot  # world -> camera frame
    depth = -local[:, 2]
    k = camera_intrinsics(model, cam_id, height, width)
    u = k[0, 2] + k[0, 0] * local[:, 0] / depth
    v = k[1, 2] - k[1, 1] * local[:, 1] / depth
    return np.stack([u, v], axis=1), depth
