"""``--config`` left out: a run that continues a checkpoint or reads exported weights builds the
configuration they name (pwbench.train.cli.chosen_config), and a ``--config`` that contradicts them
is an error rather than a model built around weights that do not fit."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch

from pwbench.errors import PwbenchError
from pwbench.models.shards import save_shards
from pwbench.train.cli import chosen_config

CONFIGS = {"plain": "PLAIN", "with-map": "WITH-MAP"}


def args(out: Path, **kw) -> argparse.Namespace:
    return argparse.Namespace(**({"out": str(out), "config": None, "resume": False, "export": None,
                                  "probe_actions": None, "init_from": None} | kw))


def weights(folder: Path, config: str | None) -> Path:
    save_shards({"w": torch.zeros(2)}, folder, {"config": config} if config else {})
    return folder


def test_a_fresh_run_builds_what_it_is_told_or_the_default(tmp_path: Path) -> None:
    assert chosen_config(args(tmp_path), CONFIGS, "plain") == "PLAIN"
    assert chosen_config(args(tmp_path, config="with-map"), CONFIGS, "plain") == "WITH-MAP"
    # --resume before the first checkpoint exists starts a fresh run, as the loop does
    assert chosen_config(args(tmp_path, resume=True), CONFIGS, "plain") == "PLAIN"


def test_resume_and_export_build_what_the_checkpoint_trains(tmp_path: Path) -> None:
    torch.save({"task": "with-map"}, tmp_path / "checkpoint.pt")
    for kw in ({"resume": True}, {"export": str(tmp_path / "export")}):
        assert chosen_config(args(tmp_path, **kw), CONFIGS, "plain") == "WITH-MAP"
        assert chosen_config(args(tmp_path, config="with-map", **kw), CONFIGS, "plain") == "WITH-MAP"
        with pytest.raises(PwbenchError, match="--config plain does not match the checkpoint .* trained as with-map"):
            chosen_config(args(tmp_path, config="plain", **kw), CONFIGS, "plain")
    # a resumed run keeps what it trains, whatever --init-from started it from
    plain = weights(tmp_path / "plain", "plain")
    assert chosen_config(args(tmp_path, resume=True, init_from=str(plain)), CONFIGS, "plain") == "WITH-MAP"
    # a probe reads weights as they are: refused with a start before any checkpoint is consulted
    with pytest.raises(PwbenchError, match="takes neither --resume nor --init-from"):
        chosen_config(args(tmp_path, resume=True, probe_actions=str(plain)), CONFIGS, "plain")
    torch.save({"task": "gone"}, tmp_path / "checkpoint.pt")
    with pytest.raises(PwbenchError, match="'gone', not one of plain, with-map"):
        chosen_config(args(tmp_path, resume=True), CONFIGS, "plain")


def test_probed_weights_name_their_configuration(tmp_path: Path) -> None:
    w = weights(tmp_path / "w", "with-map")
    assert chosen_config(args(tmp_path, probe_actions=str(w)), CONFIGS, "plain") == "WITH-MAP"
    with pytest.raises(PwbenchError, match="does not match the weights in"):
        chosen_config(args(tmp_path, probe_actions=str(w), config="plain"), CONFIGS, "plain")
    with pytest.raises(PwbenchError, match="no exported weights"):
        chosen_config(args(tmp_path, probe_actions=str(tmp_path / "none")), CONFIGS, "plain")
    # weights that name nothing: --config or the default, and loading them decides what fits
    old = weights(tmp_path / "old", None)
    assert chosen_config(args(tmp_path, probe_actions=str(old), config="with-map"), CONFIGS, "plain") == "WITH-MAP"


def test_a_warm_start_keeps_the_weights_configuration_unless_told_another(tmp_path: Path) -> None:
    w = weights(tmp_path / "w", "plain")
    assert chosen_config(args(tmp_path, init_from=str(w)), CONFIGS, "with-map") == "PLAIN"
    # adding a pose map to weights trained without one is what --config with --init-from is for
    assert chosen_config(args(tmp_path, init_from=str(w), config="with-map"), CONFIGS, "plain") == "WITH-MAP"
