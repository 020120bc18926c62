"""OpenHCS's own processing functions (:mod:`openhcs_plugins.processing`): always available."""

from __future__ import annotations

from typing import Any

from openhcs_hookspecs.functions import FunctionLibrary


class OpenHCSFunctions(FunctionLibrary):
    """Pure-Python functions on 2-D images given as lists of rows."""

    library_name = "openhcs"
    import_name = "openhcs_plugins"
    distribution = "openhcs-registry"
    modules = (
        "openhcs_plugins.processing.intensity",
        "openhcs_plugins.processing.threshold",
        "openhcs_plugins.processing.measure",
    )
    memory_type = "python"
    tags = ("openhcs", "cpu")

    def probe_samples(self) -> dict[str, Any]:
        """A small 2-D image (these functions take 2-D images only)."""
        return {"2d": [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]}
