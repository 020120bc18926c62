"""The contracts package (:mod:`openhcs_hookspecs`, ``__init__``): the GPU skip rule every OpenHCS
registry shares, and ``load_all()`` defining every registry and discovering none.  Registries
importable lazily by name, and typed: tests/test_typing.py.
"""

from __future__ import annotations

import openhcs_hookspecs as hs
import pytest


class _Cpu:
    pass


class _Gpu:
    requires_gpu = True


def test_skip_gpu_leaves_out_only_gpu_values_and_only_in_no_gpu_mode(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(hs.NO_GPU_ENV, raising=False)
    assert not hs.no_gpu() and hs.skip_gpu(_Gpu) is None and hs.skip_gpu(_Cpu) is None
    monkeypatch.setenv(hs.NO_GPU_ENV, "1")
    assert hs.no_gpu()
    assert hs.skip_gpu(_Gpu) == "needs a GPU and OPENHCS_SUBPROCESS_NO_GPU=1"
    assert hs.skip_gpu(_Cpu) is None and hs.skip_gpu(_Gpu()) is not None  # instances too


def test_load_all_defines_every_registry_and_discovers_none() -> None:
    regs = hs.load_all()
    assert set(regs) == {
        "microscope_handler",
        "storage_backend",
        "zmq_server",
        "library_registry",
        "microscope_format_registry",
    }
    assert not any(r.is_discovered for r in regs.values())
    assert {r.config.hookspec.__module__ for r in regs.values()} == set(hs.REGISTRY_MODULES)
    with pytest.raises(AttributeError, match="no attribute 'NOT_A_REGISTRY'"):
        hs.NOT_A_REGISTRY
