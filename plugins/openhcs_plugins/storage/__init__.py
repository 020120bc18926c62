"""Built-in storage backends (one module per backend, scanned as a discovery package).

Importing a backend module imports no optional library (numpy, zarr, omero, napari): they are
imported inside the methods that use them, so the package scan stays cheap.
"""

from __future__ import annotations

from typing import Any

from openhcs_registry import hookimpl


def module_available(name: str) -> bool:
    """Whether *name* could be imported, found without importing it."""
    from importlib.util import find_spec

    try:
        return find_spec(name) is not None
    except (ImportError, ValueError):
        return False


@hookimpl
def provide_storage_backends() -> list[Any]:
    from openhcs_registry import Unavailable

    from .disk import DiskBackend
    from .memory import MemoryBackend
    from .omero_local import OMEROLocalBackend
    from .streaming import FijiStreamBackend, NapariStreamBackend

    backends: list[Any] = [
        DiskBackend,
        MemoryBackend,
        NapariStreamBackend,
        FijiStreamBackend,
        OMEROLocalBackend,
    ]
    if module_available("zarr"):
        from .zarr_backend import ZarrBackend

        backends.append(ZarrBackend)
    else:
        # ZarrBackend also declares requires_modules = ("zarr",), so the package scan leaves
        # it out as well; installing zarr invalidates the cache.
        backends.append(Unavailable("zarr", "needs the zarr package", missing_module="zarr"))
    return backends
