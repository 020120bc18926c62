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
from operator import attrgetter, length_hint

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: How long one look at the environment is reused by later cache checks.
SNAPSHOT_SECONDS = 1.0

#: Not yet in a snapshot's stats (None there means "looked: missing").
_UNSEEN: Any = object()


class _Snapshot:
    """What one look found; filled lazily (only what some check asked for is looked up)."""

    __slots__ = (
        "checksums",
        "entries",
        "expires",
        "fingerprint",
        "header",
        "indexed",
        "kept",
        "key",
        "listings",
        "sorted",
        "stats",
        "taken",
        "took",
        "verified",
    )

    def __init__(self, key: tuple[object, ...], entries: list[str], header: dict[str, Any]) -> None:
        self.key = key
        self.entries = entries  # the absolute sys.path entries the fingerprint covers
        self.header = header
        self.fingerprint: dict[str, Any] | None = None
        self.stats: dict[str, list[int] | None] = {}
        #: the signatures the cache's hot loops took (:meth:`take`), as ``(paths, sigs)``
        self.kept: list[tuple[list[str], list[Any]]] = []
        #: the kept signatures by path (:meth:`_index`): what a later :meth:`take` of the
        #: look, and :meth:`stat`, answer from; how many chunks of :attr:`kept` it holds
        self.taken: dict[str, Any] = {}
        self.indexed = 0
        self.took = False  # (whether :meth:`take` ran: its first call needs no index)
        self.listings: dict[str, set[str] | None] = {}
        #: sorted folder listings (see :meth:`listing`)
        self.sorted: dict[str, list[str] | None] = {}
        #: listing checksums of folders whose stat moved, as the cache checks took them
        #: (:meth:`checksum`): the warm check and incremental reuse list each once
        self.checksums: dict[str, int | None] = {}
        #: per ``sys.path`` entry, ``(distribution folders, their stamp)`` as a cache check
        #: folded them in this snapshot: every registry records the same rows, stat'ed once
        self.verified: dict[str, tuple[list[Any], int]] = {}
        self.expires = time.monotonic() + SNAPSHOT_SECONDS

    def stat(self, path: str) -> list[int] | None:
        """The stat signature (see :func:`file_stat`) of *path* as of this snapshot.

        Looked up in :attr:`stats` first, then among the signatures the hot loops kept
        (:meth:`take`, :meth:`keep`), through the index :meth:`take` answers from, and
        only then stat'ed: a path answered once keeps its signature.  Only the path
        asked for is turned into a row: a warm start asks for the ``sys.path`` rows and
        the folders plugins read, none of which was kept (turning every kept signature
        into a row at the first miss cost ~1 ms at 2000 plugins, and as much again at
        exit); incremental reuse asks for each record's files, and gets the signatures
        the check compared.
        """
        stats = self.stats
        found = stats.get(path, _UNSEEN)  # (no exception on a miss: thousands after
        if found is _UNSEEN:  # an install, through the entry-point index)
            taken = self._index() if self.indexed < len(self.kept) else self.taken
            sig = taken.get(path)
            if sig is None:
                found = file_stat(path)
            elif sig == -1:  # (kept: missing then)
                found = None
            else:
                found = list(sig)
            stats[path] = found
        return found  # type: ignore[no-any-return]

    def take(self, paths: list[str]) -> list[Any]:
        """The signatures of *paths* as of this look: tuples ``(mtime, size, ctime, inode)``,
        ``-1`` for a missing file (the cache's hot loops fold them, see :func:`signatures`).

        For the recorded files.  The look's first call stats every path in C and keeps the
        result as it is: a warm start at 2000 plugins takes 4,000 files once.  A later
        call (the next registry of a burst: the five built-in registries record mostly the
        same plugin files) answers the paths taken or kept before from them, as if read at
        the same instant, and stats only the others.  A check that goes on row by row, or
        incremental reuse, then compares rows with these same signatures (:meth:`stat`).
        """
        if not self.took:  # (the distributions kept before are other paths: no index yet)
            self.took = True
            sigs = signatures(paths)
            self.keep(paths, sigs)
            return sigs
        taken = self._index()
        sigs = list(map(taken.get, paths))
        if None in sigs:
            missing = [path for path, sig in zip(paths, sigs, strict=True) if sig is None]
            self.keep(missing, signatures(missing))
            taken = self._index()
            sigs = list(map(taken.__getitem__, paths))
        return sigs

    def taken_for(self, paths: list[str]) -> list[Any]:
        """:meth:`take` of *paths*, the signatures kept if these very paths (the same
        list) were taken before: the warm check's, which a change compares rows with."""
        for kept_paths, sigs in self.kept:
            if kept_paths is paths:
                return sigs
        return self.take(paths)

    def keep(self, paths: list[str], sigs: list[Any]) -> None:
        """Keep the signatures *sigs* of *paths* (tuples, ``-1`` for a missing file) as rows
        for :meth:`stat` on demand and for a later :meth:`take`: what :meth:`take` stats,
        and the distributions' declarations, which a fold stats itself (other registries
        of a burst compare those by their own memo, :attr:`verified`)."""
        self.kept.append((paths, sigs))

    def _index(self) -> dict[str, Any]:
        """:attr:`taken`, every kept signature in it: ``{path: signature}`` as :meth:`take`
        gives them (a path kept twice in the look, by a fold and a take, answers with the
        later signature)."""
        taken = self.taken
        kept = self.kept
        # registries of one burst may be loaded by several threads: a chunk is claimed by
        # moving the count past it before it is read (:attr:`kept` only grows), so a race
        # at worst goes over a chunk twice, never reads past the end
        while (at := self.indexed) < len(kept):
            self.indexed = at + 1
            taken.update(zip(*kept[at], strict=True))
        return taken

    def names(self, folder: str) -> set[str] | None:
        """Top-level names importable from *folder* as of this snapshot (None: unreadable)."""
        names = self.listings
        try:
            return names[folder]
        except KeyError:
            entries = self.listing(folder)
            result = names[folder] = None if entries is None else names_in(entries)
            return result

    def listing(self, folder: str) -> list[str] | None:
        """The sorted entries of *folder* as of this snapshot (None: not a readable folder,
        such as a zip archive on ``sys.path``; callers that sum an archive look at it
        themselves).  Treat the list as read-only: it is shared.

        After an install, the site folder (thousands of entries at a large plugin set) is
        wanted by the entry-point index, the cache check's listing checksum, incremental
        reuse's names and discovery's scan, all in the same look: listed and sorted once.
        """
        listed = self.sorted
        try:
            return listed[folder]
        except KeyError:
            try:
                result: list[str] | None = sorted(os.listdir(folder or os.curdir))
            except (OSError, ValueError):
                result = None
            listed[folder] = result
            return result

    def checksum(self, folder: str) -> int | None:
        """The :func:`listing_checksum` of *folder* as of this snapshot (from :meth:`listing`)."""
        sums = self.checksums
        try:
            return sums[folder]
        except KeyError:
            pass
        entries = self.listing(folder)
        result = sums[folder] = (
            listing_of_sorted(entries) if entries is not None else archive_checksum(folder)
        )
        return result


