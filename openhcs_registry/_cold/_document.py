"""The cache document writer: a fresh :class:`._snapshot.Snapshot` as one orjson document (cold).

Only a discovery writes, so this module is imported by :meth:`.cache.RegistryCacheManager.
build_document` on first use, never on a warm start.  The reader (:mod:`.cache`) checks what
is written here: each file and folder any plugin read is one row of a table (stat'ed once on
a warm start), each per-plugin record lists the rows it read, and items name their record by
index, so provenance is stored once per plugin.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable

import orjson

from .. import settings
from .._cache import (
    _NOSIG,
    _RACY_COARSE_NS,
    _RACY_NS,
    CACHE_VERSION,
    _config_fingerprint,
    _digest,
    fold_distributions,
    fold_rows,
)
from .._version import __version__
from ._inputs import environ_rows, folder_names
from ._records import stored_modules

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .._config import RegistryConfig
    from .._diagnostics import PluginFailure
    from .._snapshot import Snapshot
    from ._discovery import Candidate
    from ._records import PluginRecord


def _is_racy(mtime_ns: int | None, now_ns: int) -> bool:
    """Whether an entry modified at *mtime_ns* is racily close to the write (see .cache)."""
    if mtime_ns is None:
        return False
    window = _RACY_COARSE_NS if mtime_ns % 1_000_000_000 == 0 else _RACY_NS
    return now_ns - mtime_ns < window


#: A folder row without a stat signature: a folder a record read but could not stat.
_NO_FOLDER = [None, None, None, None, None]


def _unsettled(folder: str) -> list[Any]:
    """A folder row no look finds unchanged (an impossible stat, no listing checksum):
    written where a reused record and a fresh one read a folder in states that disagree,
    so that the next start judges every record that read it again."""
    return [folder, -1, -1, -1, -1, None]


def _same_listing(a: list[Any], b: list[Any]) -> bool:
    """Whether folder rows *a* and *b* describe the same listing: the same checksum of
    entries (or, with none, the same stat: both missing, or unlistable and untouched)."""
    return a[5] == b[5] and (a[5] is not None or a[1:5] == b[1:5])


class _Tables:
    """The document's shared input tables: file rows, folder rows, module name -> file.

    A folder row is shared by every record that read the folder, so it must describe what
    each of them read.  A fresh record's row is the signature and listing it took; a reused
    record's is the row it was stored with, *carried* (its state, which the look found
    unchanged or unchanged for the names the record looked for).  When both read one folder,
    the row becomes the fresh one if that agrees with each carried use (the same listing;
    for a name looked for, the name present in both or in neither), else an unsettled row
    (:func:`_unsettled`): keeping the old state would make the next start find the fresh
    records changed and rediscover them once more; the fresh state alone could hide a
    change the reused records did not see.
    """

    __slots__ = (
        "carried",
        "deltas",
        "dir_index",
        "dir_rows",
        "file_index",
        "file_rows",
        "fresh",
        "leaves",
        "modules",
        "now_ns",
        "opaque",
        "previous",
        "unsettled",
        "whole",
    )

    def __init__(self, previous: dict[str, Any] | None = None) -> None:
        self.file_rows: list[list[Any]] = []
        self.file_index: dict[str, int] = {}
        self.dir_rows: list[list[Any]] = []
        self.dir_index: dict[str, int] = {}
        self.modules: dict[str, str] = {}
        self.now_ns = time.time_ns()
        #: per carried folder row, the row as stored (never changed: it is the previous
        #: document's), and how reused records read it: whole (a listing) or by names
        self.carried: dict[int, list[Any]] = {}
        self.whole: set[int] = set()
        self.leaves: dict[int, set[str]] = {}
        #: carried rows whose uses are not known yet (:meth:`carry_rows`), and the
        #: previous document that says them (*previous*, read only if a fresh record
        #: reads one of those folders too)
        self.opaque: set[int] = set()
        self.previous = previous
        #: per folder row fresh records read, the first one's row
        self.fresh: dict[int, list[Any]] = {}
        #: per shared row, the names that differ between the carried and the fresh listing
        self.deltas: dict[int, set[str] | None] = {}
        #: rows made :func:`_unsettled` (they stay so)
        self.unsettled: set[int] = set()

    def carry_dir(self, row: list[Any], leaf: str | None = None) -> int:
        """The index of a reused record's folder *row* in the new table: read whole, or
        looked in for name *leaf*."""
        at = self.dir_index.get(row[0])
        if at is None:
            at = self.dir_index[row[0]] = len(self.dir_rows)
            self.dir_rows.append(row)
            self.carried[at] = row
        elif at not in self.carried:  # a fresh record read it first
            self.carried[at] = row
        if leaf is None:
            self.whole.add(at)
        else:
            found = self.leaves.get(at)
            if found is None:
                self.leaves[at] = {leaf}
            else:
                found.add(leaf)
        if at in self.fresh and at not in self.unsettled:
            if not self._agrees(at, leaf):
                self._unsettle(at)
            elif leaf is not None and len(self.dir_rows[at]) == 6:
                self._with_names(at)
        return at

    def carry_rows(self, rows: list[list[Any]]) -> None:
        """Carry the previous document's folder *rows* (those not in the table yet), their
        uses taken from its records if a fresh record reads one of them too."""
        dir_index = self.dir_index
        for row in rows:
            if row[0] not in dir_index:
                at = dir_index[row[0]] = len(self.dir_rows)
                self.dir_rows.append(row)
                self.carried[at] = row
                self.opaque.add(at)

    def dir_row(self, folder: str, value: Any, listed: list[str] | None = None) -> int:
        """The row of *folder*, which a fresh record read with signature *value* (and, if
        it looked for names there, importable names *listed*)."""
        mine = [folder, *(value or _NO_FOLDER)]
        at = self.dir_index.get(folder)
        if at is None:
            at = self.dir_index[folder] = len(self.dir_rows)
            if listed is not None:
                mine.append(listed)
            self.dir_rows.append(mine)
            self.fresh[at] = mine
            return at
        first = self.fresh.get(at)
        if first is not None:  # another fresh record read it: one state for both
            if at in self.unsettled:
                pass
            elif not _same_listing(first, mine):
                self._unsettle(at)
            elif listed is not None and len(self.dir_rows[at]) == 6:
                self.dir_rows[at] = [*self.dir_rows[at], listed]
            return at
        # the first fresh read of a carried row
        if listed is not None:
            mine.append(listed)
        self.fresh[at] = mine
        if at in self.opaque:
            self._uses_of_previous()
        settled = all(self._agrees(at, leaf) for leaf in self.leaves.get(at, ()))
        if settled and at in self.whole:
            settled = self._agrees(at, None)
        self.dir_rows[at] = mine
        if not settled:
            self._unsettle(at)
        elif len(mine) == 6 and at in self.leaves:  # the carried names need a listing
            self._with_names(at)
        return at

    def _unsettle(self, at: int) -> None:
        self.unsettled.add(at)
        self.dir_rows[at] = _unsettled(self.dir_rows[at][0])

    def _with_names(self, at: int) -> None:
        """Row *at* (fresh, without the names there) with them, for the names looked for
        there (without, the next start finds those changed whenever the folder is)."""
        names = self._names(at)
        if names is not None:
            self.dir_rows[at] = [*self.dir_rows[at], names]

    def _agrees(self, at: int, leaf: str | None) -> bool:
        """Whether the fresh read of shared row *at* agrees with a carried use of it."""
        carried, fresh = self.carried[at], self.fresh[at]
        if _same_listing(carried, fresh):
            return True
        if leaf is None:  # read whole: any other listing is another answer
            return False
        if at not in self.deltas:
            # (a previous document's row: a list of names, else unknown)
            before = carried[6] if len(carried) > 6 and type(carried[6]) is list else None
            now = self._names(at)
            try:
                delta = None if before is None or now is None else set(before) ^ set(now)
            except TypeError:  # not names: a foreign document's row
                delta = None
            self.deltas[at] = delta
        delta = self.deltas[at]
        return delta is not None and leaf not in delta

    def _names(self, at: int) -> list[str] | None:
        """The importable names of the listing fresh records read in row *at*'s folder:
        their own, or the folder's now if its listing is still that one (else None)."""
        fresh = self.fresh[at]
        if len(fresh) > 6:
            listed: list[str] = fresh[6]
            return listed
        if fresh[5] is None:
            return None
        value, names = folder_names(fresh[0])
        return names if value is not None and value[4] == fresh[5] else None

    def _uses_of_previous(self) -> None:
        """Learn how the previous document's records read its folder rows (once): the
        rows :meth:`carry_rows` carried get their uses."""
        opaque, previous = self.opaque, self.previous
        self.opaque = set()
        if previous is None or not opaque:  # nothing says: as if each were read whole
            self.whole |= opaque
            return
        try:
            old_dirs = previous["dirs"]
            at_of = {row[0]: self.dir_index.get(row[0]) for row in old_dirs}
            for raw in previous["plugins"]:
                for i in raw.get("dirs", ()):
                    at = at_of.get(old_dirs[i][0])
                    if at in opaque:
                        self.whole.add(at)
                for i, leaf in raw.get("names", ()):
                    at = at_of.get(old_dirs[i][0])
                    if at in opaque:
                        self.leaves.setdefault(at, set()).add(leaf)
        except (TypeError, KeyError, IndexError, ValueError):  # rows of a foreign shape
            self.whole |= opaque

    def file_row(self, file: str, value: Any) -> int:
        """The row of *file* (with a content digest if it was modified racily close to now)."""
        at = self.file_index.get(file)
        if at is None:
            at = self.file_index[file] = len(self.file_rows)
            row = [file, *(value or _NOSIG)]
            if value is not None and _is_racy(value[0], self.now_ns):
                row.append(_digest(file))
            self.file_rows.append(row)
        return at


