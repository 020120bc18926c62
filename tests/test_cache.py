"""The persistent cache: replay equals discovery, warm starts import nothing, invalidation."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from support import World, run_many, run_python, two_plugin_world

from openhcs_registry import clear_cache
from openhcs_registry._cache import CACHE_VERSION
from openhcs_registry._fileio import encode_document


def warm_state(world: World) -> dict[str, object]:
    """Run a fresh process; report source, keys, and which plugin modules it imported."""
    return world.run(
        f"""
        import json, sys
        from {world.spec} import REGISTRY
        keys = sorted(REGISTRY)
        print(json.dumps({{"source": REGISTRY.source, "keys": keys,
            "imported": sorted(m for m in sys.modules if m.startswith(("alpha_", "beta_", "pluggy"))
                               or m == "importlib.metadata")}}))
        """
    )


def test_builtin_cache_file_names(_isolated_cache: Path) -> None:
    import openhcs_hookspecs

    for registry in openhcs_hookspecs.load_all().values():
        list(registry)
    names = sorted(p.name for p in _isolated_cache.iterdir())
    assert names == [
        "entry_points_index.json",  # the openhcs* entry points, read without importlib.metadata
        "library_registry_registry.json",
        "microscope_format_registry_registry.json",
        "microscope_handler_registry.json",
        "storage_backend_registry.json",
        "zmq_server_registry.json",
    ]


# -- replay == fresh -------------------------------------------------------------------------
def test_replay_equals_fresh_for_every_builtin_registry(_isolated_cache: Path) -> None:
    env = dict(os.environ, OPENHCS_CACHE_DIR=str(_isolated_cache))
    code = """
        import json
        import openhcs_hookspecs
        from openhcs_registry._refs import reference_of
        out = {}
        for name, reg in openhcs_hookspecs.load_all().items():
            out[name] = {"source": reg.source or "", "keys": sorted(reg)}
            out[name]["values"] = {k: reference_of(v) for k, v in reg.items()}
            out[name]["source"] = reg.source
            out[name]["failures"] = sorted((f.plugin, f.kind, f.key or "") for f in reg.failures)
            for sec in reg.config.secondary_registries:
                s = reg.secondary(sec.name)
                out[name][sec.name] = {k: reference_of(v) for k, v in s.items()}
        print(json.dumps(out))
    """
    cold = run_python(code, env)
    warm = run_python(code, env)
    assert {n: r["source"] for n, r in cold.items()} == dict.fromkeys(cold, "fresh")
    assert {n: r["source"] for n, r in warm.items()} == dict.fromkeys(warm, "cache")
    for name in cold:
        cold[name].pop("source"), warm[name].pop("source")
    assert warm == cold
    assert all(r["keys"] for r in cold.values())


def test_replay_equals_fresh_in_process(world: World) -> None:
    two_plugin_world(world)
    reg = world.registry()
    fresh = dict(reg.items())
    assert reg.source == "fresh"
    reg.reset()
    assert dict(reg.items()) == fresh
    assert reg.source == "cache"
    assert reg.info("alpha")["distribution"] == "alpha-plugin"


def test_warm_start_imports_no_plugin_pluggy_or_metadata(_isolated_cache: Path) -> None:
    env = dict(os.environ, OPENHCS_CACHE_DIR=str(_isolated_cache))
    code = """
        import json, sys
        import openhcs_hookspecs
        regs = openhcs_hookspecs.load_all()
        keys = {name: sorted(reg) for name, reg in regs.items()}
        sources = {name: reg.source for name, reg in regs.items()}
        bad = sorted(m for m in sys.modules if m.startswith(("openhcs_plugins", "pluggy"))
                     or m == "importlib.metadata")
        print(json.dumps({"keys": keys, "sources": sources, "imported": bad}))
    """
    cold = run_python(code, env)
    warm = run_python(code, env)
    assert set(warm["sources"].values()) == {"cache"}
    assert warm["keys"] == cold["keys"]
    assert warm["imported"] == []
    assert cold["imported"]  # the cold run did import them: the check can fail


def test_resolving_one_value_imports_only_its_module(world: World) -> None:
    two_plugin_world(world)
    _warm(world)
    out = world.run(
        f"""
        import json, sys
        from {world.spec} import REGISTRY
        cls = REGISTRY["alpha"]
        print(json.dumps([cls.__name__, f"alpha_{world.tag}" in sys.modules,
                          f"beta_{world.tag}" in sys.modules, REGISTRY.source]))
        """
    )
    assert out == ["Alpha", True, False, "cache"]


# -- invalidation -----------------------------------------------------------------------------
def _listed(world: World, python: str = sys.executable, **env: str) -> list[Any]:
    """``[source, keys]`` of the world's registry listed in a fresh *python* process."""
    out: list[Any] = world.run(
        f"import json; from {world.spec} import REGISTRY; "
        "k = sorted(REGISTRY); print(json.dumps([REGISTRY.source, k]))",
        python=python,
        **env,
    )
    return out


def _assert_rebuilt(world: World, expected_keys: list[str], **env: str) -> None:
    assert _listed(world, **env) == ["fresh", expected_keys]


def _warm(world: World, **env: str) -> None:
    world.run(
        f"import json; from {world.spec} import REGISTRY; print(json.dumps(list(REGISTRY)))", **env
    )
    state = world.run(
        f"import json; from {world.spec} import REGISTRY; len(REGISTRY); print(json.dumps([REGISTRY.source, 0]))",
        **env,
    )
    assert state[0] == "cache"


def test_warm_cache_is_used_when_nothing_changed(world: World) -> None:
    two_plugin_world(world)
    _warm(world)
    assert warm_state(world) == {"source": "cache", "keys": ["alpha", "beta"], "imported": []}


