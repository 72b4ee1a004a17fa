"""droid-sim scenes: the DROID robot model from ``tabletask``, a table, objects, lights, cameras.

A scene is fully described by a :class:`SceneParams` drawn from a numpy ``Generator``
(:func:`sample_scene`); :func:`build_scene` turns it into a compiled MuJoCo model with MjSpec.
The robot base (body ``link0``) sits at the world origin facing +x, so world coordinates are the
robot-base coordinates that DROID's ``cartesian_position`` is expressed in. The table top is at
z = ``table_top`` (a centimetre or two below the base), and the workspace is in front of the robot.
"""

from __future__ import annotations

import importlib.resources
import os
from dataclasses import dataclass, field

import numpy as np

from . import require_sim
from .meshes import decimate_visual_meshes

mujoco = require_sim()

# Physics: 32 substeps of 1/480 s give exactly 15 frames per second.
SUBSTEPS = 32
TIMESTEP = 1.0 / (15 * SUBSTEPS)
HEIGHT, WIDTH = 180, 320

HOME = np.array([0.0, -0.2 * np.pi, 0.0, -0.8 * np.pi, 0.0, 0.6 * np.pi, 0.0])
GRIPPER_CTRL_MAX = 255.0
CLOSED_DRIVER_ANGLE = 0.824033  # driver joint angle of a fully closed 2F-85, radians

# Named colours for objects (the instruction names them), RGB in [0, 1].
OBJECT_COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.85, 0.12, 0.10),
    "green": (0.15, 0.65, 0.20),
    "blue": (0.12, 0.30, 0.85),
    "yellow": (0.95, 0.82, 0.10),
    "orange": (0.98, 0.50, 0.08),
    "purple": (0.50, 0.20, 0.70),
    "cyan": (0.10, 0.75, 0.80),
    "pink": (0.95, 0.45, 0.65),
    "white": (0.92, 0.92, 0.90),
    "black": (0.08, 0.08, 0.09),
}
# Shape name -> how the instruction calls it.
SHAPE_WORDS = {"box": "block", "cube": "cube", "cylinder": "cylinder", "sphere": "ball", "can": "can"}

TABLE_COLOURS = [
    (0.62, 0.45, 0.28), (0.75, 0.60, 0.42), (0.45, 0.32, 0.22), (0.80, 0.80, 0.78),
    (0.35, 0.36, 0.38), (0.85, 0.83, 0.76), (0.55, 0.58, 0.52), (0.25, 0.22, 0.20),
]


def droid_model_path() -> str:
    """The DROID (Panda + Robotiq 2F-85) MJCF shipped in the ``tabletask`` wheel."""
    return str(importlib.resources.files("tabletask") / "mujoco/robots/assets/droid/model.xml")


@dataclass
class ObjectParams:
    name: str
    shape: str  # box | cube | cylinder | sphere | can
    size: tuple[float, ...]  # MuJoCo geom size (half extents / radius, half height)
    colour: str
    rgb: tuple[float, float, float]
    pos: tuple[float, float]  # x, y on the table
    yaw: float
    mass: float

    @property
    def half_height(self) -> float:
        if self.shape in ("box", "cube"):
            return self.size[2]
        if self.shape in ("cylinder", "can"):
            return self.size[1]
        return self.size[0]

    @property
    def radius_xy(self) -> float:
        if self.shape in ("box", "cube"):
            return float(np.hypot(self.size[0], self.size[1]))
        return self.size[0]

    @property
    def phrase(self) -> str:
        return f"{self.colour} {SHAPE_WORDS[self.shape]}"


@dataclass
class CameraParams:
    name: str
    pos: tuple[float, float, float]
    target: tuple[float, float, float]
    fovy: float


@dataclass
class SceneParams:
    table_top: float
    table_center: tuple[float, float]
    table_half: tuple[float, float]
    table_rgb: tuple[float, float, float]
    table_texture: str  # plain | grain | checker
    texture_seed: int
    floor_rgb: tuple[float, float, float]
    wall_rgb: tuple[float, float, float]
    wall_dist: float
    lights: list[dict]
    headlight: tuple[float, float]  # ambient, diffuse
    objects: list[ObjectParams]
    cameras: list[CameraParams]
    start_q: tuple[float, ...]
    extras: dict = field(default_factory=dict)


def _jitter(rng: np.random.Generator, rgb, amount: float) -> tuple[float, float, float]:
    out = np.clip(np.asarray(rgb) + rng.uniform(-amount, amount, 3), 0.0, 1.0)
    return tuple(float(v) for v in out)