def _reused(record: PluginRecord, tables: _Tables) -> dict[str, Any]:
    """A reused record as it was stored, its rows carried over into the new tables
    (:func:`carried`; pinned not reusable if this discovery pinned it: an import-time
    class)."""
    assert record.stored is not None
    raw, old_files, old_dirs, old_modules = record.stored
    return carried(raw, old_files, old_dirs, old_modules, tables, not record.reusable)


def carried(
    raw: dict[str, Any],
    old_files: list[list[Any]],
    old_dirs: list[list[Any]],
    old_modules: dict[str, Any],
    tables: _Tables,
    pinned: bool = False,
) -> dict[str, Any]:
    """Stored record *raw* (of the document whose file rows, folder rows and module table
    are *old_files*, *old_dirs* and *old_modules*), its rows carried over into the new
    *tables*, the modules it imported with their files.

    The stored form itself when its rows keep their indexes (the usual case: the tables
    are built in record order, so they shift only after a record that read new files) and
    it is not *pinned* (marked not reusable by this discovery); else a copy with the new
    indexes.  (Thousands of records: the file rows, most of them, are carried inline.)
    """
    changed: dict[str, Any] = {}
    if pinned:
        changed["reusable"] = False
    get = raw.get
    files = get("files")
    if files is not None:
        file_index, file_rows = tables.file_index, tables.file_rows
        moved = []
        for i in files:
            row = old_files[i]
            at = file_index.get(row[0])
            if at is None:
                at = file_index[row[0]] = len(file_rows)
                file_rows.append(row)
            moved.append(at)
        moved.sort()  # (stored sorted, as a fresh record's: a row may have come forward)
        if moved != files:
            changed["files"] = moved
    dirs = get("dirs")
    if dirs is not None:
        moved = sorted([tables.carry_dir(old_dirs[i]) for i in dirs])
        if moved != dirs:
            changed["dirs"] = moved
    names = get("names")
    if names is not None:
        moved_names = [[tables.carry_dir(old_dirs[i], leaf), leaf] for i, leaf in names]
        if moved_names != names:
            changed["names"] = moved_names
    count = len(old_files)
    setdefault = tables.modules.setdefault
    for mod_name in stored_modules(raw):
        at = old_modules.get(mod_name)
        if type(at) is int and 0 <= at < count:
            setdefault(mod_name, old_files[at][0])
    return {**raw, **changed} if changed else raw