def file_stat(path: str) -> list[int] | None:
    """``[st_mtime_ns, st_size, st_ctime_ns, st_ino]`` of *path* now, None if missing.

    mtime and size alone can be put back by ``cp -p``, ``rsync -a`` or ``tar x`` after a
    same-size edit; the change time and the inode cannot.
    """
    try:
        st = os.stat(path)
    except (OSError, ValueError):  # ValueError: a NUL byte in a path read from a document
        return None
    return list(_SIGNATURE(st))


#: The fields of a stat signature, read in C: the one place their order is written.  The
#: rows of :func:`file_stat` and the tuples of :func:`signatures` must agree (the look
#: turns the tuples into rows, :meth:`_Snapshot.stat`, and a fold of either stands
#: for comparing the rows).
_SIGNATURE = attrgetter("st_mtime_ns", "st_size", "st_ctime_ns", "st_ino")


def signatures(paths: list[str]) -> list[Any]:
    """The stat signature of each of *paths* now, as a tuple, or ``-1`` if it is missing.

    ``map`` over ``os.stat`` runs in C.  A missing file (a distribution without entry
    points, a recorded absence) raises out of it: the signatures taken so far are kept
    (``list.extend`` keeps what it appended), the missing one is noted and the same
    iterator goes on after it.  Where it failed is read from what is left of the
    iterator; should the two disagree, the paths are taken again one by one.
    """
    out: list[Any] = []
    rest = iter(paths)
    total = len(paths)
    while True:
        try:
            out.extend(map(_SIGNATURE, map(os.stat, rest)))
            return out
        except (OSError, ValueError):  # ValueError: a NUL byte in a path from a document
            pass
        if len(out) != total - length_hint(rest) - 1:
            return [signature(path) for path in paths]
        out.append(-1)


def signature(path: str) -> Any:
    """:func:`signatures` of one path."""
    try:
        return _SIGNATURE(os.stat(path))
    except (OSError, ValueError):
        return -1


#: File name endings that make a folder entry importable under the part before the first dot.
_IMPORTABLE_SUFFIXES = (".py", ".pyc", ".pyw", ".so", ".pyd")


