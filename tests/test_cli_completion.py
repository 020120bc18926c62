"""Shell completion of ``openhcs-registry`` through argcomplete, asked for as a shell would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import modules_after_main

pytest.importorskip("argcomplete", reason="argcomplete is the optional 'completion' extra")


def complete(line: str, tmp_path: Path) -> list[str]:
    """Completions for *line* (the cursor at its end) from ``python -m openhcs_registry``."""
    out = tmp_path / "completions.txt"
    words = f"{sys.executable} -m openhcs_registry {line}"
    env = {
        **os.environ,
        "_ARGCOMPLETE": "3",  # argcomplete's "python -m <module> [args]"
        "COMP_LINE": words,
        "COMP_POINT": str(len(words)),
        "_ARGCOMPLETE_STDOUT_FILENAME": str(out),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "openhcs_registry"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return sorted(c.strip() for c in out.read_text().split("\013") if c.strip())


def test_commands_registries_and_keys_complete(tmp_path: Path) -> None:
    assert complete("con", tmp_path) == ["contracts"]
    assert "new-plugin" in complete("", tmp_path)
    assert complete("list microscope_", tmp_path) == [
        "microscope_format_registry",
        "microscope_handler",
    ]
    assert complete("why metadata", tmp_path) == ["metadata_handler"]
    assert complete("new-plugin x --registry stor", tmp_path) == ["storage_backend"]
    # keys of the registry typed before: from a real discovery, not a fixed list
    from openhcs_hookspecs import STORAGE_BACKENDS

    expected = sorted(k for k in STORAGE_BACKENDS if k.startswith("m"))
    assert expected and complete("show storage_backend m", tmp_path) == expected


def test_an_ordinary_run_does_not_import_argcomplete() -> None:
    _, modules = modules_after_main(["contracts"])
    assert "argcomplete" not in modules
