"""Where caches live.

The folder is ``platformdirs.user_data_dir("openhcs")/cache/<environment>``
(``~/.local/share/openhcs/cache/<environment>`` on Linux, under the folder the OpenHCS
documentation tells users; one subfolder per Python environment, :func:`environment_folder`),
unless ``OPENHCS_CACHE_DIR`` names another, used as it is.
platformdirs is imported only when its answer is not the plain XDG rule, so an ordinary Linux
process does not pay its import on every start.

The engine works with the folder and file names as strings (:func:`cache_folder`,
:func:`cache_file`), reading and writing alike: ``pathlib`` (~6 ms to import here, with
``fnmatch``) is imported only by what hands out a ``Path`` (:func:`get_openhcs_cache_dir`,
the managers' ``.path``, ``clear_cache``).
"""

from __future__ import annotations

import os
import sys

from . import settings

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

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


def get_openhcs_cache_dir() -> Path:
    """Return the cache folder in force now (it is not created here).

    The variables it depends on are read on every call (tests and applications change
    them at run time).
    """
    from pathlib import Path

    return Path(cache_folder())


def cache_folder() -> str:
    """:func:`get_openhcs_cache_dir` as a string (what the engine itself uses), worked out
    from the variables on every call: a string join is as cheap as a memo's lookup.

    The default folder holds one subfolder per Python environment
    (:func:`environment_folder`): every cache describes one environment, and two of them
    sharing one file would each rebuild it at every start of the other (a project's venv
    and the one a command-line tool was installed into, conda environments used in turn).
    A folder named by ``OPENHCS_CACHE_DIR`` is used as it is.
    """
    override = os.environ.get(settings.CACHE_DIR_ENV)
    if override:
        return os.path.expanduser(override) if override.startswith("~") else override
    data_dir = _plain_linux_data_dir()
    if data_dir is None:
        import platformdirs

        data_dir = platformdirs.user_data_dir(APP_NAME, appauthor=False)
    return os.path.join(data_dir, "cache", environment_folder())


#: ``(sys.prefix, its folder name)`` as last worked out (see :func:`environment_folder`).
_environment_name: tuple[str, str] | None = None


def environment_folder() -> str:
    """The name of this Python environment's subfolder of the default cache folder.

    ``<prefix's last part>-<cache tag>-<digest of sys.prefix>``, e.g.
    ``venv-cpython-311-1e3c04c1e9d2a7f0``: readable, and one per environment (the prefix) and
    interpreter kind (the tag: two Python versions may share a prefix).  The digest is
    ``hash`` of the prefix's bytes as an integer, which Python does not randomise (as
    ``_fileio.checksum``), so every process of one environment names the same folder.
    """
    global _environment_name
    prefix = sys.prefix
    memo = _environment_name
    if memo is not None and memo[0] == prefix:
        return memo[1]
    base = os.path.basename(prefix.rstrip(os.sep)) or "root"
    base = "".join(c if c.isalnum() or c in "._-" else "_" for c in base)[:40].lstrip(".")
    tag = getattr(sys.implementation, "cache_tag", None) or "python"
    # (all 61 bits: each byte lands at its own rotation of them, so any cut would drop
    # some bytes of the prefix; two prefixes sharing a folder would only rebuild each
    # other's documents, as before there were folders: the header tells them apart)
    digest = hash(int.from_bytes(os.fsencode(prefix), "little"))
    name = f"{base or 'env'}-{tag}-{digest:016x}"
    _environment_name = (prefix, name)
    return name


def cache_file(file_name: str) -> str:
    """The path of *file_name* in the cache folder in force now."""
    return os.path.join(cache_folder(), file_name)


def registry_cache_file(name: str) -> str:
    """Cache file of the registry called *name* (``microscope_handler_registry.json``)."""
    return cache_file(f"{name}_registry.json")
