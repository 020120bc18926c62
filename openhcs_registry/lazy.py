"""``LazyDiscoveryDict`` and ``SecondaryRegistryDict``: registries that discover on first read.

Every read (``[]``, ``get``, ``in``, ``len``, iteration, ``keys/values/items``, ``copy``,
``repr``, ``==``, ``|``) goes through :meth:`LazyDiscoveryDict._view`, which loads the cache or
runs discovery exactly once.  Discovery is single-flight: the first thread runs it *without*
holding the registry lock (plugin imports may touch the registry), other threads wait for the
complete result.  A thread that would wait on a discovery which is itself waiting on that
thread (a plugin reading the registry during its own import) gets
:class:`DiscoveryInProgressError` at once instead of a deadlock or a half-built mapping.

Values known from the cache are references until read: ``registry[key]`` imports that one
module, once, and a reference that no longer resolves drops the cache and rediscovers.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Mapping
from types import GenericAlias

from . import _environment, autoregister
from . import refs as _refs  # small; every resolution needs it
from ._log import get_logger
from .cache import CachedItem, CachedState, RegistryCacheManager
from .config import RegistryConfig
from .diagnostics import PluginFailure, note_reentry

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from contextlib import AbstractContextManager
    from typing import Any, Generic, TypeVar

    from .discovery import Candidate, DiscoveryResult
    from .plugin_manager import RegistryPluginManager

    V = TypeVar("V")

    class _GenericMapping(Mapping[str, V], Generic[V]):
        """Typing view of the registries: read-only mappings of str to V."""

else:  # no ``typing`` at run time (~3 ms per process): subscripting just annotates
    V = "V"

    class _GenericMapping(Mapping):
        __slots__ = ()
        __class_getitem__ = classmethod(GenericAlias)


logger = get_logger("openhcs_registry")

_MISSING: Any = object()

_catalogue: dict[str, LazyDiscoveryDict[Any]] = {}
_catalogue_lock = threading.Lock()


class DiscoveryInProgressError(RuntimeError):
    """A registry was read from inside its own discovery (re-entrant or waiting on itself)."""


class RegistryDiscoveryError(RuntimeError):
    """Discovery itself failed (not a plugin: those are skipped); retried on next access."""


class _Flight:
    """One in-progress computation that other threads can wait for."""

    __slots__ = ("done", "error", "thread")

    def __init__(self) -> None:
        self.thread = threading.get_ident()
        self.done = threading.Event()
        self.error: BaseException | None = None

    def wait(self, what: str) -> None:
        if self.thread == threading.get_ident():
            note_reentry()
            raise DiscoveryInProgressError(
                f"{what} was read while it is being discovered in this same thread "
                "(a plugin module reads the registry at import time?). Read it after "
                "the import completes, e.g. inside a function."
            )
        while not self.done.wait(0.05):
            blocker = _importing_module_held_by(self.thread)
            if blocker is not None:
                note_reentry()
                raise DiscoveryInProgressError(
                    f"{what} is being discovered by another thread that is importing "
                    f"{blocker!r}, and this thread runs code of that module: waiting would "
                    "deadlock. Read the registry after the import completes."
                )
            if _blocked_on_my_import(self.thread):
                note_reentry()
                raise DiscoveryInProgressError(
                    f"{what} is being discovered by another thread that waits to import a "
                    "module this thread is importing (its import reads the registry): "
                    "waiting would deadlock. Read the registry after the import completes."
                )
        if self.error is not None:
            raise RegistryDiscoveryError(f"{what}: discovery failed: {self.error}") from self.error


def _importing_module_held_by(thread_id: int) -> str | None:
    """Name of a module in this thread's stack that *thread_id* is importing right now."""
    frame = sys._getframe(1)
    seen: set[str] = set()
    while frame is not None:
        spec = frame.f_globals.get("__spec__")
        name = getattr(spec, "name", None)
        if name and name not in seen and getattr(spec, "_initializing", False):
            seen.add(name)
            if _import_lock_owner(name) in (thread_id, None):
                return str(name)
        frame = frame.f_back  # type: ignore[assignment]
    return None


