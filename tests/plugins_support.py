"""Helpers shared by the built-in plugins' tests (tests/test_plugins*.py).

What the built-in plugins provide here (optional libraries adapt to what ``find_spec`` says is
installed), and an autouse fixture that gives each test its own cache folder and registries
discovered anew.  A test module activates the fixture by importing it (``__all__`` below).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openhcs_hookspecs as hs
import pytest

__all__ = [
    "EXPECTED_KEYS",
    "GPU_KEYS",
    "HAS_NUMPY",
    "HAS_OMERO",
    "HAS_ZARR",
    "_failures",
    "_fresh_registries",
    "_reset_all",
]

HAS_OMERO = importlib.util.find_spec("omero") is not None
HAS_ZARR = importlib.util.find_spec("zarr") is not None
HAS_NUMPY = importlib.util.find_spec("numpy") is not None

EXPECTED_KEYS = {
    "microscope_handler": {"imagexpress", "opera_phenix", "openhcsdata"}
    | ({"omero"} if HAS_OMERO else set()),
    "storage_backend": {"disk", "memory", "napari_stream", "fiji_stream", "omero_local"}
    | ({"zarr"} if HAS_ZARR else set()),
    "zmq_server": {"execution", "napari", "fiji"},
    "library_registry": {"openhcs", "skimage", "cupy", "pyclesperanto"},
    "microscope_format_registry": {"EDDU_CX5", "EDDU_metaxpress"},
}
GPU_KEYS = {
    "storage_backend": {"napari_stream", "fiji_stream"},
    "zmq_server": {"napari", "fiji"},
    "library_registry": {"cupy", "pyclesperanto"},
}


def _reset_all() -> None:
    for registry in hs.load_all().values():
        registry.reset()


@pytest.fixture(autouse=True)
def _fresh_registries(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Own cache folder, no inherited switches, and registries discovered anew in each test.

    The cache gets a folder of its own so a test's ``tmp_path`` holds only the test's files.
    """
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("OPENHCS_CACHE_DIR", str(cache))
    for name in (
        "OPENHCS_SUBPROCESS_NO_GPU",
        "OPENHCS_DISABLE_REGISTRY_CACHE",
        "OPENHCS_DISABLE_ENTRY_POINTS",
    ):
        monkeypatch.delenv(name, raising=False)
    _reset_all()
    yield cache
    _reset_all()


def _failures(registry: Any, kind: str) -> dict[str, Any]:
    return {f.key: f for f in registry.failures if f.kind == kind}