def importable_names(folder: str) -> set[str] | None:
    """Top-level names *folder* may provide to ``import`` (over-approximated), or None.

    A name without a dot may be a package folder; ``x.py`` or ``x.cpython-311-….so``
    provides ``x``.  Recording and checking use this same rule, so the over-approximation
    only makes a stray file named like a module count as a change.
    """
    try:
        entries = os.listdir(folder or os.curdir)
    except (OSError, ValueError):
        return None
    return names_in(entries)


def names_in(entries: list[str]) -> set[str]:
    """The :func:`importable_names` of a folder whose entries are *entries* (one rule for
    the warm check and for recording)."""
    out: set[str] = set()
    for entry in entries:
        if "." not in entry:
            if entry != "__pycache__":
                out.add(entry)
        elif entry.endswith(_IMPORTABLE_SUFFIXES):
            out.add(entry.split(".", 1)[0])
    return out


def listing_checksum(folder: str) -> int | None:
    """A checksum of the importable entries of *folder* now (None if unreadable): the sorted
    entries but ``__pycache__`` and names starting with ``.``.

    Folder mtimes also move when ``__pycache__`` is created or an editor saves a backup; the
    listing says whether the set of modules changed, so that a moved mtime with the same
    modules is not a change.  A ``sys.path`` entry that is a file (a zip archive of
    plugins) is summed by its bytes instead: rewritten within the racy window, its stat
    alone cannot tell.  One rule for the recorder (which takes it with the folder's stat,
    when a plugin reads the folder: :func:`._cold._inputs.folder_sig`), the sys.path
    rows of the environment section and the warm check (:meth:`_Snapshot.checksum` is this
    value within one look).
    """
    try:
        entries = sorted(os.listdir(folder or os.curdir))
    except (OSError, ValueError):
        return archive_checksum(folder)
    return listing_of_sorted(entries)


def archive_checksum(path: str) -> int | None:
    """:func:`listing_checksum` of a path that cannot be listed: a file (a zip archive on
    ``sys.path``) by its bytes; None if it cannot be read either (missing, unreadable)."""
    from ._fileio import checksum

    try:
        with open(path, "rb") as fh:
            return checksum(b"file\0" + fh.read())
    except (OSError, ValueError):
        return None


def listing_of_sorted(entries: list[str]) -> int:
    """The listing checksum of a folder whose sorted entries are *entries*: those left out
    (``__pycache__``, names starting with ``.``) found by bisection, not by a pass.

    (Sorting thousands of names sharing a long prefix was most of this checksum: a sorted
    listing, taken once per look, serves it and the entry-point scans.)
    """
    from bisect import bisect_left

    from ._fileio import checksum

    # the names starting with "." are those in [".", "/") in code point order
    lo = bisect_left(entries, ".")
    hi = bisect_left(entries, "/", lo)
    names = entries[:lo] + entries[hi:] if hi > lo else entries
    at = bisect_left(names, "__pycache__")
    if at < len(names) and names[at] == "__pycache__":
        names = names[:at] + names[at + 1 :]
    return checksum("\0".join(names).encode("utf-8", "surrogateescape"))


def mtime(path: str) -> int | None:
    """``st_mtime_ns`` of *path* now (no snapshot), None if it cannot be stat'ed."""
    try:
        return os.stat(path).st_mtime_ns
    except (OSError, ValueError):
        return None


_snapshot: _Snapshot | None = None


def environ_digest(value: str | None) -> int | None:
    """What a document records of an environment variable's *value* (None: unset): a
    digest, not the value (a token a plugin reads is nobody's business in a cache file).
    Deterministic across processes: the hash of integers, unlike a string's, is not
    randomised; CPython's ``hash`` is never -1, the mark of a value that never matches
    (see :func:`._cold._inputs.environ_rows`)."""
    if value is None:
        return None
    data = value.encode("utf-8", "surrogateescape")
    return hash((len(data), int.from_bytes(data, "little")))


#: The name under which the working directory is recorded among the environment variables
#: read (no variable can have it: a NUL ends a name).  A plugin reading a relative path
#: reads it in the working directory, whichever that is at the start: a start in another
#: one may read another file, so the folder is an input, as a variable the plugin reads is.
WORKING_DIRECTORY = "\0cwd"


def environ_value(name: str) -> str | None:
    """The value now of recorded environment variable *name* (None: unset), the working
    directory for :data:`WORKING_DIRECTORY` (None: it is gone)."""
    if name != WORKING_DIRECTORY:
        return os.environ.get(name)
    try:
        return os.getcwd()
    except OSError:
        return None


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
    header = {
        "python": sys.version,
        "cache_tag": sys.implementation.cache_tag,
        "executable": interpreter_identity(sys.executable),
        "prefix": sys.prefix,
    }
    snap = _snapshot = _Snapshot(key, search_path(), header)
    return snap


