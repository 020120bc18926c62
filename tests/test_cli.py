"""The ``openhcs-registry`` command, run as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import World


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "openhcs_registry", *args],
        env=env if env is not None else dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )


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
    assert json.loads(verify.stdout)["differences"][world.name]["only_in_cache"] == ["ghost"]
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