@pytest.mark.parametrize(
    ("field", "value"),
    [("cache_version", 999), ("version", "0.0.0-other"), ("timestamp", 1.0)],
    ids=["format", "library-version", "age"],
)
def test_header_changes_invalidate(world: World, field: str, value: object) -> None:
    two_plugin_world(world)
    _warm(world)
    doc = world.read_cache()
    doc[field] = value
    world.write_cache(doc)
    _assert_rebuilt(world, ["alpha", "beta"])


def test_max_age_is_per_registry(world: World) -> None:
    world.write_spec(max_age=0.5)
    world.install("alpha-plugin", f"alpha_{world.tag}", world.plugin_source(("Alpha", "alpha")))
    reg = world.registry()
    list(reg)
    reg.reset()
    list(reg)
    assert reg.source == "cache"
    time.sleep(0.6)
    reg.reset()
    list(reg)
    assert reg.source == "fresh"


def test_edited_plugin_file_invalidates(world: World) -> None:
    two_plugin_world(world)
    _warm(world)
    path = world.site / f"beta_{world.tag}.py"
    path.write_text(world.plugin_source(("Beta", "beta"), ("Gamma", "gamma")))
    _assert_rebuilt(world, ["alpha", "beta", "gamma"])


def test_same_size_edit_in_the_same_tick_invalidates(world: World) -> None:
    two_plugin_world(world)
    path = world.site / f"beta_{world.tag}.py"
    # modified "just now" (a second ahead, so that a slow discovery on a loaded machine
    # still writes within the racy window): the cache written next is racy for this file
    ahead = time.time_ns() + 1_000_000_000
    os.utime(path, ns=(ahead, ahead))
    reg = world.registry()
    list(reg)
    doc = world.read_cache()
    (row,) = [r for r in doc["cold"]["files"] if r[0] == str(path)]
    assert len(row) == 6  # [path, mtime, size, ctime, inode, content checksum]
    assert str(path) in [doc["files"][at] for at, _ in doc["racy"]]  # compared warm too
    before = path.stat()
    path.write_text(path.read_text().replace("'beta'", "'bet2'"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # same mtime, same size
    del sys.modules[f"beta_{world.tag}"]
    reg.reset()
    assert "bet2" in reg  # (the old Beta class lives on in this process as import-time)
    assert reg.source == "fresh"
    assert set(world.read_cache()["items"]) == {"alpha", "bet2"}


def test_deleted_plugin_file_invalidates(world: World) -> None:
    pkg = f"pkg_{world.tag}"
    world.write_spec(packages=(pkg,))
    world.write(f"{pkg}/__init__.py", "")
    world.write(
        f"{pkg}/one.py", f"from {world.spec} import Thing\nclass One(Thing):\n    kind = 'one'\n"
    )
    world.write(
        f"{pkg}/two.py", f"from {world.spec} import Thing\nclass Two(Thing):\n    kind = 'two'\n"
    )
    _warm(world)
    (world.site / pkg / "two.py").unlink()
    _assert_rebuilt(world, ["one"])


@pytest.mark.parametrize("filename", ["three.py", "_private.py", "sub/__init__.py"])
def test_file_added_to_discovery_package_invalidates(world: World, filename: str) -> None:
    pkg = f"pkg_{world.tag}"
    world.write_spec(packages=(pkg,))
    world.write(f"{pkg}/__init__.py", "")
    world.write(
        f"{pkg}/one.py", f"from {world.spec} import Thing\nclass One(Thing):\n    kind = 'one'\n"
    )
    _warm(world)
    world.write(
        f"{pkg}/{filename}",
        f"from {world.spec} import Thing\nclass New(Thing):\n    kind = 'new'\n",
    )
    _assert_rebuilt(world, ["new", "one"])


def test_distribution_installed_upgraded_removed(world: World) -> None:
    two_plugin_world(world)
    _warm(world)
    world.install("gamma-plugin", f"gamma_{world.tag}", world.plugin_source(("Gamma", "gamma")))
    _assert_rebuilt(world, ["alpha", "beta", "gamma"])
    _warm(world)
    # upgrade: new version, new dist-info, module now provides another class
    world.uninstall("alpha-plugin", "1.0")
    (world.site / f"alpha_{world.tag}.py").write_text(world.plugin_source(("Alpha2", "alpha2")))
    world.add_dist_info("alpha-plugin", "2.0", {f"alpha_{world.tag}": f"alpha_{world.tag}"})
    _assert_rebuilt(world, ["alpha2", "beta", "gamma"])
    out = world.run(
        f"import json; from {world.spec} import REGISTRY; print(json.dumps(REGISTRY.info('alpha2')['version']))"
    )
    assert out == "2.0"
    _warm(world)
    world.uninstall("gamma-plugin")
    _assert_rebuilt(world, ["alpha2", "beta"])


def test_no_gpu_setting_change_invalidates(world: World) -> None:
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
    _warm(world)
    _assert_rebuilt(world, ["cpu"], OPENHCS_SUBPROCESS_NO_GPU="1")
    _warm(world, OPENHCS_SUBPROCESS_NO_GPU="1")
    _assert_rebuilt(world, ["cpu", "gpu"])


def _second_venv(tmp_path: Path) -> Path:
    """A real second virtualenv on top of this one's packages (its folder)."""
    venv = tmp_path / "venv2"
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
        check=True,
        timeout=120,
    )
    # chain this venv's site-packages (with our editable install) into the new one
    site_pkgs = [p for p in sys.path if p.endswith("site-packages")]
    (next(venv.glob("lib/python*/site-packages")) / "chain.pth").write_text(
        "".join(f"import site; site.addsitedir({p!r})\n" for p in site_pkgs)
    )
    return venv


def test_other_interpreter_or_venv_invalidates(world: World, tmp_path: Path) -> None:
    two_plugin_world(world)
    _warm(world)
    venv = _second_venv(tmp_path)
    assert _listed(world, str(venv / "bin" / "python")) == ["fresh", ["alpha", "beta"]]


@pytest.mark.skipif(sys.platform == "win32", reason="a venv's bin/python3 link is POSIX")
def test_one_interpreter_reached_by_two_names_reads_one_cache(world: World, tmp_path: Path) -> None:
    """``bin/python`` and ``bin/python3`` (a console script's shebang names the first, a
    user types the second) lead to one binary: what one wrote the other reads warm.  The
    interpreter is named by the stat of the file its links lead to
    (``_environment.interpreter_identity``), not by the path typed."""
    two_plugin_world(world)
    venv = _second_venv(tmp_path)
    python, python3 = venv / "bin" / "python", venv / "bin" / "python3"
    assert python3.resolve() == python.resolve()  # (what makes them one interpreter)
    assert _listed(world, str(python)) == ["fresh", ["alpha", "beta"]]
    assert _listed(world, str(python3)) == ["cache", ["alpha", "beta"]]
    assert _listed(world, str(python)) == ["cache", ["alpha", "beta"]]


def _needy_world(world: World) -> tuple[str, str]:
    """A world with a plugin whose module imports a missing ``dep_*``; (dep, probe code)."""
    world.write_spec()
    world.install("alpha-plugin", f"alpha_{world.tag}", world.plugin_source(("Alpha", "alpha")))
    dep = f"dep_{world.tag}"
    world.install(
        "needy-plugin",
        f"needy_{world.tag}",
        f"import {dep}\n" + world.plugin_source(("Needy", "needy")),
    )
    code = (
        f"import json; from {world.spec} import REGISTRY; "
        "k = sorted(REGISTRY); print(json.dumps([REGISTRY.source, k]))"
    )
    return dep, code


def test_installing_a_missing_dependency_invalidates(world: World, tmp_path: Path) -> None:
    dep, code = _needy_world(world)
    _warm(world)
    assert world.read_cache()["failures"][0]["missing_module"] == dep
    # another folder on the path, empty at first; then the dependency appears in it
    other = tmp_path / "other_site"
    other.mkdir()
    env = {"PYTHONPATH": os.pathsep.join([str(world.site), str(other)])}
    world.run(code, **env)
    assert world.run(code, **env)[0] == "cache"
    (other / f"{dep}.py").write_text("")
    assert world.run(code, **env) == ["fresh", ["alpha", "needy"]]  # the folder's mtime moved


def test_missing_dependency_saved_in_the_launch_folder_invalidates(world: World) -> None:
    """The launch folder (cwd for ``-c``) is outside the environment fingerprint; the
    recorded missing module is what notices a dependency saved there."""
    dep, code = _needy_world(world)
    assert world.run(code) == ["fresh", ["alpha"]]
    assert world.run(code) == ["cache", ["alpha"]]
    (world.root / f"{dep}.py").write_text("")  # world.run's cwd: sys.path[0] is ''
    assert world.run(code) == ["fresh", ["alpha", "needy"]]


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not json at all",
        b'{"cache_version": 1, "items": ',
        b"[1, 2, 3]",
        b'"just a string"',
        b'{"cache_version": %d}' % CACHE_VERSION,  # current format, but no checksum
        b"\xff\xfe\x00garbage",
        None,  # wrong-typed fields in an otherwise valid file
        "truncate",
        "items-wrong-type",
    ],
    ids=[
        "empty",
        "non-json",
        "truncated-literal",
        "array",
        "string",
        "wrong-schema",
        "binary",
        "wrong-typed",
        "truncated-real",
        "items-wrong-type",
    ],
)
def test_corrupt_files_rebuild_with_one_warning(
    world: World, content: object, caplog: pytest.LogCaptureFixture
) -> None:
    two_plugin_world(world)
    reg = world.registry()
    list(reg)
    raw = world.cache_file.read_bytes()
    if content is None:
        doc = json.loads(raw)
        doc["files"] = [[path, 1, "x", None] for path in doc["files"]]
        data = encode_document(
            doc
        )  # correctly checksummed: the reader's shape checks must catch it
    elif content == "truncate":
        data = raw[: raw.index(b',"cold":') // 2]  # within the warm part
    elif content == "items-wrong-type":
        doc = json.loads(raw)
        doc["items"] = ["alpha", "beta"]
        data = encode_document(doc)
    else:
        assert isinstance(content, bytes)
        data = content
    world.cache_file.write_bytes(data)
    os.chmod(world.cache_file, 0o600)
    reg.reset()
    with caplog.at_level(logging.WARNING, logger="openhcs_registry"):
        assert sorted(reg) == ["alpha", "beta"]
    assert reg.source == "fresh"
    if content != b"":  # an empty document is a miss too, but says so as not valid JSON
        assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    # and the file was rebuilt: next start is warm again
    reg.reset()
    list(reg)
    assert reg.source == "cache"


def test_reference_that_no_longer_resolves_drops_cache(world: World) -> None:
    world.write_spec(check_mtimes=False)
    world.install(
        "alpha-plugin",
        f"alpha_{world.tag}",
        world.plugin_source(("Alpha", "alpha"), ("Beta", "beta")),
    )
    _warm(world)
    # the class disappears but mtimes are not checked: only resolution can notice
    (world.site / f"alpha_{world.tag}.py").write_text(world.plugin_source(("Alpha", "alpha")))
    out = world.run(
        f"""
        import json
        from {world.spec} import REGISTRY
        keys = sorted(REGISTRY)
        try:
            REGISTRY["beta"]
            outcome = "found"
        except KeyError as exc:
            outcome = "KeyError: " + str(exc)
        now = sorted(REGISTRY)
        print(json.dumps([keys, outcome, REGISTRY.source, now]))
        """
    )
    assert out[0] == ["alpha", "beta"]
    assert out[1].startswith("KeyError") and "no longer provided" in out[1]
    assert out[2:] == ["fresh", ["alpha"]]


def test_reference_into_an_unrecorded_module_is_refused_when_read(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """A checksummed document whose reference points outside the recorded modules still
    lists (keys are not references), but reading the value refuses it before any import:
    the cache is dropped, with one warning, and the value is the fresh discovery's."""
    two_plugin_world(world)
    reg = world.registry()
    list(reg)
    doc = world.read_cache()
    doc["items"]["alpha"]["ref"] = "os:system"
    world.write_cache(doc)
    reg.reset()
    assert sorted(reg) == ["alpha", "beta"]
    assert reg.source == "cache"
    with caplog.at_level(logging.WARNING, logger="openhcs_registry"):
        value = reg["alpha"]
    assert value.__name__ == "Alpha"
    assert reg.source == "fresh"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "discovery did not record" in warnings[0]


def test_reference_outside_recorded_modules_is_never_imported(world: World) -> None:
    two_plugin_world(world)
    list(world.registry())
    doc = world.read_cache()
    evil = f"evil_{world.tag}"
    world.write(
        f"{evil}.py", "import sys\nsys.exit('evil module imported')\nclass X: kind = 'alpha'\n"
    )
    doc["items"]["alpha"]["ref"] = f"{evil}:X"
    world.write_cache(doc)
    out = world.run(
        f"import json, sys; from {world.spec} import REGISTRY; a = REGISTRY['alpha']; "
        f"print(json.dumps([a.__name__, '{evil}' in sys.modules, REGISTRY.source]))"
    )
    assert out == ["Alpha", False, "fresh"]


def test_unwritable_folder_works_uncached_with_one_warning(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    two_plugin_world(world)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("OPENHCS_CACHE_DIR", str(blocker / "cache"))  # parent is a file: as root too
    reg = world.registry()
    with caplog.at_level(logging.WARNING, logger="openhcs_registry"):
        assert sorted(reg) == ["alpha", "beta"]
        reg.reset()
        assert sorted(reg) == ["alpha", "beta"]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "not writable" in warnings[0].getMessage()


def test_no_pickle_or_eval_in_the_package() -> None:
    import re

    import openhcs_hookspecs
    import openhcs_plugins

    import openhcs_registry

    # the packages as imported: the source tree, or the installed wheel in CI's second run
    folders = [
        Path(m.__file__).parent for m in (openhcs_registry, openhcs_hookspecs, openhcs_plugins)
    ]
    pattern = re.compile(r"\b(import pickle|pickle\.loads?|marshal\.loads?|eval\(|exec\()")
    offenders = []
    for folder in folders:
        for path in folder.rglob("*.py"):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if pattern.search(line) and not line.lstrip().startswith("#"):
                    offenders.append(f"{path}:{number}: {line.strip()}")
    assert offenders == []


def test_runtime_registrations_never_persisted(world: World) -> None:
    two_plugin_world(world)
    reg = world.registry()
    thing = __import__(world.spec).Thing
    reg.register(type("Dyn", (thing,), {"kind": "dyn"}))
    assert "dyn" in reg
    assert set(world.read_cache()["items"]) == {"alpha", "beta"}


# -- switches -------------------------------------------------------------------------------
def test_enable_cache_false_per_registry(world: World) -> None:
    world.write_spec(enable_cache=False)
    world.install("alpha-plugin", f"alpha_{world.tag}", world.plugin_source(("Alpha", "alpha")))
    reg = world.registry()
    assert list(reg) == ["alpha"]
    assert not world.cache_file.exists()
    reg.reset()
    list(reg)
    assert reg.source == "fresh"


def test_disable_env_switch(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    two_plugin_world(world)
    reg = world.registry()
    list(reg)
    reg.reset()
    list(reg)
    assert reg.source == "cache"
    monkeypatch.setenv("OPENHCS_DISABLE_REGISTRY_CACHE", "1")
    reg.reset()
    list(reg)
    assert reg.source == "fresh"
    # and in fresh processes: with a valid file present, the switch alone makes it unused
    _warm(world, OPENHCS_DISABLE_REGISTRY_CACHE="0")
    out = world.run(
        f"import json; from {world.spec} import REGISTRY; print(json.dumps(len(REGISTRY) and REGISTRY.source))",
        OPENHCS_DISABLE_REGISTRY_CACHE="1",
    )
    assert out == "fresh"


def test_clear_cache(world: World) -> None:
    two_plugin_world(world)
    reg = world.registry()
    list(reg)
    assert clear_cache(world.name) == [world.cache_file]
    assert not world.cache_file.exists()
    list(reg)
    reg.reset()
    list(reg)
    assert reg.clear_cache() is True
    assert [p.name for p in clear_cache()] == [
        "entry_points_index.json"
    ]  # the entry-point index is a cache too


# -- many processes --------------------------------------------------------------------------
def test_eight_processes_on_a_cold_cache(world: World) -> None:
    two_plugin_world(world)
    code = (
        f"import json; from {world.spec} import REGISTRY; "
        "print(json.dumps([sorted(REGISTRY), REGISTRY['alpha'].__name__]))"
    )
    results = run_many(world, code, 8)
    assert results == [[["alpha", "beta"], "Alpha"]] * 8
    names = sorted(p.name for p in world.cache_dir.iterdir())
    assert names == ["entry_points_index.json", world.cache_file.name]
    status = world.run(
        f"import json; from {world.spec} import REGISTRY; "
        "print(json.dumps(REGISTRY.cache.info()['status']))"
    )
    assert status == "valid"
    assert warm_state(world)["source"] == "cache"


@pytest.mark.parametrize("edit", ["rename-key", "swap-refs", "flip-byte", "drop-checksum"])
def test_plausible_edits_are_caught_by_the_checksum(world: World, edit: str) -> None:
    """Edits that pass every shape check (a renamed key, swapped values) are still refused."""
    two_plugin_world(world)
    reg = world.registry()
    list(reg)
    raw = world.cache_file.read_bytes()
    if edit == "rename-key":
        data = raw.replace(b'"items":[["alpha"', b'"items":[["zzzzz"', 1)
    elif edit == "swap-refs":
        data = (
            raw.replace(b":Alpha", b":TEMP")
            .replace(b":Beta", b":Alpha")
            .replace(b":TEMP", b":Beta")
        )
    elif edit == "flip-byte":
        data = raw.replace(b'"version":"', b'"version":"9', 1)
    else:  # neither the head's sum nor the trailing one
        data = re.sub(rb',"warm":\[\d+,-?\d+\]', b"", raw[: raw.rindex(b',"checksum":')] + b"}")
    assert data != raw
    world.cache_file.write_bytes(data)
    reg.reset()
    assert sorted(reg) == ["alpha", "beta"] and reg.source == "fresh"
    assert reg["alpha"].__name__ == "Alpha"


@pytest.mark.parametrize("older", ["format-1-no-checksum", "format-2-crc32"])
def test_file_of_an_older_format_is_rebuilt_quietly(
    world: World, caplog: pytest.LogCaptureFixture, older: str
) -> None:
    import zlib

    two_plugin_world(world)
    reg = world.registry()
    list(reg)
    doc = world.read_cache()
    doc.pop("checksum")
    doc.pop("warm")  # (the head of format 10)
    if older == "format-1-no-checksum":  # as openhcs-registry wrote it before checksums
        doc["cache_version"] = 1
        world.cache_file.write_text(json.dumps(doc))
    else:  # format 2 ended with a CRC-32, which today's checksum does not match
        doc["cache_version"] = 2
        body = json.dumps(doc, separators=(",", ":")).encode()
        crc = zlib.crc32(body)
        world.cache_file.write_bytes(body[:-1] + b',"checksum":%d}' % crc)
    reg.reset()
    with caplog.at_level(logging.INFO, logger="openhcs_registry"):
        assert sorted(reg) == ["alpha", "beta"]
    assert reg.source == "fresh"
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert any("stale" in r.getMessage() for r in caplog.records)


def test_warm_start_imports_no_compression_or_hash_module(_isolated_cache: Path) -> None:
    env = dict(os.environ, OPENHCS_CACHE_DIR=str(_isolated_cache))
    code = """
        import json, sys
        import openhcs_hookspecs
        regs = openhcs_hookspecs.load_all()
        keys = {n: sorted(r) for n, r in regs.items()}
        loaded = sorted(m for m in ("zlib", "binascii", "hashlib") if m in sys.modules)
        print(json.dumps([loaded, sorted({r.source for r in regs.values()})]))
    """
    run_python(code, env)
    assert run_python(code, env) == [[], ["cache"]]


# -- the environment section: one check per look, each registry its own invalidation ------------
def _two_registries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[World, World]:
    """Two registries in one environment and one cache folder, one plugin each."""
    first = World(tmp_path / "first", cache_dir=tmp_path / "cache")
    second = World(tmp_path / "second", cache_dir=tmp_path / "cache")
    for w, key in ((first, "one"), (second, "two")):
        w.write_spec()
        w.install(f"{key}-plugin", f"{key}_{w.tag}", w.plugin_source((key.title(), key)))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(first.site), str(second.site)]))
    return first, second


def _both(first: World, second: World, order: str = "12") -> dict[str, object]:
    """In one fresh process (one look), list the two registries in *order*; their sources."""
    worlds = {"1": first, "2": second}
    reads = "".join(
        f"from {worlds[i].spec} import REGISTRY as R{i}\n"
        f"keys = sorted(R{i})\nout['{i}'] = [R{i}.source, keys]\n"
        for i in order
    )
    return first.run("import json\nout = {}\n" + reads + "print(json.dumps(out))")


def _env_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    assert re.match(rb'\{"cache_version":%d,"warm":\[\d+,-?\d+\],"envlen":' % CACHE_VERSION, data)
    head, _, rest = data.partition(b',"env":')
    return rest[: int(head.rpartition(b":")[2])]


def test_registries_of_one_environment_share_the_env_section_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What lets a burst check the environment once: every registry document written in
    one environment holds byte-identical interpreter, settings, sys.path and distribution
    rows (and the second registry of a burst then reads from the cache like the first)."""
    first, second = _two_registries(tmp_path, monkeypatch)
    assert _both(first, second) == {"1": ["fresh", ["one"]], "2": ["fresh", ["two"]]}
    assert _env_bytes(first.cache_file) == _env_bytes(second.cache_file)
    env = json.loads(_env_bytes(first.cache_file))
    assert set(env) == {
        "interpreter",
        "settings",
        "path",
        "dists",
        "dstamp",
        "switched",
        "startup",
        "environ",
    }
    assert _both(first, second) == {"1": ["cache", ["one"]], "2": ["cache", ["two"]]}


@pytest.mark.parametrize("order", ["12", "21"])
def test_an_edit_to_one_registrys_plugin_rediscovers_that_registry_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, order: str
) -> None:
    """The shared section is checked once, but each registry keeps its own recorded files:
    an edit to the plugin of one registry rediscovers that one, in either reading order
    (whether its section was the one checked, or the one compared as bytes)."""
    first, second = _two_registries(tmp_path, monkeypatch)
    _both(first, second)
    plugin = second.site / f"two_{second.tag}.py"
    plugin.write_text(second.plugin_source(("Two", "two"), ("Three", "three")))
    assert _both(first, second, order) == {
        "1": ["cache", ["one"]],
        "2": ["fresh", ["three", "two"]],
    }
    assert _both(first, second, order) == {
        "1": ["cache", ["one"]],
        "2": ["cache", ["three", "two"]],
    }


@pytest.mark.parametrize(
    "damage",
    ["interpreter", "path row", "distribution", "not json"],
)
def test_a_foreign_env_section_rebuilds_its_registry_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    """A document whose environment section differs from the one the burst checked (written
    elsewhere, edited, or damaged) is checked on its own: its registry rebuilds, the other
    one read before it in the same look stays cached, and nothing raises."""
    first, second = _two_registries(tmp_path, monkeypatch)
    _both(first, second)
    doc = second.read_cache()
    env = doc["env"]
    if damage == "interpreter":
        env["interpreter"]["prefix"] = "/elsewhere"
    elif damage == "path row":
        env["path"][0][1] += 1  # a sys.path folder changed since, racy bound or not
        env["path"][0][-1] = 12345
    elif damage == "distribution":
        env["dstamp"] += 1
    second.write_cache(doc)
    if damage == "not json":  # covered by a valid checksum, yet not JSON: corrupt
        data = second.cache_file.read_bytes()
        env_bytes = _env_bytes(second.cache_file)
        data = data.replace(env_bytes, b"[" + env_bytes[1:-1] + b"]", 1)
        second.cache_file.write_bytes(_resigned(data))
    assert _both(first, second) == {"1": ["cache", ["one"]], "2": ["fresh", ["two"]]}
    assert _both(first, second, "21") == {"1": ["cache", ["one"]], "2": ["cache", ["two"]]}


def _resigned(data: bytes) -> bytes:
    """*data* with its head and trailing checksum recomputed (see ``_fileio._with_head``)."""
    from openhcs_registry._fileio import (
        _CHECKSUM_FIELD,
        _SPLIT_FIELD,
        _WARM_FIELD,
        _cold_at,
        _warm_head,
        _with_head,
        checksum,
    )

    end = data.rfind(_CHECKSUM_FIELD)
    at = _cold_at(data, end)
    assert at is not None
    found = _warm_head(data[:96])
    assert found is not None
    body = _with_head(data[: data.index(_WARM_FIELD)] + data[found[0] : at] + b"}")
    cold = data[at : data.rfind(_SPLIT_FIELD, 0, end)]
    split = len(body) - 1
    return b"%s%s%s%d%s%d}" % (
        body[:-1],
        cold,
        _SPLIT_FIELD,
        split,
        _CHECKSUM_FIELD,
        checksum(body),
    )


def test_installing_a_contract_that_declares_a_set_switch_rebuilds_in_full(
    world: World,
) -> None:
    """The declared switches are not read from the entry-point index on a warm start: the
    section's distributions stand for them.  When they change (a contracts package
    declaring a switch that is already set gets installed), the settings are compared in
    full before reuse is considered, so the rule's new input is applied to every plugin."""
    from test_settings import _switch_world

    probe = _switch_world(world, declare=False)
    assert world.run(probe)[:2] == ["fresh", ["a", "b"]]
    # not declared yet: watched as a variable the rule read (a full rediscovery)
    assert world.run(probe, MY_SWITCH="1")[:2] == ["fresh", ["a"]]
    assert world.run(probe, MY_SWITCH="1")[:2] == ["cache", ["a"]]
    world.add_dist_info(
        "switch-contracts", "1.0", {"MY_SWITCH": world.spec}, group="openhcs.settings"
    )
    assert world.run(probe, MY_SWITCH="1") == [
        "fresh",
        ["a"],
        ["b is off while MY_SWITCH is set"],
        True,
    ]
    assert world.run(probe, MY_SWITCH="1")[:2] == ["cache", ["a"]]
    assert world.run(probe)[:2] == ["fresh", ["a", "b"]]  # the value, read at every start


