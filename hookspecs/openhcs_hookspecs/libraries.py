"""Library registries: image-processing function libraries (key ``_registry_name``)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

from openhcs_registry import AutoRegistered, LazyDiscoveryDict, RegistryConfig, hookspec

from . import skip_gpu

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar


class LibraryRegistry(AutoRegistered, ABC):
    """Describes one function library: whether it is usable here and which functions it offers.

    ``library_module`` is the import name checked by :meth:`is_available` without importing it.
    """

    __registry_name__ = "library_registry"
    _registry_name: ClassVar[str | None] = None
    library_module: ClassVar[str | None] = None
    requires_gpu: ClassVar[bool] = False

    @classmethod
    def is_available(cls) -> bool:
        """Whether the library can be imported here (checked without importing it)."""
        if cls.library_module is None:
            return True
        from importlib.util import find_spec

        try:
            return find_spec(cls.library_module) is not None
        except (ImportError, ValueError):
            return False

    @abstractmethod
    def functions(self) -> dict[str, Callable[..., Any]]:
        """Processing functions by name (imports the library)."""


@hookspec
def provide_library_registries() -> Any:
    """Return library registry classes (a list, or a dict ``{registry_name: class}``)."""


LIBRARY_REGISTRIES_CONFIG = RegistryConfig(
    name="library_registry",
    hookspec=provide_library_registries,
    base_class=LibraryRegistry,
    key_attribute="_registry_name",
    skip=skip_gpu,  # GPU-dependent values are left out when OPENHCS_SUBPROCESS_NO_GPU=1
    description="image-processing function libraries, by name",
)

LIBRARY_REGISTRIES: LazyDiscoveryDict[type[LibraryRegistry]] = LazyDiscoveryDict(
    LIBRARY_REGISTRIES_CONFIG
)