def _fresh(record: PluginRecord, tables: _Tables) -> tuple[Any, list[int], list[int]]:
    """A freshly loaded record with the rows of what it read: (record, files, folders)."""
    inputs = record.inputs
    files: list[int] = []
    dirs: list[int] = []
    names: list[list[Any]] = []
    if inputs is not None:
        files = [tables.file_row(file, value) for file, value in inputs.files.items()]
        dirs = [tables.dir_row(folder, value) for folder, value in inputs.dirs.items()]
        for folder, (value, listed, looked) in inputs.names.items():
            at = tables.dir_row(folder, value, listed)
            names.extend([at, leaf] for leaf in sorted(looked))
        for mod_name, found in inputs.modules.items():
            if found is not None:
                tables.modules.setdefault(mod_name, found)
    return record.to_json(sorted(set(files)), sorted(set(dirs)), names), files, dirs


_NO_ROWS: tuple[list[int], list[int]] = ([], [])


def _records(result: Snapshot, tables: _Tables) -> tuple[list[Any], dict[str, int]]:
    """Every plugin's record in document form, and each plugin's index among them."""
    records: list[Any] = []
    inputs: list[tuple[list[int], list[int]]] = []
    index_of: dict[str, int] = {}
    for name, record in result.records.items():
        index_of[name] = len(records)
        if record.stored is not None:  # reused: as stored, its rows carried over
            records.append(_reused(record, tables))
            inputs.append(_NO_ROWS)  # (read for fresh records only)
        else:
            doc_record, files, dirs = _fresh(record, tables)
            records.append(doc_record)
            inputs.append((files, dirs))
    _make_storable(result, records, inputs)
    return records, index_of


