"""Storage backends: where pipeline data is saved and loaded (key ``_backend_type``)."""

from __future__ import annotations

from abc import ABC, abstractmethod

from openhcs_registry import AutoRegistered, LazyDiscoveryDict, RegistryConfig, hookspec

from . import skip_gpu

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar


class StorageBackend(AutoRegistered, ABC):
    """Save/load/list/delete of arrays or bytes under string paths."""

    __registry_name__ = "storage_backend"
    _backend_type: ClassVar[str | None] = None
    requires_gpu: ClassVar[bool] = False
    #: Modules this plugin needs; when one is missing it is reported unavailable.
    requires_modules: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def save(self, data: Any, path: str) -> None:
        """Store *data* under *path*, replacing what was there."""

    @abstractmethod
    def load(self, path: str) -> Any:
        """The data stored under *path*; ``FileNotFoundError`` if none."""

    @abstractmethod
    def exists(self, path: str) -> bool:
        """Whether *path* holds data."""

    @abstractmethod
    def list(self, prefix: str = "") -> list[str]:
        """Sorted paths under *prefix*."""

    @abstractmethod
    def delete(self, path: str) -> None:
        """Remove *path*; ``FileNotFoundError`` if it holds nothing."""


@hookspec
def provide_storage_backends() -> Any:
    """Return storage backend classes (a list, or a dict ``{backend_type: class}``)."""


STORAGE_BACKENDS_CONFIG = RegistryConfig(
    name="storage_backend",
    hookspec=provide_storage_backends,
    base_class=StorageBackend,
    key_attribute="_backend_type",
    discovery_packages=("openhcs_plugins.storage",),
    skip=skip_gpu,  # GPU-dependent values are left out when OPENHCS_SUBPROCESS_NO_GPU=1
    description="storage backends, by backend type",
)

STORAGE_BACKENDS: LazyDiscoveryDict[type[StorageBackend]] = LazyDiscoveryDict(
    STORAGE_BACKENDS_CONFIG
)
