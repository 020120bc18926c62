"""The OpenHCS plugin contracts: per registry a base class, a hookspec and a RegistryConfig.

Registries are importable lazily by name (``from openhcs_hookspecs import MICROSCOPE_HANDLERS``):
only the module defining the requested registry is imported, and defining a registry
discovers nothing.  The OpenHCS enums are here too (:mod:`.colormaps`, :mod:`.components`).

The GPU rule every OpenHCS registry shares is defined in this module (not a module of its
own: each registry module needs it, and one more module costs every warm start ~0.1 ms):
:func:`skip_gpu` is their ``RegistryConfig(skip=...)``.  Its switch,
``OPENHCS_SUBPROCESS_NO_GPU``, is declared under the ``openhcs.settings`` entry-point group
(pyproject.toml), so the engine records it in every cache and flipping it rebuilds - the engine
itself knows nothing about GPUs.
"""

from __future__ import annotations

import importlib

from openhcs_registry.settings import env_flag

TYPE_CHECKING = False
if TYPE_CHECKING:
    # What type checkers see: the real objects (``MICROSCOPE_HANDLERS["x"]`` is
    # ``type[MicroscopeHandler]``).  At run time these names come from ``__getattr__`` below,
    # importing only the one contract module asked for.  Keep in step with ``_NAMES``
    # (tests/test_typing.py checks both).
    from typing import Any

    from .formats import MICROSCOPE_FORMAT_REGISTRIES as MICROSCOPE_FORMAT_REGISTRIES
    from .formats import MicroscopeFormatRegistry as MicroscopeFormatRegistry
    from .libraries import LIBRARY_REGISTRIES as LIBRARY_REGISTRIES
    from .libraries import LibraryRegistry as LibraryRegistry
    from .microscopes import METADATA_HANDLERS as METADATA_HANDLERS
    from .microscopes import MICROSCOPE_HANDLERS as MICROSCOPE_HANDLERS
    from .microscopes import MetadataHandler as MetadataHandler
    from .microscopes import MicroscopeHandler as MicroscopeHandler
    from .storage import STORAGE_BACKENDS as STORAGE_BACKENDS
    from .storage import StorageBackend as StorageBackend
    from .zmq_servers import ZMQ_SERVERS as ZMQ_SERVERS
    from .zmq_servers import ZMQServer as ZMQServer

#: Module of each registry-defining contract, in display order.
REGISTRY_MODULES: tuple[str, ...] = (
    "openhcs_hookspecs.microscopes",
    "openhcs_hookspecs.storage",
    "openhcs_hookspecs.zmq_servers",
    "openhcs_hookspecs.libraries",
    "openhcs_hookspecs.formats",
)

_NAMES = {
    "MICROSCOPE_HANDLERS": "microscopes",
    "METADATA_HANDLERS": "microscopes",
    "MicroscopeHandler": "microscopes",
    "MetadataHandler": "microscopes",
    "STORAGE_BACKENDS": "storage",
    "StorageBackend": "storage",
    "ZMQ_SERVERS": "zmq_servers",
    "ZMQServer": "zmq_servers",
    "LIBRARY_REGISTRIES": "libraries",
    "LibraryRegistry": "libraries",
    "MICROSCOPE_FORMAT_REGISTRIES": "formats",
    "MicroscopeFormatRegistry": "formats",
}

__all__ = [
    "GPU_ATTRIBUTE",
    "NO_GPU_ENV",
    "REGISTRY_MODULES",
    "load_all",
    "no_gpu",
    "skip_gpu",
    *sorted(_NAMES),
]

#: Set to 1 in processes without a GPU (OpenHCS's subprocess mode).
NO_GPU_ENV = "OPENHCS_SUBPROCESS_NO_GPU"
#: The class attribute that marks a value as GPU-dependent (``requires_gpu = True``).
GPU_ATTRIBUTE = "requires_gpu"


def no_gpu() -> bool:
    """True in subprocess mode without a GPU: GPU-dependent values are skipped."""
    return env_flag(NO_GPU_ENV)


def skip_gpu(value: Any) -> str | None:
    """The skip rule of the OpenHCS registries: the reason to leave *value* out, or None."""
    if no_gpu() and getattr(value, GPU_ATTRIBUTE, False):
        return f"needs a GPU and {NO_GPU_ENV}=1"
    return None


def load_all() -> dict[str, Any]:
    """Import every contract module and return the registries by name (nothing discovered)."""
    from openhcs_registry import registries

    for module in REGISTRY_MODULES:
        importlib.import_module(module)
    return {
        name: registry
        for name, registry in registries().items()
        if registry.config.hookspec.__module__ in REGISTRY_MODULES
    }


def __getattr__(name: str) -> Any:
    module = _NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'openhcs_hookspecs' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
