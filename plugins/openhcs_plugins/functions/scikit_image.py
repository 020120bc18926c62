"""scikit-image (``pip install openhcs-registry[skimage]``): the public functions of its 14
image-processing submodules (~337 in scikit-image 0.26)."""

from __future__ import annotations

from typing import Any

from openhcs_hookspecs.functions import FunctionLibrary


class SkimageFunctions(FunctionLibrary):
    """scikit-image's processing submodules (not ``io``, ``data`` or ``future``)."""

    library_name = "skimage"
    import_name = "skimage"
    distribution = "scikit-image"
    modules = tuple(
        f"skimage.{name}"
        for name in (
            "color",
            "draw",
            "exposure",
            "feature",
            "filters",
            "graph",
            "measure",
            "metrics",
            "morphology",
            "registration",
            "restoration",
            "segmentation",
            "transform",
            "util",
        )
    )
    memory_type = "numpy"
    tags = ("skimage", "cpu")

    def probe_samples(self) -> dict[str, Any]:
        """A small 2-D image and a small 3-D stack (values in [0, 1])."""
        import numpy as np

        return {
            "2d": np.linspace(0.0, 1.0, 64).reshape(8, 8),
            "3d": np.linspace(0.0, 1.0, 192).reshape(3, 8, 8),
        }
