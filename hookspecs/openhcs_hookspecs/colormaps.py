"""Colormap providers: plugins name the colormaps they can draw with.

Not a registry of values but of names, gathered into one enum
(:func:`openhcs_registry.enums.create_colormap_enum`).  A name offered by several providers
(``viridis`` by matplotlib and napari) is one colormap, not a conflict.  Implement the hook in
any module of the ``openhcs`` entry-point group; several implementations in one module are
fine with ``@hookimpl(specname="provide_colormaps")``.
"""

from __future__ import annotations

from openhcs_registry.markers import hookspec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping


@hookspec
def provide_colormaps() -> Mapping[str, str] | Iterable[str]:  # type: ignore[empty-body]
    """Return the colormaps this plugin offers.

    Either a mapping ``{display name: provider info}`` (``{"viridis": "matplotlib 3.9.2"}``;
    the info is free text for people reading diagnostics) or an iterable of display names.
    Import the drawing library *inside* the hook, and return nothing when it is not installed:
    the hook only runs when the colormap enum is not cached.
    """
