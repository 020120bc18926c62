"""Microscope format registries: metadata/export formats of instruments (key ``FORMAT_NAME``)."""

from __future__ import annotations

from abc import ABC, abstractmethod

from openhcs_registry import AutoRegistered, LazyDiscoveryDict, RegistryConfig, hookspec

from . import skip_gpu

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar


class MicroscopeFormatRegistry(AutoRegistered, ABC):
    """One instrument export format: recognises and reads its plate description."""

    __registry_name__ = "microscope_format_registry"
    FORMAT_NAME: ClassVar[str | None] = None
    requires_gpu: ClassVar[bool] = False

    @abstractmethod
    def matches(self, text: str) -> bool:
        """Whether *text* (a metadata file's content) is in this format."""

    @abstractmethod
    def read(self, text: str) -> dict[str, Any]:
        """The plate description read from *text*."""


@hookspec
def provide_microscope_formats() -> Any:
    """Return format registry classes (a list, or a dict ``{FORMAT_NAME: class}``)."""


MICROSCOPE_FORMAT_REGISTRIES_CONFIG = RegistryConfig(
    name="microscope_format_registry",
    hookspec=provide_microscope_formats,
    base_class=MicroscopeFormatRegistry,
    key_attribute="FORMAT_NAME",
    skip=skip_gpu,  # GPU-dependent values are left out when OPENHCS_SUBPROCESS_NO_GPU=1
    description="microscope export formats, by format name",
)

MICROSCOPE_FORMAT_REGISTRIES: LazyDiscoveryDict[type[MicroscopeFormatRegistry]] = LazyDiscoveryDict(
    MICROSCOPE_FORMAT_REGISTRIES_CONFIG
)
