"""Enums generated at run time, cached like registries.

OpenHCS builds some enums from what is installed (colormaps) or configured (microscope
components, see :mod:`openhcs_registry.constants`).  Building them can import large libraries
(matplotlib, napari), so the *members* are cached in orjson documents next to the registry
caches, with the same safety rules, and the class is rebuilt from them.  Methods and
properties come from code on every creation, cached or fresh, so they are always restored.

Created classes are published as attributes of their module under their ``__qualname__``:
members pickle by reference and unpickle in any process (this module's ``__getattr__``
recreates ``ColormapEnum`` there on demand).  Within a process each enum is created once,
single-flight across threads: later calls return the same class object.

Unlike OpenHCS, the colormap cache is really used (its production code bypassed it), and it
is invalidated when what it was built from changes: the environment (``sys.path`` and its
folders' mtimes), the provider libraries (matplotlib, napari: findable or not, and their
installed versions) and the discovery settings.
"""

from __future__ import annotations

import os

from . import _enumcache, _fileio, settings
from ._enumcache import ENUM_CACHE_VERSION, EnumCacheFile, make_enum, valid_members
from ._log import get_logger

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from enum import Enum
    from typing import Any

__all__ = [
    "BASE_COLORMAPS",
    "COLORMAP_CACHE_FILE",
    "COLORMAP_MAX_AGE",
    "ENUM_CACHE_VERSION",
    "PROVIDER_LIBRARIES",
    "EnumCacheFile",
    "cached_enum",
    "colormap_members",
    "create_colormap_enum",
    "forget",
    "make_enum",
    "provider_libraries",
    "sanitize_member_name",
    "valid_members",
]

logger = get_logger("openhcs_registry.enums")

DEFAULT_MAX_AGE = 7 * 24 * 3600.0

_memo = _enumcache.Memo()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=lambda: _memo.reinit_after_fork())


# -- the factory --------------------------------------------------------------------------------
def cached_enum(
    name: str,
    build: Callable[[], Mapping[str, Any]],
    *,
    module: str,
    file_name: str | None = None,
    qualname: str | None = None,
    namespace: Mapping[str, Any] | None = None,
    fingerprint: Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None = None,
    max_age: float = DEFAULT_MAX_AGE,
    refresh: bool = False,
) -> type[Enum]:
    """The enum *name*: members from the cache file ``file_name``, or from ``build()``.

    ``build()`` returns ``{member name: JSON scalar}``; the class gets *namespace* (methods,
    properties, ``__eq__``...) added every time.  The document is valid for *max_age* seconds
    and for *fingerprint* (a mapping, or a callable computed only when the class is not yet
    made in this process) - anything else is a miss and ``build()`` runs again.

    Created once per process for ``module.qualname`` and published there.
    ``file_name=None`` keeps it out of the persistent cache.  ``refresh=True`` runs
    ``build()`` now without reading the file (and rewrites it, if any); the published class
    is replaced only if the members changed, so identity survives a refresh that finds the
    same members.
    """
    qualname = qualname or name
    key = (module, qualname)
    if not refresh:
        made = _memo.get(key)
        if made is not None:
            return made
    fresh: dict[str, Any] = {}

    def create() -> type[Enum]:
        fp = fingerprint() if callable(fingerprint) else fingerprint
        cache = EnumCacheFile(file_name, max_age, fp or {}) if file_name else None
        if cache is not None and not refresh:
            items = cache.load()
            members = valid_members(items.get("members")) if items is not None else None
            if members is not None:
                try:
                    cls = make_enum(
                        name, members, module=module, qualname=qualname, namespace=namespace
                    )
                except (TypeError, ValueError) as exc:  # e.g. a member clashing with a method
                    _fileio.warn_once(
                        str(cache.path), "enum cache %s unusable (%s); rebuilding", cache.path, exc
                    )
                else:
                    return cls
        fresh.update(_checked_members(name, build()))
        cls = make_enum(name, fresh, module=module, qualname=qualname, namespace=namespace)
        if cache is not None:
            cache.save({"members": fresh})
        return cls

    def changed(old: type[Enum], new: type[Enum]) -> bool:
        return not _enumcache.same_members(old, {m.name: m.value for m in new})

    return _memo.create(key, create, replace=changed if refresh else None)


def _checked_members(name: str, members: Mapping[str, Any]) -> dict[str, Any]:
    checked = valid_members(dict(members))
    if checked is None:
        raise ValueError(
            f"enum {name}: members must be a non-empty {{public identifier: JSON scalar}} dict"
        )
    return checked


def forget(module: str, qualname: str) -> None:
    """Drop the in-process memo of an enum: its next creation reads the cache or builds.

    The published module attribute is left alone (old pickles keep resolving) until a new
    class replaces it.
    """
    _memo.forget((module, qualname))


# -- colormaps ----------------------------------------------------------------------------------
COLORMAP_CACHE_FILE = "colormap_enum.json"
COLORMAP_MAX_AGE = 30 * 24 * 3600.0

#: Colormaps every installation offers (OpenHCS's lazy set); all of ``lazy=True``.
BASE_COLORMAPS: tuple[str, ...] = ("gray", "viridis", "magma", "inferno", "plasma", "cividis")

