"""``LazyDiscoveryDict`` and ``SecondaryRegistryDict``: registries that discover on first read.

The facade over the engine's parts, one concept per private module (as pluggy splits its
``PluginManager`` from hook calling):

* :mod:`._flight`: the one single-flight mechanism (its deadlock policy, its fork hook);
* :mod:`._loading`: where the snapshot comes from (the cache, or incremental discovery);
* :mod:`._snapshot`: the snapshot record the registry installs unchanged;
* :mod:`._overlay`: what this process adds (run-time values and plugins, blocks, classes
  noted at import time);
* :mod:`._resolve`: a cached reference becoming its value on first read.

Every read (``[]``, ``get``, ``in``, ``len``, iteration, ``keys/values/items``, ``copy``,
``repr``, ``==``, ``|``) goes through ``_view()``, which loads the cache or runs discovery
exactly once.  Discovery is single-flight: the first thread runs it *without* holding the
registry lock (plugin imports may touch the registry), other threads wait for the complete
result.  A thread that would wait on a discovery which is itself waiting on that thread (a
plugin reading the registry during its own import) gets :class:`DiscoveryInProgressError`
at once instead of a deadlock or a half-built mapping.
"""

from __future__ import annotations

import _thread
import sys
from collections.abc import Mapping
from types import GenericAlias

from . import _autoregister as autoregister
from . import _environment, _flight
from ._cache import RegistryCacheManager
from ._config import RegistryConfig
from ._diagnostics import PluginFailure
from ._flight import DiscoveryInProgressError, Flights, RegistryDiscoveryError
from ._loading import ensure, rediscover
from ._log import get_logger
from ._overlay import Overlay
from ._snapshot import UNRESOLVED

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from contextlib import AbstractContextManager
    from typing import Any, Generic, TypeVar

    from ._cold._plugin_manager import RegistryPluginManager
    from ._snapshot import Entry, Snapshot

    V = TypeVar("V")

    class _GenericMapping(Mapping[str, V], Generic[V]):
        """Typing view of the registries: read-only mappings of str to V."""

else:  # no ``typing`` at run time (~3 ms per process): subscripting just annotates
    V = "V"

    class _GenericMapping(Mapping):
        __slots__ = ()
        __class_getitem__ = classmethod(GenericAlias)


__all__ = [
    "DiscoveryInProgressError",
    "LazyDiscoveryDict",
    "RegistryDiscoveryError",
    "SecondaryRegistryDict",
    "get_registry",
    "registries",
]

logger = get_logger("openhcs_registry")

_catalogue: dict[str, LazyDiscoveryDict[Any]] = {}
_catalogue_lock = _thread.allocate_lock()


class _RegistryMapping(_GenericMapping[V]):
    """The read-only Mapping both registries share, over ``_view()`` and ``_value()``."""

    name: str

    def _view(self) -> dict[str, Entry]:
        raise NotImplementedError

    def _value(self, entry: Entry) -> Any:
        raise NotImplementedError

    def _key_error(self, key: object) -> KeyError:
        raise NotImplementedError

    def __getitem__(self, key: str) -> V:
        entry = self._view().get(key)
        if entry is None:
            raise self._key_error(key)
        value: V = self._value(entry)
        return value

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
        return self._value(entry)

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
        if other is self:
            return True
        if isinstance(other, Mapping):
            return self.copy() == (
                other.copy() if isinstance(other, _RegistryMapping) else dict(other)
            )
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

    def info(self, key: str) -> dict[str, Any]:
        """Where *key* came from (plugin, distribution, version, module, file, reference).

        ``distribution`` is the normalised name (PEP 503: lower case, each run of ``-_.``
        one ``-``), as pip compares names and as the installed metadata folder spells it:
        ``"openhcs-acme"`` for a project named ``OpenHCS_Acme`` (compare with
        ``packaging.utils.canonicalize_name``).  Does not import the value's module.
        """
        entry = self._view().get(key)
        if entry is None:
            raise KeyError(key)
        if entry.source == "cache" and not self._recorded(entry):
            # a document whose reference leaves the recorded modules (its checksum holds:
            # a deliberate edit) is refused here as on resolution: discovered afresh
            self._refuse(f"{entry.ref} points into a module discovery did not record")
            return self.info(key)
        return {"key": key, "source": entry.source, **entry.info}

    def _recorded(self, entry: Entry) -> bool:
        """Whether *entry*'s reference points into a module discovery recorded."""
        raise NotImplementedError

    def _refuse(self, reason: str) -> None:
        """Drop the cache read, saying *reason*, and discover afresh."""
        raise NotImplementedError

    def _shown(self) -> str:
        return ", ".join(f"{k!r}: {_short(e)}" for k, e in self._view().items())


