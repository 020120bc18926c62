"""Foundation: discovery from each source, lazy mapping semantics, isolation of failures."""

from __future__ import annotations

import importlib
import logging
import sys
import threading

import pytest
from support import World, run_python

import openhcs_registry
from openhcs_registry import FailureKind


def kinds(registry: object) -> dict[str, str]:
    return {f.plugin: f.kind for f in registry.failures}  # type: ignore[attr-defined]


# -- sources ------------------------------------------------------------------------------------
def test_entry_point_from_installed_distribution(world: World) -> None:
    world.write_spec()
    world.install(
        "alpha-plugin", f"alpha_{world.tag}", world.plugin_source(("Alpha", "alpha")), version="2.3"
    )
    reg = world.registry()
    assert not reg.is_discovered
    assert sorted(reg) == ["alpha"]
    assert reg.is_discovered and reg.source == "fresh"
    assert reg["alpha"].__name__ == "Alpha"
    info = reg.info("alpha")
    assert info["distribution"] == "alpha-plugin"
    assert info["version"] == "2.3"
    assert info["origin"] == "entry_point"
    assert info["ref"] == f"alpha_{world.tag}:Alpha"


def test_discovery_package_scan_collects_concrete_keyed_subclasses(world: World) -> None:
    pkg = f"pkg_{world.tag}"
    world.write_spec(packages=(pkg,))
    world.write(
        f"{pkg}/__init__.py",
        f"from {world.spec} import Thing\nclass InInit(Thing):\n    kind = 'init'\n",
    )
    world.write(
        f"{pkg}/_private.py",
        f"from {world.spec} import Thing\nclass Priv(Thing):\n    kind = 'private'\n",
    )
    world.write(
        f"{pkg}/mixed.py",
        f"""
        import abc
        from {world.spec} import Thing
        class Abstract(Thing, abc.ABC):
            kind = 'abstract'
            @abc.abstractmethod
            def run(self): ...
        class Keyless(Thing):
            pass
        class Concrete(Thing):
            kind = 'concrete'
        """,
    )
    world.write(f"{pkg}/sub/__init__.py", "")
    world.write(
        f"{pkg}/sub/deep.py",
        f"from {world.spec} import Thing\nclass Deep(Thing):\n    kind = 'deep'\n",
    )
    reg = world.registry()
    assert sorted(reg) == ["concrete", "deep", "init", "private"]
    assert reg.info("deep")["origin"] in ("package", "import_time")
    skipped = {f.plugin: f.kind for f in reg.skipped}
    assert skipped[f"{pkg}.mixed.Abstract"] == FailureKind.ABSTRACT
    assert skipped[f"{pkg}.mixed.Keyless"] == FailureKind.MISSING_KEY
    assert reg.failures == []
    reg.reset()  # the warm replay explains the skipped classes too
    assert {f.plugin: f.kind for f in reg.skipped} == skipped and reg.source == "cache"


def test_non_recursive_package_scan_skips_subpackages(world: World) -> None:
    pkg = f"pkg_{world.tag}"
    world.write_spec(packages=(pkg,), recursive=False)
    world.write(f"{pkg}/__init__.py", "")
    world.write(
        f"{pkg}/top.py", f"from {world.spec} import Thing\nclass Top(Thing):\n    kind = 'top'\n"
    )
    world.write(f"{pkg}/sub/__init__.py", "")
    world.write(
        f"{pkg}/sub/deep.py",
        f"from {world.spec} import Thing\nclass Deep(Thing):\n    kind = 'deep'\n",
    )
    assert sorted(world.registry()) == ["top"]


def test_import_time_registration_is_overlaid_not_persisted(world: World) -> None:
    world.write_spec()
    world.install("alpha-plugin", f"alpha_{world.tag}", world.plugin_source(("Alpha", "alpha")))
    # an application module, not installed anywhere: importing it is the registration
    world.write(
        f"app_{world.tag}.py",
        f"from {world.spec} import Thing\nclass Mine(Thing):\n    kind = 'mine'\n",
    )
    reg = world.registry()
    importlib.import_module(f"app_{world.tag}")
    assert sorted(reg) == ["alpha", "mine"]
    assert reg.info("mine")["origin"] == "import_time"
    assert set(world.read_cache()["items"]) == {"alpha"}
    # classes defined after discovery show up too
    mod = importlib.import_module(world.spec)
    late = type("Late", (mod.Thing,), {"kind": "late", "__module__": "elsewhere"})
    assert "late" in reg and reg["late"] is late
    assert set(world.read_cache()["items"]) == {"alpha"}


