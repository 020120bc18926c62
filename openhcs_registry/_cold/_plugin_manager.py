"""``registry.plugin_manager``: the pluggy ``PluginManager`` underneath, for an application's hooks.

A registry only ever calls one hook (its provider hook) and keeps the answer.  An application
that wants more from the same plugins — a ``firstresult`` hook that picks a reader for a file,
a hook with arguments called per plate, a wrapper around every call — declares its own
hookspecs and calls them on :attr:`LazyDiscoveryDict.plugin_manager`: a real
:class:`pluggy.PluginManager` (project ``"openhcs"``) holding the plugins the registry
discovers — its entry points, the modules of its discovery packages and its run-time plugins
(``registry.add_plugin``); blocked plugins are left out, as discovery leaves them out.

It is built on first use of the property (the cold path: it imports pluggy and the plugin
modules; entry points come from the one reader, :mod:`._entrypoints`, as discovery's do; a
warm start that never asks for it pays nothing) and kept until the registry's blocked or
run-time plugins change.  Loading is isolated the same way discovery isolates it: a plugin
that cannot be imported or that pluggy rejects is left out and recorded in
:attr:`RegistryPluginManager.failures`.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import pluggy

from .. import settings
from .._diagnostics import FailureKind, PluginFailure
from .._markers import PROJECT_NAME

if TYPE_CHECKING:
    from .._lazy import LazyDiscoveryDict

__all__ = ["RegistryPluginManager", "build_plugin_manager"]


class RegistryPluginManager(pluggy.PluginManager):
    """A :class:`pluggy.PluginManager` holding one registry's plugins.

    ``registry`` is the registry's name; ``failures`` the plugins that could not be loaded or
    registered (each a :class:`~openhcs_registry.PluginFailure`).  Everything
    else is pluggy's own API: ``add_hookspecs``, ``hook.<name>(...)``, ``register``, ...
    """

    def __init__(self, registry: str) -> None:
        super().__init__(PROJECT_NAME)
        self.registry = registry
        self.failures: list[PluginFailure] = []

    def _fail(self, plugin: str, message: str, module: str | None, exc: BaseException) -> None:
        self.failures.append(
            PluginFailure.of(
                self.registry,
                plugin,
                FailureKind.IMPORT_ERROR
                if not isinstance(exc, (ValueError, pluggy.PluginValidationError))
                else FailureKind.INVALID_PLUGIN,
                f"{message}: {type(exc).__name__}: {exc}",
                exc,
                module=module,
            )
        )

    def _add(self, plugin: object, name: str, module: str | None) -> None:
        if self.is_registered(plugin):  # an entry point that is also a discovery package
            return
        try:
            self.register(plugin, name=name)
        except Exception as exc:
            self._fail(name, "rejected by pluggy", module, exc)


def build_plugin_manager(
    registry: LazyDiscoveryDict[Any], extra_plugins: dict[str, Any] | None = None
) -> RegistryPluginManager:
    """A new :class:`RegistryPluginManager` for *registry* (what the property caches).

    Plugins are registered under the names discovery gives them: the entry point's name
    (``dist:name`` when two distributions use one name), ``package:<module>`` for a module
    of a discovery package, the run-time name for a run-time plugin.
    """
    import importlib
    import pkgutil

    cfg = registry.config
    pm = RegistryPluginManager(cfg.name)
    pm.add_hookspecs(type("Spec", (), {cfg.hook_name: staticmethod(cfg.hookspec)}))
    blocked = registry.blocked
    if not settings.entry_points_disabled():
        from ._entrypoints import entry_points

        # the one entry-point reader, in discovery's order and with its names: the first
        # distribution of a name on sys.path, sorted by normalised distribution and name
        names: set[str] = set()
        for ep in entry_points(cfg.entry_point_group):
            name = ep.name if ep.name not in names else f"{ep.distribution}:{ep.name}"
            names.add(name)
            if ep.name in blocked or name in blocked:
                continue
            module = ep.module
            try:
                obj = ep.load()
            except BaseException as exc:  # SystemExit at import included: one plugin's fault
                if isinstance(exc, KeyboardInterrupt):
                    raise
                pm._fail(name, f"cannot import entry point {ep.value!r}", module, exc)
                continue
            pm._add(obj, name, module)
    for package_name in cfg.discovery_packages:
        try:
            package = importlib.import_module(package_name)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            pm._fail(f"package:{package_name}", "cannot import", package_name, exc)
            continue
        modules = [package_name]
        paths = list(getattr(package, "__path__", None) or [])
        if paths:
            walker = (
                pkgutil.walk_packages(paths, package_name + ".", onerror=lambda _n: None)
                if cfg.recursive
                else pkgutil.iter_modules(paths, package_name + ".")
            )
            modules += sorted(info.name for info in walker)
        for module_name in modules:
            try:
                loaded = importlib.import_module(module_name)
            except BaseException as exc:
                if isinstance(exc, KeyboardInterrupt):
                    raise
                pm._fail(f"package:{module_name}", "cannot import", module_name, exc)
                continue
            pm._add(loaded, f"package:{module_name}", module_name)
    for name, obj in (extra_plugins or {}).items():
        pm._add(obj, name, getattr(obj, "__name__", None) or getattr(obj, "__module__", None))
    return pm


_lock = threading.Lock()
#: registry name -> (registry, what it was built from, the manager)
_built: dict[str, tuple[object, tuple[Any, ...], RegistryPluginManager]] = {}


def plugin_manager_for(
    registry: LazyDiscoveryDict[Any], extra_plugins: dict[str, Any]
) -> RegistryPluginManager:
    """The cached manager of *registry*, rebuilt when its blocked or run-time plugins changed.

    Kept, not rebuilt per access: the application adds its hookspecs to it once.
    """
    token = (
        registry.blocked,
        tuple((name, id(obj)) for name, obj in extra_plugins.items()),
        settings.entry_points_disabled(),
    )
    with _lock:
        found = _built.get(registry.name)
        if found is not None and found[0] is registry and found[1] == token:
            return found[2]
    pm = build_plugin_manager(registry, extra_plugins)  # outside the lock: it imports plugins
    with _lock:
        found = _built.get(registry.name)
        if found is not None and found[0] is registry and found[1] == token:
            return found[2]  # another thread was quicker: one manager for everyone
        _built[registry.name] = (registry, token, pm)
    return pm
