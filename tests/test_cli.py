"""The ``openhcs-registry`` command, run as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import World, cli


def test_list_json_and_table() -> None:
    proc = cli("list", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert set(data) >= {
        "microscope_handler",
        "metadata_handler",
        "storage_backend",
        "zmq_server",
        "library_registry",
        "microscope_format_registry",
    }
    item = data["microscope_handler"]["items"]["imagexpress"]
    assert item["distribution"] == "openhcs-registry" and item["plugin"] == "microscopes"
    assert data["metadata_handler"]["primary"] == "microscope_handler"
    table = cli("list", "storage_backend")
    assert table.returncode == 0
    assert (
        "storage_backend" in table.stdout
        and "memory" in table.stdout
        and "reference" in table.stdout
    )
    assert "metadata_handler" not in table.stdout


def test_warm_list_imports_no_plugin(_isolated_cache: Path) -> None:
    code = (
        "import sys, json\nfrom openhcs_registry.cli import main\nrc = main(['list', '--json'])\n"
        "bad = sorted(m for m in sys.modules if m.startswith(('openhcs_plugins', 'pluggy')) "
        "or m == 'importlib.metadata')\nsys.stderr.write(json.dumps(bad))\n"
    )
    cold = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    warm = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert json.loads(cold.stderr.splitlines()[-1])  # the cold run imported plugins: check can fail
    assert json.loads(warm.stderr.splitlines()[-1]) == []
    assert json.loads(warm.stdout)["zmq_server"]["source"] == "cache"


def test_show_entry() -> None:
    proc = cli("show", "storage_backend", "memory", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["object"] == "openhcs_plugins.storage.memory.MemoryBackend"
    assert data["doc"].startswith("Stores deep copies")
    assert data["file"].endswith("memory.py")
    text = cli("show", "microscope_handler", "imagexpress").stdout
    assert "distribution: openhcs-registry" in text


def test_usage_errors_exit_2_with_a_clear_message() -> None:
    for args in (("list", "nope"), ("show", "storage_backend", "nope"), ("show", "nope", "x")):
        proc = cli(*args)
        assert proc.returncode == 2
        assert "Traceback" not in proc.stderr
        assert "known" in proc.stderr
    assert cli("frobnicate").returncode == 2


def test_why_missing_optional_dependency_and_unknown_key() -> None:
    proc = cli("why", "microscope_handler", "omero", "--json")
    assert proc.returncode == 1
    data = json.loads(proc.stdout)
    assert data["causes"][0]["kind"] == "unavailable"
    proc = cli("why", "storage_backend", "memory")
    assert proc.returncode == 0 and "is in storage_backend" in proc.stdout
    proc = cli("why", "storage_backend", "floppy")
    assert proc.returncode == 1 and "not installed" in proc.stdout


def test_why_import_error_wrong_group_and_doctor(world: World) -> None:
    world.write_spec()
    world.install("good-plugin", f"good_{world.tag}", world.plugin_source(("Good", "good")))
    world.install(
        "broken-plugin", f"broken_{world.tag}", "import json\nraise ImportError('no libfoo here')\n"
    )
    world.install(
        "lost-plugin",
        f"lost_{world.tag}",
        world.plugin_source(("Lost", "lost")),
        group="wrong.group",
    )
    env = world.env()
    why = cli("why", world.name, f"broken_{world.tag}", "--module", world.spec, env=env)
    assert why.returncode == 1
    assert "import error" in why.stdout and "no libfoo here" in why.stdout
    assert f"broken_{world.tag}.py:2" in why.stdout  # the line that failed
    wrong = cli("why", world.name, "lost", "--module", world.spec, env=env)
    assert wrong.returncode == 1 and "wrong entry-point group" in wrong.stdout
    assert "wrong.group" in wrong.stdout
    doctor = cli("doctor", "--json", "--module", world.spec, env=env)
    assert doctor.returncode == 1
    report = json.loads(doctor.stdout)
    kinds = [f["kind"] for f in report["registries"][world.name]["failures"]]
    assert kinds == ["import_error"]
    assert report["environment"]["OPENHCS_CACHE_DIR"] == str(world.cache_dir)
    human = cli("doctor", "--module", world.spec, env=env)
    assert "problems found: 1" in human.stdout and "Traceback" not in human.stdout


def test_why_abstract_and_keyless_from_a_warm_cache(world: World) -> None:
    pkg = f"pkg_{world.tag}"
    world.write_spec(packages=(pkg,))
    world.write(f"{pkg}/__init__.py", "")
    world.write(
        f"{pkg}/mod.py",
        f"""
        import abc
        from {world.spec} import Thing
        class Half(Thing, abc.ABC):
            kind = "half"
            @abc.abstractmethod
            def run(self): ...
        class Fancy(Thing):
            pass
        """,
    )
    env = world.env()
    assert cli("cache", "warm", "--module", world.spec, env=env).returncode == 0
    half = cli("why", world.name, "half", "--module", world.spec, env=env)
    assert "abstract class" in half.stdout
    fancy = cli("why", world.name, "fancy", "--module", world.spec, env=env)
    assert "missing key attribute" in fancy.stdout


def test_cache_commands(world: World) -> None:
    world.write_spec()
    world.install("good-plugin", f"good_{world.tag}", world.plugin_source(("Good", "good")))
    env = world.env()
    mod = ["--module", world.spec]
    info = json.loads(cli("cache", "info", world.name, "--json", *mod, env=env).stdout)
    assert info[0]["status"] == "missing"
    assert cli("cache", "warm", world.name, *mod, env=env).returncode == 0
    info = json.loads(cli("cache", "info", world.name, "--json", *mod, env=env).stdout)
    assert info[0]["status"] == "valid" and info[0]["keys"] == 1
    assert cli("cache", "verify", world.name, *mod, env=env).returncode == 0
    # tamper: the cache claims a key that discovery does not find (refs stay valid)
    doc = world.read_cache()
    doc["items"]["ghost"] = dict(doc["items"]["good"])
    world.write_cache(doc)
    verify = cli("cache", "verify", world.name, "--json", *mod, env=env)
    assert verify.returncode == 1
    report = json.loads(verify.stdout)
    assert report["ok"] is False
    assert report["registries"][world.name]["differences"]["only_in_cache"] == ["ghost"]
    assert "DIFFERS" in cli("cache", "verify", world.name, *mod, env=env).stdout
    cleared = cli("cache", "clear", world.name, "--json", *mod, env=env)
    assert json.loads(cleared.stdout) == [str(world.cache_file)]
    assert not world.cache_file.exists()
    assert cli("cache", "verify", world.name, *mod, env=env).returncode == 1  # no cache at all


def test_verbose_turns_on_discovery_logging() -> None:
    quiet = cli("cache", "warm", "zmq_server")
    loud = cli("cache", "warm", "zmq_server", "-vv")
    assert quiet.returncode == loud.returncode == 0
    assert "fresh discovery" not in quiet.stderr
    assert "fresh discovery" in loud.stderr and "DEBUG" in loud.stderr


@pytest.mark.parametrize(
    "argv0",
    [
        ["-m", "openhcs_registry"],
        ["-c", "from openhcs_registry.cli import main; raise SystemExit(main())"],
    ],
)
def test_entry_styles(argv0: list[str]) -> None:
    proc = subprocess.run(
        [sys.executable, *argv0, "--help"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0 and "why" in proc.stdout and "doctor" in proc.stdout


# -- options before or after the command, registry modules from the environment ---------------
def test_common_options_before_the_command_are_kept() -> None:
    proc = cli("-vv", "--json", "cache", "warm", "zmq_server")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["zmq_server"]["written"] is True
    assert "DEBUG" in proc.stderr and "fresh discovery" in proc.stderr
    listed = cli("--json", "list", "zmq_server")
    assert json.loads(listed.stdout)["zmq_server"]["source"] == "cache"


def test_registry_modules_from_the_environment(world: World) -> None:
    world.write_spec()
    world.install("good-plugin", f"good_{world.tag}", world.plugin_source(("Good", "good")))
    proc = cli("list", world.name, "--json", env=world.env(OPENHCS_REGISTRY_MODULES=world.spec))
    assert proc.returncode == 0, proc.stderr
    assert list(json.loads(proc.stdout)[world.name]["items"]) == ["good"]
    missing = cli("list", "--module", "no_such_module_xyz")
    assert missing.returncode == 2 and "no_such_module_xyz" in missing.stderr


def test_a_registry_that_cannot_be_discovered_is_reported_not_a_crash(world: World) -> None:
    world.write_spec(conflict_policy="strict")
    world.install("one-plugin", f"one_{world.tag}", world.plugin_source(("A", "same")))
    world.install("two-plugin", f"two_{world.tag}", world.plugin_source(("B", "same")))
    env = world.env()
    mod = ["--module", world.spec]
    listed = cli("list", *mod, env=env)
    assert listed.returncode == 1
    assert "ERROR: DuplicateKeyError" in listed.stdout and "Traceback" not in listed.stderr
    assert "zmq_server" in listed.stdout  # the other registries are still listed
    doctor = json.loads(cli("doctor", "--json", *mod, env=env).stdout)
    assert any("discovery failed" in p for p in doctor["problems"])
    loud = cli("list", world.name, "-v", *mod, env=env)
    assert loud.returncode == 1 and "Traceback" in loud.stderr


# -- why: every cause ----------------------------------------------------------------------------
def why(world: World, key: str, *extra: str, **env: str) -> subprocess.CompletedProcess[str]:
    return cli("why", world.name, key, "--module", world.spec, *extra, env=world.env(**env))


def causes(proc: subprocess.CompletedProcess[str]) -> list[str]:
    return [c["cause"] for c in json.loads(proc.stdout)["causes"]]


def test_why_outside_the_discovery_package(world: World) -> None:
    pkg = f"pkg_{world.tag}"
    world.write_spec(packages=(pkg,))
    world.write(f"{pkg}/__init__.py", "")
    world.write(
        f"{pkg}/mod.py", f"from {world.spec} import Thing\nclass A(Thing):\n    kind = 'a'\n"
    )
    # a folder without __init__.py is never scanned
    world.write(
        f"{pkg}/extra/more.py",
        f"from {world.spec} import Thing\n\nclass Lost(Thing):\n    kind = 'lost'\n",
    )
    proc = why(world, "lost", "--json")
    assert proc.returncode == 1
    (cause,) = json.loads(proc.stdout)["causes"]
    assert cause["cause"] == "outside the discovery packages"
    assert cause["module"] == f"{pkg}.extra.more" and cause["line"] == 4
    assert "never scanned" in cause["detail"]
    listed = cli("list", world.name, "--json", "--module", world.spec, env=world.env())
    assert list(json.loads(listed.stdout)[world.name]["items"]) == ["a"]


def test_why_not_returned_by_the_hook(world: World) -> None:
    world.write_spec()
    source = world.plugin_source(
        ("Good", "good"), extra="\nclass Forgotten:\n    kind = 'forgotten'\n"
    )
    world.install("good-plugin", f"good_{world.tag}", source)
    proc = why(world, "forgotten")
    assert proc.returncode == 1
    assert "not returned by the hook" in proc.stdout and "subclass of Thing" in proc.stdout


def test_why_wrong_group_found_by_reading_the_source(world: World) -> None:
    world.write_spec()
    # neither the entry point's name nor its module mentions the key: only its source does
    world.install(
        "misfiled-plugin",
        f"misfiled_{world.tag}",
        world.plugin_source(("Hidden", "hidden")),
        group=f"openhcs_old_{world.tag}",
    )
    proc = why(world, "hidden", "--json")
    assert proc.returncode == 1
    (cause,) = json.loads(proc.stdout)["causes"]
    assert cause["cause"] == "wrong entry-point group"
    assert f"openhcs_old_{world.tag}" in cause["detail"] and "misfiled-plugin" in cause["detail"]


def test_why_skipped_names_only_that_key_and_the_reason() -> None:
    env = dict(os.environ, OPENHCS_SUBPROCESS_NO_GPU="1")
    proc = cli("why", "zmq_server", "napari", "--json", env=env)
    assert proc.returncode == 1
    data = json.loads(proc.stdout)
    assert [(c["cause"], c.get("plugin")) for c in data["causes"]] == [
        ("skipped by the registry's rule", "zmq_servers")
    ]
    assert "napari" in data["causes"][0]["detail"]
    assert "needs a GPU and OPENHCS_SUBPROCESS_NO_GPU=1" in data["causes"][0]["detail"]


def test_why_duplicate_key_lost_is_a_note_on_a_present_key(world: World) -> None:
    world.write_spec()
    world.install("a-plugin", f"a_{world.tag}", world.plugin_source(("First", "good")))
    world.install("b-plugin", f"b_{world.tag}", world.plugin_source(("Second", "good")))
    proc = why(world, "good")
    assert proc.returncode == 0
    assert "is in" in proc.stdout and "a-plugin" in proc.stdout
    assert "note - duplicate key lost" in proc.stdout and "Second is ignored" in proc.stdout


def test_why_stale_cache(world: World) -> None:
    world.write_spec()
    world.install("good-plugin", f"good_{world.tag}", world.plugin_source(("Good", "good")))
    env = world.env()
    assert cli("cache", "warm", "--module", world.spec, env=env).returncode == 0
    doc = world.read_cache()
    del doc["items"]["good"]
    doc["secondaries"][f"{world.name}_partner"].pop("good", None)
    world.write_cache(doc)
    proc = why(world, "good", "--json")
    assert proc.returncode == 1
    assert causes(proc) == ["stale cache"]
    verify = json.loads(cli("cache", "verify", "--json", "--module", world.spec, env=env).stdout)
    assert verify["registries"][world.name]["differences"] == {"only_fresh": ["good"]}


def test_why_secondary_without_a_value(world: World) -> None:
    world.write_spec()
    world.install("good-plugin", f"good_{world.tag}", world.plugin_source(("Good", "good")))
    proc = cli("why", f"{world.name}_partner", "good", "--module", world.spec, env=world.env())
    assert proc.returncode == 1 and "no secondary value" in proc.stdout
    assert "'partner'" in proc.stdout


def test_explain_blocked_in_process(world: World) -> None:
    from openhcs_registry.explain import explain

    world.write_spec()
    world.install("good-plugin", f"good_{world.tag}", world.plugin_source(("Good", "good")))
    registry = world.registry()
    # blocked before the plugin module is ever imported (once imported, its classes are
    # noted at import time and overlaid in this process whatever the block says)
    registry.block(f"good_{world.tag}")
    result = explain(registry, "good")
    assert not result.found
    assert [c["cause"] for c in result.causes] == ["blocked"]
    assert "blocked by name" in result.causes[0]["detail"]
    registry.unblock(f"good_{world.tag}")
    assert explain(registry, "good").found


def test_why_unknown_key_suggests_a_close_one() -> None:
    proc = cli("why", "storage_backend", "memroy")
    assert proc.returncode == 1 and "did you mean 'memory'" in proc.stdout


# -- cache warm / verify -----------------------------------------------------------------------
def test_warm_says_when_nothing_could_be_written() -> None:
    proc = cli(
        "cache", "warm", "zmq_server", env=dict(os.environ, OPENHCS_DISABLE_REGISTRY_CACHE="1")
    )
    assert proc.returncode == 1
    assert "NOT cached: caching is disabled (OPENHCS_DISABLE_REGISTRY_CACHE=1)" in proc.stdout


def test_verify_compares_secondary_registries(world: World) -> None:
    world.write_spec()
    source = world.plugin_source(("Good", "good"))
    source = source.replace(
        "    kind = 'good'", f"    kind = 'good'\n    partner = '{world.spec}:Thing'"
    )
    world.install("good-plugin", f"good_{world.tag}", source)
    env = world.env()
    mod = ["--module", world.spec]
    assert cli("cache", "warm", *mod, env=env).returncode == 0
    doc = world.read_cache()
    assert doc["secondaries"][f"{world.name}_partner"]["good"]["ref"] == f"{world.spec}:Thing"
    doc["secondaries"][f"{world.name}_partner"]["good"]["ref"] = f"good_{world.tag}:Good"
    world.write_cache(doc)
    proc = cli("cache", "verify", world.name, "--json", *mod, env=env)
    assert proc.returncode == 1
    diff = json.loads(proc.stdout)["registries"][world.name]["differences"]
    assert diff == {f"{world.name}_partner": {"different": ["good"]}}
