"""openhcs-registry: lazy, cached, pluggy-based plugin registries.

Importing this package is cheap: the public names below are loaded on first use (PEP 562),
so ``import openhcs_registry`` pulls in neither pluggy nor importlib.metadata nor a plugin.
"""

from __future__ import annotations

from ._version import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ._autoregister import AutoRegistered
    from ._cache import RegistryCacheManager, clear_cache
    from ._cold._discovery import DuplicateKeyError
    from ._config import RegistryConfig, SecondaryRegistryConfig
    from ._diagnostics import FailureKind, PluginFailure
    from ._lazy import (
        DiscoveryInProgressError,
        LazyDiscoveryDict,
        RegistryDiscoveryError,
        SecondaryRegistryDict,
        get_registry,
        registries,
    )
    from ._markers import hookimpl, hookspec
    from ._paths import get_openhcs_cache_dir
    from ._rules import Unavailable
    from .enums import cached_enum

_EXPORTS = {
    "AutoRegistered": "_autoregister",
    "RegistryCacheManager": "_cache",
    "clear_cache": "_cache",
    "RegistryConfig": "_config",
    "SecondaryRegistryConfig": "_config",
    "FailureKind": "_diagnostics",
    "PluginFailure": "_diagnostics",
    "DuplicateKeyError": "_cold._discovery",
    "Unavailable": "_rules",
    "cached_enum": "enums",
    "DiscoveryInProgressError": "_lazy",
    "LazyDiscoveryDict": "_lazy",
    "RegistryDiscoveryError": "_lazy",
    "SecondaryRegistryDict": "_lazy",
    "get_registry": "_lazy",
    "registries": "_lazy",
    "hookimpl": "_markers",
    "hookspec": "_markers",
    "get_openhcs_cache_dir": "_paths",
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
