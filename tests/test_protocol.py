import pytest

from pwbench import protocol


def test_horizon_grid_and_free_horizons():
    assert protocol.horizon_frames("11s") == 56
    assert protocol.horizon_frames("1s") == 5
    assert protocol.horizon_frames("3s") == 15
    assert protocol.horizon_frames("2.5s") == 12  # round(12.5) -> 12, banker's rounding as Python does
    assert protocol.horizon_frames("7") == 7
    for bad in ("", "abc", "0s", "-1s", "0"):
        with pytest.raises(ValueError, match="horizon"):
            protocol.horizon_frames(bad)


def test_grid_upto_includes_off_grid_run_horizon():
    assert protocol.grid_upto(56) == protocol.HORIZON_GRID
    assert protocol.grid_upto(20) == {"1s": 5, "2s": 10, "4s": 20}
    assert protocol.grid_upto(15) == {"1s": 5, "2s": 10, "3s": 15}


def _manifest(clips):
    return {"dataset_id": "d", "revision": "r", "clips": [{"clip_id": c, "start_frame": 8} for c in clips]}


def test_fingerprint_is_stable_and_sensitive():
    task = protocol.TASKS["droid-sim"]
    a = protocol.fingerprint(task, _manifest(["a", "b"]))
    assert a == protocol.fingerprint(task, _manifest(["a", "b"]))
    assert len(a) == 64
    assert a != protocol.fingerprint(task, _manifest(["a"]))
    assert a != protocol.fingerprint(protocol.TASKS["droid"], _manifest(["a", "b"]))
    other = dict(_manifest(["a", "b"]), revision="r2")
    assert a != protocol.fingerprint(task, other)


def test_task_specs_validate():
    assert protocol.TASKS["droid"].resolution == (192, 320)
    assert protocol.TASKS["droid-sim"].resolution == (96, 160)
    with pytest.raises(ValueError, match="resolution"):
        protocol.TaskSpec("x", "d", (0, 5), "sam", "v", "")
    with pytest.raises(ValueError, match="unknown views"):
        protocol.TaskSpec("x", "d", (5, 5), "sam", "v", "", views=("left_eye",))
