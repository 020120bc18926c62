"""Enums generated at run time, cached like registries: the generic factory.

Some enums are built from what is installed (a plugin hook's answers) or configured.
Building them can import large libraries, so the *members* are cached in orjson documents
next to the registry caches, with the same safety rules, and the class is rebuilt from them.
Methods and properties come from code on every creation, cached or fresh, so they are always
restored.

Created classes are published as attributes of their module under their ``__qualname__``:
members pickle by reference and unpickle in any process (the owning module's ``__getattr__``
recreates the class there on demand).  Within a process each enum is created once,
single-flight across threads: later calls return the same class object.

The engine defines no enum itself: OpenHCS's colormap and component enums live in the
contracts (:mod:`openhcs_hookspecs.colormaps`, :mod:`openhcs_hookspecs.components`) and use
only what this module offers: :func:`cached_enum`, :func:`installation_fingerprint` (what an
enum built from installed libraries depends on) and :func:`hook_answers` (the cold path:
call one hook of every entry-point plugin, each isolated).
"""

from __future__ import annotations

import os
import sys

from . import _enumcache, _fileio, settings
from ._enumcache import ENUM_CACHE_VERSION, EnumCacheFile, make_enum, valid_members
from ._log import get_logger

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping
    from contextlib import AbstractContextManager
    from enum import Enum
    from types import ModuleType
    from typing import Any

__all__ = [
    "DEFAULT_MAX_AGE",
    "ENUM_CACHE_VERSION",
    "EnumCacheFile",
    "cached_enum",
    "forget",
    "hook_answers",
    "installation_fingerprint",
    "isolated",
    "library_state",
    "make_enum",
    "report_problem",
    "valid_members",
]

logger = get_logger("openhcs_registry.enums")

DEFAULT_MAX_AGE = 7 * 24 * 3600.0

_memo = _enumcache.Memo()  # reset in a forked child by the one fork hook (._flight)


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


def isolated() -> AbstractContextManager[None]:
    """``with enums.isolated():`` the enums this process made are unknown inside, and back after.

    On entry the in-process memo is emptied and each enum's published module attribute
    removed, so the next creation (or access through the owning module's ``__getattr__``)
    reads the cache or builds, as in a fresh process.  On exit the enums made inside are
    forgotten the same way (memo and attribute), and the earlier ones are remembered and
    published as they were (whoever kept one keeps the same class).  A module attribute
    that is not the memo's class on entry (left by :func:`forget`) is left alone.  For
    tests and tools: the project's enum tests each run inside it.  Not for use while other
    threads create enums (theirs would be forgotten too).
    """
    from contextlib import contextmanager

    @contextmanager
    def scope() -> Iterator[None]:
        before = _unknow()
        try:
            yield
        finally:
            _unknow()
            for key, (cls, attribute) in before.items():

                def again(cls: type[Enum] = cls) -> type[Enum]:
                    return cls

                _memo.create(key, again)  # remembered and published again
                target = sys.modules.get(key[0])
                if target is not None and attribute is not cls:
                    if attribute is _ABSENT:
                        target.__dict__.pop(key[1], None)
                    else:
                        setattr(target, key[1], attribute)

    return scope()


_ABSENT = object()


def _unknow() -> dict[tuple[str, str], tuple[type[Enum], Any]]:
    """Forget every enum of the memo and remove the module attribute it was published as;
    return what was there (each class with the attribute its module had)."""
    out = {}
    for key, cls in list(_memo.made.items()):
        _memo.forget(key)
        target = sys.modules.get(key[0])
        attribute = target.__dict__.get(key[1], _ABSENT) if target is not None else _ABSENT
        if attribute is cls:
            delattr(target, key[1])
        out[key] = (cls, attribute)
    return out


# -- what an enum built from installed things depends on ----------------------------------------
def installation_fingerprint(libraries: Iterable[str] = ()) -> dict[str, Any]:
    """A fingerprint for an enum built from what is installed, found with ``stat`` calls.

    ``environment``: interpreter and ``sys.path`` folders with their stat signatures
    (installing or removing any distribution changes one); ``settings``: the discovery
    settings (entry points disabled, the contracts' switches); ``libraries``: for each of
    *libraries*, :func:`library_state` - so an upgrade is noticed even where no folder mtime
    moved.
    """
    from ._environment import environment_fingerprint

    return {
        "environment": environment_fingerprint(),
        "settings": settings.discovery_settings(),
        "libraries": {name: library_state(name) for name in libraries},
    }


def library_state(name: str) -> dict[str, Any]:
    """Whether top-level module *name* is findable (nothing imported) and its version."""
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


# -- the cold path: asking the plugins ----------------------------------------------------------
def hook_answers(
    hookspecs: ModuleType, hook_name: str, *, label: str
) -> list[tuple[str, str | None, Any]]:
    """``(hookimpl label, its module, returned value)`` of hook *hook_name* of every plugin.

    For enums built from plugins' answers (cold path only: imports pluggy and the plugin
    modules).  *hookspecs* is the contract module declaring the hook.  The plugins are listed,
    loaded and called by the same code as a registry's discovery
    (:func:`openhcs_registry._cold._discovery.plugin_answers`): each entry point load and each
    hookimpl call is isolated, a broken plugin is reported under *label* (once per process,
    like a registry's plugin failure) and the others still answer.  Plugins come in registry
    order: built-in first, then by distribution and entry-point name; the answers in pluggy's
    call order.
    """
    from ._cold._discovery import plugin_answers

    return plugin_answers(getattr(hookspecs, hook_name), label=label)


def report_problem(
    label: str,
    plugin: str,
    kind: str,
    message: str,
    module: str | None = None,
    distribution: str | None = None,
    exc: BaseException | None = None,
) -> None:
    """Report a plugin's problem with enum *label* (logged once, like a registry failure)."""
    from ._diagnostics import PluginFailure, report

    report(
        PluginFailure.of(
            label, plugin, kind, message, exc, module=module, distribution=distribution
        )
    )
