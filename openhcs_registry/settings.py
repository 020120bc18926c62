"""Environment switches, read at the moment they matter (never frozen at import)."""

from __future__ import annotations

import os

CACHE_DIR_ENV = "OPENHCS_CACHE_DIR"
DISABLE_CACHE_ENV = "OPENHCS_DISABLE_REGISTRY_CACHE"
NO_GPU_ENV = "OPENHCS_SUBPROCESS_NO_GPU"
NO_ENTRY_POINTS_ENV = "OPENHCS_DISABLE_ENTRY_POINTS"

_TRUE = {"1", "true", "yes", "on"}


def env_flag(name: str) -> bool:
    """True when the variable is set to 1/true/yes/on (case-insensitive)."""
    return os.environ.get(name, "").strip().lower() in _TRUE


def cache_disabled() -> bool:
    return env_flag(DISABLE_CACHE_ENV)


def no_gpu() -> bool:
    """True in subprocess mode without a GPU: GPU-dependent plugins are skipped."""
    return env_flag(NO_GPU_ENV)


def entry_points_disabled() -> bool:
    """True when entry-point plugins are not loaded at all (tests, isolated runs)."""
    return env_flag(NO_ENTRY_POINTS_ENV)


def discovery_settings() -> dict[str, str]:
    """Settings that change what discovery finds; recorded in (and checked against) caches."""
    return {
        NO_GPU_ENV: "1" if no_gpu() else "0",
        NO_ENTRY_POINTS_ENV: "1" if entry_points_disabled() else "0",
    }
