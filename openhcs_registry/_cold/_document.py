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
from .._environment import listing_checksum
from .._version import __version__
from ._inputs import environ_rows
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


class _Tables:
    """The document's shared input tables: file rows, folder rows, module name -> file."""

    __slots__ = ("dir_index", "dir_rows", "file_index", "file_rows", "modules", "now_ns")

    def __init__(self) -> None:
        self.file_rows: list[list[Any]] = []
        self.file_index: dict[str, int] = {}
        self.dir_rows: list[list[Any]] = []
        self.dir_index: dict[str, int] = {}
        self.modules: dict[str, str] = {}
        self.now_ns = time.time_ns()

    def carry_dir(self, row: list[Any]) -> int:
        """The index of a reused record's folder *row* in the new table (carried over as is)."""
        at = self.dir_index.get(row[0])
        if at is None:
            at = self.dir_index[row[0]] = len(self.dir_rows)
            self.dir_rows.append(row)
        return at

    def dir_row(self, folder: str, value: Any) -> int:
        """The row of *folder* in the folder table (added with its listing if new)."""
        at = self.dir_index.get(folder)
        if at is None:
            at = self.dir_index[folder] = len(self.dir_rows)
            self.dir_rows.append([folder, *(value or _NOSIG), listing_checksum(folder)])
        return at

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
    """A reused record as it was stored, its rows carried over into the new tables.

    The stored form itself when its rows keep their indexes (the usual case: the tables
    are built in record order, so they shift only after a record that read new files) and
    it stays reusable; else a copy with the new indexes.  (Thousands of records: the file
    rows, most of them, are carried inline.)
    """
    assert record.stored is not None
    raw, old_files, old_dirs, old_modules = record.stored
    changed: dict[str, Any] = {}
    if not record.reusable:  # pinned by this discovery (an import-time class)
        changed["reusable"] = False
    get = raw.get
    files = get("files")
    if files is not None:
        file_index, file_rows = tables.file_index, tables.file_rows
        carried = []
        for i in files:
            row = old_files[i]
            at = file_index.get(row[0])
            if at is None:
                at = file_index[row[0]] = len(file_rows)
                file_rows.append(row)
            carried.append(at)
        carried.sort()  # (stored sorted, as a fresh record's: a row may have come forward)
        if carried != files:
            changed["files"] = carried
    dirs = get("dirs")
    if dirs is not None:
        carried = sorted([tables.carry_dir(old_dirs[i]) for i in dirs])
        if carried != dirs:
            changed["dirs"] = carried
    names = get("names")
    if names is not None:
        moved = [[tables.carry_dir(old_dirs[i]), leaf] for i, leaf in names]
        if moved != names:
            changed["names"] = moved
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
            at = tables.dir_row(folder, value)
            if len(tables.dir_rows[at]) == 6:
                tables.dir_rows[at].append(listed)
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
    read them), with those read in this process (:func:`._inputs.environ_rows`).

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
        "environ": environ_rows(environ),
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
        "env": environment_section(env, distributions, recorded_settings, environ=environ),
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
