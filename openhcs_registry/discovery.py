"""Fresh (and incremental) discovery: plugin sources -> per-plugin records -> ``{key: value}``.

This is the slow path (it imports pluggy and the plugin modules) and runs only when no valid
cache exists, or when some plugins' inputs changed.  It is written so that no single plugin
can spoil it: every load, import and hook call is isolated, and whatever goes wrong becomes a
:class:`~openhcs_registry.diagnostics.PluginFailure` instead of an exception.

It works in two steps.  First, per plugin: load it, call its hook, judge every value it
returned on its own, and keep all of that with what the plugin read in one
:class:`~openhcs_registry._records.PluginRecord`.  A plugin whose recorded inputs are
unchanged since the last discovery is not loaded again: its record is reused (incremental
rediscovery).  Second, the merge, from all records alike: the same object offered by two
roads is judged once, the conflict rule picks each key's winner, secondaries come from the
winners, classes noted at import time join.  So an incremental answer is computed exactly
as a fresh one is.

Conflict rule (documented in docs/design.md): when two *different* objects claim one key the
winner is the candidate that sorts first by (hookimpl ``tryfirst`` < normal < ``trylast``,
built-in plugin before third-party, entry point < discovery package < run-time plugin <
import-time class, plugin name, position in the plugin's result).  The loser
is recorded as a ``duplicate_key`` failure; ``conflict_policy="strict"`` raises instead.
"""

from __future__ import annotations

import inspect
import os
import sys
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import _entrypoints, _inputs, autoregister, settings
from ._environment import (
    environment_fingerprint,
    file_stat,
    importable_names,
    launch_folder,
    search_path,
    snapshot,
)
from ._inputs import Inputs
from ._log import get_logger
from ._records import Offer, PluginRecord
from ._rules import Unavailable as Unavailable  # public: re-exported by the package
from ._rules import admit, requires_message
from ._snapshot import UNRESOLVED as _UNRESOLVED
from ._snapshot import Entry, Snapshot
from .config import RegistryConfig
from .diagnostics import (
    FailureKind,
    PluginFailure,
    abstract_text,
    bad_key_text,
    exception_location,
    missing_module_of,
    reentry_count,
    report,
)
from .refs import parse, reference_of

if TYPE_CHECKING:
    from ._snapshot import Info

logger = get_logger("openhcs_registry.discovery")

#: Distribution whose plugins count as built-in for the conflict rule.
BUILTIN_DISTRIBUTION = "openhcs-registry"


#: Between otherwise equal candidates: an entry point's hook beats a package scan, which
#: beats a run-time plugin object, which beats a class merely noted at import time.
_ORIGIN_RANK = {"entry_point": 0, "custom": 1, "package": 1, "runtime": 2, "import_time": 3}

#: Name of the pseudo-record holding environment-wide inputs (shadowing folders).
ENVIRONMENT = "<environment>"


class DuplicateKeyError(ValueError):
    """Raised in ``conflict_policy="strict"`` registries when two plugins claim one key."""


class Candidate(Entry):
    """One accepted value for one key in the merge, with the record it came from.

    The winners are the fresh snapshot's entries as they are (no copy): the merge's own
    fields (*rank*, *ident*, *secondaries*) ride along unused after it.
    """

    __slots__ = (
        "dist_version",
        "distribution",
        "file",
        "ident",
        "module",
        "origin",
        "persist",
        "plugin",
        "rank",
        "secondaries",
    )

    def __init__(
        self,
        key: str,
        value: Any,
        plugin: str,
        origin: str,  # "entry_point" | "package" | "custom" | "import_time" | "runtime"
        module: str | None,
        distribution: str | None = None,
        dist_version: str | None = None,
        rank: tuple[Any, ...] = (),
        ref: str | None = None,
        persist: bool = True,
        keyed: bool = False,  # the key was given explicitly (mapping result)
        ident: object = None,  # the object's identity across roads (its reference, else id)
        secondaries: dict[str, Any] | None = None,
        file: str | None = None,
    ) -> None:
        super().__init__(key, ref, None, keyed)
        self.source = "fresh"
        self.value = value
        self.plugin = plugin
        self.origin = origin
        self.module = module
        self.distribution = distribution
        self.dist_version = dist_version
        self.rank = rank
        self.persist = persist
        self.ident = ident
        self.secondaries: dict[str, Any] = {} if secondaries is None else secondaries
        #: the module's file as a reused record's document recorded it (not imported here)
        self.file = file

    def _provenance(self) -> Info:
        return {
            "ref": self.ref,
            "keyed": self.keyed,
            "plugin": self.plugin,
            "origin": self.origin,  # type: ignore[typeddict-item]
            "module": self.module,
            "distribution": self.distribution,
            "version": self.dist_version,
            "file": _module_file(self.module) or self.file,
        }


@dataclass
class _Plugin:
    """A plugin loaded in this process, to be registered with pluggy and called."""

    record: PluginRecord
    obj: Any

    @property
    def name(self) -> str:
        return self.record.name


