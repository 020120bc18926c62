"""Built-in colormap providers: a fixed base set, matplotlib and napari (each when installed).

Every registry loads the whole ``openhcs`` entry-point group, so this module is imported on
every cold start and imports nothing heavy itself: matplotlib and napari are imported inside
their hooks, only when findable, and the hooks only run on the colormap enum's cold path.
"""

from __future__ import annotations

from openhcs_hookspecs.colormaps import BASE_COLORMAPS

from openhcs_registry import hookimpl


def _findable(module: str) -> bool:
    """Whether *module* could be imported (asked of the finders; nothing is imported)."""
    from importlib.util import find_spec

    try:
        return find_spec(module) is not None
    except (ImportError, ValueError):
        return False


@hookimpl(specname="provide_colormaps")
def base_colormaps() -> dict[str, str]:
    """Names every installation offers, whatever is installed."""
    return dict.fromkeys(BASE_COLORMAPS, "openhcs-registry")


@hookimpl(specname="provide_colormaps")
def matplotlib_colormaps() -> dict[str, str]:
    """matplotlib's registered colormaps (``_r`` reversed ones included)."""
    if not _findable("matplotlib"):
        return {}
    import matplotlib

    registry = getattr(matplotlib, "colormaps", None)
    if registry is None:  # matplotlib < 3.5
        import matplotlib.pyplot as plt

        names = list(plt.colormaps())
    else:
        names = list(registry)
    info = f"matplotlib {getattr(matplotlib, '__version__', '')}".strip()
    return dict.fromkeys(sorted(names), info)


@hookimpl(specname="provide_colormaps")
def napari_colormaps() -> dict[str, str]:
    """napari's ``AVAILABLE_COLORMAPS`` (an import error is reported by the engine)."""
    if not _findable("napari"):
        return {}
    from napari.utils.colormaps import AVAILABLE_COLORMAPS

    return dict.fromkeys(sorted(AVAILABLE_COLORMAPS), "napari")
