"""Contact sheets (PNG) and GIFs of droid-sim episodes, with the label maps overlaid.

Reads any folder in the droid-sim layout (meta/info.json + videos + masks); needs no simulator.
Overlay colours: robot cyan, objects one colour each, table a faint yellow tint, background none;
label boundaries are drawn in white.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from pwbench import protocol
from pwbench.data.video import decode_frames

_PALETTE = np.array([
    [0, 0, 0], [255, 230, 120], [0, 230, 255], [255, 60, 60], [80, 255, 80], [90, 110, 255],
    [255, 170, 0], [255, 80, 255], [160, 255, 220], [255, 255, 255],
], dtype=np.float64)
_ALPHA = np.array([0.0, 0.15, 0.45] + [0.55] * 7)


def overlay(rgb: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Blend a label map over an RGB frame (same H, W)."""
    lab = np.minimum(labels.astype(np.int64), len(_PALETTE) - 1)
    a = _ALPHA[lab][..., None]
    out = rgb.astype(np.float64) * (1 - a) + _PALETTE[lab] * a
    edge = np.zeros(lab.shape, bool)
    edge[:-1] |= (lab[:-1] != lab[1:]) & ((lab[:-1] >= 2) | (lab[1:] >= 2))
    edge[:, :-1] |= (lab[:, :-1] != lab[:, 1:]) & ((lab[:, :-1] >= 2) | (lab[:, 1:] >= 2))
    out[edge] = 255
    return out.round().clip(0, 255).astype(np.uint8)


class _Dataset:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.info = json.loads((self.root / "meta" / "info.json").read_text())
        self.episodes = {}
        for line in (self.root / "meta" / "episodes.jsonl").read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                self.episodes[int(r["episode_index"])] = r
        self.chunks = int(self.info.get("chunks_size", 1000))

    def _fmt(self, key: str, index: int, **kw) -> Path:
        return self.root / key.format(episode_chunk=index // self.chunks, episode_index=index, **kw)

    def frames(self, index: int, view: str, rows: list[int]) -> np.ndarray:
        path = self._fmt(self.info["video_path"], index, video_key=protocol.VIDEO_KEY_PREFIX + view)
        return decode_frames(path, rows)

    def labels(self, index: int) -> tuple[dict[str, np.ndarray], int] | tuple[None, int]:
        spec = self.info.get("pwbench_masks")
        if not spec:
            return None, 1
        with np.load(self._fmt(spec["path"], index)) as z:
            return {k: z[k] for k in z.files}, int(spec.get("stride", 1))


def contact_sheet(dataset: str | Path, episodes: list[int], out: str | Path, with_masks: bool = True,
                  views: tuple[str, ...] = protocol.VIEWS) -> Path:
    """Per episode: one row per view; columns start / middle / end (RGB, then with masks overlaid)."""
    ds = _Dataset(dataset)
    blocks = []
    header_h, label_w = 18, 110
    for ep in episodes:
        n = int(ds.episodes[ep]["length"])
        labels, stride = ds.labels(ep) if with_masks else (None, 1)
        last = (n - 1) // stride * stride
        picks = [0, (n // 2) // stride * stride, last]
        rows = []
        for v in views:
            frames = ds.frames(ep, v, picks)
            tiles = [frames[j] for j in range(len(picks))]
            if labels is not None:
                tiles += [overlay(frames[j], labels[v][t // stride]) for j, t in enumerate(picks)]
            strip = np.concatenate(tiles, axis=1)
            lab = Image.new("RGB", (label_w, strip.shape[0]), (20, 20, 20))
            ImageDraw.Draw(lab).text((4, strip.shape[0] // 2 - 6), v, fill=(255, 255, 255))
            rows.append(np.concatenate([np.asarray(lab), strip], axis=1))
        body = np.concatenate(rows, axis=0)
        head = Image.new("RGB", (body.shape[1], header_h), (45, 45, 45))
        times = ", ".join(f"{name} {t / protocol.SOURCE_FPS:.1f}s" for name, t in
                          zip(("start", "middle", "end"), picks, strict=True))
        extra = " | right: same frames, labels overlaid (robot cyan, objects coloured)" if labels else ""
        ImageDraw.Draw(head).text((4, 3), f"episode {ep} ({n} frames, {times}{extra}): "
                                  f"{ds.episodes[ep]['tasks'][0]}", fill=(255, 255, 255))
        blocks.append(np.concatenate([np.asarray(head), body], axis=0))
    sheet = np.concatenate(blocks, axis=0)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sheet).save(out, optimize=True)
    return out


def gif(dataset: str | Path, episode: int, out: str | Path, with_masks: bool = True, scale: float = 0.5,
        views: tuple[str, ...] = protocol.VIEWS) -> Path:
    """An animated GIF of one episode at 5 Hz, the views side by side."""
    ds = _Dataset(dataset)
    n = int(ds.episodes[episode]["length"])
    labels, stride = ds.labels(episode) if with_masks else (None, 1)
    rows = list(range(0, n, protocol.SUBSAMPLE))
    frames = {v: ds.frames(episode, v, rows) for v in views}
    images = []
    for j, t in enumerate(rows):
        tiles = []
        for v in views:
            img = frames[v][j]
            if labels is not None and t % stride == 0:
                img = overlay(img, labels[v][t // stride])
            tiles.append(img)
        im = Image.fromarray(np.concatenate(tiles, axis=1))
        if scale != 1:
            im = im.resize((int(im.width * scale), int(im.height * scale)), Image.BILINEAR)
        images.append(im.convert("P", palette=Image.ADAPTIVE, colors=128))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    images[0].save(out, save_all=True, append_images=images[1:], duration=int(1000 / protocol.FPS), loop=0)
    return out
