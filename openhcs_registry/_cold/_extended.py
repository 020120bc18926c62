"""The answer extended: an install that only added plugins writes the previous answer plus
theirs (cold).

``pip install`` of a plugin distribution changes a ``sys.path`` folder and adds entry
points; every recorded input of the plugins already there is unchanged.  A full discovery
then finds the old records as they were and the new plugins' records inserted at their
listing position; with no key of theirs meeting a key of the others, the merge keeps every
old winner and failure and adds the new offers.  :func:`answer_extended` proves that and
writes that document from the previous one (the new records and their rows inserted where
the writer puts them, the stored records carried with their row indexes taken from the
new tables and their plugin indexes moved by an offset), without building a record, offer
or candidate for the thousands of plugins that did not change (what an install start
otherwise pays: ~20 ms more at 2000 plugins, benchmarks/ANALYSIS.md).

It is tried when the cache check found more than recorded files changed (an install moves
a ``sys.path`` folder: :attr:`.._cache.Previous.files_only` is false).  Before anything is
loaded, from the stored records: nothing but ``sys.path`` names changed and no stored
record looked for a name that appeared or vanished (:class:`._reuse._Changes`, the rules of
incremental reuse), nothing volatile, pinned or import-time, no recorded file or folder
changed, the ``<environment>`` record holds; then the entry points, scanned as a discovery
scans them, declare every old plugin exactly as before, and new ones in new top-level
packages only (a package scan's distribution comes from the entry points' packages).  After
the new plugins ran (:func:`._unchanged.call_again`): none failed, nothing volatile or
noted at import time but what they offered, no registry read meanwhile, every offer
accepted, its key and object met nowhere in the previous document, its references in
modules its plugin imported; and their folder rows are new or introduced before them (a
file row a later record introduced comes forward, as in a full discovery's tables; a
folder row would change which record completes it with the names searched there:
declined).  Every check that
fails sends the start to the general incremental path, with what ran handed over
(:class:`._unchanged.Rerun`), so no plugin is imported twice.
"""

from __future__ import annotations

import orjson

