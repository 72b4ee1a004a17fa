"""The ``persistworld`` model: adapters load by name into the base Ctrl-World, untrained adapters
reproduce the base byte for byte, and adapters of another base or layout are refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from baselines.ctrl_world.adapter import build as build_ctrl_world
from baselines.ctrl_world.rl import branchable
from baselines.persistworld.adapter import build
from pwbench.protocol import TASKS, VIEWS
from pwbench.rl.adapters import AdapterMismatch, read_adapters, save_adapters
from pwbench.testing import synthetic_context

TASK = TASKS["droid-sim"]


def _rollout(model, seed: int = 1, horizon: int = 4) -> dict[str, np.ndarray]:
    ctx = synthetic_context(TASK.resolution, horizon, seed=seed)
    model.reset(ctx)
    out = model.step(ctx.future_actions[:4], ctx.future_joints[:4])
    return out


@pytest.fixture(scope="module")
def fresh_adapters(tmp_path_factory):
    """Adapters as post-training starts them (LoRA B = 0): the base model, exactly."""
    world, base = branchable(TASK, lora_rank=4, lora_alpha=8.0)
    folder = tmp_path_factory.mktemp("adapters")
    tensors = {n: p.detach() for n, p in world.trainable()}
    save_adapters(tensors, folder, {"lora_rank": 4, "lora_alpha": 8.0, "base": base, "steps": 0})
    return folder, tensors, base


def test_untrained_adapters_reproduce_the_base_model(fresh_adapters):
    folder, _, _ = fresh_adapters
    pw = build(TASK, adapters=str(folder), num_steps=1)
    assert pw.spec.name == "persistworld" and pw.spec.extra["lora_rank"] == 4
    base = build_ctrl_world(TASK, num_steps=1)
    a, b = _rollout(pw), _rollout(base)
    assert all(np.array_equal(a[v], b[v]) for v in VIEWS)


def test_trained_adapters_change_the_rollout(fresh_adapters, tmp_path):
    folder, tensors, base = fresh_adapters
    moved = {k: (v + 0.05 * torch.randn_like(v) if ".lora_B." in k else v) for k, v in tensors.items()}
    save_adapters(moved, tmp_path, {"lora_rank": 4, "lora_alpha": 8.0, "base": base})
    a, b = _rollout(build(TASK, adapters=str(tmp_path), num_steps=1)), _rollout(build_ctrl_world(TASK, num_steps=1))
    assert any(not np.array_equal(a[v], b[v]) for v in VIEWS)


def test_adapters_of_another_base_or_layout_are_refused(fresh_adapters, tmp_path):
    folder, tensors, base = fresh_adapters
    save_adapters(tensors, tmp_path / "other", {"lora_rank": 4, "lora_alpha": 8.0, "base": base | {"train_steps": 1}})
    with pytest.raises(AdapterMismatch, match="train_steps=1"):
        build(TASK, adapters=str(tmp_path / "other"))
    save_adapters({"foo.weight": torch.zeros(2)}, tmp_path / "alien", {"lora_rank": 4, "lora_alpha": 8.0})
    with pytest.raises(AdapterMismatch, match=r"keys found: foo\.weight"):
        build(TASK, adapters=str(tmp_path / "alien"))
    with pytest.raises(AdapterMismatch, match="no adapter weights"):
        build(TASK, adapters=str(tmp_path / "empty"))


def test_a_peft_layout_is_accepted(fresh_adapters, tmp_path):
    from safetensors.torch import save_file

    _, tensors, _ = fresh_adapters
    peft = {("base_model.model." + k.replace(".default.", ".")) if ".lora_" in k else k: v.contiguous()
            for k, v in tensors.items()}
    save_file(peft, str(tmp_path / "adapter_model.safetensors"))
    (tmp_path / "adapter_config.json").write_text('{"r": 4, "lora_alpha": 8.0}')
    got, meta = read_adapters(tmp_path)
    assert meta["peft_config"]["r"] == 4
    model = build(TASK, adapters=str(tmp_path), num_steps=1)
    assert model.spec.extra["lora_rank"] == 4


def test_model_json_names_the_shipped_adapters_and_their_hash_not_a_machine_path(fresh_adapters):
    """Two machines running the shipped model must record the same model (a shuffled or seed run
    made elsewhere is checked against the entry's model.json)."""
    shipped = build(TASK, num_steps=1).spec.extra
    assert shipped["adapters"] == "shipped" and len(shipped["adapters_sha256"]) == 16
    folder, _, _ = fresh_adapters
    given = build(TASK, adapters=str(folder), num_steps=1).spec.extra
    assert given["adapters"] == str(folder) and given["adapters_sha256"] != shipped["adapters_sha256"]


def test_an_ablations_adapters_are_named_in_the_variant(fresh_adapters, tmp_path):
    """Fine-tuning ablations (no RL) run as `persistworld` but must never be recorded as the paper's
    recipe: their objective prefixes the variant, which the leaderboard shows."""
    _, tensors, base = fresh_adapters
    for objective in ("best-of-k", "any-of-k", "ground-truth"):
        save_adapters(tensors, tmp_path / objective, {"lora_rank": 4, "lora_alpha": 8.0, "base": base,
                                                      "nft": {"k": 4, "objective": objective}})
        spec = build(TASK, adapters=str(tmp_path / objective), num_steps=1).spec
        assert spec.variant == f"{objective}-small-droid-sim" and spec.extra["objective"] == objective
    save_adapters(tensors, tmp_path / "nft", {"lora_rank": 4, "lora_alpha": 8.0, "base": base, "nft": {"k": 16}})
    spec = build(TASK, adapters=str(tmp_path / "nft"), num_steps=1).spec
    assert spec.variant == "small-droid-sim" and "objective" not in spec.extra


def test_adapters_run_on_the_kept_base_they_name(fresh_adapters, tmp_path, monkeypatch):
    """After the base model's default weights move on, the shipped adapters keep running on the
    copy of their own base kept under weights/bases/<model>/<task>, and on nothing else."""
    import baselines.persistworld.adapter as persistworld
    from baselines.ctrl_world.checkpoint import read_small
    from pwbench.models.shards import save_shards

    folder, tensors, base = fresh_adapters
    state, meta = read_small()
    state = dict(state) | {"unet.conv_out.bias": state["unet.conv_out.bias"] + 0.05}  # another set of weights
    kept = tmp_path / "bases" / "ctrl-world" / "droid-sim"
    save_shards(state, kept, meta | {"train_steps": 7, "seed": 9})
    named_old = tmp_path / "old-adapters"
    save_adapters(tensors, named_old, {"lora_rank": 4, "lora_alpha": 8.0, "base": base | {"train_steps": 7, "seed": 9}})
    with pytest.raises(AdapterMismatch, match="train_steps=7"):  # nothing kept: refused, as before
        build(TASK, adapters=str(named_old), num_steps=1)
    monkeypatch.setattr(persistworld, "KEPT_BASES", tmp_path / "bases")
    on_kept = _rollout(build(TASK, adapters=str(named_old), num_steps=1))
    assert all(np.array_equal(on_kept[v], _rollout(build_ctrl_world(TASK, weights=str(kept), num_steps=1))[v])
               for v in VIEWS)
    on_default = _rollout(build(TASK, adapters=str(folder), num_steps=1))  # adapters of the default base stay on it
    assert all(np.array_equal(on_default[v], _rollout(build_ctrl_world(TASK, num_steps=1))[v]) for v in VIEWS)
    other_seed = base["seed"] + 1000  # neither the shipped base's seed nor the kept one's
    save_adapters(tensors, tmp_path / "third", {"lora_rank": 4, "lora_alpha": 8.0, "base": base | {"seed": other_seed}})
    with pytest.raises(AdapterMismatch, match=f"seed={other_seed}"):  # a third base is still refused
        build(TASK, adapters=str(tmp_path / "third"), num_steps=1)
