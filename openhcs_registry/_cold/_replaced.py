"""The answer replaced: an edit that changed what a plugin reads writes the previous answer
with that plugin's record replaced in its place (cold).

An edit often changes what a plugin reads, not only a method body: a new import (a helper
module of its package, a library it did not use), an import taken out, a data file read
from now on, a variable no longer read.  The record read again then differs from the
stored one in its rows, modules, looked-up names or variables, so the stored document
cannot be rewritten in place (:mod:`._unchanged`, :mod:`._amended`): the rows it introduces
move every later record's row indexes.  A full discovery still finds every other record as
it was, in the same place, and the merge gives every other key the winner it had: what
changes is that record, the tables (its new rows where the writer puts them, the rows only
it read gone), the module table, the records' ``reads``, and, if the top-level names it
looked up changed, the ``<environment>`` record and the launch record.

:func:`answer_replaced` proves that and writes that document from the previous one, as the
general incremental path's writer (:func:`._document.build_document`) writes it: every
record in order, the stored ones carried with their rows (:func:`._document.carried`), the
ones called again fresh (:func:`._document._fresh`), without building a record, offer or
candidate for the thousands of plugins that did not change, or running the merge (what
the general path pays: at 2000 plugins ≈ 3x a warm start, benchmarks/ANALYSIS.md).

Tried after the records called again (by the edit's or an upgrade's path) were found to
store more than other stats or offers.  What it checks, besides the edit's own checks
(nothing changed but the files those plugins read; every other record holds as stored):
each plugin called again stores the record it stored but for what it read, offers,
failed and whether its hook was called (same identity and version, nothing skipped then or
now, nothing volatile, pinned or noted at import time but its offers:
:func:`._unchanged.offers_stored`); its offers, if they changed, meet no other record's
key or reference (:func:`._amended.amended_fields`, as an amended answer's).  A plugin
that fails to import now (a syntax error saved half-typed), or no longer fails, is
replaced too: its own failures take or leave their place among the records' own, which
the merge reports first (:func:`_failures`), and its hook leaves or joins the calling
order (:func:`_hooks`).  Any check that fails leaves the start to the general path, with
what ran handed over.
"""

from __future__ import annotations

import orjson

from .._cache import env_section
from .._log import get_logger
from ._discovery._context import ENVIRONMENT
from ._discovery._recording import environment_record
from ._document import (
    _fresh,
    _Tables,
    _variables_named,
    carried,
    environment_section,
    preloaded_modules,
    rewritten_document,
)
from ._inputs import environ_rows
from ._records import add_launch_tops
from ._reuse import carried_reads, plain_reads, stored_reads, stored_refers_outside
from ._unchanged import Declined, Rerun, discovery_context, install, offers_stored

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .._cache import Previous, RegistryCacheManager
    from ._records import PluginRecord
    from ._unchanged import _Upgrade

logger = get_logger("openhcs_registry")

#: The fields of a stored record that say what it read, what it offers, whether it failed
#: and whether its hook was called (a plugin that fails to import now is not): those a
#: record replaced may have changed (every other field must be the stored one's).
_MAY_CHANGE = frozenset(
    (
        "files",
        "dirs",
        "names",
        "missing",
        "tops",
        "modules",
        "environ",
        "offers",
        "failures",
        "priority",
    )
)


def answer_replaced(
    manager: RegistryCacheManager,
    previous: Previous,
    rerun: list[int],
    raws: list[dict[str, Any]],
    out: Rerun,
    upgrade: _Upgrade | None = None,
) -> None:
    """Set ``out.snapshot`` to the previous answer with the records at the positions
    *rerun* (stored as *raws*, as declared now) replaced by those of the plugins *out*
    called again, the document written, if that is what a full discovery gives; else log
    why not (then the general path goes on from what ran).  *upgrade*: what an upgrade's
    path found (the environment section and the scan to record)."""
    name = manager.config.name
    try:
        doc = previous.doc
        if doc is None:
            raise Declined("the previous document cannot be read whole")
        new, looked = _replaced(manager, previous, doc, rerun, raws, out, upgrade)
        out.snapshot = install(manager, new)
    except Exception as exc:  # declined (the reason logged), or a shape not foreseen
        logger.debug("registry %s: answer replaced not proven: %s", name, exc)
        return
    logger.debug(
        "registry %s: answer replaced after %d plugin(s) called again: their records "
        "replaced in place (%s)",
        name,
        len(rerun),
        "the environment record taken again" if looked else "the environment record carried",
    )