#: Libraries whose presence and version change the colormap enum (checked without importing).
PROVIDER_LIBRARIES: tuple[str, ...] = ("matplotlib", "napari")

_COLORMAP_ENUM = "ColormapEnum"
_LAZY_COLORMAP_ENUM = "LazyColormapEnum"


def sanitize_member_name(display_name: str) -> str:
    """``"Spectral_r"`` -> ``SPECTRAL_R``: as OpenHCS, spaces, dashes and dots become ``_``,
    the name is upper-cased and ``CMAP_`` goes before a leading digit.

    Any other character that cannot be in a name also becomes ``_`` (OpenHCS dropped such
    colormaps); leading underscores go.  The result may still not be an identifier (``""``,
    exotic digits): :func:`colormap_members` leaves those colormaps out.
    """
    name = display_name.replace(" ", "_").replace("-", "_").replace(".", "_")
    name = "".join(c if c.isalnum() or c == "_" else "_" for c in name).upper().lstrip("_")
    if name[:1].isdigit():
        name = "CMAP_" + name
    return name


def colormap_members(names: Iterable[str]) -> dict[str, str]:
    """Member name -> display name; the first display name wins a sanitising collision."""
    members: dict[str, str] = {}
    for display in names:
        if not isinstance(display, str) or not display:
            continue
        member = sanitize_member_name(display)
        if member.isidentifier() and valid_members({member: display}) is not None:
            members.setdefault(member, display)
    return members


def _display_name(self: Enum) -> str:
    return str(self.value)


def _from_display_name(cls: type[Enum], name: str) -> Enum:
    for member in cls:
        if member.value == name:
            return member
    raise ValueError(f"no colormap named {name!r}")


_COLORMAP_NAMESPACE = {
    "display_name": property(_display_name, doc="The provider's own name of the colormap."),
    "from_display_name": classmethod(_from_display_name),
    "__doc__": "Colormaps available here (built-ins, matplotlib, napari, plugins).",
}


def create_colormap_enum(enable_cache: bool = True, lazy: bool = False) -> type[Enum]:
    """The colormap enum: ``ColormapEnum.VIRIDIS.value == "viridis"``.

    Members come from every ``provide_colormaps`` hook (:mod:`openhcs_hookspecs.colormaps`):
    the built-in set, matplotlib and napari when installed, third-party plugins.  A warm call
    (valid ``colormap_enum.json``) imports neither matplotlib, napari, pluggy nor
    importlib.metadata.  ``lazy=True``: ``LazyColormapEnum``, the fixed :data:`BASE_COLORMAPS`
    only, no discovery, no cache.  ``enable_cache=False``: discovered afresh, the file is
    neither read nor written (the class object is kept if the members did not change).
    """
    if lazy:
        return cached_enum(
            _LAZY_COLORMAP_ENUM,
            lambda: colormap_members(BASE_COLORMAPS),
            module=__name__,
            namespace=_COLORMAP_NAMESPACE,
        )
    return cached_enum(
        _COLORMAP_ENUM,
        _discover_colormaps,
        module=__name__,
        file_name=COLORMAP_CACHE_FILE if enable_cache else None,
        namespace=_COLORMAP_NAMESPACE,
        fingerprint=colormap_fingerprint,
        max_age=COLORMAP_MAX_AGE,
        refresh=not enable_cache,
    )


def colormap_fingerprint() -> dict[str, Any]:
    """What the colormap enum depends on, found with ``stat``/``listdir`` calls only."""
    from ._environment import environment_fingerprint

    return {
        "environment": environment_fingerprint(),
        "settings": settings.discovery_settings(),
        "providers": provider_libraries(),
    }


def provider_libraries() -> dict[str, dict[str, Any]]:
    """For each of :data:`PROVIDER_LIBRARIES`: findable (no import) and installed version."""
    return {name: _library_state(name) for name in PROVIDER_LIBRARIES}


def _library_state(name: str) -> dict[str, Any]:
    from importlib.util import find_spec

    try:
        spec = find_spec(name)  # a top-level name: consults finders, imports nothing
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        return {"found": False, "version": None}
    first = []
    for location in spec.submodule_search_locations or ():
        first.append(os.path.dirname(os.path.abspath(location)))
    if spec.origin and not spec.submodule_search_locations:
        first.append(os.path.dirname(os.path.abspath(spec.origin)))
    return {"found": True, "version": _installed_version(name, first)}


def _installed_version(name: str, first: list[str]) -> str | None:
    """The version in ``<name>-<version>.dist-info`` (or ``.egg-info``) on ``sys.path``.

    Read from the folder name, without importing importlib.metadata (~45 ms); the folder
    next to the package is looked at first, where installers put it.
    """
    import sys

    prefix = name.lower().replace("-", "_") + "-"
    seen: set[str] = set()
    for entry in (*first, *sys.path):
        folder = os.path.abspath(entry or os.curdir)
        if folder in seen:
            continue
        seen.add(folder)
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        found = sorted(
            item[len(prefix) : -len(suffix)]
            for item in names
            if item.lower().startswith(prefix)
            for suffix in (".dist-info", ".egg-info")
            if item.lower().endswith(suffix)
        )
        if found:
            return found[0]
    return None


