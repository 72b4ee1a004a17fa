"""Reader for Ctrl-World's processed DROID layout (``dataset_example/extract_latent.py``).

A user who prepared DROID for Ctrl-World can point pwbench at that folder::

    annotation/<split>/<episode_id>.json   texts, episode_id, video_length, states (5 Hz, 7),
                                           the 15 Hz raw columns (observation.state.joint_position, ...)
    videos/<split>/<episode_id>/{0,1,2}.mp4   exterior_1_left, exterior_2_left, wrist_left; 5 Hz, 192×320
    latent_videos/...                      SVD latents (not read)

Episode ids are ``cadene/droid_1.0.1`` indices (Ctrl-World's val split is exactly the episodes
with ``episode_index % 100 == 99``). The frames are already at 5 Hz and 192 × 320, but they were
resized by Ctrl-World's own rule (bilinear without antialiasing, truncated to uint8) and
re-encoded as H.264, so they are not the protocol's reference frames bit for bit: this layout
is its own dataset id (``local:ctrl-world``) and fingerprint, never mixed with v2.1 results.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from pwbench import protocol
from pwbench.data.episode import EpisodeSource, EpisodeTable
from pwbench.data.video import VideoSpec, decode_frames
from pwbench.errors import DatasetError

FPS = 5  # extract_latent.py writes every 3rd source frame at fps=5
VIEW_FILES = {"exterior_1_left": "0.mp4", "exterior_2_left": "1.mp4", "wrist_left": "2.mp4"}


def is_ctrl_world_folder(root: Path) -> bool:
    return (Path(root) / "annotation").is_dir() and (Path(root) / "videos").is_dir()


class CtrlWorldFolder(EpisodeSource):
    """A folder written by Ctrl-World's ``extract_latent.py`` (every split under it is read)."""

    layout = "ctrl-world"

    def __init__(self, root: str | Path, dataset_id: str | None = None) -> None:
        root = Path(root)
        if not is_ctrl_world_folder(root):
            raise DatasetError(f"{root} is not a Ctrl-World processed folder: needs annotation/ and videos/")
        super().__init__(root, FPS, dataset_id)
        self._paths: dict[int, Path] = {}  # episode -> its annotation file
        self._annotations: dict[int, dict] = {}  # read on first use
        for path in sorted((root / "annotation").glob("*/*.json")):
            if not path.stem.isdigit():
                continue
            index = int(path.stem)
            if index in self._paths:
                raise DatasetError(f"{root}: episode {index} is in two splits ({self._paths[index]}, {path})")
            self._paths[index] = path
        if not self._paths:
            raise DatasetError(f"{root}: no annotation/<split>/<episode_id>.json files")

    @property
    def episode_indices(self) -> list[int]:
        return sorted(self._paths)

    def annotation(self, index: int) -> dict:
        if index not in self._paths:
            raise DatasetError(f"{self.root}: no annotation for episode {index}")
        if index not in self._annotations:
            path = self._paths[index]
            try:
                record = json.loads(path.read_text())
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
                raise DatasetError(f"episode {index}: {path}: not valid JSON ({err})") from err
            for key in ("video_length", "states"):
                if key not in record:
                    raise DatasetError(f"episode {index}: {path} has no {key!r}")
            self._annotations[index] = record
        return self._annotations[index]

    def length(self, index: int) -> int:
        return int(self.annotation(index)["video_length"])

    def video_path(self, index: int, view: str) -> Path:
        split = self._paths[index].parent.name
        return self.root / "videos" / split / str(index) / VIEW_FILES[view]

    def files(self, index: int, views: tuple[str, ...] = protocol.VIEWS) -> list[str]:
        paths = [self._paths[index], *(self.video_path(index, v) for v in views)]
        return [p.relative_to(self.root).as_posix() for p in paths]

    def _table(self, index: int, rows: np.ndarray) -> EpisodeTable:
        record, path = self.annotation(index), self._paths[index]
        states = _array(record["states"], path, "states")
        if states.shape != (self.length(index), protocol.ACTION_DIM):
            raise DatasetError(f"episode {index}: {path}: states {states.shape}, expected "
                               f"({self.length(index)}, {protocol.ACTION_DIM}) (video_length x 7)")
        if protocol.JOINT_FEATURE in record:  # the 15 Hz raw column, as v2.1 stores it
            joints = _array(record[protocol.JOINT_FEATURE], path, protocol.JOINT_FEATURE)[::protocol.SUBSAMPLE]
        elif "joints" in record:  # 5 Hz, 7 joints + gripper (the shipped example annotations)
            joints = _array(record["joints"], path, "joints")[:, :protocol.JOINT_DIM]
        else:
            raise DatasetError(f"episode {index}: {path} has neither {protocol.JOINT_FEATURE!r} nor 'joints'")
        if len(joints) < len(states):
            raise DatasetError(f"episode {index}: {path}: {len(joints)} joint rows for {len(states)} frames")
        texts = record.get("texts") or [""]
        return EpisodeTable(states[rows], joints[rows], str(texts[0]))

    def _frames(self, index: int, view: str, rows: np.ndarray, table: EpisodeTable) -> np.ndarray:
        spec = VideoSpec(fps=self.fps, frames=self.length(index), what=f"episode {index} {view}")
        return decode_frames(self.video_path(index, view), rows.tolist(), spec)


def _array(values, path: Path, key: str) -> np.ndarray:
    try:
        out = np.asarray(values, dtype=np.float32)
    except (TypeError, ValueError) as err:
        raise DatasetError(f"{path}: {key!r} is not a numeric array ({err})") from err
    if out.ndim != 2 or not np.all(np.isfinite(out)):
        raise DatasetError(f"{path}: {key!r} must be a finite (T, D) array, got shape {out.shape}")
    return out
