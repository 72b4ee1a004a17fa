"""Decimated visual meshes for droid-sim rendering speed.

The Panda and 2F-85 visual meshes have ~300k triangles, which makes software (llvmpipe) rendering
geometry-bound (~50-80 ms a view at 180x320). Vertex clustering on a ~2.5 mm grid keeps the look at
this resolution (a pixel is 3-5 mm on the robot) and cuts the triangle count several-fold.
"""

from __future__ import annotations

import os

import numpy as np


def _read_mesh_file(path: str) -> tuple[np.ndarray, np.ndarray]:
    if path.lower().endswith(".stl"):
        raw = open(path, "rb").read()
        n = int.from_bytes(raw[80:84], "little")
        if 84 + 50 * n == len(raw):  # binary STL
            rec = np.frombuffer(raw[84:84 + 50 * n], dtype=np.dtype([("n", "<f4", 3), ("v", "<f4", (3, 3)),
                                                                      ("a", "<u2")]))
            verts = rec["v"].reshape(-1, 3).astype(np.float64)
            faces = np.arange(len(verts)).reshape(-1, 3)
            return verts, faces
        text = raw.decode("ascii", "replace").split()
        verts = np.array([[float(text[i + 1]), float(text[i + 2]), float(text[i + 3])]
                          for i, tok in enumerate(text) if tok == "vertex"])
        return verts, np.arange(len(verts)).reshape(-1, 3)
    verts_l, faces_l = [], []
    with open(path) as fh:
        for line in fh:
            if line.startswith("v "):
                verts_l.append([float(x) for x in line.split()[1:4]])
            elif line.startswith("f "):
                idx = [int(tok.split("/")[0]) for tok in line.split()[1:]]
                idx = [i - 1 if i > 0 else len(verts_l) + i for i in idx]
                for j in range(1, len(idx) - 1):
                    faces_l.append([idx[0], idx[j], idx[j + 1]])
    return np.asarray(verts_l, np.float64), np.asarray(faces_l, np.int64)


def _cluster(verts: np.ndarray, faces: np.ndarray, cell: float) -> tuple[np.ndarray, np.ndarray]:
    keys = np.floor(verts / cell).astype(np.int64)
    _, inverse, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    new_verts = np.zeros((len(counts), 3))
    np.add.at(new_verts, inverse, verts)
    new_verts /= counts[:, None]
    f = inverse[faces]
    keep = (f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2])
    f = f[keep]
    # drop duplicate triangles (same vertex set and winding)
    rolled = np.where((f[:, [0]] == f.min(1, keepdims=True)), f,
                      np.where(f[:, [1]] == f.min(1, keepdims=True), f[:, [1, 2, 0]], f[:, [2, 0, 1]]))
    f = np.unique(rolled, axis=0)
    return new_verts, f


_DECIMATED: dict[tuple[str, float], tuple[np.ndarray, np.ndarray]] = {}


def decimate_visual_meshes(spec, base_dir: str, cell_m: float = 0.003, min_faces: int = 2000) -> None:
    """Replace the spec's large file meshes (paths relative to ``base_dir``) by vertex-clustered
    versions, in place."""
    for mesh in spec.meshes:
        if not mesh.file:
            continue
        scale = float(np.asarray(mesh.scale).ravel()[0]) or 1.0
        key = (mesh.file, cell_m)
        if key not in _DECIMATED:
            verts, faces = _read_mesh_file(os.path.join(base_dir, mesh.file))
            if len(faces) >= min_faces:
                verts, faces = _cluster(verts, faces, cell_m / scale)
            _DECIMATED[key] = (verts, faces)
        verts, faces = _DECIMATED[key]
        mesh.file = ""
        mesh.uservert = verts.astype(np.float32).reshape(-1).tolist()
        mesh.userface = faces.astype(np.int32).reshape(-1).tolist()
