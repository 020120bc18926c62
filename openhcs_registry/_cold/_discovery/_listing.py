"""Listing and loading the plugins: entry points, discovery packages, run-time plugins.

Each entry point's module and each discovery-package module is imported under the import
recorder (:mod:`.._inputs`), isolated (``SystemExit`` included); a plugin whose record is
reused is not loaded at all.
"""

from __future__ import annotations

import inspect
import os
import sys
from typing import Any

from ... import _autoregister as autoregister
from ... import settings
from ..._diagnostics import FailureKind, abstract_text
from ..._environment import search_path
from .. import _entrypoints, _inputs
from .._inputs import Inputs
from .._records import PluginRecord
from ._calling import call, check_hook_names
from ._run import _Discovery, _Plugin, logger


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


def _load_entry_point(ep: Any, inputs: Inputs) -> Any:
    """``ep.load()``, recording what the import read (the entry point's module and helpers)."""
    import functools

    module = _inputs.import_module(ep.module, inputs)
    attrs = [part for part in (ep.attr or "").split(".") if part]
    return functools.reduce(getattr, attrs, module)


# -- sources ----------------------------------------------------------------------------
def load_entry_points(run: _Discovery) -> None:
    if settings.entry_points_disabled():
        logger.debug("registry %s: entry points disabled", run.config.name)
        return
    # stat before reading: a declaration edited while we list is a change afterwards
    found, run.result.distributions = _entrypoints.scan(
        search_path(), run.config.entry_point_group, run.scanned, run.listed, run.stat
    )
    for ep in found:
        dist_name, dist_version = ep.distribution, ep.version
        name = ep.name if ep.name not in run.records else f"{dist_name}:{ep.name}"
        run.ep_packages.setdefault(ep.module.split(".")[0], (dist_name, dist_version))
        run.ep_modules.add(ep.module)
        record = PluginRecord(
            name, "entry_point", ep.module, dist_name, dist_version, ep.value, Inputs()
        )
        if ep.name in run.blocked or name in run.blocked:
            run.records[name] = record
            run.fail(record, FailureKind.BLOCKED, "blocked by name")
            run.blocked_modules.add(ep.module)
            continue
        record = run._add(record)
        if run.reused(record):
            continue
        assert record.inputs is not None
        before = len(autoregister.noted(run.config.name))
        try:
            obj = _load_entry_point(ep, record.inputs)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            run.fail(
                record,
                FailureKind.IMPORT_ERROR,
                f"cannot import entry point {ep.value!r}: {type(exc).__name__}: {exc}",
                exc=exc,
            )
            continue
        finally:
            run.noted[name] = autoregister.noted(run.config.name)[before:]
        logger.debug(
            "registry %s: loaded entry point %s = %s (%s)",
            run.config.name,
            name,
            ep.value,
            dist_name,
        )
        run.plugin_modules.add(ep.module)
        run.live[name] = _Plugin(record, obj)
        check_hook_names(run, record, obj)


def add_extra_plugins(run: _Discovery) -> None:
    """Plugin objects added at run time (``registry.add_plugin``): never persisted."""
    for name, obj in run.extra.items():
        module = getattr(obj, "__name__", None) or getattr(obj, "__module__", None)
        record = run.records[name] = PluginRecord(name, "runtime", module, inputs=Inputs())
        record.volatile = "added at run time"
        run.live[name] = _Plugin(record, obj)
        check_hook_names(run, record, obj)


def scan_packages(run: _Discovery) -> None:
    for package_name in run.config.discovery_packages:
        listing = run._add(
            PluginRecord(f"listing:{package_name}", "listing", package_name, inputs=Inputs())
        )
        if not run.reused(listing):
            listing.listed = _list_package(run, listing, package_name)
        logger.debug("registry %s: scanning %s: %s", run.config.name, package_name, listing.listed)
        # a reused listing names only the package and modules inside it
        inside = [
            m for m in listing.listed or () if m == package_name or m.startswith(package_name + ".")
        ]
        for module_name in inside:
            dist, version = run._dist_of(module_name)
            record = run._add(
                PluginRecord(f"package:{module_name}", "package", module_name, dist, version)
            )
            if not run.reused(record):
                _scan_module(run, record, module_name)


def _import_or_fail(run: _Discovery, record: PluginRecord, name: str, what: str) -> Any:
    """Import *name* recording into *record*'s inputs; a failure (even ``SystemExit``) is
    *record*'s, reported as ``{what}: {error}``, and gives None."""
    assert record.inputs is not None
    try:
        return _inputs.import_module(name, record.inputs)
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        run.fail(record, FailureKind.IMPORT_ERROR, f"{what}: {type(exc).__name__}: {exc}", exc=exc)
        return None


def _list_package(run: _Discovery, listing: PluginRecord, package_name: str) -> list[str] | None:
    import pkgutil

    assert listing.inputs is not None
    package = _import_or_fail(run, listing, package_name, "cannot import discovery package")
    if package is None:
        return None
    modules = [package_name]
    paths = list(getattr(package, "__path__", []) or [])
    run.result.package_dirs.update(os.path.abspath(p) for p in paths)
    if paths:
        for folder in paths:
            listing.inputs.add_dir(os.path.abspath(folder))  # a module added or removed
        walker = (
            pkgutil.walk_packages(paths, package_name + ".", onerror=lambda _n: None)
            if run.config.recursive
            else pkgutil.iter_modules(paths, package_name + ".")
        )
        with _inputs.recording(listing.inputs):  # walk_packages imports subpackages
            modules.extend(sorted(info.name for info in walker))
        for name in modules:  # the package and the subpackages the walk imported
            for folder in getattr(sys.modules.get(name), "__path__", None) or ():
                listing.inputs.add_dir(os.path.abspath(folder))  # a module added there
                _watch_plain_folders(listing.inputs, folder)
    return modules


def _scan_module(run: _Discovery, record: PluginRecord, module_name: str) -> None:
    base = run.config.base_class
    before = len(autoregister.noted(run.config.name))
    try:
        module = _import_or_fail(run, record, module_name, "cannot import")
    finally:
        run.noted[record.name] = autoregister.noted(run.config.name)[before:]
    if module is None:
        return
    logger.debug("registry %s: imported %s", run.config.name, module_name)
    run.plugin_modules.add(module_name)
    sub_paths = getattr(module, "__path__", None)
    if sub_paths:
        run.result.package_dirs.update(os.path.abspath(p) for p in sub_paths)
    found = []
    for attr, obj in list(vars(module).items()):
        if not isinstance(obj, type) or obj.__module__ != module_name:
            continue
        if base is not None and (obj is base or not issubclass(obj, base)):
            continue
        label = f"{module_name}.{attr}"
        if inspect.isabstract(obj):
            run.skip(record, label, FailureKind.ABSTRACT, abstract_text(obj))
            continue
        if not run._has_key(obj):
            run.skip(record, label, FailureKind.MISSING_KEY, run._key_text(obj))
            continue
        found.append(obj)
    if found:
        run.live[record.name] = _Plugin(record, _ListPlugin(run.config.hook_name, found))


def custom_function(run: _Discovery) -> None:
    func = run.config.discovery_function
    if func is None:
        return
    name = f"custom:{getattr(func, '__qualname__', 'discovery_function')}"
    module = getattr(func, "__module__", None)
    record = run._add(PluginRecord(name, "custom", module, *run._dist_of(module)))
    if not run.reused(record):
        record.priority = 1
        assert record.inputs is not None
        if module:  # its own module, imported long before: watched like a plugin's
            record.inputs.update(_inputs.known_inputs(module))
        call(run, record, func)
