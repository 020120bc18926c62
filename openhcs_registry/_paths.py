"""Where caches live.

The folder is ``platformdirs.user_data_dir("openhcs")/cache`` (``~/.local/share/openhcs/cache``
on Linux, as the OpenHCS documentation tells users), unless ``OPENHCS_CACHE_DIR`` names another.
platformdirs is imported only when its answer is not the plain XDG rule, so an ordinary Linux
process does not pay its import on every start.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from . import settings

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

APP_NAME = "openhcs"


def _plain_linux_data_dir() -> str | None:
    """platformdirs' answer for the unambiguous Linux case, without importing it (~7 ms).

    That case is an absolute ``$XDG_DATA_HOME``, or none and an absolute ``$HOME``; anything
    else (Android, relative values, other systems) is left to platformdirs itself.  A test
    checks that both agree.
    """
    if not sys.platform.startswith("linux") or "ANDROID_DATA" in os.environ:
        return None
    xdg = os.environ.get("XDG_DATA_HOME", "")
    if xdg:
        return os.path.join(xdg, APP_NAME) if os.path.isabs(xdg) else None
    home = os.environ.get("HOME", "")
    if not os.path.isabs(home):
        return None
    return os.path.join(home, ".local", "share", APP_NAME)


_folders: dict[str, Path] = {}


def get_openhcs_cache_dir() -> Path:
    """Return the cache folder in force now (it is not created here).

    The variables it depends on are read on every call (tests and applications change
    them at run time); only the ``Path`` built from them is remembered.
    """
    override = os.environ.get(settings.CACHE_DIR_ENV)
    if override:
        if override.startswith("~"):  # depends on $HOME too: not remembered
            return Path(override).expanduser()
        folder = _folders.get(override)
        if folder is None:
            folder = _remember(_folders, override, Path(override))
        return folder
    data_dir = _plain_linux_data_dir()
    if data_dir is None:
        import platformdirs

        data_dir = platformdirs.user_data_dir(APP_NAME, appauthor=False)
    folder = _folders.get("\0" + data_dir)  # "\0": no clash with an override string
    if folder is None:
        folder = _remember(_folders, "\0" + data_dir, Path(data_dir) / "cache")
    return folder


def _remember(memo: dict[Any, Path], key: Any, path: Path) -> Path:
    if len(memo) > 64:  # a test suite sets a new folder per test: stay small
        memo.clear()
    memo[key] = path
    return path


_files: dict[tuple[Path, str], Path] = {}


def registry_cache_file(name: str) -> Path:
    """Cache file of the registry called *name* (``microscope_handler_registry.json``)."""
    folder = get_openhcs_cache_dir()
    path = _files.get((folder, name))
    if path is None:
        path = _remember(_files, (folder, name), folder / f"{name}_registry.json")
    return path
