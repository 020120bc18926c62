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
from openhcs_hookspecs import components

from openhcs_registry import enums
from openhcs_registry._fileio import encode_document

HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None
HEAVY = ("matplotlib", "napari", "pluggy", "importlib.metadata")
DAY = 24 * 3600


@pytest.fixture(autouse=True)
def _fresh_enums() -> Any:
    """Each test starts with no enum made in this process (``enums.isolated()``) and the
    component configuration it had; both are restored after it."""
    config = components.get_component_configuration()
    # setting the configuration drops the four component enums (they follow it)
    components.set_component_configuration(config["components"], config["multiprocessing_axis"])
    with enums.isolated():
        yield
    components.set_component_configuration(config["components"], config["multiprocessing_axis"])


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