def _blocked_on_my_import(thread_id: int) -> bool:
    """Whether *thread_id* waits for a module import lock that this thread holds.

    Uses the import system's own record of who waits on which lock (a lock per thread up to
    3.11, a list from 3.12); if that private record changes shape, this says False.
    """
    me = threading.get_ident()
    try:
        from importlib import _bootstrap

        waiting: Any = getattr(_bootstrap, "_blocking_on", None)
        entry = waiting.get(thread_id) if waiting is not None else None
        locks = entry if isinstance(entry, list) else [entry] if entry is not None else []
        return any(getattr(lock, "owner", None) == me for lock in locks)
    except Exception:
        return False


def _import_lock_owner(module: str) -> int | None:
    try:
        from importlib import _bootstrap

        locks: Any = getattr(_bootstrap, "_module_locks", {})
        ref = locks.get(module)
        lock = ref() if ref is not None else None
        owner = getattr(lock, "owner", None)
        return owner if isinstance(owner, int) else None
    except Exception:
        return None


class _Entry:
    """One key: a live value, or a cached reference resolved on first read."""

    __slots__ = ("_info", "flight", "key", "origin", "ref", "value")

    def __init__(self, key: str, value: Any, ref: str | None, info: Any, origin: str) -> None:
        self.key = key
        self.value = value
        self.ref = ref
        self._info = info  # a dict, or a CachedItem that assembles it on first use
        self.origin = origin  # "cache" | "fresh" | "runtime"
        self.flight: _Flight | None = None

    @property
    def info(self) -> dict[str, Any]:
        info = self._info
        if type(info) is not dict:
            info = self._info = info.info
        return info  # type: ignore[no-any-return]


class _State:
    """A complete, immutable-once-built answer of discovery or of the cache."""

    def __init__(
        self,
        source: str,
        entries: dict[str, _Entry],
        secondaries: dict[str, dict[str, _Entry]],
        failures: list[PluginFailure],
        modules: frozenset[str],
        plugins: list[dict[str, Any]] | CachedState,
        result: DiscoveryResult | None = None,
        cached: CachedState | None = None,
        skipped: list[PluginFailure] | None = None,
        blocked_modules: frozenset[str] = frozenset(),
    ) -> None:
        self.blocked_modules = blocked_modules
        self.skipped = skipped or []
        self.source = source
        self.entries = entries
        self.secondaries = secondaries
        self.failures = failures
        self.modules = modules
        self._plugins = plugins  # a cached state lists them only when asked
        self.result = result
        self.cached = cached

    @property
    def plugins(self) -> list[dict[str, Any]]:
        plugins = self._plugins
        return plugins.plugins if isinstance(plugins, CachedState) else plugins


def _entry_from_candidate(cand: Candidate) -> _Entry:
    from .discovery import _UNRESOLVED

    info = {"ref": cand.ref, **cand.provenance(), "keyed": cand.keyed}
    value = _MISSING if cand.value is _UNRESOLVED else cand.value
    return _Entry(cand.key, value, cand.ref, info, "fresh")


def _entry_from_cache(item: CachedItem) -> _Entry:
    return _Entry(item.key, _MISSING, item.ref, item, "cache")


def _only_volatile_reran(result: DiscoveryResult, previous: Any) -> bool:
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


