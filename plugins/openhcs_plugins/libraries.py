"""Built-in library registries: which image-processing libraries are usable here.

Availability is checked with ``find_spec`` (no import); ``functions()`` imports the library.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from openhcs_hookspecs.libraries import LibraryRegistry

from openhcs_registry import hookimpl


def _require(module: str, distribution: str) -> Any:
    """Import *module*, or say which distribution to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"library {module.split('.')[0]!r} is not installed (pip install {distribution}): {exc}"
        ) from exc


def _normalize(values: list[float]) -> list[float]:
    """Rescale to [0, 1]; a constant (or empty) input gives zeros."""
    if not values:
        return []
    lo, hi = min(values), max(values)
    return [0.0 for _ in values] if hi == lo else [(v - lo) / (hi - lo) for v in values]


def _threshold(values: list[float], level: float) -> list[bool]:
    """A mask: True where the value reaches *level*."""
    return [v >= level for v in values]


def _mean(values: list[float]) -> float:
    if not values:
        raise ValueError("mean of no values")
    return sum(values) / len(values)


class OpenHCSLibrary(LibraryRegistry):
    """OpenHCS's own pure-Python functions: always available."""

    _registry_name = "openhcs"

    def functions(self) -> dict[str, Callable[..., Any]]:
        return {"normalize": _normalize, "threshold": _threshold, "mean": _mean}


class SkimageLibrary(LibraryRegistry):
    """scikit-image filters and measurements."""

    _registry_name = "skimage"
    library_module = "skimage"

    def functions(self) -> dict[str, Callable[..., Any]]:
        filters = _require("skimage.filters", "scikit-image")
        return {
            "gaussian": filters.gaussian,
            "sobel": filters.sobel,
            "threshold_otsu": filters.threshold_otsu,
        }


class CupyLibrary(LibraryRegistry):
    """CuPy (GPU arrays)."""

    _registry_name = "cupy"
    library_module = "cupy"
    requires_gpu = True

    def functions(self) -> dict[str, Callable[..., Any]]:
        cp = _require("cupy", "cupy-cuda12x")
        return {"asarray": cp.asarray, "asnumpy": cp.asnumpy}


class PyclesperantoLibrary(LibraryRegistry):
    """pyclesperanto (GPU-accelerated image processing through OpenCL)."""

    _registry_name = "pyclesperanto"
    library_module = "pyclesperanto"
    requires_gpu = True

    def functions(self) -> dict[str, Callable[..., Any]]:
        cle = _require("pyclesperanto", "pyclesperanto")
        return {"gaussian_blur": cle.gaussian_blur, "push": cle.push, "pull": cle.pull}


@hookimpl
def provide_library_registries() -> list[Any]:
    return [OpenHCSLibrary, SkimageLibrary, CupyLibrary, PyclesperantoLibrary]
