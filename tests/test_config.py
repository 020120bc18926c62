"""RegistryConfig behaves like a frozen dataclass and rejects bad input with clear errors."""

from __future__ import annotations

import pytest

from openhcs_registry import PluginFailure, RegistryConfig, SecondaryRegistryConfig
from openhcs_registry.config import FrozenInstanceError


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
