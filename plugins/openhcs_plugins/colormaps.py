"""Built-in colormap providers: matplotlib and napari, each only when installed.

This module is loaded as an entry point by every registry, so it imports nothing heavy: the
libraries are imported inside the hook, and only on the cold path of the colormap enum.
"""

from __future__ import annotations

from openhcs_registry.markers import hookimpl


def _findable(module: str) -> bool:
    from importlib.util import find_spec

    try:
        return find_spec(module) is not None
    except (ImportError, ValueError):
        return False


@hookimpl
def provide_colormaps() -> list[str]:
    names: list[str] = []
    if _findable("matplotlib"):
        import matplotlib

        names.extend(sorted(matplotlib.colormaps))
    if _findable("napari"):
        try:
            from napari.utils.colormaps import AVAILABLE_COLORMAPS
        except Exception:  # napari without a working Qt stack: its colormaps still exist
            AVAILABLE_COLORMAPS = {}
        names.extend(sorted(AVAILABLE_COLORMAPS))
    return names
