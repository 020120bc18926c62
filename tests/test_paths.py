"""Where caches live (:mod:`openhcs_registry._paths`): XDG by default, platformdirs' answer, no
platformdirs import on an ordinary warm start.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support import run_python

from openhcs_registry import get_openhcs_cache_dir


# -- location --------------------------------------------------------------------------------
def test_default_location_is_xdg_user_data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("OPENHCS_CACHE_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert get_openhcs_cache_dir() == tmp_path / "xdg" / "openhcs" / "cache"
    monkeypatch.setenv("OPENHCS_CACHE_DIR", str(tmp_path / "elsewhere"))
    assert get_openhcs_cache_dir() == tmp_path / "elsewhere"


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
    assert get_openhcs_cache_dir() == expected


def test_default_folder_warm_start_does_not_import_platformdirs(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPENHCS_CACHE_DIR"}
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    code = """
        import json, sys
        import openhcs_hookspecs
        regs = openhcs_hookspecs.load_all()
        keys = {n: sorted(r) for n, r in regs.items()}
        print(json.dumps(["platformdirs" in sys.modules, sorted({r.source for r in regs.values()})]))
    """
    run_python(code, env)
    assert (tmp_path / "xdg" / "openhcs" / "cache" / "zmq_server_registry.json").exists()
    assert run_python(code, env) == [False, ["cache"]]