def _discover_colormaps() -> dict[str, str]:
    """Cold path: the base set, then every provided name in sorted order (deterministic)."""
    provided = _provided_colormaps()
    extra = sorted(set(provided) - set(BASE_COLORMAPS))
    return colormap_members([*BASE_COLORMAPS, *extra])


def _provided_colormaps() -> list[str]:
    """Call every ``provide_colormaps`` hookimpl of the ``openhcs`` entry points.

    Each entry point load and each hookimpl call is isolated: a broken plugin is reported
    (once per process, like a registry's plugin failure) and the others still count.  A name
    offered by several providers is simply one colormap - not a conflict.
    """
    import pluggy
    from openhcs_hookspecs import colormaps as contract

    from .markers import PROJECT_NAME

    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(contract)
    for plugin_name, obj, module, dist in _entry_point_plugins():
        try:
            pm.register(obj, name=plugin_name)
        except Exception as exc:
            _report(plugin_name, "invalid_plugin", f"rejected by pluggy: {exc}", module, dist, exc)
    names: list[str] = []
    for impl in reversed(pm.hook.provide_colormaps.get_hookimpls()):
        if impl.hookwrapper or impl.wrapper:
            continue
        label = f"{impl.plugin_name}:{getattr(impl.function, '__name__', 'provide_colormaps')}"
        impl_module = getattr(impl.function, "__module__", None)
        try:
            returned = impl.function()
        except BaseException as exc:  # SystemExit from a plugin included; not ^C
            if isinstance(exc, KeyboardInterrupt):
                raise
            _report(
                label, "hook_error", f"provide_colormaps() raised {exc!r}", impl_module, None, exc
            )
            continue
        names.extend(_names_in(returned, label, impl_module))
    return names


def _names_in(returned: object, label: str, module: str | None) -> list[str]:
    from collections.abc import Iterable, Mapping

    if returned is None:
        return []
    if isinstance(returned, Mapping) or (
        isinstance(returned, Iterable) and not isinstance(returned, (str, bytes))
    ):
        candidates = list(returned)  # a mapping's keys are the names
    else:
        _report(
            label,
            "bad_return",
            f"provide_colormaps() returned {type(returned).__name__}, "
            "expected a mapping or an iterable of names",
            module,
            None,
        )
        return []
    names = [n for n in candidates if isinstance(n, str) and n]
    if len(names) != len(candidates):
        _report(label, "bad_return", "some colormap names are not strings; ignored", module, None)
    return names


def _entry_point_plugins() -> list[tuple[str, Any, str, str | None]]:
    """``(name, object, module, distribution)`` of every loadable ``openhcs`` entry point.

    Built-in plugins first, then by distribution and entry-point name, as registries do.
    """
    if settings.entry_points_disabled():
        return []
    from importlib.metadata import entry_points

    from .config import DEFAULT_ENTRY_POINT_GROUP
    from .discovery import BUILTIN_DISTRIBUTION

    try:
        eps = list(entry_points(group=DEFAULT_ENTRY_POINT_GROUP))
    except Exception as exc:  # a broken distribution's metadata
        _report("<entry points>", "import_error", f"cannot list: {exc}", None, None, exc)
        return []

    def dist_name(ep: Any) -> str:
        dist = getattr(ep, "dist", None)
        return str(getattr(dist, "name", "") or "")

    def order(ep: Any) -> tuple[bool, str, str]:
        canonical = dist_name(ep).lower().replace("_", "-")
        return (canonical != BUILTIN_DISTRIBUTION, canonical, ep.name)

    plugins: list[tuple[str, Any, str, str | None]] = []
    used: set[str] = set()
    for ep in sorted(eps, key=order):
        dist = dist_name(ep) or None
        name = ep.name if ep.name not in used else f"{dist}:{ep.name}"
        used.add(name)
        module = ep.value.split(":")[0].strip()
        try:
            obj = ep.load()
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            _report(name, "import_error", f"cannot import {ep.value!r}: {exc!r}", module, dist, exc)
            continue
        plugins.append((name, obj, module, dist))
    return plugins


def _report(
    plugin: str,
    kind: str,
    message: str,
    module: str | None,
    distribution: str | None,
    exc: BaseException | None = None,
) -> None:
    from .diagnostics import PluginFailure, exception_location, missing_module_of, report

    report(
        PluginFailure(
            "colormap_enum",
            plugin,
            kind,
            message,
            module=module,
            distribution=distribution,
            exception=type(exc).__name__ if exc is not None else None,
            location=exception_location(exc) if exc is not None else None,
            missing_module=missing_module_of(exc) if exc is not None else None,
        )
    )


def __getattr__(name: str) -> Any:
    """``openhcs_registry.enums.ColormapEnum`` creates the enum on first use (unpickling)."""
    if name == _COLORMAP_ENUM:
        return create_colormap_enum()
    if name == _LAZY_COLORMAP_ENUM:
        return create_colormap_enum(lazy=True)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
