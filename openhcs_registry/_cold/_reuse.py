"""Incremental reuse: which records of a stale cache document still hold (cold path).

A document whose header still holds but some plugin's inputs changed (:class:`.cache.
CacheChanged`) is kept as :class:`.cache.Previous`; discovery then reuses the records whose
own inputs are unchanged.  A record is reused only if none of the files and folders it read
changed, no name it imported or looked for appeared or vanished in a ``sys.path`` entry or
the launch folder, it is not called on every start, and each of its references points into
a module whose file is among the checked inputs (a hostile document reuses nothing it could
not have recorded).  Anything unexpected raises: then nothing is reused.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from .._cache import (
    _RACY_COARSE_NS,
    CacheInvalid,
    _folder_unchanged,
    _importable,
    _recorded_entries,
    changed_rows,
    columns_of,
    env_section,
    environ_changed,
)
from .._environment import launch_folder, search_path, snapshot
from ._records import PluginRecord

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _changed_files(doc: dict[str, Any]) -> set[int]:
    """The rows of the (whole) document's file table whose file changed since the write
    (the stats the warm check just took: a change after them is recorded as a change for
    the next start)."""
    table = doc.get("file_table")
    if table is None:  # (a document not read by full_document: a test's)
        files = doc["files"]
        table = ([row[0] for row in files], columns_of(files))
    # (the warm paths: the very list whose signatures the check took)
    paths, cols = table
    return set(changed_rows(paths, cols, snapshot()))


def plain_reads(
    plugins: list[dict[str, Any]],
    modules: dict[str, Any],
    files: list[list[Any]],
    carried: list[tuple[bool, int] | None] | None = None,
) -> list[list[Any]]:
    """What an edit's path needs of each stored record without parsing it (written as the
    cold section ``reads``): ``[file rows, highest folder row]``, two lists by record.

    The file rows of a record are None unless it may be taken as it is whenever its
    inputs are unchanged (reusable by the rules of :class:`_Changes`, every reference into
    a module whose file is checked); the ``<environment>`` record's, if last, are its own.
    When only recorded files changed, a record is then called again if and only if it
    reads one of them (:func:`._unchanged._answer_edited`); the highest folder row each
    record reads (-1: none) says where the writer puts a later record's new folder rows.

    *carried*: per record, what the previous document's ``reads`` said of it, when a
    writer carried it over with its rows' indexes moved (an install's, an uninstall's):
    ``(whether it may be taken as it is, its highest folder row, or -2 if its folder
    rows moved)``; None for a record written afresh.  What decides the first is carried
    with it (its origin, its own module's row among its files, where its references
    point: the writer keeps every stored module with its file, and the files' recorded
    stats), so it is not judged again (about 1 µs a record, 2 ms at 2000 plugins).
    """
    count = len(files)
    watched = {
        module
        for module, at in modules.items()
        if type(at) is int and 0 <= at < count and files[at][1] is not None
    }

    def inside(ref: str) -> bool:
        return ref.partition(":")[0] in watched

    file_rows: list[list[int] | None] = []
    highest_folders: list[int] = []
    last = len(plugins) - 1
    at = -1
    for raw in plugins:
        at += 1
        get = raw.get
        rows = get("files", [])
        kept = None if carried is None else carried[at]
        if kept is not None:
            file_rows.append(rows if kept[0] else None)
            highest_folders.append(kept[1] if kept[1] >= -1 else highest_rows(raw)[1])
            continue
        if (at == last and get("name") == "<environment>") or (
            _reusable_as_stored(raw, modules) and not stored_refers_outside(raw, inside)
        ):
            file_rows.append(rows)
        else:
            file_rows.append(None)
        highest_folders.append(highest_rows(raw)[1])
    return [file_rows, highest_folders]


def stored_reads(doc: dict[str, Any]) -> list[Any] | None:
    """The whole document *doc*'s ``reads`` (see :func:`plain_reads`) if it has an entry
    for each of its records, else None (then every record is judged by itself)."""
    reads = doc.get("reads")
    count = len(doc["plugins"])
    if (
        type(reads) is list
        and len(reads) == 2
        and type(reads[0]) is list
        and type(reads[1]) is list
        and len(reads[0]) == count
        and len(reads[1]) == count
    ):
        return reads
    return None


def carried_reads(
    reads: list[Any] | None,
    records: list[dict[str, Any]],
    sources: list[int],
    stored: list[dict[str, Any]],
) -> list[tuple[bool, int] | None] | None:
    """:func:`plain_reads`'s *carried* for a writer's *records*: *sources* gives each one's
    index among the previous document's records *stored*, whose ``reads`` is *reads* (-1:
    written afresh); a record that is not the stored one itself may have had its rows
    moved, so its highest folder row is found again.  None without *reads* (then every
    record is judged afresh)."""
    if reads is None:
        return None
    rows, folders = reads
    out: list[tuple[bool, int] | None] = []
    for record, source in zip(records, sources, strict=True):
        if source < 0:
            out.append(None)
        else:
            same = record is stored[source]
            out.append((rows[source] is not None, folders[source] if same else -2))
    return out


def highest_rows(raw: dict[str, Any]) -> tuple[int, int]:
    """The highest file row and the highest folder row (its folders' and those it looked
    for a name in) the stored record *raw* reads, -1 for none: the writer puts a later
    record's new rows after those of the records before it."""
    top_dir = max(raw.get("dirs") or (-1,))
    for row, _leaf in raw.get("names", ()):
        top_dir = max(top_dir, row)
    return max(raw.get("files") or (-1,)), top_dir


