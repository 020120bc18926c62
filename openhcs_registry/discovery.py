"""Fresh discovery: the three plugin sources -> a pluggy PluginManager -> ``{key: value}``.

This is the slow path (it imports pluggy, importlib.metadata and every plugin module) and
runs only when no valid cache exists.  It is written so that no single plugin can spoil it:
every load, import and hook call is isolated, and whatever goes wrong becomes a
:class:`~openhcs_registry.diagnostics.PluginFailure` instead of an exception.

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
from dataclasses import dataclass, field
from typing import Any

from . import _inputs, autoregister, settings
from ._environment import environment_fingerprint, importable_names, launch_folder, search_path
from ._inputs import Inputs
from ._log import get_logger
from .config import RegistryConfig
from .diagnostics import (
    FailureKind,
    PluginFailure,
    exception_location,
    missing_module_of,
    missing_requirements,
    reentry_count,
    report,
)
from .refs import reference_of

logger = get_logger("openhcs_registry.discovery")

#: Distribution whose plugins count as built-in for the conflict rule.
BUILTIN_DISTRIBUTION = "openhcs-registry"


#: Between otherwise equal candidates: an entry point's hook beats a package scan, which
#: beats a run-time plugin object, which beats a class merely noted at import time.
_ORIGIN_RANK = {"entry_point": 0, "custom": 1, "package": 1, "runtime": 2, "import_time": 3}


class DuplicateKeyError(ValueError):
    """Raised in ``conflict_policy="strict"`` registries when two plugins claim one key."""


class Unavailable:
    """Returned by a hook in place of a value whose optional dependency is missing.

    ``Unavailable("omero", "needs the omero-py package", missing_module="omero")`` makes the
    registry report the key as unavailable (CLI ``why``/``doctor``) instead of crashing, and
    the cache is invalidated as soon as *missing_module* becomes importable.
    """

    def __init__(self, key: str, reason: str, missing_module: str | None = None) -> None:
        self.key = key
        self.reason = reason
        self.missing_module = missing_module

    def __repr__(self) -> str:
        return f"Unavailable({self.key!r}, {self.reason!r})"


@dataclass
class Candidate:
    """One value offered for one key, with where it came from."""

    key: str
    value: Any
    plugin: str
    origin: str  # "entry_point" | "package" | "custom" | "import_time"
    module: str | None
    distribution: str | None = None
    dist_version: str | None = None
    rank: tuple[Any, ...] = ()
    ref: str | None = None
    persist: bool = True
    keyed: bool = False  # the key was given explicitly (mapping result), not read off the value

    def provenance(self) -> dict[str, Any]:
        return {
            "keyed": self.keyed,
            "plugin": self.plugin,
            "origin": self.origin,
            "module": self.module,
            "distribution": self.distribution,
            "version": self.dist_version,
            "file": _module_file(self.module),
        }


@dataclass
class DiscoveryResult:
    """What one fresh discovery found; the cache stores the persistable part of it."""

    items: dict[str, Candidate] = field(default_factory=dict)
    secondaries: dict[str, dict[str, Candidate]] = field(default_factory=dict)
    failures: list[PluginFailure] = field(default_factory=list)
    skipped: list[PluginFailure] = field(default_factory=list)
    modules: set[str] = field(default_factory=set)
    package_dirs: set[str] = field(default_factory=set)
    blocked_modules: set[str] = field(default_factory=set)
    plugins: list[dict[str, Any]] = field(default_factory=list)
    launch: dict[str, list[str]] = field(default_factory=dict)
    cacheable: bool = True
    uncacheable_reason: str | None = None
    #: What each plugin read (by plugin name), including plugins that yielded nothing.
    inputs: dict[str, Inputs] = field(default_factory=dict)
    #: The environment as it was *before* discovery looked at it (an install meanwhile is
    #: then a change afterwards), and the entry-point declarations of every distribution.
    environment: dict[str, Any] = field(default_factory=dict)
    distributions: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Plugin:
    name: str
    obj: Any
    origin: str
    module: str | None
    distribution: str | None = None
    dist_version: str | None = None

    @property
    def builtin(self) -> bool:
        return self.distribution == BUILTIN_DISTRIBUTION


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
    subpackage the scan imports, and that changes only the subfolder's own mtime.
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


class _Discovery:
    def __init__(
        self, config: RegistryConfig, blocked: frozenset[str], extra: dict[str, Any] | None = None
    ) -> None:
        self.extra = dict(extra or {})
        self.config = config
        self.blocked = blocked
        self.result = DiscoveryResult()
        self.plugins: dict[str, _Plugin] = {}
        self.plugin_modules: set[str] = set()
        self.ep_packages: dict[str, tuple[str | None, str | None]] = {}
        self.offered: set[int] = set()  # ids of every value a hook offered, accepted or not
        self.rejected: set[int] = set()  # ids of values already reported as failures
        # (key, missing module) -> (index in failures, explicit Unavailable?) already reported
        self.unavailable: dict[tuple[str, str | None], tuple[int, bool]] = {}
        self.blocked_modules: set[str] = set()  # modules of blocked entry points
        self.ep_modules: set[str] = set()  # every entry point's module, loaded or not
        # modules discovery imports that failed to import: classes they defined before
        # failing are orphans no warm start could resolve, so they stay out everywhere
        self.failed_modules: set[str] = set()
        self.inputs = self.result.inputs

    def inputs_of(self, plugin: str) -> Inputs:
        found = self.inputs.get(plugin)
        if found is None:
            found = self.inputs[plugin] = Inputs()
        return found

    # -- failures ---------------------------------------------------------------------------
    def fail(
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
    ) -> None:
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
        self.result.failures.append(report(failure))
        if exc is not None and logger.isEnabledFor(10):
            logger.debug("".join(traceback.format_exception(exc)))

    def skip(self, plugin: str, kind: str, message: str, module: str | None) -> None:
        """A quietly skipped class (abstract/keyless in a package scan): debug log only."""
        logger.debug("registry %s: skipped %s in %s: %s", self.config.name, plugin, module, message)
        self.result.skipped.append(
            PluginFailure(self.config.name, plugin, kind, message, module=module)
        )

    # -- sources ----------------------------------------------------------------------------
    def load_entry_points(self) -> None:
        if settings.entry_points_disabled():
            logger.debug("registry %s: entry points disabled", self.config.name)
            return
        from importlib.metadata import entry_points

        # stat before reading: a declaration edited while we list is a change afterwards
        self.result.distributions = distribution_declarations(search_path())
        try:
            eps = list(entry_points(group=self.config.entry_point_group))
        except Exception as exc:  # a broken distribution's metadata
            self.fail("<entry points>", FailureKind.IMPORT_ERROR, f"cannot list: {exc}", exc=exc)
            return

        def ep_sort(ep: Any) -> tuple[str, str]:
            dist = getattr(ep, "dist", None)
            return (getattr(dist, "name", "") or "", ep.name)

        for ep in sorted(eps, key=ep_sort):
            dist = getattr(ep, "dist", None)
            dist_name = _canonical(getattr(dist, "name", None))
            dist_version = getattr(dist, "version", None)
            module_name = ep.value.split(":")[0].strip()
            name = ep.name if ep.name not in self.plugins else f"{dist_name}:{ep.name}"
            top = module_name.split(".")[0]
            self.ep_packages.setdefault(top, (dist_name, dist_version))
            self.ep_modules.add(module_name)
            inputs = self.inputs_of(name)
            if ep.name in self.blocked or name in self.blocked:
                self.fail(
                    name,
                    FailureKind.BLOCKED,
                    "blocked by name",
                    module=module_name,
                    distribution=dist_name,
                )
                self.blocked_modules.add(module_name)
                continue
            try:
                obj = _load_entry_point(ep, inputs)
            except BaseException as exc:
                if isinstance(exc, KeyboardInterrupt):
                    raise
                self.fail(
                    name,
                    FailureKind.IMPORT_ERROR,
                    f"cannot import entry point {ep.value!r}: {type(exc).__name__}: {exc}",
                    module=module_name,
                    distribution=dist_name,
                    exc=exc,
                )
                continue
            logger.debug(
                "registry %s: loaded entry point %s = %s (%s)",
                self.config.name,
                name,
                ep.value,
                dist_name,
            )
            self.plugin_modules.add(module_name)
            self.plugins[name] = _Plugin(
                name, obj, "entry_point", module_name, dist_name, dist_version
            )
            self.check_hook_names(name, obj, module_name, dist_name)

    def check_hook_names(
        self, name: str, obj: Any, module: str | None, distribution: str | None
    ) -> None:
        """Report hookimpls whose name matches no hookspec of the group (a misspelling)."""
        for hook, suggestion in unknown_hooks(obj, self.config.entry_point_group):
            hint = f"; did you mean {suggestion!r}?" if suggestion else ""
            self.fail(
                name,
                FailureKind.UNKNOWN_HOOK,
                f"hookimpl {hook!r} matches no hookspec of entry-point group "
                f"{self.config.entry_point_group!r}{hint}",
                module=module,
                distribution=distribution,
            )

    def add_extra_plugins(self) -> None:
        """Plugin objects added at run time (``registry.add_plugin``): never persisted."""
        for name, obj in self.extra.items():
            module = getattr(obj, "__name__", None) or getattr(obj, "__module__", None)
            self.plugins[name] = _Plugin(name, obj, "runtime", module)
            self.check_hook_names(name, obj, module, None)

    def scan_packages(self) -> None:
        import pkgutil

        base = self.config.base_class
        for package_name in self.config.discovery_packages:
            listed = self.inputs_of(f"package:{package_name}")
            try:
                package = _inputs.import_module(package_name, listed)
            except BaseException as exc:
                if isinstance(exc, KeyboardInterrupt):
                    raise
                self.fail(
                    f"package:{package_name}",
                    FailureKind.IMPORT_ERROR,
                    f"cannot import discovery package: {type(exc).__name__}: {exc}",
                    module=package_name,
                    exc=exc,
                )
                continue
            modules = [package_name]
            paths = list(getattr(package, "__path__", []) or [])
            self.result.package_dirs.update(os.path.abspath(p) for p in paths)
            if paths:
                for folder in paths:
                    listed.add_dir(os.path.abspath(folder))  # a module added or removed
                    _watch_plain_folders(listed, folder)
                walker = (
                    pkgutil.walk_packages(paths, package_name + ".", onerror=lambda _n: None)
                    if self.config.recursive
                    else pkgutil.iter_modules(paths, package_name + ".")
                )
                with _inputs.recording(listed):  # walk_packages imports subpackages
                    modules.extend(sorted(info.name for info in walker))
            logger.debug("registry %s: scanning %s: %s", self.config.name, package_name, modules)
            for module_name in modules:
                inputs = self.inputs_of(f"package:{module_name}")
                inputs.update(listed)
                try:
                    module = _inputs.import_module(module_name, inputs)
                except BaseException as exc:
                    if isinstance(exc, KeyboardInterrupt):
                        raise
                    self.fail(
                        f"package:{module_name}",
                        FailureKind.IMPORT_ERROR,
                        f"cannot import: {type(exc).__name__}: {exc}",
                        module=module_name,
                        distribution=self._dist_of(module_name)[0],
                        exc=exc,
                    )
                    continue
                logger.debug("registry %s: imported %s", self.config.name, module_name)
                self.plugin_modules.add(module_name)
                sub_paths = getattr(module, "__path__", None)
                if sub_paths:
                    self.result.package_dirs.update(os.path.abspath(p) for p in sub_paths)
                    for folder in sub_paths:
                        _watch_plain_folders(inputs, folder)
                found = []
                for attr, obj in list(vars(module).items()):
                    if not isinstance(obj, type) or obj.__module__ != module_name:
                        continue
                    if base is not None and (obj is base or not issubclass(obj, base)):
                        continue
                    label = f"{module_name}.{attr}"
                    if inspect.isabstract(obj):
                        self.skip(label, FailureKind.ABSTRACT, "abstract class", module_name)
                        continue
                    if not self._has_key(obj):
                        self.skip(label, FailureKind.MISSING_KEY, "no key attribute", module_name)
                        continue
                    found.append(obj)
                if found:
                    dist, version = self._dist_of(module_name)
                    name = f"package:{module_name}"
                    self.plugins[name] = _Plugin(
                        name,
                        _ListPlugin(self.config.hook_name, found),
                        "package",
                        module_name,
                        dist,
                        version,
                    )

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
    def call_hooks(self) -> list[Candidate]:
        import pluggy

        from .markers import PROJECT_NAME

        pm = pluggy.PluginManager(PROJECT_NAME)
        spec_namespace = type(
            "Spec", (), {self.config.hook_name: staticmethod(self.config.hookspec)}
        )
        pm.add_hookspecs(spec_namespace)
        for name in sorted(self.plugins):
            plugin = self.plugins[name]
            try:
                pm.register(plugin.obj, name=name)
            except Exception as exc:
                self.fail(
                    name,
                    FailureKind.INVALID_PLUGIN,
                    f"rejected by pluggy: {exc}",
                    module=plugin.module,
                    distribution=plugin.distribution,
                    exc=exc,
                )
        hook = getattr(pm.hook, self.config.hook_name)
        candidates: list[Candidate] = []
        for impl in reversed(hook.get_hookimpls()):
            if impl.hookwrapper or impl.wrapper:
                continue
            plugin = self.plugins[impl.plugin_name]
            self.result.plugins.append(
                {
                    "name": plugin.name,
                    "origin": plugin.origin,
                    "module": plugin.module,
                    "distribution": plugin.distribution,
                    "version": plugin.dist_version,
                }
            )
            impl_module = getattr(impl.function, "__module__", None)
            if isinstance(impl_module, str):
                self.plugin_modules.add(impl_module)
            priority = 0 if impl.tryfirst else 2 if impl.trylast else 1
            try:
                with _inputs.calling(self.inputs_of(plugin.name)):
                    returned = impl.function()
            except BaseException as exc:
                if isinstance(exc, KeyboardInterrupt):
                    raise
                self.fail(
                    plugin.name,
                    FailureKind.HOOK_ERROR,
                    f"{self.config.hook_name}() raised {type(exc).__name__}: {exc}",
                    module=plugin.module,
                    distribution=plugin.distribution,
                    exc=exc,
                )
                continue
            found = self._collect(plugin, returned, priority)
            if plugin.origin == "runtime":
                for cand in found:
                    cand.persist = False
            candidates.extend(found)
        return candidates

    def custom_function(self) -> list[Candidate]:
        func = self.config.discovery_function
        if func is None:
            return []
        name = f"custom:{getattr(func, '__qualname__', 'discovery_function')}"
        module = getattr(func, "__module__", None)
        plugin = _Plugin(name, func, "custom", module, *self._dist_of(module))
        try:
            with _inputs.calling(self.inputs_of(name)):
                returned = func()
        except Exception as exc:
            self.fail(
                name,
                FailureKind.HOOK_ERROR,
                f"discovery function raised {exc!r}",
                module=module,
                exc=exc,
            )
            return []
        return self._collect(plugin, returned, 1)

    def import_time(self) -> list[Candidate]:
        """Classes noted by ``AutoRegistered``; persisted only if discovery would import them."""
        out = []
        for index, obj in enumerate(autoregister.noted(self.config.name)):
            module = getattr(obj, "__module__", None)
            if _under(module, self.blocked_modules):
                continue  # a blocked plugin's classes stay out even when already imported
            if id(obj) in self.offered or inspect.isabstract(obj) or not self._has_key(obj):
                continue  # offered by a hook already (judged there), or not a registry value
            if _under(module, self.ep_modules):
                # the entry point's hook is the authority for the modules it loads: a class
                # it did not return (raised, misspelt, left out on purpose) stays out
                self.skip(
                    f"{module}.{getattr(obj, '__qualname__', '?')}",
                    FailureKind.NOT_RETURNED,
                    "defined in a module loaded through an entry point, but not returned by "
                    f"its {self.config.hook_name}() hook",
                    module,
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
            dist, version = self._dist_of(module)
            plugin = _Plugin(f"import-time:{module}", obj, "import_time", module, dist, version)
            if isinstance(module, str):
                self.inputs_of(plugin.name).update(_inputs.known_inputs(module))
            for cand in self._collect(plugin, [obj], 1):
                # persisted only if a fresh process would define it the same way: its module is
                # one discovery imports, and it is still what that module holds (not a class
                # left over from a module that has since been reloaded)
                cand.persist = self._discovered_module(module) and reference_of(obj) is not None
                cand.rank = (
                    1,
                    0 if plugin.builtin else 1,
                    _ORIGIN_RANK["import_time"],
                    plugin.name,
                    index,
                )
                out.append(cand)
        return out

    def _discovered_module(self, module: str | None) -> bool:
        if not module:
            return False
        if module in self.plugin_modules:
            return True
        if any(
            module in inputs.modules
            for name, inputs in self.inputs.items()
            if not name.startswith("import-time:")
        ):
            return True  # imported while a plugin loaded: a fresh process imports it too
        top = module.split(".")[0]
        return (
            top in self.ep_packages and any(m.split(".")[0] == top for m in self.plugin_modules)
        ) or any(module.startswith(p + ".") for p in self.config.discovery_packages)

    def _collect(self, plugin: _Plugin, returned: Any, priority: int) -> list[Candidate]:
        cfg = self.config
        if returned is None:
            return []
        pairs: list[tuple[Any, Any]]
        if isinstance(returned, Mapping):
            pairs = list(returned.items())
        elif isinstance(returned, Iterable) and not isinstance(returned, (str, bytes)):
            pairs = [(None, v) for v in returned]
        else:
            self.fail(
                plugin.name,
                FailureKind.BAD_RETURN,
                f"{cfg.hook_name}() returned {type(returned).__name__}, expected a list or dict",
                module=plugin.module,
                distribution=plugin.distribution,
            )
            return []
        out: list[Candidate] = []
        no_gpu = settings.no_gpu()
        for index, (given_key, value) in enumerate(pairs):
            if id(value) in self.rejected:
                continue  # offered again by another road (package scan + hook): judged once
            self.offered.add(id(value))
            if not self._accept(plugin, given_key, value, no_gpu):
                self.rejected.add(id(value))
                continue
            key = given_key if given_key is not None else cfg.key_of(value)
            value_module = getattr(value, "__module__", None)
            if not isinstance(value_module, str):
                value_module = plugin.module
            out.append(
                Candidate(
                    key=key,
                    value=value,
                    plugin=plugin.name,
                    origin=plugin.origin,
                    module=value_module,
                    distribution=plugin.distribution,
                    dist_version=plugin.dist_version,
                    rank=(
                        priority,
                        0 if plugin.builtin else 1,
                        _ORIGIN_RANK.get(plugin.origin, 3),
                        plugin.name,
                        index,
                    ),
                    keyed=given_key is not None,
                )
            )
        return out

    def _accept(self, plugin: _Plugin, given_key: Any, value: Any, no_gpu: bool) -> bool:
        """Whether *value* may enter the registry; reports why not."""
        cfg = self.config
        if isinstance(value, Unavailable):
            token = (value.key, value.missing_module)
            seen = self.unavailable.get(token)
            if seen is not None:  # the same absence seen by another road (package scan + hook)
                index, explicit = seen
                if not explicit:  # the plugin's own words beat the generic requires_modules text
                    old = self.result.failures[index]
                    self.result.failures[index] = old.replace(message=value.reason)
                    self.unavailable[token] = (index, True)
                return False
            self.unavailable[token] = (len(self.result.failures), True)
            self.fail(
                plugin.name,
                FailureKind.UNAVAILABLE,
                value.reason,
                module=plugin.module,
                distribution=plugin.distribution,
                key=value.key,
                missing_module=value.missing_module,
            )
            return False
        label = getattr(value, "__qualname__", None) or repr(value)[:80]
        if cfg.base_class is not None and not _is_instance_or_subclass(value, cfg.base_class):
            self.fail(
                plugin.name,
                FailureKind.WRONG_TYPE,
                f"{label} is not a {cfg.base_class.__qualname__} (subclass or instance)",
                module=plugin.module,
                distribution=plugin.distribution,
                key=given_key if isinstance(given_key, str) else None,
            )
            return False
        if isinstance(value, type) and inspect.isabstract(value):
            self.fail(
                plugin.name,
                FailureKind.ABSTRACT,
                f"{label} is abstract",
                module=plugin.module,
                distribution=plugin.distribution,
            )
            return False
        key = given_key
        if key is None:
            try:
                key = cfg.key_of(value)
            except Exception as exc:
                key = None
                logger.debug("key extractor failed for %s: %s", label, exc)
        if not isinstance(key, str) or not key:
            self.fail(
                plugin.name,
                FailureKind.MISSING_KEY,
                f"{label} has no usable key"
                + (f" (attribute {cfg.key_attribute!r})" if cfg.key_attribute else ""),
                module=plugin.module,
                distribution=plugin.distribution,
            )
            return False
        if no_gpu and getattr(value, cfg.gpu_attribute, False):
            self.fail(
                plugin.name,
                FailureKind.GPU_SKIPPED,
                f"needs a GPU and {settings.NO_GPU_ENV}=1",
                module=plugin.module,
                distribution=plugin.distribution,
                key=key,
            )
            return False
        # recorded: a requirement found (say in the launch folder) is an input too, so that
        # its disappearing is seen like a missing one appearing
        with _inputs.recording(self.inputs_of(plugin.name)):
            missing = missing_requirements(value)
        if missing:
            if (key, missing) in self.unavailable:
                return False
            self.unavailable[(key, missing)] = (len(self.result.failures), False)
            self.fail(
                plugin.name,
                FailureKind.UNAVAILABLE,
                f"needs the {missing!r} module, which is not installed",
                module=plugin.module,
                distribution=plugin.distribution,
                key=key,
                missing_module=missing,
            )
            return False
        return True

    # -- merge ------------------------------------------------------------------------------
    def merge(self, candidates: list[Candidate]) -> None:
        items = self.result.items
        lost: set[tuple[str, int]] = set()
        for cand in sorted(candidates, key=lambda c: c.rank):
            current = items.get(cand.key)
            if current is None:
                items[cand.key] = cand
                continue
            if current.value is cand.value:
                current.persist = current.persist or cand.persist
                continue
            if (cand.key, id(cand.value)) in lost:  # same loser offered again (e.g. import time)
                continue
            lost.add((cand.key, id(cand.value)))
            if current.rank and current.rank[0] == 0 and cand.rank and cand.rank[0] != 0:
                # an intended override (a tryfirst hookimpl): an outcome, not a problem
                self.fail(
                    cand.plugin,
                    FailureKind.OVERRIDDEN,
                    f"key {cand.key!r} is overridden by plugin {current.plugin!r} "
                    f"({_label(current.value)}, tryfirst); {_label(cand.value)} is not used",
                    module=cand.module,
                    distribution=cand.distribution,
                    key=cand.key,
                )
                continue
            message = (
                f"key {cand.key!r} is also provided by plugin {current.plugin!r} "
                f"({_label(current.value)}); {_label(cand.value)} is ignored"
            )
            if self.config.conflict_policy == "strict":
                raise DuplicateKeyError(
                    f"registry {self.config.name}: plugins {current.plugin!r} and "
                    f"{cand.plugin!r} both provide key {cand.key!r}"
                )
            self.fail(
                cand.plugin,
                FailureKind.DUPLICATE_KEY,
                message,
                module=cand.module,
                distribution=cand.distribution,
                key=cand.key,
            )

    def derive_secondaries(self) -> None:
        from .refs import parse

        for sec in self.config.secondary_registries:
            derived: dict[str, Candidate] = {}
            for key, cand in sorted(self.result.items.items()):
                try:
                    if sec.derive is not None:
                        value = sec.derive(key, cand.value)
                    else:
                        assert sec.attribute is not None
                        value = getattr(cand.value, sec.attribute, None)
                except Exception as exc:
                    self.fail(
                        cand.plugin,
                        FailureKind.DERIVE_ERROR,
                        f"cannot derive {sec.name} entry: {exc!r}",
                        module=cand.module,
                        key=key,
                        exc=exc,
                    )
                    continue
                if value is None:
                    continue
                ref = None
                if isinstance(value, str):
                    try:
                        parse(value)
                    except ValueError:
                        self.fail(
                            cand.plugin,
                            FailureKind.DERIVE_ERROR,
                            f"{sec.name}: {value!r} is not a module:qualname reference",
                            module=cand.module,
                            key=key,
                        )
                        continue
                    ref, value = value, _UNRESOLVED
                derived[key] = Candidate(
                    key=key,
                    value=value,
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
        """Give persisted values their references and collect the modules to fingerprint."""
        res = self.result
        groups = [res.items, *res.secondaries.values()]
        for group in groups:
            for cand in group.values():
                if not cand.persist:
                    continue
                if cand.ref is None:
                    cand.ref = reference_of(cand.value)
                if cand.ref is None:
                    res.cacheable = False
                    res.uncacheable_reason = (
                        f"{cand.key!r} from {cand.plugin!r} has no module:qualname address"
                    )
                    continue
                module = cand.ref.split(":")[0]
                res.modules.add(module)
                inputs = self.inputs_of(cand.plugin)
                if module not in inputs.modules:  # a value defined outside what it loaded
                    inputs.update(_inputs.known_inputs(module))
        res.modules.update(self.plugin_modules)
        self.record_environment()

    def record_environment(self) -> None:
        """Places that could shadow a recorded name: launch folder, namespace portions."""
        tops: set[str] = {m.split(".")[0] for m in self.ep_modules}
        tops.update(p.split(".")[0] for p in self.config.discovery_packages)
        for inputs in self.inputs.values():
            tops |= inputs.tops
            tops.update(m.split(".")[0] for m in inputs.missing)
        launch = launch_folder()
        entries = search_path()
        common = self.inputs_of("<environment>")
        if launch is not None:
            folder = os.path.abspath(launch or os.curdir)
            entries = [folder, *entries]
            present = importable_names(folder) or set()
            self.result.launch = {"tops": sorted(tops), "present": sorted(tops & present)}
            if tops & present:  # those names came from this folder: another one is a change
                self.result.launch["folder"] = [folder]
        else:
            self.result.launch = {"tops": [], "present": []}
        for path in _inputs.shadow_dirs(tops, entries):
            common.add_dir(path)


def _load_entry_point(ep: Any, inputs: Inputs) -> Any:
    """``ep.load()``, recording what the import read (the entry point's module and helpers)."""
    import functools

    module = _inputs.import_module(ep.module, inputs)
    attrs = [part for part in (ep.attr or "").split(".") if part]
    return functools.reduce(getattr, attrs, module)


def distribution_declarations(entries: list[str]) -> dict[str, Any]:
    """The entry-point declaration file of every distribution on *entries*, with its stat.

    An ``entry_points.txt`` edited in place (hand-written metadata, an egg-info in a source
    tree) changes neither its folder nor the ``sys.path`` entry; its own signature does.
    A distribution without one is recorded as absent: one appearing is a change too.
    """
    out: dict[str, Any] = {}
    for entry in entries:
        try:
            names = os.listdir(entry)
        except (OSError, ValueError):
            continue
        for name in names:
            if name.endswith((".dist-info", ".egg-info")):
                folder = os.path.join(entry, name)
                path = os.path.join(folder, "entry_points.txt")
                if not os.path.isdir(folder):
                    path = folder  # a PKG-INFO-style egg-info file
                out[path] = _inputs.sig(path)
    return out


#: Hook names declared per project, extended once from the contracts' entry points.
_contracts_loaded: set[str] = set()


def unknown_hooks(obj: Any, group: str) -> list[tuple[str, str | None]]:
    """``(name, close match)`` of each hookimpl on *obj* that no hookspec of *group* declares.

    Known hookspecs are those defined in this process plus those of the contract modules
    declared under the ``<group>.contracts`` entry-point group (loaded only when a name is
    not known yet, so a correct plugin costs nothing).
    """
    import difflib

    from .markers import PROJECT_NAME, declared_hookspecs

    marker = PROJECT_NAME + "_impl"
    names = []
    for attr in dir(obj):
        try:
            value = getattr(obj, attr, None)
        except Exception:  # a property of a plugin object may raise: not a hookimpl
            value = None
        opts = getattr(value, marker, None)
        if isinstance(opts, dict):
            names.append(str(opts.get("specname") or attr))
    unknown = [n for n in names if n not in declared_hookspecs(PROJECT_NAME)]
    if unknown and group not in _contracts_loaded:
        _contracts_loaded.add(group)
        _load_contracts(group)
        unknown = [n for n in unknown if n not in declared_hookspecs(PROJECT_NAME)]
    known = sorted(declared_hookspecs(PROJECT_NAME))
    return [(n, next(iter(difflib.get_close_matches(n, known, 1, 0.6)), None)) for n in unknown]


def _load_contracts(group: str) -> None:
    """Import the contract modules declared for *group* (each isolated)."""
    from importlib.metadata import entry_points

    try:
        declared = list(entry_points(group=f"{group}.contracts"))
    except Exception:
        return
    for ep in declared:
        try:
            ep.load()
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            logger.debug("contracts %s could not be loaded: %s", ep.value, exc)


class _Unresolved:
    def __repr__(self) -> str:
        return "<unresolved>"


#: Placeholder value of a candidate known only by its reference.
_UNRESOLVED: Any = _Unresolved()


def _under(module: str | None, roots: set[str] | frozenset[str]) -> bool:
    """Whether *module* is one of *roots* or inside one of them."""
    return bool(module) and any(module == r or module.startswith(r + ".") for r in roots)  # type: ignore[union-attr]


def _label(value: Any) -> str:
    return str(getattr(value, "__qualname__", None) or type(value).__qualname__)


def _is_instance_or_subclass(value: Any, base: type) -> bool:
    if isinstance(value, type):
        return issubclass(value, base)
    return isinstance(value, base)


def _canonical(name: str | None) -> str | None:
    return name.lower().replace("_", "-").replace(".", "-") if name else name


def run_discovery(
    config: RegistryConfig,
    blocked: frozenset[str] = frozenset(),
    extra_plugins: dict[str, Any] | None = None,
) -> DiscoveryResult:
    """Discover *config*'s registry from scratch; never raises for a plugin's fault."""
    logger.debug("registry %s: fresh discovery", config.name)
    work = _Discovery(config, blocked, extra_plugins)
    # looked at before anything is read: an install during discovery is a change afterwards
    env = environment_fingerprint(fresh=True)
    work.result.environment = {**env, "listings": [_inputs.listing(e) for e, _ in env["path"]]}
    reentries = reentry_count()
    work.load_entry_points()
    work.add_extra_plugins()
    work.scan_packages()
    candidates = work.call_hooks()
    candidates.extend(work.custom_function())
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
        "registry %s: found %d keys, %d failures",
        config.name,
        len(work.result.items),
        len(work.result.failures),
    )
    return work.result
