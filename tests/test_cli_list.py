"""``openhcs-registry list`` (:mod:`openhcs_registry.cli.list`), run as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from support import World, cli, world_cli


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


def test_list_all_shows_unavailable_blocked_and_overridden_keys(world: World) -> None:
    world.write_spec()
    world.install(
        "first-plugin",
        f"first_{world.tag}",
        world.plugin_source(("First", "same"), hook=False)
        + "\nfrom openhcs_registry import Unavailable\n"
        "@hookimpl(tryfirst=True)\ndef provide_things():\n"
        "    return [First, Unavailable('omero', 'needs the omero-py package', 'omero')]\n",
    )
    world.install("second-plugin", f"second_{world.tag}", world.plugin_source(("Second", "same")))
    world.install("third-plugin", f"third_{world.tag}", world.plugin_source(("Third", "third")))
    code = textwrap.dedent(f"""
        import json, sys
        import {world.spec} as spec
        spec.REGISTRY.block("third_{world.tag}")
        from openhcs_registry.cli import main
        sys.exit(main(["list", "{world.name}", "--all", "--module", "{world.spec}"] + sys.argv[1:]))
        """)
    proc = subprocess.run(
        [sys.executable, "-c", code, "--json"],
        env=world.env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    entry = json.loads(proc.stdout)[world.name]
    assert list(entry["items"]) == ["same"]
    absent = {(a["key"], a["kind"]): a for a in entry["absent"]}
    assert set(absent) == {("omero", "unavailable"), ("same", "overridden"), (None, "blocked")}
    assert absent[("omero", "unavailable")]["reason"] == "needs the omero-py package"
    assert absent[(None, "blocked")]["plugin"] == f"third_{world.tag}"
    text = subprocess.run(
        [sys.executable, "-c", code], env=world.env(), capture_output=True, text=True, timeout=120
    ).stdout
    assert "left out, or overridden (--all):" in text
    assert "omero  unavailable" in text and "needs the omero-py package" in text
    plain = world_cli(world, "list", world.name).stdout
    assert "omero" not in plain  # without --all: only what is there