def test_installing_a_distribution_that_shadows_a_switch_declaration_rebuilds_in_full(
    world: World,
) -> None:
    """After an install the switches are taken as recorded when every recorded declaration
    is unchanged and the new folders declare none (no index rebuild).  A new folder of the
    same distribution as the one declaring the switch, listed first, shadows it (the first
    of a name wins): the switch is no longer declared, and the document written says so,
    as a full discovery's does."""
    from test_settings import _switch_world

    probe = _switch_world(world, declare=True)
    assert world.run(probe, MY_SWITCH="1")[:2] == ["fresh", ["a"]]
    assert world.run(probe, MY_SWITCH="1")[:2] == ["cache", ["a"]]
    assert "MY_SWITCH" in _recorded_settings(world)
    world.add_dist_info("Switch-Contracts", "2.0", {"tool": "os"}, group="console_scripts")
    got = world.run(probe, MY_SWITCH="1")
    written = _recorded_settings(world)
    world.cache_file.unlink()
    assert world.run(probe, MY_SWITCH="1") == got
    assert written == _recorded_settings(world)
    assert "MY_SWITCH" not in written


def _recorded_settings(world: World) -> dict[str, str]:
    settings: dict[str, str] = json.loads(world.cache_file.read_bytes())["env"]["settings"]
    return settings


