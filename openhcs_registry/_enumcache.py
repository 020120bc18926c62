"""The machinery behind :mod:`openhcs_registry.enums`: cache documents, class building, memo.

Kept apart from the public module so that module reads as the contract (what an enum is,
which enums exist) and this one as the mechanism.  Everything here is on the warm path, so it
imports only what the registry cache's reader imports (``_fileio``, ``paths``, ``settings``)
and the stdlib :mod:`enum` (on first use).
"""

from __future__ import annotations

import sys
import time
from itertools import repeat

from . import _fileio, settings
from ._flight import Flights, WouldDeadlock
from ._log import get_logger
from ._paths import cache_file
from ._version import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from enum import Enum
    from pathlib import Path
    from typing import Any

logger = get_logger("openhcs_registry.enums")

#: Bump when the enum document layout changes.  2: checksummed (CRC-32); 3: import-free
#: checksum (``_fileio.checksum``).
ENUM_CACHE_VERSION = 3
#: Seconds a document dated in the future is tolerated (clock adjustments, NFS skew).
CLOCK_SKEW = 300.0

_JSON_SCALARS = (str, int, float, bool, type(None))
_EXACT_SCALARS = frozenset(_JSON_SCALARS)


class EnumCacheFile:
    """One cached enum document: ``{cache_version, version, timestamp, fingerprint, items}``.

    *fingerprint* is whatever changes the members (an environment, a configuration); a
    document with another fingerprint, another format or library version, or older than
    *max_age* is a miss.  Corrupt or hostile documents are a miss with one warning (the reader
    is the registries' own: owner, mode, size and checksum checks; never pickle or eval).
    """

    def __init__(self, file_name: str, max_age: float, fingerprint: Mapping[str, Any]) -> None:
        if not file_name or "/" in file_name or "\\" in file_name or file_name.startswith("."):
            raise ValueError(f"enum cache file name {file_name!r} must be a plain file name")
        self.file_name = file_name
        self.max_age = float(max_age)
        self.fingerprint = dict(fingerprint)

    @property
    def path(self) -> Path:
        """The document's path (``pathlib`` imported on first use: see :attr:`file`)."""
        from pathlib import Path

        return Path(self.file)

    @property
    def file(self) -> str:
        """The document's path as a string: what loading and saving use."""
        return cache_file(self.file_name)

    def load(self) -> dict[str, Any] | None:
        """The document's ``items`` if it is valid for this fingerprint, else None."""
        if settings.cache_disabled():
            return None
        path = self.file
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
            logger.info("enum cache %s: other format or library version; rebuilding", path)
            return None
        age = time.time() - ts
        if not -CLOCK_SKEW <= age <= self.max_age:
            logger.info("enum cache %s: too old (or dated in the future); rebuilding", path)
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
        """Write the document (atomic, 0600); False when caching is off or impossible."""
        if settings.cache_disabled():
            return False
        doc = {
            "cache_version": ENUM_CACHE_VERSION,
            "version": __version__,
            "timestamp": time.time(),
            "fingerprint": self.fingerprint,
            "items": items,
        }
        return _fileio.write_document(self.file, doc)