def test_explicit_register_and_unregister(world: World) -> None:
    world.write_spec()
    world.install("alpha-plugin", f"alpha_{world.tag}", world.plugin_source(("Alpha", "alpha")))
    reg = world.registry()
    thing = importlib.import_module(world.spec).Thing

    class Runtime(thing):  # type: ignore[misc, valid-type]
        kind = None

    assert reg.register(Runtime, key="rt") == "rt"
    assert reg["rt"] is Runtime
    with pytest.raises(ValueError, match="already registered"):
        reg.register(Runtime, key="rt")
    with pytest.raises(TypeError):
        reg.register(int, key="bad")
    with pytest.raises(ValueError, match="no key"):
        reg.register(Runtime)
    assert "rt" not in world.read_cache()["items"]
    assert reg.unregister("rt") is Runtime
    assert "rt" not in reg
    with pytest.raises(KeyError):
        reg.unregister("rt")


def test_custom_discovery_function(world: World) -> None:
    world.write(
        f"custom_{world.tag}.py",
        f"""
        def find():
            from {world.spec} import Thing
            import custom_vals_{world.tag} as m
            return {{"named": m.Named}}
        """,
    )
    world.write(
        f"custom_vals_{world.tag}.py",
        f"from {world.spec} import Thing\nclass Named(Thing):\n    pass\n",
    )
    world.write_spec()
    # point the config at the function by rewriting the spec with discovery_function
    spec_path = world.site / f"{world.spec}.py"
    spec_path.write_text(
        spec_path.read_text().replace(
            "REGISTRY = LazyDiscoveryDict(CONFIG)",
            f"import custom_{world.tag} as _c\n"
            "CONFIG = CONFIG.replace(discovery_function=_c.find)\n"
            "REGISTRY = LazyDiscoveryDict(CONFIG)",
        )
    )
    importlib.invalidate_caches()
    reg = world.registry()
    assert list(reg) == ["named"]
    assert reg.info("named")["keyed"] is True


# -- markers ------------------------------------------------------------------------------------
def test_markers_are_understood_by_plain_pluggy() -> None:
    import pluggy

    from openhcs_registry import hookimpl, hookspec

    class Spec:
        @hookspec
        def ask(self, x: int) -> int: ...

    class Impl:
        @hookimpl(tryfirst=True)
        def ask(self, x: int) -> int:
            return x + 1

    pm = pluggy.PluginManager("openhcs")
    pm.add_hookspecs(Spec)
    pm.register(Impl())
    assert pm.hook.ask(x=1) == [2]
    assert pm.hook.ask.get_hookimpls()[0].tryfirst


def test_pluggys_own_marker_works_with_our_registry(world: World) -> None:
    world.write_spec()
    world.install(
        "pl-plugin",
        f"pl_{world.tag}",
        f"""
        import pluggy
        from {world.spec} import Thing
        class P(Thing):
            kind = "p"
        @pluggy.HookimplMarker("openhcs")
        def provide_things():
            return [P]
        """,
    )
    assert list(world.registry()) == ["p"]


def test_import_openhcs_registry_is_light() -> None:
    out = run_python(
        """
        import json, sys
        import openhcs_registry, openhcs_hookspecs
        from openhcs_hookspecs import MICROSCOPE_HANDLERS
        heavy = ["pluggy", "importlib.metadata", "openhcs_plugins", "platformdirs"]
        print(json.dumps([m for m in heavy if m in sys.modules]))
        """,
        env=dict(__import__("os").environ),
    )
    assert out == []


# -- mapping semantics -------------------------------------------------------------------------
READS = {
    "getitem": lambda r: r["alpha"],
    "get": lambda r: r.get("alpha"),
    "contains": lambda r: "alpha" in r,
    "len": len,
    "iter": list,
    "keys": lambda r: list(r.keys()),
    "values": lambda r: list(r.values()),
    "items": lambda r: list(r.items()),
    "copy": lambda r: r.copy(),
    "repr": repr,
    "eq": lambda r: r == {},
    "or": lambda r: r | {},
    "ror": lambda r: {} | r,
    "failures": lambda r: r.failures,
}