def test_an_install_declaring_no_switch_keeps_the_index_as_it_was(world: World) -> None:
    """The install start does not rebuild the entry-point index (the recorded switches
    stand); the first process that asks the index for a group rebuilds it then, with the
    new distribution's entries."""
    from test_settings import _switch_world

    probe = _switch_world(world, declare=True)
    assert world.run(probe)[:2] == ["fresh", ["a", "b"]]
    index = world.cache_dir / "entry_points_index.json"
    before = index.read_bytes()
    world.add_dist_info("later-contracts", "1.0", {"later": world.spec}, group="openhcs")
    world.add_dist_info("c-plugin", "1.0", {"c_mod": "os"})
    listing = probe.replace('"MY_SWITCH" in settings.declared_switches()', "None")
    assert world.run(listing)[:2] == ["fresh", ["a", "b"]]
    assert index.read_bytes() == before  # not rebuilt by the registry's start
    declared = world.run(
        "import json\nfrom openhcs_registry import settings\n"
        "print(json.dumps([list(r) for r in settings.declared('openhcs')]))"
    )
    assert ["later", world.spec] in [row[1:] for row in declared], declared
    assert index.read_bytes() != before


def test_an_uninstall_of_no_switch_declarer_keeps_the_index_as_it_was(world: World) -> None:
    """A removal or an upgrade of a distribution that declared no switch: the check tells
    from the recorded scan and the recorded declarers (``switched`` in the environment
    section) that the switches hold, without rebuilding the entry-point index; the answer
    is a full discovery's."""
    from test_settings import _switch_world

    probe = _switch_world(world, declare=True)
    world.install("c-plugin", f"c_{world.tag}", world.plugin_source(("C", "c")))
    assert world.run(probe, MY_SWITCH="1")[:2] == ["fresh", ["a", "c"]]
    env = json.loads(world.cache_file.read_bytes())["env"]
    assert "switch-contracts" in env["switched"] and "MY_SWITCH" in env["settings"]
    index = world.cache_dir / "entry_points_index.json"
    before = index.read_bytes()
    world.uninstall("c-plugin")
    (world.site / f"c_{world.tag}.py").unlink()
    listing = probe.replace('"MY_SWITCH" in settings.declared_switches()', "None")
    got = world.run(listing, MY_SWITCH="1")
    assert got[:2] == ["fresh", ["a"]]
    assert index.read_bytes() == before  # not rebuilt by the registry's start
    assert _recorded_settings(world) == {**env["settings"]}
    world.cache_file.unlink()
    assert world.run(listing, MY_SWITCH="1") == got


