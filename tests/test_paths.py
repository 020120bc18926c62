"""Where caches live (:mod:`openhcs_registry._paths`): XDG by default, platformdirs' answer, no
platformdirs import on an ordinary warm start.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import run_python

from openhcs_registry import get_openhcs_cache_dir
from openhcs_registry._paths import environment_folder


# -- location --------------------------------------------------------------------------------
def test_default_location_is_xdg_user_data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("OPENHCS_CACHE_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    # one folder per Python environment, named after it
    env = environment_folder()
    assert get_openhcs_cache_dir() == tmp_path / "xdg" / "openhcs" / "cache" / env
    tag = sys.implementation.cache_tag
    assert env.startswith(f"{Path(sys.prefix).name.lstrip('.')}-{tag}-"), env
    monkeypatch.setenv("OPENHCS_CACHE_DIR", str(tmp_path / "elsewhere"))
    assert get_openhcs_cache_dir() == tmp_path / "elsewhere"  # (named: used as it is)


def test_environment_folders_differ_by_prefix_and_are_stable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    names = set()
    prefixes = ["/opt/envs/a", "/opt/envs/b", "/srv/a", "/", "/x/.venv", "/x/wé ird:name"]
    # (the same last part, the paths differing only near their end or their start)
    prefixes += ["/tmp/s/str/v", "/tmp/s/str2/v", "/tmp/t/str/v", "/a/p1/.venv", "/a/p2/.venv"]
    for prefix in prefixes:
        monkeypatch.setattr(sys, "prefix", prefix)
        name = environment_folder()
        assert name == environment_folder()  # (the memo's answer is the one worked out)
        assert os.sep not in name and not name.startswith(".") and len(name) < 80
        names.add(name)
    assert len(names) == len(prefixes)
    # the digests alone differ too
    assert len({name.rpartition("-")[2] for name in names}) == len(prefixes)
    monkeypatch.setattr(sys, "prefix", "/opt/envs/a")
    in_another_process = run_python(
        "import json, sys; sys.prefix = '/opt/envs/a'\n"
        "from openhcs_registry._paths import environment_folder\n"
        "print(json.dumps(environment_folder()))",
        dict(os.environ),
    )
    assert in_another_process == environment_folder()  # (hash of an int: not randomised)


@pytest.mark.parametrize(
    ("xdg", "home"),
    [
        (None, "/home/someone"),
        ("/data/xdg", "/home/someone"),
        ("", "/root"),
        ("relative/xdg", "/h"),
        (None, "relative-home"),
        ("/x", None),
    ],
)
def test_cache_dir_agrees_with_platformdirs(
    monkeypatch: pytest.MonkeyPatch, xdg: str | None, home: str | None
) -> None:
    """The short cut that avoids importing platformdirs gives platformdirs' own answer."""
    import platformdirs

    monkeypatch.delenv("OPENHCS_CACHE_DIR")
    for name, value in (("XDG_DATA_HOME", xdg), ("HOME", home)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    try:
        expected = Path(platformdirs.user_data_dir("openhcs", appauthor=False)) / "cache"
    except RuntimeError:  # platformdirs refuses some relative HOMEs; then so may we
        return
    expected /= environment_folder()
    assert get_openhcs_cache_dir() == expected


def _default_location(tmp_path: Path) -> dict[str, str]:
    """The environment of a process with the default cache folder, under *tmp_path*/xdg."""
    env = {k: v for k, v in os.environ.items() if k != "OPENHCS_CACHE_DIR"}
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    return env


def test_default_folder_warm_start_does_not_import_platformdirs(tmp_path: Path) -> None:
    env = _default_location(tmp_path)
    code = """
        import json, sys
        import openhcs_hookspecs
        regs = openhcs_hookspecs.load_all()
        keys = {n: sorted(r) for n, r in regs.items()}
        print(json.dumps(["platformdirs" in sys.modules, sorted({r.source for r in regs.values()})]))
    """
    run_python(code, env)
    folder = tmp_path / "xdg" / "openhcs" / "cache" / environment_folder()
    assert (folder / "zmq_server_registry.json").exists()
    assert run_python(code, env) == [False, ["cache"]]
    # the folders created for it are private
    assert (folder.stat().st_mode & 0o777, folder.parent.stat().st_mode & 0o777) == (0o700, 0o700)


def test_two_environments_used_in_turn_keep_their_own_caches(tmp_path: Path) -> None:
    """A project's venv and another one (a tool's, a second conda environment) with the
    default folder: each start of one left the other's caches as they were, so both start
    warm; one shared file was rebuilt at every switch."""
    from never_stale_world import outer_site_folders

    other = tmp_path / "other-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(other)], check=True)
    python = str(other / "bin" / "python")
    purelib = run_python(
        "import json, sysconfig; print(json.dumps(sysconfig.get_paths()['purelib']))",
        {},
        python=python,
    )
    lines = "; ".join(f"site.addsitedir({p!r})" for p in outer_site_folders())
    (Path(purelib) / "_outer.pth").write_text(f"import site; {lines}\n")
    env = _default_location(tmp_path)
    code = """
        import json
        from openhcs_hookspecs import STORAGE_BACKENDS as S
        from openhcs_registry._paths import environment_folder
        print(json.dumps([sorted(S), S.source, environment_folder()]))
    """
    starts = [run_python(code, env, python=p) for p in (sys.executable, python) * 3]
    assert [source for _keys, source, _folder in starts] == ["fresh"] * 2 + ["cache"] * 4
    assert starts[0][0] == starts[1][0]  # (the same plugins, reached from either)
    assert starts[0][2] != starts[1][2]
    base = tmp_path / "xdg" / "openhcs" / "cache"
    assert sorted(p.name for p in base.iterdir()) == sorted([starts[0][2], starts[1][2]])


def test_clearing_the_default_folder_clears_this_environment_and_older_layouts(
    tmp_path: Path,
) -> None:
    env = _default_location(tmp_path)
    run_python("from openhcs_hookspecs import ZMQ_SERVERS as Z; print(len(list(Z)))", env)
    base = tmp_path / "xdg" / "openhcs" / "cache"
    ours = base / environment_folder()
    document = (ours / "zmq_server_registry.json").read_bytes()
    (base / "zmq_server_registry.json").write_bytes(document)  # (as versions before wrote it)
    (base / "notes.json").write_text("{}")  # not ours: kept
    other = base / "other-cpython-311-0000000000000001"
    other.mkdir(mode=0o700)
    (other / "zmq_server_registry.json").write_bytes(document)  # another environment's
    removed = run_python(
        "import json; from openhcs_registry import clear_cache\n"
        "print(json.dumps(sorted(str(p) for p in clear_cache())))",
        env,
    )
    assert str(base / "zmq_server_registry.json") in removed
    assert str(ours / "zmq_server_registry.json") in removed
    assert not any(path.startswith(str(other)) for path in removed)
    assert (base / "notes.json").exists() and (other / "zmq_server_registry.json").exists()


def test_folders_of_environments_that_are_gone_are_removed_by_the_next_new_one(
    tmp_path: Path,
) -> None:
    """One-file frozen applications unpack into a new folder (``sys.prefix``) at every run:
    each new environment's folder removes those whose environment is gone, so they do not
    pile up; nothing else is touched."""
    env = _default_location(tmp_path)
    base = tmp_path / "xdg" / "openhcs" / "cache"
    listing = "from openhcs_hookspecs import ZMQ_SERVERS as Z; print(len(list(Z)))"
    run_python(listing, env)
    ours = base / environment_folder()
    assert (ours / ".prefix").read_text() == sys.prefix  # (it names its environment)
    document = (ours / "zmq_server_registry.json").read_bytes()

    def folder(name: str, prefix: Path | None, *files: str) -> Path:
        made = base / name
        made.mkdir(mode=0o700)
        if prefix is not None:
            (made / ".prefix").write_text(str(prefix))
        for file in files:
            (made / file).write_bytes(document if file.endswith("_registry.json") else b"{}")
        return made

    alive = tmp_path / "alive-env"
    alive.mkdir()
    gone = folder("gone-cpython-311-1", tmp_path / "unpacked-1", "zmq_server_registry.json")
    kept_alive = folder("alive-cpython-311-2", alive, "zmq_server_registry.json")
    unmarked = folder("unmarked-cpython-311-3", None, "zmq_server_registry.json")
    shared = folder("shared-cpython-311-4", tmp_path / "unpacked-2", "zmq_server_registry.json")
    (shared / "notes.json").write_text("{}")  # not ours: the folder stays, with it
    # a new environment's first start: its folder is created, the gone ones go
    import shutil

    shutil.rmtree(ours)
    run_python(listing, env)
    assert not gone.exists()
    assert (kept_alive / "zmq_server_registry.json").exists()
    assert (unmarked / "zmq_server_registry.json").exists()
    assert sorted(p.name for p in shared.iterdir()) == [".prefix", "notes.json"]
    # an existing folder sweeps nothing (the work is done once per new environment)
    again = folder("gone-cpython-311-5", tmp_path / "unpacked-3", "zmq_server_registry.json")
    run_python(listing, env)
    assert again.exists()