def stored_refers_outside(raw: dict[str, Any], watched: Callable[[str], bool]) -> bool:
    """Whether the stored record *raw* offers a reference (or a derived secondary's) that
    *watched* does not hold: one into a module whose file is not among the checked
    inputs (as :meth:`_Changes.holds` judges a record's references)."""
    for row in raw.get("offers", ()):
        ref = row[1]
        if ref is not None and not watched(ref):
            return True
        if len(row) > 4:
            for derived in row[4].values():
                if type(derived) is str and not watched(derived):
                    return True
    return False


def _reusable_as_stored(raw: dict[str, Any], modules: dict[Any, Any]) -> bool:
    """Whether the stored record *raw* may be reused while its inputs are unchanged: it
    is not called at every start, registered at import time or at run time, or pinned,
    and its own module's file is among its inputs."""
    get = raw.get
    if get("volatile") or get("reusable", True) is not True:
        return False
    origin = get("origin")
    if origin == "import_time" or origin == "runtime":
        return False
    return (origin != "entry_point" and origin != "package") or modules.get(get("module")) in get(
        "files", ()
    )


def _outside(ref: str, modules: dict[str, Any], files: list[list[Any]]) -> bool:
    """Whether *ref*'s module has no recorded file that exists (so it is not checked)."""
    at = modules.get(ref.partition(":")[0])
    return not (type(at) is int and 0 <= at < len(files) and files[at][1] is not None)


def _search_path_delta(doc: dict[str, Any], racy_ns: int) -> set[str] | None:
    """Names that appeared in or vanished from a recorded ``sys.path`` entry (None: unknown)."""
    file_stat = snapshot().stat
    rows = doc["path"]
    try:
        entries = _recorded_entries(rows, search_path(), doc["launch"])
    except CacheInvalid:
        return None
    names = doc.get("names") or {}
    delta: set[str] = set()
    for entry, rec in zip(entries, rows, strict=True):
        if _folder_unchanged(entry, rec, file_stat(entry), racy_ns):
            continue
        before, now = names.get(entry), snapshot().names(entry)  # as the warm check saw it
        if before is None or now is None:
            return None  # a zip archive or an unreadable folder changed
        delta |= set(before) ^ now
    return delta


def _launch_delta(launch: dict[str, Any]) -> set[str]:
    """Recorded names that the launch folder now provides differently."""
    if not launch.get("tops"):
        return set()
    folder = launch_folder()
    present = set()
    if folder is not None:
        present = (snapshot().names(os.path.abspath(folder or os.curdir)) or set()) & set(
            launch["tops"]
        )
    delta = present ^ set(launch["present"])
    if present and launch.get("folder") != [os.path.abspath(folder or os.curdir)]:
        delta |= present  # the same names from another launch folder: other modules
    return delta


