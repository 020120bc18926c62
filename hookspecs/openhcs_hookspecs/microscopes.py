"""Microscope handlers: parse and build a microscope's image file names.

Key attribute ``_microscope_type``. Each handler names its metadata handler in
``metadata_handler`` as a ``"module:qualname"`` string, which feeds the secondary registry
``METADATA_HANDLERS`` without importing anything until a metadata handler is used.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from openhcs_registry import (
    AutoRegistered,
    LazyDiscoveryDict,
    RegistryConfig,
    SecondaryRegistryConfig,
    SecondaryRegistryDict,
    hookspec,
)

from . import skip_gpu

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path  # (annotations only: a warm read imports this module)
    from typing import Any, ClassVar


class MetadataHandler(ABC):
    """Reads plate-level metadata (grid size, pixel size, channel names) of one format."""

    @abstractmethod
    def find_metadata_file(self, plate_path: str | Path) -> Path | None:
        """The metadata file of the plate at *plate_path*, or None."""

    @abstractmethod
    def parse_metadata(self, text: str) -> dict[str, Any]:
        """Metadata read from the text of a metadata file."""


class MicroscopeHandler(AutoRegistered, ABC):
    """One microscope's file naming convention.

    Subclasses set ``_microscope_type`` (the registry key) and are registered as soon as
    they are defined (import-time registration) or returned by a
    ``provide_microscope_handlers`` hookimpl.
    """

    __registry_name__ = "microscope_handler"
    _microscope_type: ClassVar[str | None] = None
    #: ``"module:qualname"`` of this microscope's :class:`MetadataHandler` subclass.
    metadata_handler: ClassVar[str | None] = None
    requires_gpu: ClassVar[bool] = False
    #: Modules this plugin needs; when one is missing it is reported unavailable.
    requires_modules: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def parse_filename(self, filename: str) -> dict[str, Any] | None:
        """Components (well, site, channel, z_index, timepoint, extension) or None."""

    @abstractmethod
    def construct_filename(self, **components: Any) -> str:
        """The file name for *components* (the inverse of :meth:`parse_filename`)."""


@hookspec
def provide_microscope_handlers() -> Any:
    """Return microscope handler classes (a list, or a dict ``{microscope_type: class}``)."""


MICROSCOPE_HANDLERS_CONFIG = RegistryConfig(
    name="microscope_handler",
    hookspec=provide_microscope_handlers,
    base_class=MicroscopeHandler,
    key_attribute="_microscope_type",
    discovery_packages=("openhcs_plugins.microscopes",),
    secondary_registries=(
        SecondaryRegistryConfig(
            "metadata_handler",
            attribute="metadata_handler",
            description="metadata handler of each microscope type",
        ),
    ),
    skip=skip_gpu,  # GPU-dependent values are left out when OPENHCS_SUBPROCESS_NO_GPU=1
    description="microscope file-name conventions, by microscope type",
)

MICROSCOPE_HANDLERS: LazyDiscoveryDict[type[MicroscopeHandler]] = LazyDiscoveryDict(
    MICROSCOPE_HANDLERS_CONFIG
)
METADATA_HANDLERS: SecondaryRegistryDict[type[MetadataHandler]] = MICROSCOPE_HANDLERS.secondary(
    "metadata_handler"
)
