"""Generation of droid-sim episodes and splits.

Seeds: episode ``i`` of a split with base seed ``S`` uses the integer seed
``sha256("pwbench/droid-sim/v1/<split>/<S>/<i>")[:8]``. The split name is part of the hash, so the
eval and train splits never share a seed (and so never share a scene); `check_disjoint` verifies
it for any pair of (split, seed, count).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np

from pwbench import protocol

from . import require_sim
from .behaviours import Planner
from .ik import IKSolver, down_rotation
from .render import LABELS, ViewRenderer
from .scene import GRIPPER_CTRL_MAX, SUBSTEPS, build_scene, sample_scene
from .writer import MASK_STRIDE, DatasetWriter

mujoco = require_sim()

GENERATOR_VERSION = "droid-sim-v1.1"  # v1.1: near plane 2 cm (fingers in the wrist view)
DEFAULT_SEEDS = {"eval": 1000, "train": 0}
DURATION_RANGE = (15.0, 25.0)
SPLIT_NAMES = ("eval", "train")


def episode_seed(split: str, seed: int, index: int) -> int:
    key = f"pwbench/droid-sim/v1/{split}/{seed}/{index}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "little")


def check_disjoint(a: tuple[str, int, int], b: tuple[str, int, int]) -> bool:
    sa = {episode_seed(a[0], a[1], i) for i in range(a[2])}
    sb = {episode_seed(b[0], b[1], i) for i in range(b[2])}
    return not (sa & sb)


def euler_xyz(rot: np.ndarray) -> np.ndarray:
    """Extrinsic x-y-z Euler angles (scipy's "xyz") of a rotation matrix, roll wrapped to [0, 2π).

    A gripper pointing down has roll ≈ π; reporting roll in [0, 2π) instead of (−π, π] keeps it
    continuous there (DROID's own data wraps at ±π).
    """
    pitch = -np.arcsin(np.clip(rot[2, 0], -1.0, 1.0))
    roll = np.arctan2(rot[2, 1], rot[2, 2]) % (2 * np.pi)
    yaw = np.arctan2(rot[1, 0], rot[0, 0])
    return np.array([roll, pitch, yaw])


def _robot_object_geoms(scene) -> tuple[set[int], dict[int, int]]:
    m = scene.model
    root = m.body("link0").id
    robot = {g for g in range(m.ngeom) if m.body_rootid[m.geom_bodyid[g]] == root}
    objs = {}
    for k, b in enumerate(scene.object_bodies):
        for g in range(m.body_geomadr[b], m.body_geomadr[b] + m.body_geomnum[b]):
            objs[g] = k
    return robot, objs


def simulate_episode(ep_seed: int, duration: float | None = None, render: bool = True,
                     views: tuple[str, ...] = protocol.VIEWS) -> dict:
    """Simulate (and render) one episode. Returns columns, frames, label maps and info."""
    rng = np.random.default_rng(ep_seed)
    params = sample_scene(rng)
    if duration is None:
        duration = float(rng.uniform(*DURATION_RANGE))
    n = int(round(duration * protocol.SOURCE_FPS))
    scene = build_scene(params)
    m, d = scene.model, scene.data
    ik = IKSolver(scene)

    # start: a random gripper-down pose near home, solved by IK from the noisy home posture
    start_pos = np.array([rng.uniform(0.3, 0.45), rng.uniform(-0.12, 0.12), rng.uniform(0.3, 0.45)])
    start_yaw = float(rng.uniform(-0.5, 0.5))
    q = ik.solve(start_pos, down_rotation(start_yaw), np.asarray(params.start_q), iters=200)
    d.qpos[scene.arm_qadr] = q
    d.ctrl[:7] = q
    d.ctrl[7] = 0.0
    mujoco.mj_forward(m, d)
    for _ in range(8):  # let the objects settle on the table
        mujoco.mj_step(m, d, nstep=SUBSTEPS)
    d.qpos[scene.arm_qadr] = q
    d.qvel[:] = 0.0
    mujoco.mj_forward(m, d)

    planner = Planner(scene, rng, duration, ik.fk(q)[0], start_yaw)
    renderer = ViewRenderer(scene) if render else None
    robot_geoms, obj_geoms = _robot_object_geoms(scene)
    n_obj = len(params.objects)
    obj_start = scene.object_positions().copy()
    cols = {k: np.zeros((n, s), np.float32) for k, s in [
        ("observation.state.cartesian_position", 6), ("observation.state.gripper_position", 1),
        ("observation.state.joint_position", 7), ("observation.state", 8),
        ("action.cartesian_position", 6), ("action.gripper_position", 1),
        ("action.joint_position", 7), ("action", 8)]}
    frames = {v: np.zeros((n, 180, 320, 3), np.uint8) for v in views} if render else {}
    labels = {v: np.zeros((-(-n // MASK_STRIDE), 180, 320), np.uint8) for v in views} if render else {}
    contact = np.zeros(n, bool)
    carry = np.zeros(n, bool)
    obj_traj = np.zeros((n, n_obj, 3))
    t_render = 0.0
    dt = 1.0 / protocol.SOURCE_FPS
    q_cmd = q.copy()
    for t in range(n):
        # observation of frame t
        tcp_pos = d.site_xpos[scene.tcp_site].copy()
        tcp_rot = d.site_xmat[scene.tcp_site].reshape(3, 3)
        qj = d.qpos[scene.arm_qadr].copy()
        g = scene.gripper_position()
        cols["observation.state.cartesian_position"][t] = np.r_[tcp_pos, euler_xyz(tcp_rot)]
        cols["observation.state.gripper_position"][t] = g
        cols["observation.state.joint_position"][t] = qj
        cols["observation.state"][t] = np.r_[qj, g]
        obj_traj[t] = scene.object_positions()
        touching = set()
        for c in d.contact[: d.ncon] if d.ncon else []:
            g1, g2 = int(c.geom1), int(c.geom2)
            if g1 in robot_geoms and g2 in obj_geoms:
                touching.add(obj_geoms[g2])
            elif g2 in robot_geoms and g1 in obj_geoms:
                touching.add(obj_geoms[g1])
        contact[t] = bool(touching)
        carry[t] = any(obj_traj[t, k, 2] > params.table_top + params.objects[k].half_height + 0.02
                       for k in touching)
        if render:
            t0 = time.perf_counter()
            for v in views:
                rgb, lab = renderer.render(v, labels=(t % MASK_STRIDE == 0))
                frames[v][t] = rgb
                if lab is not None:
                    labels[v][t // MASK_STRIDE] = lab
            t_render += time.perf_counter() - t0
        # action of frame t: the commanded target for the next frame
        pos, yaw, grip = planner.command(dt)
        rot = down_rotation(yaw)
        q_cmd = ik.solve(pos, rot, q_cmd)
        cols["action.cartesian_position"][t] = np.r_[pos, euler_xyz(rot)]
        cols["action.gripper_position"][t] = grip
        cols["action.joint_position"][t] = q_cmd
        cols["action"][t] = np.r_[q_cmd, grip]
        d.ctrl[:7] = q_cmd
        d.ctrl[7] = grip * GRIPPER_CTRL_MAX
        mujoco.mj_step(m, d, nstep=SUBSTEPS)
    if renderer is not None:
        renderer.close()

    disp = np.linalg.norm(obj_traj - obj_start[None], axis=2)  # (n, n_obj)
    final_disp = np.linalg.norm(obj_traj[-1] - obj_start, axis=1)
    track_err = np.linalg.norm(cols["observation.state.cartesian_position"][1:, :3]
                               - cols["action.cartesian_position"][:-1, :3], axis=1)
    info = {
        "generator": GENERATOR_VERSION,
        "seed": int(ep_seed),
        "duration_s": n / protocol.SOURCE_FPS,
        "tasks": planner.tasks,
        "objects": [{"name": o.name, "shape": o.shape, "colour": o.colour, "size": list(o.size)}
                    for o in params.objects],
        "contact_fraction": float(contact.mean()),
        "carry_fraction": float(carry.mean()),
        "max_object_displacement_m": float(disp.max()) if n_obj else 0.0,
        "final_object_displacement_m": float(final_disp.max()) if n_obj else 0.0,
        "objects_off_table": int(np.sum(obj_traj[-1, :, 2] < params.table_top - 0.05)),
        "tcp_tracking_error_m": {"mean": float(track_err.mean()), "max": float(track_err.max())},
        "label_fractions": ({v: np.bincount(labels[v].ravel(), minlength=3 + n_obj).astype(float)
                             .__truediv__(labels[v].size).round(5).tolist() for v in views}
                            if render else {}),
    }
    # timings stay out of "info" (it is stored, and stored files must be deterministic)
    return {"columns": cols, "frames": frames, "labels": labels, "instruction": planner.instruction(),
            "info": info, "render_s": t_render}


def default_train_dir() -> Path:
    cache = os.environ.get("PWBENCH_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "pwbench")
    return Path(cache) / "droid-sim" / "train"


def shipped_eval_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "droid_sim" / "eval"


def generate_split(out: str | Path, split: str, episodes: int, seed: int | None = None,
                   crf: int | None = None, progress: bool = True, log: str | Path | None = None,
                   duration: float | None = None, finalize_every: int = 5) -> dict:
    """Generate (or resume) a split: episodes 0..episodes-1 into ``out``. Returns a summary."""
    from tqdm import tqdm

    if split not in SPLIT_NAMES:
        raise ValueError(f"split must be one of {SPLIT_NAMES}, got {split!r}")
    seed = DEFAULT_SEEDS[split] if seed is None else int(seed)
    writer = DatasetWriter(out, split, **({} if crf is None else {"crf": crf}))
    extra = {"generator": GENERATOR_VERSION, "split": split, "seed": seed,
             "seed_rule": "sha256('pwbench/droid-sim/v1/<split>/<seed>/<index>')[:8] little-endian",
             "mujoco": mujoco.__version__, "crf": writer.crf}  # (not the GL backend: EGL and
    # OSMesa render identically here, and the stored bytes should not depend on the choice)
    done = writer.complete_prefix()
    writer.finalize(extra)  # metadata for what is already there (a resumed run), readable at once
    tasks = writer.task_map(done)
    global_start = sum(writer.read_marker(i)["length"] for i in range(done))
    # episodes written by an older generator version are regenerated in place, after the new ones
    # (same seed -> same trajectory and length, so readers of the folder are never inconsistent)
    stale = [i for i in range(min(done, episodes))
             if writer.read_marker(i)["sim"].get("generator") != GENERATOR_VERSION]
    todo = [(i, None) for i in range(done, episodes)] + [(i, writer.read_marker(i)) for i in stale]
    times = []
    bar = tqdm(total=episodes + len(stale), initial=min(done, episodes),
               desc=f"droid-sim {split}", unit="ep", disable=not progress)
    logf = open(log, "a") if log else None
    try:
        for count, (i, old) in enumerate(todo, start=1):
            t0 = time.perf_counter()
            c0 = time.process_time()
            ep = simulate_episode(episode_seed(split, seed, i), duration=duration)
            if old is None:
                tasks.setdefault(ep["instruction"], len(tasks))
                start_index = global_start
            else:
                n_new = len(ep["columns"]["observation.state.joint_position"])
                if n_new != old["length"] or ep["instruction"] != old["instruction"]:
                    raise RuntimeError(f"episode {i}: regenerated episode differs from the stored one "
                                       f"({n_new} vs {old['length']} frames); delete the folder and regenerate")
                start_index = old["global_start"]
            rec = writer.write_episode(i, ep, start_index, tasks[ep["instruction"]])
            if old is None:
                global_start += rec["length"]
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            times.append(wall)
            bar.update(1)
            if logf:
                what = "episode" if old is None else "regenerated stale episode"
                logf.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {what} {i + 1}/{episodes} "
                           f"frames={rec['length']} wall={wall:.1f}s cpu={cpu:.1f}s render={ep['render_s']:.1f}s "
                           f"disp={ep['info']['max_object_displacement_m']:.3f} "
                           f"contact={ep['info']['contact_fraction']:.2f} | {ep['instruction']}\n")
                logf.flush()
            if count % finalize_every == 0:
                writer.finalize(extra)
    finally:
        bar.close()
        if logf:
            logf.close()
    n = writer.finalize(extra)
    return {"episodes": n, "new": len(times), "mean_wall_s": float(np.mean(times)) if times else None,
            "out": str(out)}


def write_checksums(root: str | Path, path: str | Path) -> dict:
    """sha256 of every file under ``root`` (sorted relative paths) plus one overall digest."""
    root = Path(root)
    files = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and ".tmp" not in p.relative_to(root).parts:
            files[p.relative_to(root).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    overall = hashlib.sha256("".join(f"{k}\t{v}\n" for k, v in files.items()).encode()).hexdigest()
    record = {"overall": overall, "files": files}
    Path(path).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    return record


def verify_checksums(root: str | Path, path: str | Path) -> tuple[bool, list[str]]:
    root = Path(root)
    record = json.loads(Path(path).read_text())
    bad = []
    for rel, digest in record["files"].items():
        p = root / rel
        if not p.is_file() or hashlib.sha256(p.read_bytes()).hexdigest() != digest:
            bad.append(rel)
    return not bad, bad


__all__ = ["simulate_episode", "generate_split", "episode_seed", "check_disjoint", "LABELS",
           "default_train_dir", "shipped_eval_dir", "write_checksums", "verify_checksums"]
