"""What a registry is: the frozen description every other part of the engine works from."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

DEFAULT_ENTRY_POINT_GROUP = "openhcs"
DEFAULT_MAX_AGE = 7 * 24 * 3600.0

ConflictPolicy = Literal["first", "strict"]


@dataclass(frozen=True)
class SecondaryRegistryConfig:
    """A registry derived from a primary one, keyed like it (e.g. metadata handlers).

    For each primary entry the secondary value is ``derive(key, value)`` if given, else the
    primary value's *attribute*.  An attribute may hold the object itself or a
    ``"module:qualname"`` string: the string form keeps the secondary lazy, since resolving
    the primary value is then not needed to list or resolve secondary entries.
    """

    name: str
    attribute: str | None = None
    derive: Callable[[str, Any], Any] | None = None
    description: str = ""

    def __post_init__(self) -> None:
        _check_name(self.name)
        if (self.attribute is None) == (self.derive is None):
            raise ValueError(
                f"secondary registry {self.name!r}: give exactly one of attribute= or derive="
            )


@dataclass(frozen=True)
class RegistryConfig:
    """Everything discovery, caching and the lazy mapping need to know about one registry.

    ``name`` names the cache file (``<name>_registry.json``) and the registry in the CLI.
    ``hookspec`` is the hook specification function; plugins implement a function of the
    same name.  Values must be subclasses (or instances) of ``base_class`` when it is given;
    their key is ``key_extractor(value)`` or the ``key_attribute`` attribute.
    """

    name: str
    hookspec: Callable[..., Any]
    base_class: type | None = None
    key_attribute: str | None = None
    key_extractor: Callable[[Any], str | None] | None = None
    discovery_packages: tuple[str, ...] = ()
    recursive: bool = True
    entry_point_group: str = DEFAULT_ENTRY_POINT_GROUP
    enable_cache: bool = True
    check_mtimes: bool = True
    max_age: float = DEFAULT_MAX_AGE
    conflict_policy: ConflictPolicy = "first"
    discovery_function: Callable[[], Iterable[Any] | Mapping[str, Any] | None] | None = None
    secondary_registries: tuple[SecondaryRegistryConfig, ...] = ()
    gpu_attribute: str = "requires_gpu"
    description: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_name(self.name)
        if not callable(self.hookspec):
            raise TypeError(f"registry {self.name!r}: hookspec must be a function")
        if self.key_attribute is None and self.key_extractor is None:
            raise ValueError(f"registry {self.name!r}: give key_attribute= or key_extractor=")
        if self.conflict_policy not in ("first", "strict"):
            raise ValueError(
                f"registry {self.name!r}: conflict_policy must be 'first' or 'strict', "
                f"not {self.conflict_policy!r}"
            )
        if not self.max_age > 0:
            raise ValueError(f"registry {self.name!r}: max_age must be > 0 seconds")
        if isinstance(self.discovery_packages, str):
            raise TypeError(f"registry {self.name!r}: discovery_packages must be a tuple of names")
        object.__setattr__(self, "discovery_packages", tuple(self.discovery_packages))
        object.__setattr__(self, "secondary_registries", tuple(self.secondary_registries))
        names = [s.name for s in self.secondary_registries]
        if len(set(names)) != len(names):
            raise ValueError(f"registry {self.name!r}: duplicate secondary registry names")

    @property
    def hook_name(self) -> str:
        return str(self.hookspec.__name__)

    def key_of(self, value: Any) -> Any:
        """The key *value* carries, or None (a keyless value)."""
        if self.key_extractor is not None:
            return self.key_extractor(value)
        assert self.key_attribute is not None
        return getattr(value, self.key_attribute, None)

    def fingerprint(self) -> dict[str, Any]:
        """The settings that change discovery's answer, as recorded in the cache header."""
        return {
            "hook": self.hook_name,
            "hookspec": f"{self.hookspec.__module__}:{self.hookspec.__qualname__}",
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
            "gpu_attribute": self.gpu_attribute,
        }


def _callable_name(func: object) -> str | None:
    if func is None:
        return None
    return f"{getattr(func, '__module__', '?')}:{getattr(func, '__qualname__', repr(func))}"


def _check_name(name: object) -> None:
    if not isinstance(name, str) or not name or not name.replace("_", "").isalnum():
        raise ValueError(f"registry name must be a non-empty identifier-like string, not {name!r}")
