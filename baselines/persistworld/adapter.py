"""The ``persistworld`` model: Ctrl-World plus the adapters PersistWorld post-training produced.

``droid-sim``: the bundled small Ctrl-World with the adapters shipped in ``weights/droid-sim``
(made by ``pwbench posttrain persistworld``; their metadata name the LoRA rank and the base
weights they were trained on, and a mismatch with the base found here is an error). Adapters
post-trained on another registered base (``--model irasim``) name it in their metadata and run on
it; such a run's variant names the base (``irasim-small-droid-sim``), so it is never mistaken
for the paper's model, which is Ctrl-World's. Adapters of an ablation without RL (``--objective``
any of :data:`pwbench.rl.recipe.FINE_TUNING`) are named the same way (``best-of-k-small-droid-sim``). ``droid``:
the official Ctrl-World with the released ``jaibrdhn/persistworld`` adapters (layout unconfirmed:
a peft adapter folder or a plain state dict are accepted; anything else is an error listing the
keys found).

Adapters are LoRA deltas of the exact weights they were post-trained on. When a base model's
default weights move on (a retrained small Ctrl-World), the base the shipped adapters name is
kept under ``weights/bases/<model>/<task>`` and chosen when its identity (training steps, seed)
is the one the adapters name; any other base is still refused. Kept at present:
``bases/ctrl-world/droid-sim``, the small Ctrl-World's run 4 (600 steps at sigma ~ 80, seed 3), on
which the best-of-K ablation's adapters were post-trained; the small Ctrl-World's default moved on
(runs 5-8, the perceptual term, shipped at stops 36, 37 and 41), and the ``persistworld`` adapters were
post-trained again on each.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

from baselines.ctrl_world.checkpoint import WeightsMissing
from pwbench.io import sha256_file
from pwbench.models.base import WorldModel
from pwbench.models.options import apply_threads
from pwbench.models.shards import read_shard_metadata, shard_files
from pwbench.protocol import TaskSpec
from pwbench.rl.adapters import AdapterMismatch, load_adapters, read_adapters
from pwbench.rl.lora import merge_lora
from pwbench.rl.protocol import BRANCHABLES
from pwbench.rl.recipe import FINE_TUNING

SHIPPED = Path(__file__).parent / "weights"
PAPER_BASE = "ctrl-world"  # adapters that name no base (released ones, older ones) are Ctrl-World's
RELEASED_REPO = "jaibrdhn/persistworld"
KEPT_BASES = SHIPPED / "bases"  # <model>/<task>: a base the shipped adapters name, kept after its model moved on
BASE_IDENTITY = ("train_steps", "seed")


def _adapter_folder(task: TaskSpec, weights: str | None) -> Path:
    if weights:
        return Path(weights)
    if task.name == "droid":
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError, RepositoryNotFoundError

        try:
            return Path(snapshot_download(RELEASED_REPO))
        except (LocalEntryNotFoundError, RepositoryNotFoundError, OSError) as err:
            raise WeightsMissing(f"the released PersistWorld adapters ({RELEASED_REPO}) are not in the Hugging "
                                 f"Face cache and could not be downloaded ({type(err).__name__}); on a machine "
                                 f"with internet: `huggingface-cli download {RELEASED_REPO}`, or pass "
                                 "--option adapters=PATH") from err
    return SHIPPED / task.name


def _source(task: TaskSpec, weights: str | None) -> str:
    """Where the adapters came from, as model.json records it: never a machine's absolute path for
    the shipped or released ones (a run elsewhere must record the same model)."""
    if weights:
        return weights
    return RELEASED_REPO if task.name == "droid" else "shipped"


def _digest(folder: Path) -> str:
    """sha256 (first 16 hex digits) over the folder's weight files: the adapters' identity."""
    h = hashlib.sha256()
    for path in sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin")):
        h.update(f"{path.name}:{sha256_file(path)}".encode())
    return h.hexdigest()[:16]


def _kept_base(task: TaskSpec, base_model: str, trained_on: dict) -> str | None:
    """The kept copy of the base the adapters were post-trained on, if one is shipped and is that base."""
    files = shard_files(KEPT_BASES / base_model / task.name)
    named = {k: trained_on[k] for k in BASE_IDENTITY if k in trained_on}
    if not files or not named:
        return None
    meta = read_shard_metadata(files)
    return str(files[0].parent) if all(meta.get(k) == v for k, v in named.items()) else None


def build(task: TaskSpec, device: str = "cpu", *, adapters: str | None = None, base: str | None = None,
          num_steps: int | None = None, threads: int | None = None) -> WorldModel:
    """pwbench factory. Options: ``adapters`` (a folder of adapter weights instead of the shipped or
    released ones), ``base`` (the base model's weights they apply to; default the ones they were
    trained on: the kept or shipped small model / the official Ctrl-World checkpoint), ``num_steps`` (sampler steps),
    ``threads`` (torch CPU threads)."""
    apply_threads(threads)
    folder = _adapter_folder(task, adapters)
    tensors, meta = read_adapters(folder)
    rank = int(meta.get("lora_rank") or meta.get("peft_config", {}).get("r") or 0)
    alpha = float(meta.get("lora_alpha") or meta.get("peft_config", {}).get("lora_alpha") or 0)
    if not rank or not alpha:
        raise AdapterMismatch(f"{folder}: the adapter metadata names no LoRA rank/alpha (keys found: "
                              f"{', '.join(sorted(tensors)[:6])})")
    base_model = meta.get("model", PAPER_BASE)
    trained_on = meta.get("base", {})
    branchable = BRANCHABLES.resolve(base_model).load()
    world, base_facts = branchable(task, device=device, weights=base or _kept_base(task, base_model, trained_on),
                                   lora_rank=rank, lora_alpha=alpha,
                                   num_steps=num_steps if num_steps is not None else meta.get("num_steps"))
    for key in ("variant", "train_steps", "seed", "config"):
        if key in trained_on and trained_on[key] != base_facts.get(key):
            raise AdapterMismatch(f"{folder}: the adapters were post-trained on a {base_model} with {key}="
                                  f"{trained_on[key]!r}, this base has {base_facts.get(key)!r}; pass the matching "
                                  "--option base=DIR or post-train again")
    load_adapters(world.module, tensors, [n for n, _ in world.trainable()], str(folder))
    merge_lora(world.module)  # inference only: the merged model runs at the base model's cost
    world.module.eval()
    model = world.adapter
    extra = dict(model.spec.extra) | {"adapters": _source(task, adapters), "adapters_sha256": _digest(folder),
                                      "lora_rank": rank, "rl_steps": meta.get("steps"),
                                      "base_train_steps": base_facts.get("train_steps")}
    variant = model.spec.variant
    if base_model != PAPER_BASE:  # the paper's model is Ctrl-World's: any other base is named
        variant, extra["base_model"] = f"{base_model}-{variant}", base_model
    objective = meta.get("nft", {}).get("objective")
    what = "PersistWorld RL adapters"
    if objective in FINE_TUNING:  # an ablation's fine-tuning is not the paper's RL: named too
        variant, extra["objective"] = f"{objective}-{variant}", objective
        what = f"{objective} fine-tuning adapters (PersistWorld ablation, no RL)"
    model.spec = replace(model.spec, name="persistworld", variant=variant, extra=extra,
                         num_parameters=sum(p.numel() for p in world.module.parameters()),
                         description=f"{model.spec.description} + {what} (LoRA + action encoder)")
    return model
