"""The state of one discovery run, shared by its steps, and the helpers they all use.

:class:`_Discovery` holds the records found so far (the fresh :class:`~.._snapshot.Snapshot`
being built), the plugins loaded in this process, and what the steps tell one another
(modules imported, entry-point packages, classes noted while a plugin loaded).  Its
methods are the small shared helpers: add or reuse a record, report a failure.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Any

from ..._config import RegistryConfig
from ..._diagnostics import (
    PluginFailure,
    bad_key_text,
    exception_location,
    missing_module_of,
    report,
)
from ..._environment import file_stat
from ..._log import get_logger
from ..._snapshot import Snapshot
from .._inputs import Inputs
from .._records import PluginRecord

logger = get_logger("openhcs_registry.discovery")

#: Distribution whose plugins count as built-in for the conflict rule.
BUILTIN_DISTRIBUTION = "openhcs-registry"

#: Name of the pseudo-record holding environment-wide inputs (shadowing folders).
ENVIRONMENT = "<environment>"


@dataclass
class _Plugin:
    """A plugin loaded in this process, to be registered with pluggy and called."""

    record: PluginRecord
    obj: Any

    @property
    def name(self) -> str:
        return self.record.name


class _Discovery:
    """One discovery run: the records found so far and what the steps share."""

    def __init__(
        self,
        config: RegistryConfig,
        blocked: frozenset[str],
        extra: dict[str, Any] | None = None,
        reuse: dict[str, PluginRecord] | None = None,
        scanned: dict[str, Any] | None = None,
    ) -> None:
        self.extra = dict(extra or {})
        self.config = config
        self.blocked = blocked
        self.reuse = reuse or {}
        self.scanned = scanned  # the previous entry-point scan (unchanged files not re-read)
        self.result = Snapshot()
        self.modules: set[str] = set()  # the snapshot's recorded modules, built here
        self.result.modules = self.modules
        self.records = self.result.records
        self.live: dict[str, _Plugin] = {}
        self.plugin_modules: set[str] = set()
        self.ep_packages: dict[str, tuple[str | None, str | None]] = {}
        self.blocked_modules: set[str] = set()  # modules of blocked entry points
        self.ep_modules: set[str] = set()  # every entry point's module, loaded or not
        # modules discovery imports that failed to import: classes they defined before
        # failing are orphans no warm start could resolve, so they stay out everywhere
        self.failed_modules: set[str] = set()
        self.noted: dict[str, list[Any]] = {}  # plugin -> classes noted while it loaded/ran
        self.listed: dict[str, list[str] | None] = {}  # sys.path folder listings, taken once
        self.marked: dict[str, dict[str, Any]] = {}  # plugin -> its hookimpl attributes
        self.stat: Any = file_stat
        self.offered: set[object] = set()  # identities offered so far (the merge)
        self.offered_ids: set[int] = set()
        self.pinned: set[str] = set()  # modules whose importers were marked not reusable

    def inputs_of(self, plugin: str) -> Inputs:
        record = self.records.get(plugin)
        if record is None:
            record = self.records[plugin] = PluginRecord(plugin, "import_time", None)
        if record.inputs is None:
            record.inputs = Inputs()
        return record.inputs

    def _add(self, record: PluginRecord) -> PluginRecord:
        """Take *record* as found now, or the previous record if it is the same plugin."""
        old = self.reuse.get(record.name)
        if old is not None and old.same_identity(record):
            self.records[record.name] = old
            self.result.reused.add(record.name)
            if old.module:
                self.plugin_modules.add(old.module)
            return old
        if record.inputs is None:
            record.inputs = Inputs()
        self.records[record.name] = record
        return record

    def reused(self, record: PluginRecord) -> bool:
        return record.name in self.result.reused

    # -- failures ---------------------------------------------------------------------------
    def failure(
        self,
        plugin: str,
        kind: str,
        message: str,
        *,
        module: str | None = None,
        distribution: str | None = None,
        key: str | None = None,
        exc: BaseException | None = None,
        missing_module: str | None = None,
    ) -> PluginFailure:
        """A failure found now (logged once, here)."""
        failure = PluginFailure(
            registry=self.config.name,
            plugin=plugin,
            kind=kind,
            message=message,
            module=module,
            distribution=distribution,
            key=key,
            exception=type(exc).__name__ if exc is not None else None,
            location=exception_location(exc) if exc is not None else None,
            missing_module=missing_module or (missing_module_of(exc) if exc else None),
        )
        if exc is not None and logger.isEnabledFor(10):
            logger.debug("".join(traceback.format_exception(exc)))
        return report(failure)

    def fail(self, record: PluginRecord, kind: str, message: str, **kw: Any) -> None:
        """A failure of *record*'s plugin itself (load, hook, hook names)."""
        kw.setdefault("module", record.module)
        kw.setdefault("distribution", record.distribution)
        record.failures.append(self.failure(record.name, kind, message, **kw))

    def skip(self, record: PluginRecord, label: str, kind: str, message: str) -> None:
        """A quietly skipped class (abstract/keyless in a package scan): debug log only."""
        logger.debug(
            "registry %s: skipped %s in %s: %s", self.config.name, label, record.module, message
        )
        record.skipped.append(
            PluginFailure(self.config.name, label, kind, message, module=record.module)
        )

    def _key_text(self, obj: Any) -> str:
        try:
            key = self.config.key_of(obj)
        except Exception as exc:
            return f"{obj.__qualname__}: the key extractor raised {exc!r}"
        return bad_key_text(obj.__qualname__, key, self.config.key_attribute)

    def _has_key(self, obj: Any) -> bool:
        try:
            key = self.config.key_of(obj)
        except Exception:
            return False
        return isinstance(key, str) and bool(key)

    def _dist_of(self, module_name: str | None) -> tuple[str | None, str | None]:
        if not module_name:
            return (None, None)
        return self.ep_packages.get(module_name.split(".")[0], (None, None))
