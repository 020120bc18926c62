"""One look at the environment: interpreter, ``sys.path`` mtimes and recorded files' stats.

A warm start validates one cache document per registry, and every document checks the same
``sys.path`` folders and mostly the same plugin files (each registry records every module of
its entry-point group).  Done separately that is ~75 ``stat`` calls for the five built-in
registries, a third of the warm listing.  So the answers are kept as a *snapshot* that
registries read in the same burst share: it lasts :data:`SNAPSHOT_SECONDS`, only while
``sys.path`` and the current directory are unchanged, and :func:`forget` (called by every
``reset()``/``discover(force=True)``) ends it at once.  Within a burst all registries thus
see one consistent environment, as if read at the same instant; a change made during it is
seen by the next look.  Writers never use the snapshot: what a cache records is always
looked up afresh.

Kept apart (it imports nothing of ours) because the enum caches need it on their warm path
too, and should not pay for the registry cache module.
"""

from __future__ import annotations

import os
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: How long one look at the environment is reused by later cache checks.
SNAPSHOT_SECONDS = 1.0


class _Snapshot:
    """What one look found; filled lazily (only what some check asked for is looked up)."""

    __slots__ = ("entries", "expires", "fingerprint", "header", "key", "stats")

    def __init__(self, key: tuple[object, ...], entries: list[str], header: dict[str, Any]) -> None:
        self.key = key
        self.entries = entries  # the absolute sys.path entries the fingerprint covers
        self.header = header
        self.fingerprint: dict[str, Any] | None = None
        self.stats: dict[str, tuple[int, int] | None] = {}
        self.expires = time.monotonic() + SNAPSHOT_SECONDS

    def stat(self, path: str) -> tuple[int, int] | None:
        """``(st_mtime_ns, st_size)`` of *path* as of this snapshot, None if missing."""
        stats = self.stats
        try:
            return stats[path]
        except KeyError:
            result = stats[path] = file_stat(path)
            return result


def file_stat(path: str) -> tuple[int, int] | None:
    """``(st_mtime_ns, st_size)`` of *path* now (no snapshot), None if it cannot be stat'ed."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):  # ValueError: a NUL byte in a path read from a document
        return None
    return (st.st_mtime_ns, st.st_size)


def mtime(path: str) -> int | None:
    """``st_mtime_ns`` of *path* now (no snapshot), None if it cannot be stat'ed."""
    try:
        return os.stat(path).st_mtime_ns
    except (OSError, ValueError):
        return None


_snapshot: _Snapshot | None = None


def forget() -> None:
    """End the current snapshot: the next check looks at the environment again."""
    global _snapshot
    _snapshot = None


def _key() -> tuple[object, ...]:
    try:
        cwd = os.getcwd()
    except OSError:
        cwd = None
    argv = getattr(sys, "argv", None)
    return (tuple(sys.path), cwd, argv[0] if argv else None, sys.executable, sys.prefix)


def snapshot() -> _Snapshot:
    """The look in force: the current one while it is valid, else a new one (see the module
    docstring).  Its :meth:`_Snapshot.stat` is what cache checks use for recorded files."""
    global _snapshot
    snap = _snapshot
    key = _key()
    if snap is not None and snap.key == key and time.monotonic() < snap.expires:
        return snap
    path = sys.path
    entries = path[1:] if _launch_entry(path) else list(path)
    header = {
        "python": sys.version,
        "cache_tag": sys.implementation.cache_tag,
        "executable": sys.executable,
        "prefix": sys.prefix,
    }
    snap = _snapshot = _Snapshot(key, [os.path.abspath(e or os.curdir) for e in entries], header)
    return snap


def environment_fingerprint(*, fresh: bool = False) -> dict[str, Any]:
    """Interpreter identity and ``sys.path`` entries with their mtimes.

    Installing, upgrading or removing a distribution adds or removes a ``.dist-info`` folder,
    which changes its site folder's ``st_mtime_ns``.  The launch entry ``sys.path[0]`` (the
    script folder or the current directory, see :func:`_launch_entry`) is left out: it differs
    between ways of starting the same program and changes whenever a file is saved there.

    ``fresh=True`` (for writing a cache) bypasses the snapshot.  The result is shared: treat
    it as read-only.
    """
    if fresh:
        forget()
    snap = snapshot()
    fingerprint = snap.fingerprint
    if fingerprint is None:
        path = [[entry, mtime(entry)] for entry in snap.entries]
        fingerprint = snap.fingerprint = {**snap.header, "path": path}
    return fingerprint


def launch_folder() -> str | None:
    """``sys.path[0]`` when it is the launch entry the fingerprint leaves out, else None."""
    path = sys.path
    return path[0] if _launch_entry(path) else None


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