class _ListPlugin:
    """A pluggy plugin object whose single hookimpl returns a fixed list (package scans)."""

    def __init__(self, hook_name: str, values: list[Any]) -> None:
        from .markers import hookimpl

        def provide() -> list[Any]:
            return list(values)

        provide.__name__ = hook_name
        setattr(self, hook_name, hookimpl(provide))


def _module_file(module: str | None) -> str | None:
    if not module:
        return None
    mod = sys.modules.get(module)
    path = getattr(mod, "__file__", None)
    return os.path.abspath(path) if isinstance(path, str) else None


def _watch_plain_folders(inputs: Inputs, folder: str) -> None:
    """Record the subfolders of a package folder that are not packages (yet).

    Such a folder is skipped by the package scan, but gaining an ``__init__.py`` makes it a
    subpackage the scan imports, and that changes only the subfolder's own mtime (found by
    the never-stale model).
    """
    try:
        entries = list(os.scandir(folder))
    except (OSError, ValueError):
        return
    for entry in entries:
        if entry.name == "__pycache__" or not entry.name.isidentifier():
            continue  # not a possible subpackage (and bytecode writes move its mtime)
        try:
            if entry.is_dir() and not os.path.exists(os.path.join(entry.path, "__init__.py")):
                inputs.add_dir(os.path.abspath(entry.path))
        except OSError:
            continue


def calling_order(records: Iterable[PluginRecord]) -> list[PluginRecord]:
    """Records whose hook ran, in the order pluggy calls them.

    pluggy registers in name order and calls ``tryfirst`` impls (last registered first),
    then normal ones (last registered first), then ``trylast`` ones (first registered
    first).  Written out here so that reused records, which are not registered with pluggy,
    take the same place as in a fresh discovery.
    """
    called = sorted((r for r in records if r.priority is not None), key=lambda r: r.name)
    first = [r for r in reversed(called) if r.priority == 0]
    normal = [r for r in reversed(called) if r.priority == 1]
    last = [r for r in called if r.priority == 2]
    return first + normal + last


