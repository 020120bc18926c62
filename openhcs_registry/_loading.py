"""Where a registry's snapshot comes from: the cache, or (incremental) discovery.

:func:`ensure` is a registry's discovery, single flight (:mod:`._flight`): the first thread
runs :func:`load_or_discover` *without* the registry lock (plugin imports may read the
registry), other threads wait for the complete snapshot; a failed discovery is retried by
the next read.

:func:`load_or_discover` is what that flight runs: a valid cache
document is the answer as it is; a stale one whose header still holds gives the records of
the plugins whose own inputs are unchanged, and only the others are loaded again; anything
else discovers afresh.  A fresh answer is written for the next process unless this process
has run-time plugins (others would read what only this one has) or the only plugins called
again are those called on every start (nothing new to write).
"""

from __future__ import annotations

from . import _environment
from ._cache import CollectorHeld, RegistryCacheManager, env_section, environ_changed
from ._flight import RegistryDiscoveryError, wait_for
from ._log import get_logger

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ._cache import Previous
    from ._config import RegistryConfig
    from ._lazy import LazyDiscoveryDict
    from ._snapshot import Snapshot

logger = get_logger("openhcs_registry")

#: The flight key of a registry's discovery (entries are the keys of their resolutions).
DISCOVERY = "discovery"


def ensure(registry: LazyDiscoveryDict[Any]) -> Snapshot:
    """The registry's snapshot, loaded or discovered by the first reader (single flight)."""
    flights = registry._flights
    while True:
        with flights.lock:
            state = registry._state
            if state is not None:
                return state
            flight, owner = flights.begin(DISCOVERY)
            blocked, extra = registry.blocked, dict(registry._overlay.extra_plugins)
        if owner:
            break
        wait_for(flight, f"registry {registry.name!r}")
        state = registry._state
        if state is not None:
            return state  # else reset() raced us: go again
    try:
        new_state = load_or_discover(registry.config, blocked, extra, force=False)
    except BaseException as exc:
        flights.end(DISCOVERY, flight, exc)
        if isinstance(exc, Exception) and not isinstance(exc, ValueError):
            raise RegistryDiscoveryError(
                f"registry {registry.name!r}: discovery failed: {exc}"
            ) from exc
        raise
    with flights.lock:
        registry._state = new_state
        registry._view_cache = None
        flights.end(DISCOVERY, flight)
    return new_state


def rediscover(registry: LazyDiscoveryDict[Any]) -> None:
    """Discover now, ignoring and rewriting the cache (after a running discovery ends)."""
    _environment.forget()
    flights = registry._flights
    with flights.lock:
        flight = flights.running(DISCOVERY)
        blocked, extra = registry.blocked, dict(registry._overlay.extra_plugins)
    if flight is not None:
        wait_for(flight, f"registry {registry.name!r}")
    new_state = load_or_discover(registry.config, blocked, extra, force=True)
    with flights.lock:
        registry._state = new_state
        registry._view_cache = None


def load_or_discover(
    config: RegistryConfig, blocked: frozenset[str], extra: dict[str, Any], force: bool
) -> Snapshot:
    """The snapshot of *config*'s registry (*force*: ignore and rewrite the cache)."""
    manager = RegistryCacheManager(config, blocked)
    previous = None
    if not force and not extra:
        # The cyclic collector is held off from reading the document to installing an
        # incremental answer: what that builds (the parsed document, thousands of records,
        # candidates, the new document) is live, never garbage, so a collection would only
        # traverse it (held off piecewise, the collections deferred to the gaps still took
        # ~17 ms at 2000 plugins).  The previous document and the writer's material are
        # freed before it runs again; it is left as it was.  A full discovery keeps it
        # while plugin code runs (loads, hooks) and holds it off for its own work after.
        with CollectorHeld():
            cached = manager.load()
            if cached is not None:
                return cached
            previous = manager.previous
            manager.previous = None
            if previous is not None:  # only some plugins changed: rediscover those
                result = _incremental(manager, previous, extra)
                if result is not None:
                    previous = None  # freed now, by reference count
                    return result.written()
    from ._cold._discovery import run_discovery

    result = run_discovery(config, blocked, extra)
    with CollectorHeld():
        if not extra and not _only_volatile_reran(result, previous):
            # a process with run-time plugins must not write what others would read; one
            # whose only rerun plugins are those called on every start has nothing new
            manager.save(result)
        return result.written()


