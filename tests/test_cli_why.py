"""``openhcs-registry why`` (:mod:`openhcs_registry.cli.why`): every cause, through the command,
run as a real subprocess (the evidence itself: tests/test_explain.py).
"""

from __future__ import annotations

import json
import os
import subprocess

from support import World, cli


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


def test_why_unknown_key_suggests_a_close_one() -> None:
    proc = cli("why", "storage_backend", "memroy")
    assert proc.returncode == 1 and "did you mean 'memory'" in proc.stdout