def valid_members(members: object) -> dict[str, Any] | None:
    """*members* if it is a non-empty ``{public identifier: JSON scalar}`` dict, else None.

    This is the whole trust boundary of a cached enum: a document can only name members and
    give them plain values; code (methods, properties) never comes from the file.
    """
    if not isinstance(members, dict) or not members:
        return None
    names = members.keys()
    # C-level loops (map) rather than one Python loop: ~180 colormaps on every warm start
    if not all(map(isinstance, names, repeat(str))) or not all(map(str.isidentifier, names)):
        return None
    if any(map(str.startswith, names, repeat("_"))) or "mro" in members:  # mro: type.mro
        return None
    values = members.values()
    if not set(map(type, values)) <= _EXACT_SCALARS and not all(  # rare: subclasses of them
        isinstance(value, _JSON_SCALARS) for value in values
    ):
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

    Behaviour is put in the class body (not patched on afterwards, as OpenHCS does), so
    special methods such as ``__eq__``/``__hash__`` are the class's own from the start and the
    ``__module__``/``__qualname__`` that pickling looks up are right before anyone sees it.

    On Python >= 3.11 the class is made by ``enum._simple_enum``, the standard library's own
    builder for the enums it creates at start-up (``re.RegexFlag``, ``http.HTTPStatus``...):
    about 2.5x faster than ``EnumMeta`` for the ~180 colormaps, and a warm start does little
    else.  Its input is checked first (:func:`valid_members` and no member/namespace clash),
    because it skips ``EnumMeta``'s checks; anything unexpected falls back to ``EnumMeta``,
    and a test compares both builders' classes feature by feature.
    """
    import enum

    qualname = qualname or name
    namespace = namespace or {}
    if _FAST and not (namespace.keys() & members.keys()):
        try:
            return _make_simple(enum, name, members, module, qualname, namespace)
        except Exception as exc:  # pragma: no cover - a future enum module we do not know
            logger.debug("enum %s: fast builder failed (%s); using EnumMeta", name, exc)
    return _make_with_metaclass(enum, name, members, module, qualname, namespace)


#: Whether :func:`make_enum` may use ``enum._simple_enum`` (tests switch it off to compare).
_FAST = True


def _make_simple(
    enum: Any,
    name: str,
    members: Mapping[str, Any],
    module: str,
    qualname: str,
    namespace: Mapping[str, Any],
) -> type[Enum]:
    simple = getattr(enum, "_simple_enum", None)
    if simple is None:  # Python 3.10
        raise LookupError("no enum._simple_enum")
    body: dict[str, Any] = dict(namespace)
    body.update(members)
    body["__module__"] = module
    plain = type(name, (), body)
    cls: Any = simple(enum.Enum)(plain)
    cls.__qualname__ = qualname
    made: type[Enum] = cls
    return made


def _make_with_metaclass(
    enum: Any,
    name: str,
    members: Mapping[str, Any],
    module: str,
    qualname: str,
    namespace: Mapping[str, Any],
) -> type[Enum]:
    bases: tuple[type, ...] = (enum.Enum,)
    metacls = enum.EnumMeta
    classdict = metacls.__prepare__(name, bases)
    for member, value in members.items():
        classdict[member] = value
    for attr, value in namespace.items():
        classdict[attr] = value
    classdict["__module__"] = module
    classdict["__qualname__"] = qualname
    cls: Any = metacls(name, bases, classdict)
    made: type[Enum] = cls
    return made


def publish(cls: type, module: str, qualname: str) -> None:
    """Make ``module.<qualname>`` the class, so members pickle by reference."""
    target = sys.modules.get(module)
    if target is not None and "." not in qualname and "<" not in qualname:
        setattr(target, qualname, cls)


def same_members(cls: type[Enum], members: Mapping[str, Any]) -> bool:
    """Whether *cls* has exactly *members* (names, values and order)."""
    have = [(m.name, m.value) for m in cls]
    return have == list(members.items())


# -- one class per (module, qualname) per process --------------------------------------------
class Memo:
    """The enums made in this process, created single-flight (:mod:`._flight`).

    The builder runs *without* the lock: building may import plugin modules, and such a module
    may itself ask for the enum at import time (OpenHCS's config module does).  Another thread
    waits for the running build, unless waiting could deadlock (the flight's one policy: the
    same thread re-entering, or the builder and the waiter each needing the other's import),
    in which case it builds on its own.  Either way the first class *published* wins and
    every caller gets that one object.
    """

    def __init__(self) -> None:
        self._flights = Flights()
        self.made: dict[tuple[str, str], type[Enum]] = {}

    def get(self, key: tuple[str, str]) -> type[Enum] | None:
        return self.made.get(key)

    def forget(self, key: tuple[str, str]) -> None:
        with self._flights.lock:
            self.made.pop(key, None)

    def create(
        self,
        key: tuple[str, str],
        build: Callable[[], type[Enum]],
        *,
        replace: Callable[[type[Enum], type[Enum]], bool] | None = None,
    ) -> type[Enum]:
        """The memoised class for *key*, or the one ``build()`` makes (then memoised).

        With *replace*, ``build()`` runs even when a class exists, and the new class replaces
        the old one only if ``replace(old, new)`` says so (``enable_cache=False``).
        """
        flights = self._flights
        while True:
            with flights.lock:
                current = self.made.get(key)
                if current is not None and replace is None:
                    return current
                flight, owner = flights.begin(key)
            if owner:
                break
            try:
                flight.wait()
            except WouldDeadlock:
                break  # build on our own; the first class published wins
            if replace is not None:
                break  # a forced rebuild is never satisfied by someone else's build
        try:
            cls = build()
        finally:
            if owner:
                flights.end(key, flight)
        with flights.lock:
            current = self.made.get(key)
            if current is None or (replace is not None and replace(current, cls)):
                self.made[key] = cls
                publish(cls, *key)
                return cls
            return current