def interpreter_identity(executable: str) -> list[int] | None:
    """Which interpreter binary *executable* is: ``[st_ino, st_size, st_mtime_ns]`` of the
    file it leads to (None if there is none, as in an embedded interpreter).

    The same interpreter reached as ``bin/python`` or ``bin/python3`` (a console script's
    shebang) is one interpreter, and a venv's link or copy of a base interpreter is told
    apart by the prefix; so what identifies it is the file at the end of its links, which
    one ``stat`` that follows them finds.  (``os.path.realpath`` walked every component of
    the path in Python, an ``lstat`` each: ~70 µs of a ~1 ms first listing.)  An
    interpreter rebuilt or reinstalled in place is another binary: its inode, size or
    mtime moved, where its path alone did not.  The device number is left out, as the
    recorded files' signatures leave it out (:func:`file_stat`): it may differ between two
    mounts of one image (a container's root, a mounted environment), whose files do not.
    """
    try:
        st = os.stat(executable) if executable else None
    except (OSError, ValueError):
        st = None
    return None if st is None else [st.st_ino, st.st_size, st.st_mtime_ns]


def search_path() -> list[str]:
    """``sys.path`` as the import system uses it: absolute (a relative entry that names
    nothing in the current folder kept as it is), launch entry left out, each entry once.

    An entry listed twice is searched once, at its first place: a spawn worker whose main
    module does ``sys.path.insert(0, …)`` at top level has it twice (and its launch entry
    second), and imports exactly as its parent does.
    """
    path = sys.path
    launch = _launch_index(path)
    seen: set[str] = set()
    out: list[str] = []
    for index, entry in enumerate(path):
        if index == launch or not isinstance(entry, str):
            continue
        if not entry or os.path.isabs(entry) or os.path.exists(entry):
            full = os.path.abspath(entry or os.curdir)
        else:
            # a relative entry naming nothing here - setuptools' editable finder puts
            # "__editable__.<name>.finder.__path_hook__" on sys.path for its path hook - is
            # kept as it is: it provides no file in any launch folder where it names nothing,
            # and made absolute it would differ from one launch folder to the next
            full = entry
        if full not in seen:
            seen.add(full)
            out.append(full)
    return out


def environment_fingerprint(*, fresh: bool = False) -> dict[str, Any]:
    """Interpreter identity and ``sys.path`` entries with their stat signatures.

    Installing, upgrading or removing a distribution adds or removes a ``.dist-info`` folder,
    which changes its site folder's ``st_mtime_ns``.  The launch entry ``sys.path[0]`` (the
    script folder or the current directory, see :func:`_launch_index`) is left out: it differs
    between ways of starting the same program and changes whenever a file is saved there.

    ``fresh=True`` (for writing a cache) bypasses the snapshot.  The result is shared: treat
    it as read-only.
    """
    if fresh:
        forget()
    snap = snapshot()
    fingerprint = snap.fingerprint
    if fingerprint is None:
        path = [[entry, file_stat(entry)] for entry in snap.entries]
        fingerprint = snap.fingerprint = {**snap.header, "path": path}
    return fingerprint


def launch_folder() -> str | None:
    """The launch entry of ``sys.path`` that the fingerprint leaves out, else None."""
    path = sys.path
    index = _launch_index(path)
    return None if index is None else path[index]


def _launch_index(path: list[str]) -> int | None:
    """Where in *path* the entry is that Python added for how it was launched, if any.

    That is ``''`` (``-c``, interactive), the current directory (``-m``) or the script's
    folder.  It is first unless the program inserted entries before it (a spawn worker's
    main module doing ``sys.path.insert(0, …)``): the first such entry is taken.  A folder
    put first on purpose (``PYTHONPATH``, a test's ``sys.path.insert``) is kept in the
    fingerprint.
    """
    if not path or getattr(sys.flags, "safe_path", False):
        return None
    try:
        cwd: str | None = os.getcwd()
    except OSError:
        cwd = None
    argv = getattr(sys, "argv", None)
    script = None
    if argv and argv[0] and argv[0] not in ("-c", "-m"):
        script = os.path.dirname(os.path.abspath(argv[0]))
    for index, entry in enumerate(path):
        if entry == "":
            return index
        if not isinstance(entry, str):
            continue
        full = os.path.abspath(entry)
        if full in (cwd, script):
            return index
    return None