def _replaced(
    manager: RegistryCacheManager,
    previous: Previous,
    doc: dict[str, Any],
    rerun: list[int],
    raws: list[dict[str, Any]],
    out: Rerun,
    upgrade: _Upgrade | None,
) -> tuple[dict[str, Any], bool]:
    """The document a full discovery writes, and whether the ``<environment>`` record was
    taken again (else :class:`Declined`)."""
    config = manager.config
    offers_stored(config, out)
    plugins: list[dict[str, Any]] = doc["plugins"]
    if doc.get("volatile") or not plugins or plugins[-1]["name"] != ENVIRONMENT:
        raise Declined("a record is volatile, or the environment record is not the last")
    fresh = _records_called(rerun, raws, out)

    # the tables as the writer builds them: record by record, in order, a stored record's
    # rows carried, a fresh one's added in reading order
    tables = _Tables()
    old_files, old_dirs, old_modules = doc["files"], doc["dirs"], doc["modules"]
    records: list[Any] = []
    stored: list[dict[str, Any]] = []
    at = -1
    for raw in plugins[:-1]:
        at += 1
        record = fresh.get(at)
        if record is None:
            records.append(carried(raw, old_files, old_dirs, old_modules, tables))
            continue
        now = _fresh(record, tables)[0]
        if _identity(now) != _identity(_declared(raws, rerun, at)):
            raise Declined(f"{record.name!r} stores another record now, not only other reads")
        records.append(now)
        stored.append(now)
    try:
        orjson.dumps(stored)
    except TypeError:  # (text JSON cannot hold it: the general path makes it volatile)
        raise Declined("a record called again cannot be stored") from None

    answer = _answer(config, doc, rerun, raws, stored)
    tops = set(doc["launch"]["tops"])
    if _tops(config, [plugins[at] for at in rerun]) != _tops(config, stored):
        tops = _tops(config, records)  # (a name only they looked up may have gone)
    looked = tops != set(doc["launch"]["tops"])
    if looked:  # the names looked up changed: the launch and environment records anew
        ctx = upgrade.ctx if upgrade is not None else discovery_context(manager, None)[0]
        known = set(tables.file_index)  # (the files every record read)
        env_record, launch = environment_record(ctx, tops, known)
        records.append(_fresh(env_record, tables)[0])
    else:  # (they are what the check found unchanged: carried, rows and all)
        launch = doc["launch"]
        records.append(carried(plugins[-1], old_files, old_dirs, old_modules, tables))

    names = set(out.modules)
    for group in (answer["items"], *answer["secondaries"].values()):
        for row in group.values():
            ref = row.get("ref")
            if type(ref) is str:
                names.add(ref.partition(":")[0])
    preloaded_modules(names - tables.modules.keys(), tables)
    file_index = tables.file_index
    modules = {
        mod_name: file_index[file]
        for mod_name, file in sorted(tables.modules.items())
        if file in file_index
    }
    read = _variables_named(records)
    if upgrade is not None:
        env = environment_section(
            upgrade.environment,
            upgrade.distributions,
            upgrade.settings,
            doc.get("switched"),
            doc.get("environ"),
            read,
        )
        distributions = upgrade.distributions
        found_names = upgrade.environment.get("names", {})
    else:
        env = dict(env_section(doc))
        env["environ"] = environ_rows(env.get("environ"), read)
        distributions, found_names = doc["distributions"], doc["names"]
    new = rewritten_document(
        {**doc, "failures": _failures(doc, plugins, records)},
        env,
        launch,
        tables,
        modules,
        answer,
        doc["blocked_modules"],
        distributions,
        found_names,
        records,
        _hooks(doc, rerun, raws, records),
    )
    # ``reads`` of the stored records carried (what decides whether a record may be taken
    # as it is moves with it: its own module's row among its files, where its references
    # point), but for those referring into a module now checked or no longer checked; the
    # records called again and the environment's judged afresh
    moved = _watched(modules, tables.file_rows) ^ _watched(old_modules, old_files)

    def unmoved(ref: str) -> bool:
        return ref.partition(":")[0] not in moved

    sources = [
        -1 if at in fresh or (moved and stored_refers_outside(raw, unmoved)) else at
        for at, raw in enumerate(records[:-1])
    ]
    sources.append(-1 if looked else len(records) - 1)
    new["cold"]["reads"] = plain_reads(
        records,
        modules,
        tables.file_rows,
        carried_reads(stored_reads(doc), records, sources, plugins),
    )
    return new, looked