class _Discovery:
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

    # -- sources ----------------------------------------------------------------------------
    def load_entry_points(self) -> None:
        if settings.entry_points_disabled():
            logger.debug("registry %s: entry points disabled", self.config.name)
            return
        # stat before reading: a declaration edited while we list is a change afterwards
        found, self.result.distributions = _entrypoints.scan(
            search_path(), self.config.entry_point_group, self.scanned, self.listed, self.stat
        )
        for ep in found:
            dist_name, dist_version = ep.distribution, ep.version
            name = ep.name if ep.name not in self.records else f"{dist_name}:{ep.name}"
            self.ep_packages.setdefault(ep.module.split(".")[0], (dist_name, dist_version))
            self.ep_modules.add(ep.module)
            record = PluginRecord(
                name, "entry_point", ep.module, dist_name, dist_version, ep.value, Inputs()
            )
            if ep.name in self.blocked or name in self.blocked:
                self.records[name] = record
                self.fail(record, FailureKind.BLOCKED, "blocked by name")
                self.blocked_modules.add(ep.module)
                continue
            record = self._add(record)
            if self.reused(record):
                continue
            assert record.inputs is not None
            before = len(autoregister.noted(self.config.name))
            try:
                obj = _load_entry_point(ep, record.inputs)
            except BaseException as exc:
                if isinstance(exc, KeyboardInterrupt):
                    raise
                self.fail(
                    record,
                    FailureKind.IMPORT_ERROR,
                    f"cannot import entry point {ep.value!r}: {type(exc).__name__}: {exc}",
                    exc=exc,
                )
                continue
            finally:
                self.noted[name] = autoregister.noted(self.config.name)[before:]
            logger.debug(
                "registry %s: loaded entry point %s = %s (%s)",
                self.config.name,
                name,
                ep.value,
                dist_name,
            )
            self.plugin_modules.add(ep.module)
            self.live[name] = _Plugin(record, obj)
            self.check_hook_names(record, obj)

    def check_hook_names(self, record: PluginRecord, obj: Any) -> None:
        """Report hookimpls whose name matches no hookspec of the group (a misspelling)."""
        marked = self.marked[record.name] = hookimpl_attributes(obj)
        for hook, suggestion in unknown_hooks(obj, self.config.entry_point_group, marked):
            hint = f"; did you mean {suggestion!r}?" if suggestion else ""
            self.fail(
                record,
                FailureKind.UNKNOWN_HOOK,
                f"hookimpl {hook!r} matches no hookspec of entry-point group "
                f"{self.config.entry_point_group!r}{hint}",
            )

    def add_extra_plugins(self) -> None:
        """Plugin objects added at run time (``registry.add_plugin``): never persisted."""
        for name, obj in self.extra.items():
            module = getattr(obj, "__name__", None) or getattr(obj, "__module__", None)
            record = self.records[name] = PluginRecord(name, "runtime", module, inputs=Inputs())
            record.volatile = "added at run time"
            self.live[name] = _Plugin(record, obj)
            self.check_hook_names(record, obj)

    def scan_packages(self) -> None:
        for package_name in self.config.discovery_packages:
            listing = self._add(
                PluginRecord(f"listing:{package_name}", "listing", package_name, inputs=Inputs())
            )
            if not self.reused(listing):
                listing.listed = self._list_package(listing, package_name)
            logger.debug(
                "registry %s: scanning %s: %s", self.config.name, package_name, listing.listed
            )
            # a reused listing names only the package and modules inside it
            inside = [
                m
                for m in listing.listed or ()
                if m == package_name or m.startswith(package_name + ".")
            ]
            for module_name in inside:
                dist, version = self._dist_of(module_name)
                record = self._add(
                    PluginRecord(f"package:{module_name}", "package", module_name, dist, version)
                )
                if not self.reused(record):
                    self._scan_module(record, module_name)

    def _list_package(self, listing: PluginRecord, package_name: str) -> list[str] | None:
        import pkgutil

        assert listing.inputs is not None
        try:
            package = _inputs.import_module(package_name, listing.inputs)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            self.fail(
                listing,
                FailureKind.IMPORT_ERROR,
                f"cannot import discovery package: {type(exc).__name__}: {exc}",
                exc=exc,
            )
            return None
        modules = [package_name]
        paths = list(getattr(package, "__path__", []) or [])
        self.result.package_dirs.update(os.path.abspath(p) for p in paths)
        if paths:
            for folder in paths:
                listing.inputs.add_dir(os.path.abspath(folder))  # a module added or removed
            walker = (
                pkgutil.walk_packages(paths, package_name + ".", onerror=lambda _n: None)
                if self.config.recursive
                else pkgutil.iter_modules(paths, package_name + ".")
            )
            with _inputs.recording(listing.inputs):  # walk_packages imports subpackages
                modules.extend(sorted(info.name for info in walker))
            for name in modules:  # the package and the subpackages the walk imported
                for folder in getattr(sys.modules.get(name), "__path__", None) or ():
                    listing.inputs.add_dir(os.path.abspath(folder))  # a module added there
                    _watch_plain_folders(listing.inputs, folder)
        return modules

    def _scan_module(self, record: PluginRecord, module_name: str) -> None:
        base = self.config.base_class
        assert record.inputs is not None
        before = len(autoregister.noted(self.config.name))
        try:
            module = _inputs.import_module(module_name, record.inputs)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            self.fail(
                record,
                FailureKind.IMPORT_ERROR,
                f"cannot import: {type(exc).__name__}: {exc}",
                exc=exc,
            )
            return
        finally:
            self.noted[record.name] = autoregister.noted(self.config.name)[before:]
        logger.debug("registry %s: imported %s", self.config.name, module_name)
        self.plugin_modules.add(module_name)
        sub_paths = getattr(module, "__path__", None)
        if sub_paths:
            self.result.package_dirs.update(os.path.abspath(p) for p in sub_paths)
        found = []
        for attr, obj in list(vars(module).items()):
            if not isinstance(obj, type) or obj.__module__ != module_name:
                continue
            if base is not None and (obj is base or not issubclass(obj, base)):
                continue
            label = f"{module_name}.{attr}"
            if inspect.isabstract(obj):
                self.skip(record, label, FailureKind.ABSTRACT, abstract_text(obj))
                continue
            if not self._has_key(obj):
                self.skip(record, label, FailureKind.MISSING_KEY, self._key_text(obj))
                continue
            found.append(obj)
        if found:
            self.live[record.name] = _Plugin(record, _ListPlugin(self.config.hook_name, found))

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

    # -- hook -------------------------------------------------------------------------------
    def call_hooks(self) -> None:
        """Call the hook of every plugin loaded now; reused records keep their offers."""
        if not self.live:
            return
        import pluggy

        from .markers import PROJECT_NAME

        pm = pluggy.PluginManager(PROJECT_NAME)
        spec_namespace = type(
            "Spec", (), {self.config.hook_name: staticmethod(self.config.hookspec)}
        )
        pm.add_hookspecs(spec_namespace)
        for name in sorted(self.live):
            plugin = self.live[name]
            try:
                marked = self.marked.get(name)
                if marked is None:
                    marked = hookimpl_attributes(plugin.obj)
                pm.register(_Hookimpls(marked), name=name)
            except Exception as exc:
                self.fail(
                    plugin.record, FailureKind.INVALID_PLUGIN, f"rejected by pluggy: {exc}", exc=exc
                )
        hook = getattr(pm.hook, self.config.hook_name)
        for impl in reversed(hook.get_hookimpls()):
            if impl.hookwrapper or impl.wrapper:
                continue
            record = self.live[impl.plugin_name].record
            impl_module = getattr(impl.function, "__module__", None)
            if isinstance(impl_module, str):
                self.plugin_modules.add(impl_module)
            record.priority = 0 if impl.tryfirst else 2 if impl.trylast else 1
            self._call(record, impl.function)

    def _call(self, record: PluginRecord, function: Any) -> None:
        assert record.inputs is not None
        before = len(autoregister.noted(self.config.name))
        try:
            with _inputs.calling(record.inputs):
                returned = function()
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            what = (
                "discovery function" if record.origin == "custom" else f"{self.config.hook_name}()"
            )
            self.fail(
                record,
                FailureKind.HOOK_ERROR,
                f"{what} raised {type(exc).__name__}: {exc}",
                exc=exc,
            )
            return
        finally:
            self.noted.setdefault(record.name, []).extend(
                autoregister.noted(self.config.name)[before:]
            )
        self._judge_all(record, returned)

    def custom_function(self) -> None:
        func = self.config.discovery_function
        if func is None:
            return
        name = f"custom:{getattr(func, '__qualname__', 'discovery_function')}"
        module = getattr(func, "__module__", None)
        record = self._add(PluginRecord(name, "custom", module, *self._dist_of(module)))
        if not self.reused(record):
            record.priority = 1
            assert record.inputs is not None
            if module:  # its own module, imported long before: watched like a plugin's
                record.inputs.update(_inputs.known_inputs(module))
            self._call(record, func)

    # -- judging one plugin's values (on their own: no other plugin is looked at) ------------
    def _judge_all(self, record: PluginRecord, returned: Any) -> None:
        cfg = self.config
        if returned is None:
            return
        pairs: list[tuple[Any, Any]]
        if isinstance(returned, Mapping):
            pairs = list(returned.items())
        elif isinstance(returned, Iterable) and not isinstance(returned, (str, bytes)):
            pairs = [(None, v) for v in returned]
        else:
            self.fail(
                record,
                FailureKind.BAD_RETURN,
                f"{cfg.hook_name}() returned {type(returned).__name__}, expected a list or dict",
            )
            return
        assert record.inputs is not None
        with _inputs.recording(record.inputs):  # requires_modules look-ups are inputs too
            for given_key, value in pairs:
                record.offers.append(self.judge(record, given_key, value))
        self._check_cacheable(record)

    def _check_cacheable(self, record: PluginRecord) -> None:
        for offer in record.offers:
            if offer.failure is not None:
                continue
            if offer.ref is None:
                record.volatile = f"{offer.key!r} has no module:qualname address"
            elif not _encodable(offer.key):
                record.volatile = f"key {offer.key!r} cannot be stored (not valid Unicode)"
            elif any(
                not isinstance(d, (str, PluginFailure)) and d is not None
                for d in offer.secondaries.values()
            ):
                record.volatile = f"a secondary value of {offer.key!r} has no address"

    def judge(self, record: PluginRecord, given_key: Any, value: Any) -> Offer:
        """Whether *value* may enter the registry, as an :class:`Offer` (no side effects)."""
        ref = reference_of(value) if not isinstance(value, Unavailable) else None
        failure = self._refusal(record, given_key, value)
        if record.inputs is not None:  # requirements imported already are inputs too
            _inputs.note_found(record.inputs, getattr(value, "requires_modules", ()))
        if failure is not None:
            key = failure.key
            return Offer(key, ref, given_key is not None, failure, value, live=True)
        key = given_key if given_key is not None else self.config.key_of(value)
        offer = Offer(key, ref, given_key is not None, None, value, live=True)
        self._derive(record, offer)
        return offer

    def _refusal(self, record: PluginRecord, given_key: Any, value: Any) -> PluginFailure | None:
        """:func:`._rules.admit`'s verdict as this plugin's failure (logged once, here)."""
        refusal = admit(self.config, value, given_key)
        if refusal is None:
            return None
        return self.failure(
            record.name,
            refusal.kind,
            refusal.message,
            module=record.module,
            distribution=record.distribution,
            key=refusal.key,
            missing_module=refusal.missing_module,
        )

    def _derive(self, record: PluginRecord, offer: Offer) -> None:
        """The secondary entries of an accepted value (used only if it wins its key)."""
        assert offer.key is not None
        for sec in self.config.secondary_registries:
            try:
                if sec.derive is not None:
                    value = sec.derive(offer.key, offer.value)
                else:
                    assert sec.attribute is not None
                    value = getattr(offer.value, sec.attribute, None)
            except Exception as exc:
                offer.secondaries[sec.name] = PluginFailure(
                    self.config.name,
                    record.name,
                    FailureKind.DERIVE_ERROR,
                    f"cannot derive {sec.name} entry: {exc!r}",
                    module=getattr(offer.value, "__module__", record.module),
                    key=offer.key,
                    exception=type(exc).__name__,
                    location=exception_location(exc),
                )
                continue
            if value is None:
                continue
            if isinstance(value, str):
                try:
                    parse(value)
                except ValueError:
                    offer.secondaries[sec.name] = PluginFailure(
                        self.config.name,
                        record.name,
                        FailureKind.DERIVE_ERROR,
                        f"{sec.name}: {value!r} is not a module:qualname reference",
                        module=getattr(offer.value, "__module__", record.module),
                        key=offer.key,
                    )
                    continue
                if not _findable(value.split(":")[0]):
                    # a typo here would make every warm start find its cache "corrupt"
                    offer.secondaries[sec.name] = PluginFailure(
                        self.config.name,
                        record.name,
                        FailureKind.DERIVE_ERROR,
                        f"{sec.name}: {value!r} points into module "
                        f"{value.split(':')[0]!r}, which cannot be found",
                        module=getattr(offer.value, "__module__", record.module),
                        key=offer.key,
                    )
                    continue
                offer.secondaries[sec.name] = value
            else:
                offer.secondaries[sec.name] = reference_of(value) or value

    # -- the merge: every record alike -------------------------------------------------------
    def collect(self) -> list[Candidate]:
        """Every record's offers in calling order; one object offered twice is judged once."""
        self.offered: set[object] = set()
        self.offered_ids: set[int] = set()
        rejected: set[object] = set()
        unavailable: dict[tuple[str | None, str | None], tuple[int, bool]] = {}
        failures = self.result.failures
        custom = [r for r in self.records.values() if r.origin == "custom"]
        ordered = calling_order(r for r in self.records.values() if r.origin != "custom")
        candidates: list[Candidate] = []
        for record in ordered + custom:
            if record.origin != "custom":
                self.result.plugins.append(
                    {
                        "name": record.name,
                        "origin": record.origin,
                        "module": record.module,
                        "distribution": record.distribution,
                        "version": record.version,
                    }
                )
            for index, offer in enumerate(record.offers):
                ident = offer.identity()
                if ident in rejected:
                    continue  # offered again by another road (package scan + hook): judged once
                self.offered.add(ident)
                if offer.live:
                    self.offered_ids.add(id(offer.value))
                failure = offer.failure
                if failure is not None:
                    rejected.add(ident)
                    if failure.kind == FailureKind.UNAVAILABLE:
                        explicit = failure.message != requires_message(failure.missing_module)
                        token = (failure.key, failure.missing_module)
                        seen = unavailable.get(token)
                        if seen is not None:
                            # the plugin's own words beat the generic requires_modules text
                            at, was_explicit = seen
                            if explicit and not was_explicit:
                                failures[at] = failures[at].replace(message=failure.message)
                                unavailable[token] = (at, True)
                            continue
                        unavailable[token] = (len(failures), explicit)
                    failures.append(failure)
                    continue
                candidates.append(self._candidate(record, offer, index))
        return candidates

    def _candidate(self, record: PluginRecord, offer: Offer, index: int) -> Candidate:
        assert offer.key is not None
        value_module = offer.ref.split(":")[0] if offer.ref else None
        if offer.live:
            found = getattr(offer.value, "__module__", None)
            value_module = found if isinstance(found, str) else record.module
        return Candidate(
            key=offer.key,
            value=offer.value if offer.live else _UNRESOLVED,
            plugin=record.name,
            origin=record.origin,
            module=value_module or record.module,
            distribution=record.distribution,
            dist_version=record.version,
            rank=(
                record.priority if record.priority is not None else 1,
                0 if record.builtin else 1,
                _ORIGIN_RANK.get(record.origin, 3),
                record.name,
                index,
            ),
            ref=offer.ref,
            persist=record.volatile is None,
            keyed=offer.given,
            ident=offer.identity(),
            secondaries=offer.secondaries,
        )

    def import_time(self) -> list[Candidate]:
        """Classes noted by ``AutoRegistered``; persisted only if discovery would import them."""
        out = []
        for index, obj in enumerate(autoregister.noted(self.config.name)):
            module = getattr(obj, "__module__", None)
            if _under(module, self.blocked_modules):
                continue  # a blocked plugin's classes stay out even when already imported
            if inspect.isabstract(obj) or not self._has_key(obj):
                continue
            ref = reference_of(obj)
            if id(obj) in self.offered_ids or (ref is not None and ref in self.offered):
                continue  # offered by a hook already (judged there)
            self._pin_importers(module)
            record = PluginRecord(
                f"import-time:{module}", "import_time", module, *self._dist_of(module)
            )
            record = self.records.setdefault(record.name, record)
            if _under(module, self.ep_modules):
                # the entry point's hook is the authority for the modules it loads: a class
                # it did not return (raised, misspelt, left out on purpose) stays out
                self.result.skipped.append(
                    PluginFailure(
                        self.config.name,
                        f"{module}.{getattr(obj, '__qualname__', '?')}",
                        FailureKind.NOT_RETURNED,
                        "defined in a module loaded through an entry point, but not returned "
                        f"by its {self.config.hook_name}() hook",
                        module=module,
                    )
                )
                continue
            if (
                isinstance(module, str)
                and module not in sys.modules
                and self._discovered_module(module)
            ):
                # defined by a module discovery imports whose import failed (reported as
                # such): only the half-run module noted it, no warm start could resolve it
                self.failed_modules.add(module)
                continue
            inputs = self.inputs_of(record.name)
            if isinstance(module, str):
                inputs.update(_inputs.known_inputs(module))
            with _inputs.recording(inputs):
                offer = self.judge(record, None, obj)
            self.offered.add(offer.identity())
            self.offered_ids.add(id(obj))
            if offer.failure is not None:
                self.result.failures.append(offer.failure)
                continue
            cand = self._candidate(record, offer, index)
            # persisted only if a fresh process would define it the same way: its module is
            # one discovery imports, and it is still what that module holds (not a class
            # left over from a module that has since been reloaded)
            cand.persist = self._discovered_module(module) and ref is not None
            out.append(cand)
        return out

    def _pin_importers(self, module: str | None) -> None:
        """Mark the plugins whose loading imported *module* as not reusable.

        A class registered at import time is noted only when its module is imported in this
        process: a later discovery that reused the plugin which imported it (without
        importing it again) would lose the class.  So that plugin is loaded every time.
        """
        if not module or module in self.pinned:
            return
        self.pinned.add(module)  # once per module: a module may note thousands of classes
        for record in self.records.values():
            if record.origin != "import_time" and module in record.module_names():
                record.reusable = False

    def _discovered_module(self, module: str | None) -> bool:
        if not module:
            return False
        if module in self.plugin_modules:
            return True
        for record in self.records.values():
            if record.origin != "import_time" and module in record.module_names():
                return True  # imported while a plugin loaded: a fresh process imports it too
        top = module.split(".")[0]
        return (
            top in self.ep_packages and any(m.split(".")[0] == top for m in self.plugin_modules)
        ) or any(module.startswith(p + ".") for p in self.config.discovery_packages)

    def merge(self, candidates: list[Candidate]) -> None:
        items = self.result.items
        lost: set[tuple[str, object]] = set()
        for cand in sorted(candidates, key=lambda c: c.rank):
            current = items.get(cand.key)
            if current is None:
                items[cand.key] = cand
                continue
            if current.ident == cand.ident:
                current.persist = current.persist or cand.persist
                continue
            if (cand.key, cand.ident) in lost:  # same loser offered again (e.g. import time)
                continue
            lost.add((cand.key, cand.ident))
            if current.rank and current.rank[0] == 0 and cand.rank and cand.rank[0] != 0:
                # an intended override (a tryfirst hookimpl): an outcome, not a problem
                self.result.failures.append(
                    self.failure(
                        cand.plugin,
                        FailureKind.OVERRIDDEN,
                        f"key {cand.key!r} is overridden by plugin {current.plugin!r} "
                        f"({_label(current)}, tryfirst); {_label(cand)} is not used",
                        module=cand.module,
                        distribution=cand.distribution,
                        key=cand.key,
                    )
                )
                continue
            message = (
                f"key {cand.key!r} is also provided by plugin {current.plugin!r} "
                f"({_label(current)}); {_label(cand)} is ignored"
            )
            if self.config.conflict_policy == "strict":
                raise DuplicateKeyError(
                    f"registry {self.config.name}: plugins {current.plugin!r} and "
                    f"{cand.plugin!r} both provide key {cand.key!r}"
                )
            self.result.failures.append(
                self.failure(
                    cand.plugin,
                    FailureKind.DUPLICATE_KEY,
                    message,
                    module=cand.module,
                    distribution=cand.distribution,
                    key=cand.key,
                )
            )

    def derive_secondaries(self) -> None:
        """Each secondary from the winners' derived entries (judged with their plugin)."""
        for sec in self.config.secondary_registries:
            derived: dict[str, Candidate] = {}
            for key, cand in sorted(self.result.items.items()):
                value = cand.secondaries.get(sec.name)
                if value is None:
                    continue
                if isinstance(value, PluginFailure):
                    self.result.failures.append(report(value))
                    continue
                ref = value if isinstance(value, str) else None
                derived[key] = Candidate(
                    key=key,
                    value=_UNRESOLVED if ref is not None else value,
                    plugin=cand.plugin,
                    origin=cand.origin,
                    module=ref.split(":")[0] if ref else getattr(value, "__module__", None),
                    distribution=cand.distribution,
                    dist_version=cand.dist_version,
                    ref=ref,
                    persist=cand.persist,
                )
            self.result.secondaries[sec.name] = derived

    def finish(self) -> None:
        """Collect every record's own failures and skips, and the modules to fingerprint."""
        res = self.result
        for name, noted in self.noted.items():
            record = self.records.get(name)
            if record is None or not noted:
                continue
            refs = {o.ref for o in record.offers}
            if any(reference_of(obj) not in refs for obj in noted):
                # loading it noted a class it did not return (whatever its hook did: raised,
                # returned None, left it out): what that import registers is judged at import
                # time, so reusing the record without importing the plugin would lose it
                record.reusable = False
        own = [f for r in self.records.values() for f in r.failures]
        res.failures[:0] = own
        res.skipped[:0] = [f for r in self.records.values() for f in r.skipped]
        for group in [res.items, *res.secondaries.values()]:
            for cand in group.values():
                if not cand.persist:
                    continue
                if cand.ref is None:
                    cand.ref = reference_of(cand.value)
                if cand.ref is None:
                    cand.persist = False
                    record = res.records.get(cand.plugin)
                    if record is not None and record.volatile is None:
                        record.volatile = f"{cand.key!r} has no module:qualname address"
                    continue
                module = cand.ref.split(":")[0]
                self.modules.add(module)
                record = res.records.get(cand.plugin)
                if record is not None and record.stored is not None:
                    file = _stored_file(record, module)
                    if file is not None:
                        res.module_files[module] = file
                        if cand.module == module:
                            cand.file = file  # provenance as a fresh discovery gives it
                inputs = record.inputs if record is not None else None
                if (
                    inputs is not None
                    and module not in inputs.modules
                    and not self.reused(
                        record  # type: ignore[arg-type]
                    )
                ):
                    inputs.update(_inputs.known_inputs(module))  # a value defined elsewhere
                    if module not in inputs.modules:  # a reference nothing imported yet
                        _record_unimported(inputs, module)
        self.modules.update(self.plugin_modules)
        self.record_environment()

    def record_environment(self) -> None:
        """Places that could shadow a recorded name: launch folder, namespace portions."""
        tops: set[str] = {m.split(".")[0] for m in self.ep_modules}
        tops.update(p.split(".")[0] for p in self.config.discovery_packages)
        for record in self.records.values():
            imported, missing = record.looked_up()
            tops |= imported
            tops.update(m.split(".")[0] for m in missing)
        launch = launch_folder()
        entries = search_path()
        env = self.records[ENVIRONMENT] = PluginRecord(
            ENVIRONMENT, "listing", None, inputs=Inputs()
        )
        assert env.inputs is not None
        # the recorded names are kept even without a launch folder: a sys.path entry that a
        # later process adds (a worker's scratch folder, pytest's rootdir) is harmless unless
        # it provides one of them
        present: set[str] = set()
        if launch is not None:
            folder = os.path.abspath(launch or os.curdir)
            entries = [folder, *entries]
            present = importable_names(folder) or set()
        self.result.launch = {"tops": sorted(tops), "present": sorted(tops & present)}
        if launch is not None and tops & present:
            # those names came from this folder: the same names in another one are a change
            self.result.launch["folder"] = [folder]
        known = {f for r in self.records.values() for f in r.file_paths()}
        # the registry's own code (hookspec, base class, key extractor, discovery and derive
        # functions) judges every plugin: an edit there concerns them all
        cfg = self.config
        own = [cfg.hookspec, cfg.base_class, cfg.key_extractor, cfg.discovery_function]
        own += [sec.derive for sec in cfg.secondary_registries]
        for obj in own:
            module = sys.modules.get(getattr(obj, "__module__", None) or "")
            file = getattr(module, "__file__", None)
            if isinstance(file, str):
                env.inputs.add_file(os.path.abspath(file))
        for path in _inputs.shadow_dirs(tops, entries, self.listed, known):
            # gaining or losing __init__.py changes which portion wins: that name only
            env.inputs.add_names(path, {"__init__"})