def _sample_objects(rng: np.random.Generator, n: int) -> list[ObjectParams]:
    colours = list(OBJECT_COLOURS)
    picked = rng.permutation(len(colours))[:n]
    objects: list[ObjectParams] = []
    placed: list[tuple[float, float, float]] = []
    for k in range(n):
        shape = str(rng.choice(["box", "cube", "cylinder", "sphere", "can"], p=[.25, .25, .2, .1, .2]))
        if shape == "cube":
            a = rng.uniform(0.020, 0.028)
            size: tuple[float, ...] = (a, a, a)
        elif shape == "box":
            size = (rng.uniform(0.018, 0.026), rng.uniform(0.025, 0.045), rng.uniform(0.018, 0.035))
        elif shape == "cylinder":
            size = (rng.uniform(0.018, 0.026), rng.uniform(0.018, 0.03))
        elif shape == "can":
            size = (rng.uniform(0.020, 0.027), rng.uniform(0.035, 0.055))
        else:
            size = (rng.uniform(0.022, 0.03),)
        size = tuple(float(s) for s in size)
        cname = colours[int(picked[k])]
        obj = ObjectParams(
            name=f"obj{k}", shape=shape, size=size, colour=cname,
            rgb=_jitter(rng, OBJECT_COLOURS[cname], 0.05), pos=(0.0, 0.0),
            yaw=float(rng.uniform(-np.pi, np.pi)), mass=float(rng.uniform(0.05, 0.15)),
        )
        r = obj.radius_xy
        for _ in range(200):
            x, y = rng.uniform(0.38, 0.68), rng.uniform(-0.28, 0.28)
            if all(np.hypot(x - px, y - py) > r + pr + 0.06 for px, py, pr in placed):
                break
        placed.append((x, y, r))
        obj.pos = (float(x), float(y))
        objects.append(obj)
    return objects


def _sample_camera(rng: np.random.Generator, name: str, side: float) -> CameraParams:
    """An exterior camera beside the robot (side +1 left, -1 right) looking at the workspace.

    Like DROID's two Zed cameras: on stands to the left and right of the arm, somewhat in front
    of the base, a bit above the table, looking down at the middle of the workspace.
    """
    target = np.array([0.4, 0.0, 0.16]) + rng.uniform(-0.04, 0.04, 3) * np.array([1, 1, 0.5])
    azim = side * np.deg2rad(rng.uniform(58.0, 80.0))  # angle from +x, around the target
    dist = rng.uniform(0.64, 0.78)
    height = rng.uniform(0.24, 0.36)
    pos = target + np.array([dist * np.cos(azim), dist * np.sin(azim), height])
    return CameraParams(name=name, pos=tuple(float(v) for v in pos),
                        target=tuple(float(v) for v in target), fovy=float(rng.uniform(60.0, 66.0)))


def sample_scene(rng: np.random.Generator) -> SceneParams:
    n_obj = int(rng.integers(2, 6))
    lights = []
    for _ in range(int(rng.integers(1, 3))):
        pos = (float(rng.uniform(-0.5, 1.2)), float(rng.uniform(-1.2, 1.2)), float(rng.uniform(1.2, 2.2)))
        level = float(rng.uniform(0.35, 0.75))
        tint = rng.uniform(-0.08, 0.08, 3)
        lights.append({"pos": pos, "diffuse": tuple(float(v) for v in np.clip(level + tint, 0, 1))})
    table_rgb = _jitter(rng, TABLE_COLOURS[int(rng.integers(len(TABLE_COLOURS)))], 0.06)
    return SceneParams(
        table_top=float(rng.uniform(-0.03, -0.005)),
        table_center=(float(rng.uniform(0.52, 0.6)), float(rng.uniform(-0.05, 0.05))),
        table_half=(float(rng.uniform(0.36, 0.42)), float(rng.uniform(0.45, 0.6))),
        table_rgb=table_rgb,
        table_texture=str(rng.choice(["plain", "grain", "checker"], p=[0.3, 0.45, 0.25])),
        texture_seed=int(rng.integers(2**31)),
        floor_rgb=_jitter(rng, (0.4, 0.4, 0.42), 0.15),
        wall_rgb=_jitter(rng, (0.7, 0.7, 0.68), 0.2),
        wall_dist=float(rng.uniform(1.6, 2.4)),
        lights=lights,
        headlight=(float(rng.uniform(0.15, 0.35)), float(rng.uniform(0.15, 0.35))),
        objects=_sample_objects(rng, n_obj),
        cameras=[_sample_camera(rng, "exterior_1_left", +1.0), _sample_camera(rng, "exterior_2_left", -1.0)],
        start_q=tuple(float(v) for v in HOME + rng.uniform(-0.12, 0.12, 7)),
    )


