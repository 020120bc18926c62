"""Failure records: what went wrong with which plugin, kept so it can be explained later.

A failure is logged once as a warning (naming plugin, module, distribution and cause) and kept
on the registry (``registry.failures``) and in its cache file, so a warm start that imports
nothing can still tell why a plugin is missing.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, fields
from typing import Any

logger = logging.getLogger("openhcs_registry.discovery")


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
    GPU_SKIPPED = "gpu_skipped"  # needs a GPU and OPENHCS_SUBPROCESS_NO_GPU is set
    UNAVAILABLE = "unavailable"  # the plugin says an optional dependency is missing
    BLOCKED = "blocked"  # blocked by name
    DERIVE_ERROR = "derive_error"  # a secondary registry could not be derived

    #: kinds that are expected outcomes, logged at INFO/DEBUG rather than WARNING
    QUIET = frozenset({"gpu_skipped", "unavailable", "blocked"})


@dataclass(frozen=True)
class PluginFailure:
    """One plugin (or one value of a plugin) left out of a registry, and why."""

    registry: str
    plugin: str
    kind: str
    message: str
    module: str | None = None
    distribution: str | None = None
    key: str | None = None
    exception: str | None = None
    location: str | None = None
    missing_module: str | None = None

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
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, data: object) -> PluginFailure:
        """Rebuild from a cache entry; ``ValueError`` if it is not one."""
        if not isinstance(data, dict):
            raise ValueError("failure entry is not an object")
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            value = data.get(f.name)
            if value is None:
                if f.name in ("registry", "plugin", "kind", "message"):
                    raise ValueError(f"failure entry lacks {f.name}")
                continue
            if not isinstance(value, str):
                raise ValueError(f"failure field {f.name} is not a string")
            kwargs[f.name] = value
        return cls(**kwargs)


def report(failure: PluginFailure) -> PluginFailure:
    """Log a fresh failure (warning, or info for expected outcomes) and return it."""
    level = logging.INFO if failure.kind in FailureKind.QUIET else logging.WARNING
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
