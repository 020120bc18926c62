"""Finding the contracts (:mod:`openhcs_registry._contracts`): the ``openhcs.contracts`` entry-point
index, third-party contracts packages joining the CLI, broken or forged ones only left out.

The contracts package's own modules are pinned by ``tests/test_contracts_<module>.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import World

# -- at run time ----------------------------------------------------------------------------
LIST_PROBE = """
import json, sys
from openhcs_registry.cli import main
rc = main(["list", "--json"])
heavy = sorted(m for m in sys.modules if m.startswith(("pluggy", "openhcs_plugins"))
               or m == "importlib.metadata")
sys.stderr.write("\\n@@" + json.dumps({"rc": rc, "heavy": heavy}) + "\\n")
"""


def _list(world: World) -> tuple[dict[str, object], dict[str, object], str]:
    proc = subprocess.run(
        [sys.executable, "-c", LIST_PROBE],
        env=world.env(),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=world.root,
    )
    tail = [line for line in proc.stderr.splitlines() if line.startswith("@@")]
    assert proc.returncode == 0 and tail, proc.stderr
    return json.loads(proc.stdout), json.loads(tail[-1][2:]), proc.stderr


def _keys(listing: dict[str, object]) -> dict[str, list[str]]:
    return {name: sorted(entry["items"]) for name, entry in listing.items()}  # type: ignore[index]


def _install_contracts(world: World) -> Path:
    world.write_spec()
    world.install("my-plugin", "my_plugin", world.plugin_source(("Gadget", "gadget")))
    return world.add_dist_info(
        "my-contracts", "1.0", {"things": world.spec}, group="openhcs.contracts"
    )


def test_a_third_party_contracts_package_joins_the_cli(world: World) -> None:
    info = _install_contracts(world)
    cold, _, _ = _list(world)
    assert world.name in cold and "microscope_handler" in cold  # built-in contracts still there
    assert list(cold[world.name]["items"]) == ["gadget"]  # type: ignore[index]
    warm, probe, _ = _list(world)
    assert warm[world.name]["source"] == "cache"  # type: ignore[index]
    assert probe["heavy"] == []  # found through the index: no importlib.metadata, no pluggy
    assert _keys(warm) == _keys(cold)

    # uninstalling the contracts package: its registry is gone from the very next listing
    import shutil

    shutil.rmtree(info)
    after, _, _ = _list(world)
    assert world.name not in after and "microscope_handler" in after


def test_an_edited_entry_points_file_is_noticed(world: World) -> None:
    info = _install_contracts(world)
    assert world.name in _list(world)[0]
    site_stat = world.site.stat()
    text = info / "entry_points.txt"
    text.write_text(text.read_text().replace("openhcs.contracts", "openhcs.other"))
    os.utime(world.site, ns=(site_stat.st_atime_ns, site_stat.st_mtime_ns))  # only the file moved
    assert world.name not in _list(world)[0]


def test_a_broken_contracts_package_is_left_out_and_the_others_listed(world: World) -> None:
    _install_contracts(world)
    world.write("broken_contracts.py", "raise SystemExit('contracts refuse to load')\n")
    world.add_dist_info(
        "broken-contracts", "1.0", {"broken": "broken_contracts"}, group="openhcs.contracts"
    )
    out, probe, stderr = _list(world)
    assert probe["rc"] == 0 and world.name in out and "storage_backend" in out
    assert "broken_contracts" in stderr and "left out" in stderr


INDEX_PROBE = """
import json
from importlib.metadata import entry_points
from openhcs_registry import settings

def canonical(name):
    return name.lower().replace("_", "-").replace(".", "-")

out = {}
for group in ("openhcs", "openhcs.contracts", "openhcs.settings"):
    ours = sorted([canonical(d), n, v] for d, n, v in settings.declared(group))
    theirs = sorted([canonical(ep.dist.name), ep.name, ep.value] for ep in entry_points(group=group))
    out[group] = [ours, theirs]
