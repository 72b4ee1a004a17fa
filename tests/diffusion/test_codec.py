"""Latent codecs: the patch-PCA code is exact on its subspace, isometric or whitened; views stack on height."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pwbench.diffusion.codec import MultiViewCodec, PatchPCAAutoencoder, PatchPCACodec


def frames(n: int = 12, h: int = 16, w: int = 24, seed: int = 0) -> np.ndarray:
    """Smooth random uint8 frames (N, H, W, 3): low-frequency colour fields plus a little noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / 8.0
    out = []
    for _ in range(n):
        a, b, c = rng.uniform(0.5, 2.0, 3)
        base = np.stack([np.sin(a * yy + c), np.cos(b * xx), np.sin(a * xx + b * yy)], -1)
        out.append(np.clip(127.5 + 90 * base + rng.normal(0, 4, base.shape), 0, 255))
    return np.asarray(out, np.uint8)


def pixels(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(x).permute(0, 3, 1, 2).float() / 127.5 - 1


@pytest.mark.parametrize("whiten", [False, True])
def test_all_components_reconstruct_exactly(whiten: bool) -> None:
    ae = PatchPCAAutoencoder(3 * 4 * 4, 4, whiten=whiten)
    kept = ae.fit(frames())
    x = pixels(frames(seed=1))
    assert kept == pytest.approx(1.0)
    torch.testing.assert_close(ae.decode(ae.encode(x)), x, atol=2e-5, rtol=0)


def test_unwhitened_code_is_an_isometry_and_scaled_to_unit_variance() -> None:
    ae = PatchPCAAutoencoder(24, 4, whiten=False)
    ae.fit(frames())
    x, y = pixels(frames(seed=1)), pixels(frames(seed=2))
    a, b = ae.encode(x), ae.encode(y)
    # orthonormal rows: a latent difference has exactly the pixel energy of its reconstruction
    energy_latent = ((a - b) ** 2).sum()
    energy_pixels = ((ae.decode(a) - ae.decode(b)) ** 2).sum()
    torch.testing.assert_close(energy_latent, energy_pixels, rtol=1e-4, atol=0)
    assert torch.equal(ae.std, torch.ones(24))
    scaled = ae.encode(pixels(frames())) * ae.scaling_factor
    assert scaled.std().item() == pytest.approx(1.0, rel=1e-3)


def test_whitened_components_have_unit_std_and_fit_is_deterministic() -> None:
    a, b = PatchPCAAutoencoder(12, 4, whiten=True), PatchPCAAutoencoder(12, 4, whiten=True)
    a.fit(frames())
    b.fit(frames())
    for name, buf in a.named_buffers():
        assert torch.equal(buf, dict(b.named_buffers())[name]), name
    codes = a.encode(pixels(frames()))
    torch.testing.assert_close(codes.transpose(0, 1).flatten(1).std(1), torch.ones(12), rtol=1e-3, atol=1e-3)


def test_too_many_components_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot keep 49 components of 48-D patches"):
        PatchPCAAutoencoder(49, 4)


def test_multi_view_codec_stacks_views_on_height_and_inverts() -> None:
    ae = PatchPCAAutoencoder(3 * 4 * 4, 4, whiten=False)
    ae.fit(frames())
    codec = MultiViewCodec(PatchPCACodec(ae), num_views=3)
    views = torch.stack([pixels(frames(n=2, seed=s)) for s in (3, 4, 5)], dim=1)  # (N=2, V=3, 3, 16, 24)
    lat = codec.encode_views(views)
    assert lat.shape == (2, 48, 3 * 4, 6)
    # view 1 sits in the middle third of the height, encoded on its own
    torch.testing.assert_close(lat[:, :, 4:8], ae.encode(views[:, 1]) * ae.scaling_factor)
    torch.testing.assert_close(codec.decode_views(lat), views, atol=2e-5, rtol=0)
    with pytest.raises(ValueError, match="expected 3 views, got 2"):
        codec.encode_views(views[:, :2])


def test_signed_pixels_and_view_frames_round_trip_every_level():
    from pwbench.diffusion.codec import signed_pixels, view_frames

    levels = np.arange(256, dtype=np.uint8).reshape(4, 16, 4)  # every uint8 level once; H 16 != W 4
    clip = np.stack([np.stack([levels, levels[::-1], levels[:, ::-1]], -1)] * 2)  # (N=2, V=4, 16, 4, 3)
    pix = signed_pixels(clip)
    assert pix.shape == (2, 4, 3, 16, 4) and pix.dtype == torch.float32
    assert torch.equal(pix, torch.from_numpy(clip).permute(0, 1, 4, 2, 3).float() / 127.5 - 1.0)  # as the adapters did
    assert pix.min() == -1 and pix.max() == 1
    views = ("a", "b", "c", "d")
    back = view_frames(pix, views)
    assert list(back) == list(views)
    for i, v in enumerate(views):
        assert np.array_equal(back[v], clip[:, i])
    clipped = view_frames(torch.full((1, 1, 3, 2, 2), 1.7), ("a",))["a"]  # decoders overshoot: clamped
    assert clipped.dtype == np.uint8 and (clipped == 255).all()
    with pytest.raises(ValueError, match="4 decoded views for 1 names"):
        view_frames(pix, ("a",))