def _stored_file(record: PluginRecord, module: str) -> str | None:
    """The file a reused record's document recorded for *module*."""
    assert record.stored is not None
    _raw, files, _dirs, modules = record.stored
    at = modules.get(module)
    return files[at][0] if type(at) is int and 0 <= at < len(files) else None


def _encodable(key: str | None) -> bool:
    try:
        (key or "").encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _findable(module: str) -> bool:
    """Whether *module* is imported or can be found on the path (nothing imported)."""
    from .explain import locate

    if module in sys.modules:
        return True
    file, folders = locate(module)
    return file is not None or bool(folders)


def _record_unimported(inputs: Inputs, module: str) -> None:
    """Watch the file of a module a reference points into but nothing imported.

    A secondary value given as a string (``metadata_handler = "my_plugin.meta:Handler"``,
    as the README shows) is resolved only when used; its module's file, found without
    importing it, is recorded like an imported one's, so the cache may point into it.
    """
    from .explain import locate

    file, _ = locate(module)
    if file is not None and os.path.isfile(file):
        inputs.modules[module] = inputs.add_file(os.path.abspath(file))


def _load_entry_point(ep: Any, inputs: Inputs) -> Any:
    """``ep.load()``, recording what the import read (the entry point's module and helpers)."""
    import functools

    module = _inputs.import_module(ep.module, inputs)
    attrs = [part for part in (ep.attr or "").split(".") if part]
    return functools.reduce(getattr, attrs, module)


