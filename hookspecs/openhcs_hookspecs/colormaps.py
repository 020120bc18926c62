"""Colormap providers: plugins name the colormaps they can draw with.

Not a registry of values but of names: ``provide_colormaps()`` returns display names
(``["viridis", "Spectral_r", ...]``) and the colormap enum
(:func:`openhcs_registry.enums.create_colormap_enum`) is built from all of them.
"""

from __future__ import annotations

from openhcs_registry.config import RegistryConfig
from openhcs_registry.markers import hookspec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


@hookspec
def provide_colormaps() -> Any:
    """Return colormap display names (a list of strings)."""


def colormap_name(value: object) -> str | None:
    """A provided value is its own key when it is a non-empty string."""
    return value if isinstance(value, str) and value else None


COLORMAP_PROVIDERS_CONFIG = RegistryConfig(
    name="colormap_provider",
    hookspec=provide_colormaps,
    key_extractor=colormap_name,
    enable_cache=False,  # the enum caches the result (colormap_enum.json)
    description="colormap names offered by napari, matplotlib and plugins",
)
