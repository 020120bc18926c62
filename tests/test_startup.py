"""The start-up files (``.pth`` files, the modules their import lines name, sitecustomize)
are inputs of the whole document (openhcs_registry/_cold/_startup.py).

The end-to-end cases — a flat-layout editable install whose finder makes an optional
dependency importable, its removal, its finder rewritten in place — are pinned reproducers
of the never-stale model (tests/test_never_stale_model.py, ``editable_finder_*``), in a
real virtualenv whose site-packages ``site`` processes.  Here: what is recorded, and how a
change is taken (a full rediscovery, never a plugin's).
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import pytest
from support import World, two_plugin_world

from openhcs_registry._cache import RegistryCacheManager
from openhcs_registry._cold._startup import imported_by, startup_changed, startup_files
from openhcs_registry._environment import forget


def _pth(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_import_lines_name_their_modules_and_path_lines_nothing(tmp_path: Path) -> None:
    # setuptools' editable finder, its distutils shim, and lines site does not run
    pth = _pth(
        tmp_path,
        "x.pth",
        "import __editable___orion_1_0_finder; __editable___orion_1_0_finder.install()\n"
        "import os; var = 'X'; enabled = 1; enabled and __import__('_distutils_hack').add_shim()\n"
        "import a.b, c as d\n"
        "import\tq; from e.f import g\n"
        "/some/folder\n"
        "#import commented\n"
        " import indented\n",
    )
    assert imported_by(str(pth)) == {
        "__editable___orion_1_0_finder",
        "os",
        "_distutils_hack",
        "a.b",
        "c",
        "q",
        "e.f",
    }
    assert imported_by(str(tmp_path / "missing.pth")) == set()


def test_startup_files_are_the_folders_entries_then_the_imported_modules(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    _pth(one, "b.pth", "/elsewhere\n")
    _pth(one, "a.pth", "import os\n")
    _pth(one, "plugin.py", "")
    _pth(two, "sitecustomize.py", "")
    _pth(two, "c.pth", "import os, not_imported_anywhere_x, pytest\n")
    listed = [(str(folder), sorted(os.listdir(folder))) for folder in (one, two)]
    listed.append((str(tmp_path / "gone"), None))
    found = startup_files(listed)
    assert found[:4] == [
        str(one / "a.pth"),
        str(one / "b.pth"),
        str(two / "c.pth"),
        str(two / "sitecustomize.py"),
    ]
    # then the files of the modules named, once (imported: pytest; not imported: nothing;
    # the standard library's os: the interpreter stands for it)
    # (a sitecustomize the interpreter imported at start-up would come too)
    assert [f for f in found[4:] if "customize" not in f] == [os.path.abspath(pytest.__file__)]


def test_startup_changed_names_an_entry_that_appeared_or_went(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    recorded = [str(site / "a.pth"), os.path.abspath(os.__file__)]
    assert startup_changed(recorded, [str(site)], lambda f: ["a.pth", "mod.py"]) is None
    assert startup_changed(recorded, [str(site)], lambda f: ["a.pth", "b.pth"]) == str(
        site / "b.pth"
    )
    assert startup_changed(recorded, [str(site)], lambda f: []) == str(site / "a.pth")
    assert startup_changed(recorded, [str(site)], lambda f: ["usercustomize"]) is not None
    assert startup_changed(recorded, [str(site)], lambda f: None) is None  # not a folder


def _next_start(world: World) -> str:
    """How a new look would take the document: ``warm``, ``incremental`` (some plugin's
    inputs changed: the rest reusable) or ``full``."""
    forget()
    manager = RegistryCacheManager(world.registry().config)
    if manager.load() is not None:
        return "warm"
    return "full" if manager.previous is None else "incremental"


def test_the_reason_names_the_start_up_file(
    warm_world: World, caplog: pytest.LogCaptureFixture
) -> None:
    pth = warm_world.site / f"setup_{warm_world.tag}.pth"
    pth.write_text(pth.read_text() + "\n")
    with caplog.at_level("INFO", logger="openhcs_registry.cache"):
        assert _next_start(warm_world) == "full"
    assert f"start-up file {pth} changed" in caplog.text


def _recorded_startup(world: World) -> list[Any]:
    startup: list[Any] = world.read_cache()["env"]["startup"]
    return startup


@pytest.fixture
def warm_world(world: World, monkeypatch: pytest.MonkeyPatch) -> World:
    two_plugin_world(world)
    world.write(f"helper_{world.tag}.py", "")
    _pth(world.site, f"setup_{world.tag}.pth", f"import helper_{world.tag}\n")
    importlib.import_module(f"helper_{world.tag}")  # (as site would have, at start-up)
    world.activate(monkeypatch)
    assert sorted(world.registry()) == ["alpha", "beta"]
    assert _next_start(world) == "warm"
    return world


def test_the_document_records_the_startup_files_with_their_stats(warm_world: World) -> None:
    paths = [row[0] for row in _recorded_startup(warm_world)]
    pth = str(warm_world.site / f"setup_{warm_world.tag}.pth")
    helper = str(warm_world.site / f"helper_{warm_world.tag}.py")
    assert pth in paths and helper in paths
    row = _recorded_startup(warm_world)[paths.index(pth)]
    st = os.stat(pth)
    assert row[1:] == [st.st_mtime_ns, st.st_size, st.st_ctime_ns, st.st_ino]


def test_a_plugin_edited_is_incremental_the_contrast(warm_world: World) -> None:
    (warm_world.site / f"beta_{warm_world.tag}.py").write_text(
        warm_world.plugin_source(("Beta", "beta"), ("Gamma", "gamma"))
    )
    assert _next_start(warm_world) == "incremental"


@pytest.mark.parametrize("change", ["added", "removed", "edited", "module-edited", "customize"])
def test_a_startup_file_changed_is_a_full_rediscovery(warm_world: World, change: str) -> None:
    site, tag = warm_world.site, warm_world.tag
    if change == "added":
        _pth(site, f"__editable__.other_{tag}-1.0.pth", "import sys\n")
    elif change == "removed":
        (site / f"setup_{tag}.pth").unlink()
    elif change == "edited":  # (the same size: the size alone would not tell)
        _pth(site, f"setup_{tag}.pth", f"import helper_{tag}#")
    elif change == "module-edited":
        _pth(site, f"helper_{tag}.py", "MAPPING = {'x': '/x'}\n")
    else:
        _pth(site, "sitecustomize.py", "")
    assert _next_start(warm_world) == "full"
    # and the document rediscovered records the start-up files as they are now
    registry = warm_world.registry()
    registry.reset()
    assert sorted(registry) == ["alpha", "beta"]
    assert _next_start(warm_world) == "warm"


def test_a_folder_gained_on_sys_path_holding_a_pth_file_is_a_full_rediscovery(
    warm_world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gained = tmp_path / "gained"
    gained.mkdir()
    monkeypatch.syspath_prepend(str(gained))
    assert _next_start(warm_world) == "warm"  # (an empty folder provides nothing)
    _pth(gained, "x.pth", "import sys\n")
    assert _next_start(warm_world) == "full"