from .. import settings
from .._environment import search_path
from .._log import get_logger
from . import _entrypoints
from ._discovery._calling import calling_order
from ._discovery._context import Context
from ._discovery._recording import environment_record
from ._document import (
    _fresh,
    _Tables,
    environment_section,
    preloaded_modules,
    rewritten_document,
)
from ._reuse import (
    _Changes,
    _launch_delta,
    _search_path_delta,
    carried_reads,
    plain_reads,
    stored_reads,
)
from ._unchanged import (
    Declined,
    Rerun,
    call_again,
    discovery_context,
    folders_as_recorded,
    install,
    offers_stored,
    position_in,
    stored_changes,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .._cache import Previous, RegistryCacheManager
    from ._records import PluginRecord

logger = get_logger("openhcs_registry")


class _Hooked:
    """A stored record as :func:`._discovery._calling.calling_order` reads it."""

    __slots__ = ("name", "priority")

    def __init__(self, name: str, priority: int | None) -> None:
        self.name = name
        self.priority = priority


class _Plan:
    """What the checks before loading found: the new entry points and where they go."""

    __slots__ = (
        "added",
        "appeared",
        "ctx",
        "dir_cut",
        "distributions",
        "environment",
        "file_cut",
        "keys",
        "places",
        "refs",
        "settings",
    )

    def __init__(self, ctx: Context, environment: dict[str, Any]) -> None:
        self.ctx = ctx
        self.environment = environment
        #: the new entry points' identities (as stored records give them), listing order
        self.added: list[dict[str, Any]] = []
        #: for each of them, the position among the old records it is inserted before
        self.places: list[int] = []
        #: the entry-point scan to record
        self.distributions: dict[str, Any] = {}
        #: whether it was taken from the previous one plus the new metadata folders
        self.appeared = False
        #: the discovery settings to record
        self.settings: dict[str, str] = {}
        #: per old position p: the rows the records before p introduced (file, folder)
        self.file_cut: list[int] = []
        self.dir_cut: list[int] = []
        #: every key and reference the previous document names (items, offers, failures)
        self.keys: set[Any] = set()
        self.refs: set[Any] = set()


def answer_extended(manager: RegistryCacheManager, previous: Previous) -> Rerun | None:
    """The new plugins loaded and called; with the previous answer extended by theirs
    written and installed (``.snapshot``) if it is what a full discovery gives.

    None if a check fails before anything is loaded: then the ordinary incremental path
    runs as it always did.
    """
    doc = previous.doc
    if doc is None or previous.files_only or doc.get("volatile"):
        return None
    name = manager.config.name
    try:
        plan = _plan(manager, doc, previous)
    except Exception as exc:  # declined (the reason logged), or a shape not foreseen
        logger.debug("registry %s: answer extended not tried: %s", name, exc)
        return None
    out = call_again(plan.ctx, plan.added)
    try:
        out.snapshot = install(manager, _extended(manager, doc, plan, out))
    except Exception as exc:  # (as above; what ran is handed over all the same)
        logger.debug("registry %s: answer extended not proven: %s", name, exc)
        return out
    logger.debug(
        "registry %s: answer extended after %d plugin(s) added (%s)",
        name,
        len(plan.added),
        "new metadata folders scanned" if plan.appeared else "every declaration compared",
    )
    return out


# -- before anything is loaded ----------------------------------------------------------
def _plan(manager: RegistryCacheManager, doc: dict[str, Any], previous: Previous) -> _Plan:
    """The new entry points, if nothing but their arrival changed (else :class:`Declined`)."""
    plugins, racy_ns, changes = stored_changes(doc, previous.memo)
    if changes.files_changed or changes.dirs_changed or changes.now_importable:
        raise Declined("a recorded file or folder changed, or a missing module is importable")
    folders_as_recorded(changes.dirs)
    delta = _search_path_delta(doc, racy_ns)
    if delta is None or _launch_delta(doc["launch"]):
        raise Declined("sys.path changed otherwise, or the launch folder provides other names")
    changes.delta = delta
    if changes.environment_changed(plugins[-1]):
        raise Declined("the environment record changed")
    ctx, environment = discovery_context(manager, previous.scanned)
    plan = _Plan(ctx, environment)
    # the settings the check found to be the recorded ones (after an install the index
    # is not rebuilt to say so again: see .._cache._checked_env)
    plan.settings = doc["settings"] if previous.settings_hold else settings.discovery_settings()
    # every record ``reads`` says may be taken as it is holds when no name it looked up
    # changed (the launch record's names hold them all): then it is not judged again
    reads = stored_reads(doc)
    looked_up = doc["launch"].get("tops")
    quiet = reads is not None and type(looked_up) is list and delta.isdisjoint(looked_up)
    taken = reads[0] if quiet and reads is not None else None
    eps, tops = _stored_records(plugins[:-1], changes, manager.blocked, plan, taken)
    _scan(ctx, eps, tops, plan, previous.appeared)
    plan.keys.update(doc["items"])
    plan.keys.update(f.get("key") for f in doc["failures"])
    return plan


def _stored_records(
    plugins: list[dict[str, Any]],
    changes: _Changes,
    blocked: frozenset[str],
    plan: _Plan,
    taken: list[Any] | None = None,
) -> tuple[dict[str, dict[str, Any]], set[str]]:
    """The stored entry-point records by name (listing order) and the top-level packages
    of every record's module, if each record would be reused as it is; the rows each
    position's predecessors introduced, and every stored offer's key and reference, go
    into *plan*.  *taken*: the ``reads`` file rows of the records, when nothing they read
    or looked up changed: a record with rows there holds without being judged again (one
    with failures is, as a record blocked by name must be blocked still)."""
    eps: dict[str, dict[str, Any]] = {}
    tops: set[str] = set()
    keys, refs = plan.keys, plan.refs
    file_cut, dir_cut = plan.file_cut, plan.dir_cut
    last_file = last_dir = -1
    # (one pass, no generator or set for the usual record: thousands of records)
    at = -1
    for raw in plugins:
        at += 1
        get = raw.get
        name = raw["name"]
        file_cut.append(last_file + 1)
        dir_cut.append(last_dir + 1)
        origin = get("origin")
        if taken is None or taken[at] is None or get("failures"):
            stored_record_holds(raw, changes, blocked)
        if origin == "entry_point":
            if len(eps) != len(file_cut) - 1:
                raise Declined("the entry points are not listed first")
            eps[name] = raw
        module = get("module")
        if type(module) is str:
            tops.add(module.partition(".")[0])
        offers = get("offers")
        if offers:
            for row in offers:
                keys.add(row[0])
                refs.add(row[1])
        files = get("files")
        if files and files[-1] > last_file:
            last_file = _introduced(files, last_file)
        dirs, names = get("dirs"), get("names")
        if names:
            folders = set(dirs or ())
            folders.update([at for at, _leaf in names])
            dirs = sorted(folders)
        if dirs and dirs[-1] > last_dir:
            last_dir = _introduced(dirs, last_dir)
    file_cut.append(last_file + 1)
    dir_cut.append(last_dir + 1)
    return eps, tops


def stored_record_holds(
    raw: dict[str, Any], changes: _Changes, blocked: frozenset[str], taken: bool = False
) -> None:
    """Stored record *raw* would be taken as it is by a discovery now (else
    :class:`Declined`): a plugin blocked by name is blocked still (never loaded), any other
    holds with *changes* (:meth:`._reuse._Changes.holds`; *taken*: its ``reads`` entry
    says it may be taken as it is while its inputs are unchanged)."""
    name = raw["name"]
    if raw.get("origin") == "entry_point" and _blocked_record(raw):
        if name not in blocked and name.rpartition(":")[2] not in blocked:
            raise Declined(f"record {name!r} was blocked")
    elif not changes.holds(raw, taken):
        raise Declined(f"record {name!r} would be loaded again")


def _blocked_record(raw: dict[str, Any]) -> bool:
    """Whether stored entry-point record *raw* is a plugin blocked by name (never loaded)."""
    failures = raw.get("failures")
    if not failures:
        return False
    return all(f.get("kind") == "blocked" for f in failures)


def _introduced(rows: Any, last: int) -> int:
    """The highest row after a record whose sorted rows are *rows*, the records before it
    having introduced rows up to *last*: its own new rows must follow on (else
    :class:`Declined`), as the writer appends them in record order."""
    if not rows or rows[-1] <= last:
        return last
    top = rows[-1]
    if list(rows[last - top :]) != list(range(last + 1, top + 1)):
        raise Declined("a record's rows are not where the writer puts them")
    return int(top)


def _scan(
    ctx: Context,
    eps: dict[str, dict[str, Any]],
    tops: set[str],
    plan: _Plan,
    appeared: dict[str, list[str]] | None,
) -> None:
    """Scan the entry points as listing does: every stored one declared as before, in the
    same order; the others new, in top-level packages no record's module is in.

    *appeared*: the metadata folders that appeared, if every recorded declaration is
    unchanged and they are all that changed (the cache check found so): only they are
    read (:func:`_entrypoints.appeared`), the stored entry points are taken as declared
    without a row-by-row comparison, and the new ones placed among them by their sort key.
    """
    if appeared is not None and ctx.scanned is not None:
        group = ctx.config.entry_point_group
        new = _entrypoints.appeared(search_path(), group, ctx.scanned, appeared, ctx.stat)
        if new is not None and _placed(ctx, eps, tops, plan, *new):
            return
    vouched: set[str | None] = {raw.get("declaration") or raw["module"] for raw in eps.values()}
    found, plan.distributions = _entrypoints.declared(
        search_path(),
        ctx.config.entry_point_group,
        ctx.scanned,
        ctx.listed,
        ctx.stat,
        vouched,
    )
    old = list(eps)
    blocked = ctx.blocked
    seen: set[str] = set()
    at = 0
    for name, dist, ep_name, value, version, _group in _entrypoints.named(found):
        if name in seen:
            raise Declined(f"entry point {name!r} is declared twice")
        seen.add(name)
        raw = eps.get(name)
        if raw is not None:
            if at >= len(old) or old[at] != name:
                raise Declined(f"entry point {name!r} moved in the listing")
            at += 1
            if (
                not _entrypoints.declared_as_stored(raw, dist, value)
                or raw.get("version") != version
                or _blocked_record(raw) != (ep_name in blocked or name in blocked)
            ):
                raise Declined(f"entry point {name!r} is declared otherwise now")
            continue
        plan.added.append(_new_entry(ctx, tops, dist, name, ep_name, value, version))
        plan.places.append(at)
    if at != len(old):
        raise Declined("an entry point was removed")


def _placed(
    ctx: Context,
    eps: dict[str, dict[str, Any]],
    tops: set[str],
    plan: _Plan,
    found: list[_entrypoints.Declared],
    distributions: dict[str, Any],
) -> bool:
    """The new entry points *found* (every stored one declared as before: see
    :func:`_scan`) placed where the listing puts them; False if that cannot be told
    without the full comparison (a name declared twice, so that one is made unique by its
    distribution's, records not in the listing's order)."""
    names = "\n".join(eps)
    if ":" in names:
        return False  # (a stored name made unique by its distribution's)
    keys = [(raw["distribution"], name) for name, raw in eps.items()]
    if not all(type(dist) is str for dist, _name in keys) or keys != sorted(keys):
        return False
    added: list[dict[str, Any]] = []
    places: list[int] = []
    for dist, ep_name, value, version, _group in found:
        if ep_name in eps or any(raw["name"] == ep_name for raw in added):
            return False  # (a new name declared twice: which one is renamed depends on order)
        added.append(_new_entry(ctx, tops, dist, ep_name, ep_name, value, version))
        places.append(position_in(keys, (dist, ep_name)))
    plan.added, plan.places, plan.distributions = added, places, distributions
    plan.appeared = True
    return True


def _new_entry(
    ctx: Context,
    tops: set[str],
    dist: str,
    name: str,
    ep_name: str,
    value: str,
    version: str | None,
) -> dict[str, Any]:
    """The identity of new entry point *name* (declared as *ep_name*), as a stored record
    gives it, if it may be added (else :class:`Declined`)."""
    module = _entrypoints.split_value(value)[0]
    if ep_name in ctx.blocked or name in ctx.blocked:
        raise Declined(f"new entry point {name!r} is blocked")
    if module.partition(".")[0] in tops or not module:
        raise Declined(f"new entry point {name!r} is in the package of another plugin")
    if (name.partition(":")[2] if name.startswith(f"{dist}:") else name) != ep_name:
        raise Declined(f"new entry point {name!r} has an ambiguous name")
    return {
        "name": name,
        "origin": "entry_point",
        "module": module,
        "distribution": dist,
        "version": version,
        "declaration": value,
    }


# -- after the new plugins ran ----------------------------------------------------------
def _extended(
    manager: RegistryCacheManager, doc: dict[str, Any], plan: _Plan, out: Rerun
) -> dict[str, Any]:
    """The document a full discovery writes, if the new plugins only add to the answer
    (else :class:`Declined`)."""
    config = manager.config
    offers_stored(config, out)
    added = [out.records[raw["name"]] for raw in plan.added]
    secondary_names = {sec.name for sec in config.secondary_registries}
    new_keys: set[str] = set()
    for record in added:
        inputs = record.inputs
        if record.failures or record.skipped or inputs is None:
            raise Declined(f"new plugin {record.name!r} failed or skipped something")
        for offer in record.offers:
            key = offer.key
            if offer.failure is not None or key is None:
                raise Declined(f"an offer of new plugin {record.name!r} is refused")
            if key in plan.keys or key in new_keys or offer.ref in plan.refs:
                raise Declined(f"key {key!r} of new plugin {record.name!r} meets another")
            new_keys.add(key)
            if not offer.secondaries.keys() <= secondary_names:
                raise Declined(f"an offer of {record.name!r} derives an unknown secondary")
            for derived in offer.secondaries.values():
                if derived is not None and (
                    type(derived) is not str or derived.partition(":")[0] not in inputs.modules
                ):
                    raise Declined(f"a secondary of {record.name!r} cannot be stored as is")
    tables = _Tables(doc)
    records, shift = _tables(doc, plan, added, tables)
    tops = set(doc["launch"]["tops"])
    known = {row[0] for row in tables.file_rows}
    for record in added:
        record.add_looked_up(tops, known)
        tops.add(record.module.partition(".")[0] if record.module else "")
    tops.discard("")
    env_record, launch = environment_record(plan.ctx, tops, known)
    records.append(_fresh(env_record, tables)[0])
    try:
        orjson.dumps([records[at] for at in _new_positions(plan)])
    except TypeError:  # (text JSON cannot hold: the general path makes it volatile)
        raise Declined("a new record cannot be stored") from None
    modules = _modules(doc, added, out, tables)
    new = rewritten_document(
        doc,
        environment_section(
            plan.environment,
            plan.distributions,
            plan.settings,
            doc.get("switched"),
            doc.get("environ"),
        ),
        launch,
        tables,
        modules,
        _answer_fields(config, doc, plan, added, shift),
        sorted({*doc["blocked_modules"], *(raw["module"] for raw in plan.added)}),
        plan.distributions,
        plan.environment.get("names", {}),
        records,
        calling_indexes(records),
    )
    # ``reads`` of the stored records carried (every stored module kept with its file:
    # what decides it moves with them), the new records' and the environment's judged
    sources = [-1] * len(records)
    for at, moved_to in enumerate(shift[:-1]):
        sources[moved_to] = at
    carried = carried_reads(stored_reads(doc), records, sources, doc["plugins"])
    new["cold"]["reads"] = plain_reads(records, modules, tables.file_rows, carried)
    return new


def _new_positions(plan: _Plan) -> list[int]:
    """The new records' positions in the new document."""
    return [place + n for n, place in enumerate(plan.places)]


def _tables(
    doc: dict[str, Any], plan: _Plan, added: list[PluginRecord], tables: _Tables
) -> tuple[list[Any], list[int]]:
    """The records but the environment's in document form, their file and folder rows in
    *tables* as a full discovery builds them (in record order, each record adding what it
    read first): the old rows carried in their order, each new record's fresh rows after
    the rows of the records before it.  A file a later record introduced (the contract
    module every plugin imports, a shared helper) comes forward to the new record's rows,
    the rows between move back; the old records' row indexes are taken from the new table
    by path.  Returns the records and each old record's new index (the environment's
    last)."""
    plugins: list[dict[str, Any]] = doc["plugins"]
    old_files: list[list[Any]] = doc["files"]
    old_dirs: list[list[Any]] = doc["dirs"]
    count = len(plugins) - 1  # (the environment's record is written afresh)
    end_file, end_dir = plan.file_cut[count], plan.dir_cut[count]
    fresh: dict[int, list[Any]] = {}
    done_file = done_dir = 0
    places = plan.places
    later_dirs: set[str] | None = None
    i = 0
    while i < len(places):
        place = places[i]
        cut_file, cut_dir = plan.file_cut[place], plan.dir_cut[place]
        _carry(tables, old_files[done_file:cut_file], old_dirs[done_dir:cut_dir])
        done_file, done_dir = cut_file, cut_dir
        first_dir = len(tables.dir_rows)
        while i < len(places) and places[i] == place:
            fresh[i] = _fresh(added[i], tables)[0]
            i += 1
        if len(tables.dir_rows) > first_dir:
            if later_dirs is None:
                later_dirs = {row[0] for row in old_dirs[:end_dir]}
            if any(row[0] in later_dirs for row in tables.dir_rows[first_dir:]):
                # which of the records' folder rows gets the names searched there then
                # depends on who introduces it: the general path writes the tables
                raise Declined("a new plugin reads a folder a later plugin introduced")
    _carry(tables, old_files[done_file:end_file], old_dirs[done_dir:end_dir])
    first = (plan.file_cut[places[0]], plan.dir_cut[places[0]]) if places else None
    records: list[Any] = []
    shift: list[int] = []
    i = 0
    for at in range(count + 1):
        while i < len(places) and places[i] == at:
            records.append(fresh[i])
            i += 1
        shift.append(len(records))
        if at < count:
            raw = plugins[at]
            records.append(raw if first is None else _moved(raw, first, doc, tables))
    return records, shift


def _carry(tables: _Tables, files: list[list[Any]], dirs: list[list[Any]]) -> None:
    """Append old file and folder rows to *tables* as they are (indexed by path), but
    those a new record brought forward (a folder cannot be one: see :func:`_tables`)."""
    file_index, file_rows = tables.file_index, tables.file_rows
    for row in files:  # (inline: thousands of rows at a large plugin set)
        if row[0] not in file_index:
            file_index[row[0]] = len(file_rows)
            file_rows.append(row)
    tables.carry_rows(dirs)


def _moved(
    raw: dict[str, Any], first: tuple[int, int], doc: dict[str, Any], tables: _Tables
) -> dict[str, Any]:
    """Stored record *raw* with its rows' indexes in the new tables (*raw* itself when
    none moved: the records before the first new one, whose rows are all before the
    rows inserted (*first*), and after it those that read none of the rows that moved)."""
    changed: dict[str, Any] = {}
    files = raw.get("files")
    if files and files[-1] >= first[0]:
        old_files, file_index = doc["files"], tables.file_index
        moved = sorted([file_index[old_files[at][0]] for at in files])
        if moved != files:
            changed["files"] = moved
    dirs = raw.get("dirs")
    names = raw.get("names")
    if (dirs and dirs[-1] >= first[1]) or (names and any(at >= first[1] for at, _ in names)):
        old_dirs, dir_index = doc["dirs"], tables.dir_index
        if dirs:
            moved = sorted([dir_index[old_dirs[at][0]] for at in dirs])
            if moved != dirs:
                changed["dirs"] = moved
        if names:
            moved_names = [[dir_index[old_dirs[at][0]], leaf] for at, leaf in names]
            if moved_names != names:
                changed["names"] = moved_names
    return {**raw, **changed} if changed else raw


def _modules(
    doc: dict[str, Any], added: list[PluginRecord], out: Rerun, tables: _Tables
) -> dict[str, int]:
    """The modules references may point into, by row of their file: the previous
    document's (moved) and the new plugins'."""
    old_files: list[list[Any]] = doc["files"]
    file_index = tables.file_index
    stored: dict[str, str] = {}
    for mod_name, at in doc["modules"].items():
        stored[mod_name] = old_files[at][0]
    new_modules = tables.modules  # what the new records imported (set by the writer)
    for mod_name, file in new_modules.items():
        if stored.get(mod_name, file) != file:
            raise Declined(f"module {mod_name!r} is another file now")
    names: set[str] = set(out.modules)
    for record in added:
        for offer in record.offers:
            if offer.ref is not None:
                names.add(offer.ref.partition(":")[0])
            for derived in offer.secondaries.values():
                if type(derived) is str:
                    names.add(derived.partition(":")[0])
    preloaded_modules(names - stored.keys(), tables)
    for mod_name, file in stored.items():
        if file not in file_index:
            raise Declined(f"the file of module {mod_name!r} is recorded no more")
    stored.update(new_modules)
    # (a new module whose file is not a row, one inside a zip archive: left out, as the
    # writer leaves it out)
    return {
        mod_name: file_index[file]
        for mod_name, file in sorted(stored.items())
        if file in file_index
    }


def _answer_fields(
    config: Any, doc: dict[str, Any], plan: _Plan, added: list[PluginRecord], shift: list[int]
) -> dict[str, Any]:
    """The items and secondaries: the previous ones naming their records' new indexes,
    and the new plugins' offers (each the winner of its key, as the checks proved)."""
    items = _shifted(doc["items"], shift)
    secondaries = {name: _shifted(group, shift) for name, group in doc["secondaries"].items()}
    if set(secondaries) != {sec.name for sec in config.secondary_registries}:
        raise Declined("the secondary registries differ")
    for at, record in zip(_new_positions(plan), added, strict=True):
        for offer in record.offers:
            assert offer.key is not None
            row: dict[str, Any] = {"ref": offer.ref, "p": at}
            if offer.given:
                row["keyed"] = True
            items[offer.key] = row
            for name, derived in offer.secondaries.items():
                if type(derived) is str:
                    secondaries[name][offer.key] = {"ref": derived, "p": at}
    return {
        "items": dict(sorted(items.items())),
        "secondaries": {name: dict(sorted(group.items())) for name, group in secondaries.items()},
    }


def _shifted(group: dict[str, Any], shift: list[int]) -> dict[str, Any]:
    """The stored items *group*, each naming its record's new index."""
    out: dict[str, Any] = {}
    for key, row in group.items():
        p = row["p"]
        at = shift[p]
        out[key] = row if at == p else {**row, "p": at}
    return out


def calling_indexes(records: list[Any]) -> list[int]:
    """The records whose hook ran, by index among *records* (a document's, in stored
    form), in calling order (as the merge collects them: see
    :func:`._discovery._calling.calling_order`)."""
    index_of: dict[str, int] = {}
    called: list[_Hooked] = []
    for at, raw in enumerate(records):
        priority = raw.get("priority")
        if priority is not None and raw.get("origin") != "custom":
            index_of[raw["name"]] = at
            called.append(_Hooked(raw["name"], priority))
    return [index_of[hooked.name] for hooked in calling_order(called)]
