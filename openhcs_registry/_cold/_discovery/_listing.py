"""Listing and loading the plugins: entry points, run-time plugins, discovery packages.

:func:`list_plugins` is the step: from the :class:`~._context.Context` it returns a
:class:`Listing`, every plugin's record (in listing order) and the plugins loaded now, with
what the later steps need to know about them.  Each entry point's module and each
discovery-package module is imported under the import recorder (:mod:`.._inputs`),
isolated (``SystemExit`` included); a plugin whose record is reused is not loaded at all.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys

from ... import _autoregister as autoregister
from ... import settings
from ..._diagnostics import FailureKind, abstract_text
from ..._environment import search_path
from .. import _entrypoints, _inputs
from .._inputs import Inputs
from .._records import PluginRecord
from ._calling import check_hook_names
from ._context import Context, Loaded, Packages, dist_of, logger

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class Listing:
    """What listing found: the records, the plugins loaded now, and facts about them."""

    __slots__ = (
        "blocked_modules",
        "custom",
        "distributions",
        "ep_modules",
        "loaded",
        "modules",
        "noted",
        "package_dirs",
        "packages",
        "records",
        "reused",
    )

    def __init__(self) -> None:
        #: every plugin's record by name, in listing order (blocked, reused, loaded, failed)
        self.records: dict[str, PluginRecord] = {}
        #: the plugins loaded in this process, to be called
        self.loaded: dict[str, Loaded] = {}
        #: the names of the records taken from the previous discovery
        self.reused: set[str] = set()
        #: plugin modules imported (or imported by the reused records' plugins)
        self.modules: set[str] = set()
        #: classes noted at import time while each plugin loaded
        self.noted: dict[str, list[Any]] = {}
        #: the entry points' top-level packages and their distributions
        self.packages: dict[str, tuple[str | None, str | None]] = {}
        self.ep_modules: set[str] = set()  # every entry point's module
        self.blocked_modules: set[str] = set()  # modules of blocked ones
        self.package_dirs: set[str] = set()  # discovery packages' folders
        self.distributions: dict[str, Any] = {}  # the entry-point scan
        #: the custom discovery function's record, when it is to be called (not reused)
        self.custom: PluginRecord | None = None

    def take(self, ctx: Context, record: PluginRecord) -> PluginRecord:
        """Take *record* as found now, or the previous record if it is the same plugin."""
        old = ctx.reuse.get(record.name)
        if old is not None and old.same_identity(record):
            self.records[record.name] = old
            self.reused.add(record.name)
            if old.module:
                self.modules.add(old.module)
            return old
        if record.inputs is None:
            record.inputs = Inputs()
        self.records[record.name] = record
        return record

    def join(self, other: Listing) -> None:
        """Add what a later source found (a name found again replaces the earlier record)."""
        self.records.update(other.records)
        self.loaded.update(other.loaded)
        self.reused |= other.reused
        self.modules |= other.modules
        self.noted.update(other.noted)
        self.package_dirs |= other.package_dirs
        if other.custom is not None:
            self.custom = other.custom


def list_plugins(ctx: Context, extra: dict[str, Any]) -> Listing:
    """Every plugin of *ctx*'s registry, listed and (unless reused) loaded, each isolated.

    Sources in order: entry points, the run-time plugin objects *extra*, the discovery
    packages, the custom discovery function (listed here, called by the calling step).
    """
    listing = load_entry_points(ctx)
    listing.join(add_extra_plugins(ctx, extra))
    listing.join(scan_packages(ctx, listing.packages))
    listing.join(custom_function(ctx, listing.packages))
    return listing


class _ListPlugin:
    """A pluggy plugin object whose single hookimpl returns a fixed list (package scans)."""

    def __init__(self, hook_name: str, values: list[Any]) -> None:
        from ..._markers import hookimpl

        def provide() -> list[Any]:
            return list(values)

        provide.__name__ = hook_name
        setattr(self, hook_name, hookimpl(provide))


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


# -- sources ----------------------------------------------------------------------------
def load_entry_points(ctx: Context, check_names: bool = True) -> Listing:
    """The entry points of the registry's group, each loaded (or its record reused).

    *check_names*: report hookimpls named like no hookspec (a registry's discovery does;
    :func:`~openhcs_registry._cold._discovery.plugin_answers` leaves that to the registries).
    """
    out = Listing()
    if settings.entry_points_disabled():
        logger.debug("registry %s: entry points disabled", ctx.config.name)
        return out
    # stat before reading: a declaration edited while we list is a change afterwards
    found, out.distributions = _entrypoints.declared(
        search_path(),
        ctx.config.entry_point_group,
        ctx.scanned,
        ctx.listed,
        ctx.stat,
        ctx.vouched,
    )
    records, reuse, blocked = out.records, ctx.reuse, ctx.blocked
    packages, ep_modules = out.packages, out.ep_modules
    for name, dist_name, ep_name, value, dist_version, group in _entrypoints.named(found):
        module = _entrypoints.split_value(value)[0]  # (no EntryPoint built for a reused one)
        top = module.split(".")[0]
        if top not in packages:
            packages[top] = (dist_name, dist_version)
        ep_modules.add(module)
        old = reuse.get(name)
        if (
            old is not None
            and old.declared_as(name, "entry_point", module, dist_name, dist_version, value)
            and ep_name not in blocked
            and name not in blocked
        ):
            # the same plugin declared the same way (:meth:`Listing.take` without the
            # record it would build and throw away: thousands at an incremental start)
            records[name] = old
            out.reused.add(name)
            if module:
                out.modules.add(module)
            continue
        ep = _entrypoints.EntryPoint(ep_name, value, dist_name, dist_version, group)
        record = PluginRecord(name, "entry_point", module, dist_name, dist_version, value, Inputs())
        if ep_name in blocked or name in blocked:
            records[name] = record
            ctx.fail(record, FailureKind.BLOCKED, "blocked by name")
            out.blocked_modules.add(module)
            continue
        record = out.take(ctx, record)
        if name in out.reused:
            continue
        obj = _load_entry_point(ctx, out, record, ep)
        if obj is _FAILED:
            continue
        logger.debug(
            "registry %s: loaded entry point %s = %s (%s)",
            ctx.config.name,
            name,
            value,
            dist_name,
        )
        out.modules.add(module)
        marked = check_hook_names(ctx, record, obj) if check_names else None
        out.loaded[name] = Loaded(record, obj, marked)
    return out


#: What :func:`_load_entry_point` gives for an entry point that could not be loaded.
_FAILED = object()


def _load_entry_point(ctx: Context, out: Listing, record: PluginRecord, ep: Any) -> Any:
    """``ep.load()`` recording what the import read, or :data:`_FAILED` (the failure is
    the record's); the classes noted meanwhile go to ``out.noted``."""
    assert record.inputs is not None
    before = autoregister.noted_count(ctx.config.name)
    try:
        module = _inputs.import_module(ep.module, record.inputs)
        attrs = [part for part in (ep.attr or "").split(".") if part]
        return functools.reduce(getattr, attrs, module)
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        ctx.fail(
            record,
            FailureKind.IMPORT_ERROR,
            f"cannot import entry point {ep.value!r}: {type(exc).__name__}: {exc}",
            exc=exc,
        )
        return _FAILED
    finally:
        out.noted[record.name] = autoregister.noted_since(ctx.config.name, before)


def add_extra_plugins(ctx: Context, extra: dict[str, Any]) -> Listing:
    """Plugin objects added at run time (``registry.add_plugin``): never persisted."""
    out = Listing()
    for name, obj in extra.items():
        module = getattr(obj, "__name__", None) or getattr(obj, "__module__", None)
        record = out.records[name] = PluginRecord(name, "runtime", module, inputs=Inputs())
        record.volatile = "added at run time"
        out.loaded[name] = Loaded(record, obj, check_hook_names(ctx, record, obj))
    return out


def scan_packages(ctx: Context, packages: Packages) -> Listing:
    """Each discovery package listed (or its listing reused), each module in it scanned.

    *packages* gives the distribution of a module inside an entry point's package.
    """
    out = Listing()
    for package_name in ctx.config.discovery_packages:
        listing = out.take(
            ctx, PluginRecord(f"listing:{package_name}", "listing", package_name, inputs=Inputs())
        )
        if listing.name not in out.reused:
            listing.listed = _list_package(ctx, out, listing, package_name)
        logger.debug("registry %s: scanning %s: %s", ctx.config.name, package_name, listing.listed)
        # a reused listing names only the package and modules inside it
        inside = [
            m for m in listing.listed or () if m == package_name or m.startswith(package_name + ".")
        ]
        for module_name in inside:
            dist, version = dist_of(packages, module_name)
            record = out.take(
                ctx, PluginRecord(f"package:{module_name}", "package", module_name, dist, version)
            )
            if record.name not in out.reused:
                _scan_module(ctx, out, record, module_name)
    return out


def _import_or_fail(ctx: Context, record: PluginRecord, name: str, what: str) -> Any:
    """Import *name* recording into *record*'s inputs; a failure (even ``SystemExit``) is
    *record*'s, reported as ``{what}: {error}``, and gives None."""
    assert record.inputs is not None
    try:
        return _inputs.import_module(name, record.inputs)
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        ctx.fail(record, FailureKind.IMPORT_ERROR, f"{what}: {type(exc).__name__}: {exc}", exc=exc)
        return None


def _list_package(
    ctx: Context, out: Listing, listing: PluginRecord, package_name: str
) -> list[str] | None:
    """The package and the modules inside it (None: it cannot be imported)."""
    import pkgutil

    assert listing.inputs is not None
    package = _import_or_fail(ctx, listing, package_name, "cannot import discovery package")
    if package is None:
        return None
    modules = [package_name]
    paths = list(getattr(package, "__path__", []) or [])
    out.package_dirs.update(os.path.abspath(p) for p in paths)
    if paths:
        for folder in paths:
            listing.inputs.add_dir(os.path.abspath(folder))  # a module added or removed
        walker = (
            pkgutil.walk_packages(paths, package_name + ".", onerror=lambda _n: None)
            if ctx.config.recursive
            else pkgutil.iter_modules(paths, package_name + ".")
        )
        with _inputs.recording(listing.inputs):  # walk_packages imports subpackages
            modules.extend(sorted(info.name for info in walker))
        for name in modules:  # the package and the subpackages the walk imported
            for folder in getattr(sys.modules.get(name), "__path__", None) or ():
                listing.inputs.add_dir(os.path.abspath(folder))  # a module added there
                _watch_plain_folders(listing.inputs, folder)
    return modules


def _scan_module(ctx: Context, out: Listing, record: PluginRecord, module_name: str) -> None:
    """Import one discovery-package module; its keyed classes become a loaded plugin."""
    base = ctx.config.base_class
    before = autoregister.noted_count(ctx.config.name)
    try:
        module = _import_or_fail(ctx, record, module_name, "cannot import")
    finally:
        out.noted[record.name] = autoregister.noted_since(ctx.config.name, before)
    if module is None:
        return
    logger.debug("registry %s: imported %s", ctx.config.name, module_name)
    out.modules.add(module_name)
    sub_paths = getattr(module, "__path__", None)
    if sub_paths:
        out.package_dirs.update(os.path.abspath(p) for p in sub_paths)
    found = []
    for attr, obj in list(vars(module).items()):
        if not isinstance(obj, type) or obj.__module__ != module_name:
            continue
        if base is not None and (obj is base or not issubclass(obj, base)):
            continue
        label = f"{module_name}.{attr}"
        if inspect.isabstract(obj):
            ctx.skip(record, label, FailureKind.ABSTRACT, abstract_text(obj))
            continue
        if not ctx.has_key(obj):
            ctx.skip(record, label, FailureKind.MISSING_KEY, ctx.key_text(obj))
            continue
        found.append(obj)
    if found:
        out.loaded[record.name] = Loaded(record, _ListPlugin(ctx.config.hook_name, found))


def custom_function(ctx: Context, packages: Packages) -> Listing:
    """The record of the custom discovery function, if the registry has one."""
    out = Listing()
    func = ctx.config.discovery_function
    if func is None:
        return out
    name = f"custom:{getattr(func, '__qualname__', 'discovery_function')}"
    module = getattr(func, "__module__", None)
    record = out.take(ctx, PluginRecord(name, "custom", module, *dist_of(packages, module)))
    if name not in out.reused:
        out.custom = record
    return out
