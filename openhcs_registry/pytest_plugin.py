"""pytest fixtures for plugin authors (loaded automatically through the ``pytest11`` entry point).

Every fixture name starts with ``openhcs_``.  This module is imported into every pytest run of
everyone who installs openhcs-registry, so it imports nothing at import time beyond pytest.

- ``openhcs_cache_dir``: a private cache folder for the test (``OPENHCS_CACHE_DIR``).
- ``openhcs_fresh_registries``: every registry reset before and after the test, and every
  run-time registration, block, run-time plugin and import-time note made during it undone.
- ``openhcs_register(registry, value, key=None)``: add a class/instance, or a plugin object
  with hookimpls, to a registry for this test only.
- ``openhcs_fresh_enums``: no enum made before the test is known during it (the next
  creation reads the test's cache folder or builds); restored after it.
- ``openhcs_no_entry_points``: discovery loads no entry point during the test.
- ``openhcs_block(registry, plugin_name)``: leave one entry-point plugin out for this test.
- ``openhcs_assert_not_imported(*modules)``: fail if any of the modules (or submodules) is
  imported — e.g. to prove a plugin module stays lazy.
- ``openhcs_run_in_subprocess(func, *args, **kwargs)``: run a module-level callable in a
  freshly *spawned* interpreter (OpenHCS's subprocess mode) and return its result.
- ``openhcs_cache_roundtrip(registry)``: discover cold, replay warm from the cache, assert
  both give the same keys and objects; returns the mapping.
- ``openhcs_assert_lazy(*modules, registries=None)``: in fresh interpreters, a warm listing
  reads the cache and imports none of *modules* (default: the plugin modules).
- ``openhcs_tmp_plugin``: a plugin written in the test with decorators
  (``@openhcs_tmp_plugin.hookimpl``, ``@openhcs_tmp_plugin.provides(REGISTRY)``).

Every fixture uses a private cache folder, and every fixture that changes a registry undoes
it (plugin modules first imported in the test included): results never depend on test order.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

#: Seconds ``openhcs_run_in_subprocess`` waits for the spawned child.
SUBPROCESS_TIMEOUT = 300.0


def _all_registries() -> list[Any]:
    from openhcs_registry import registries

    return list(registries().values())


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


class _Isolation:
    """Everything a test may do to the registries, undone: the fixtures' common ground.

    Each registry already defined is entered with :meth:`LazyDiscoveryDict.isolated`
    (run-time registrations, blocks, run-time plugins and import-time notes restored).
    A class noted at import time during the test came from a module imported during the
    test; forgetting the note but keeping the module would leave this process in a state no
    fresh process has (the module imported, its classes unknown), so such modules — and
    the other modules of their top-level package imported meanwhile — are dropped from
    ``sys.modules`` too: the next test that needs them imports them afresh.  Results then do
    not depend on the order tests run in.
    """

    def __init__(self) -> None:
        from contextlib import ExitStack

        from openhcs_registry import _autoregister as autoregister

        self.modules = set(sys.modules)
        self.registries = {r.name: r for r in _all_registries()}
        self.notes = {name: {id(o) for o in autoregister.noted(name)} for name in self.registries}
        self.stack = ExitStack()
        for registry in self.registries.values():
            self.stack.enter_context(registry.isolated())

    def close(self) -> None:
        from openhcs_registry import _autoregister as autoregister

        new_notes = []
        for registry in _all_registries():
            before = self.notes.get(registry.name, set())
            new_notes += [o for o in autoregister.noted(registry.name) if id(o) not in before]
        self.stack.close()
        for registry in _all_registries():
            if registry.name not in self.registries:  # defined during the test
                for obj in autoregister.noted(registry.name):
                    if getattr(obj, "__module__", None) not in self.modules:
                        autoregister.forget(registry.name, obj)
                registry.reset()
        tops = {
            str(module).split(".")[0]
            for module in (getattr(o, "__module__", None) for o in new_notes)
            if module and module not in self.modules
        }
        for name in [m for m in sys.modules if m not in self.modules]:
            if name.split(".")[0] in tops:
                del sys.modules[name]


@pytest.fixture
def openhcs_fresh_registries(openhcs_cache_dir: Path) -> Iterator[dict[str, Any]]:
    """Registries as a fresh process would see them, restored after the test.

    Yields ``{name: registry}`` of the registries of every installed contracts package (the
    ``openhcs.contracts`` entry points; import more contract modules yourself, they are
    covered too).  What the test did to any registry is undone (see
    :meth:`LazyDiscoveryDict.isolated`), and plugin modules first imported during the test
    are forgotten with the classes they registered, so that no later test depends on it.
    """
    from openhcs_registry._contracts import import_contracts

    contracts = set(import_contracts())
    regs = {
        registry.name: registry
        for registry in _all_registries()
        if registry.config.hookspec.__module__ in contracts
    }
    isolation = _Isolation()
    try:
        yield regs
    finally:
        isolation.close()


@pytest.fixture
def openhcs_fresh_enums(openhcs_cache_dir: Path) -> Iterator[None]:
    """Enums as a fresh process would make them, the process's own restored after the test.

    Every enum made so far through :func:`openhcs_registry.enums.cached_enum` (a contract's
    ``ColormapEnum`` included) is unknown during the test: the next access builds it from the
    test's registries, or reads it from the test's cache folder.  After the test, the enums
    made during it are forgotten and the earlier ones are back (see
    :func:`openhcs_registry.enums.isolated`).  A test that kept an enum class from before
    (``from openhcs_hookspecs.colormaps import ColormapEnum`` at module level) still holds
    that earlier class.
    """
    from openhcs_registry import enums

    with enums.isolated():
        yield


def _is_plugin_object(value: Any) -> bool:
    from openhcs_registry._markers import PROJECT_NAME

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
def openhcs_assert_not_imported(openhcs_cache_dir: Path) -> Callable[..., None]:
    """``check(*modules)``: fail if any module (or a submodule of it) has been imported.

    It looks at this process, so it proves laziness only until something here discovers;
    ``openhcs_assert_lazy`` proves it in fresh interpreters whatever this process did.
    """

    def check(*modules: str) -> None:
        found = sorted(
            m for m in sys.modules for name in modules if m == name or m.startswith(name + ".")
        )
        if found:
            pytest.fail(f"imported, but should not be: {', '.join(found)}", pytrace=False)

    return check


@pytest.fixture
def openhcs_run_in_subprocess(openhcs_cache_dir: Path) -> Callable[..., Any]:
    """``run(func, *args, **kwargs)``: call *func* in a spawned interpreter, return its result.

    *func* must be importable by name (defined at module level), its arguments and result
    picklable; the child inherits the environment, including the test's private cache
    folder.  Exceptions raised in the child are raised again here; a child that takes longer
    than ``SUBPROCESS_TIMEOUT`` seconds fails with ``multiprocessing.TimeoutError``.
    """

    def run(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(1) as pool:
            # a bounded wait: a child stuck on a deadlock fails the test instead of hanging it
            return pool.apply_async(func, args, kwargs).get(timeout=SUBPROCESS_TIMEOUT)

    return run


@pytest.fixture
def openhcs_cache_roundtrip(
    openhcs_fresh_registries: dict[str, Any],
) -> Callable[[Any], dict[str, Any]]:
    """``roundtrip(registry) -> {key: value}``: cold discovery, then warm replay, compared.

    The plugin modules the cold discovery imports (and the classes they register at import
    time) are forgotten after the test, like everything else ``openhcs_fresh_registries``
    undoes: a later test sees what it would see had this one not run.
    """

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


_LISTING = """
import importlib, json, sys
wanted = json.loads(sys.argv[1])
for module in wanted["contracts"]:
    importlib.import_module(module)
