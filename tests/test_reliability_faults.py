"""Faults, load and hostile files: the process keeps working, says so once, loses nothing."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from support import World, run_many

from openhcs_registry import _refs as refs


def two_plugins(world: World, **spec: object) -> World:
    world.write_spec(**spec)
    world.install("alpha-plugin", f"alpha_{world.tag}", world.plugin_source(("Alpha", "alpha")))
    world.install("beta-plugin", f"beta_{world.tag}", world.plugin_source(("Beta", "beta")))
    return world


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


# -- concurrency ----------------------------------------------------------------------------------
def test_eight_processes_repeated_cold_starts_while_invalidated(world: World) -> None:
    """8 x 6 cold starts on one folder while another process keeps invalidating the cache."""
    two_plugins(world)
    plugin_file = world.site / f"beta_{world.tag}.py"
    worker = f"""
import json, logging, sys
class Count(logging.Handler):
    bad = 0
    def emit(self, record):
        msg = record.getMessage()
        if "corrupt" in msg or "checksum" in msg or "not valid JSON" in msg:
            Count.bad += 1
logging.getLogger("openhcs_registry").addHandler(Count())
results = []
for _ in range(6):
    for name in [m for m in sys.modules if m.startswith(("spec_", "alpha_", "beta_"))]:
        del sys.modules[name]
    import importlib
    spec = importlib.import_module("{world.spec}")
    reg = spec.REGISTRY
    results.append([sorted(reg), reg["alpha"].__name__, reg["beta"].__name__])
print(json.dumps({{"results": results, "torn": Count.bad}}))
"""
    stop = time.monotonic() + 30
    toucher = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import os, time\nend = time.monotonic() + 30\n"
            f"while time.monotonic() < end:\n    os.utime({str(plugin_file)!r})\n    time.sleep(0.005)\n",
        ],
    )
    try:
        outs = run_many(world, worker, 8, timeout=max(5.0, stop - time.monotonic() + 60))
    finally:
        toucher.kill()
        toucher.wait()
    for out in outs:
        assert out["torn"] == 0
        assert out["results"] == [[["alpha", "beta"], "Alpha", "Beta"]] * 6
    names = sorted(p.name for p in world.cache_dir.iterdir())
    assert names == ["entry_points_index.json", world.cache_file.name]


def test_32_threads_discover_once_and_resolve_each_value_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.write_spec()
    classes = [(f"C{i}", f"k{i}") for i in range(8)]
    world.install(
        "many-plugin",
        f"many_{world.tag}",
        world.plugin_source(
            *classes,
            hook=False,
            extra=f"""
        import time
        CALLS = []
        @hookimpl
        def provide_things():
            CALLS.append(1)
            time.sleep(0.1)
            return [{", ".join(c for c, _ in classes)}]
        """,
        ),
    )
    reg = world.registry()
    list(reg)  # write the cache
    reg.reset()
    import sys as _sys

    del _sys.modules[f"many_{world.tag}"]  # warm replay: values are references again
    resolved: list[str] = []
    real = refs.resolve

    def counting(ref: str) -> object:
        resolved.append(ref)
        time.sleep(0.01)
        return real(ref)

    monkeypatch.setattr("openhcs_registry._refs.resolve", counting)
    barrier = threading.Barrier(32)
    seen: list[dict[str, str]] = []
    errors: list[BaseException] = []

    def hit() -> None:
        try:
            barrier.wait()
            seen.append({k: reg[k].__name__ for k in reg})
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=hit) for _ in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert len(seen) == 32 and all(s == seen[0] for s in seen) and len(seen[0]) == 8
    assert reg.source == "cache"
    assert sorted(resolved) == sorted(set(resolved)) and len(resolved) == 8  # once per value


# -- faults ---------------------------------------------------------------------------------------
def test_cache_folder_removed_between_read_and_write(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.write_spec()
    # the plugin's hook runs between the cache read (a miss) and the write
    world.install(
        "remover-plugin",
        f"remover_{world.tag}",
        world.plugin_source(
            ("R", "r"),
            hook=False,
            extra=f"""
        import shutil
        @hookimpl
        def provide_things():
            shutil.rmtree({str(world.cache_dir)!r}, ignore_errors=True)
            return [R]
        """,
        ),
    )
    world.cache_dir.mkdir(parents=True, exist_ok=True)
    reg = world.registry()
    with caplog.at_level(logging.WARNING, logger="openhcs_registry"):
        assert list(reg) == ["r"]
    assert world.cache_file.exists()  # the folder was made again, privately
    assert stat.S_IMODE(world.cache_dir.stat().st_mode) == 0o700
    assert warnings_of(caplog) == []


def test_disk_full_on_write(world: World) -> None:
    """A real write failure: the kernel's file-size limit (EFBIG), as a full disk would."""
    two_plugins(world)
    out = world.run(f"""
        import json, logging, resource, signal
        logging.basicConfig(level=logging.WARNING)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))
        from {world.spec} import REGISTRY
        keys = sorted(REGISTRY)
        print(json.dumps([keys, REGISTRY['alpha'].__name__]))
        """)
    assert out == [["alpha", "beta"], "Alpha"]
    assert not world.cache_file.exists()
    assert [p.name for p in world.cache_dir.iterdir()] == []  # no temp file left behind


