"""Fresh discovery (:mod:`openhcs_registry._cold._discovery`): each plugin source, conflicts, and every
failure isolated and reported.

Real plugin worlds on disk (tests/support.py): installed distributions, discovery packages,
custom discovery functions.
"""

from __future__ import annotations

import importlib
import json
import logging
import sys

import pytest
from support import World, doctor_json, doctor_kinds, why_json, world_cli

import openhcs_registry
from openhcs_registry import FailureKind


# -- the hook of an entry point is the authority for its module (issue 15, item 3) ----------------
def test_entry_point_hook_decides_what_its_module_provides(world: World) -> None:
    world.write_spec()
    world.install(
        "raise-plugin",
        f"raise_{world.tag}",
        world.plugin_source(("Raiser", "raiser"), hook=False)
        + "@hookimpl\ndef provide_things():\n    raise RuntimeError('boom')\n",
    )
    world.install(
        "empty-plugin",
        f"empty_{world.tag}",
        world.plugin_source(("Left", "left"), ("Kept", "kept"), hook=False)
        + "@hookimpl\ndef provide_things():\n    return [Kept]  # Left's dependency is missing\n",
    )
    world.install(
        "rejected-plugin",
        f"rejected_{world.tag}",
        world.plugin_source(("Rejected", "rejected"), hook=False)
        + "@hookimpl\ndef provide_things(unknown_argument):\n    return [Rejected]\n",
    )
    listed = json.loads(world_cli(world, "list", world.name, "--json").stdout)
    assert list(listed[world.name]["items"]) == ["kept"]  # classes the hooks did not return: out
    raiser = why_json(world, "raiser")["causes"]
    assert [c["cause"] for c in raiser] == ["hook raised", "not returned by the hook"]
    assert "RuntimeError: boom" in raiser[0]["detail"]
    assert raiser[0]["location"].endswith(f"raise_{world.tag}.py:8")  # the raise line
    assert [c["cause"] for c in why_json(world, "left")["causes"]] == ["not returned by the hook"]
    rejected = why_json(world, "rejected")["causes"]
    assert rejected[0]["cause"] == "invalid hookimpl"
    assert "unknown_argument" in rejected[0]["detail"]
    code, report = doctor_json(world)
    assert code == 1 and doctor_kinds(report, world.name) == ["hook_error", "invalid_plugin"]


# -- an intended override is an outcome, not a warning (issue 15, item 4) -------------------------
def test_tryfirst_override_of_a_builtin_key_is_quiet_and_doctor_is_happy(world: World) -> None:
    world.write_spec()
    world.install(
        "my-memory",
        f"mymemory_{world.tag}",
        '''
        from openhcs_registry import hookimpl
        from openhcs_plugins.storage.memory import MemoryBackend

        class MyMemory(MemoryBackend):
            """A memory backend that counts its writes."""

        @hookimpl(tryfirst=True)
        def provide_storage_backends():
            return {"memory": MyMemory}
        ''',
        group="openhcs",
    )
    cold = world_cli(world, "list", "storage_backend", "--json")
    warm = world_cli(world, "list", "storage_backend", "--json")
    for proc in (cold, warm):
        assert proc.returncode == 0
        assert "memory" not in proc.stderr and "WARNING" not in proc.stderr.upper(), proc.stderr
        item = json.loads(proc.stdout)["storage_backend"]["items"]["memory"]
        assert item["ref"] == f"mymemory_{world.tag}:MyMemory"
    doctor = world_cli(world, "doctor")
    assert doctor.returncode == 0, doctor.stdout
    assert "no problems found" in doctor.stdout
    assert "overridden" in doctor.stdout  # shown, as an expected outcome
    why = world_cli(world, "why", "storage_backend", "memory")
    assert why.returncode == 0
    assert "note - overridden" in why.stdout and "MemoryBackend is not used" in why.stdout
    every = json.loads(world_cli(world, "list", "storage_backend", "--all", "--json").stdout)
    notes = every["storage_backend"]["absent"]
    assert {(n["key"], n["kind"]) for n in notes} >= {("memory", "overridden")}
    show = world_cli(world, "show", "storage_backend", "memory")
    assert "overrides:" in show.stdout and "MemoryBackend" in show.stdout


def test_other_conflicts_still_warn_once_per_conflict(world: World) -> None:
    world.write_spec()
    world.install("a-plugin", f"a_{world.tag}", world.plugin_source(("First", "same")))
    world.install("b-plugin", f"b_{world.tag}", world.plugin_source(("Second", "same")))
    proc = world_cli(world, "list", world.name)
    assert proc.stderr.count("key 'same' is also provided by plugin") == 1, proc.stderr
    code, report = doctor_json(world)
    assert code == 1 and doctor_kinds(report, world.name) == ["duplicate_key"]


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
        from openhcs_registry import hookimpl
        @hookimpl
        def provide_things():
            return 42
        """,
    )
    world.install(
        "wrongtype-plugin",
        f"wrongtype_{t}",
        """
        from openhcs_registry import hookimpl
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
        from openhcs_registry import hookimpl
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
        from openhcs_registry import hookimpl
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
        from openhcs_registry import hookimpl
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


