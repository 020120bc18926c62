"""Microscope component enums, built from the component configuration and cached.

``AllComponents``, ``VariableComponents``, ``GroupBy`` and ``SequentialComponents`` are created
on first access (PEP 562): ``from openhcs_hookspecs.components import GroupBy``.  The
multiprocessing axis (``well`` by default) is what workers split on, so the variable,
sequential and group-by enums hold the *other* components; ``GroupBy.NONE`` is ``None``.

All four live in one cache file, ``component_enums.json``, shaped as OpenHCS's:
``{cache_version, version, timestamp, fingerprint, items: {enums: {all_components: {...},
variable_components: {...}, group_by: {...}, sequential_components: {...}}}}``.  Its
fingerprint is the configuration, so a changed configuration rebuilds them (OpenHCS's own
cache never noticed).  The members are cached with the engine's generic enum machinery
(:mod:`openhcs_registry.enums`); everything OpenHCS-specific is here.

Behaviour is OpenHCS's and is restored on every creation, cached or fresh:
``GroupBy.component`` is the component name (``"channel"``, ``None`` for ``NONE``); a
``GroupBy`` member equals any enum member or plain value with the same value
(``GroupBy.CHANNEL == VariableComponents.CHANNEL == "channel"``) and hashes like it, but
``GroupBy.NONE != None`` (``None`` means "not set" in configurations); ``str``/``repr`` are
``GroupBy.CHANNEL``.  ``AllComponents`` has ``from_value``, ``ordered_names``,
``is_multiprocessing_axis`` and ``is_variable_axis``.  The other two are plain enums.
"""

from __future__ import annotations

import _thread

from openhcs_registry import enums as _enums

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from enum import Enum
    from typing import Any

COMPONENT_CACHE_FILE = "component_enums.json"
COMPONENT_MAX_AGE = 7 * 24 * 3600.0
ENUM_NAMES = ("AllComponents", "VariableComponents", "GroupBy", "SequentialComponents")
#: Key of each enum inside ``items["enums"]`` (OpenHCS's names).
CACHE_KEYS = {
    "AllComponents": "all_components",
    "VariableComponents": "variable_components",
    "GroupBy": "group_by",
    "SequentialComponents": "sequential_components",
}

#: OpenHCS's default component configuration.
DEFAULT_COMPONENTS: tuple[str, ...] = ("site", "channel", "z_index", "timepoint", "well")
DEFAULT_MULTIPROCESSING_AXIS = "well"

_lock = _thread.RLock()
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
    if not comps:
        raise ValueError("components must be a non-empty list of names")
    for name in comps:
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
            raise ValueError(f"component {name!r} is not a public identifier")
    members = [c.upper() for c in comps]
    if len(set(members)) != len(members):
        raise ValueError(f"component names collide once upper-cased: {comps}")
    if "NONE" in members or "MRO" in members:
        raise ValueError("'none' and 'mro' are reserved (GroupBy.NONE, type.mro)")
    if multiprocessing_axis not in comps:
        raise ValueError(f"multiprocessing axis {multiprocessing_axis!r} is not a component")
    with _lock:
        _config["components"] = comps
        _config["multiprocessing_axis"] = multiprocessing_axis
        for name in ENUM_NAMES:
            globals().pop(name, None)


def component_members(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The members of the four enums for *config*, keyed as in the cache file."""
    comps = config["components"]
    others = [c for c in comps if c != config["multiprocessing_axis"]]
    variable = {c.upper(): c for c in others}
    return {
        "all_components": {c.upper(): c for c in comps},
        "variable_components": variable,
        "group_by": {**variable, "NONE": None},  # NONE last, as in OpenHCS
        "sequential_components": dict(variable),
    }


def _consistent(members: dict[str, Any]) -> bool:
    """Whether cached members have the shape any configuration gives them."""
    checked = {k: _enums.valid_members(members.get(k)) for k in CACHE_KEYS.values()}
    every, variable, group_by, sequential = (checked[k] for k in CACHE_KEYS.values())
    if every is None or variable is None or group_by is None or sequential is None:
        return False
    return (
        all(isinstance(v, str) and k == v.upper() for k, v in every.items())
        and len(every) == len(variable) + 1
        and all(every.get(k) == v for k, v in variable.items())
        and sequential == variable
        and group_by == {**variable, "NONE": None}
        and list(group_by) == [*variable, "NONE"]
    )


# -- behaviour, given to the classes on every creation (cached or fresh) ------------------------
def _value_of(other: object) -> object:
    from enum import Enum

    return other.value if isinstance(other, Enum) else other


def _groupby_eq(self: Enum, other: object) -> bool:
    if other is None:  # None means "not set"; GroupBy.NONE is a real choice
        return False
    return bool(self.value == _value_of(other))


def _groupby_ne(self: Enum, other: object) -> bool:
    return not _groupby_eq(self, other)


def _groupby_hash(self: Enum) -> int:
    return hash("GroupBy.NONE") if self.value is None else hash(self.value)


def _groupby_str(self: Enum) -> str:
    return f"GroupBy.{self.name}"


def _groupby_component(self: Enum) -> str | None:
    """The component name this grouping stands for (None for NONE)."""
    value = self.value
    return value if isinstance(value, str) else None


def _from_value(cls: type[Enum], value: object) -> Enum | None:
    for member in cls:
        if member.value == value:
            return member
    return None


def _ordered_names(cls: type[Enum]) -> tuple[str, ...]:
    return tuple(member.value for member in cls)


def _is_multiprocessing_axis(self: Enum) -> bool:
    return bool(self.value == get_component_configuration()["multiprocessing_axis"])


def _is_variable_axis(self: Enum) -> bool:
    return not _is_multiprocessing_axis(self)


_NAMESPACES: dict[str, dict[str, Any]] = {
    "AllComponents": {
        "from_value": classmethod(_from_value),
        "ordered_names": classmethod(_ordered_names),
        "is_multiprocessing_axis": _is_multiprocessing_axis,
        "is_variable_axis": _is_variable_axis,
        "__doc__": "Every image component, the multiprocessing axis included.",
    },
    "VariableComponents": {"__doc__": "Components that vary within a worker."},
    "GroupBy": {
        "component": property(_groupby_component),
        "__eq__": _groupby_eq,
        "__ne__": _groupby_ne,
        "__hash__": _groupby_hash,
        "__str__": _groupby_str,
        "__repr__": _groupby_str,
        "__doc__": "How to group images; NONE means no grouping.",
    },
    "SequentialComponents": {"__doc__": "Components processed one after another."},
}


def _build_all() -> dict[str, type[Enum]]:
    """Create the four enums from the cache file or the configuration; publish them."""
    config = get_component_configuration()
    cache = _enums.EnumCacheFile(COMPONENT_CACHE_FILE, COMPONENT_MAX_AGE, {"config": config})
    members: dict[str, Any] | None = None
    items = cache.load()
    if items is not None:
        raw = items.get("enums")
        if isinstance(raw, dict) and _consistent(raw):
            members = raw
    if members is None:
        members = component_members(config)
        cache.save({"enums": members})
    made: dict[str, type[Enum]] = {}
    for name in ENUM_NAMES:
        made[name] = _enums.make_enum(
            name, members[CACHE_KEYS[name]], module=__name__, namespace=_NAMESPACES[name]
        )
    return made


def __getattr__(name: str) -> Any:
    """Create the four enums together on first access (thread-safe: one class each)."""
    if name in ENUM_NAMES:
        with _lock:  # building imports nothing that could come back here: a lock is enough
            value = globals().get(name)
            if value is None:
                made = _build_all()
                globals().update(made)
                value = made[name]
            return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
