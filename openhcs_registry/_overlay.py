"""What one process adds to a registry's snapshot: the overlay.

Four things change a registry in this process only and are never persisted: values
registered at run time (``registry.register``), plugin objects added at run time
(``add_plugin``, which make the next discovery skip the cache), plugins blocked by name, and
classes noted at import time (``AutoRegistered``) that discovery did not persist.  The
:class:`Overlay` holds the first three and lays all four over a
:class:`~._snapshot.Snapshot` (:meth:`Overlay.view`); what may join is judged by the one
:func:`._rules.admit`, never by rules of its own.

The registry holds its lock around every call; this object has no lock and no cache.
"""

from __future__ import annotations

from . import _autoregister as autoregister
from ._log import get_logger
from ._snapshot import UNRESOLVED, Entry

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from contextlib import AbstractContextManager
    from typing import Any

    from ._config import RegistryConfig
    from ._lazy import LazyDiscoveryDict
    from ._snapshot import Info, Snapshot

logger = get_logger("openhcs_registry")


class Overlay:
    """Run-time registrations, run-time plugins and blocks of one registry in this process."""

    __slots__ = ("blocked", "config", "explicit", "extra_plugins", "warned")

    def __init__(self, config: RegistryConfig) -> None:
        self.config = config
        self.explicit: dict[str, Entry] = {}
        self.blocked: set[str] = set()
        self.extra_plugins: dict[str, Any] = {}
        self.warned: set[tuple[str, str]] = set()  # import-time conflicts already told

    # -- changes ------------------------------------------------------------------------------
    def register(self, value: Any, key: str | None, override: bool) -> str:
        """Add *value* under *key* (or its own key); the rules are :func:`._rules.admit`'s."""
        from ._diagnostics import FailureKind
        from ._rules import admit

        name = self.config.name
        refusal = admit(self.config, value, key, explicit=True)
        if refusal is not None:
            base = self.config.base_class
            if refusal.kind == FailureKind.WRONG_TYPE and base is not None:
                raise TypeError(
                    f"registry {name!r} holds {base.__qualname__} subclasses or "
                    f"instances, not {value!r}"
                )
            if refusal.kind == FailureKind.MISSING_KEY:
                raise ValueError(f"registry {name!r}: {value!r} has no key; pass key=")
            raise ValueError(f"registry {name!r}: {refusal.message}")
        if key is None:
            key = self.config.key_of(value)
        assert isinstance(key, str)
        if key in self.explicit and not override:
            raise ValueError(
                f"registry {name!r}: key {key!r} already registered at run time; "
                "pass override=True to replace it"
            )
        self.explicit[key] = Entry.live(key, value, _runtime_info("runtime", "runtime", value))
        return key

    def unregister(self, key: str) -> Any:
        entry = self.explicit.pop(key, None)
        if entry is None:
            raise KeyError(f"{key!r} was not registered at run time in {self.config.name!r}")
        return entry.value

    def block(self, plugin_name: str) -> None:
        self.blocked.add(plugin_name)

    def unblock(self, plugin_name: str) -> None:
        self.blocked.discard(plugin_name)

    def add_plugin(self, plugin: Any, name: str | None) -> str:
        name = name or getattr(plugin, "__name__", None) or f"runtime-{id(plugin):x}"
        if name in self.extra_plugins:
            raise ValueError(f"registry {self.config.name!r}: plugin {name!r} already added")
        self.extra_plugins[name] = plugin
        return name

    def remove_plugin(self, name: str) -> None:
        if self.extra_plugins.pop(name, None) is None:
            raise KeyError(f"registry {self.config.name!r}: no run-time plugin {name!r}")

    def save(self) -> tuple[dict[str, Entry], set[str], dict[str, Any]]:
        """What :meth:`restore` puts back (``registry.isolated()``)."""
        return dict(self.explicit), set(self.blocked), dict(self.extra_plugins)

    def restore(self, saved: tuple[dict[str, Entry], set[str], dict[str, Any]]) -> None:
        self.explicit, self.blocked, self.extra_plugins = (
            dict(saved[0]),
            set(saved[1]),
            dict(saved[2]),
        )

    # -- the merged view ---------------------------------------------------------------------
    def view(self, state: Snapshot) -> dict[str, Entry]:
        """The snapshot's items, then classes noted at import time, then run-time values."""
        merged = dict(state.items)
        for obj in autoregister.noted(self.config.name):
            self._overlay_noted(merged, obj, state)
        merged.update(self.explicit)
        return merged

    def _overlay_noted(self, merged: dict[str, Entry], obj: Any, state: Snapshot) -> None:
        """Add a class noted at import time that discovery did not persist (run-time only).

        Ordered for the common case: most noted classes *are* the discovered or cached entry
        for their key, or carry no key (a base class), which cheap checks settle before the
        blocked modules are read (a cached snapshot parses them on first use) or anything
        is judged.
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
            if existing.value is UNRESOLVED and existing.ref is not None:
                from ._refs import reference_of

                if existing.ref == reference_of(obj):
                    return  # the cached entry for this very class, not yet resolved
        module = getattr(obj, "__module__", None)
        blocked = state.blocked_modules
        if (
            blocked
            and isinstance(module, str)
            and any(module == b or module.startswith(b + ".") for b in blocked)
        ):
            return  # a blocked plugin stays out even when its module is imported
        from ._rules import admit  # (after the cheap checks: most noted classes stop there)

        if not isinstance(obj, type) or admit(cfg, obj, key) is not None:
            return  # the rules discovery applies: a class it would refuse is not overlaid
        if existing is not None:
            label = f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', '?')}"
            if (key, label) not in self.warned:
                self.warned.add((key, label))
                logger.warning(
                    "registry %s: %s (registered at import time) also claims key %r, "
                    "which plugin %s already provides; it is ignored",
                    cfg.name,
                    label,
                    key,
                    existing.info.get("plugin"),
                )
            return
        plugin = f"import-time:{getattr(obj, '__module__', '?')}"
        merged[key] = Entry.live(key, obj, _runtime_info(plugin, "import_time", obj))

    def secondary_view(
        self, state: Snapshot, name: str, view: dict[str, Entry]
    ) -> dict[str, Entry]:
        """Secondary *name*: the snapshot's, plus the derived entries of run-time values."""
        base = dict(state.secondaries.get(name, {}))
        sec = next(s for s in self.config.secondary_registries if s.name == name)
        for key, entry in view.items():
            if entry.source != "runtime" or key in base:
                continue
            from ._rules import derive

            try:
                value = derive(sec, key, entry.value)
            except Exception as exc:
                logger.warning(
                    "registry %s: cannot derive %s[%r]: %s", self.config.name, name, key, exc
                )
                continue
            if value is None:
                continue
            if isinstance(value, str):
                base[key] = Entry.live(key, UNRESOLVED, {"ref": value}, ref=value)
            else:
                base[key] = Entry.live(key, value, {"ref": None})
        return base


def isolated(registry: LazyDiscoveryDict[Any]) -> AbstractContextManager[Any]:
    """``registry.isolated()``: the overlay and the import-time notes restored on exit."""
    from contextlib import contextmanager

    @contextmanager
    def scope() -> Iterator[LazyDiscoveryDict[Any]]:
        name = registry.name
        saved = registry._change("save", rediscover=False)
        notes = autoregister.noted(name)
        registry.reset()
        try:
            yield registry
        finally:
            now = autoregister.noted(name)
            if [id(obj) for obj in now] != [id(obj) for obj in notes]:
                # the same notes in the same order (the order ranks import-time classes)
                for obj in now:
                    autoregister.forget(name, obj)
                for obj in notes:
                    autoregister.note(name, obj)
            registry._change("restore", saved, rediscover=False)
            registry.reset()

    return scope()


def _runtime_info(plugin: str, origin: Any, value: Any) -> Info:
    return {
        "plugin": plugin,
        "origin": origin,
        "module": getattr(value, "__module__", None),
        "distribution": None,
        "version": None,
        "file": None,
        "ref": None,
    }