class LazyDiscoveryDict(_RegistryMapping[V]):
    """A read-only mapping ``{key: plugin value}`` discovered (or replayed) on first read.

    Writes go through :meth:`register` / :meth:`unregister` and are overlaid on the
    discovered mapping in this process only.
    """

    def __init__(self, config: RegistryConfig) -> None:
        self.config = config
        self._flights = Flights()  # its lock guards everything below
        self._state: Snapshot | None = None
        self._view_cache: dict[str, Entry] | None = None
        self._overlay = Overlay(config)
        self._manager: RegistryCacheManager | None = None
        self._secondaries: dict[str, SecondaryRegistryDict[Any]] = {}
        # the module defining this registry, so that a pickle names it (see __reduce__)
        self._home = _caller_module()
        with _catalogue_lock:
            if config.name in _catalogue:
                logger.warning("registry %r defined twice; the later definition wins", config.name)
            _catalogue[config.name] = self
        autoregister.add_listener(config.name, self._on_noted)

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.config.name

    @property
    def cache(self) -> RegistryCacheManager:
        """The manager of this registry's cache file (a new one when the blocks change)."""
        blocked = self.blocked
        manager = self._manager
        if manager is None or manager.blocked != blocked:
            manager = self._manager = RegistryCacheManager(self.config, blocked)
        return manager

    # -- discovery (single flight, :mod:`._loading`) ------------------------------------------
    def _ensure(self) -> Snapshot:
        state = self._state
        return state if state is not None else ensure(self)

    def discover(self, force: bool = False) -> None:
        """Make sure the registry is discovered; ``force=True`` ignores and rewrites the cache."""
        if force:
            rediscover(self)
        else:
            self._ensure()

    def reset(self) -> None:
        """Forget what was discovered; the next read loads the cache or discovers again.

        It also ends the environment snapshot (see :mod:`._environment`), so that read takes
        a new look at installed distributions and plugin files.
        """
        _environment.forget()
        with self._flights.lock:
            self._state = None
            self._view_cache = None

    def clear_cache(self) -> bool:
        """Delete this registry's cache file (the in-memory state is kept)."""
        return self.cache.clear()

    # -- what was found ----------------------------------------------------------------------
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
        return frozenset(self._ensure().modules)

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

    # -- this process's additions (the overlay) ------------------------------------------------
    def _change(self, method: str, *args: Any, rediscover: bool = True) -> Any:
        """Call the overlay's *method* under the lock; the view (or the state) is stale."""
        with self._flights.lock:
            result = getattr(self._overlay, method)(*args)
            if rediscover:
                self._state = None
            self._view_cache = None
        return result

    def block(self, plugin_name: str) -> None:
        """Leave entry-point plugin *plugin_name* out of this registry from now on."""
        self._change("block", plugin_name)

    def unblock(self, plugin_name: str) -> None:
        self._change("unblock", plugin_name)

    @property
    def blocked(self) -> frozenset[str]:
        return frozenset(self._overlay.blocked)

    def add_plugin(self, plugin: Any, name: str | None = None) -> str:
        """Register a plugin object (module, class or instance with hookimpls) in this process.

        Its hook results join the registry at the next discovery (triggered now if the registry
        was already discovered); while any run-time plugin is present the registry neither
        reads nor writes its cache file.  Returns the plugin name.
        """
        added: str = self._change("add_plugin", plugin, name)
        return added

    def remove_plugin(self, name: str) -> None:
        """Undo :meth:`add_plugin`."""
        self._change("remove_plugin", name)

    def register(self, value: Any, key: str | None = None, *, override: bool = False) -> str:
        """Add *value* in this process only (never persisted); return its key.

        Raises ``ValueError`` if the key is missing, the value is of the wrong type, or the key
        is already registered at run time (pass ``override=True`` to replace). A run-time
        registration shadows a discovered value with the same key.
        """
        registered: str = self._change("register", value, key, override, rediscover=False)
        return registered

    def unregister(self, key: str) -> Any:
        """Remove a run-time registration (discovered values cannot be removed)."""
        value = self._change("unregister", key, rediscover=False)
        autoregister.forget(self.name, value)
        return value

    def isolated(self) -> AbstractContextManager[LazyDiscoveryDict[V]]:
        """``with registry.isolated():`` undo on exit what was done to the registry inside.

        Run-time registrations, blocks and run-time plugins are restored, classes noted at
        import time meanwhile are forgotten (and ones forgotten meanwhile noted again), and
        the registry is reset on entry and exit (the next read loads the cache or
        discovers).  For tests and tools; the pytest fixtures are built on it.
        """
        from ._overlay import isolated

        return isolated(self)

    @property
    def plugin_manager(self) -> RegistryPluginManager:
        """A real ``pluggy.PluginManager`` holding this registry's plugins (cold path).

        Its entry points, discovery-package modules and run-time plugins (blocked ones left
        out), for an application's own hooks: ``add_hookspecs`` then ``hook.<name>(...)``.
        Built on first use, kept until the blocked or run-time plugins change; see
        :mod:`openhcs_registry._cold._plugin_manager`.
        """
        from ._cold._plugin_manager import plugin_manager_for

        with self._flights.lock:
            extra = dict(self._overlay.extra_plugins)
        return plugin_manager_for(self, extra)

    def _on_noted(self, _obj: Any) -> None:
        self._view_cache = None

    # -- reads ---------------------------------------------------------------------------------
    def _view(self) -> dict[str, Entry]:
        view = self._view_cache
        if view is not None and self._state is not None:
            return view
        state = self._ensure()
        with self._flights.lock:
            if self._view_cache is not None and self._state is state:
                return self._view_cache
            view = self._view_cache = self._overlay.view(state)
            return view

    def _value(self, entry: Entry) -> Any:
        value = entry.value
        if value is not UNRESOLVED:  # (resolved: as resolve() answers it first)
            return value
        from ._resolve import resolve  # (a listing resolves nothing: not imported for it)

        return resolve(self, entry, None)

    def _recorded(self, entry: Entry) -> bool:
        return (entry.ref or "").partition(":")[0] in self._ensure().modules

    def _refuse(self, reason: str) -> None:
        from ._fileio import warn_once

        name = self.name
        warn_once(f"stale:{name}", "registry %s: cache dropped: %s; rediscovering", name, reason)
        self.cache.clear()
        self.discover(force=True)

    def _key_error(self, key: object, view: _RegistryMapping[Any] | None = None) -> KeyError:
        """A ``KeyError`` saying why *key* is absent (unavailable, blocked, skipped, ...)."""
        from ._diagnostics import key_error

        state = self._ensure()
        return key_error(
            self.name if view is None else view.name,
            key,
            [*state.failures, *state.skipped],
            sorted(self._view() if view is None else view._view()),
            autoregister.noted(self.name),
            self.config.key_of,
        )

    def reference(self, key: str) -> str | None:
        """The ``module:qualname`` of *key*'s value, or None for run-time values."""
        return self.info(key).get("ref")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} ({self.source}) {{{self._shown()}}}>"

    # -- secondaries ---------------------------------------------------------------------------
    def _secondary_view(self, name: str) -> dict[str, Entry]:
        state = self._ensure()
        return self._overlay.secondary_view(state, name, self._view())

    def secondary(self, name: str) -> SecondaryRegistryDict[Any]:
        """The secondary registry *name* derived from this one."""
        if not any(s.name == name for s in self.config.secondary_registries):
            raise KeyError(f"registry {self.name!r} has no secondary registry {name!r}")
        with self._flights.lock:
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