def _variables_named(records: list[Any]) -> set[str]:
    """The variables the document's records (in document form) name: those whose rows
    the environment section keeps."""
    out: set[str] = set()
    for raw in records:
        names = raw.get("environ")
        if type(names) is list:
            out.update(name for name in names if type(name) is str)
    return out


def _make_storable(
    result: Snapshot, records: list[Any], inputs: list[tuple[list[int], list[int]]]
) -> None:
    """Strip the records text JSON cannot hold (a lone surrogate); their plugins go volatile.

    Only the freshly loaded records are tried: a reused one was read from a document.
    """
    fresh = [records[at] for at, r in enumerate(result.records.values()) if r.stored is None]
    try:
        orjson.dumps(fresh)
    except TypeError:  # find which
        for at, record in enumerate(result.records.values()):
            try:
                orjson.dumps(records[at])
            except TypeError:
                record.volatile = "its record cannot be stored"  # called each start
                records[at] = {
                    k: v
                    for k, v in record.to_json([], []).items()
                    if k not in ("failures", "skipped", "offers")
                }
                records[at]["files"] = sorted(set(inputs[at][0]))
                records[at]["dirs"] = sorted(set(inputs[at][1]))


def preloaded_modules(names: Iterable[str], tables: _Tables) -> None:
    """Plugin and value modules imported before discovery (of *names*, the modules
    references may point into): their recorded files, if any."""
    modules = tables.modules
    for mod_name in names:
        if mod_name in modules:  # (most are: thousands of modules, few of them preloaded)
            continue
        loaded = getattr(sys.modules.get(mod_name), "__file__", None)
        if isinstance(loaded, str) and os.path.abspath(loaded) in tables.file_index:
            modules[mod_name] = os.path.abspath(loaded)