def test_an_uninstall_of_the_switch_declarer_compares_the_settings_in_full(
    world: World,
) -> None:
    """The distribution that declared the switch removed: the switch is no longer
    declared, its value no longer read, and the start says so as a full discovery does."""
    from test_settings import _switch_world

    probe = _switch_world(world, declare=True)
    assert world.run(probe, MY_SWITCH="1")[:2] == ["fresh", ["a"]]
    world.uninstall("switch-contracts")
    got = world.run(probe, MY_SWITCH="1")
    # (the rule reads the variable all the same: declaring it is what the cache watches)
    assert got == ["fresh", ["a"], ["b is off while MY_SWITCH is set"], False]
    assert "MY_SWITCH" not in _recorded_settings(world)
    assert "switch-contracts" not in json.loads(world.cache_file.read_bytes())["env"]["switched"]
    world.cache_file.unlink()
    assert world.run(probe, MY_SWITCH="1") == got


def test_an_upgrade_that_declares_a_switch_compares_the_settings_in_full(world: World) -> None:
    """A plugin distribution upgraded to a version that declares a switch: the new
    metadata folder is read, and the settings are compared in full."""
    from test_settings import _switch_world

    probe = _switch_world(world, declare=False)
    assert world.run(probe, MY_SWITCH="1") == [
        "fresh",
        ["a"],
        ["b is off while MY_SWITCH is set"],
        False,
    ]
    assert "MY_SWITCH" not in _recorded_settings(world)
    world.uninstall("ab-plugin")
    world.add_dist_info("ab-plugin", "2.0", {f"ab_{world.tag}": f"ab_{world.tag}"})
    info = world.site / "ab_plugin-2.0.dist-info" / "entry_points.txt"
    info.write_text(info.read_text() + f"[openhcs.settings]\nMY_SWITCH = {world.spec}\n")
    got = world.run(probe, MY_SWITCH="1")
    assert got == ["fresh", ["a"], ["b is off while MY_SWITCH is set"], True]
    assert _recorded_settings(world)["MY_SWITCH"] == "1"
    world.cache_file.unlink()
    assert world.run(probe, MY_SWITCH="1") == got


