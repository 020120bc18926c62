"""Microscope component enums, built from the component configuration and cached.

``AllComponents``, ``VariableComponents``, ``GroupBy`` and ``SequentialComponents`` are created
on first access (PEP 562): ``from openhcs_registry.constants import GroupBy``.  The
multiprocessing axis (``well`` by default) is what workers split on, so the variable,
sequential and group-by enums hold the *other* components; ``GroupBy.NONE`` is ``None``.

All four live in one cache file, ``component_enums.json``, shaped
``{cache_version, version, timestamp, fingerprint, items: {enums: {...}}}``; its fingerprint is
the configuration, so changing the configuration rebuilds them (OpenHCS's own cache never
noticed).  Members compare equal across the four enums and to their plain values
(``GroupBy.CHANNEL == VariableComponents.CHANNEL == "channel"``).
"""

from __future__ import annotations

import threading

from . import enums as _enums

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from enum import Enum
    from typing import Any

COMPONENT_CACHE_FILE = "component_enums.json"
COMPONENT_MAX_AGE = 7 * 24 * 3600.0
ENUM_NAMES = ("AllComponents", "VariableComponents", "GroupBy", "SequentialComponents")

#: OpenHCS's default component configuration.
DEFAULT_COMPONENTS: tuple[str, ...] = ("site", "channel", "z_index", "timepoint", "well")
DEFAULT_MULTIPROCESSING_AXIS = "well"

_lock = threading.RLock()
_config: dict[str, Any] = {
    "components": list(DEFAULT_COMPONENTS),
    "multiprocessing_axis": DEFAULT_MULTIPROCESSING_AXIS,
}


def get_component_configuration() -> dict[str, Any]:
    """The configuration the component enums are built from (a copy)."""
    with _lock:
        return {
            "components": list(_config["components"]),
            "multiprocessing_axis": _config["multiprocessing_axis"],
        }


def set_component_configuration(
    components: Sequence[str], multiprocessing_axis: str = DEFAULT_MULTIPROCESSING_AXIS
) -> None:
    """Change the components; the enums are rebuilt on next access (and recached).

    Classes obtained before the change keep working but are no longer the published ones.
    """
    comps = list(components)
    if not comps or len(set(comps)) != len(comps):
        raise ValueError("components must be a non-empty list of distinct names")
    for name in comps:
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
            raise ValueError(f"component {name!r} is not an identifier")
    if multiprocessing_axis not in comps:
        raise ValueError(f"multiprocessing axis {multiprocessing_axis!r} is not a component")
    with _lock:
        _config["components"] = comps
        _config["multiprocessing_axis"] = multiprocessing_axis
        for name in ENUM_NAMES:
            _enums.forget(__name__, name)
            globals().pop(name, None)


def _members(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    comps = config["components"]
    others = [c for c in comps if c != config["multiprocessing_axis"]]
    every = {c.upper(): c for c in comps}
    variable = {c.upper(): c for c in others}
    return {
        "AllComponents": every,
        "VariableComponents": variable,
        "GroupBy": {"NONE": None, **variable},
        "SequentialComponents": dict(variable),
    }


# -- behaviour restored on every creation (cached or fresh) -------------------------------------
def _eq(self: Enum, other: object) -> bool:
    from enum import Enum

    if isinstance(other, Enum):
        other = other.value
    return bool(self.value == other)


def _ne(self: Enum, other: object) -> bool:
    return not _eq(self, other)


def _hash(self: Enum) -> int:
    return hash(self.value)


def _component(self: Enum) -> Enum | None:
    """The ``AllComponents`` member this group-by member stands for (None for NONE)."""
    if self.value is None:
        return None
    all_components = __getattr__("AllComponents")
    return all_components(self.value)  # type: ignore[no-any-return]


def _str(self: Enum) -> str:
    return "" if self.value is None else str(self.value)


_COMMON = {"__eq__": _eq, "__ne__": _ne, "__hash__": _hash, "__str__": _str}
_NAMESPACES = {
    "AllComponents": {**_COMMON, "__doc__": "Every image component."},
    "VariableComponents": {**_COMMON, "__doc__": "Components that vary within a worker."},
    "GroupBy": {
        **_COMMON,
        "component": property(_component),
        "__doc__": "How to group images; NONE means no grouping.",
    },
    "SequentialComponents": {**_COMMON, "__doc__": "Components processed one after another."},
}


def _constant(value: dict[str, Any] | None) -> Any:
    assert value is not None
    return lambda: value


def _build_all() -> dict[str, Any]:
    """Create the four enums from the cache file or the configuration; publish them."""
    with _lock:
        config = get_component_configuration()
        cache = _enums.EnumCacheFile(COMPONENT_CACHE_FILE, COMPONENT_MAX_AGE, {"config": config})
        items = cache.load()
        members = None
        if items is not None:
            raw = items.get("enums")
            if isinstance(raw, dict) and set(raw) == set(ENUM_NAMES):
                checked = {n: _enums.valid_members(raw[n]) for n in ENUM_NAMES}
                if all(v is not None for v in checked.values()):
                    members = checked
        if members is None:
            members = _members(config)  # type: ignore[assignment]
            cache.save({"enums": members})
        assert members is not None
        made = {}
        for name in ENUM_NAMES:
            made[name] = _enums.cached_enum(
                name,
                _constant(members[name]),
                module=__name__,
                file_name=None,
                namespace=_NAMESPACES[name],
                refresh=True,
            )
        globals().update(made)
        return made


def __getattr__(name: str) -> Any:
    if name in ENUM_NAMES:
        with _lock:
            value = globals().get(name)
            if value is None:
                value = _build_all()[name]
            return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
