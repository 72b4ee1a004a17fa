"""droid-sim generator: layout, determinism, masks vs geometry, shipped eval checksums."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mujoco")
pytest.importorskip("tabletask")

import pyarrow.parquet as pq  # noqa: E402

from pwbench import protocol  # noqa: E402
from pwbench.data.sim import generate as G  # noqa: E402
from pwbench.data.sim.ik import IKSolver, down_rotation  # noqa: E402
from pwbench.data.sim.render import LABELS, ViewRenderer, project  # noqa: E402
from pwbench.data.sim.scene import build_scene, sample_scene  # noqa: E402
from pwbench.data.video import decode_frames  # noqa: E402

EVAL_DIR = Path(G.shipped_eval_dir())
EVAL_SUMS = EVAL_DIR.parent / "eval.sha256.json"


def _digests(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tiny")
    G.generate_split(out, "train", 2, seed=7, duration=1.0, progress=False)
    return out


def test_tiny_layout_consistent(tiny: Path):
    info = json.loads((tiny / "meta" / "info.json").read_text())
    assert info["codebase_version"] == "v2.1" and info["fps"] == 15 and info["robot_type"] == "Franka"
    assert info["total_episodes"] == 2 and info["splits"] == {"train": "0:2"}
    assert info["pwbench_masks"]["stride"] == 3
    assert info["pwbench_masks"]["labels"] == {"background": 0, "table": 1, "robot": 2, "object": 3}
    episodes = [json.loads(x) for x in (tiny / "meta" / "episodes.jsonl").read_text().splitlines()]
    tasks = {json.loads(x)["task"]: json.loads(x)["task_index"]
             for x in (tiny / "meta" / "tasks.jsonl").read_text().splitlines()}
    stats = json.loads((tiny / "meta" / "stats.json").read_text())
    assert {"q01", "q99", "mean", "std"} <= set(stats["action.cartesian_position"])
    start = 0
    for ep in episodes:
        i, n = ep["episode_index"], ep["length"]
        assert n == 15
        df = pq.read_table(tiny / info["data_path"].format(episode_chunk=0, episode_index=i)).to_pandas()
        assert len(df) == n
        assert df["frame_index"].tolist() == list(range(n))
        assert df["index"].tolist() == list(range(start, start + n))
        assert (df["episode_index"] == i).all()
        assert (df["task_index"] == tasks[ep["tasks"][0]]).all()
        assert df["language_instruction"].iloc[0] == ep["tasks"][0]
        assert df["is_first"].iloc[0] and df["is_last"].iloc[-1] and df["is_last"].sum() == 1
        np.testing.assert_allclose(df["timestamp"], np.arange(n) / 15, atol=1e-6)
        for name, feat in info["features"].items():
            if feat["dtype"] == "float32" and name != "timestamp":
                assert np.stack(df[name]).shape == (n, feat["shape"][0]), name
        state = np.stack(df["observation.state"])
        np.testing.assert_allclose(state[:, :7], np.stack(df["observation.state.joint_position"]))
        start += n
        masks = np.load(tiny / info["pwbench_masks"]["path"].format(episode_chunk=0, episode_index=i))
        for view in protocol.VIEWS:
            assert masks[view].shape == (5, 180, 320) and masks[view].dtype == np.uint8
            assert (masks[view] == LABELS["robot"]).any() or view == "wrist_left"
            key = protocol.VIDEO_KEY_PREFIX + view
            frames = decode_frames(tiny / info["video_path"].format(
                episode_chunk=0, episode_index=i, video_key=key), list(range(n)))
            assert frames.shape == (n, 180, 320, 3)
    assert info["total_frames"] == start


def test_deterministic(tiny: Path, tmp_path: Path):
    G.generate_split(tmp_path, "train", 2, seed=7, duration=1.0, progress=False)
    assert _digests(tmp_path) == _digests(tiny)  # parquet, label maps, mp4 (RGB), metadata


def test_resume_skips_complete(tiny: Path):
    summary = G.generate_split(tiny, "train", 2, seed=7, duration=1.0, progress=False)
    assert summary["new"] == 0 and summary["episodes"] == 2


def test_eval_train_seeds_disjoint():
    assert G.check_disjoint(("eval", G.DEFAULT_SEEDS["eval"], 16), ("train", G.DEFAULT_SEEDS["train"], 5000))


def _gripper_vertices(m, d) -> np.ndarray:
    """World positions of the vertices of the visible gripper meshes (bodies under ``base``)."""
    base = m.body("base").id
    under = {b for b in range(m.nbody) if b == base or _is_under(m, b, base)}
    pts = []
    for g in range(m.ngeom):
        if m.geom_bodyid[g] in under and m.geom_group[g] <= 2 and m.geom_dataid[g] >= 0 \
                and m.geom_type[g] == 7:  # mjGEOM_MESH, visible groups only
            mid = m.geom_dataid[g]
            v = m.mesh_vert[m.mesh_vertadr[mid]: m.mesh_vertadr[mid] + m.mesh_vertnum[mid]]
            pts.append(d.geom_xpos[g] + v @ d.geom_xmat[g].reshape(3, 3).T)
    return np.concatenate(pts)


def _is_under(m, body: int, root: int) -> bool:
    while body > 0:
        if body == root:
            return True
        body = m.body_parentid[body]
    return False


def test_mask_matches_projection():
    """The robot label covers where the gripper's mesh vertices project, in all three views."""
    import mujoco

    scene = build_scene(sample_scene(np.random.default_rng(3)))
    ik = IKSolver(scene)
    m, d = scene.model, scene.data
    q = ik.solve(np.array([0.45, 0.05, 0.22]), down_rotation(0.3), scene.params.start_q, iters=200)
    d.qpos[scene.arm_qadr] = q
    mujoco.mj_forward(m, d)
    tcp = d.site_xpos[scene.tcp_site].copy()
    assert np.linalg.norm(tcp - [0.45, 0.05, 0.22]) < 2e-3  # the IK reaches its target
    renderer = ViewRenderer(scene)
    verts = _gripper_vertices(m, d)
    for view, cam in scene.views.items():
        _, lab = renderer.render(view, labels=True)
        robot = lab == LABELS["robot"]
        near = robot.copy()  # robot label within 1 px (edges of a rasterised mesh)
        near[1:] |= robot[:-1]
        near[:-1] |= robot[1:]
        near[:, 1:] |= robot[:, :-1]
        near[:, :-1] |= robot[:, 1:]
        uv, depth = project(m, d, m.camera(cam).id, verts)
        # only what lies beyond the near clipping plane is drawn (for the wrist camera, which sits
        # on the gripper, that leaves the fingertips)
        znear = m.vis.map.znear * m.stat.extent
        inside = (depth > znear + 0.01) & (uv[:, 0] >= 0) & (uv[:, 0] < 320) & (uv[:, 1] >= 0) & (uv[:, 1] < 180)
        assert inside.sum() > 20, view  # the gripper is in every view at this pose
        px = np.floor(uv[inside]).astype(int)
        hit = near[px[:, 1], px[:, 0]].mean()
        # exterior views: whole gripper meshes; wrist view: only thin fingertip slivers survive
        # the near plane, and their silhouette vertices fall on sub-pixel features
        assert hit > (0.7 if view == "wrist_left" else 0.97), (view, hit)
        # and the gripper's projected footprint is mostly labelled robot (exterior views; in the
        # wrist view the footprint is two fingertips with the table between them)
        box = lab[px[:, 1].min(): px[:, 1].max() + 1, px[:, 0].min(): px[:, 0].max() + 1]
        assert (box == LABELS["robot"]).mean() > (0.05 if view == "wrist_left" else 0.2), view
        # every object is labelled around its projected centre unless the robot is in front
        for k, b in enumerate(scene.object_bodies):
            (u, v), = project(m, d, m.camera(cam).id, d.xpos[b][None])[0]
            if 2 <= u < 318 and 2 <= v < 178:
                patch = lab[int(v) - 2: int(v) + 3, int(u) - 2: int(u) + 3]
                assert (patch == LABELS["object"] + k).any() or (patch == LABELS["robot"]).any(), (view, k)
    # the tcp (between the fingertips) is in front of the wrist camera, inside the image
    (u, v), = project(m, d, m.camera("wrist").id, tcp[None])[0]
    assert 0 <= u < 320 and 0 <= v < 180
    renderer.close()


