"""The answer unchanged: a plugin edit that changed no offer rewrites only the stats (cold).

The common edit of a plugin author changes a method body or a comment: the plugin is
loaded and called again, offers exactly what it offered, reads the same modules, files and
folders; only the stat signatures of its files differ.  The merged answer then cannot
change (the merge reads only the stored records, which are the same), and the document a
full discovery writes is the previous one with those file rows' stats, the stamp, the racy
rows and the timestamp replaced.  :func:`answer_unchanged` proves that and writes it,
without building a record, offer or candidate for the thousands of plugins that did not
change (what an incremental start otherwise pays: ~45 ms at 2000 plugins).

It is tried only when the cache check found nothing but a recorded file changed
(:attr:`.._cache.Previous.files_only`).  Every assumption is checked before a plugin is
loaded (nothing else changed: folders, ``sys.path`` names, the launch folder, missing
modules; nothing volatile, no import-time record) or after the changed plugins ran (each
new stored record equal to the previous one, its new file rows introduced in the same
order, nothing noted at import time but what they offered, no registry read meanwhile).
A record read again that differs from the stored one in more than its files' stats goes
on to :mod:`._amended` (only its offers differ) or :mod:`._replaced` (what it reads
differs too: its record replaced in place, the tables rebuilt around it).  When a check
fails after the plugins ran, what ran is handed to the ordinary incremental discovery
(:class:`Rerun`): the plugins are not loaded twice (a second import would find them in
``sys.modules`` and note nothing), and the merge and the writer do the rest as for any
start.
"""

from __future__ import annotations

import time

