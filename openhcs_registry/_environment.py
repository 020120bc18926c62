"""The environment fingerprint: which interpreter, and what is installed on ``sys.path``.

Kept apart (it imports nothing of ours) because the enum caches need it on their warm path
too, and should not pay for the registry cache module.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def environment_fingerprint() -> dict[str, Any]:
    """Interpreter identity and ``sys.path`` entries with their mtimes.

    Installing, upgrading or removing a distribution adds or removes a ``.dist-info`` folder,
    which changes its site folder's ``st_mtime_ns``.  The launch entry ``sys.path[0]`` (the
    script folder or the current directory, see :func:`_launch_entry`) is left out: it differs
    between ways of starting the same program and changes whenever a file is saved there.
    """
    entries = sys.path[1:] if _launch_entry(sys.path) else sys.path
    path: list[list[Any]] = []
    for entry in entries:
        full = os.path.abspath(entry or os.curdir)
        try:
            mtime: int | None = os.stat(full).st_mtime_ns
        except OSError:
            mtime = None
        path.append([full, mtime])
    return {
        "python": sys.version,
        "cache_tag": sys.implementation.cache_tag,
        "executable": sys.executable,
        "prefix": sys.prefix,
        "path": path,
    }


def _launch_entry(path: list[str]) -> bool:
    """Whether ``path[0]`` is the entry Python added for how it was launched.

    That is ``''`` (``-c``, interactive), the current directory (``-m``) or the script's
    folder; a folder put first on purpose (``PYTHONPATH``, a test's ``sys.path.insert``) is
    kept in the fingerprint.
    """
    if not path or getattr(sys.flags, "safe_path", False):
        return False
    first = path[0]
    if first == "":
        return True
    full = os.path.abspath(first)
    try:
        if full == os.getcwd():
            return True
    except OSError:
        pass
    argv = getattr(sys, "argv", None)
    if argv and argv[0] and argv[0] not in ("-c", "-m"):
        return bool(full == os.path.dirname(os.path.abspath(argv[0])))
    return False