def _short(entry: Entry) -> str:
    if entry.value is not UNRESOLVED:
        return str(getattr(entry.value, "__qualname__", None) or repr(entry.value))
    return f"<ref {entry.ref}>"


class SecondaryRegistryDict(_RegistryMapping[V]):
    """A registry derived from a primary one; any read triggers the primary's discovery.

    This is what makes e.g. ``METADATA_HANDLERS`` work in a fresh subprocess or worker that
    never touched ``MICROSCOPE_HANDLERS``.  ``source``, ``failures`` and ``info()`` are the
    primary's (the secondary is part of its answer).
    """

    def __init__(self, primary: LazyDiscoveryDict[Any], name: str) -> None:
        self.primary = primary
        self.name = name

    def _view(self) -> dict[str, Entry]:
        return self.primary._secondary_view(self.name)

    def _value(self, entry: Entry) -> Any:
        value = entry.value
        if value is not UNRESOLVED:
            return value
        from ._resolve import resolve

        return resolve(self.primary, entry, self.name)

    def _recorded(self, entry: Entry) -> bool:
        return self.primary._recorded(entry)

    def _refuse(self, reason: str) -> None:
        self.primary._refuse(reason)

    def _key_error(self, key: object) -> KeyError:
        return self.primary._key_error(key, self)

    @property
    def source(self) -> str | None:
        """The primary's source (``"cache"``/``"fresh"``, None before discovery)."""
        return self.primary.source

    @property
    def failures(self) -> list[PluginFailure]:
        """The primary's failures (derivation failures included; triggers discovery)."""
        return self.primary.failures

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} of {self.primary.name} {{{self._shown()}}}>"

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
    """The catalogue's and the import-time notes' locks, fresh in a forked child.

    Registries' flights are reset by the one fork hook itself (:mod:`._flight`).
    """
    global _catalogue_lock
    _catalogue_lock = _thread.allocate_lock()
    autoregister._reinit_after_fork()


_flight.at_fork(_after_fork_in_child)


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