def _table_texture(params: SceneParams, size: int = 128) -> np.ndarray:
    rng = np.random.default_rng(params.texture_seed)
    base = np.asarray(params.table_rgb, dtype=np.float64)
    img = np.broadcast_to(base, (size, size, 3)).copy()
    if params.table_texture == "grain":
        y = np.arange(size)[:, None]
        freq = rng.uniform(0.15, 0.4)
        phase = rng.uniform(0, 2 * np.pi, size)[None, :] * 0.15
        stripes = 0.06 * np.sin(freq * y + np.cumsum(rng.normal(0, 0.3, size))[None, :] * 0.2 + phase)
        img += stripes[..., None] + rng.normal(0, 0.015, (size, size, 1))
    elif params.table_texture == "checker":
        cells = int(rng.choice([4, 8]))
        yy, xx = np.mgrid[0:size, 0:size] // (size // cells)
        sign = ((yy + xx) % 2)[..., None] * 2 - 1
        img += 0.05 * sign + rng.normal(0, 0.01, (size, size, 1))
    else:
        img += rng.normal(0, 0.01, (size, size, 1))
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8)


def _look_at_xyaxes(pos, target) -> list[float]:
    fwd = np.asarray(target, float) - np.asarray(pos, float)
    fwd /= np.linalg.norm(fwd)
    right = np.cross(fwd, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, fwd)
    return [*right.tolist(), *up.tolist()]


def build_spec(params: SceneParams):
    """The MjSpec of a scene (not compiled)."""
    spec = mujoco.MjSpec.from_file(droid_model_path())
    decimate_visual_meshes(spec, os.path.dirname(droid_model_path()))
    spec.option.timestep = TIMESTEP
    spec.visual.quality.offsamples = 0
    spec.visual.quality.shadowsize = 0
    spec.visual.headlight.ambient = [params.headlight[0]] * 3
    spec.visual.headlight.diffuse = [params.headlight[1]] * 3
    spec.visual.headlight.specular = [0.1] * 3
    wb = spec.worldbody

    for i, light in enumerate(params.lights):
        wb.add_light(name=f"light{i}", pos=list(light["pos"]), dir=[0.45 - light["pos"][0],
                     -light["pos"][1], -light["pos"][2]], diffuse=list(light["diffuse"]),
                     specular=[0.15] * 3, castshadow=False)

    tex = spec.add_texture(name="table_tex", type=mujoco.mjtTexture.mjTEXTURE_2D,
                           width=128, height=128, nchannel=3)
    tex.data = _table_texture(params).tobytes()
    mat = spec.add_material(name="table_mat", rgba=[1, 1, 1, 1], texrepeat=[2, 2], specular=0.2,
                            shininess=0.2)
    mat.textures[int(mujoco.mjtTextureRole.mjTEXROLE_RGB)] = "table_tex"
    floor_tex = spec.add_texture(name="floor_tex", type=mujoco.mjtTexture.mjTEXTURE_2D,
                                 builtin=mujoco.mjtBuiltin.mjBUILTIN_CHECKER, width=64, height=64,
                                 rgb1=list(params.floor_rgb),
                                 rgb2=[c * 0.85 for c in params.floor_rgb])
    del floor_tex
    floor_mat = spec.add_material(name="floor_mat", texrepeat=[8, 8], rgba=[1, 1, 1, 1])
    floor_mat.textures[int(mujoco.mjtTextureRole.mjTEXROLE_RGB)] = "floor_tex"

    floor_z = params.table_top - 0.75
    wb.add_geom(name="floor", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[4, 4, 0.1], pos=[0, 0, floor_z],
                material="floor_mat")
    cx, cy = params.table_center
    hx, hy = params.table_half
    wb.add_geom(name="table", type=mujoco.mjtGeom.mjGEOM_BOX, size=[hx, hy, 0.02],
                pos=[cx, cy, params.table_top - 0.02], material="table_mat", friction=[0.8, 0.01, 0.001])
    # table legs and the robot's stand: background, not "table" (the label is the top only)
    legs = [(lx, ly) for lx in (cx - hx + 0.04, cx + hx - 0.04) for ly in (cy - hy + 0.04, cy + hy - 0.04)]
    for i, (lx, ly) in enumerate(legs):
        wb.add_geom(name=f"leg{i}", type=mujoco.mjtGeom.mjGEOM_BOX,
                    size=[0.025, 0.025, 0.36], pos=[lx, ly, params.table_top - 0.04 - 0.36],
                    rgba=[0.2, 0.2, 0.2, 1], contype=0, conaffinity=0)
    wb.add_geom(name="stand", type=mujoco.mjtGeom.mjGEOM_BOX, size=[0.14, 0.14, 0.37],
                pos=[-0.06, 0, -0.375], rgba=[0.15, 0.15, 0.17, 1], contype=0, conaffinity=0)
    wr = list(params.wall_rgb) + [1.0]
    d = params.wall_dist
    wb.add_geom(name="wall_back", type=mujoco.mjtGeom.mjGEOM_BOX, size=[0.05, 4, 1.5],
                pos=[-d + 0.8, 0, floor_z + 1.5], rgba=wr, contype=0, conaffinity=0)
    wb.add_geom(name="wall_front", type=mujoco.mjtGeom.mjGEOM_BOX, size=[0.05, 4, 1.5],
                pos=[d + 0.6, 0, floor_z + 1.5], rgba=[c * 0.9 for c in wr[:3]] + [1], contype=0,
                conaffinity=0)
    for s in (-1, 1):
        wb.add_geom(name=f"wall_side{s:+d}", type=mujoco.mjtGeom.mjGEOM_BOX, size=[4, 0.05, 1.5],
                    pos=[0.4, s * (d + 0.2), floor_z + 1.5], rgba=[c * 0.95 for c in wr[:3]] + [1],
                    contype=0, conaffinity=0)

    for obj in params.objects:
        z = params.table_top + obj.half_height + 0.001
        body = wb.add_body(name=obj.name, pos=[obj.pos[0], obj.pos[1], z],
                           quat=[np.cos(obj.yaw / 2), 0, 0, np.sin(obj.yaw / 2)])
        body.add_freejoint(name=f"{obj.name}_free")
        gtype = {"box": mujoco.mjtGeom.mjGEOM_BOX, "cube": mujoco.mjtGeom.mjGEOM_BOX,
                 "cylinder": mujoco.mjtGeom.mjGEOM_CYLINDER, "can": mujoco.mjtGeom.mjGEOM_CYLINDER,
                 "sphere": mujoco.mjtGeom.mjGEOM_SPHERE}[obj.shape]
        size = list(obj.size) + [0.0] * (3 - len(obj.size))
        body.add_geom(name=f"{obj.name}_geom", type=gtype, size=size, mass=obj.mass,
                      rgba=list(obj.rgb) + [1.0], friction=[1.2, 0.02, 0.001], condim=4,
                      solref=[0.01, 1], priority=1)

    for cam in params.cameras:
        wb.add_camera(name=cam.name, pos=list(cam.pos), xyaxes=_look_at_xyaxes(cam.pos, cam.target),
                      fovy=cam.fovy)
    return spec


