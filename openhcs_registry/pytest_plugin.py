"""pytest fixtures for plugin authors (loaded automatically through the ``pytest11`` entry point).

Every fixture name starts with ``openhcs_``.  This module is imported into every pytest run of
everyone who installs openhcs-registry, so it imports nothing at import time beyond pytest.

- ``openhcs_cache_dir``: a private cache folder for the test (``OPENHCS_CACHE_DIR``).
- ``openhcs_fresh_registries``: every registry reset before and after the test, and every
  run-time registration, block, run-time plugin and import-time note made during it undone.
- ``openhcs_register(registry, value, key=None)``: add a class/instance, or a plugin object
  with hookimpls, to a registry for this test only.
- ``openhcs_no_entry_points``: discovery loads no entry point during the test.
- ``openhcs_block(registry, plugin_name)``: leave one entry-point plugin out for this test.
- ``openhcs_assert_not_imported(*modules)``: fail if any of the modules (or submodules) is
  imported — e.g. to prove a plugin module stays lazy.
- ``openhcs_run_in_subprocess(func, *args, **kwargs)``: run a module-level callable in a
  freshly *spawned* interpreter (OpenHCS's subprocess mode) and return its result.
- ``openhcs_cache_roundtrip(registry)``: discover cold, replay warm from the cache, assert
  both give the same keys and objects; returns the mapping.
"""

from __future__ import annotations

import sys

import pytest

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path
    from typing import Any


#: Seconds ``openhcs_run_in_subprocess`` waits for the spawned child.
SUBPROCESS_TIMEOUT = 300.0


def _all_registries() -> list[Any]:
    from openhcs_registry import lazy

    return list(lazy._catalogue.values())


@pytest.fixture
def openhcs_cache_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """A private, empty cache folder for this test; registries reset around it."""
    from openhcs_registry import _environment

    folder = tmp_path_factory.mktemp("openhcs-cache")
    monkeypatch.setenv("OPENHCS_CACHE_DIR", str(folder))
    _environment.forget()  # the test's first read takes its own look at the environment
    for registry in _all_registries():
        registry.reset()
    yield folder
    _environment.forget()
    for registry in _all_registries():
        registry.reset()


@pytest.fixture
def openhcs_fresh_registries(openhcs_cache_dir: Path) -> Iterator[dict[str, Any]]:
    """Registries as a fresh process would see them, restored after the test.

    Yields ``{name: registry}`` of the registries of every installed contracts package (the
    ``openhcs.contracts`` entry points; import more contract modules yourself, they are
    covered too).
    """
    from openhcs_registry import autoregister
    from openhcs_registry._contracts import import_contracts

    contracts = set(import_contracts())
    regs = {
        registry.name: registry
        for registry in _all_registries()
        if registry.config.hookspec.__module__ in contracts
    }
    saved = {}
    for registry in _all_registries():
        saved[registry.name] = (
            dict(registry._explicit),
            set(registry._blocked),
            dict(registry._extra_plugins),
        )
        registry.reset()
    with autoregister._lock:
        notes = {name: list(objs) for name, objs in autoregister._noted.items()}
    try:
        yield regs
    finally:
        with autoregister._lock:
            autoregister._noted.clear()
            autoregister._noted.update(notes)
        for registry in _all_registries():
            explicit, blocked, extra = saved.get(registry.name, ({}, set(), {}))
            with registry._lock:
                registry._explicit = explicit
                registry._blocked = blocked
                registry._extra_plugins = extra
            registry.reset()


def _is_plugin_object(value: Any) -> bool:
    from openhcs_registry.markers import PROJECT_NAME

    marker = PROJECT_NAME + "_impl"
    return any(hasattr(getattr(value, name, None), marker) for name in dir(value))


@pytest.fixture
def openhcs_register(openhcs_fresh_registries: dict[str, Any]) -> Callable[..., str]:
    """``register(registry, value, key=None) -> name``: for this test only.

    *value* is a plugin object (module, class or instance with hookimpls) — added like an
    entry-point plugin — or a registry value (class or instance) — added under its key.
    """

    def register(registry: Any, value: Any, key: str | None = None) -> str:
        if key is None and _is_plugin_object(value):
            return str(registry.add_plugin(value))
        return str(registry.register(value, key=key, override=True))

    return register


@pytest.fixture
def openhcs_no_entry_points(
    monkeypatch: pytest.MonkeyPatch, openhcs_fresh_registries: dict[str, Any]
) -> None:
    """No entry-point plugin is loaded by discovery during this test."""
    monkeypatch.setenv("OPENHCS_DISABLE_ENTRY_POINTS", "1")
    for registry in _all_registries():
        registry.reset()


@pytest.fixture
def openhcs_block(openhcs_fresh_registries: dict[str, Any]) -> Callable[[Any, str], None]:
    """``block(registry, plugin_name)``: leave that entry-point plugin out for this test only.

    Block before the plugin module is first imported in the test process: classes it defined
    when imported are noted at import time and stay visible in that process.
    """

    def block(registry: Any, plugin_name: str) -> None:
        registry.block(plugin_name)

    return block


@pytest.fixture
def openhcs_assert_not_imported() -> Callable[..., None]:
    """``check(*modules)``: fail if any module (or a submodule of it) has been imported."""

    def check(*modules: str) -> None:
        found = sorted(
            m for m in sys.modules for name in modules if m == name or m.startswith(name + ".")
        )
        if found:
            pytest.fail(f"imported, but should not be: {', '.join(found)}", pytrace=False)

    return check


@pytest.fixture
def openhcs_run_in_subprocess() -> Callable[..., Any]:
    """``run(func, *args, **kwargs)``: call *func* in a spawned interpreter, return its result.

    *func* must be importable by name (defined at module level), its arguments and result
    picklable; the child inherits the environment, including the test's cache folder.
    Exceptions raised in the child are raised again here; a child that takes longer than
    ``SUBPROCESS_TIMEOUT`` seconds fails with ``multiprocessing.TimeoutError``.
    """

    def run(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(1) as pool:
            # a bounded wait: a child stuck on a deadlock fails the test instead of hanging it
            return pool.apply_async(func, args, kwargs).get(timeout=SUBPROCESS_TIMEOUT)

    return run


@pytest.fixture
def openhcs_cache_roundtrip(openhcs_cache_dir: Path) -> Callable[[Any], dict[str, Any]]:
    """``roundtrip(registry) -> {key: value}``: cold discovery, then warm replay, compared."""

    def roundtrip(registry: Any) -> dict[str, Any]:
        registry.clear_cache()
        registry.reset()
        cold = dict(registry.items())
        assert registry.source == "fresh", "the cold read did not discover"
        registry.reset()
        keys = sorted(registry)
        assert registry.source == "cache", (
            f"registry {registry.name!r} was not replayed from its cache "
            f"(status: {registry.cache.info()})"
        )
        warm = {key: registry[key] for key in keys}
        assert keys == sorted(cold), f"keys differ: cold {sorted(cold)}, warm {keys}"
        assert warm == cold, "cached values differ from freshly discovered ones"
        return warm

    return roundtrip
