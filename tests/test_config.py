"""RegistryConfig behaves like a frozen dataclass and rejects bad input with clear errors."""

from __future__ import annotations

import pytest

from openhcs_registry import PluginFailure, RegistryConfig, SecondaryRegistryConfig
from openhcs_registry._config import FrozenInstanceError


def provide_things() -> None:
    """A hookspec stand-in."""


def make(**kw: object) -> RegistryConfig:
    return RegistryConfig(name="things", hookspec=provide_things, key_attribute="kind", **kw)  # type: ignore[arg-type]


def test_frozen_equal_hashable_replace() -> None:
    a, b = make(), make()
    assert a == b and hash(a) == hash(b)
    with pytest.raises(FrozenInstanceError):
        a.name = "other"  # type: ignore[misc]
    c = a.replace(max_age=10)
    assert c.max_age == 10.0 and a.max_age != 10.0 and c != a
    assert "max_age=10.0" in repr(c)
    with pytest.raises(TypeError, match="no field"):
        a.replace(nope=1)
    assert {a, b, c} == {a, c}


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"name": ""}, ValueError, "identifier"),
        ({"name": "a b"}, ValueError, "identifier"),
        ({"key_attribute": None}, ValueError, "key_attribute"),
        ({"conflict_policy": "last"}, ValueError, "conflict_policy"),
        ({"max_age": 0}, ValueError, "max_age"),
        ({"max_age": "7d"}, ValueError, "max_age"),
        ({"discovery_packages": "pkg"}, TypeError, "tuple"),
        ({"base_class": "Base"}, TypeError, "base_class"),
        ({"hookspec": 3}, TypeError, "hookspec"),
    ],
)
def test_bad_configuration_is_refused(kwargs: dict[str, object], error: type, match: str) -> None:
    base: dict[str, object] = {
        "name": "things",
        "hookspec": provide_things,
        "key_attribute": "kind",
    }
    base.update(kwargs)
    with pytest.raises(error, match=match):
        RegistryConfig(**base)  # type: ignore[arg-type]


def test_secondary_needs_exactly_one_source() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        SecondaryRegistryConfig("meta")
    with pytest.raises(ValueError, match="exactly one"):
        SecondaryRegistryConfig("meta", attribute="a", derive=lambda k, v: v)
    with pytest.raises(ValueError, match="duplicate"):
        make(
            secondary_registries=(
                SecondaryRegistryConfig("m", "a"),
                SecondaryRegistryConfig("m", "b"),
            )
        )


def test_fingerprint_tracks_what_changes_discovery() -> None:
    a = make()
    assert a.fingerprint() == make().fingerprint()
    assert a.fingerprint() != a.replace(discovery_packages=("x",)).fingerprint()
    assert a.fingerprint() != a.replace(entry_point_group="other").fingerprint()
    assert a.fingerprint() == a.replace(description="docs only").fingerprint()


def test_plugin_failure_json_round_trip() -> None:
    f = PluginFailure("r", "p", "import_error", "boom", module="m", missing_module="dep")
    assert PluginFailure.from_json(f.to_json()) == f
    assert "module m" in f.describe()
    for bad in (None, [], {"registry": "r"}, {**f.to_json(), "module": 3}):
        with pytest.raises(ValueError):
            PluginFailure.from_json(bad)


class Gpu:
    kind = "gpu"
    requires_gpu = True


class Cpu:
    kind = "cpu"


def test_skip_rule_gives_the_reason_and_a_raising_rule_skips_saying_so() -> None:
    assert make().skip_reason(Gpu) is None  # the engine has no rule of its own

    def rule(value: object) -> str | None:
        return "too big" if getattr(value, "kind", None) == "gpu" else None

    cfg = make(skip=rule)
    assert cfg.skip_reason(Gpu) == "too big" and cfg.skip_reason(Cpu) is None

    def broken(value: object) -> str | None:
        raise RuntimeError("rule bug")

    reason = make(skip=broken).skip_reason(Cpu)
    assert reason is not None and "raised RuntimeError('rule bug')" in reason
    assert "test_config:test_skip_rule" in reason  # names the rule
    with pytest.raises(TypeError, match="skip"):
        make(skip="requires_gpu")


def test_the_skip_rule_is_part_of_the_fingerprint() -> None:
    def rule(value: object) -> str | None:
        return None

    assert make().fingerprint() != make(skip=rule).fingerprint()
    assert make(skip=rule).fingerprint()["skip"].endswith("rule")  # type: ignore[union-attr]


def test_openhcs_gpu_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    from openhcs_hookspecs import NO_GPU_ENV, skip_gpu

    monkeypatch.delenv(NO_GPU_ENV, raising=False)
    assert skip_gpu(Gpu) is None
    monkeypatch.setenv(NO_GPU_ENV, "1")
    assert skip_gpu(Gpu) == "needs a GPU and OPENHCS_SUBPROCESS_NO_GPU=1"
    assert skip_gpu(Cpu) is None