def _incremental(
    manager: RegistryCacheManager, previous: Previous, extra: dict[str, Any]
) -> Snapshot | None:
    """Rediscover the changed plugins, reuse the other records, write the document.

    When only recorded files changed, the plugins reading them are called again first
    (:func:`._cold._unchanged.answer_unchanged`): if they offer and read what they did, the
    previous answer is rewritten with the new stats and installed, no record built for the
    others (amended if only their offers changed, their records replaced in place if what
    they read changed); else what ran is handed to the discovery here.  When more changed, new entry
    points are loaded and called first (:func:`._cold._extended.answer_extended`): if
    nothing else changed and their offers meet no recorded key, the previous answer
    extended by theirs is written and installed, likewise.  If that declines before
    loading anything, an upgrade (every entry point declared as before but for versions)
    calls the upgraded plugins and those whose files changed again, as after an edit; and
    an uninstall that only removed plugins writes the previous answer less theirs
    (:func:`._cold._reduced.answer_reduced`), loading nothing.
    None if the previous document is of a shape not foreseen (then discover afresh).

    Those paths carry the previous document's variable rows.  When a variable plugins read
    has another value and nothing else changed but recorded files, the edit's path calls
    again the plugins whose records name it, with those whose files changed; else none is
    taken, and the discovery here calls them again (:func:`._cold._reuse.
    reusable_records`).
    """
    from ._cold._discovery import run_discovery

    config = manager.config
    rerun = None
    try:
        moved = environ_changed(env_section(previous.warm).get("environ"))
    except Exception:  # (a shape not foreseen: the discovery below judges)
        moved = ["?"]
    if extra or not set(moved) <= set(previous.memo.get("variables", ())):
        pass  # (a variable changed that the check did not hand on: the discovery judges)
    elif previous.files_only:
        # only recorded files changed: if the plugins reading them offer what they did,
        # the answer is the previous one (its stats rewritten), with no record built
        from ._cold._unchanged import answer_unchanged

        rerun = answer_unchanged(manager, previous)
    else:
        # more changed (an install moves a sys.path folder): if it only added plugins
        # whose offers meet nothing recorded, the answer is the previous one extended;
        # if it declined before loading anything and the entry points are declared as
        # before but for versions (an upgrade), the answer may be the previous one
        from ._cold._extended import answer_extended

        rerun = answer_extended(manager, previous)
        if rerun is None:
            from ._cold._unchanged import answer_unchanged

            rerun = answer_unchanged(manager, previous)
        if rerun is None:
            # nothing loaded yet: if plugins were only removed, the answer less theirs
            from ._cold._reduced import answer_reduced

            rerun = answer_reduced(manager, previous)
    if rerun is not None and rerun.snapshot is not None:
        return rerun.snapshot
    try:
        result = run_discovery(
            config,
            manager.blocked,
            extra,
            reuse=previous.reusable(),
            scanned=previous.scanned,
            rerun=rerun,
        )
    except Exception as exc:  # a document of a shape we did not foresee: start over
        logger.info(
            "registry %s: incremental rediscovery failed (%s); discovering afresh",
            config.name,
            exc,
        )
        return None
    if not extra and not _only_volatile_reran(result, previous):
        # a process with run-time plugins must not write what others would read; one
        # whose only rerun plugins are those called on every start has nothing new; the
        # variables the reused records' plugins read (checked at this start) are kept
        manager.save(result, env_section(previous.warm).get("environ"))
    return result


def _only_volatile_reran(result: Snapshot, previous: Previous | None) -> bool:
    """Whether an incremental run re-called only the plugins called on every start."""
    if previous is None or not result.cacheable:
        return False
    volatile = set(result.volatile)
    for name, record in result.records.items():
        if name in result.reused or name in volatile or name.startswith(("import-time:", "<")):
            continue
        if record.failures and all(f.kind == "blocked" for f in record.failures):
            continue  # blocked by name: never loaded, nothing new
        return False
    return bool(volatile)
