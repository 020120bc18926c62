"""The enum machinery (:mod:`openhcs_registry._enumcache`): its fast class builder makes the same
enum as :class:`enum.EnumMeta`, and both refuse the same bad members.
"""

from __future__ import annotations

import pickle
import sys
from typing import Any

import pytest
from enum_support import _fresh_enums

__all__ = ["_fresh_enums"]


# -- the two builders ----------------------------------------------------------------------
def _features(cls: Any) -> dict[str, Any]:
    """Everything a user can observe of an enum class, as plain data."""
    import copy
    import enum

    grey = cls("gray")
    return {
        "members": [(m.name, m.value) for m in cls],
        "all names": list(cls.__members__),
        "aliases": {n: m.name for n, m in cls.__members__.items()},
        "len": len(cls),
        "by value": grey.name,
        "by name": cls["VIRIDIS"].value,
        "alias is member": cls.GREY is cls.GRAY,
        "name/value members": (cls.NAME.name, cls.NAME.value, cls.VALUE.value),
        "repr": repr(cls.VIRIDIS),
        "str": str(cls.VIRIDIS),
        "format": f"{cls.FLAG}",
        "doc": cls.__doc__,
        "module": (cls.__module__, cls.__qualname__, cls.__name__),
        "metaclass": type(cls),
        "is Enum": isinstance(cls.VIRIDIS, enum.Enum) and issubclass(cls, enum.Enum),
        "display_name": [m.display_name for m in cls],
        "from_display_name": cls.from_display_name("VIRIDIS!").name,
        "unknown value": _raises(lambda: cls("nope")),
        "unknown name": _raises(lambda: cls["NOPE"]),
        "reassign": _raises(lambda: setattr(cls, "VIRIDIS", 1)),
        "contains": cls.GRAY in cls,
        "copies": copy.copy(cls.GRAY) is cls.GRAY and copy.deepcopy(cls.GRAY) is cls.GRAY,
        "hash": hash(cls.GRAY) == hash(cls.GRAY) and cls.GRAY == cls.GRAY,
        "dir": {"VIRIDIS", "GRAY", "display_name"} <= set(dir(cls)),
        "pickle": pickle.loads(pickle.dumps(cls.VIRIDIS)) is cls.VIRIDIS,
    }


def _raises(func: Any) -> str | None:
    try:
        func()
    except Exception as exc:
        return type(exc).__name__
    return None


def test_fast_builder_makes_the_same_enum_as_enummeta(monkeypatch: pytest.MonkeyPatch) -> None:
    from openhcs_registry import _enumcache

    members = {
        "VIRIDIS": "viridis",
        "GRAY": "gray",
        "GREY": "gray",  # an alias
        "NAME": "name",  # members named like Enum's own properties
        "VALUE": 3,
        "FLAG": True,
        "NOTHING": None,
    }
    namespace = {
        "display_name": property(lambda self: f"{self.name}!"),
        "from_display_name": classmethod(lambda cls, text: cls[text.rstrip("!")]),
        "__doc__": "Demo colormaps.",
        "__str__": lambda self: f"<{self.name}>",
    }
    built = []
    real = _enumcache._make_simple

    def counting(*args: Any) -> Any:
        built.append("fast")
        return real(*args)

    monkeypatch.setattr(_enumcache, "_make_simple", counting)
    fast = _enumcache.make_enum("Demo", members, module=__name__, namespace=namespace)
    monkeypatch.setattr(sys.modules[__name__], "Demo", fast, raising=False)
    fast_features = _features(fast)
    monkeypatch.setattr(_enumcache, "_FAST", False)
    slow = _enumcache.make_enum("Demo", members, module=__name__, namespace=namespace)
    monkeypatch.setattr(sys.modules[__name__], "Demo", slow)
    assert _features(slow) == fast_features
    assert fast_features["members"] == [
        ("VIRIDIS", "viridis"), ("GRAY", "gray"), ("NAME", "name"), ("VALUE", 3),
        ("FLAG", True), ("NOTHING", None),
    ]  # fmt: skip
    assert built == ["fast"]  # the fast path did run (and fell back on 3.10, where it raises)


def test_a_member_clashing_with_the_namespace_is_refused_by_both_builders(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from openhcs_registry import _enumcache

    for fast in (True, False):
        monkeypatch.setattr(_enumcache, "_FAST", fast)
        with pytest.raises(TypeError):
            _enumcache.make_enum(
                "Clash", {"display_name": "x"}, module=__name__, namespace={"display_name": 1}
            )
