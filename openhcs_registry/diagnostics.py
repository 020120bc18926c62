"""Failure records: what went wrong with which plugin, kept so it can be explained later.

A failure is logged once as a warning (naming plugin, module, distribution and cause) and kept
on the registry (``registry.failures``) and in its cache file, so a warm start that imports
nothing can still tell why a plugin is missing.
"""

from __future__ import annotations

from ._log import get_logger
from .config import _Frozen

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

logger = get_logger("openhcs_registry.discovery")

_INFO = 20
_WARNING = 30


class FailureKind:
    """The reasons a plugin or value can be left out (strings, stable in caches and JSON)."""

    IMPORT_ERROR = "import_error"  # entry point / module could not be imported
    HOOK_ERROR = "hook_error"  # the hook implementation raised
    INVALID_PLUGIN = "invalid_plugin"  # pluggy refused the plugin (bad hookimpl signature, ...)
    BAD_RETURN = "bad_return"  # the hook returned something that is not a list/mapping
    WRONG_TYPE = "wrong_type"  # a value is not a subclass/instance of the base class
    MISSING_KEY = "missing_key"  # a returned value carries no key
    ABSTRACT = "abstract"  # a returned class is abstract
    DUPLICATE_KEY = "duplicate_key"  # lost a key conflict
    SKIPPED = "skipped"  # the registry's skip rule left it out (the message says why)
    UNAVAILABLE = "unavailable"  # the plugin says an optional dependency is missing
    BLOCKED = "blocked"  # blocked by name
    DERIVE_ERROR = "derive_error"  # a secondary registry could not be derived
    UNKNOWN_HOOK = "unknown_hook"  # a hookimpl-like name that matches no hookspec
    OVERRIDDEN = (
        "overridden"  # an intended override: a tryfirst hookimpl took this key (not a problem)
    )
    NOT_RETURNED = (
        "not_returned"  # a class of an entry-point module that its hook did not return (a note)
    )

    #: kinds that are expected outcomes, logged at INFO/DEBUG rather than WARNING
    QUIET = frozenset({"skipped", "unavailable", "blocked", "overridden"})


class PluginFailure(_Frozen):
    """One plugin (or one value of a plugin) left out of a registry, and why."""

    __slots__ = (
        "distribution",
        "exception",
        "key",
        "kind",
        "location",
        "message",
        "missing_module",
        "module",
        "plugin",
        "registry",
    )

    registry: str
    plugin: str
    kind: str
    message: str
    module: str | None
    distribution: str | None
    key: str | None
    exception: str | None
    location: str | None
    missing_module: str | None

    def __init__(
        self,
        registry: str,
        plugin: str,
        kind: str,
        message: str,
        module: str | None = None,
        distribution: str | None = None,
        key: str | None = None,
        exception: str | None = None,
        location: str | None = None,
        missing_module: str | None = None,
    ) -> None:
        self._set("registry", registry)
        self._set("plugin", plugin)
        self._set("kind", kind)
        self._set("message", message)
        self._set("module", module)
        self._set("distribution", distribution)
        self._set("key", key)
        self._set("exception", exception)
        self._set("location", location)
        self._set("missing_module", missing_module)

    def describe(self) -> str:
        where = ", ".join(
            part
            for part in (
                f"module {self.module}" if self.module else "",
                f"distribution {self.distribution}" if self.distribution else "",
                f"key {self.key!r}" if self.key else "",
            )
            if part
        )
        return f"plugin {self.plugin!r}" + (f" ({where})" if where else "") + f": {self.message}"

    def to_json(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__slots__ if getattr(self, f) is not None}

    @classmethod
    def from_json(cls, data: object) -> PluginFailure:
        """Rebuild from a cache entry; ``ValueError`` if it is not one."""
        if not isinstance(data, dict):
            raise ValueError("failure entry is not an object")
        kwargs: dict[str, Any] = {}
        for name in cls.__slots__:
            value = data.get(name)
            if value is None:
                if name in ("registry", "plugin", "kind", "message"):
                    raise ValueError(f"failure entry lacks {name}")
                continue
            if not isinstance(value, str):
                raise ValueError(f"failure field {name} is not a string")
            kwargs[name] = value
        return cls(**kwargs)


_reported: set[tuple[str | None, ...]] = set()

_reentries = [0]


def note_reentry() -> None:
    """Count a registry read refused because that registry was being discovered.

    Discovery compares the count before and after: a change means some plugin saw a
    registry mid-discovery, so the answer depends on the order of reads and is not cached.
    """
    _reentries[0] += 1


def reentry_count() -> int:
    return _reentries[0]


def report(failure: PluginFailure) -> PluginFailure:
    """Log a fresh failure (warning, or info for expected outcomes) and return it.

    Every registry loads the whole entry-point group, so one broken plugin fails in each of
    them; it is said once per process (later repeats go to debug), and recorded in each.
    """
    token = (failure.plugin, failure.kind, failure.module, failure.key, failure.message)
    if token in _reported:
        logger.debug("registry %s: %s (again)", failure.registry, failure.describe())
        return failure
    _reported.add(token)
    level = _INFO if failure.kind in FailureKind.QUIET else _WARNING
    logger.log(level, "registry %s: %s", failure.registry, failure.describe())
    return failure


def exception_location(exc: BaseException) -> str | None:
    """``file:line`` of the innermost frame of *exc* (where the plugin broke)."""
    tb = exc.__traceback__
    if tb is None:
        return None
    while tb.tb_next is not None:
        tb = tb.tb_next
    return f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}"


def missing_module_of(exc: BaseException) -> str | None:
    """The top-level module a ``ModuleNotFoundError`` (anywhere in the chain) was about."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, ModuleNotFoundError) and cur.name:
            return cur.name.split(".")[0]
        cur = cur.__cause__ or cur.__context__
    return None


def missing_requirements(value: Any) -> str | None:
    """The first module named in *value*'s ``requires_modules`` that cannot be found.

    Checked with ``find_spec`` (nothing imported), so a plugin class can say which optional
    dependency it needs and be reported as unavailable instead of failing later.
    """
    required = getattr(value, "requires_modules", ())
    if isinstance(required, str):
        required = (required,)
    if not isinstance(required, (tuple, list)):
        return None
    from importlib.util import find_spec

    for name in required:
        if not isinstance(name, str):
            continue
        try:
            if find_spec(name) is None:
                return name
        except (ImportError, ValueError):
            return name
    return None