def _records_called(
    rerun: list[int], raws: list[dict[str, Any]], out: Rerun
) -> dict[int, PluginRecord]:
    """The records of the plugins called again, by position, if each may replace its
    stored one (else :class:`Declined`): no skip now or before (the merge reports skips
    apart from the records); a failure, now or before, is the record's own (see
    :func:`_failures`)."""
    fresh: dict[int, PluginRecord] = {}
    for at, raw in zip(rerun, raws, strict=True):
        record = out.records.get(raw["name"])
        if record is None or record.inputs is None:
            raise Declined(f"{raw['name']!r} was not called again")
        if record.skipped or raw.get("skipped"):
            raise Declined(f"{raw['name']!r} skips something, now or before")
        fresh[at] = record
    return fresh


def _failures(doc: dict[str, Any], plugins: list[dict[str, Any]], records: list[Any]) -> list[Any]:
    """The document's failures with the records' own ones as *records* have them now.

    The merge reports every record's own failures first (a plugin that failed to import,
    whose hook raised), in record order, then those of the offers, the import-time classes,
    the conflicts and the derived secondaries: the previous document's first failures must
    be its records' own (else :class:`Declined`), and they are replaced by the new records'
    (a plugin that fails now, or no longer fails, changes only that part: its offers are
    judged as an amended answer's)."""
    before = [f for raw in plugins for f in raw.get("failures", ())]
    failures: list[Any] = doc["failures"]
    if failures[: len(before)] != before:
        raise Declined("the failures are not the records' own first")
    now = [f for raw in records for f in raw.get("failures", ())]
    return now + failures[len(before) :] if now != before else failures


def _hooks(
    doc: dict[str, Any], rerun: list[int], raws: list[dict[str, Any]], records: list[Any]
) -> list[int]:
    """The records whose hook ran, by index, in calling order: the previous document's if
    no record called again changed its priority (a plugin that fails to import now is not
    called, one that no longer fails is), else as pluggy orders *records*
    (:func:`._extended.calling_indexes`)."""
    if all(
        records[at].get("priority") == raw.get("priority")
        for at, raw in zip(rerun, raws, strict=True)
    ):
        hooks: list[int] = doc["hooks"]
        return hooks
    from ._extended import calling_indexes

    return calling_indexes(records)


def _declared(raws: list[dict[str, Any]], rerun: list[int], at: int) -> dict[str, Any]:
    """The stored record at position *at*, as declared now (one of *raws*)."""
    return raws[rerun.index(at)]


def _identity(raw: dict[str, Any]) -> dict[str, Any]:
    """Stored record *raw* without what a record replaced may have changed
    (:data:`_MAY_CHANGE`): its identity, declaration and version."""
    return {field: value for field, value in raw.items() if field not in _MAY_CHANGE}


def _answer(
    config: Any,
    doc: dict[str, Any],
    rerun: list[int],
    raws: list[dict[str, Any]],
    stored: list[dict[str, Any]],
) -> dict[str, Any]:
    """The items and secondaries: the previous ones, the offers of the records called
    again replaced if they changed (each record keeps its index)."""
    if all(now.get("offers") == raw.get("offers") for now, raw in zip(stored, raws, strict=True)):
        return {"items": doc["items"], "secondaries": doc["secondaries"]}
    from ._amended import amended_answer

    return amended_answer(config, doc, rerun, stored)


def _tops(config: Any, records: list[Any]) -> set[str]:
    """The top-level names the launch record names for *records* (stored forms, the
    ``<environment>`` record left out): every entry point's module's, the discovery
    packages', and those each record looked up or looked for and did not find (as
    :func:`._discovery._recording.record_environment` gathers them)."""
    tops: set[str] = {p.partition(".")[0] for p in config.discovery_packages}
    for raw in records:
        add_launch_tops(tops, raw)
    tops.discard("")
    return tops


def _watched(modules: dict[str, Any], files: list[list[Any]]) -> set[str]:
    """The modules of module table *modules* whose file is recorded present in *files*
    (those a reference may point into for its record to be taken as it is)."""
    count = len(files)
    return {
        mod_name
        for mod_name, at in modules.items()
        if type(at) is int and 0 <= at < count and files[at][1] is not None
    }
