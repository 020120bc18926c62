"""The colormap enum and its providers: plugins name the colormaps they can draw with.

Not a registry of values but of names, gathered into one enum, ``ColormapEnum``
(:func:`create_colormap_enum`).  A name offered by several providers (``viridis`` by
matplotlib and napari) is one colormap, not a conflict.  Implement :func:`provide_colormaps` in
any module of the ``openhcs`` entry-point group; several implementations in one module are
fine with ``@hookimpl(specname="provide_colormaps")``.

The members are cached by the engine's generic factory (:func:`openhcs_registry.enums.cached_enum`)
in ``colormap_enum.json``.  It is invalidated when what it was built from changes: the
environment (``sys.path`` and its folders' mtimes), the provider libraries (matplotlib,
napari: findable or not, and their installed versions) and the discovery settings.  This
module is imported with the contracts (``openhcs-registry list`` imports every contract), so
it imports only the hook marker at the top; the enum machinery comes on first use.

``ColormapEnum`` and ``LazyColormapEnum`` are published here, so members pickle by reference;
this module's ``__getattr__`` recreates them in a process that unpickles one.
"""

from __future__ import annotations

from openhcs_registry import hookspec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from enum import Enum
    from typing import Any

__all__ = [
    "BASE_COLORMAPS",
    "COLORMAP_CACHE_FILE",
    "COLORMAP_MAX_AGE",
    "PROVIDER_LIBRARIES",
    "colormap_fingerprint",
    "colormap_members",
    "create_colormap_enum",
    "provide_colormaps",
    "provider_libraries",
    "sanitize_member_name",
]


@hookspec
def provide_colormaps() -> Mapping[str, str] | Iterable[str]:  # type: ignore[empty-body]
    """Return the colormaps this plugin offers.

    Either a mapping ``{display name: provider info}`` (``{"viridis": "matplotlib 3.9.2"}``;
    the info is free text for people reading diagnostics) or an iterable of display names.
    Import the drawing library *inside* the hook, and return nothing when it is not installed:
    the hook only runs when the colormap enum is not cached.
    """


COLORMAP_CACHE_FILE = "colormap_enum.json"
COLORMAP_MAX_AGE = 30 * 24 * 3600.0

#: Colormaps every installation offers (OpenHCS's lazy set); all of ``lazy=True``.
BASE_COLORMAPS: tuple[str, ...] = ("gray", "viridis", "magma", "inferno", "plasma", "cividis")

#: Libraries whose presence and version change the colormap enum (checked without importing).
PROVIDER_LIBRARIES: tuple[str, ...] = ("matplotlib", "napari")

_COLORMAP_ENUM = "ColormapEnum"
_LAZY_COLORMAP_ENUM = "LazyColormapEnum"
_LABEL = "colormap_enum"


def sanitize_member_name(display_name: str) -> str:
    """``"Spectral_r"`` -> ``SPECTRAL_R``: as OpenHCS, spaces, dashes and dots become ``_``,
    the name is upper-cased and ``CMAP_`` goes before a leading digit.

    Any other character that cannot be in a name also becomes ``_`` (OpenHCS dropped such
    colormaps); leading underscores go.  The result may still not be an identifier (``""``,
    exotic digits): :func:`colormap_members` leaves those colormaps out.
    """
    name = display_name.replace(" ", "_").replace("-", "_").replace(".", "_")
    name = "".join(c if c.isalnum() or c == "_" else "_" for c in name).upper().lstrip("_")
    if name[:1].isdigit():
        name = "CMAP_" + name
    return name


def colormap_members(names: Iterable[str]) -> dict[str, str]:
    """Member name -> display name; the first display name wins a sanitising collision."""
    from openhcs_registry.enums import valid_members

    members: dict[str, str] = {}
    for display in names:
        if not isinstance(display, str) or not display:
            continue
        member = sanitize_member_name(display)
        if member.isidentifier() and valid_members({member: display}) is not None:
            members.setdefault(member, display)
    return members


def _display_name(self: Enum) -> str:
    return str(self.value)