def test_signatures_taken_in_c_equal_one_by_one_and_the_writers_stamp(tmp_path: Path) -> None:
    """The warm check's signatures (``map`` over ``os.stat``, going on after a missing file)
    are the ones a file-by-file stat gives, and their fold is the writer's stamp of rows
    recorded with those stats: a missing file first, in the middle, last, twice in a row,
    a path with a NUL byte, no path at all."""
    from openhcs_registry._cache import fold_rows
    from openhcs_registry._environment import file_stat, signature, signatures

    present = []
    for i in range(6):
        path = tmp_path / f"f{i}.py"
        path.write_text("x" * i)
        present.append(str(path))
    gone = [str(tmp_path / "gone1"), str(tmp_path / "gone2")]
    cases = [
        present,
        [gone[0], *present],
        [*present, gone[0]],
        [*present[:3], *gone, *present[3:]],
        [str(tmp_path / "nul\0byte"), *present],
        gone,
        [],
    ]
    for paths in cases:
        sigs = signatures(paths)
        assert sigs == [signature(p) for p in paths]
        rows = [[p, *(file_stat(p) or [None, None, None, None])] for p in paths]
        assert [-1 if r[1] is None else tuple(r[1:5]) for r in rows] == sigs
        assert hash(tuple(sigs)) == fold_rows(rows)


