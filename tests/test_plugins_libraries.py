"""The built-in function-library registries (:mod:`openhcs_plugins.libraries`)."""

from __future__ import annotations

import importlib.util

import openhcs_hookspecs as hs
import pytest
from plugins_support import _fresh_registries

__all__ = ["_fresh_registries"]


def test_library_registries() -> None:
    openhcs = hs.LIBRARY_REGISTRIES["openhcs"]
    assert openhcs.is_available() and openhcs.requires_gpu is False
    funcs = openhcs().functions()
    assert funcs["normalize"]([2.0, 4.0, 6.0]) == [0.0, 0.5, 1.0]
    assert funcs["normalize"]([3.0, 3.0]) == [0.0, 0.0] and funcs["normalize"]([]) == []
    assert funcs["threshold"]([1.0, 5.0], 3.0) == [False, True]
    assert funcs["mean"]([1.0, 2.0, 6.0]) == 3.0
    assert {
        k: hs.LIBRARY_REGISTRIES[k].requires_gpu for k in ("skimage", "cupy", "pyclesperanto")
    } == {
        "skimage": False,
        "cupy": True,
        "pyclesperanto": True,
    }
    for key in ("skimage", "cupy", "pyclesperanto"):
        lib = hs.LIBRARY_REGISTRIES[key]
        assert lib.library_module == key
        assert lib.is_available() == (importlib.util.find_spec(key) is not None)
        if lib.is_available():
            assert all(callable(f) for f in lib().functions().values())
        else:
            with pytest.raises(ImportError, match=rf"{key!r} is not installed \(pip install"):
                lib().functions()
