"""What a registry is: the frozen description every other part of the engine works from.

These are hand-written immutable classes rather than ``@dataclass(frozen=True)``: a frozen
dataclass is built with ``exec`` at import time (~1.5 ms each here), and every warm start of
every process imports this module.  They behave like frozen dataclasses: keyword
construction, ``==``, ``hash``, ``repr``, ``replace()``, and assignment raises.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from typing import Any, Literal

    ConflictPolicy = Literal["first", "strict"]

DEFAULT_ENTRY_POINT_GROUP = "openhcs"
DEFAULT_MAX_AGE = 7 * 24 * 3600.0


class FrozenInstanceError(AttributeError):
    """Raised on assignment to a configuration (they are shared between threads)."""


class _Frozen:
    """Immutable record base: fields listed in ``__slots__``, compared and hashed by value."""

    __slots__: tuple[str, ...] = ()

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r} of {type(self).__name__}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r} of {type(self).__name__}")

    def _set(self, name: str, value: object) -> None:
        object.__setattr__(self, name, value)

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, f) for f in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, _Frozen)
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash((type(self).__name__, *(_hashable(v) for v in self._values())))

    def __repr__(self) -> str:
        fields = ", ".join(f"{f}={getattr(self, f)!r}" for f in self.__slots__)
        return f"{type(self).__name__}({fields})"

    def replace(self, **changes: Any) -> Any:
        """A copy with *changes* applied (like ``dataclasses.replace``)."""
        unknown = set(changes) - set(self.__slots__)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field(s) {sorted(unknown)}")
        kwargs = {f: getattr(self, f) for f in self.__slots__}
        kwargs.update(changes)
        return type(self)(**kwargs)


def _hashable(value: object) -> object:
    if isinstance(value, dict):
        return tuple(sorted(value.items(), key=repr))
    return value


class SecondaryRegistryConfig(_Frozen):
    """A registry derived from a primary one, keyed like it (e.g. metadata handlers).

    For each primary entry the secondary value is ``derive(key, value)`` if given, else the
    primary value's *attribute*.  An attribute may hold the object itself or a
    ``"module:qualname"`` string: the string form keeps the secondary lazy, since resolving
    the primary value is then not needed to list or resolve secondary entries.
    """

    __slots__ = ("attribute", "derive", "description", "name")

    name: str
    attribute: str | None
    derive: Callable[[str, Any], Any] | None
    description: str

    def __init__(
        self,
        name: str,
        attribute: str | None = None,
        derive: Callable[[str, Any], Any] | None = None,
        description: str = "",
    ) -> None:
        _check_name(name)
        if (attribute is None) == (derive is None):
            raise ValueError(
                f"secondary registry {name!r}: give exactly one of attribute= or derive="
            )
        self._set("name", name)
        self._set("attribute", attribute)
        self._set("derive", derive)
        self._set("description", description)


class RegistryConfig(_Frozen):
    """Everything discovery, caching and the lazy mapping need to know about one registry.

    ``name`` names the cache file (``<name>_registry.json``) and the registry in the CLI.
    ``hookspec`` is the hook specification function; plugins implement a function of the
    same name.  Values must be subclasses (or instances) of ``base_class`` when it is given;
    their key is ``key_extractor(value)`` or the ``key_attribute`` attribute.
    ``conflict_policy`` is ``"first"`` (deterministic winner, loser reported) or
    ``"strict"`` (a duplicate key makes discovery raise ``DuplicateKeyError``).

    ``skip(value)`` is the contract's rule for leaving a value out *here and now*: it returns
    the reason (``"needs a GPU and OPENHCS_SUBPROCESS_NO_GPU=1"``) or None to keep the value.
    The engine knows no such rule itself (OpenHCS's GPU rule is
    ``openhcs_hookspecs.skip_gpu``); a skipped value is reported as a ``skipped`` failure
    with that reason.  A rule may read only the value and environment switches that a
    contracts package declares under the ``openhcs.settings`` entry-point group: those are
    recorded in every cache, so flipping one rebuilds (see :func:`.settings.discovery_settings`).
    """

    __slots__ = (
        "base_class",
        "check_mtimes",
        "conflict_policy",
        "description",
        "discovery_function",
        "discovery_packages",
        "enable_cache",
        "entry_point_group",
        "extra",
        "hookspec",
        "key_attribute",
        "key_extractor",
        "max_age",
        "name",
        "recursive",
        "secondary_registries",
        "skip",
    )

    name: str
    hookspec: Callable[..., Any]
    base_class: type | None
    key_attribute: str | None
    key_extractor: Callable[[Any], str | None] | None
    discovery_packages: tuple[str, ...]
    recursive: bool
    entry_point_group: str
    enable_cache: bool
    check_mtimes: bool
    max_age: float
    conflict_policy: ConflictPolicy
    discovery_function: Callable[[], Iterable[Any] | Mapping[str, Any] | None] | None
    secondary_registries: tuple[SecondaryRegistryConfig, ...]
    skip: Callable[[Any], str | None] | None
    description: str
    extra: Mapping[str, Any]

    def __init__(
        self,
        name: str,
        hookspec: Callable[..., Any],
        base_class: type | None = None,
        key_attribute: str | None = None,
        key_extractor: Callable[[Any], str | None] | None = None,
        discovery_packages: Iterable[str] = (),
        recursive: bool = True,
        entry_point_group: str = DEFAULT_ENTRY_POINT_GROUP,
        enable_cache: bool = True,
        check_mtimes: bool = True,
        max_age: float = DEFAULT_MAX_AGE,
        conflict_policy: ConflictPolicy = "first",
        discovery_function: Callable[[], Iterable[Any] | Mapping[str, Any] | None] | None = None,
        secondary_registries: Iterable[SecondaryRegistryConfig] = (),
        skip: Callable[[Any], str | None] | None = None,
        description: str = "",
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        _check_name(name)
        if not callable(hookspec):
            raise TypeError(f"registry {name!r}: hookspec must be a function")
        if key_attribute is None and key_extractor is None:
            raise ValueError(f"registry {name!r}: give key_attribute= or key_extractor=")
        if base_class is not None and not isinstance(base_class, type):
            raise TypeError(f"registry {name!r}: base_class must be a class")
        if conflict_policy not in ("first", "strict"):
            raise ValueError(
                f"registry {name!r}: conflict_policy must be 'first' or 'strict', "
                f"not {conflict_policy!r}"
            )
        if isinstance(max_age, bool) or not isinstance(max_age, (int, float)) or not max_age > 0:
            raise ValueError(f"registry {name!r}: max_age must be a number of seconds > 0")
        if isinstance(discovery_packages, str):
            raise TypeError(f"registry {name!r}: discovery_packages must be a tuple of names")
        packages = tuple(discovery_packages)
        if not all(isinstance(p, str) and p for p in packages):
            raise TypeError(f"registry {name!r}: discovery_packages must be module names")
        secondaries = tuple(secondary_registries)
        if not all(isinstance(s, SecondaryRegistryConfig) for s in secondaries):
            raise TypeError(f"registry {name!r}: secondary_registries must be configs")
        names = [s.name for s in secondaries]
        if len(set(names)) != len(names):
            raise ValueError(f"registry {name!r}: duplicate secondary registry names")
        if skip is not None and not callable(skip):
            raise TypeError(f"registry {name!r}: skip must be a function (value -> reason)")
        self._set("name", name)
        self._set("hookspec", hookspec)
        self._set("base_class", base_class)
        self._set("key_attribute", key_attribute)
        self._set("key_extractor", key_extractor)
        self._set("discovery_packages", packages)
        self._set("recursive", bool(recursive))
        self._set("entry_point_group", entry_point_group)
        self._set("enable_cache", bool(enable_cache))
        self._set("check_mtimes", bool(check_mtimes))
        self._set("max_age", float(max_age))
        self._set("conflict_policy", conflict_policy)
        self._set("discovery_function", discovery_function)
        self._set("secondary_registries", secondaries)
        self._set("skip", skip)
        self._set("description", description)
        self._set("extra", dict(extra or {}))

    @property
    def hook_name(self) -> str:
        return str(self.hookspec.__name__)

    def key_of(self, value: Any) -> Any:
        """The key *value* carries, or None (a keyless value)."""
        if self.key_extractor is not None:
            return self.key_extractor(value)
        assert self.key_attribute is not None
        return getattr(value, self.key_attribute, None)

    def skip_reason(self, value: Any) -> str | None:
        """Why the ``skip`` rule leaves *value* out now, or None (no rule, or kept).

        A rule that raises skips the value, saying so: a contract's bug shows up as a reason
        on every value instead of breaking discovery.
        """
        rule = self.skip
        if rule is None:
            return None
        try:
            reason = rule(value)
        except Exception as exc:
            return f"the registry's skip rule {_callable_name(rule)} raised {exc!r}"
        return str(reason) if reason else None

    def fingerprint(self) -> dict[str, Any]:
        """The settings that change discovery's answer, as recorded in the cache header."""
        return {
            "hook": self.hook_name,
            "hookspec": _callable_name(self.hookspec),
            "base_class": (
                f"{self.base_class.__module__}:{self.base_class.__qualname__}"
                if self.base_class is not None
                else None
            ),
            "key_attribute": self.key_attribute,
            "key_extractor": _callable_name(self.key_extractor),
            "discovery_packages": list(self.discovery_packages),
            "recursive": self.recursive,
            "entry_point_group": self.entry_point_group,
            "conflict_policy": self.conflict_policy,
            "discovery_function": _callable_name(self.discovery_function),
            "secondaries": [
                [s.name, s.attribute, _callable_name(s.derive)] for s in self.secondary_registries
            ],
            "skip": _callable_name(self.skip),
        }


def _callable_name(func: object) -> str | None:
    if func is None:
        return None
    return f"{getattr(func, '__module__', '?')}:{getattr(func, '__qualname__', repr(func))}"


def _check_name(name: object) -> None:
    if not isinstance(name, str) or not name or not name.replace("_", "").isalnum():
        raise ValueError(f"registry name must be a non-empty identifier-like string, not {name!r}")