def changed_folders(dirs: list[list[Any]], racy_ns: int, look: Any = None) -> set[int]:
    """The rows of the folder table whose folder changed since the write (in *look*, by
    default the look in force)."""
    file_stat = (look or snapshot()).stat
    return {
        i
        for i, rec in enumerate(dirs)
        if not _folder_unchanged(rec[0], rec, file_stat(rec[0]), racy_ns)
    }


def importable_now(failures: list[dict[str, Any]]) -> set[str]:
    """The plugins of the recorded *failures* whose missing module may be importable now."""
    return {
        f["plugin"]
        for f in failures
        if f.get("missing_module") and _importable(f["missing_module"])
    }


class _Changes:
    """What changed since a document was written, and the test of one record against it."""

    __slots__ = (
        "allowed",
        "delta",
        "deltas",
        "dirs",
        "dirs_changed",
        "environ_changed",
        "files",
        "files_changed",
        "look",
        "modules",
        "now_importable",
    )

    def __init__(
        self, doc: dict[str, Any], racy_ns: int, memo: dict[str, Any] | None = None
    ) -> None:
        self.files: list[list[Any]] = doc["files"]
        self.dirs: list[list[Any]] = doc["dirs"]
        # the file rows are compared once per start (*memo*: the previous document's, which
        # the incremental paths tried in turn share): the look's stats, the same each time
        found = None if memo is None else memo.get("files_changed")
        if found is None:
            found = frozenset(_changed_files(doc))
            if memo is not None:
                memo["files_changed"] = found
        self.files_changed: frozenset[int] = found
        #: the look the folders are judged in (their stats, listings and names)
        self.look = snapshot()
        self.dirs_changed = changed_folders(self.dirs, racy_ns, self.look)
        #: variables (and the working directory) with another value than recorded
        self.environ_changed = frozenset(environ_changed(env_section(doc).get("environ")))
        #: per changed folder row, the names that appeared or vanished (None: unknown)
        self.deltas: dict[int, set[str] | None] = {}
        #: names that appeared in or vanished from a sys.path entry or the launch folder
        self.delta: set[str] = set()
        self.now_importable = importable_now(doc["failures"])
        self.modules: dict[Any, Any] = doc["modules"]
        #: modules a reference was found to point into (see :meth:`holds`)
        self.allowed: set[str] = set()

    def name_changed(self, at: int, name: str) -> bool:
        """Whether *name* appeared in or vanished from recorded folder ``dirs[at]``."""
        if at not in self.dirs_changed:
            return False
        if at not in self.deltas:
            rec = self.dirs[at]
            before = rec[6] if len(rec) > 6 else None
            now = self.look.names(rec[0])
            self.deltas[at] = None if before is None or now is None else set(before) ^ now
        delta = self.deltas[at]
        return delta is None or name in delta

    def as_looked(self) -> list[list[Any]]:
        """The folder table with each changed row as the look saw its folder (stat, listing
        checksum and, where the row has them, names): the state the reused records were
        judged in.  A record reused reads a changed folder only by names that did not
        change there (a whole listing that changed is an input changed), so that state is
        theirs too; the old row would make every later start find the folder changed and
        discover again (a plugin testing its own package folder looks in the site folder
        for its name, and an install changes the site folder)."""
        if not self.dirs_changed:
            return self.dirs
        rows = list(self.dirs)
        look = self.look
        for at in self.dirs_changed:
            old = rows[at]
            stat = look.stat(old[0])
            if stat is None:
                continue  # gone: no record looking in it for a name is reused
            row = [old[0], *stat, look.checksum(old[0])]
            if len(old) > 6:
                names = look.names(old[0])
                if names is None:
                    continue
                row.append(sorted(names))
            rows[at] = row
        return rows

    def environment_changed(self, raw: dict[str, Any]) -> bool:
        """Whether the registry's own code or a folder shadowing a recorded name changed."""
        return (
            bool(set(raw.get("files", ())) & self.files_changed)
            or any(self.name_changed(at, leaf) for at, leaf in raw.get("names", ()))
            or self._environ_moved(raw)
        )

    def _environ_moved(self, raw: dict[str, Any]) -> bool:
        """Whether a variable the stored record *raw* read has another value now."""
        return bool(self.environ_changed) and not self.environ_changed.isdisjoint(
            raw.get("environ", ())
        )

    def inputs_changed(self, raw: dict[str, Any]) -> bool:
        """Whether a file, folder or name the stored record *raw* read changed."""
        # (set operations in C, no generators: thousands of records)
        files_changed = self.files_changed
        if files_changed and not files_changed.isdisjoint(raw.get("files", ())):
            return True
        if self.environ_changed and self._environ_moved(raw):
            return True
        if self.dirs_changed and (
            not self.dirs_changed.isdisjoint(raw.get("dirs", ()))
            or any(self.name_changed(at, leaf) for at, leaf in raw.get("names", ()))
        ):
            return True
        delta = self.delta
        if not delta:
            return False
        # (after an install, the site folder's delta is not empty: this runs per record,
        # so no generator is made for the usual record that missed nothing)
        tops = raw.get("tops")
        if tops is None:
            module = raw.get("module")
            tops = [module.partition(".")[0]] if type(module) is str and module else []
        if not delta.isdisjoint(tops):
            return True
        missing = raw.get("missing")
        if missing:
            for name in missing:
                if name.partition(".")[0] in delta:
                    return True
        return False

    def holds(self, raw: dict[str, Any], taken: bool = False) -> bool:
        """Whether the stored record *raw* may be taken as it is: reusable (not called at
        every start, pinned or import-time, its own module's file among its inputs), none
        of its inputs changed, no missing module of its now importable, and every reference
        into a module whose file is checked.  *taken*: its ``reads`` entry says the first
        and the last hold (judged from this very document, :func:`plain_reads`): then only
        what changed since is judged."""
        if raw["name"] in self.now_importable or self.inputs_changed(raw):
            return False
        return self.holds_unchanged(raw, taken)

    def holds_unchanged(self, raw: dict[str, Any], taken: bool = False) -> bool:
        """:meth:`holds` of a record already found with no input changed and no missing
        module importable now (a check that asked :meth:`inputs_changed` itself)."""
        return taken or (
            _reusable_as_stored(raw, self.modules) and not stored_refers_outside(raw, self._watched)
        )

    def _watched(self, ref: str) -> bool:
        """Whether *ref*'s module has a recorded file that exists (so it was checked)."""
        module = ref.partition(":")[0]
        allowed = self.allowed
        if module in allowed:
            return True
        if _outside(ref, self.modules, self.files):
            return False
        allowed.add(module)
        return True