#: Hook names declared per project, extended once from the contracts' entry points.
_contracts_loaded: set[str] = set()


def hookimpl_attributes(obj: Any) -> dict[str, Any]:
    """The attributes of plugin *obj* that carry a hookimpl marker, by attribute name."""
    from .markers import PROJECT_NAME

    marker = PROJECT_NAME + "_impl"
    out = {}
    for attr in dir(obj):
        try:
            value = getattr(obj, attr, None)
        except Exception:  # a property of a plugin object may raise: not a hookimpl
            value = None
        if isinstance(getattr(value, marker, None), dict):
            out[attr] = value
    return out


class _Hookimpls:
    """What pluggy is given for a loaded plugin: only the plugin's marked attributes.

    ``PluginManager.register`` inspects every attribute of the object it is given
    (``inspect.getattr_static`` on each name of ``dir()``): for a plugin module that is
    every import and helper in it, most of a cold discovery's registration time.  The
    marked attributes were found already (:func:`hookimpl_attributes`), so pluggy sees those
    alone and registers, verifies and calls them exactly as it would on the module.
    """

    def __init__(self, attributes: dict[str, Any]) -> None:
        self.__dict__.update(attributes)

    def __dir__(self) -> list[str]:
        return list(self.__dict__)


def unknown_hooks(
    obj: Any, group: str, attributes: dict[str, Any] | None = None
) -> list[tuple[str, str | None]]:
    """``(name, close match)`` of each hookimpl on *obj* that no hookspec of *group* declares.

    Known hookspecs are those defined in this process plus those of the contract modules
    declared under the ``<group>.contracts`` entry-point group (loaded only when a name is
    not known yet, so a correct plugin costs nothing).
    """
    import difflib

    from .markers import PROJECT_NAME, declared_hookspecs

    marker = PROJECT_NAME + "_impl"
    names = [
        str(getattr(value, marker).get("specname") or attr)
        for attr, value in (hookimpl_attributes(obj) if attributes is None else attributes).items()
    ]
    unknown = [n for n in names if n not in declared_hookspecs(PROJECT_NAME)]
    if unknown and group not in _contracts_loaded:
        _contracts_loaded.add(group)
        _load_contracts(group)
        unknown = [n for n in unknown if n not in declared_hookspecs(PROJECT_NAME)]
    known = sorted(declared_hookspecs(PROJECT_NAME))
    return [(n, next(iter(difflib.get_close_matches(n, known, 1, 0.6)), None)) for n in unknown]