print(json.dumps(out))
"""


@pytest.mark.parametrize("warm", [False, True])
def test_the_index_agrees_with_importlib_metadata(world: World, warm: bool) -> None:
    _install_contracts(world)
    world.add_dist_info("extra-plugins", "2.0", {"extra": "extra_mod"}, group="openhcs")
    if warm:
        world.run(INDEX_PROBE)  # writes the index; the compared run reads it
    out = world.run(INDEX_PROBE)
    for group, (ours, theirs) in out.items():
        assert ours == theirs, group
        assert ours, group  # the built-in distribution declares both groups: can fail
    assert ["my-contracts", "things", world.spec] in out["openhcs.contracts"][0]
    assert (world.cache_dir / "entry_points_index.json").exists()


COMMAND_MODULE = """
from openhcs_registry.cli import EXIT_OK, print_json


def run(args):
    print_json({"hello": args.who})
    return EXIT_OK


def register(command):
    p = command("hello", "say hello (a third-party command)", __name__ + ":run")
    p.add_argument("who")
"""


def test_contracts_packages_add_commands_and_a_broken_one_is_left_out(world: World) -> None:
    """``functions`` reaches the CLI this way; any contracts package can add a command."""
    world.write("hello_cmd.py", COMMAND_MODULE)
    world.add_dist_info(
        "hello-cmd", "1.0", {"hello": "hello_cmd:register"}, group="openhcs.commands"
    )
    world.write("broken_cmd.py", "raise SystemExit('no commands today')\n")
    world.add_dist_info("broken-cmd", "1.0", {"broken": "broken_cmd"}, group="openhcs.commands")
    cli = [sys.executable, "-m", "openhcs_registry"]
    run = dict(env=world.env(), capture_output=True, text=True, timeout=120, cwd=world.root)
    proc = subprocess.run([*cli, "hello", "stranger", "--json"], **run)  # type: ignore[call-overload]
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"hello": "stranger"}
    assert "broken_cmd" in proc.stderr and "left out" in proc.stderr
    helptext = subprocess.run([*cli, "--help"], **run)  # type: ignore[call-overload]
    assert "hello" in helptext.stdout and "functions" in helptext.stdout


@pytest.mark.parametrize("forgery", ["outside-sys-path", "wrong-stat", "bad-shape"])
def test_a_forged_index_only_causes_a_rebuild(world: World, forgery: str) -> None:
    """The index names modules the CLI imports: it may only repeat installed metadata."""
    from openhcs_registry._fileio import encode_document

    _install_contracts(world)
    _list(world)  # writes the index
    marker = world.root / "planted-imported"
    # importable from the launch folder (the probe's cwd), which no fingerprint watches
    (world.root / "planted_mod.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    index = world.cache_dir / "entry_points_index.json"
    doc = json.loads(index.read_text())
    real = next(f for f in doc["files"] if world.spec in json.dumps(f))
    planted = [["openhcs.contracts", "planted", "planted_mod"]]
    if forgery == "outside-sys-path":
        fake = world.root / "fake-1.0.dist-info"
        fake.mkdir()
        (fake / "entry_points.txt").write_text("[openhcs.contracts]\nplanted = planted_mod\n")
        path = str(fake / "entry_points.txt")
        item = [path, list(_stat(path)), "fake", planted]
    elif forgery == "wrong-stat":
        item = [real[0], [0, 0, 0, 0], real[2], planted]
    else:
        item = [real[0], real[1], real[2], "planted_mod"]
    doc["files"].append(item)
    doc.pop("checksum")
    index.write_bytes(encode_document(doc))
    os.chmod(index, 0o600)
    out, _, _ = _list(world)
    assert world.name in out  # rebuilt from the real metadata
    assert not marker.exists()
    assert "planted_mod" not in index.read_text()


def _stat(path: str) -> list[int]:
    st = os.stat(path)
    return [st.st_mtime_ns, st.st_size, st.st_ctime_ns, st.st_ino]
