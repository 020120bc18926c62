"""``openhcs-registry show`` (:mod:`openhcs_registry.cli.show`), run as a real subprocess."""

from __future__ import annotations

import json

from support import cli


def test_show_entry() -> None:
    proc = cli("show", "storage_backend", "memory", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["object"] == "openhcs_plugins.storage.memory.MemoryBackend"
    assert data["doc"].startswith("Stores deep copies")
    assert data["file"].endswith("memory.py")
    text = cli("show", "microscope_handler", "imagexpress").stdout
    assert "distribution: openhcs-registry" in text
