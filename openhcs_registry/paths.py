"""Where caches live.

The folder is ``platformdirs.user_data_dir("openhcs")/cache`` (``~/.local/share/openhcs/cache``
on Linux, as the OpenHCS documentation tells users), unless ``OPENHCS_CACHE_DIR`` names another.
platformdirs is imported only when the environment variable is absent, so a process that pins
the folder pays nothing for it.
"""

from __future__ import annotations

import os
from pathlib import Path

from . import settings

APP_NAME = "openhcs"


def get_openhcs_cache_dir() -> Path:
    """Return the cache folder in force now (it is not created here)."""
    override = os.environ.get(settings.CACHE_DIR_ENV)
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / "cache"


def registry_cache_file(name: str) -> Path:
    """Cache file of the registry called *name* (``microscope_handler_registry.json``)."""
    return get_openhcs_cache_dir() / f"{name}_registry.json"
