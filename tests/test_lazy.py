"""The registry facade (:mod:`openhcs_registry._lazy`): mapping semantics, run-time and import-time
additions, secondaries, threads and processes.

Real plugin worlds on disk (tests/support.py), real subprocesses; no mocks.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import threading

import pytest
from support import World

import openhcs_registry
from openhcs_registry import FailureKind, hookimpl
from openhcs_registry import _autoregister as autoregister


class Extra:
    @hookimpl
    def provide_things(self) -> list[type]:
        return []


def test_isolated_restores_overlays_and_import_time_notes(world: World) -> None:
    world.write_spec()
    world.install("good-plugin", f"good_{world.tag}", world.plugin_source(("Good", "good")))
    world.write(f"plain_{world.tag}.py", world.plugin_source(("Plain", "plain"), hook=False))
    registry = world.registry()
    spec = importlib.import_module(world.spec)

    class Kept(spec.Thing):  # noted before: stays
        kind = "kept"

    registry.register(Kept)
    assert sorted(registry) == ["good", "kept"]
    notes_before = autoregister.noted(registry.name)
    with registry.isolated() as same:
        assert same is registry and not registry.is_discovered  # reset on entry
        registry.unregister("kept")
        registry.block(f"good_{world.tag}")
        registry.add_plugin(Extra(), name="extra")
        importlib.import_module(f"plain_{world.tag}")  # notes Plain at import time
        assert sorted(registry) == ["plain"]
    assert not registry.is_discovered  # reset on exit
    assert sorted(registry) == ["good", "kept"]
    assert registry.blocked == frozenset()
    assert [id(o) for o in autoregister.noted(registry.name)] == [id(o) for o in notes_before]


# -- KeyError says why (issue 15, item 6) ---------------------------------------------------------
def test_key_error_of_an_unavailable_key_says_what_it_needs(world: World) -> None:

    from openhcs_hookspecs import MICROSCOPE_HANDLERS

    with pytest.raises(KeyError) as caught:
        MICROSCOPE_HANDLERS["omero"]
    assert caught.value.args == ("omero",)  # still the key, as for any KeyError
    assert "unavailable: needs the omero-py package" in str(caught.value)
    with pytest.raises(KeyError, match="did you mean 'imagexpress'"):
        MICROSCOPE_HANDLERS["imagexpres"]
    with pytest.raises(KeyError, match="keys are str, not int"):
        MICROSCOPE_HANDLERS[42]  # type: ignore[index]
    # the same words from a warm start, which imports no plugin
    code = """
        import json
        from openhcs_hookspecs import MICROSCOPE_HANDLERS
        try:
            MICROSCOPE_HANDLERS["omero"]
        except KeyError as exc:
            print(json.dumps([MICROSCOPE_HANDLERS.source, str(exc)]))
        """
    world.run(code)
    source, message = world.run(code)
    assert source == "cache" and "unavailable: needs the omero-py package" in message
    show = subprocess.run(
        [sys.executable, "-m", "openhcs_registry", "show", "microscope_handler", "omero"],
        env=world.env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert show.returncode == 2 and "unavailable: needs the omero-py package" in show.stderr


def test_key_error_of_a_blocked_or_skipped_key(world: World) -> None:

    world.write_spec()
    world.install("good-plugin", f"good_{world.tag}", world.plugin_source(("Good", "good")))
    source = world.plugin_source(("Cpu", "cpu"), ("Gpu", "gpu")).replace(
        "    kind = 'gpu'", "    kind = 'gpu'\n    requires_gpu = True"
    )
    world.install("gpu-plugin", f"gpu_{world.tag}", source)
    registry = world.registry()
    assert sorted(registry) == ["cpu", "good", "gpu"]
    registry.block(f"good_{world.tag}")
    with pytest.raises(KeyError, match=f"blocked: plugin 'good_{world.tag}' is blocked"):
        registry["good"]
    registry.unblock(f"good_{world.tag}")
    out = world.run(
        f"""
        import json
        import {world.spec} as spec
        try:
            spec.REGISTRY["gpu"]
        except KeyError as exc:
            print(json.dumps(str(exc)))
        """,
        OPENHCS_SUBPROCESS_NO_GPU="1",
    )
    assert "skipped: needs a GPU and OPENHCS_SUBPROCESS_NO_GPU=1" in out


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


# -- the secondary forwards the primary's answer; one Mapping base for both -----------------
def _install_partnered(world: World) -> None:
    world.write_spec()
    world.install(
        "a-plugin",
        f"a_{world.tag}",
        world.plugin_source(
            ("A", "a"),
            extra=f"""
        class APartner:
            pass
        A.partner = "a_{world.tag}:APartner"
        """,
        ),
    )


def test_a_secondary_forwards_source_failures_and_provenance(world: World) -> None:
    _install_partnered(world)
    reg, partners = world.registry(), world.partners()
    assert partners.source is None and not reg.is_discovered  # no discovery triggered
    assert partners.failures == reg.failures  # triggers the primary's discovery
    assert partners.source == reg.source == "fresh"
    info = partners.info("a")
    assert info["ref"] == f"a_{world.tag}:APartner"
    assert info["plugin"] == reg.info("a")["plugin"]
    reg.reset()
    assert partners["a"].__name__ == "APartner" and partners.source == "cache"


def test_both_registries_are_read_only_mappings_of_one_kind(world: World) -> None:
    _install_partnered(world)
    reg, partners = world.registry(), world.partners()
    for mapping in (reg, partners):
        plain = mapping.copy()
        assert mapping == plain and plain == dict(mapping.items())
        assert (mapping | {"x": 1})["x"] == 1 and ({"x": 1} | mapping).keys() == {"x", *plain}
        assert mapping.get("missing", "default") == "default"
        assert len(mapping) == len(plain) and sorted(mapping) == sorted(plain)
