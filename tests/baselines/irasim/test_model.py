"""IRASim's network against the original code and the released checkpoints' key manifests.

``fixtures/tiny_{rt1,languagetable}.pt`` were made with bytedance/IRASim's own ``IRASim`` class
(commit c72b6da) at a tiny size (hidden 64, depth 4, latent 8×10, 16 frames) with seeded random
weights: the state dict, inputs (latents, DDPM timesteps 999 and 17, actions) and its eval-mode
output. The manifests in ``baselines/irasim/checkpoint_keys`` came from the same class at full size.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from baselines.irasim.checkpoint import load_official, manifest
from baselines.irasim.config import OFFICIAL, IRASimConfig
from baselines.irasim.model import IRASim
from pwbench.errors import PwbenchError
from pwbench.models.manifest import build_meta, key_shapes, num_parameters

FIXTURES = Path(__file__).with_name("fixtures")


def tiny(dataset: str) -> tuple[IRASimConfig, dict]:
    ref = torch.load(FIXTURES / f"tiny_{dataset}.pt", weights_only=True)
    c = ref["config"]
    config = IRASimConfig(name="tiny", input_size=tuple(c["input_size"]), hidden_size=c["hidden_size"],
                          depth=c["depth"], num_heads=c["num_heads"], action_dim=ref["actions"].shape[-1],
                          action_embedder="mlp" if dataset == "rt1" else "linear2")
    return config, ref


@pytest.mark.parametrize("dataset", ["rt1", "languagetable"])
def test_the_output_equals_the_original_codes(dataset):
    config, ref = tiny(dataset)
    model = IRASim(config).eval()
    assert list(model.state_dict()) == list(ref["state_dict"])  # names and order
    for name in ("pos_embed", "temp_embed"):  # the fixed tables, bit for bit
        assert torch.equal(model.state_dict()[name], ref["state_dict"][name]), name
    model.load_state_dict(ref["state_dict"])
    with torch.no_grad():
        out = model(ref["x"], ref["t"], ref["actions"])
    torch.testing.assert_close(out, ref["out_float32"], rtol=0, atol=2e-6)


@pytest.mark.parametrize("dataset", ["rt1", "bridge", "languagetable"])
def test_full_size_matches_the_released_key_manifest(dataset):
    model = build_meta(lambda: IRASim(OFFICIAL[dataset]))
    assert all(t.is_meta for t in model.state_dict().values())  # nothing allocated
    want = manifest(dataset)
    got = key_shapes(model)
    assert list(got) == list(want["keys"]) and got == want["keys"]
    assert num_parameters(got) == want["num_parameters"] and len(got) == want["num_keys"] == 297


def test_dropped_videos_see_only_the_mask_embedding():
    config, ref = tiny("rt1")
    model = IRASim(config).eval()
    model.load_state_dict(ref["state_dict"])
    emb = model.action_embedding(ref["actions"], drop=torch.tensor([True, False]))
    assert torch.equal(emb[0], model.mask_emb_fn.weight.expand(16, -1))
    assert torch.equal(emb[1, 0], model.mask_emb_fn.weight[0]) and not torch.equal(emb[1, 1], emb[0, 1])


class Payload:
    """A pickle that would run a shell command when loaded the unsafe way."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


def test_a_training_checkpoint_loads_its_ema_weights_and_runs_none_of_its_code(tmp_path):
    config, ref = tiny("rt1")
    ema = ref["state_dict"]
    model_weights = {k: torch.zeros_like(v) for k, v in ema.items()}
    marker = tmp_path / "pwned"
    path = tmp_path / "0300000.pt"
    torch.save({"model": model_weights, "ema": ema, "opt": {"state": {}}, "args": Payload(marker)}, path)
    model = load_official(path, "rt1", config=config)
    assert not marker.exists()  # the payload never ran
    with torch.no_grad():
        out = model(ref["x"], ref["t"], ref["actions"])
    torch.testing.assert_close(out, ref["out_float32"], rtol=0, atol=2e-6)  # the EMA weights, not "model"


def test_a_foreign_checkpoint_is_one_line_listing_its_keys(tmp_path):
    config, _ = tiny("rt1")
    path = tmp_path / "other.pt"
    torch.save({"ema": {"unet.conv_in.weight": torch.zeros(2)}}, path)
    with pytest.raises(PwbenchError, match=r"not an IRASim rt1 Frame-Ada checkpoint.*unet\.conv_in\.weight"):
        load_official(path, "rt1", config=config)
    with pytest.raises(PwbenchError, match="not found.*bytedance/IRASim"):
        load_official(tmp_path / "missing.pt")
