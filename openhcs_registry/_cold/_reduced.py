"""The answer reduced: an uninstall that only removed plugins writes the old answer less
theirs (cold).

``pip uninstall`` of a plugin distribution removes its metadata folder and its package:
a ``sys.path`` folder changed, the distributions' declarations and the removed plugins'
files are gone.  When no other plugin imported their modules, looked for their package
or met one of their keys, a discovery finds every other record as it was, in the same
order, and the merge keeps every other winner and failure: the document it writes is the
previous one without the removed records, their items and the file rows only they read,
the later rows and record indexes moved back.  A file a removed plugin read first and a
kept one reads too (the contract module every plugin imports, first read by the plugin
listed first) comes forward to the first kept reader, its row among that record's in
their old order, as the general incremental path carries a reused record's rows (a full
discovery orders them as that plugin read them, which a stored record does not keep: the
same answer, rows in another order).  :func:`answer_reduced`
proves that from the stored records, before anything is loaded (nothing is: no plugin
is new), and writes that document; it builds no record for the thousands of plugins
that did not change (what the general path pays: the records rebuilt, the merge and the
writer run over all of them).

It is tried after the answer-extended and answer-unchanged paths declined (a recorded
file changed and metadata folders vanished: neither an install nor an upgrade).  What
it checks: the entry points, scanned as a discovery scans them, declare every stored one
that is kept exactly as before and no other; each removed record is an entry point that
neither failed nor skipped anything, read no folder and offered only keys it won, which
no failure or skip names; every changed file is a row a removed one introduced and no
kept record reads; every kept record would be reused as it is
(:class:`._reuse._Changes`: nothing it read or looked for changed, nothing volatile,
pinned or import-time, no reference outside the recorded modules); the launch folder
provides the names it did; the ``<environment>`` record holds.  Any check that fails
sends the start to the general incremental path, which has lost nothing.
"""

from __future__ import annotations