from .. import _autoregister as autoregister
from .. import _fileio, settings
from .._cache import (
    _NOSIG,
    _RACY_COARSE_NS,
    Previous,
    _answer,
    _digest,
    _failures,
    cold_section,
    env_section,
    file_columns,
    full_document,
    pack,
    restatable,
)
from .._diagnostics import reentry_count
from .._environment import search_path, snapshot
from .._log import get_logger
from .._refs import reference_of
from . import _entrypoints, _inputs
from ._discovery._calling import call_plugins, check_hook_names
from ._discovery._context import (
    ENVIRONMENT,
    Context,
    Loaded,
    judged_when_noted,
    look_at_environment,
)
from ._discovery._listing import _FAILED, Listing, _load_entry_point, _scan_module
from ._discovery._recording import pins
from ._document import _NO_FOLDER, _is_racy, column_fields, environment_section, file_fields
from ._inputs import Inputs, environ_rows
from ._records import PluginRecord
from ._reuse import (
    _Changes,
    _launch_delta,
    _search_path_delta,
    changed_folders,
    highest_rows,
    importable_now,
    stored_reads,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from .._cache import RegistryCacheManager
    from .._config import RegistryConfig
    from .._snapshot import Snapshot

logger = get_logger("openhcs_registry")

#: The warm fields of a document in the order :func:`._document.build_document` writes them.
_WARM = (
    "cache_version",
    "env",
    "version",
    "registry",
    "timestamp",
    "config",
    "blocked",
    "launch",
    "files",
    "stamp",
    "missing",
    "racy",
    "dirs",
    "modules",
    "plugins",
    "volatile",
    "items",
    "secondaries",
    "failures",
    "skipped",
    "blocked_modules",
)
_COLD = ("files", "distributions", "names", "plugins", "hooks")


class Declined(Exception):
    """The answer-unchanged (or answer-extended) path does not apply; the message says why
    (logged at debug level, so that ``-vv`` tells a plugin author why an edit or an install
    took the general path)."""


class Rerun:
    """What :func:`answer_unchanged` (or :func:`._extended.answer_extended`) loaded and
    called, for the incremental discovery to go on from when the answer may have changed
    (see :func:`._discovery.run_discovery`).

    ``snapshot`` is set instead when the answer was unchanged and the document written.
    """

    __slots__ = ("modules", "noted", "records", "reentered", "snapshot")

    def __init__(self) -> None:
        #: the records of the plugins loaded and called again, by name, in listing order
        self.records: dict[str, PluginRecord] = {}
        #: classes noted while each of them loaded, then ran (as the listing keeps them)
        self.noted: dict[str, list[Any]] = {}
        #: the plugin modules imported and the hookimpls' modules
        self.modules: set[str] = set()
        #: a plugin read a registry meanwhile (the answer then depends on the order of reads)
        self.reentered = False
        self.snapshot: Snapshot | None = None


def answer_unchanged(manager: RegistryCacheManager, previous: Previous) -> Rerun | None:
    """The plugins whose inputs changed, loaded and called again; with the previous answer
    rewritten and installed (``.snapshot``) if their records are unchanged (or only their
    offers changed: :func:`._amended.amended_fields`; or what they read:
    :func:`._replaced.answer_replaced`).

    Tried when only recorded files changed, and after an upgrade (see :func:`_upgrade`):
    then the plugins of the distributions whose version changed are called again too.
    None if a check fails before anything is loaded: then the ordinary incremental path
    runs as it always did.
    """
    if previous.files_only:
        edited = _answer_edited(manager, previous)
        if edited is not None or previous.memo.get("variables"):
            return edited  # (variables: the path over the whole document is an edit's)
    doc = previous.doc
    if doc is None or doc.get("volatile"):
        return None
    name = manager.config.name
    upgrade = None
    try:
        if not previous.files_only:
            upgrade = _upgrade(manager, doc, previous)
        rerun = _changed_plugins(doc, manager.blocked, upgrade, previous.memo)
        raws = [_declared_as(doc["plugins"][at], upgrade) for at in rerun]
    except Exception as exc:  # declined (the reason logged), or a shape not foreseen
        logger.debug("registry %s: answer unchanged not tried: %s", name, exc)
        return None
    ctx = upgrade.ctx if upgrade is not None else calling_context(manager)
    out = call_again(ctx, raws) if raws else Rerun()
    fields = None
    path = "unchanged"
    try:
        tables = ([row[0] for row in doc["files"]], doc["dirs"], doc["modules"])
        before = _before(doc["plugins"], rerun)
        rows, stored = _same_records(manager.config, tables, out, raws, before, offers=True)
    except Exception as exc:  # (they read otherwise now: their records replaced, if they may)
        logger.debug("registry %s: answer unchanged not proven: %s", name, exc)
        from ._replaced import answer_replaced

        answer_replaced(manager, previous, rerun, raws, out, upgrade)
        return out
    try:
        if stored != raws:  # (only their offers differ: the answer amended, if it may)
            from ._amended import amended_fields

            logger.debug("registry %s: answer unchanged not proven: offers changed", name)
            path = "amended"
            fields = amended_fields(manager.config, doc, rows, rerun, stored)
        records = dict(zip(rerun, stored, strict=True))
        out.snapshot = _rewrite(manager, doc, rows, upgrade, records, fields)
    except Exception as exc:  # (as above; what ran is handed over all the same)
        logger.debug("registry %s: answer %s not proven: %s", name, path, exc)
        return out
    logger.debug(
        "registry %s: answer %s after %d plugin(s) called again; %s",
        name,
        path,
        len(rerun),
        "stats rewritten"
        if upgrade is None
        else f"stats and distributions rewritten ({len(upgrade.versions)} upgraded)",
    )
    return out


class _Upgrade:
    """What :func:`_upgrade` found: the entry points whose version changed, and what the
    document records of the environment now.

    (This module's small results are plain classes with ``__slots__``: a ``NamedTuple``
    is made by generated code at import, which every changed start would pay.)
    """

    __slots__ = ("ctx", "distributions", "environment", "settings", "versions")

    def __init__(
        self,
        versions: dict[str, str | None],
        distributions: dict[str, Any],
        environment: dict[str, Any],
        ctx: Context,
        settings: dict[str, str],
    ) -> None:
        #: the version each entry-point record whose version changed is declared with now
        self.versions = versions
        #: the entry-point scan to record
        self.distributions = distributions
        #: the look at the environment, and the discovery context of this start
        self.environment = environment
        self.ctx = ctx
        #: the discovery settings to record
        self.settings = settings


def _upgrade(manager: RegistryCacheManager, doc: dict[str, Any], previous: Previous) -> _Upgrade:
    """The entry points whose version changed, if every entry point is declared as
    before but for its version (else :class:`Declined`).

    ``pip install -U`` of a plugin distribution writes the metadata folder of the new
    version, removes the old one and replaces the package's files: a ``sys.path`` folder
    and the distributions changed, not only recorded files.  When the scan finds every
    stored entry point declared as it was (name, module, value, distribution, listing
    order) and no other, only versions changed among the declarations: the records of the
    plugins of a new version are called again like those whose files changed, and the
    document records the new scan and ``sys.path`` rows.  An install of new metadata
    folders only is :mod:`._extended`'s (tried first).  With no version changed it serves
    a ``sys.path`` folder that changed otherwise (a module written beside a flat-layout
    plugin, which imports it now): :func:`_changed_plugins` takes names that appeared or
    vanished there when no record looked them up.
    """
    if previous.appeared is not None and any(previous.appeared.values()):
        # (none: a sys.path folder changed otherwise, a module written there, say)
        raise Declined("metadata folders were only added: an install")
    if settings.entry_points_disabled():
        raise Declined("entry points are disabled")
    ctx, environment, declared, distributions = declared_now(manager, previous)
    stored = [raw for raw in doc["plugins"] if raw.get("origin") == "entry_point"]
    if len(declared) != len(stored):
        raise Declined("entry points were added or removed")
    versions: dict[str, str | None] = {}
    upgraded: set[str | None] = set()
    for (name, dist, _ep, value, version, _group), raw in zip(declared, stored, strict=True):
        if raw["name"] != name or not _entrypoints.declared_as_stored(raw, dist, value):
            raise Declined(f"entry point {name!r} is declared otherwise now")
        if raw.get("version") != version:
            versions[name] = version
            upgraded.add(dist)
    for raw in doc["plugins"]:
        if raw.get("origin") != "entry_point" and raw.get("distribution") in upgraded:
            raise Declined(f"record {raw['name']!r} is of an upgraded distribution")
    recorded = doc["settings"] if previous.settings_hold else settings.discovery_settings()
    return _Upgrade(versions, distributions, environment, ctx, recorded)


def declared_now(
    manager: RegistryCacheManager, previous: Previous
) -> tuple[Context, dict[str, Any], list[Any], dict[str, Any]]:
    """The discovery context of this start, its look at the environment, the entry points
    declared now (named as discovery names their records: :func:`._entrypoints.named`)
    and the scan to record; scanned once for the paths that compare them with the stored
    records in turn (an upgrade's, then a removal's: :mod:`._reduced`)."""
    got = previous.memo.get("declared")
    if got is None:
        ctx, environment = discovery_context(manager, previous.scanned)
        found, distributions = _entrypoints.declared(
            search_path(), ctx.config.entry_point_group, ctx.scanned, ctx.listed, ctx.stat
        )
        got = previous.memo["declared"] = (
            ctx,
            environment,
            list(_entrypoints.named(found)),
            distributions,
        )
    return got


def _declared_as(raw: dict[str, Any], upgrade: _Upgrade | None) -> dict[str, Any]:
    """Stored record *raw* as it is declared now: with its new version if it is of an
    upgraded distribution (what the record called again must store)."""
    if upgrade is None or raw["name"] not in upgrade.versions:
        return raw
    return {**raw, "version": upgrade.versions[raw["name"]]}


def _changed_plugins(
    doc: dict[str, Any],
    blocked: frozenset[str],
    upgrade: _Upgrade | None = None,
    memo: dict[str, Any] | None = None,
) -> list[int]:
    """The positions of the records whose inputs changed, or whose distribution *upgrade*
    found of a new version, if nothing else changed (else :class:`Declined`, saying
    what)."""
    racy_ns = int(doc["timestamp"] * 1e9) - _RACY_COARSE_NS
    changes = _Changes(doc, racy_ns, memo)  # first: the stats the warm check just took
    if changes.dirs_changed or changes.now_importable:
        raise Declined("a folder changed or a missing module is importable now")
    # (after an upgrade the sys.path rows are written afresh from this look, as a full
    # discovery writes them: a site folder's stat moves with its metadata folders)
    folders_as_recorded(changes.dirs, doc["path"] if upgrade is None else [])
    delta = _search_path_delta(doc, racy_ns)
    if delta is None or _launch_delta(doc["launch"]):
        raise Declined("a sys.path entry or the launch folder provides other names")
    if delta and (upgrade is None or not delta.isdisjoint(doc["launch"]["tops"])):
        # (names no record looked up may come or go when the sys.path rows are written
        # afresh: a top-level module written beside a flat-layout plugin that imports it
        # now; a name a record looked up is that record's input, and the <environment>
        # record's: the general path)
        raise Declined("a sys.path entry provides other names a record looked up")
    rerun: list[int] = []
    covered: set[int] = set()
    # (a record ``reads`` says may be taken as it is, reusable as stored with every
    # reference into a checked module, holds when its inputs are unchanged)
    reads = stored_reads(doc)
    taken = None if reads is None else reads[0]
    at = -1
    for raw in doc["plugins"]:
        at += 1
        name = raw["name"]
        if name == ENVIRONMENT:
            if changes.environment_changed(raw):
                raise Declined("the environment record changed")
            continue
        get = raw.get
        if get("volatile") or get("reusable", True) is not True:
            raise Declined(f"record {name!r} is volatile or pinned not reusable")
        if changes.inputs_changed(raw) or (upgrade is not None and name in upgrade.versions):
            _callable_again(raw, blocked)
            rerun.append(at)
            covered.update(get("files", ()))
        elif not changes.holds_unchanged(raw, taken is not None and taken[at] is not None):
            raise Declined(f"record {name!r} would be called again too")
    if not (rerun or upgrade) or not changes.files_changed <= covered:
        raise Declined("a changed file is not held by the records called again")
    return rerun


def _callable_again(raw: dict[str, Any], blocked: frozenset[str]) -> None:
    """The stored record *raw*, whose inputs changed, is of a plugin :func:`call_again`
    can load and call as a discovery would (else :class:`Declined`): an entry point or a
    discovery package's module, not blocked, of the shapes it reads (checked before
    anything runs)."""
    get = raw.get
    name = raw["name"]
    if get("origin") not in ("entry_point", "package") or name in blocked:
        raise Declined(f"changed record {name!r} is not an entry point or package, or is blocked")
    if type(get("module")) is not str or not get("module"):
        raise Declined(f"changed record {name!r} has no module")
    for field in ("distribution", "version", "declaration"):
        if get(field) is not None and type(get(field)) is not str:
            raise Declined(f"changed record {name!r} is of an unforeseen shape")


class _Edit:
    """What :func:`_edit_plan` found to call again after an edit, from the sections."""

    __slots__ = ("before", "offsets", "plugins", "raws", "rerun", "tables")

    def __init__(
        self,
        rerun: list[int],
        raws: list[dict[str, Any]],
        before: list[tuple[int, int]],
        tables: tuple[list[str], list[list[Any]], dict[str, Any]],
        plugins: _fileio.Encoded,
        offsets: list[int],
    ) -> None:
        #: the positions of the records to call again, and those records as stored
        self.rerun = rerun
        self.raws = raws
        #: per record called again, the highest file and folder rows of the records
        #: before it
        self.before = before
        #: the previous document's file paths, folder rows and module table
        self.tables = tables
        #: the previous document's records section (its sum checked) and where each
        #: record starts in it (:data:`.._fileio.RECORD_OFFSETS`)
        self.plugins = plugins
        self.offsets = offsets


def _answer_edited(manager: RegistryCacheManager, previous: Previous) -> Rerun | None:
    """:func:`answer_unchanged` after an edit, from the sections of the cold part it
    needs: the file columns, the ``reads`` list and the records called again, not every
    record; the document written again from the previous one's bytes with the new file
    columns (:func:`_spliced`), or, when only the offers of the plugins called again
    changed, their offers replaced (:func:`._amended.answer_amended`), or, when what they
    read changed, the whole document parsed and their records replaced in place
    (:func:`._replaced.answer_replaced`).  None if a check fails before anything is
    loaded (then the path over the whole document runs, which may still take the edit)."""
    name = manager.config.name
    try:
        plan = _edit_plan(manager, previous)
    except Exception as exc:  # declined (the reason logged), or a shape not foreseen
        logger.debug("registry %s: the edit's own sections do not say enough: %s", name, exc)
        return None
    out = call_again(calling_context(manager), plan.raws)
    try:
        rows, stored = _same_records(
            manager.config, plan.tables, out, plan.raws, plan.before, offers=True
        )
    except Exception as exc:  # (they read otherwise now: their records replaced, if they may)
        logger.debug("registry %s: answer unchanged not proven: %s", name, exc)
        from ._replaced import answer_replaced

        answer_replaced(manager, previous, plan.rerun, plan.raws, out)
        return out
    try:
        if stored != plan.raws:  # (only their offers differ: the answer amended, if it may)
            from ._amended import answer_amended

            logger.debug("registry %s: answer unchanged not proven: offers changed", name)
            answer_amended(manager, previous, plan, rows, stored, out)
            return out
        out.snapshot = _spliced(manager, previous, rows)
    except Exception as exc:  # (what ran is handed over all the same)
        logger.debug("registry %s: answer unchanged not proven: %s", name, exc)
        return out
    logger.debug(
        "registry %s: answer unchanged after %d plugin(s) called again; stats rewritten "
        "from the document's sections (%d of %d records parsed)",
        name,
        len(plan.rerun),
        len(plan.rerun),
        previous.warm["plugins"],
    )
    return out


def _edit_plan(manager: RegistryCacheManager, previous: Previous) -> _Edit:
    """The records to call again after an edit, found from the ``reads`` section (each
    record's file rows if it may be taken as it is, and its highest folder row:
    :func:`._reuse.plain_reads`) and the changed rows the check found, with the readers
    of the variables it found changed (:func:`_readers`); else :class:`Declined`."""
    import orjson

    warm = previous.warm
    changed = previous.memo.get("files_changed") or set()
    variables = previous.memo.get("variables") or []
    if warm.get("volatile") or not (changed or variables):
        raise Declined("plugins are called on every start, or no file row was compared")
    count = warm["plugins"]
    reads, folders = cold_section(warm, "reads")
    offsets = cold_section(warm, _fileio.RECORD_OFFSETS)
    if not (
        type(reads) is list
        and len(reads) == count > 0
        and type(folders) is list
        and len(folders) == count
        and all(type(x) is int for x in folders)
        and type(offsets) is list
        and len(offsets) == count + 1
        and all(type(x) is int for x in offsets)
    ):
        raise Declined("the reads or the record offsets are of another shape")
    racy_ns = int(warm["timestamp"] * 1e9) - _RACY_COARSE_NS
    dirs = warm["dirs"]
    if changed_folders(dirs, racy_ns) or importable_now(warm["failures"]):
        raise Declined("a folder changed or a missing module is importable now")
    env = env_section(warm)
    folders_as_recorded(dirs, env["path"])
    # (without the cold names: a sys.path entry that moved is a change here)
    if _search_path_delta(
        {"path": env["path"], "launch": warm["launch"]}, racy_ns
    ) != set() or _launch_delta(warm["launch"]):
        raise Declined("a sys.path entry or the launch folder changed")
    section = _fileio.section_bytes(warm, "plugins")
    data = section.data
    readers = _readers(data, offsets, variables)
    rerun: list[int] = []
    before: list[tuple[int, int]] = []
    covered: set[int] = set()
    highest = highest_folder = -1
    last = count - 1
    at = -1
    for rows in reads:
        at += 1
        if type(rows) is not list:
            raise Declined(f"record {at} may not be taken as it is")
        if not changed.isdisjoint(rows) or at in readers:
            if at == last:
                raise Declined("the environment record changed")
            rerun.append(at)
            before.append((highest, highest_folder))
            covered.update(rows)
        if rows:
            highest = max(highest, max(rows))
        highest_folder = max(highest_folder, folders[at])
    if not changed <= covered:
        raise Declined("a changed file is not held by the records called again")
    raws = [orjson.loads(data[offsets[at] : offsets[at + 1] - 1]) for at in rerun]
    for raw in raws:
        if type(raw) is not dict or type(raw.get("name")) is not str:
            raise Declined("a stored record is of another shape")
        _callable_again(raw, manager.blocked)
    paths = warm["files"]
    modules = orjson.loads(warm["modules"])
    if type(paths) is not list or type(modules) is not dict:
        raise Declined("the file or module table is of another shape")
    return _Edit(rerun, raws, before, (paths, dirs, modules), section, offsets)


def _readers(data: Any, offsets: list[int], variables: list[str]) -> set[int]:
    """The positions of the records that name one of *variables* as read (their
    ``environ``), each such variable named by one at least (else :class:`Declined`: a
    row no record names would stay changed).  Found by the variables' JSON text in the
    records section (*data*, each record at its offset), then each record met parsed to
    tell a read from a string met in another role."""
    import orjson

    if not variables:
        return set()
    text = bytes(data)
    met = {
        _record_at(offsets, at) for name in variables for at in found_at(text, orjson.dumps(name))
    }
    out: set[int] = set()
    named: set[str] = set()
    for at in met:
        raw = orjson.loads(data[offsets[at] : offsets[at + 1] - 1])
        read = raw.get("environ") if type(raw) is dict else None
        if type(read) is list and not set(variables).isdisjoint(read):
            out.add(at)
            named.update(read)
    if not named.issuperset(variables):
        raise Declined("a changed variable is named by no record")
    return out


def found_at(data: bytes, needle: bytes) -> Iterator[int]:
    """Where *needle* occurs in *data*, each place in turn."""
    at = data.find(needle)
    while at >= 0:
        yield at
        at = data.find(needle, at + 1)


def _record_at(offsets: list[int], at: int) -> int:
    """The position of the record whose bytes hold byte *at* of the records section (the
    first for a byte before it)."""
    return max(position_in(offsets, at + 1) - 1, 0)


def position_in(items: list[Any], item: Any) -> int:
    """How many of the sorted *items* sort before *item* (``bisect_left``, without the
    import of :mod:`bisect` that a changed start would pay for a few look-ups)."""
    low, high = 0, len(items)
    while low < high:
        mid = (low + high) // 2
        if items[mid] < item:
            low = mid + 1
        else:
            high = mid
    return low


def _before(plugins: list[dict[str, Any]], rerun: list[int]) -> list[tuple[int, int]]:
    """Per record at the positions *rerun* (ascending), the highest file and folder rows
    the records before it read (where the writer puts a record's new rows: after them)."""
    out: list[tuple[int, int]] = []
    if not rerun:
        return out
    last_file = last_dir = -1
    todo = iter(rerun)
    next_at = next(todo, -1)
    at = -1
    for raw in plugins:
        at += 1
        if at == next_at:
            out.append((last_file, last_dir))
            next_at = next(todo, -1)
            if next_at < 0:
                break  # (the records after the last one called again do not matter)
        top_file, top_dir = highest_rows(raw)
        last_file, last_dir = max(last_file, top_file), max(last_dir, top_dir)
    return out


def stored_changes(
    doc: dict[str, Any], memo: dict[str, Any]
) -> tuple[list[dict[str, Any]], int, _Changes]:
    """For a path that writes from the stored records: those records (the
    ``<environment>`` record last, as the writer puts it), the racy bound of *doc* and
    what changed since it was written (the stats the warm check just took; *memo*: see
    :class:`._reuse._Changes`); else :class:`Declined`."""
    if settings.entry_points_disabled():
        raise Declined("entry points are disabled")
    plugins: list[dict[str, Any]] = doc["plugins"]
    if not plugins or plugins[-1]["name"] != ENVIRONMENT:
        raise Declined("the environment record is not the last")
    racy_ns = int(doc["timestamp"] * 1e9) - _RACY_COARSE_NS
    return plugins, racy_ns, _Changes(doc, racy_ns, memo)


def folders_as_recorded(*tables: list[list[Any]]) -> None:
    """Each folder row of *tables* has its recorded stat (else :class:`Declined`).

    A folder row a discovery writes afresh must be the recorded one: the check found each
    unchanged (by stat, or by listing when its stat moved or is racy), and its stat must
    be the recorded one too (a moved stat with the same listing holds, with other bytes).
    """
    stat = snapshot().stat
    for rows in tables:
        for rec in rows:
            if (stat(rec[0]) or _NOSIG) != rec[1:5]:
                raise Declined("a folder or sys.path row has another stat")


def discovery_context(
    manager: RegistryCacheManager, scanned: dict[str, Any] | None
) -> tuple[Context, dict[str, Any]]:
    """The context an incremental discovery of *manager*'s registry would run in (the look
    the cache check just took), and that look's environment record."""
    environment, listed, names, stat = look_at_environment(fresh=False)
    ctx = Context(manager.config, manager.blocked, {}, scanned, listed, stat, names)
    return ctx, environment


def calling_context(manager: RegistryCacheManager) -> Context:
    """The context :func:`call_again` needs: the registry's configuration and blocked
    names.  Loading and calling given plugins reads no ``sys.path`` listing, no earlier
    scan and no reuse (those are the listing step's), so none is taken: at 2000 plugins
    the look's listings and names cost ~5 ms."""
    return Context(manager.config, manager.blocked)


def call_again(ctx: Context, raws: list[Any]) -> Rerun:
    """Load and call the plugins of the stored records *raws* as a discovery would (each
    isolated, under the import recorder, in pluggy's order); an entry point's *raw* needs
    only its identity: name, origin, module, distribution, version, declaration."""
    config = ctx.config
    listing = Listing()
    reentries = reentry_count()
    with _inputs.installed():
        for raw in raws:
            name, module = raw["name"], raw["module"]
            dist, version = raw.get("distribution"), raw.get("version")
            if raw["origin"] == "package":
                record = PluginRecord(name, "package", module, dist, version, inputs=Inputs())
                listing.records[name] = record
                _scan_module(ctx, listing, record, module)
                continue
            value = raw.get("declaration") or module
            ep_name = name.partition(":")[2] if dist and name.startswith(f"{dist}:") else name
            ep = _entrypoints.EntryPoint(
                ep_name, value, dist or "", version, config.entry_point_group
            )
            record = PluginRecord(name, "entry_point", module, dist, version, value, Inputs())
            listing.records[name] = record
            obj = _load_entry_point(ctx, listing, record, ep)
            if obj is _FAILED:
                continue
            listing.modules.add(module)
            listing.loaded[name] = Loaded(record, obj, check_hook_names(ctx, record, obj))
        calls = call_plugins(ctx, listing.loaded)
    out = Rerun()
    out.records = listing.records
    out.noted = {name: list(listing.noted.get(name, ())) for name in listing.records}
    for name, classes in calls.noted.items():
        out.noted.setdefault(name, []).extend(classes)
    out.modules = listing.modules | calls.modules
    out.reentered = reentry_count() != reentries
    return out


def _same_records(
    config: RegistryConfig,
    tables: tuple[list[str], list[list[Any]], dict[str, Any]],
    out: Rerun,
    declared: list[dict[str, Any]],
    before: list[tuple[int, int]],
    offers: bool = False,
) -> tuple[dict[int, list[Any]], list[dict[str, Any]]]:
    """The new file rows by index, and each plugin's record as stored now, if each plugin
    called again stores the record it stored before as it is *declared* now (with the new
    version of an upgraded distribution), apart from its files' stats and, if *offers*,
    its offers (else :class:`Declined`: the answer may have changed).  *tables*: the
    previous document's file paths, folder rows and module table; *before*: per plugin,
    the highest file and folder rows of the records listed before it (see
    :func:`_stored`)."""
    offers_stored(config, out)
    paths, dirs, modules = tables
    file_at = {path: i for i, path in enumerate(paths)}
    dir_at = {row[0]: i for i, row in enumerate(dirs)}
    new_rows: dict[int, list[Any]] = {}
    records: list[dict[str, Any]] = []
    now_ns = time.time_ns()
    for raw, (last_file, last_dir) in zip(declared, before, strict=True):
        record = out.records[raw["name"]]
        got = _stored(
            record, raw, paths, dirs, modules, file_at, dir_at, last_file, last_dir, offers
        )
        if got is None:
            raise Declined(f"{raw['name']!r} stores another record or other rows now")
        for i, row in got[0].items():
            if _is_racy(row[1], now_ns):
                row.append(_digest(row[0]))
            new_rows[i] = row
        records.append(got[1])
    return new_rows, records


def offers_stored(config: RegistryConfig, out: Rerun) -> None:
    """The plugins *out* called store what a discovery would merge as their offers alone
    (else :class:`Declined`): no registry read meanwhile, nothing volatile, every accepted
    offer with a reference into a module its plugin imported, and nothing noted at import
    time but what they offered (what the merge and the recording step would otherwise
    turn into import-time records, pinned records or a winner's added inputs)."""
    if out.reentered:
        raise Declined("a registry was read during the calls")
    offered: set[str | None] = set()
    for record in out.records.values():
        if record.volatile is not None:
            raise Declined(f"{record.name!r} is volatile now")
        refs: set[str | None] = set()
        for offer in record.offers:
            if offer.failure is None:
                if offer.ref is None:
                    raise Declined(f"an offer of {record.name!r} cannot be stored")
                # a winner defined in a module its plugin did not import gets that module's
                # inputs added by the recording step: the general path
                assert record.inputs is not None
                if offer.ref.partition(":")[0] not in record.inputs.modules:
                    raise Declined(
                        f"an offer of {record.name!r} is from a module it did not import"
                    )
            refs.add(offer.ref)
        # the recording step pins a record whose loading noted a class it did not offer
        if pins(config, record, out.noted.get(record.name, ())):
            raise Declined(f"{record.name!r} noted a class at import time it does not offer")
        offered |= refs
    # classes noted at import time that no hook offered become import-time records (or
    # skips) in the merge: the previous answer had none (abstract and keyless ones are
    # left out there as here)
    for obj in autoregister.noted(config.name):
        if reference_of(obj) in offered or not judged_when_noted(config, obj):
            continue
        raise Declined("a class noted at import time was offered by no hook")


def _stored(
    record: PluginRecord,
    raw: dict[str, Any],
    paths: list[str],
    dirs: list[list[Any]],
    modules: dict[str, Any],
    file_at: dict[str, int],
    dir_at: dict[str, int],
    last_file: int,
    last_dir: int,
    offers: bool = False,
) -> tuple[dict[int, list[Any]], dict[str, Any]] | None:
    """The file rows *record* introduces and its stored form (its rows as the previous
    document's), if that is *raw* (but for its offers, if *offers*) and it introduces its
    rows where the previous document has them (None otherwise).

    The writer builds its tables in record order, each fresh record adding what it read
    in reading order: a record read again must add its new rows in the same order, after
    the rows of the records before it (``last_file``, ``last_dir``), for the tables to be
    row for row the ones a full discovery writes.
    """
    inputs = record.inputs
    assert inputs is not None
    rows: dict[int, list[Any]] = {}
    file_list: list[int] = []
    expect = last_file + 1
    for path, value in inputs.files.items():
        i = file_at.get(path)
        if i is None:
            return None
        if i > last_file:
            if i != expect:
                return None
            expect += 1
            rows[i] = [path, *(value or _NOSIG)]
        file_list.append(i)
    names: list[list[Any]] = []
    expect = last_dir + 1
    folders: list[tuple[str, Any, Any]] = [(f, v, None) for f, v in inputs.dirs.items()]
    folders += [(f, v, listed) for f, (v, listed, _looked) in inputs.names.items()]
    for folder, value, listed in folders:
        i = dir_at.get(folder)
        if i is None:
            return None
        if i > last_dir:
            if i != expect:
                return None
            expect += 1
        old = dirs[i]
        if old[1:6] != (value or _NO_FOLDER):  # (signature and listing, read together)
            return None
        if listed is not None and (len(old) != 7 or old[6] != listed):
            return None
    dir_list = [dir_at[f] for f in inputs.dirs]
    for folder, (_value, _listed, looked) in inputs.names.items():
        names.extend([dir_at[folder], leaf] for leaf in sorted(looked))
    for mod_name, found in inputs.modules.items():
        if found is not None:
            known = modules.get(mod_name)
            if found not in file_at:
                # a file with no row (the standard library's): the writer leaves the name
                # out of the module table (a recorded file has a row, checked above)
                if known is not None:
                    return None
            elif type(known) is not int or not 0 <= known < len(paths) or paths[known] != found:
                return None
    stored: dict[str, Any] = dict(
        record.to_json(sorted(set(file_list)), sorted(set(dir_list)), names)
    )
    if stored != raw and not (offers and _but_offers(stored) == _but_offers(raw)):
        return None
    return rows, stored


def _but_offers(raw: dict[str, Any]) -> dict[str, Any]:
    """Stored record *raw* without its offers."""
    return {field: value for field, value in raw.items() if field != "offers"}


def _rewrite(
    manager: RegistryCacheManager,
    doc: dict[str, Any],
    rows: dict[int, list[Any]],
    upgrade: _Upgrade | None = None,
    records: dict[int, dict[str, Any]] | None = None,
    fields: dict[str, Any] | None = None,
) -> Snapshot:
    """The previous document with the new file rows, stamp, racy rows and write time,
    written; its answer as the snapshot to install.  The *records* called again (by
    position) as they store themselves now (after an *upgrade*, as they are declared now:
    also the new environment section and entry-point scan); an amended answer's *fields*
    (items, secondaries: :func:`._amended.amended_fields`)."""
    new = _rewritten(doc, rows)
    if fields:
        new.update(fields)
    if records:
        cold = new["cold"]
        plugins = cold["plugins"] = list(cold["plugins"])
        for at, raw in records.items():
            plugins[at] = raw
    if upgrade is not None:
        new["env"] = environment_section(
            upgrade.environment,
            upgrade.distributions,
            upgrade.settings,
            doc.get("switched"),
            doc.get("environ"),
        )
        cold = new["cold"]
        cold["distributions"] = upgrade.distributions
        cold["names"] = upgrade.environment.get("names", {})
    else:
        _with_environ(new, doc)
    return install(manager, new)


def _with_environ(new: dict[str, Any], doc: dict[str, Any]) -> None:
    """*new*'s environment section, carried from *doc*, with the variables that the
    records called again read and no row names (:func:`._inputs.environ_rows`)."""
    env = env_section(doc)
    rows = environ_rows(env.get("environ"))
    if rows != env.get("environ"):
        new["env"] = {**env, "environ": rows}


def settle(manager: RegistryCacheManager, doc: dict[str, Any]) -> None:
    """Write a document that a warm start just found valid again, its racy rows settled.

    Rows modified close to a write are compared by content at every start (a folder by its
    listing, a file by its digest: see :func:`.._cache._folder_unchanged`), since a change
    within the same timestamp tick would not move their stat.  Once that window has passed,
    and the warm check has just found them unchanged, any later change moves their stat: the
    document is written again with a new write time, and without the digests of files
    modified before the window, so that later starts compare stats only (as ``git`` refreshes
    racily clean index entries).  A folder whose stat moved while its listing held (a file
    made and removed there), which the check therefore listed, gets the stat it has now,
    quiet for the window: the check just compared its listing with the recorded one.  The
    answer, the files' stats and the stamps are the ones checked; a document that cannot be
    read whole is left as it is.
    """
    full = full_document(doc)
    limit = time.time_ns() - _RACY_COARSE_NS
    rows = {
        at: row[:5]
        for at, row in enumerate(full["files"])
        if len(row) == 6 and type(row[1]) is int and row[1] < limit
    }
    env = full["env"]
    full["env"] = {**env, "path": _restated(env["path"], limit)}
    if manager.config.check_mtimes:
        full["dirs"] = _restated(full["dirs"], limit)
    _fileio.write_document(manager.file, pack(_rewritten(full, rows)))


def _restated(rows: list[list[Any]], limit: int) -> list[list[Any]]:
    """Folder rows ``[path, *stat, listing, ...]`` a check just found unchanged, each with
    the stat it has in this look if that moved and has been quiet since *limit*."""
    stat = snapshot().stat
    out = []
    for row in rows:
        sig = stat(row[0])
        if restatable(sig, row, limit):
            row = [row[0], *sig, *row[5:]]
        out.append(row)
    return out


def _rewritten(doc: dict[str, Any], rows: dict[int, list[Any]]) -> dict[str, Any]:
    """The previous (whole) document with the new file *rows* (by index), stamp, racy rows
    and write time."""
    file_rows: list[list[Any]] = list(doc["files"])
    # ``reads`` holds while no recorded file appeared or vanished: the records called
    # again store what they stored, in the same places, and no reference's module
    # changed whether its file is checked (else the writer computes it afresh)
    carried = doc.get("reads")
    for i, row in rows.items():
        if (file_rows[i][1] is None) is not (row[1] is None):
            carried = None
        file_rows[i] = row
    new: dict[str, Any] = {}
    for key in _WARM:
        new[key] = doc[key]
    new["timestamp"] = time.time()
    new.update(file_fields(file_rows))  # (in their places: the keys are there)
    new["plugins"] = len(doc["plugins"])
    cold = {key: doc[key] for key in _COLD}
    cold["files"] = file_rows
    if carried is not None:
        cold["reads"] = carried
    new["cold"] = cold
    return new


def _spliced(
    manager: RegistryCacheManager,
    previous: Previous,
    rows: dict[int, list[Any]],
    cols: list[list[Any]] | None = None,
    fields: dict[str, Any] | None = None,
    sections: dict[str, _fileio.Encoded] | None = None,
) -> Snapshot:
    """:func:`_rewritten` and :func:`install` of *previous*'s document as read (its cold
    part unparsed) with the new file *rows*: the warm fields as they were read (the answer
    already in its written form), the file columns (*cols*, if :func:`file_columns_now`
    gave them already) and the fields folded from them new, every other section of the
    cold part carried over as its bytes, with its sum (not summed again: what is only
    carried is checked by whoever parses it next).  An amended answer
    (:mod:`._amended`) gives its warm *fields* and cold *sections* in written form."""
    warm = previous.warm
    if cols is None:
        cols = file_columns_now(previous, rows)
    new: dict[str, Any] = {}
    for key in _WARM:
        new[key] = warm[key]
    if fields:
        new.update(fields)
    new["timestamp"] = time.time()
    new.update(column_fields(warm["files"], cols))
    _with_environ(new, warm)
    new["cold"] = {
        name: cols
        if name == "files"
        else (sections or {}).get(name) or _fileio.section_bytes(warm, name, verify=False)
        for name in warm["coldat"]
    }
    return _installed(manager, new)


def file_columns_now(previous: Previous, rows: dict[int, list[Any]]) -> list[list[Any]]:
    """*previous*'s file columns (mtime, size, ctime, inode, digests: see
    :func:`.._cache.file_columns`) with the new file *rows*, if no recorded file appeared
    or vanished (else :class:`Declined`)."""
    warm = previous.warm
    paths = warm["files"]
    found = previous.memo.get("file_columns")  # (those the check compared, if it did)
    if found is None:
        found = file_columns(cold_section(warm, "files"), len(paths))
    # (copies: the columns are shared, with the check and the whole document)
    cols = [list(col) for col in found]
    digests = {pair[0]: pair[1] for pair in cols[4]}
    for at, row in rows.items():
        # (``reads`` is carried: a module's file that appeared or vanished would move
        # which records may be called alone)
        if (cols[0][at] is None) is not (row[1] is None):
            raise Declined("a recorded file appeared or vanished")
        for col, value in zip(cols[:4], row[1:5], strict=True):
            col[at] = value
        if len(row) == 6:
            digests[at] = row[5]
        else:
            digests.pop(at, None)
    cols[4] = [[at, digests[at]] for at in sorted(digests)]
    return cols


def install(manager: RegistryCacheManager, new: dict[str, Any]) -> Snapshot:
    """Write the document *new* (what a full discovery would write, proven so) and give
    its answer as the snapshot to install, as a fresh discovery's."""
    return _installed(manager, pack(new))


def _installed(manager: RegistryCacheManager, new: dict[str, Any]) -> Snapshot:
    """:func:`install` of *new* in its written form (see :func:`.._cache.pack`)."""
    payload, cold_bytes, coldat = _fileio.encode_parts(new)
    # the answer keeps the cold part as bytes, as a warm start's does: the parsed previous
    # document (thousands of records and rows) is freed now, not traversed at exit
    answer = _answer(  # (first: a document its own reader refuses is not written)
        manager.config,
        {**new, "cold": cold_bytes, "coldat": coldat},
        new["files"],
        _failures(new["failures"], "failures"),
        new["timestamp"],
        manager.file,
    )
    answer.source = "fresh"
    _fileio.write_encoded(manager.file, payload)  # (a failed write: a slower next start)
    return answer