baseline = sorted(sys.modules)  # what the contracts themselves import
from openhcs_registry._lazy import registries
found = registries()
out = {}
for name in wanted["registries"]:
    reg = found[name]
    keys = sorted(reg)
    for key in keys:
        reg.info(key)
    secondaries = {s.name: sorted(reg.secondary(s.name)) for s in reg.config.secondary_registries}
    out[name] = {"source": reg.source, "keys": keys, "secondaries": secondaries,
                 "recorded": sorted(reg.recorded_modules)}
print(json.dumps({"registries": out, "modules": sorted(sys.modules), "baseline": baseline}))
"""


@pytest.fixture
def openhcs_assert_lazy(openhcs_cache_dir: Path) -> Callable[..., dict[str, Any]]:
    """``check(*modules, registries=None) -> report``: a warm listing imports none of *modules*.

    Proven in fresh interpreters, so it holds whatever this process has imported or
    discovered: one child discovers cold (writing the test's private cache), a second one
    lists every key, provenance and secondary from that cache; the check fails if the second
    did not read the cache, listed other keys than the cold one, or imported any of
    *modules* (or a submodule).  Without *modules*: every module discovery recorded (the
    plugin modules).  *registries* (registry objects) default to every registry defined in
    this process; the children import the modules that define them.
    """
    import json
    import os
    import subprocess

    def listing(payload: dict[str, Any]) -> dict[str, Any]:
        env = dict(os.environ)
        # the children see what this process sees (paths a test added included)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        proc = subprocess.run(
            [sys.executable, "-c", _LISTING, json.dumps(payload)],
            env=env,
            capture_output=True,
            text=True,
            timeout=SUBPROCESS_TIMEOUT,
        )
        if proc.returncode != 0:
            pytest.fail(f"the listing subprocess failed:\n{proc.stderr}", pytrace=False)
        result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
        return result

    def check(*modules: str, registries: Any = None) -> dict[str, Any]:
        from openhcs_registry._contracts import import_contracts

        chosen = list(registries) if registries is not None else _all_registries()
        contracts = set(import_contracts())
        for registry in chosen:
            for obj in (registry.config.hookspec, registry.config.base_class):
                module = getattr(obj, "__module__", None)
                if module and module != "__main__":
                    contracts.add(module)
        payload = {"contracts": sorted(contracts), "registries": [r.name for r in chosen]}
        cold = listing(payload)
        warm = listing(payload)
        # by default the plugin modules: what discovery recorded, less the contracts and what
        # they import themselves (a contract's helper module is no plugin)
        names = list(modules) or sorted(
            {m for data in cold["registries"].values() for m in data["recorded"]}
            - contracts
            - set(warm["baseline"])
        )
        problems = []
        for name, data in warm["registries"].items():
            if data["source"] != "cache":
                problems.append(f"registry {name!r} was not read from its cache ({data['source']})")
            before = cold["registries"][name]
            if (data["keys"], data["secondaries"]) != (before["keys"], before["secondaries"]):
                problems.append(f"registry {name!r}: warm keys differ from a cold discovery")
        imported = sorted(
            m for m in warm["modules"] for n in names if m == n or m.startswith(n + ".")
        )
        if imported:
            problems.append(f"a warm listing imported: {', '.join(imported)}")
        if problems:
            pytest.fail("; ".join(problems), pytrace=False)
        return {"checked": names, "registries": warm["registries"]}

    return check


class TmpPlugin:
    """A plugin written inside a test (npe2's ``tmp_plugin``, for openhcs registries).

    ``@plugin.hookimpl`` adds a hook implementation (``@plugin.hookimpl(tryfirst=True)``
    takes options); it joins every registry whose hook it implements, as an entry point's
    module would.  ``@plugin.provides(REGISTRY)`` makes a class one of the values the
    plugin's hook returns for that registry.  ``plugin.join(registry)`` adds it to any
    other registry (e.g. for hooks of your own, called through ``registry.plugin_manager``).
    Everything is undone after the test.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._provided: dict[str, list[Any]] = {}
        self._joined: dict[str, Any] = {}

    def join(self, registry: Any) -> None:
        if registry.name in self._joined:
            registry.reset()  # the plugin changed: the next read discovers again
            return
        registry.add_plugin(self, name=self.name)
        self._joined[registry.name] = registry

    def hookimpl(self, function: Any = None, **options: Any) -> Any:
        from openhcs_registry._markers import hookimpl

        def add(func: Any) -> Any:
            name = options.get("specname") or func.__name__
            if name in vars(self):
                raise ValueError(f"temporary plugin {self.name!r} already implements {name!r}")
            setattr(self, name, hookimpl(**options)(func))
            for registry in _all_registries():
                if registry.config.hook_name == name:
                    self.join(registry)
            return func

        return add(function) if function is not None else add

    def provides(self, registry: Any) -> Callable[[Any], Any]:
        from openhcs_registry._markers import hookimpl

        def add(cls: Any) -> Any:
            hook = registry.config.hook_name
            values = self._provided.setdefault(registry.name, [])
            if not values:
                if hook in vars(self):
                    raise ValueError(f"temporary plugin {self.name!r} already implements {hook!r}")

                def provide() -> list[Any]:
                    return list(values)

                provide.__name__ = hook
                setattr(self, hook, hookimpl(provide))
            values.append(cls)
            self.join(registry)
            return cls

        return add

    def __repr__(self) -> str:
        return f"<TmpPlugin {self.name}>"


@pytest.fixture
def openhcs_tmp_plugin(
    request: pytest.FixtureRequest, openhcs_fresh_registries: dict[str, Any]
) -> TmpPlugin:
    """A :class:`TmpPlugin` named after the test, gone after it."""
    import re

    return TmpPlugin("tmp-" + re.sub(r"\W+", "-", request.node.name).strip("-"))
