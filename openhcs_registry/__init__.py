"""openhcs-registry: lazy, cached, pluggy-based plugin registries.

Importing this package is cheap: the public names below are loaded on first use (PEP 562),
so ``import openhcs_registry`` pulls in neither pluggy nor importlib.metadata nor a plugin.
"""

from __future__ import annotations

from ._version import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ._discovery import DuplicateKeyError
    from ._rules import Unavailable
    from .autoregister import AutoRegistered
    from .cache import RegistryCacheManager, clear_cache
    from .config import RegistryConfig, SecondaryRegistryConfig
    from .diagnostics import FailureKind, PluginFailure
    from .enums import cached_enum
    from .lazy import (
        DiscoveryInProgressError,
        LazyDiscoveryDict,
        RegistryDiscoveryError,
        SecondaryRegistryDict,
        get_registry,
        registries,
    )
    from .markers import hookimpl, hookspec
    from .paths import get_openhcs_cache_dir

_EXPORTS = {
    "AutoRegistered": "autoregister",
    "RegistryCacheManager": "cache",
    "clear_cache": "cache",
    "RegistryConfig": "config",
    "SecondaryRegistryConfig": "config",
    "FailureKind": "diagnostics",
    "PluginFailure": "diagnostics",
    "DuplicateKeyError": "_discovery",
    "Unavailable": "_rules",
    "cached_enum": "enums",
    "DiscoveryInProgressError": "lazy",
    "LazyDiscoveryDict": "lazy",
    "RegistryDiscoveryError": "lazy",
    "SecondaryRegistryDict": "lazy",
    "get_registry": "lazy",
    "registries": "lazy",
    "hookimpl": "markers",
    "hookspec": "markers",
    "get_openhcs_cache_dir": "paths",
}

__all__ = [
    "AutoRegistered",
    "DiscoveryInProgressError",
    "DuplicateKeyError",
    "FailureKind",
    "LazyDiscoveryDict",
    "PluginFailure",
    "RegistryCacheManager",
    "RegistryConfig",
    "RegistryDiscoveryError",
    "SecondaryRegistryConfig",
    "SecondaryRegistryDict",
    "Unavailable",
    "__version__",
    "cached_enum",
    "clear_cache",
    "get_openhcs_cache_dir",
    "get_registry",
    "hookimpl",
    "hookspec",
    "registries",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'openhcs_registry' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
