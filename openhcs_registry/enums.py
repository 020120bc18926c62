"""Enums generated at run time, cached like registries.

OpenHCS builds some enums from what is installed (colormaps) or configured (microscope
components).  Building them can import large libraries (matplotlib, napari), so the *members*
are cached in orjson documents next to the registry caches, with the same safety rules, and
the class is rebuilt from them — custom methods and properties come from code every time, so
they are always restored.

Created classes are published as attributes of their module under their ``__qualname__``:
members pickle by reference and unpickle in any process.  Within a process each enum is
created once (thread-safe): later calls return the same class.
"""

from __future__ import annotations

import sys
import threading
import time

from . import _fileio, settings
from ._log import get_logger
from ._version import __version__
from .paths import get_openhcs_cache_dir

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from enum import Enum
    from pathlib import Path
    from typing import Any

logger = get_logger("openhcs_registry.enums")

#: Bump when the enum document layout changes.
ENUM_CACHE_VERSION = 2  # 2: checksummed
COLORMAP_CACHE_FILE = "colormap_enum.json"
COLORMAP_MAX_AGE = 30 * 24 * 3600.0

_lock = threading.RLock()
_made: dict[tuple[str, str], Any] = {}

_JSON_SCALARS = (str, int, float, bool, type(None))


class EnumCacheFile:
    """One cached enum document: ``{cache_version, version, timestamp, fingerprint, items}``.

    *fingerprint* is whatever changes the members (an environment, a configuration); a
    document with another fingerprint, an older format or library version, or older than
    *max_age* is a miss.  Corrupt or hostile documents are a miss with one warning.
    """

    def __init__(self, file_name: str, max_age: float, fingerprint: Mapping[str, Any]) -> None:
        self.file_name = file_name
        self.max_age = max_age
        self.fingerprint = dict(fingerprint)

    @property
    def path(self) -> Path:
        return get_openhcs_cache_dir() / self.file_name

    def load(self) -> dict[str, Any] | None:
        if settings.cache_disabled():
            return None
        path = self.path
        try:
            doc = _fileio.read_document(path)
        except _fileio.StaleFormat as exc:
            logger.info("enum cache %s is stale (%s); rebuilding", path, exc)
            return None
        except (_fileio.UnsafeCacheFile, ValueError) as exc:
            _fileio.warn_once(str(path), "enum cache %s ignored and rebuilt: %s", path, exc)
            return None
        if doc is None:
            return None
        ts = doc.get("timestamp")
        if (
            doc.get("cache_version") != ENUM_CACHE_VERSION
            or doc.get("version") != __version__
            or isinstance(ts, bool)
            or not isinstance(ts, (int, float))
        ):
            logger.info("enum cache %s: other format or version; rebuilding", path)
            return None
        age = time.time() - ts
        if age > self.max_age or age < -300:
            logger.info("enum cache %s: too old; rebuilding", path)
            return None
        if doc.get("fingerprint") != self.fingerprint:
            logger.info("enum cache %s: environment or configuration changed; rebuilding", path)
            return None
        items = doc.get("items")
        if not isinstance(items, dict):
            _fileio.warn_once(str(path), "enum cache %s is corrupt (items); rebuilding", path)
            return None
        return items

    def save(self, items: dict[str, Any]) -> bool:
        if settings.cache_disabled():
            return False
        doc = {
            "cache_version": ENUM_CACHE_VERSION,
            "version": __version__,
            "timestamp": time.time(),
            "fingerprint": self.fingerprint,
            "items": items,
        }
        return _fileio.write_document(self.path, doc)


def valid_members(members: object) -> dict[str, Any] | None:
    """*members* if it is ``{identifier: JSON scalar}`` with public names, else None."""
    if not isinstance(members, dict) or not members:
        return None
    for name, value in members.items():
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
            return None
        if not isinstance(value, _JSON_SCALARS):
            return None
    return members


def make_enum(
    name: str,
    members: Mapping[str, Any],
    *,
    module: str,
    qualname: str | None = None,
    namespace: Mapping[str, Any] | None = None,
) -> type[Enum]:
    """Build ``class <name>(Enum)`` with *members* and the methods/properties of *namespace*.

    The class is published as ``module.<qualname>`` so that it pickles by reference.
    """
    import enum

    qualname = qualname or name
    bases: tuple[type, ...] = (enum.Enum,)
    metacls = enum.EnumMeta
    classdict = metacls.__prepare__(name, bases)
    for member, value in members.items():
        classdict[member] = value
    for attr, value in (namespace or {}).items():
        classdict[attr] = value
    classdict["__module__"] = module
    classdict["__qualname__"] = qualname
    cls: Any = metacls(name, bases, classdict)
    target = sys.modules.get(module)
    if target is not None and "." not in qualname:
        setattr(target, qualname, cls)
    made: type[Enum] = cls
    return made


