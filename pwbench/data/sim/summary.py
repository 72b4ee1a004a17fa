"""Summary statistics of a generated droid-sim folder (from its per-episode records)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def summarize(root: str | Path) -> dict:
    root = Path(root)
    records = [json.loads(p.read_text()) for p in sorted((root / "meta" / "pwbench_sim").glob("episode_*.json"))]
    if not records:
        return {"episodes": 0}
    sims = [r["sim"] for r in records]
    frames = np.array([r["length"] for r in records])
    contact = np.array([s["contact_fraction"] for s in sims])
    carry = np.array([s["carry_fraction"] for s in sims])
    disp = np.array([s["max_object_displacement_m"] for s in sims])
    final = np.array([s["final_object_displacement_m"] for s in sims])
    tasks: dict[str, int] = {}
    for s in sims:
        for t in s["tasks"]:
            tasks[t["task"]] = tasks.get(t["task"], 0) + 1
    # masks: share of stored label maps (every 3rd frame) with robot pixels / with object pixels
    robot_visible: dict[str, list[float]] = {}
    obj_visible: dict[str, list[float]] = {}
    robot_cover: dict[str, list[float]] = {}
    for path in sorted((root / "masks").rglob("episode_*.npz")):
        with np.load(path) as z:
            for view in z.files:
                lab = z[view]
                robot = (lab == 2).reshape(len(lab), -1)
                objs = (lab >= 3).reshape(len(lab), -1)
                robot_visible.setdefault(view, []).append(float(robot.any(1).mean()))
                obj_visible.setdefault(view, []).append(float(objs.any(1).mean()))
                robot_cover.setdefault(view, []).append(float((lab >= 2).mean()))
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    by_dir = {d: sum(p.stat().st_size for p in (root / d).rglob("*") if p.is_file())
              for d in ("videos", "masks", "data", "meta") if (root / d).exists()}
    return {
        "episodes": len(records),
        "frames": int(frames.sum()),
        "duration_s": {"min": float(frames.min() / 15), "mean": float(frames.mean() / 15),
                       "max": float(frames.max() / 15)},
        "contact_fraction_mean": float(contact.mean()),
        "carry_fraction_mean": float(carry.mean()),
        "share_episodes_displacement_ge_5cm": float((disp >= 0.05).mean()),
        "share_episodes_final_displacement_ge_5cm": float((final >= 0.05).mean()),
        "median_max_displacement_m": float(np.median(disp)),
        "behaviour_counts": tasks,
        "label_maps_with_robot": {v: float(np.mean(x)) for v, x in robot_visible.items()},
        "label_maps_with_object": {v: float(np.mean(x)) for v, x in obj_visible.items()},
        "object_centric_mask_coverage": {v: float(np.mean(x)) for v, x in robot_cover.items()},
        "tcp_tracking_error_mean_m": float(np.mean([s["tcp_tracking_error_m"]["mean"] for s in sims])),
        "size_bytes": size,
        "size_bytes_by_dir": by_dir,
        "instructions": [r["instruction"] for r in records],
    }


if __name__ == "__main__":
    import sys

    print(json.dumps(summarize(sys.argv[1]), indent=1))
