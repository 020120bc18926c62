"""scikit-image (``pip install openhcs-registry[skimage]``): the public functions of its 14
image-processing submodules (~337 in scikit-image 0.26)."""

from __future__ import annotations

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