@pytest.mark.parametrize("name", sorted(READS))
def test_every_read_triggers_discovery(world: World, name: str) -> None:
    world.write_spec()
    world.install("alpha-plugin", f"alpha_{world.tag}", world.plugin_source(("Alpha", "alpha")))
    reg = world.registry()
    assert not reg.is_discovered
    READS[name](reg)
    assert reg.is_discovered


def test_mapping_results_are_complete(world: World) -> None:
    world.write_spec()
    world.install("ab-plugin", f"ab_{world.tag}", world.plugin_source(("A", "a"), ("B", "b")))
    reg = world.registry()
    mod = importlib.import_module(f"ab_{world.tag}")
    expected = {"a": mod.A, "b": mod.B}
    assert reg == expected and reg.copy() == expected
    assert (reg | {"c": 1}) == {**expected, "c": 1}
    assert ({"a": 0} | reg) == expected
    assert reg.get("zzz", 5) == 5
    with pytest.raises(KeyError):
        reg["zzz"]
    it = iter(reg)
    reg.register(type("C", (mod.Thing,), {"kind": "c"}))  # mutation during iteration: snapshot
    assert list(it) == ["a", "b"]
    assert "a" in repr(reg)


def test_reset_and_forced_discovery(world: World) -> None:
    world.write_spec()
    world.install("alpha-plugin", f"alpha_{world.tag}", world.plugin_source(("Alpha", "alpha")))
    reg = world.registry()
    assert list(reg) == ["alpha"]
    world.install("beta-plugin", f"beta_{world.tag}", world.plugin_source(("Beta", "beta")))
    assert list(reg) == ["alpha"]  # discovered state is kept until asked
    reg.reset()
    assert sorted(reg) == ["alpha", "beta"]  # cache invalidated by the install
    world.uninstall("beta-plugin")
    reg.discover(force=True)
    # Beta's module is still imported here, so it stays as an import-time registration of this
    # process only: the cache (what a fresh process sees) no longer has it.
    assert sorted(reg) == ["alpha", "beta"]
    assert reg.info("beta")["origin"] == "import_time"
    assert set(world.read_cache()["items"]) == {"alpha"}
    out = world.run(
        f"import json; from {world.spec} import REGISTRY; print(json.dumps(sorted(REGISTRY)))"
    )
    assert out == ["alpha"]


