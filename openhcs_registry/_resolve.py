"""Value resolution: an entry known by its reference becomes its value on first read.

``registry[key]`` on an entry read from the cache (or reused by incremental rediscovery)
imports that one module, once per process (single flight per entry, :mod:`._flight`), checks
the value against the registry's contract (:func:`._rules.admit`, ``explicit``: type and
key), and memoises it on the entry.  A reference that no longer holds - its module fails at
import (``SystemExit`` included), it is not the file discovery recorded, or its value is no
longer valid - drops the cache and rediscovers instead of crashing the process.
"""

from __future__ import annotations

import os
import sys

from . import _refs  # small; every resolution needs it
from ._flight import wait_for
from ._log import get_logger
from ._rules import admit
from ._snapshot import UNRESOLVED

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ._lazy import LazyDiscoveryDict
    from ._snapshot import Entry

logger = get_logger("openhcs_registry")


class StaleReference(Exception):
    """A cached reference that no longer leads to a valid value."""


def resolve(registry: LazyDiscoveryDict[Any], entry: Entry, secondary: str | None) -> Any:
    """*entry*'s value, importing its reference once (other threads wait for that import)."""
    value = entry.value
    if value is not UNRESOLVED:
        return value
    flights = registry._flights
    while True:
        with flights.lock:
            if entry.value is not UNRESOLVED:
                return entry.value
            flight, owner = flights.begin(entry)
        if not owner:
            wait_for(flight, f"{registry.name}[{entry.key!r}]")
            if entry.value is not UNRESOLVED:
                return entry.value
            continue
        try:
            resolved = import_entry(registry, entry, secondary)
        except StaleReference as exc:
            flights.end(entry, flight, exc)
            return rediscover_for(registry, entry.key, secondary, str(exc))
        except BaseException as exc:
            flights.end(entry, flight, exc)
            raise
        with flights.lock:
            entry.value = resolved
            flights.end(entry, flight)
        return resolved


def import_entry(registry: LazyDiscoveryDict[Any], entry: Entry, secondary: str | None) -> Any:
    """Import *entry*'s reference; :class:`StaleReference` if it no longer holds."""
    state = registry._state
    ref = entry.ref
    assert ref is not None
    try:
        module, _ = _refs.parse(ref)
    except ValueError:
        raise StaleReference(f"{ref!r} is not a module:qualname reference") from None
    if state is None or module not in state.modules:
        raise StaleReference(f"{ref} points into a module discovery did not record")
    if module not in sys.modules:
        watched, recorded = state.recorded_file(module)
        if watched:
            origin = _origin_of(module)
            if (
                recorded is None
                or origin is None
                or not (
                    origin == recorded or origin.startswith(recorded + os.sep)  # inside a zip
                )
            ):
                # the document says the module is read from a watched file: the import
                # system must agree, or the reference goes nowhere near an import
                raise StaleReference(f"{ref}: {module!r} is not the module discovery recorded")
    logger.debug("registry %s: resolving %s -> %s", registry.name, entry.key, ref)
    try:
        value = _refs.resolve(ref)
    except BaseException as exc:  # SystemExit too: "sys.exit('no display')" at import
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise StaleReference(f"{ref} no longer resolves ({type(exc).__name__}: {exc})") from exc
    if secondary is None and not _valid(registry, entry, value):
        raise StaleReference(f"{ref} is not a valid {registry.name} value for {entry.key!r}")
    return value


def _valid(registry: LazyDiscoveryDict[Any], entry: Entry, value: Any) -> bool:
    """Whether *value* may still be *entry*'s: the contract's type, and the entry's key."""
    cfg = registry.config
    given = entry.key if entry.keyed else None
    if admit(cfg, value, given, explicit=True) is not None:
        return False
    if given is not None:
        return True
    try:
        return bool(cfg.key_of(value) == entry.key)
    except Exception:
        return False


def rediscover_for(
    registry: LazyDiscoveryDict[Any], key: str, secondary: str | None, reason: str
) -> Any:
    """Drop the cache, discover afresh, and read *key* again (KeyError if it is gone)."""
    name = registry.name
    registry._refuse(reason)
    if secondary is None:
        entry = registry._view().get(key)
        if entry is None:
            raise KeyError(
                f"{key!r} is no longer provided in registry {name!r} "
                "(its plugin changed since the cache was written)"
            )
        if entry.value is UNRESOLVED:
            raise KeyError(f"{key!r} in registry {name!r} cannot be resolved")
        return entry.value
    sec_entry = registry._secondary_view(secondary).get(key)
    if sec_entry is None:
        raise KeyError(f"{key!r} is no longer provided in registry {secondary!r}")
    return resolve(registry, sec_entry, secondary)


def _origin_of(module: str) -> str | None:
    """Where the import system would load *module* from (its parents are imported)."""
    from importlib.util import find_spec

    try:
        spec = find_spec(module)
    except BaseException as exc:  # a parent package failing at import, SystemExit too
        if isinstance(exc, KeyboardInterrupt):
            raise
        return None
    origin = getattr(spec, "origin", None)
    return os.path.abspath(origin) if isinstance(origin, str) else None