def test_disk_full_warning_is_said_once(world: World) -> None:
    two_plugins(world)
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            f"""
import resource, signal
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))
from {world.spec} import REGISTRY
for _ in range(3):
    REGISTRY.reset(); sorted(REGISTRY)
""",
        ],
        env=world.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("not writable") == 1


def test_cache_file_replaced_by_a_directory(world: World, caplog: pytest.LogCaptureFixture) -> None:
    two_plugins(world)
    reg = world.registry()
    list(reg)
    world.cache_file.unlink()
    world.cache_file.mkdir()
    reg.reset()
    with caplog.at_level(logging.WARNING, logger="openhcs_registry"):
        assert sorted(reg) == ["alpha", "beta"]
        reg.reset()
        assert sorted(reg) == ["alpha", "beta"]
    assert world.cache_file.is_dir()  # left alone
    assert len(warnings_of(caplog)) <= 2  # once for the read, once for the write


def test_symlink_outside_the_cache_folder_is_refused(world: World, tmp_path: Path) -> None:
    two_plugins(world)
    reg = world.registry()
    list(reg)
    outside = tmp_path / "outside.json"
    outside.write_bytes(world.cache_file.read_bytes())
    os.chmod(outside, 0o600)
    world.cache_file.unlink()
    world.cache_file.symlink_to(outside)
    reg.reset()
    list(reg)
    assert reg.source == "fresh"  # not read through the link
    # a link that stays inside the folder is fine
    inside = world.cache_dir / "real.json"
    world.cache_file.unlink()
    reg.reset()
    list(reg)  # rewrite a real file
    world.cache_file.rename(inside)
    world.cache_file.symlink_to(inside)
    reg.reset()
    list(reg)
    assert reg.source == "cache"


def test_plugin_module_deleted_after_caching(world: World) -> None:
    two_plugins(world)
    world.run(
        f"import json; from {world.spec} import REGISTRY; print(json.dumps(sorted(REGISTRY)))"
    )
    (world.site / f"beta_{world.tag}.py").unlink()
    out = world.run(
        f"import json; from {world.spec} import REGISTRY; k = sorted(REGISTRY); "
        "print(json.dumps([k, REGISTRY.source, [f.kind for f in REGISTRY.failures]]))"
    )
    assert out == [["alpha"], "fresh", ["import_error"]]


def test_plugin_module_deleted_without_mtime_checks(world: World) -> None:
    """Only resolving can notice: the module lives in a package, off the fingerprinted path."""
    world.write_spec(check_mtimes=False)
    world.install("alpha-plugin", f"alpha_{world.tag}", world.plugin_source(("Alpha", "alpha")))
    pkg = f"betapkg_{world.tag}"
    world.write(f"{pkg}/__init__.py", "")
    world.write(f"{pkg}/impl.py", world.plugin_source(("Beta", "beta")))
    world.add_dist_info("beta-plugin", "1.0", {"beta": f"{pkg}.impl"})
    world.run(
        f"import json; from {world.spec} import REGISTRY; print(json.dumps(sorted(REGISTRY)))"
    )
    (world.site / pkg / "impl.py").unlink()
    out = world.run(f"""
        import json
        from {world.spec} import REGISTRY
        keys = sorted(REGISTRY)
        try:
            REGISTRY["beta"]
            outcome = "resolved"
        except KeyError:
            outcome = "KeyError"
        print(json.dumps([keys, outcome, REGISTRY["alpha"].__name__, sorted(REGISTRY)]))
        """)
    assert out == [["alpha", "beta"], "KeyError", "Alpha", ["alpha"]]