@dataclass
class Scene:
    params: SceneParams
    model: object
    data: object
    arm_qadr: np.ndarray
    arm_dofadr: np.ndarray
    gripper_qadr: int
    tcp_site: int
    object_bodies: list[int]
    object_qadr: list[int]
    views: dict[str, str]  # pwbench view name -> MuJoCo camera name

    def reset(self) -> None:
        m, d = self.model, self.data
        mujoco.mj_resetData(m, d)
        d.qpos[self.arm_qadr] = self.params.start_q
        d.ctrl[:7] = self.params.start_q
        d.ctrl[7] = 0.0
        mujoco.mj_forward(m, d)

    def gripper_position(self) -> float:
        return float(np.clip(self.data.qpos[self.gripper_qadr] / CLOSED_DRIVER_ANGLE, 0.0, 1.0))

    def object_positions(self) -> np.ndarray:
        return np.array([self.data.xpos[b] for b in self.object_bodies])


NEAR_CLIP_M = 0.02  # near clipping plane: the wrist camera must see the fingers (~3-15 cm away)


def build_scene(params: SceneParams) -> Scene:
    model = build_spec(params).compile()
    # MuJoCo's near plane is relative to the model extent (~14 m here, because of floor and walls),
    # which would put it 14 cm ahead of every camera and cut the gripper out of the wrist view.
    model.vis.map.znear = NEAR_CLIP_M / model.stat.extent
    data = mujoco.MjData(model)
    arm = [model.joint(f"joint{i}") for i in range(1, 8)]
    scene = Scene(
        params=params, model=model, data=data,
        arm_qadr=np.array([j.qposadr[0] for j in arm]),
        arm_dofadr=np.array([j.dofadr[0] for j in arm]),
        gripper_qadr=int(model.joint("right_driver_joint").qposadr[0]),
        tcp_site=int(model.site("tcp").id),
        object_bodies=[int(model.body(o.name).id) for o in params.objects],
        object_qadr=[int(model.joint(f"{o.name}_free").qposadr[0]) for o in params.objects],
        views={"exterior_1_left": "exterior_1_left", "exterior_2_left": "exterior_2_left",
               "wrist_left": "wrist"},
    )
    scene.reset()
    return scene