def reusable_records(doc: dict[str, Any], memo: dict[str, Any] | None = None) -> dict[str, Any]:
    """``{name: PluginRecord}``: the records of *doc* whose own inputs are unchanged now
    (*memo*: see :class:`_Changes`)."""
    racy_ns = int(doc["timestamp"] * 1e9) - _RACY_COARSE_NS
    changes = _Changes(doc, racy_ns, memo)  # first: the stats the warm check just took
    delta = _search_path_delta(doc, racy_ns)
    if delta is None:
        return {}
    changes.delta = delta | _launch_delta(doc["launch"])
    out: dict[str, Any] = {}
    files, dirs, modules = changes.files, changes.as_looked(), changes.modules
    holds = changes.holds
    from_json = PluginRecord.from_json
    # (a record that ``reads`` says may be taken as it is, reusable as stored with every
    # reference into a checked module, is judged by its inputs alone: see plain_reads)
    reads = stored_reads(doc)
    taken = None if reads is None else reads[0]
    at = -1
    for raw in doc["plugins"]:
        at += 1
        name = raw["name"]
        if name == "<environment>":
            if changes.environment_changed(raw):
                return {}  # the registry's own code or a shadowing folder changed
            continue
        if not holds(raw, taken is not None and taken[at] is not None):
            continue
        record = from_json(raw)
        record.stored = (raw, files, dirs, modules)  # carried as is
        out[name] = record
    return out