def test_plugin_sleeping_in_its_import_blocks_nobody_else(world: World) -> None:
    world.write_spec()
    world.install(
        "slow-plugin",
        f"slow_{world.tag}",
        "import time\ntime.sleep(1.5)\n" + world.plugin_source(("Slow", "slow")),
    )
    other = World(world.root / "other")
    other.write_spec()
    other.install("fast-plugin", f"fast_{other.tag}", other.plugin_source(("Fast", "fast")))
    out = world.run(
        f"""
        import json, sys, threading, time
        sys.path.insert(0, {str(other.site)!r})
        from {world.spec} import REGISTRY as SLOW
        from {other.spec} import REGISTRY as FAST
        done = {{}}
        def read(name, reg):
            keys = sorted(reg)
            done[name] = (time.monotonic(), keys)
        t0 = time.monotonic()
        a = threading.Thread(target=read, args=("slow", SLOW)); a.start()
        time.sleep(0.2)
        b = threading.Thread(target=read, args=("fast", FAST)); b.start()
        a.join(); b.join()
        print(json.dumps({{k: [round(v[0] - t0, 2), v[1]] for k, v in done.items()}}))
        """,
        timeout=60,
    )
    assert out["slow"][1] == ["slow"] and out["fast"][1] == ["fast"]
    assert out["fast"][0] < out["slow"][0]  # the fast registry did not wait for the slow import


# -- security -------------------------------------------------------------------------------------
@pytest.mark.parametrize("problem", ["other-owner", "world-writable", "group-writable"])
def test_untrusted_cache_file_is_ignored(
    world: World, problem: str, caplog: pytest.LogCaptureFixture
) -> None:
    two_plugins(world)
    reg = world.registry()
    list(reg)
    if problem == "other-owner":
        if os.getuid() != 0:
            pytest.skip("chown to another user needs root")
        os.chown(world.cache_file, 12345, 12345)
    else:
        os.chmod(world.cache_file, 0o666 if problem == "world-writable" else 0o620)
    reg.reset()
    with caplog.at_level(logging.WARNING, logger="openhcs_registry"):
        assert sorted(reg) == ["alpha", "beta"]
    assert reg.source == "fresh"
    assert any("ignored" in w for w in warnings_of(caplog))
    assert stat.S_IMODE(world.cache_file.stat().st_mode) == 0o600  # and rewritten privately
    assert world.cache_file.stat().st_uid == os.getuid()


def test_a_folder_writable_by_others_is_left_alone_and_not_used(world: World) -> None:
    """Only what we created is ever chmod'ed: a 0777 folder is used uncached, unchanged."""
    world.cache_dir.mkdir(parents=True)
    os.chmod(world.cache_dir, 0o777)
    two_plugins(world)
    assert sorted(world.registry()) == ["alpha", "beta"]
    assert stat.S_IMODE(world.cache_dir.stat().st_mode) == 0o777
    assert not world.cache_file.exists()


@pytest.mark.parametrize(
    "claim",
    [None, "/nonexistent/os.py", "__file_of_os__"],
    ids=["null-file-record", "unrecorded-file", "real-file-not-in-inputs"],
)
def test_cache_naming_os_system_is_rejected_without_running_it(
    world: World, claim: str | None
) -> None:
    import os as os_module

    two_plugins(world)
    world.run(
        f"import json; from {world.spec} import REGISTRY; print(json.dumps(sorted(REGISTRY)))"
    )
    doc = world.read_cache()
    doc["items"]["alpha"]["ref"] = "os:system"
    # even when the document claims to have recorded the module: only modules whose file is
    # among the checked inputs may be resolved
    doc["modules"]["os"] = os_module.__file__ if claim == "__file_of_os__" else claim
    world.write_cache(doc)
    out = world.run(f"""
        import json
        from {world.spec} import REGISTRY
        value = REGISTRY["alpha"]
        print(json.dumps([value.__name__, REGISTRY.source, sorted(REGISTRY)]))
        """)
    assert out == ["Alpha", "fresh", ["alpha", "beta"]]
