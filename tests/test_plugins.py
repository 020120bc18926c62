"""The built-in plugins together (:mod:`openhcs_plugins`): every registry's keys, warm replay, no-GPU mode.

Real files in temp folders, a real subprocess for the import-cost check; no mocks.  Each plugin
module's own work is pinned by ``tests/test_plugins_<module>.py``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import openhcs_hookspecs as hs
import pytest
from plugins_support import (
    EXPECTED_KEYS,
    GPU_KEYS,
    _failures,
    _fresh_registries,
    _reset_all,
)

from openhcs_registry import FailureKind

__all__ = ["_fresh_registries"]


def test_every_registry_lists_exactly_its_builtin_keys() -> None:
    regs = hs.load_all()
    assert {name: set(reg) for name, reg in regs.items() if name in EXPECTED_KEYS} == EXPECTED_KEYS
    for name in EXPECTED_KEYS:
        reg = regs[name]
        for key in reg:
            info = reg.info(key)
            assert info["distribution"] == "openhcs-registry"
            assert info["ref"].startswith("openhcs_plugins.")
            value = reg[key]
            assert issubclass(value, reg.config.base_class)
            assert getattr(value, reg.config.key_attribute) == key


def test_no_failures_in_the_other_registries() -> None:
    for reg in (hs.ZMQ_SERVERS, hs.LIBRARY_REGISTRIES, hs.MICROSCOPE_FORMAT_REGISTRIES):
        assert list(reg) and reg.failures == []


def test_warm_start_replays_the_same_plugins(_fresh_registries: Path) -> None:
    regs = hs.load_all()
    fresh = {name: dict(regs[name]) for name in EXPECTED_KEYS}
    fresh_meta = dict(hs.METADATA_HANDLERS)
    fresh_failures = {(f.key, f.kind) for f in hs.MICROSCOPE_HANDLERS.failures}
    assert all(regs[name].source == "fresh" for name in EXPECTED_KEYS)
    assert (_fresh_registries / "microscope_handler_registry.json").is_file()

    _reset_all()
    assert {name: dict(regs[name]) for name in EXPECTED_KEYS} == fresh
    assert all(regs[name].source == "cache" for name in EXPECTED_KEYS)
    assert dict(hs.METADATA_HANDLERS) == fresh_meta
    # a warm start still explains why omero is missing
    assert {(f.key, f.kind) for f in hs.MICROSCOPE_HANDLERS.failures} == fresh_failures


def test_no_gpu_mode_drops_gpu_plugins_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENHCS_SUBPROCESS_NO_GPU", "1")
    _reset_all()
    regs = hs.load_all()
    for name, gpu_keys in GPU_KEYS.items():
        assert set(regs[name]) == EXPECTED_KEYS[name] - gpu_keys
        assert set(_failures(regs[name], FailureKind.SKIPPED)) == gpu_keys
    # plugins that need no GPU are untouched
    assert set(hs.MICROSCOPE_HANDLERS) == EXPECTED_KEYS["microscope_handler"]
    assert _failures(hs.MICROSCOPE_HANDLERS, FailureKind.SKIPPED) == {}

    monkeypatch.delenv("OPENHCS_SUBPROCESS_NO_GPU")
    _reset_all()  # the switch is part of the cache's validity: GPU plugins come back
    for name, gpu_keys in GPU_KEYS.items():
        assert gpu_keys <= set(regs[name])


def test_plugin_packages_import_cheaply() -> None:
    """The package scan imports every module: none may pull in an optional/heavy library."""
    code = (
        "import sys, pkgutil, importlib\n"
        "for pkg in ('openhcs_plugins.microscopes', 'openhcs_plugins.storage'):\n"
        "    p = importlib.import_module(pkg)\n"
        "    for m in pkgutil.iter_modules(p.__path__):\n"
        "        importlib.import_module(pkg + '.' + m.name)\n"
        "for m in ('openhcs_plugins.zmq_servers', 'openhcs_plugins.libraries',"
        " 'openhcs_plugins.formats'):\n"
        "    importlib.import_module(m)\n"
        "heavy = ['numpy', 'zarr', 'omero', 'zmq', 'napari', 'skimage', 'cupy',"
        " 'pyclesperanto', 'xml.etree.ElementTree', 'pluggy', 'importlib.metadata']\n"
        "print(','.join(h for h in heavy if h in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == ""