def _from_display_name(cls: type[Enum], name: str) -> Enum:
    for member in cls:
        if member.value == name:
            return member
    raise ValueError(f"no colormap named {name!r}")


_COLORMAP_NAMESPACE = {
    "display_name": property(_display_name, doc="The provider's own name of the colormap."),
    "from_display_name": classmethod(_from_display_name),
    "__doc__": "Colormaps available here (built-ins, matplotlib, napari, plugins).",
}


def create_colormap_enum(enable_cache: bool = True, lazy: bool = False) -> type[Enum]:
    """The colormap enum: ``ColormapEnum.VIRIDIS.value == "viridis"``.

    Members come from every ``provide_colormaps`` hook: the built-in set, matplotlib and
    napari when installed, third-party plugins.  A warm call (valid ``colormap_enum.json``)
    imports neither matplotlib, napari, pluggy nor importlib.metadata.  ``lazy=True``:
    ``LazyColormapEnum``, the fixed :data:`BASE_COLORMAPS` only, no discovery, no cache.
    ``enable_cache=False``: discovered afresh, the file is neither read nor written (the class
    object is kept if the members did not change).
    """
    from openhcs_registry.enums import cached_enum

    if lazy:
        return cached_enum(
            _LAZY_COLORMAP_ENUM,
            lambda: colormap_members(BASE_COLORMAPS),
            module=__name__,
            namespace=_COLORMAP_NAMESPACE,
        )
    return cached_enum(
        _COLORMAP_ENUM,
        _discover_colormaps,
        module=__name__,
        file_name=COLORMAP_CACHE_FILE if enable_cache else None,
        namespace=_COLORMAP_NAMESPACE,
        fingerprint=colormap_fingerprint,
        max_age=COLORMAP_MAX_AGE,
        refresh=not enable_cache,
    )


def colormap_fingerprint() -> dict[str, Any]:
    """What the colormap enum depends on, found with ``stat``/``listdir`` calls only."""
    from openhcs_registry.enums import installation_fingerprint

    return installation_fingerprint(PROVIDER_LIBRARIES)


def provider_libraries() -> dict[str, dict[str, Any]]:
    """For each of :data:`PROVIDER_LIBRARIES`: findable (no import) and installed version."""
    from openhcs_registry.enums import library_state

    return {name: library_state(name) for name in PROVIDER_LIBRARIES}


def _discover_colormaps() -> dict[str, str]:
    """Cold path: the base set, then every provided name in sorted order (deterministic)."""
    import sys

    from openhcs_registry.enums import hook_answers

    provided: list[str] = []
    answers = hook_answers(sys.modules[__name__], "provide_colormaps", label=_LABEL)
    for label, module, returned in answers:
        provided.extend(_names_in(returned, label, module))
    extra = sorted(set(provided) - set(BASE_COLORMAPS))
    return colormap_members([*BASE_COLORMAPS, *extra])


def _names_in(returned: object, label: str, module: str | None) -> list[str]:
    from collections.abc import Iterable, Mapping

    from openhcs_registry.enums import report_problem

    if returned is None:
        return []
    if isinstance(returned, Mapping) or (
        isinstance(returned, Iterable) and not isinstance(returned, (str, bytes))
    ):
        candidates = list(returned)  # a mapping's keys are the names
    else:
        report_problem(
            _LABEL,
            label,
            "bad_return",
            f"provide_colormaps() returned {type(returned).__name__}, "
            "expected a mapping or an iterable of names",
            module,
        )
        return []
    names = [n for n in candidates if isinstance(n, str) and n]
    if len(names) != len(candidates):
        report_problem(
            _LABEL, label, "bad_return", "some colormap names are not strings; ignored", module
        )
    return names


def __getattr__(name: str) -> Any:
    """``openhcs_hookspecs.colormaps.ColormapEnum`` creates the enum on first use (unpickling)."""
    if name == _COLORMAP_ENUM:
        return create_colormap_enum()
    if name == _LAZY_COLORMAP_ENUM:
        return create_colormap_enum(lazy=True)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