def test_objects_move_in_grasp_episode():
    ep = G.simulate_episode(G.episode_seed("test", 0, 4), duration=9.0, render=False)
    info = ep["info"]
    assert info["tasks"][0]["task"] == "grasp_lift"
    assert info["max_object_displacement_m"] > 0.05
    assert info["carry_fraction"] > 0.05  # the object was carried above the table


def test_euler_roll_continuous_at_pi():
    for yaw in (-1.0, 0.0, 1.0):
        roll, pitch, y = G.euler_xyz(down_rotation(yaw))
        assert abs(roll - np.pi) < 1e-6 and abs(pitch) < 1e-6


@pytest.mark.skipif(not EVAL_SUMS.is_file(), reason="no shipped eval split")
def test_shipped_eval_checksums():
    ok, bad = G.verify_checksums(EVAL_DIR, EVAL_SUMS)
    assert ok, f"files differ from eval.sha256.json: {bad[:5]}"
    record = json.loads(EVAL_SUMS.read_text())
    overall = hashlib.sha256("".join(f"{k}\t{v}\n" for k, v in record["files"].items()).encode()).hexdigest()
    assert overall == record["overall"]
    info = json.loads((EVAL_DIR / "meta" / "info.json").read_text())
    assert info["total_episodes"] == 16
    lengths = [json.loads(x)["length"] for x in (EVAL_DIR / "meta" / "episodes.jsonl").read_text().splitlines()]
    assert min(lengths) >= (8 + 56 + 1) * 3