from .. import settings
from .._log import get_logger
from . import _entrypoints
from ._discovery._recording import environment_record
from ._document import _fresh, _Tables, environment_section, rewritten_document
from ._extended import _carry, _introduced, stored_record_holds
from ._records import add_launch_tops, stored_modules
from ._reuse import (
    _Changes,
    _launch_delta,
    _search_path_delta,
    carried_reads,
    highest_rows,
    plain_reads,
    stored_reads,
)
from ._unchanged import (
    Declined,
    Rerun,
    declared_now,
    install,
    stored_changes,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .._cache import Previous, RegistryCacheManager

logger = get_logger("openhcs_registry")


def answer_reduced(manager: RegistryCacheManager, previous: Previous) -> Rerun | None:
    """The previous answer less the removed plugins', written and installed
    (``.snapshot``), if that is what a full discovery gives; None if a check declines
    (nothing was loaded: the general incremental path runs as it always did)."""
    doc = previous.doc
    if doc is None or previous.files_only or doc.get("volatile"):
        return None
    name = manager.config.name
    try:
        new, removed = _reduced(manager, doc, previous)
        out = Rerun()
        out.snapshot = install(manager, new)
    except Exception as exc:  # declined (the reason logged), or a shape not foreseen
        logger.debug("registry %s: answer reduced not tried: %s", name, exc)
        return None
    logger.debug("registry %s: answer reduced after %d plugin(s) removed", name, removed)
    return out


def _reduced(
    manager: RegistryCacheManager, doc: dict[str, Any], previous: Previous
) -> tuple[dict[str, Any], int]:
    """The document a full discovery writes now, and how many records it drops (else
    :class:`Declined`)."""
    plugins, racy_ns, changes = stored_changes(doc, previous.memo)
    if changes.dirs_changed or changes.now_importable:
        raise Declined("a recorded folder changed, or a missing module is importable")
    delta = _search_path_delta(doc, racy_ns)
    if delta is None or _launch_delta(doc["launch"]):
        raise Declined("sys.path changed otherwise, or the launch folder provides other names")
    changes.delta = delta
    ctx, environment, declared, distributions = declared_now(manager, previous)
    dropped = _dropped(plugins, declared)
    kept = [at for at in range(len(plugins) - 1) if at not in dropped]
    files: list[list[Any]] = doc["files"]
    gone, shared = _rows_gone(plugins, dropped, len(files))
    if not changes.files_changed <= gone:
        raise Declined("a changed file is not one the removed plugins introduced")
    _answer_holds(doc, plugins, dropped)
    reads = stored_reads(doc)
    _kept_hold(plugins, kept, changes, manager.blocked, None if reads is None else reads[0])
    if changes.environment_changed(plugins[-1]):
        raise Declined("the environment record changed")

    # the tables: the kept records' rows in their order, each record's not carried yet in
    # their old order, as the general path carries a reused record's: a row a removed
    # record introduced and a kept one reads (the contract module, first read by the
    # plugin listed first) comes forward to the first kept reader, the others keep their
    # order; the environment record's are added afresh, after them, as the writer adds them
    end_file, end_dir = _cuts(plugins)
    tables = _Tables(doc)
    _carry(
        tables,
        [files[i] for at in kept for i in plugins[at].get("files", ())],
        doc["dirs"][:end_dir],
    )
    moved = gone | shared
    first = min(moved) if moved else len(files)
    new_at = {
        at: tables.file_index[row[0]] for at, row in enumerate(files[:end_file]) if at not in gone
    }
    shift = [-1] * len(plugins)
    records: list[dict[str, Any]] = []
    tops: set[str] = {p.partition(".")[0] for p in ctx.config.discovery_packages}
    known: set[str] = set()
    modules: set[str] = set()
    for at in kept:
        raw = plugins[at]
        shift[at] = len(records)
        rows = raw.get("files")
        if rows and rows[-1] >= first:
            raw = {**raw, "files": sorted([new_at[i] for i in rows])}
        records.append(raw)
        # what a discovery's environment record is made of: every entry point's module's
        # top-level name and each record's looked-up ones, the files they read
        add_launch_tops(tops, raw)
        known.update([files[i][0] for i in plugins[at].get("files", ())])
        modules.update(stored_modules(raw))
    tops.discard("")
    env_record, launch = environment_record(ctx, tops, known)
    shift[-1] = len(records)
    records.append(_fresh(env_record, tables)[0])
    recorded = doc["settings"] if previous.settings_hold else settings.discovery_settings()
    drop_modules = {plugins[at]["module"] for at in dropped} - {
        plugins[at]["module"] for at in kept if plugins[at].get("origin") == "entry_point"
    }
    module_rows = _modules(doc, files, gone, tables, modules, dropped, plugins)
    new = rewritten_document(
        doc,
        environment_section(
            environment, distributions, recorded, doc.get("switched"), doc.get("environ")
        ),
        launch,
        tables,
        module_rows,
        {
            "items": _without(doc["items"], shift),
            "secondaries": {k: _without(group, shift) for k, group in doc["secondaries"].items()},
        },
        [m for m in doc["blocked_modules"] if m not in drop_modules],
        distributions,
        environment.get("names", {}),
        records,
        [shift[at] for at in doc["hooks"] if shift[at] >= 0],
    )
    # ``reads`` of the kept records carried (the modules they import keep their files:
    # what decides it moves with them), the environment's judged
    sources = [-1] * len(records)
    for at in kept:
        sources[shift[at]] = at
    carried = carried_reads(reads, records, sources, plugins)
    new["cold"]["reads"] = plain_reads(records, module_rows, tables.file_rows, carried)
    return new, len(dropped)


def _cuts(plugins: list[dict[str, Any]]) -> tuple[int, int]:
    """How many file and folder rows the records before the ``<environment>`` record
    introduced (the writer adds each record's new rows after those of the records
    before it)."""
    last_file = last_dir = -1
    for raw in plugins[:-1]:
        top_file, top_dir = highest_rows(raw)
        last_file, last_dir = max(last_file, top_file), max(last_dir, top_dir)
    return last_file + 1, last_dir + 1


def _dropped(plugins: list[dict[str, Any]], declared: list[Any]) -> set[int]:
    """The positions of the stored entry-point records no longer declared (perhaps none),
    if every other one is declared exactly as before, in the same order, and no new one
    is (else :class:`Declined`)."""
    dropped: set[int] = set()
    at = 0
    stored = [(i, raw) for i, raw in enumerate(plugins) if raw.get("origin") == "entry_point"]
    for name, dist, _ep, value, version, _group in declared:
        while at < len(stored) and stored[at][1]["name"] != name:
            dropped.add(stored[at][0])
            at += 1
        if at == len(stored):
            raise Declined(f"entry point {name!r} is new, or moved in the listing")
        raw = stored[at][1]
        if not _entrypoints.declared_as_stored(raw, dist, value) or raw.get("version") != version:
            raise Declined(f"entry point {name!r} is declared otherwise now")
        at += 1
    dropped.update(i for i, _raw in stored[at:])
    return dropped  # (none: a distribution without plugins removed, say)


def _rows_gone(
    plugins: list[dict[str, Any]], dropped: set[int], count: int
) -> tuple[set[int], set[int]]:
    """The file rows the removed records introduced that no kept record reads (gone), and
    those a kept record reads (shared: the first kept reader carries them, see
    :func:`_reduced`), if the removed records read no folder (else :class:`Declined`).

    The writer adds a record's new rows after those of the records before it, in reading
    order (:func:`._extended._introduced` checks that): a removed record's own rows are the
    next ones after those (the rows it shares with earlier records stay where they are).
    """
    introduced: set[int] = set()
    read: set[int] = set()
    last = -1
    for at in range(len(plugins) - 1):
        raw = plugins[at]
        rows = raw.get("files") or ()
        if at in dropped:
            if raw.get("dirs") or raw.get("names"):
                raise Declined(f"removed record {raw['name']!r} read a folder")
            introduced.update(range(last + 1, _introduced(rows, last) + 1))
        elif introduced:
            read.update(rows)
        if rows:
            last = max(last, rows[-1])
    if not all(0 <= row < count for row in introduced):
        raise Declined("a row out of the table")
    shared = introduced & read
    return introduced - shared, shared


def _answer_holds(doc: dict[str, Any], plugins: list[dict[str, Any]], dropped: set[int]) -> None:
    """The removed records offered only their winning items: nothing failed or was
    skipped there, and no failure names their keys or modules (a conflict they won or
    lost would change another winner: the merge decides that; else :class:`Declined`)."""
    names = {plugins[at]["name"] for at in dropped}
    modules = {plugins[at]["module"] for at in dropped}
    keys: set[Any] = set()
    for at in dropped:
        raw = plugins[at]
        if (
            raw.get("failures")
            or raw.get("skipped")
            or raw.get("volatile")
            or raw.get("reusable", True) is not True
        ):
            raise Declined(f"removed record {raw['name']!r} failed, or is not reusable")
        for row in raw.get("offers", ()):
            keys.add(row[0])
            if len(row) > 3 and row[3] is not None:
                raise Declined(f"an offer of removed record {raw['name']!r} was refused")
    for f in [*doc["failures"], *doc["skipped"]]:
        if f.get("plugin") in names or f.get("key") in keys or f.get("module") in modules:
            raise Declined("a failure or skip names a removed plugin, key or module")
    items = doc["items"]
    for key in keys:
        row = items.get(key)
        if row is None or row["p"] not in dropped:
            raise Declined(f"key {key!r} of a removed plugin is another's, or not served")


def _kept_hold(
    plugins: list[dict[str, Any]],
    kept: list[int],
    changes: _Changes,
    blocked: frozenset[str],
    taken: list[Any] | None,
) -> None:
    """Every kept record would be reused as it is (else :class:`Declined`), as the answer
    extended's stored records (:func:`._extended.stored_record_holds`).  *taken*: the
    ``reads`` file rows of the records: one with rows there (reusable as stored, every
    reference into a checked module) holds if its inputs are unchanged."""
    for at in kept:
        stored_record_holds(
            plugins[at], changes, blocked, taken is not None and taken[at] is not None
        )


def _modules(
    doc: dict[str, Any],
    files: list[list[Any]],
    gone: set[int],
    tables: _Tables,
    imported: set[str],
    dropped: set[int],
    plugins: list[dict[str, Any]],
) -> dict[str, int]:
    """The modules table less the removed plugins' modules, by their files' rows in the new
    *tables* (as the writer keeps a module whose file is a row): a module a removed record
    imported whose file stays must be imported by a kept one too (else :class:`Declined`:
    a full discovery would not record it)."""
    for at in dropped:
        for mod_name in stored_modules(plugins[at]):
            row = doc["modules"].get(mod_name)
            if type(row) is int and row not in gone and mod_name not in imported:
                raise Declined(f"module {mod_name!r} was recorded by a removed plugin only")
    file_index = tables.file_index
    out: dict[str, int] = {}
    for mod_name, row in doc["modules"].items():
        if row in gone or not 0 <= row < len(files):
            continue
        moved = file_index.get(files[row][0])
        if moved is not None:
            out[mod_name] = moved
    return out


def _without(group: dict[str, Any], shift: list[int]) -> dict[str, Any]:
    """The stored items *group* less the removed records', each naming its record's new
    index."""
    out: dict[str, Any] = {}
    for key, row in group.items():
        at = shift[row["p"]]
        if at < 0:
            continue
        out[key] = row if at == row["p"] else {**row, "p": at}
    return out
