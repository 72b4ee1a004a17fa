import pytest

from pwbench.models.options import OptionError, declared, resolve


def factory(task, device: str = "cpu", *, steps: int | None = None, scale: float = 1.0, path: str | None = None,
            fast: bool = False):
    return None


def test_declared_from_signature():
    assert declared(factory, "m") == {"steps": (int, None), "scale": (float, 1.0), "path": (str, None),
                                      "fast": (bool, False)}


def test_resolve_fills_defaults_and_coerces():
    assert resolve(factory, "m", {"steps": 3, "scale": 2, "path": 12, "fast": "true"}) == {
        "steps": 3, "scale": 2.0, "path": "12", "fast": True}
    assert resolve(factory, "m", {}) == {"steps": None, "scale": 1.0, "path": None, "fast": False}
    once = resolve(factory, "m", {"scale": 3})
    assert resolve(factory, "m", once) == once  # the runner resolves, then build() checks again


@pytest.mark.parametrize("given, message", [
    ({"step": 3}, "no option 'step'; did you mean 'steps'?"),
    ({"zzz": 3}, "no option 'zzz' (options: steps, scale, path, fast)"),
    ({"steps": 2.5}, "steps=2.5 is not a valid int"),
    ({"steps": True}, "not a valid int"),
    ({"scale": "big"}, "scale='big' is not a valid float"),
    ({"fast": "maybe"}, "not a valid bool"),
])
def test_bad_options_are_named(given, message):
    with pytest.raises(OptionError, match=message.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
        resolve(factory, "m", given)


def test_factories_must_declare_their_options():
    def loose(task, device="cpu", **options):
        return None

    def untyped(task, device="cpu", *, weights=(1, 2)):
        return None

    with pytest.raises(OptionError, match=r"takes \*\*options"):
        declared(loose, "m")
    with pytest.raises(OptionError, match="must be typed"):
        declared(untyped, "m")