# -- failures ---------------------------------------------------------------------------------
def test_each_failure_kind_is_isolated_and_reported(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    import abc

    world.write_spec()
    t = world.tag
    world.install("good-plugin", f"good_{t}", world.plugin_source(("Good", "good")))
    world.install("importerr-plugin", f"importerr_{t}", "import not_installed_dependency_xyz\n")
    world.install(
        "raises-plugin",
        f"raises_{t}",
        world.plugin_source(
            extra="""
        @hookimpl
        def provide_things():
            raise RuntimeError("boom in hook")
        """,
            hook=False,
        ),
    )
    world.install(
        "garbage-plugin",
        f"garbage_{t}",
        """
        from openhcs_registry.markers import hookimpl
        @hookimpl
        def provide_things():
            return 42
        """,
    )
    world.install(
        "wrongtype-plugin",
        f"wrongtype_{t}",
        """
        from openhcs_registry.markers import hookimpl
        class NotAThing:
            kind = "nat"
        @hookimpl
        def provide_things():
            return [NotAThing]
        """,
    )
    world.install(
        "keyless-plugin",
        f"keyless_{t}",
        f"""
        from openhcs_registry.markers import hookimpl
        from {world.spec} import Thing
        class NoKey(Thing):
            pass
        @hookimpl
        def provide_things():
            return [NoKey]
        """,
    )
    world.install(
        "abstract-plugin",
        f"abstract_{t}",
        f"""
        import abc
        from openhcs_registry.markers import hookimpl
        from {world.spec} import Thing
        class Abs(Thing, abc.ABC):
            kind = "abs"
            @abc.abstractmethod
            def f(self): ...
        @hookimpl
        def provide_things():
            return [Abs]
        """,
    )
    world.install(
        "badsig-plugin",
        f"badsig_{t}",
        """
        from openhcs_registry.markers import hookimpl
        @hookimpl
        def provide_things(unknown_argument):
            return []
        """,
    )
    assert abc  # keep the import honest for readers: abstract classes come from abc
    with caplog.at_level(logging.WARNING, logger="openhcs_registry"):
        reg = world.registry()
        assert list(reg) == ["good"]
    got = kinds(reg)
    assert got == {
        f"importerr_{t}": FailureKind.IMPORT_ERROR,
        f"raises_{t}": FailureKind.HOOK_ERROR,
        f"garbage_{t}": FailureKind.BAD_RETURN,
        f"wrongtype_{t}": FailureKind.WRONG_TYPE,
        f"keyless_{t}": FailureKind.MISSING_KEY,
        f"abstract_{t}": FailureKind.ABSTRACT,
        f"badsig_{t}": FailureKind.INVALID_PLUGIN,
    }
    by_plugin = {f.plugin: f for f in reg.failures}
    imp = by_plugin[f"importerr_{t}"]
    assert imp.distribution == "importerr-plugin"
    assert imp.module == f"importerr_{t}"
    assert imp.missing_module == "not_installed_dependency_xyz"
    assert imp.location and imp.location.endswith(f"importerr_{t}.py:1")
    assert "boom in hook" in by_plugin[f"raises_{t}"].message
    text = caplog.text
    for plugin in got:
        assert plugin in text
    assert "importerr-plugin" in text and "not_installed_dependency_xyz" in text


def test_duplicate_keys_deterministic_winner_and_report(world: World) -> None:
    world.write_spec()
    world.install(
        "zeta-plugin", f"zeta_{world.tag}", world.plugin_source(("Zeta", "same")), ep_name="zeta"
    )
    world.install(
        "alpha-plugin",
        f"alpha_{world.tag}",
        world.plugin_source(("Alpha", "same")),
        ep_name="alpha",
    )
    reg = world.registry()
    assert reg["same"].__name__ == "Alpha"  # plugin names sort: alpha before zeta
    (failure,) = reg.failures
    assert failure.kind == FailureKind.DUPLICATE_KEY and failure.plugin == "zeta"
    assert "alpha" in failure.message


def test_tryfirst_wins_a_conflict(world: World) -> None:
    world.write_spec()
    world.install(
        "zeta-plugin",
        f"zeta_{world.tag}",
        world.plugin_source(
            ("Zeta", "same"),
            hook=False,
            extra="""
        @hookimpl(tryfirst=True)
        def provide_things():
            return [Zeta]
        """,
        ),
        ep_name="zeta",
    )
    world.install(
        "alpha-plugin",
        f"alpha_{world.tag}",
        world.plugin_source(("Alpha", "same")),
        ep_name="alpha",
    )
    assert world.registry()["same"].__name__ == "Zeta"


def test_inherited_key_subclass_is_reported_not_silently_overwriting(world: World) -> None:
    world.write_spec()
    world.install(
        "disk-plugin",
        f"disk_{world.tag}",
        world.plugin_source(
            ("DiskBackend", "disk"),
            extra="""
            class FancyDisk(DiskBackend):
                pass
            """,
        ),
    )
    reg = world.registry()
    assert reg["disk"].__name__ == "DiskBackend"
    # an entry point's hook is the authority for its own module: FancyDisk, which the hook
    # did not return, is a note (not a silent overwrite, and not a registry value)
    notes = [f for f in reg.skipped if f.kind == FailureKind.NOT_RETURNED]
    assert [n.plugin.rsplit(".", 1)[-1] for n in notes] == ["FancyDisk"]
    assert not [f for f in reg.failures if f.kind == FailureKind.DUPLICATE_KEY]


def test_inherited_key_subclass_in_a_discovery_package_is_a_reported_duplicate(
    world: World,
) -> None:
    pkg = f"pkg_{world.tag}"
    world.write_spec(packages=(pkg,))
    world.write(f"{pkg}/__init__.py", "")
    world.write(
        f"{pkg}/disk.py",
        f"from {world.spec} import Thing\n"
        "class DiskBackend(Thing):\n    kind = 'disk'\n"
        "class FancyDisk(DiskBackend):\n    pass\n",
    )
    reg = world.registry()
    assert reg["disk"].__name__ == "DiskBackend"
    dup = [f for f in reg.failures if f.kind == FailureKind.DUPLICATE_KEY]
    assert dup and "FancyDisk" in dup[0].message


def test_strict_mode_raises_and_failed_discovery_is_retried(world: World) -> None:
    world.write_spec(conflict_policy="strict")
    world.install("a-plugin", f"a_{world.tag}", world.plugin_source(("A", "same")))
    world.install(
        "b-plugin",
        f"b_{world.tag}",
        world.plugin_source(
            ("B", "b"),
            hook=False,
            extra="""
        CLAIM_SAME = True
        @hookimpl
        def provide_things():
            return {"same": B} if CLAIM_SAME else [B]
        """,
        ),
    )
    reg = world.registry()
    with pytest.raises(openhcs_registry.DuplicateKeyError):
        list(reg)
    assert not reg.is_discovered
    sys.modules[f"b_{world.tag}"].CLAIM_SAME = False  # the plugin is fixed
    assert sorted(reg) == ["b", "same"]


def test_gpu_plugins_skipped_in_no_gpu_mode(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    world.write_spec()
    world.install(
        "gpu-plugin",
        f"gpu_{world.tag}",
        world.plugin_source(
            ("Cpu", "cpu"),
            ("Gpu", "gpu"),
            extra="""
        Gpu.requires_gpu = True
        """,
        ),
    )
    reg = world.registry()
    assert sorted(reg) == ["cpu", "gpu"]
    monkeypatch.setenv("OPENHCS_SUBPROCESS_NO_GPU", "1")
    reg.reset()
    assert sorted(reg) == ["cpu"]
    assert [f.kind for f in reg.failures] == [FailureKind.SKIPPED]


def test_blocked_plugin(world: World) -> None:
    world.write_spec()
    world.install("a-plugin", f"a_{world.tag}", world.plugin_source(("A", "a")), ep_name="a")
    world.install("b-plugin", f"b_{world.tag}", world.plugin_source(("B", "b")), ep_name="b")
    reg = world.registry()
    reg.block("b")
    assert list(reg) == ["a"]
    assert [(f.plugin, f.kind) for f in reg.failures] == [("b", FailureKind.BLOCKED)]
    reg.unblock("b")
    assert sorted(reg) == ["a", "b"]


def test_unavailable_values_are_reported(world: World) -> None:
    world.write_spec()
    world.install(
        "opt-plugin",
        f"opt_{world.tag}",
        world.plugin_source(
            ("Here", "here"),
            hook=False,
            extra="""
        from openhcs_registry import Unavailable
        @hookimpl
        def provide_things():
            return [Here, Unavailable("gone", "needs the missing_lib_q package", missing_module="missing_lib_q")]
        """,
        ),
    )
    reg = world.registry()
    assert list(reg) == ["here"]
    (f,) = reg.failures
    assert (f.kind, f.key, f.missing_module) == (FailureKind.UNAVAILABLE, "gone", "missing_lib_q")


# -- secondary registries ----------------------------------------------------------------------
def test_secondary_registry_is_filled_and_triggers_primary(world: World) -> None:
    world.write_spec()
    world.install(
        "a-plugin",
        f"a_{world.tag}",
        world.plugin_source(
            ("A", "a"),
            ("B", "b"),
            extra=f"""
        class APartner:
            pass
        A.partner = "a_{world.tag}:APartner"
        """,
        ),
    )
    reg, partners = world.registry(), world.partners()
    assert not reg.is_discovered
    assert list(partners) == ["a"]
    assert reg.is_discovered
    assert partners["a"].__name__ == "APartner"
    assert "b" not in partners


# -- threads and processes --------------------------------------------------------------------
def test_32_threads_race_a_cold_registry(world: World) -> None:
    world.write_spec()
    world.install(
        "slow-plugin",
        f"slow_{world.tag}",
        world.plugin_source(
            ("A", "a"),
            ("B", "b"),
            hook=False,
            extra="""
        import time
        CALLS = []
        @hookimpl
        def provide_things():
            CALLS.append(1)
            time.sleep(0.2)
            return [A, B]
        """,
        ),
    )
    reg = world.registry()
    barrier = threading.Barrier(32)
    seen: list[object] = []
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            barrier.wait()
            seen.append(dict(reg.items()))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(32)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert not errors
    assert len(seen) == 32
    assert all(s == seen[0] for s in seen) and sorted(seen[0]) == ["a", "b"]  # type: ignore[call-overload]
    assert sys.modules[f"slow_{world.tag}"].CALLS == [1]


def test_plugin_reading_registry_from_another_thread_at_import_does_not_deadlock(
    world: World,
) -> None:
    world.write_spec()
    world.install("ok-plugin", f"ok_{world.tag}", world.plugin_source(("Ok", "ok")), ep_name="a_ok")
    world.install(
        "reader-plugin",
        f"reader_{world.tag}",
        world.plugin_source(
            ("R", "r"),
            extra=f"""
        import threading
        OUTCOME = []
        def _read():
            from {world.spec} import REGISTRY
            try:
                OUTCOME.append(sorted(REGISTRY))
            except Exception as exc:
                OUTCOME.append(type(exc).__name__)
        _t = threading.Thread(target=_read)
        _t.start()
        _t.join()
        """,
        ),
        ep_name="b_reader",
    )
    out = world.run(
        f"""
        import json
        from {world.spec} import REGISTRY
        keys = sorted(REGISTRY)
        import reader_{world.tag} as r
        print(json.dumps({{"keys": keys, "outcome": r.OUTCOME}}))
        """,
        timeout=60,
    )
    assert out["keys"] == ["ok", "r"]
    assert out["outcome"] == ["DiscoveryInProgressError"]


def test_same_thread_reentrant_read_is_an_error_not_a_half_dict(world: World) -> None:
    world.write_spec()
    world.install(
        "reader-plugin",
        f"reader_{world.tag}",
        world.plugin_source(
            ("R", "r"),
            extra=f"""
        OUTCOME = []
        from {world.spec} import REGISTRY
        try:
            OUTCOME.append(sorted(REGISTRY))
        except Exception as exc:
            OUTCOME.append(type(exc).__name__)
        """,
        ),
    )
    reg = world.registry()
    assert list(reg) == ["r"]
    assert sys.modules[f"reader_{world.tag}"].OUTCOME == ["DiscoveryInProgressError"]


def _spawned_keys() -> dict[str, list[str]]:
    import openhcs_hookspecs

    return {name: sorted(reg) for name, reg in openhcs_hookspecs.load_all().items()}


def _spawned_metadata_keys() -> tuple[bool, list[str]]:
    from openhcs_hookspecs import METADATA_HANDLERS, MICROSCOPE_HANDLERS

    keys = sorted(METADATA_HANDLERS)
    return MICROSCOPE_HANDLERS.is_discovered, keys


def test_spawned_subprocess_sees_every_registry() -> None:
    import multiprocessing

    import openhcs_hookspecs

    here = {name: sorted(reg) for name, reg in openhcs_hookspecs.load_all().items()}
    assert all(here.values())
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        there = pool.apply(_spawned_keys)
    assert there == here


def test_secondary_registry_triggers_primary_in_a_fresh_subprocess() -> None:
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        primary_discovered, keys = pool.apply(_spawned_metadata_keys)
    assert primary_discovered
    assert "imagexpress" in keys


def test_a_broken_plugin_is_reported_in_every_registry_but_warned_once(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from pathlib import Path

    first, second = World(Path(str(tmp_path)) / "one"), World(Path(str(tmp_path)) / "two")
    second.group = first.group  # two registries reading one entry-point group
    for w in (first, second):
        w.write_spec()
    first.activate(monkeypatch)
    monkeypatch.syspath_prepend(str(second.site))
    first.install(
        "broken-plugin", f"broken_{first.tag}", "raise RuntimeError('broken at import')\n"
    )
    with caplog.at_level(logging.WARNING, logger="openhcs_registry"):
        assert list(first.registry()) == [] and list(second.registry()) == []
    assert [f.kind for f in first.registry().failures] == [FailureKind.IMPORT_ERROR]
    assert [f.kind for f in second.registry().failures] == [FailureKind.IMPORT_ERROR]
    assert len([r for r in caplog.records if "broken at import" in r.getMessage()]) == 1


def test_warnings_reach_stderr_without_logging_configured(world: World) -> None:
    """The lazy logger drops nothing that logging's last-resort handler would print."""
    import subprocess

    world.write_spec()
    world.install("broken-plugin", f"broken_{world.tag}", "raise RuntimeError('kaput')\n")
    code = f"from {world.spec} import REGISTRY; import sys; print(sorted(REGISTRY)); print('logging' in sys.modules)"
    proc = subprocess.run(
        [sys.executable, "-c", code], env=world.env(), capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert "kaput" in proc.stderr and f"broken_{world.tag}" in proc.stderr
    assert "broken-plugin" in proc.stderr
    # a warm start with nothing to say never imports logging at all
    warm = subprocess.run(
        [sys.executable, "-c", code], env=world.env(), capture_output=True, text=True, timeout=60
    )
    assert warm.stdout.split("\n")[:2] == ["[]", "False"], warm.stderr


def test_fork_during_discovery_in_another_thread(world: World) -> None:
    """A child forked while a parent thread discovers runs its own discovery, never hangs."""
    world.write_spec()
    world.install(
        "slow-plugin",
        f"slow_{world.tag}",
        world.plugin_source(
            ("A", "a"),
            hook=False,
            extra="""
        import time
        @hookimpl
        def provide_things():
            time.sleep(1.0)
            return [A]
        """,
        ),
    )
    out = world.run(
        f"""
        import json, multiprocessing, threading, time
        from {world.spec} import REGISTRY

        def child(q):
            q.put(sorted(REGISTRY))

        t = threading.Thread(target=lambda: list(REGISTRY))
        t.start()
        time.sleep(0.3)  # the parent thread is now inside the slow hook
        ctx = multiprocessing.get_context("fork")
        q = ctx.Queue()
        p = ctx.Process(target=child, args=(q,))
        p.start()
        got = q.get(timeout=30)
        p.join(30)
        t.join()
        print(json.dumps([got, sorted(REGISTRY)]))
        """,
        timeout=90,
    )
    assert out == [["a"], ["a"]]


def test_requires_modules_reports_unavailable_once_on_every_road(world: World) -> None:
    pkg = f"pkg_{world.tag}"
    dep = f"optdep_{world.tag}"
    world.write_spec(packages=(pkg,))
    world.write(f"{pkg}/__init__.py", "")
    world.write(
        f"{pkg}/opt.py",
        f"from {world.spec} import Thing\nclass Opt(Thing):\n    kind = 'opt'\n    requires_modules = ({dep!r},)\n",
    )
    # the same class also offered by an entry-point hook
    world.install(
        "opt-plugin",
        f"optep_{world.tag}",
        f"""
        from openhcs_registry.markers import hookimpl
        @hookimpl
        def provide_things():
            from {pkg}.opt import Opt
            return [Opt]
        """,
    )
    reg = world.registry()
    assert list(reg) == []
    assert [(f.kind, f.key, f.missing_module) for f in reg.failures] == [
        (FailureKind.UNAVAILABLE, "opt", dep)
    ]
    world.write(f"{dep}.py", "")  # the optional dependency gets installed
    out = world.run(
        f"import json; from {world.spec} import REGISTRY; k = sorted(REGISTRY); print(json.dumps(k))"
    )
    assert out == ["opt"]


def test_add_plugin_object_for_this_process_only(world: World) -> None:
    world.write_spec()
    world.install("alpha-plugin", f"alpha_{world.tag}", world.plugin_source(("Alpha", "alpha")))
    reg = world.registry()
    assert list(reg) == ["alpha"]
    thing = importlib.import_module(world.spec).Thing

    class Extra:
        @openhcs_registry.hookimpl
        def provide_things(self):  # type: ignore[no-untyped-def]
            return {"extra": thing}

    name = reg.add_plugin(Extra(), "extra-plugin")
    assert sorted(reg) == ["alpha", "extra"] and reg.source == "fresh"
    assert set(world.read_cache()["items"]) == {"alpha"}
    with pytest.raises(ValueError, match="already added"):
        reg.add_plugin(Extra(), "extra-plugin")
    reg.remove_plugin(name)
    assert list(reg) == ["alpha"]


def test_disable_entry_points_switch(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    world.write_spec()
    world.install("alpha-plugin", f"alpha_{world.tag}", world.plugin_source(("Alpha", "alpha")))
    reg = world.registry()
    assert list(reg) == ["alpha"]
    monkeypatch.setenv("OPENHCS_DISABLE_ENTRY_POINTS", "1")
    reg.reset()
    # Alpha's module is imported already, so it stays as an import-time registration;
    # what matters is that discovery loaded no entry point and the cache changed key
    assert reg.info("alpha")["origin"] == "import_time"
    assert reg.plugins == []


def test_block_hides_an_already_imported_plugin(world: World) -> None:
    world.write_spec()
    world.install("a-plugin", f"a_{world.tag}", world.plugin_source(("A", "a")), ep_name="a")
    world.install("b-plugin", f"b_{world.tag}", world.plugin_source(("B", "b")), ep_name="b")
    reg = world.registry()
    assert sorted(reg) == ["a", "b"]  # b's module is imported now
    reg.block("b")
    assert list(reg) == ["a"]
    assert reg.recorded_modules >= {f"a_{world.tag}"}
    reg.reset()  # and from the cache written while blocked
    assert list(reg) == ["a"] and reg.source == "cache"


def test_one_absence_reported_once_across_roads(world: World) -> None:
    pkg = f"pkg_{world.tag}"
    dep = f"absent_{world.tag}"
    world.write_spec(packages=(pkg,))
    world.write(
        f"{pkg}/__init__.py",
        f"""
        from openhcs_registry import Unavailable, hookimpl
        @hookimpl
        def provide_things():
            return [Unavailable("opt", "needs {dep}", missing_module="{dep}")]
        """,
    )
    world.write(
        f"{pkg}/opt.py",
        f"from {world.spec} import Thing\nclass Opt(Thing):\n    kind = 'opt'\n    requires_modules = ({dep!r},)\n",
    )
    world.add_dist_info("pkg-plugin", "1.0", {"pkg": pkg})
    reg = world.registry()
    assert list(reg) == []
    assert [(f.kind, f.key) for f in reg.failures] == [(FailureKind.UNAVAILABLE, "opt")]


def test_importing_thread_reading_registry_while_discovery_imports_same_module(
    world: World,
) -> None:
    """Thread B imports M, whose body reads the registry; discovery (thread A) imports M too.

    B holds M's import lock and would wait for A, A waits for M's lock: B must get an error
    instead, and A's discovery must complete.
    """
    t = world.tag
    world.write(f"sync_{t}.py", "import threading\nB_IN_M = threading.Event()\n")
    world.write(
        f"mmod_{t}.py",
        f"""
        import sync_{t}
        sync_{t}.B_IN_M.set()
        from {world.spec} import REGISTRY
        SIZE = len(REGISTRY)
        """,
    )
    world.write(
        f"disc_{t}.py",
        f"""
        def find():
            import sync_{t}
            sync_{t}.B_IN_M.wait(10)
            import mmod_{t}
            from {world.spec} import Thing
            return {{"found": type("Found", (Thing,), {{}})}}
        """,
    )
    world.write_spec()
    spec_path = world.site / f"{world.spec}.py"
    spec_path.write_text(
        spec_path.read_text().replace(
            "REGISTRY = LazyDiscoveryDict(CONFIG)",
            f"import disc_{t} as _d\nCONFIG = CONFIG.replace(discovery_function=_d.find)\n"
            "REGISTRY = LazyDiscoveryDict(CONFIG)",
        )
    )
    out = world.run(
        f"""
        import json, threading
        from {world.spec} import REGISTRY
        got = {{}}
        def a():
            got["a"] = sorted(REGISTRY)
        def b():
            try:
                import mmod_{t}
                got["b"] = "imported"
            except Exception as exc:
                got["b"] = type(exc).__name__
        ta = threading.Thread(target=a); ta.start()
        tb = threading.Thread(target=b); tb.start()
        ta.join(30); tb.join(30)
        print(json.dumps([got.get("a"), got.get("b"), ta.is_alive() or tb.is_alive()]))
        """,
        timeout=60,
    )
    assert out == [["found"], "DiscoveryInProgressError", False]
