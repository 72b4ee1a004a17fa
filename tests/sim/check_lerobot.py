"""Load a droid-sim folder with LeRobot's own ``LeRobotDataset`` (lerobot 0.3.3: codebase v2.1).

Not a pytest test (lerobot is not a pwbench dependency). How it was run (a separate venv that sees
the project venv's torch through a .pth file; nothing is installed into the project venv):

    python3 -m venv /tmp/lerobot-venv
    /tmp/lerobot-venv/bin/pip install --no-deps lerobot==0.3.3
    /tmp/lerobot-venv/bin/pip install "datasets==3.6.0" "draccus==0.10.0" jsonlines "deepdiff<9" \\
        "termcolor<4" einops "huggingface-hub>=0.34.2,<0.36"
    echo /work/main/.venv/lib/python3.11/site-packages > /tmp/lerobot-venv/lib/python3.11/site-packages/zz.pth
    HF_HUB_OFFLINE=1 /tmp/lerobot-venv/bin/python tests/sim/check_lerobot.py pwbench/data/droid_sim/eval

lerobot 0.3.3 decodes video through ``torchvision.io.VideoReader``, which torchvision 0.29 no
longer has (lerobot 0.3.3 pins torchvision < 0.23). Its ``decode_video_frames`` is therefore
swapped for a PyAV decoder with the same contract (frames nearest the query timestamps, within
``tolerance_s``, float CHW in [0, 1]). Everything else is LeRobot's code: metadata, parquet
loading through ``datasets``, the timestamp-sync check, ``delta_timestamps``.
"""
from __future__ import annotations

import sys
from pathlib import Path

import av
import numpy as np
import torch


def pyav_decode(video_path, timestamps, tolerance_s, backend=None):
    """PyAV stand-in for lerobot 0.3.3's torchvision path: nearest frame per query, within tolerance."""
    with av.open(str(video_path)) as container:
        stream = container.streams.video[0]
        frames = [(float(f.pts * stream.time_base), f.to_ndarray(format="rgb24"))
                  for f in container.decode(stream)]
    times = np.array([t for t, _ in frames])
    out = []
    for q in timestamps:
        i = int(np.argmin(np.abs(times - q)))
        assert abs(times[i] - q) <= tolerance_s, (video_path, q, times[i])
        out.append(torch.from_numpy(frames[i][1]).permute(2, 0, 1).float() / 255)
    return torch.stack(out)


def main(root: Path, n_episodes: int | None = None) -> None:
    import lerobot.datasets.lerobot_dataset as lrd
    from lerobot.datasets.lerobot_dataset import CODEBASE_VERSION, LeRobotDataset

    lrd.decode_video_frames = pyav_decode
    print("lerobot codebase", CODEBASE_VERSION)
    episodes = list(range(n_episodes)) if n_episodes else None
    ds = LeRobotDataset("pwbench/droid-sim-check", root=root, video_backend="pyav", episodes=episodes)
    print("episodes", ds.num_episodes, "frames", ds.num_frames, "fps", ds.fps, "cameras", ds.meta.camera_keys)
    item = ds[min(100, ds.num_frames - 1)]
    for k, v in item.items():
        print(" ", k, repr(v[:60]) if isinstance(v, str) else (tuple(v.shape), v.dtype))
    # a world-model style query: two past wrist frames and the next action (episode 0)
    ds0 = LeRobotDataset("pwbench/droid-sim-check", root=root, episodes=[0], video_backend="pyav",
                         delta_timestamps={"observation.images.wrist_left": [-0.2, 0.0],
                                           "action": [0.0, 1 / 15]})
    x = ds0[10]
    print("delta_timestamps item", tuple(x["observation.images.wrist_left"].shape), tuple(x["action"].shape))
    print("stats keys", sorted(ds.meta.stats))
    # the decoded frames equal pwbench's own reader
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from pwbench.data.video import decode_frames
    ref = decode_frames(root / ds.meta.get_video_file_path(0, "observation.images.wrist_left"), [10])[0]
    got = (ds0[10]["observation.images.wrist_left"][1].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    print("frame 10 equals pwbench reader:", bool((ref == got).all()))


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else None)