def _storable(failure: PluginFailure) -> bool:
    """Whether text JSON can hold *failure* (a lone surrogate in a message cannot)."""
    try:
        for value in failure.to_json().values():
            if isinstance(value, str):
                value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _items(
    group: dict[str, Candidate], index_of: dict[str, int], volatile: set[str]
) -> dict[str, Any]:
    """The persisted items of one group, each naming its plugin's record by index."""
    out: dict[str, Any] = {}
    for key, cand in sorted(group.items()):
        if cand.persist and cand.ref is not None and cand.plugin not in volatile:
            row: dict[str, Any] = {"ref": cand.ref, "p": index_of[cand.plugin]}
            if cand.keyed:
                row["keyed"] = True
            out[key] = row
    return out


def environment_section(
    env: dict[str, Any],
    distributions: dict[str, Any],
    recorded_settings: dict[str, Any],
    switched: list[str] | None = None,
    environ: Any = None,
    read: set[str] | None = None,
) -> dict[str, Any]:
    """The environment section: interpreter, settings, ``sys.path`` rows, distributions,
    from the look at the environment *env* (:func:`._discovery._context.look_at_environment`)
    and the entry-point scan *distributions*; and the distributions that declare a
    discovery switch, as the entry-point index read in this look says (else *switched*,
    what the previous document recorded: an incremental start that proved the switches
    unchanged without reading the index).  That list lets the check of a later start
    tell an uninstall of none of them from one that may change the settings
    (:func:`._entrypoints.switches_kept`).  And the environment variables plugins read:
    *environ*, the previous document's (an incremental start reuses records whose plugins
    read them), with those read in this process (:func:`._inputs.environ_rows`); of them,
    those the records name (*read*) when the writer knows them all.

    Nothing registry-specific: every registry written in one environment writes the same
    bytes here, which is what lets a reader check them once per look (see
    :func:`.._cache._checked_env`).
    """
    section = {
        "interpreter": {
            k: v for k, v in env.items() if k not in ("path", "listings", "names", "startup")
        },
        "settings": recorded_settings,
        "path": [
            [entry, *(value or _NOSIG), listing]
            for (entry, value), listing in zip(
                env.get("path", ()), env.get("listings", ()), strict=True
            )
        ],
        "dists": {entry: [row[0] for row in rows] for entry, rows in distributions.items()},
        "dstamp": fold_distributions(distributions),
        "startup": env.get("startup", []),
        "environ": environ_rows(environ, read),
    }
    known = settings.switched_distributions()
    if known is None:
        known = switched
    if known is not None:
        section["switched"] = known
    return section


def rewritten_document(
    doc: dict[str, Any],
    env: dict[str, Any],
    launch: dict[str, Any],
    tables: _Tables,
    modules: dict[str, int],
    answer: dict[str, Any],
    blocked_modules: list[str],
    distributions: dict[str, Any],
    names: dict[str, Any],
    records: list[Any],
    hooks: list[int],
) -> dict[str, Any]:
    """The document an incremental start writes from the previous whole document *doc*,
    in :func:`build_document`'s order: its header, configuration, blocked names, failures
    and skipped plugins carried (the paths that write this prove them unchanged), a new
    write time, and the rest given: the environment section *env*, the launch record, the
    file and folder *tables*, the *modules* table, the *answer*'s items and secondaries,
    the blocked modules, and the cold part's scan, names table, *records* and calling
    order."""
    return {
        "cache_version": doc["cache_version"],
        "env": env,
        "version": doc["version"],
        "registry": doc["registry"],
        "timestamp": time.time(),
        "config": doc["config"],
        "blocked": doc["blocked"],
        "launch": launch,
        **file_fields(tables.file_rows),
        "dirs": tables.dir_rows,
        "modules": modules,
        "plugins": len(records),
        "volatile": [],
        "items": answer["items"],
        "secondaries": answer["secondaries"],
        "failures": doc["failures"],
        "skipped": doc["skipped"],
        "blocked_modules": blocked_modules,
        "cold": {
            "files": tables.file_rows,
            "distributions": distributions,
            "names": names,
            "plugins": records,
            "hooks": hooks,
        },
    }