def cached_enum(
    name: str,
    build: Callable[[], Mapping[str, Any]],
    *,
    module: str,
    file_name: str | None,
    qualname: str | None = None,
    namespace: Mapping[str, Any] | None = None,
    fingerprint: Mapping[str, Any] | None = None,
    max_age: float = 7 * 24 * 3600.0,
    refresh: bool = False,
) -> type[Enum]:
    """The enum *name* with members from the cache file, or from ``build()`` (then cached).

    Created once per process for a given ``module.qualname``.  ``file_name=None`` keeps it
    out of the persistent cache; ``refresh=True`` rebuilds it now from ``build()`` without
    reading the file (and replaces the published class).
    """
    qualname = qualname or name
    key = (module, qualname)
    with _lock:
        if not refresh and key in _made:
            return _made[key]  # type: ignore[no-any-return]
        cache = EnumCacheFile(file_name, max_age, fingerprint or {}) if file_name else None
        members = None
        if cache is not None and not refresh:
            items = cache.load()
            members = valid_members(items.get("members")) if items is not None else None
        if members is None:
            members = dict(build())
            if valid_members(members) is None:
                raise ValueError(f"enum {name}: members must be {{identifier: JSON scalar}}")
            if cache is not None and not refresh:
                cache.save({"members": members})
        cls = make_enum(name, members, module=module, qualname=qualname, namespace=namespace)
        _made[key] = cls
        return cls


def forget(module: str, qualname: str) -> None:
    """Drop the in-process memo of an enum (its next creation reads the cache or builds)."""
    with _lock:
        _made.pop((module, qualname), None)


# -- colormaps ----------------------------------------------------------------------------------
#: The colormaps every installation has; also the whole set of ``create_colormap_enum(lazy=True)``.
BASE_COLORMAPS: tuple[str, ...] = (
    "gray",
    "viridis",
    "magma",
    "inferno",
    "plasma",
    "red",
    "green",
    "blue",
    "cyan",
    "magenta",
    "yellow",
)


def sanitize_member_name(display_name: str) -> str:
    """``"Spectral_r"`` -> ``SPECTRAL_R``: spaces/dashes/dots to ``_``, ``CMAP_`` before a digit."""
    name = display_name
    for ch in " -.":
        name = name.replace(ch, "_")
    name = "".join(c if c.isalnum() or c == "_" else "_" for c in name).upper()
    name = name.lstrip("_") or "CMAP"
    if name[0].isdigit():
        name = "CMAP_" + name
    return name


def colormap_members(names: list[str]) -> dict[str, str]:
    """Member name -> display name; the first display name wins a sanitising collision."""
    members: dict[str, str] = {}
    for display in names:
        if not isinstance(display, str) or not display:
            continue
        members.setdefault(sanitize_member_name(display), display)
    return members


def _discover_colormaps() -> dict[str, str]:
    """Cold path: every ``provide_colormaps`` hookimpl (entry points, isolated)."""
    from openhcs_hookspecs.colormaps import COLORMAP_PROVIDERS_CONFIG

    from .discovery import run_discovery

    result = run_discovery(COLORMAP_PROVIDERS_CONFIG)
    names = [*BASE_COLORMAPS, *sorted(result.items)]
    return colormap_members(names)


def _colormap_fingerprint() -> dict[str, Any]:
    """Installing, upgrading or removing matplotlib, napari or a colormap plugin changes a
    ``sys.path`` folder's mtime, so the environment fingerprint covers "the set of available
    providers and their versions"; settings that change discovery are added."""
    from ._environment import environment_fingerprint

    return {"environment": environment_fingerprint(), "settings": settings.discovery_settings()}


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
    "__doc__": "Colormaps available here (napari, matplotlib, built-ins), by sanitised name.",
}


def create_colormap_enum(enable_cache: bool = True, lazy: bool = False) -> type[Enum]:
    """The colormap enum: ``ColormapEnum.VIRIDIS.value == "viridis"``.

    ``lazy=True``: the fixed base set, no discovery, no cache (``LazyColormapEnum``).
    ``enable_cache=False``: always discovered afresh (the cache file is neither read nor written).
    A warm call imports neither matplotlib nor napari nor pluggy.
    """
    if lazy:
        return cached_enum(
            "LazyColormapEnum",
            lambda: colormap_members(list(BASE_COLORMAPS)),
            module=__name__,
            file_name=None,
            namespace=_COLORMAP_NAMESPACE,
        )
    with _lock:
        if enable_cache and (__name__, "ColormapEnum") in _made:
            return _made[(__name__, "ColormapEnum")]  # type: ignore[no-any-return]
        return cached_enum(
            "ColormapEnum",
            _discover_colormaps,
            module=__name__,
            file_name=COLORMAP_CACHE_FILE,
            namespace=_COLORMAP_NAMESPACE,
            fingerprint=_colormap_fingerprint(),
            max_age=COLORMAP_MAX_AGE,
            refresh=not enable_cache,
        )


def __getattr__(name: str) -> Any:
    """``openhcs_registry.enums.ColormapEnum`` creates the enum on first use (unpickling)."""
    if name == "ColormapEnum":
        return create_colormap_enum()
    if name == "LazyColormapEnum":
        return create_colormap_enum(lazy=True)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