def _load_contracts(group: str) -> None:
    """Import the contract modules declared for *group* (each isolated)."""
    for ep in _entrypoints.entry_points(f"{group}.contracts"):
        try:
            ep.load()
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            logger.debug("contracts %s could not be loaded: %s", ep.value, exc)


def _under(module: str | None, roots: set[str] | frozenset[str]) -> bool:
    """Whether *module* is one of *roots* or inside one of them."""
    return bool(module) and any(module == r or module.startswith(r + ".") for r in roots)  # type: ignore[union-attr]


def _label(cand: Candidate) -> str:
    """The qualname shown in conflict messages (the same for a reused and a live value)."""
    if cand.ref is not None:
        return cand.ref.split(":", 1)[1]
    value = cand.value
    return str(getattr(value, "__qualname__", None) or type(value).__qualname__)


def run_discovery(
    config: RegistryConfig,
    blocked: frozenset[str] = frozenset(),
    extra_plugins: dict[str, Any] | None = None,
    reuse: dict[str, PluginRecord] | None = None,
    scanned: dict[str, Any] | None = None,
) -> Snapshot:
    """Discover *config*'s registry; never raises for a plugin's fault.

    *reuse* holds records of an earlier discovery whose inputs are known to be unchanged
    (see :func:`.cache.RegistryCacheManager.load`): those plugins are not loaded or called
    again, their records are merged as they are.  *scanned* is the earlier entry-point scan.
    """
    logger.debug("registry %s: %s discovery", config.name, "incremental" if reuse else "fresh")
    if scanned is not None:
        # a previous row's entry points are taken as they are only if each is the
        # declaration of a record reused now (checked against its own inputs); any other
        # distribution's entry_points.txt is read again (a document names no new module)
        vouched = {r.declaration for r in (reuse or {}).values() if r.origin == "entry_point"}
        scanned = {
            entry: [r for r in rows if len(r) < 6 or all(ep[1] in vouched for ep in r[5])]
            for entry, rows in scanned.items()
        }
    work = _Discovery(config, blocked, extra_plugins, reuse, scanned)
    # looked at before anything is read: an install during discovery is a change afterwards
    # (an incremental run keeps the look its cache check just took: older, never newer
    # than what is read next, so a change meanwhile is still a change afterwards)
    env = environment_fingerprint(fresh=reuse is None)
    work.stat = file_stat if reuse is None else snapshot().stat
    names = {}
    listings = []
    for entry, _sig in env["path"]:
        try:
            found = work.listed[entry] = os.listdir(entry)
        except NotADirectoryError:
            listings.append(_inputs.listing(entry))  # a zip archive: summed by content
            continue
        except (OSError, ValueError):
            listings.append(None)
            continue
        listings.append(_inputs.listing_of(found))
        names[entry] = sorted(_inputs.importable_names(found))  # what an install changes
    work.result.environment = {**env, "listings": listings, "names": names}
    reentries = reentry_count()
    work.load_entry_points()
    work.add_extra_plugins()
    work.scan_packages()
    work.call_hooks()
    work.custom_function()
    candidates = work.collect()
    candidates.extend(work.import_time())
    # classes noted at import time in these modules are never overlaid by the registry
    # either: blocked plugins stay out, and an entry point's hook is the authority
    work.result.blocked_modules = set(work.blocked_modules) | work.ep_modules | work.failed_modules
    work.merge(candidates)
    work.derive_secondaries()
    work.finish()
    if reentry_count() != reentries:
        # a plugin read a registry that was being discovered: what it saw depends on the
        # order of reads in this process, and another process may read in another order
        work.result.cacheable = False
        work.result.uncacheable_reason = "a plugin read a registry during its discovery"
    logger.debug(
        "registry %s: found %d keys, %d failures (%d plugins reused)",
        config.name,
        len(work.result.items),
        len(work.result.failures),
        len(work.result.reused),
    )
    return work.result