def file_fields(file_rows: list[list[Any]]) -> dict[str, Any]:
    """The warm fields of the file table *file_rows*, in the document's order: the paths a
    warm start stats, the stamp of their recorded stats, the rows of missing files and the
    racy rows' content digests."""
    return {
        "files": [row[0] for row in file_rows],
        "stamp": fold_rows(file_rows),
        "missing": [i for i, row in enumerate(file_rows) if row[1] is None],
        "racy": [[i, row[5]] for i, row in enumerate(file_rows) if len(row) == 6],
    }


def column_fields(paths: list[str], cols: list[Any]) -> dict[str, Any]:
    """:func:`file_fields` of the file table as *paths* and the cold part's columns (see
    :func:`.._cache.columns_of`): the same fields from the other form, without building
    the rows (an edit's path has the columns; every other writer, the rows)."""
    return {
        "files": paths,
        "stamp": fold_rows(list(zip(paths, *cols[:4], strict=True))),
        "missing": [i for i, mtime in enumerate(cols[0]) if mtime is None],
        "racy": cols[4],
    }


def build_document(
    config: RegistryConfig,
    recorded_settings: dict[str, Any],
    blocked: list[str],
    result: Snapshot,
    environ: Any = None,
) -> dict[str, Any]:
    """The document for *result*: header, input tables, records, the merged answer;
    *environ*, the previous document's ``environ`` rows when *result* reused its records
    (their plugins read those variables, in another process).

    Its ``"cold"`` part holds what only an incremental start or provenance reads (the
    records, the file and distribution rows with their stats, the names table, the calling
    order); the rest is what a warm start reads: the paths to stat with one stamp of their
    recorded stats each (:func:`.._cache.fold_rows`), the files whose content is compared (racy)
    or that were missing, and the answer.  :func:`._fileio.encode_document` writes the cold
    part last so a warm start can leave it unparsed.
    """
    tables = _Tables()
    records, index_of = _records(result, tables)
    preloaded_modules(result.modules, tables)
    file_index = tables.file_index
    file_rows = tables.file_rows
    volatile = {n for n, r in result.records.items() if r.volatile is not None}
    persisted = _items(result.items, index_of, volatile)
    env = result.environment or {}
    distributions = result.distributions
    return {
        "cache_version": CACHE_VERSION,
        "env": environment_section(
            env, distributions, recorded_settings, environ=environ, read=_variables_named(records)
        ),
        "version": __version__,
        "registry": config.name,
        "timestamp": time.time(),
        "config": _config_fingerprint(config),
        "blocked": blocked,
        "launch": result.launch or {"tops": [], "present": []},
        **file_fields(file_rows),
        "dirs": tables.dir_rows,
        "modules": {
            name: file_index[file]
            for name, file in sorted(tables.modules.items())
            if file in file_index
        },
        "plugins": len(records),
        "volatile": sorted(index_of[n] for n in volatile),
        "items": persisted,
        "secondaries": {
            name: {k: v for k, v in _items(group, index_of, volatile).items() if k in persisted}
            for name, group in result.secondaries.items()
        },
        "failures": [
            f.to_json() for f in result.failures if _storable(f) and f.plugin not in volatile
        ],
        "skipped": [f.to_json() for f in result.skipped if _storable(f)],
        # classes noted in these modules are never overlaid (entry-point modules included)
        "blocked_modules": sorted(
            result.blocked_modules
            | {r.module for r in result.records.values() if r.origin == "entry_point" and r.module}
        ),
        "cold": {
            "files": file_rows,
            "distributions": distributions,
            "names": env.get("names", {}),
            "plugins": records,
            "hooks": [index_of[p["name"]] for p in result.plugins if p["name"] in index_of],
        },
    }