# -- the same world, the same documents ----------------------------------------------------------
def test_the_same_worlds_discovered_twice_write_the_same_documents() -> None:
    """tools/discovery_diff.py, this tree against itself: every plugin source, outcome and
    failure (cold, warm, strict, incremental, unblocked, the built-in registries), each
    discovered in fresh interpreters from a fresh copy, gives the same reader's view and the
    same cache documents (apart from ctime, inode and write time).  The tool compares two
    trees the same way when a change must keep discovery's behaviour."""
    from support import REPO

    if not (REPO / "tools" / "discovery_diff.py").exists():
        pytest.skip("needs the source tree")
    sys.path.insert(0, str(REPO / "tools"))
    try:
        import discovery_diff
    finally:
        sys.path.remove(str(REPO / "tools"))
    assert discovery_diff.main([str(REPO), str(REPO)]) == 0


def test_a_plugin_records_no_engine_file_as_its_input(world: World) -> None:
    """The engine's own files are not a plugin's inputs: the version in every document's
    header covers them.  Two ways they used to slip in: a string secondary, whose module is
    looked up by code the engine imports lazily while the plugin's inputs are recorded, and
    a hook that raises, whose traceback runs through the engine's caller."""
    world.write_spec()
    tag = world.tag
    world.install(
        "alpha-plugin",
        f"alpha_{tag}",
        world.plugin_source(("Alpha", "alpha")) + 'Alpha.partner = "json.decoder:JSONDecoder"\n',
    )
    world.install(
        "beta-plugin",
        f"beta_{tag}",
        world.plugin_source(hook=False)
        + "@hookimpl\ndef provide_things():\n    raise ValueError('broken')\n",
    )
    out = world.run(
        f"""
        import json, sys
        from {world.spec} import REGISTRY, PARTNERS
        keys, partners = sorted(REGISTRY), sorted(PARTNERS)
        print(json.dumps({{"keys": keys, "partners": partners, "path": str(REGISTRY.cache.path),
                          "fails": sorted(f.kind for f in REGISTRY.failures),
                          "engine": openhcs_registry_dir()}}))
        """.replace(
            "openhcs_registry_dir()",
            "__import__('os').path.dirname(__import__('openhcs_registry').__file__)",
        )
    )
    assert out["keys"] == ["alpha"] and out["partners"] == ["alpha"]
    assert out["fails"] == ["hook_error"]
    document = open(out["path"], encoding="utf-8").read()
    assert f"beta_{tag}" in document and f"alpha_{tag}" in document  # the records are there
    assert out["engine"] + "/" not in document


# -- the cyclic collector: held off for the engine's own work, left as the application set it ---
@pytest.mark.parametrize("collecting", [True, False])
def test_plugin_code_runs_with_the_collector_as_the_application_set_it(
    world: World, collecting: bool
) -> None:
    """A full discovery holds the collector off for its records, merge and document (never
    cyclic garbage), not while a plugin's module loads or its hook runs; every path (cold,
    warm, an incremental one after an edit) leaves it as it was."""
    world.write_spec()
    source = world.plugin_source(("Alpha", "alpha"), hook=False) + (
        "import gc\nAT_IMPORT = gc.isenabled()\nCALLED = []\n\n"
        "@hookimpl\ndef provide_things():\n    CALLED.append(gc.isenabled())\n"
        "    return [Alpha]\n"
    )
    world.install("alpha-plugin", f"alpha_{world.tag}", source)
    world.install("beta-plugin", f"beta_{world.tag}", world.plugin_source(("Beta", "beta")))
    code = f"""
        import gc, json, sys
        {"gc.enable()" if collecting else "gc.disable()"}
        from {world.spec} import REGISTRY
        keys = sorted(REGISTRY)
        alpha = sys.modules.get("alpha_{world.tag}")
        print(json.dumps({{"source": REGISTRY.source, "keys": keys, "after": gc.isenabled(),
            "at_import": getattr(alpha, "AT_IMPORT", None),
            "called": getattr(alpha, "CALLED", None)}}))
        """
    cold = world.run(code)
    assert cold == {
        "source": "fresh",
        "keys": ["alpha", "beta"],
        "after": collecting,
        "at_import": collecting,
        "called": [collecting],
    }
    warm = world.run(code)
    assert (warm["source"], warm["after"], warm["called"]) == ("cache", collecting, None)
    world.write(f"alpha_{world.tag}.py", source + "\n# edited\n")
    edited = world.run(code)
    assert edited["source"] != "cache" and edited["keys"] == ["alpha", "beta"]
    assert edited["after"] is collecting
