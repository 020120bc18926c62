"""Built-in storage backends (one module per backend, scanned as a discovery package)."""

from __future__ import annotations

from openhcs_registry.markers import hookimpl

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


@hookimpl
def provide_storage_backends() -> list[Any]:
    from .disk import DiskBackend
    from .memory import MemoryBackend
    from .omero_local import OMEROLocalBackend
    from .streaming import FijiStreamBackend, NapariStreamBackend
    from .zarr_backend import ZarrBackend  # requires_modules = ("zarr",): unavailable without

    return [
        DiskBackend,
        MemoryBackend,
        ZarrBackend,
        NapariStreamBackend,
        FijiStreamBackend,
        OMEROLocalBackend,
    ]