def test_written_answer_fields_unpack_to_what_discovery_built(world: World) -> None:
    """``pack`` and ``unpack`` are inverse: the plain form read back from the file (the
    cold part's file rows as rows) packs to the very fields written, the cold part's file
    columns and derived ``reads`` included, and holds what the registry answers."""
    from openhcs_registry._cache import pack

    two_plugin_world(world)
    reg = world.registry()
    list(reg)
    raw = json.loads(world.cache_file.read_text())
    plain = world.read_cache()
    assert sorted(plain["items"]) == ["alpha", "beta"]
    assert plain["items"]["alpha"]["ref"] == reg.reference("alpha")
    assert plain["modules"][f"alpha_{world.tag}"] == raw["files"].index(reg.info("alpha")["file"])
    alpha_file = raw["files"].index(reg.info("alpha")["file"])
    (alpha_row,) = [row for row in plain["cold"]["files"] if row[0] == reg.info("alpha")["file"]]
    assert alpha_row[1:5] == [col[alpha_file] for col in raw["cold"]["files"][:4]]
    again = pack(plain)
    for field in ("modules", "blocked_modules", "items", "secondaries"):
        assert again[field] == raw[field]
    for section in ("files", "reads", "plugins", "hooks"):
        assert again["cold"][section] == raw["cold"][section]


