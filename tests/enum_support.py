"""Helpers shared by the enum tests (engine factory, colormap and component contracts)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from openhcs_hookspecs import colormaps, components

from openhcs_registry import enums
from openhcs_registry._fileio import encode_document

HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None
HEAVY = ("matplotlib", "napari", "pluggy", "importlib.metadata")
DAY = 24 * 3600


@pytest.fixture(autouse=True)
def _fresh_enums() -> Any:
    """Each test starts with no enum made in this process; the module state is restored."""
    saved = dict(enums._memo.made)
    saved_attrs = {n: colormaps.__dict__.get(n) for n in ("ColormapEnum", "LazyColormapEnum")}
    config = components.get_component_configuration()
    enums._memo.made.clear()
    for name in components.ENUM_NAMES:
        components.__dict__.pop(name, None)
    for name in saved_attrs:
        colormaps.__dict__.pop(name, None)
    yield
    components.set_component_configuration(config["components"], config["multiprocessing_axis"])
    enums._memo.made.clear()
    enums._memo.made.update(saved)
    for name, value in saved_attrs.items():
        if value is not None:
            setattr(colormaps, name, value)
        else:
            colormaps.__dict__.pop(name, None)


def run(code: str, cache_dir: Path, **env: str) -> Any:
    """Run *code* in a fresh interpreter; it prints one JSON document last."""
    full_env = dict(os.environ, OPENHCS_CACHE_DIR=str(cache_dir), **env)
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def rewrite(path: Path, change: Any) -> None:
    """Edit a cache document and store it with a valid checksum: the reader's checks decide."""
    doc = json.loads(path.read_text())
    change(doc)
    path.write_bytes(encode_document(doc))
    os.chmod(path, 0o600)


def describe(cls: Any) -> list[list[Any]]:
    return [[m.name, m.value] for m in cls]