class LazyDiscoveryDict(_GenericMapping[V]):
    """A read-only mapping ``{key: plugin value}`` discovered (or replayed) on first read.

    Writes go through :meth:`register` / :meth:`unregister` and are overlaid on the
    discovered mapping in this process only.
    """

    def __init__(self, config: RegistryConfig) -> None:
        self.config = config
        self._lock = threading.RLock()
        self._state: _State | None = None
        self._flight: _Flight | None = None
        self._view_cache: dict[str, _Entry] | None = None
        self._explicit: dict[str, _Entry] = {}
        self._blocked: set[str] = set()
        self._extra_plugins: dict[str, Any] = {}
        self._conflicts_warned: set[tuple[str, str]] = set()
        self._secondaries: dict[str, SecondaryRegistryDict[Any]] = {}
        # the module defining this registry, so that a pickle names it (see __reduce__)
        self._home = _caller_module()
        with _catalogue_lock:
            if config.name in _catalogue:
                logger.warning("registry %r defined twice; the later definition wins", config.name)
            _catalogue[config.name] = self
        autoregister.add_listener(config.name, self._on_noted)

    # -- identity ---------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.config.name

    @property
    def cache(self) -> RegistryCacheManager:
        return RegistryCacheManager(self.config, frozenset(self._blocked))

    # -- discovery --------------------------------------------------------------------------
    def _ensure(self) -> _State:
        state = self._state
        if state is not None:
            return state
        with self._lock:
            state = self._state
            if state is not None:
                return state
            flight = self._flight
            owner = flight is None
            if owner:
                flight = self._flight = _Flight()
        assert flight is not None
        if not owner:
            flight.wait(f"registry {self.name!r}")
            state = self._state
            if state is None:  # reset() raced us: go again
                return self._ensure()
            return state
        try:
            new_state = self._load_or_discover(force=False)
        except BaseException as exc:
            flight.error = exc
            with self._lock:
                self._flight = None
            flight.done.set()
            if isinstance(exc, Exception) and not isinstance(exc, ValueError):
                raise RegistryDiscoveryError(
                    f"registry {self.name!r}: discovery failed: {exc}"
                ) from exc
            raise
        with self._lock:
            self._state = new_state
            self._view_cache = None
            self._flight = None
        flight.done.set()
        return new_state

    def _load_or_discover(self, force: bool) -> _State:
        manager = self.cache
        extra = dict(self._extra_plugins)
        previous = None
        if not force and not extra:
            cached = manager.load()
            if cached is not None:
                return _State(
                    "cache",
                    {k: _entry_from_cache(i) for k, i in cached.items.items()},
                    {
                        n: {k: _entry_from_cache(i) for k, i in group.items()}
                        for n, group in cached.secondaries.items()
                    },
                    list(cached.failures),
                    cached.modules,
                    cached,
                    cached=cached,
                    skipped=list(cached.skipped),
                    blocked_modules=cached.blocked_modules,
                )
            previous = manager.previous
        from .discovery import run_discovery

        result = None
        if previous is not None:  # only some plugins changed: rediscover those
            try:
                result = run_discovery(
                    self.config,
                    frozenset(self._blocked),
                    extra,
                    reuse=previous.reusable(),
                    scanned=previous.scanned,
                )
            except Exception as exc:  # a document of a shape we did not foresee: start over
                logger.info(
                    "registry %s: incremental rediscovery failed (%s); discovering afresh",
                    self.name,
                    exc,
                )
        if result is None:
            result = run_discovery(self.config, frozenset(self._blocked), extra)
        if not extra and not _only_volatile_reran(result, previous):
            # a process with run-time plugins must not write what others would read; one
            # whose only rerun plugins are those called on every start has nothing new
            manager.save(result)
        return _State(
            "fresh",
            {k: _entry_from_candidate(c) for k, c in result.items.items()},
            {
                n: {k: _entry_from_candidate(c) for k, c in group.items()}
                for n, group in result.secondaries.items()
            },
            list(result.failures),
            frozenset(result.modules),
            list(result.plugins),
            result=result,
            skipped=list(result.skipped),
            blocked_modules=frozenset(result.blocked_modules),
        )

    def discover(self, force: bool = False) -> None:
        """Make sure the registry is discovered; ``force=True`` ignores and rewrites the cache."""
        if not force:
            self._ensure()
            return
        _environment.forget()
        with self._lock:
            flight = self._flight
        if flight is not None:
            flight.wait(f"registry {self.name!r}")
        new_state = self._load_or_discover(force=True)
        with self._lock:
            self._state = new_state
            self._view_cache = None

    def reset(self) -> None:
        """Forget what was discovered; the next read loads the cache or discovers again.

        It also ends the environment snapshot (see :mod:`._environment`), so that read takes
        a new look at installed distributions and plugin files.
        """
        _environment.forget()
        with self._lock:
            self._state = None
            self._view_cache = None

    def clear_cache(self) -> bool:
        """Delete this registry's cache file (the in-memory state is kept)."""
        return self.cache.clear()

    @property
    def is_discovered(self) -> bool:
        return self._state is not None

    @property
    def source(self) -> str | None:
        """``"cache"`` or ``"fresh"`` once discovered, else None (no discovery triggered)."""
        state = self._state
        return state.source if state is not None else None

    @property
    def failures(self) -> list[PluginFailure]:
        """Plugins and values left out of this registry, and why (triggers discovery)."""
        return list(self._ensure().failures)

    @property
    def recorded_modules(self) -> frozenset[str]:
        """Modules discovery recorded (plugin modules and the modules of their values).

        A reference read from a cache is only ever imported from one of these.
        """
        return self._ensure().modules

    @property
    def skipped(self) -> list[PluginFailure]:
        """Classes a discovery-package scan passed over on purpose (abstract, keyless).

        Not failures (nothing went wrong), but what ``openhcs-registry why`` needs to explain
        a class that is defined yet absent.
        """
        return list(self._ensure().skipped)

    @property
    def plugins(self) -> list[dict[str, Any]]:
        """The plugins whose hook ran (name, origin, module, distribution, version)."""
        return [dict(p) for p in self._ensure().plugins]

    # -- blocking and run-time registration -------------------------------------------------
    def block(self, plugin_name: str) -> None:
        """Leave entry-point plugin *plugin_name* out of this registry from now on."""
        with self._lock:
            self._blocked.add(plugin_name)
            self._state = None
            self._view_cache = None

    def unblock(self, plugin_name: str) -> None:
        with self._lock:
            self._blocked.discard(plugin_name)
            self._state = None
            self._view_cache = None

    def add_plugin(self, plugin: Any, name: str | None = None) -> str:
        """Register a plugin object (module, class or instance with hookimpls) in this process.

        Its hook results join the registry at the next discovery (triggered now if the registry
        was already discovered); while any run-time plugin is present the registry neither
        reads nor writes its cache file.  Returns the plugin name.
        """
        name = name or getattr(plugin, "__name__", None) or f"runtime-{id(plugin):x}"
        with self._lock:
            if name in self._extra_plugins:
                raise ValueError(f"registry {self.name!r}: plugin {name!r} already added")
            self._extra_plugins[name] = plugin
            self._state = None
            self._view_cache = None
        return name

    def remove_plugin(self, name: str) -> None:
        """Undo :meth:`add_plugin`."""
        with self._lock:
            if self._extra_plugins.pop(name, None) is None:
                raise KeyError(f"registry {self.name!r}: no run-time plugin {name!r}")
            self._state = None
            self._view_cache = None

    @property
    def blocked(self) -> frozenset[str]:
        return frozenset(self._blocked)

    @property
    def plugin_manager(self) -> RegistryPluginManager:
        """A real ``pluggy.PluginManager`` holding this registry's plugins (cold path).

        Its entry points, discovery-package modules and run-time plugins (blocked ones left
        out), for an application's own hooks: ``add_hookspecs`` then ``hook.<name>(...)``.
        Built on first use, kept until the blocked or run-time plugins change; see
        :mod:`openhcs_registry.plugin_manager`.
        """
        from .plugin_manager import plugin_manager_for

        with self._lock:
            extra = dict(self._extra_plugins)
        return plugin_manager_for(self, extra)

    def isolated(self) -> AbstractContextManager[LazyDiscoveryDict[V]]:
        """``with registry.isolated():`` undo on exit what was done to the registry inside.

        Run-time registrations, blocks and run-time plugins are restored, classes noted at
        import time meanwhile are forgotten (and ones forgotten meanwhile noted again), and
        the registry is reset on entry and exit (the next read loads the cache or
        discovers).  For tests and tools; the pytest fixtures are built on it.
        """
        from contextlib import contextmanager

        @contextmanager
        def scope() -> Iterator[LazyDiscoveryDict[V]]:
            with self._lock:
                saved = (dict(self._explicit), set(self._blocked), dict(self._extra_plugins))
            notes = autoregister.noted(self.name)
            self.reset()
            try:
                yield self
            finally:
                now = autoregister.noted(self.name)
                if [id(obj) for obj in now] != [id(obj) for obj in notes]:
                    # the same notes in the same order (the order ranks import-time classes)
                    for obj in now:
                        autoregister.forget(self.name, obj)
                    for obj in notes:
                        autoregister.note(self.name, obj)
                with self._lock:
                    self._explicit, self._blocked, self._extra_plugins = (
                        dict(saved[0]),
                        set(saved[1]),
                        dict(saved[2]),
                    )
                self.reset()

        return scope()

    def register(self, value: Any, key: str | None = None, *, override: bool = False) -> str:
        """Add *value* in this process only (never persisted); return its key.

        Raises ``ValueError`` if the key is missing, the value is of the wrong type, or the key
        is already registered at run time (pass ``override=True`` to replace). A run-time
        registration shadows a discovered value with the same key.
        """
        cfg = self.config
        if cfg.base_class is not None:
            ok = (isinstance(value, type) and issubclass(value, cfg.base_class)) or isinstance(
                value, cfg.base_class
            )
            if not ok:
                raise TypeError(
                    f"registry {self.name!r} holds {cfg.base_class.__qualname__} subclasses or "
                    f"instances, not {value!r}"
                )
        if key is None:
            key = cfg.key_of(value)
        if not isinstance(key, str) or not key:
            raise ValueError(f"registry {self.name!r}: {value!r} has no key; pass key=")
        with self._lock:
            if key in self._explicit and not override:
                raise ValueError(
                    f"registry {self.name!r}: key {key!r} already registered at run time; "
                    "pass override=True to replace it"
                )
            module = getattr(value, "__module__", None)
            info = {
                "plugin": "runtime",
                "origin": "runtime",
                "module": module,
                "distribution": None,
                "version": None,
                "file": None,
                "ref": None,
            }
            self._explicit[key] = _Entry(key, value, None, info, "runtime")
            self._view_cache = None
        return key

    def unregister(self, key: str) -> Any:
        """Remove a run-time registration (discovered values cannot be removed)."""
        with self._lock:
            entry = self._explicit.pop(key, None)
            self._view_cache = None
        if entry is None:
            raise KeyError(f"{key!r} was not registered at run time in {self.name!r}")
        autoregister.forget(self.name, entry.value)
        return entry.value

    def _on_noted(self, _obj: Any) -> None:
        self._view_cache = None

    # -- the merged view --------------------------------------------------------------------
    def _view(self) -> dict[str, _Entry]:
        view = self._view_cache
        if view is not None and self._state is not None:
            return view
        state = self._ensure()
        with self._lock:
            if self._view_cache is not None and self._state is state:
                return self._view_cache
            merged = dict(state.entries)
            blocked = state.blocked_modules
            for obj in autoregister.noted(self.name):
                module = getattr(obj, "__module__", None)
                if (
                    blocked
                    and isinstance(module, str)
                    and any(module == b or module.startswith(b + ".") for b in blocked)
                ):
                    continue  # a blocked plugin stays out even when its module is imported
                self._overlay_noted(merged, obj)
            merged.update(self._explicit)
            self._view_cache = merged
            return merged

    def _overlay_noted(self, merged: dict[str, _Entry], obj: Any) -> None:
        """Add a class noted at import time that discovery did not persist (run-time only).

        Ordered for the common case: most noted classes *are* the discovered or cached entry
        for their key, which two cheap checks settle before any filtering.
        """
        cfg = self.config
        try:
            key = cfg.key_of(obj)
        except Exception:
            return
        if not isinstance(key, str) or not key:
            return
        existing = merged.get(key)
        if existing is not None:
            if existing.value is obj:
                return
            if existing.value is _MISSING and existing.ref is not None:
                from .refs import reference_of

                if existing.ref == reference_of(obj):
                    return  # the cached entry for this very class, not yet resolved
        from ._rules import admit

        if not isinstance(obj, type) or admit(cfg, obj, key) is not None:
            return  # the rules discovery applies: a class it would refuse is not overlaid
        if existing is not None:
            label = f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', '?')}"
            if (key, label) not in self._conflicts_warned:
                self._conflicts_warned.add((key, label))
                logger.warning(
                    "registry %s: %s (registered at import time) also claims key %r, "
                    "which plugin %s already provides; it is ignored",
                    self.name,
                    label,
                    key,
                    existing.info.get("plugin"),
                )
            return
        info = {
            "plugin": f"import-time:{getattr(obj, '__module__', '?')}",
            "origin": "import_time",
            "module": getattr(obj, "__module__", None),
            "distribution": None,
            "version": None,
            "file": None,
            "ref": None,
        }
        merged[key] = _Entry(key, obj, None, info, "runtime")

    # -- resolution -------------------------------------------------------------------------
    def _resolve(self, entry: _Entry, secondary: str | None = None) -> Any:
        value = entry.value
        if value is not _MISSING:
            return value
        while True:
            with self._lock:
                if entry.value is not _MISSING:
                    return entry.value
                flight = entry.flight
                owner = flight is None
                if owner:
                    flight = entry.flight = _Flight()
            assert flight is not None
            if not owner:
                flight.wait(f"{self.name}[{entry.key!r}]")
                if entry.value is not _MISSING:
                    return entry.value
                continue
            try:
                resolved = self._import_entry(entry, secondary)
            except _StaleReference as exc:
                with self._lock:
                    entry.flight = None
                flight.error = exc
                flight.done.set()
                return self._rediscover_for(entry.key, secondary, str(exc))
            except BaseException as exc:
                with self._lock:
                    entry.flight = None
                flight.error = exc
                flight.done.set()
                raise
            with self._lock:
                entry.value = resolved
                entry.flight = None
            flight.done.set()
            return resolved

    def _import_entry(self, entry: _Entry, secondary: str | None) -> Any:
        state = self._state
        ref = entry.ref
        assert ref is not None
        try:
            module, _ = _refs.parse(ref)
        except ValueError:
            raise _StaleReference(f"{ref!r} is not a module:qualname reference") from None
        if state is None or module not in state.modules:
            raise _StaleReference(f"{ref} points into a module discovery did not record")
        cached, result = state.cached, state.result
        if module not in sys.modules and (
            cached is not None or (result is not None and module in result.module_files)
        ):
            recorded = (
                cached.file_of(module) if cached is not None else result.module_files[module]  # type: ignore[union-attr]
            )
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
                raise _StaleReference(f"{ref}: {module!r} is not the module discovery recorded")
        logger.debug("registry %s: resolving %s -> %s", self.name, entry.key, ref)
        try:
            value = _refs.resolve(ref)
        except BaseException as exc:  # SystemExit too: "sys.exit('no display')" at import
            if isinstance(exc, KeyboardInterrupt):
                raise
            raise _StaleReference(
                f"{ref} no longer resolves ({type(exc).__name__}: {exc})"
            ) from exc
        if secondary is None and not self._valid_value(entry, value):
            raise _StaleReference(f"{ref} is not a valid {self.name} value for {entry.key!r}")
        return value

    def _valid_value(self, entry: _Entry, value: Any) -> bool:
        cfg = self.config
        if cfg.base_class is not None:
            if isinstance(value, type):
                if not issubclass(value, cfg.base_class):
                    return False
            elif not isinstance(value, cfg.base_class):
                return False
        if entry.info.get("keyed"):
            return True
        try:
            return bool(cfg.key_of(value) == entry.key)
        except Exception:
            return False

    def _rediscover_for(self, key: str, secondary: str | None, reason: str) -> Any:
        from . import _fileio

        _fileio.warn_once(
            f"stale:{self.name}",
            "registry %s: cache dropped: %s; rediscovering",
            self.name,
            reason,
        )
        self.cache.clear()
        self.discover(force=True)
        if secondary is None:
            entry = self._view().get(key)
            if entry is None:
                raise KeyError(
                    f"{key!r} is no longer provided in registry {self.name!r} "
                    "(its plugin changed since the cache was written)"
                )
            if entry.value is _MISSING:
                raise KeyError(f"{key!r} in registry {self.name!r} cannot be resolved")
            return entry.value
        sec_entry = self._secondary_view(secondary).get(key)
        if sec_entry is None:
            raise KeyError(f"{key!r} is no longer provided in registry {secondary!r}")
        return self._resolve(sec_entry, secondary)

    # -- Mapping interface ------------------------------------------------------------------
    def __getitem__(self, key: str) -> V:
        entry = self._view().get(key)
        if entry is None:
            raise self._key_error(key)
        value: V = self._resolve(entry)
        return value

    def _key_error(self, key: object, view: Mapping[str, Any] | None = None) -> KeyError:
        """A ``KeyError`` saying why *key* is absent (unavailable, blocked, skipped, ...)."""
        from .diagnostics import key_error

        state = self._ensure()
        return key_error(
            self.name if view is None else getattr(view, "name", self.name),
            key,
            [*state.failures, *state.skipped],
            sorted(self._view() if view is None else view),
            autoregister.noted(self.name),
            self.config.key_of,
        )

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._view()))

    def __len__(self) -> int:
        return len(self._view())

    def __contains__(self, key: object) -> bool:
        return key in self._view()

    def get(self, key: str, default: Any = None) -> Any:
        entry = self._view().get(key)
        if entry is None:
            return default
        return self._resolve(entry)

    def copy(self) -> dict[str, V]:
        """A plain dict of every key and resolved value (imports every plugin module).

        A key whose cached value no longer resolves (its plugin fails here) is rediscovered
        away, and left out, as a fresh discovery would.
        """
        out: dict[str, V] = {}
        for key in list(self._view()):
            try:
                out[key] = self[key]
            except KeyError:
                if key in self._view():
                    raise
        return out

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LazyDiscoveryDict):
            return self is other or self.copy() == other.copy()
        if isinstance(other, Mapping):
            return self.copy() == dict(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __or__(self, other: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(other, Mapping):
            return NotImplemented
        return {**self.copy(), **other}

    def __ror__(self, other: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(other, Mapping):
            return NotImplemented
        return {**other, **self.copy()}

    def __repr__(self) -> str:
        view = self._view()
        shown = ", ".join(f"{k!r}: {_short(e)}" for k, e in view.items())
        return f"<{type(self).__name__} {self.name} ({self.source}) {{{shown}}}>"

    # -- provenance -------------------------------------------------------------------------
    def info(self, key: str) -> dict[str, Any]:
        """Where *key* came from (plugin, distribution, version, module, file, reference).

        Does not import the value's module.
        """
        entry = self._view().get(key)
        if entry is None:
            raise KeyError(key)
        return {"key": key, "source": entry.origin, **entry.info}

    def reference(self, key: str) -> str | None:
        """The ``module:qualname`` of *key*'s value, or None for run-time values."""
        return self.info(key).get("ref")

    # -- secondaries ------------------------------------------------------------------------
    def _secondary_view(self, name: str) -> dict[str, _Entry]:
        state = self._ensure()
        base = dict(state.secondaries.get(name, {}))
        sec = next(s for s in self.config.secondary_registries if s.name == name)
        for key, entry in self._view().items():
            if entry.origin != "runtime" or key in base:
                continue
            try:
                value = (
                    sec.derive(key, entry.value)
                    if sec.derive is not None
                    else getattr(entry.value, sec.attribute or "", None)
                )
            except Exception as exc:
                logger.warning("registry %s: cannot derive %s[%r]: %s", self.name, name, key, exc)
                continue
            if value is None:
                continue
            if isinstance(value, str):
                base[key] = _Entry(key, _MISSING, value, {"ref": value}, "runtime")
            else:
                base[key] = _Entry(key, value, None, {"ref": None}, "runtime")
        return base

    def secondary(self, name: str) -> SecondaryRegistryDict[Any]:
        """The secondary registry *name* derived from this one."""
        if not any(s.name == name for s in self.config.secondary_registries):
            raise KeyError(f"registry {self.name!r} has no secondary registry {name!r}")
        with self._lock:
            found = self._secondaries.get(name)
            if found is None:
                found = self._secondaries[name] = SecondaryRegistryDict(self, name)
        return found

    def __reduce__(self) -> tuple[Any, tuple[str, str | None]]:
        """Pickle by reference: the registry's name and the module that defines it.

        A registry is process state (locks, a discovered or cached answer): what another
        process needs is *its own* registry of that name, e.g. a pool worker given
        ``STORAGE_BACKENDS`` as an argument.
        """
        return (_registry_by_name, (self.name, self._home))


class _StaleReference(Exception):
    pass


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


def _short(entry: _Entry) -> str:
    if entry.value is not _MISSING:
        return str(getattr(entry.value, "__qualname__", None) or repr(entry.value))
    return f"<ref {entry.ref}>"


class SecondaryRegistryDict(_GenericMapping[V]):
    """A registry derived from a primary one; any read triggers the primary's discovery.

    This is what makes e.g. ``METADATA_HANDLERS`` work in a fresh subprocess or worker that
    never touched ``MICROSCOPE_HANDLERS``.
    """

    def __init__(self, primary: LazyDiscoveryDict[Any], name: str) -> None:
        self.primary = primary
        self.name = name

    def _view(self) -> dict[str, _Entry]:
        return self.primary._secondary_view(self.name)

    def __getitem__(self, key: str) -> V:
        entry = self._view().get(key)
        if entry is None:
            raise self.primary._key_error(key, self)
        value: V = self.primary._resolve(entry, self.name)
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._view()))

    def __len__(self) -> int:
        return len(self._view())

    def __contains__(self, key: object) -> bool:
        return key in self._view()

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self._view() else default

    def copy(self) -> dict[str, V]:
        return {key: self[key] for key in list(self._view())}

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self.copy() == dict(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __or__(self, other: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(other, Mapping):
            return NotImplemented
        return {**self.copy(), **other}

    def __ror__(self, other: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(other, Mapping):
            return NotImplemented
        return {**other, **self.copy()}

    def __repr__(self) -> str:
        shown = ", ".join(f"{k!r}: {_short(e)}" for k, e in self._view().items())
        return f"<{type(self).__name__} {self.name} of {self.primary.name} {{{shown}}}>"

    def info(self, key: str) -> dict[str, Any]:
        entry = self._view().get(key)
        if entry is None:
            raise KeyError(key)
        return {"key": key, "source": entry.origin, **entry.info}

    def __reduce__(self) -> tuple[Any, tuple[LazyDiscoveryDict[Any], str]]:
        """Pickle by reference, through the primary (see :meth:`LazyDiscoveryDict.__reduce__`)."""
        return (_secondary_by_name, (self.primary, self.name))


def _caller_module() -> str | None:
    """``__name__`` of the module that constructs a registry (skipping subclasses' frames)."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_name == "__init__":
        frame = frame.f_back  # type: ignore[assignment]
    name = frame.f_globals.get("__name__") if frame is not None else None
    return name if isinstance(name, str) and name != "__main__" else None


def _registry_by_name(name: str, home: str | None) -> LazyDiscoveryDict[Any]:
    """Unpickle a registry: this process's registry *name* (importing *home* if needed)."""
    with _catalogue_lock:
        found = _catalogue.get(name)
    if found is None and home is not None:
        import importlib

        importlib.import_module(home)
    return get_registry(name)


def _secondary_by_name(primary: LazyDiscoveryDict[Any], name: str) -> SecondaryRegistryDict[Any]:
    return primary.secondary(name)


def _after_fork_in_child() -> None:
    """Forget discoveries and resolutions that other threads were running at fork time.

    Their threads do not exist in the child, so their flights would never finish and locks
    they held would never be released: the child starts those over itself.
    """
    global _catalogue_lock
    _catalogue_lock = threading.Lock()
    for registry in list(_catalogue.values()):
        registry._lock = threading.RLock()
        if registry._flight is not None:
            registry._flight = None
        state = registry._state
        if state is not None:
            for group in (state.entries, *state.secondaries.values()):
                for entry in group.values():
                    entry.flight = None
    autoregister._reinit_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def get_registry(name: str) -> LazyDiscoveryDict[Any]:
    """The registry called *name* (its defining module must have been imported)."""
    with _catalogue_lock:
        try:
            return _catalogue[name]
        except KeyError:
            known = ", ".join(sorted(_catalogue)) or "none"
            raise KeyError(f"no registry named {name!r} (known: {known})") from None


def registries() -> dict[str, LazyDiscoveryDict[Any]]:
    """Every registry defined in this process so far, by name (no discovery triggered)."""
    with _catalogue_lock:
        return dict(sorted(_catalogue.items()))