def test_a_warm_listing_leaves_the_module_tables_unparsed(world: World) -> None:
    """Listing keys reads neither the module table nor the blocked modules (JSON text until a
    value or its provenance is asked for); then they are the recorded ones."""
    two_plugin_world(world)
    _warm(world)
    out = world.run(
        f"""
        import json
        from {world.spec} import REGISTRY
        keys = sorted(REGISTRY)
        table = REGISTRY._state._table
        before = [type(table._modules).__name__, type(REGISTRY._state._blocked_modules).__name__]
        ref = REGISTRY.reference("alpha")
        modules = sorted(REGISTRY.recorded_modules)
        print(json.dumps([REGISTRY.source, keys, before, ref, modules]))
        """
    )
    assert out[:3] == ["cache", ["alpha", "beta"], ["str", "NoneType"]]
    assert out[3] == f"alpha_{world.tag}:Alpha"
    assert f"alpha_{world.tag}" in out[4] and f"beta_{world.tag}" in out[4]


def test_provenance_of_a_reference_outside_the_recorded_modules_is_refused(
    world: World,
) -> None:
    """``info()`` on a re-signed document whose reference leaves the recorded modules
    reports the fresh discovery's provenance, having dropped the cache (as reading the value
    does), and imports nothing."""
    two_plugin_world(world)
    _warm(world)  # (a document of the subprocesses' environment)
    doc = world.read_cache()
    doc["items"]["alpha"]["ref"] = "os:system"
    world.write_cache(doc)
    out = world.run(
        f"""
        import json, sys
        from {world.spec} import REGISTRY
        keys = sorted(REGISTRY)
        source = REGISTRY.source
        ref = REGISTRY.info("alpha")["ref"]
        print(json.dumps([keys, source, ref, REGISTRY.source]))
        """
    )
    assert out == [["alpha", "beta"], "cache", f"alpha_{world.tag}:Alpha", "fresh"]


def test_racy_rows_settle_once_their_window_has_passed(world: World) -> None:
    """A document written right after its plugins were installed has the site folder's
    listing (and the digests of files written within 100 ms of it) compared at every
    start; once the racy window has passed, the first warm start that finds them unchanged
    writes the document again without them, same answer and stamps, and a later edit is
    still seen by its stat."""
    two_plugin_world(world)
    _warm(world)
    before = world.read_cache()
    site = [row for row in before["env"]["path"] if row[0] == str(world.site)]
    assert site and site[0][1] >= int(before["timestamp"] * 1e9) - 2_500_000_000  # racy
    time.sleep(2.6)  # the coarse racy window (2.5 s)
    assert warm_state(world)["source"] == "cache"
    after = world.read_cache()
    assert after["racy"] == [] and after["timestamp"] > before["timestamp"]
    for field in ("items", "modules", "files", "stamp", "secondaries", "dirs"):
        assert after[field] == before[field]
    assert [row[:5] for row in after["cold"]["files"]] == [
        row[:5] for row in before["cold"]["files"]
    ]
    assert warm_state(world)["source"] == "cache"
    assert world.read_cache()["timestamp"] == after["timestamp"]  # settled once
    world.write(
        f"alpha_{world.tag}.py", world.plugin_source(("Alpha", "alpha"), ("Gamma", "gamma"))
    )
    assert warm_state(world)["keys"] == ["alpha", "beta", "gamma"]


def test_a_damaged_cold_part_is_found_when_read_and_its_document_rebuilt(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """A warm start reads the warm part alone (its head's sum checks it), so a document cut
    short in its cold part still answers; provenance, which reads the cold part, finds the
    damage: one warning, the document removed, and the next start rebuilds it whole."""
    two_plugin_world(world)
    reg = world.registry()
    list(reg)
    raw = world.cache_file.read_bytes()
    world.cache_file.write_bytes(raw[: raw.index(b',"cold":') + 30])
    os.chmod(world.cache_file, 0o600)
    reg.reset()
    assert sorted(reg) == ["alpha", "beta"] and reg.source == "cache"
    with caplog.at_level(logging.WARNING, logger="openhcs_registry"):
        info = reg.info("alpha")
    assert info["ref"] == f"alpha_{world.tag}:Alpha" and info["plugin"] is None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "cold part damaged" in warnings[0]
    assert not world.cache_file.exists()
    reg.reset()
    assert sorted(reg) == ["alpha", "beta"] and reg.source == "fresh"
    reg.reset()
    list(reg)
    assert reg.source == "cache" and reg.info("alpha")["distribution"] == "alpha-plugin"


def test_a_folder_whose_stat_moved_with_its_listing_unchanged_is_restated(world: World) -> None:
    """A file made and removed in the site folder moves its stat, not its listing: each warm
    start then compares the listing and takes the install check's path (the cold entry-point
    module imported).  Once the folder has been quiet for the racy window, a warm start writes
    the document again with the folder's stat as it is now, and later starts compare stats
    only; a real change there is still seen."""
    two_plugin_world(world)
    _warm(world)
    time.sleep(2.6)  # the install's racy rows settle first (the test above)
    _warm(world)
    probe = f"""
        import json, sys
        from {world.spec} import REGISTRY
        keys = sorted(REGISTRY)
        print(json.dumps([REGISTRY.source, keys,
                          "openhcs_registry._cold._entrypoints" in sys.modules]))
        """
    scratch = world.site / "scratch.tmp"
    scratch.write_text("x")
    scratch.unlink()
    moved = world.run(probe)
    assert moved == ["cache", ["alpha", "beta"], True]  # listed, through the install check
    time.sleep(2.6)  # the coarse racy window (2.5 s)
    assert world.run(probe)[:2] == ["cache", ["alpha", "beta"]]  # restated here
    site = next(row for row in world.read_cache()["env"]["path"] if row[0] == str(world.site))
    st = os.stat(world.site)
    assert site[1:5] == [st.st_mtime_ns, st.st_size, st.st_ctime_ns, st.st_ino]
    assert world.run(probe) == ["cache", ["alpha", "beta"], False]
    world.install("gamma-plugin", f"gamma_{world.tag}", world.plugin_source(("Gamma", "gamma")))
    assert world.run(probe)[:2] == ["fresh", ["alpha", "beta", "gamma"]]
