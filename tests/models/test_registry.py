from importlib.metadata import EntryPoint

import numpy as np
import pytest

from pwbench import protocol
from pwbench.models import registry
from pwbench.models.calibration import CopyLast
from pwbench.registry import DuplicateName, LoadError, UnknownName

TASK = protocol.TASKS["droid-sim"]


def test_builtins_build():
    model = registry.build("copy-last", TASK)
    assert isinstance(model, CopyLast)
    assert model.spec.resolution == TASK.resolution
    assert registry.build("oracle", TASK).spec.needs_ground_truth


def test_did_you_mean():
    with pytest.raises(UnknownName, match="did you mean 'copy-last'"):
        registry.resolve("copylast")
    with pytest.raises(UnknownName, match="known: "):
        registry.resolve("zzzzzz")


class _Dist:
    name = "some-plugin"


def _fake_entry_points(*extra):
    def fake(group):
        assert group == registry.ENTRY_POINT_GROUP
        eps = []
        for name, value in extra:
            ep = EntryPoint(name, value, group)
            eps.append(ep)
        return eps
    return fake


def test_entry_point_models_and_loud_duplicates(monkeypatch):
    import pwbench.registry as mechanism

    monkeypatch.setattr(EntryPoint, "dist", _Dist(), raising=False)
    plugin = ("my-model", "pwbench.models.calibration:build_copy_last")
    monkeypatch.setattr(mechanism, "entry_points", _fake_entry_points(plugin))
    registry.MODELS.refresh()
    assert registry.available()["my-model"].source == "some-plugin"
    assert isinstance(registry.build("my-model", TASK), CopyLast)
    monkeypatch.setattr(mechanism, "entry_points", _fake_entry_points(("oracle", "elsewhere:build")))
    assert "my-model" in registry.available()  # discovery is cached until refresh
    try:
        registry.MODELS.refresh()
        with pytest.raises(DuplicateName, match="registered twice"):
            registry.available()
    finally:
        monkeypatch.undo()
        registry.MODELS.refresh()


def test_factory_must_return_world_model(monkeypatch):
    monkeypatch.setitem(registry.BUILTIN, "bad", "plugin_models:not_a_model")
    with pytest.raises(registry.ModelLoadError, match="not a WorldModel"):
        registry.build("bad", TASK)
    monkeypatch.setitem(registry.BUILTIN, "gone", "no_such_module:build")
    with pytest.raises(LoadError, match="cannot load no_such_module:build"):
        registry.build("gone", TASK)


def test_copy_last_repeats_last_context_frame():
    from pwbench.models.base import RolloutContext

    frames = {v: np.random.default_rng(0).integers(0, 255, (3, 96, 160, 3), dtype=np.uint8) for v in TASK.views}
    ctx = RolloutContext("c", frames, np.zeros((3, 7)), np.zeros((3, 7)), "", 0, 6, np.zeros((6, 7)), np.zeros((6, 7)))
    model = CopyLast(TASK)
    model.reset(ctx)
    out = model.step(np.zeros((4, 7)), np.zeros((4, 7)))
    assert all(np.array_equal(out[v], np.repeat(frames[v][-1:], 4, 0)) for v in TASK.views)
