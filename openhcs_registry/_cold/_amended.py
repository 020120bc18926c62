"""The answer amended: an edit that changed only what a plugin offers writes the previous
answer with that plugin's offers replaced (cold).

A plugin author's edit often changes what the plugin offers (a class added, renamed or
taken out, a key changed, a secondary derived otherwise) while it reads what it read
before: the same files, folders and modules.  A full discovery then finds every other
record as it was, and the merge gives every other key the winner it had; the edited
plugin's keys go to its new offers, provided no other record offers any of its old or
new keys or objects (then no conflict, override or object offered twice involves them,
and no loser is promoted when an old key goes).  :func:`answer_amended` proves that from
the sections the edit's path read (:func:`._unchanged._answer_edited`) and writes the
previous document with the plugin's record, its items and the secondaries derived from
them replaced, without parsing or building the other plugins' records: at 2000 plugins
the general path it replaces costs ≈ 2.8x a warm start (benchmarks/ANALYSIS.md).

"No other record offers it" is decided on the stored records' bytes: the JSON text of a
key or reference (as the writer, ``orjson``, encodes every string of the document) found
anywhere in the records section outside the edited records' own bytes declines the path.
A string met in another role (a module named like a key) declines too: a false alarm only
costs the general path, never a wrong answer.  Every other check is the edit's
(:func:`._unchanged._same_records`): the record read again is the stored one but for its
offers, each of them accepted, its reference into a module the plugin imported.

The path over the whole document (an upgrade's, an edit the sections cannot tell) amends
its answer the same way (:func:`amended_fields`), deciding on the parsed records' offers.
"""

from __future__ import annotations

import orjson

from .._fileio import RECORD_OFFSETS, Encoded, cold_checksum
from .._log import get_logger
from ._reuse import stored_refers_outside
from ._unchanged import Declined, Rerun, _Edit, _spliced, file_columns_now, found_at

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    #: an answer's entry: (reference, the record's index, whether the key was given)
    Entry = tuple[Any, int, bool]
    #: the offers of the records called again, by position, then by key
    Offers = dict[int, dict[str, list[Any]]]

    from .._cache import Previous, RegistryCacheManager
    from .._config import RegistryConfig

logger = get_logger("openhcs_registry")


def answer_amended(
    manager: RegistryCacheManager,
    previous: Previous,
    plan: _Edit,
    rows: dict[int, list[Any]],
    stored: list[dict[str, Any]],
    out: Rerun,
) -> None:
    """Set ``out.snapshot`` to the previous answer with the offers of the plugins called
    again (*plan*) replaced by theirs now (their records as stored now: *stored*; their
    new file rows: *rows*), the document written, if that is what a full discovery gives;
    else log why not (then the general path goes on from what ran)."""
    name = manager.config.name
    try:
        fields, sections, cols = _amended(manager.config, previous, plan, rows, stored)
        out.snapshot = _spliced(manager, previous, rows, cols, fields, sections)
    except Exception as exc:  # declined (the reason logged), or a shape not foreseen
        logger.debug("registry %s: answer amended not proven: %s", name, exc)
        return
    logger.debug(
        "registry %s: answer amended after %d plugin(s) called again: their offers "
        "replaced (%d of %d records parsed)",
        name,
        len(plan.rerun),
        len(plan.rerun),
        previous.warm["plugins"],
    )


def _amended(
    config: RegistryConfig,
    previous: Previous,
    plan: _Edit,
    rows: dict[int, list[Any]],
    stored: list[dict[str, Any]],
) -> tuple[dict[str, Any], dict[str, Encoded], list[list[Any]]]:
    """The new warm answer fields, the new records' sections and the new file columns
    (else :class:`Declined`)."""
    warm = previous.warm
    names = {sec.name for sec in config.secondary_registries}
    old, new, owner = _offer_changes(names, plan.rerun, plan.raws, stored)
    data = bytes(plan.plugins.data)
    spans = [(plan.offsets[at], plan.offsets[at + 1]) for at in plan.rerun]
    for text in owner:
        if _named_elsewhere(data, orjson.dumps(text), spans):
            raise Declined(f"{text!r} is named by another record")
    cols = file_columns_now(previous, rows)
    present = cols[0]
    _refers_inside(
        plan.tables[2], lambda at: 0 <= at < len(present) and present[at] is not None, stored
    )
    groups = warm["secondaries"]
    if type(groups) is not dict or set(groups) != names:
        raise Declined("the secondary registries differ")
    fields = {
        "items": _columns(_swapped(_entries_of_columns(warm["items"]), old, new, None)),
        "secondaries": {
            name: _columns(_swapped(_entries_of_columns(group), old, new, name))
            for name, group in groups.items()
        },
    }
    return fields, _records_section(data, plan, stored), cols


def amended_fields(
    config: RegistryConfig,
    doc: dict[str, Any],
    rows: dict[int, list[Any]],
    rerun: list[int],
    stored: list[dict[str, Any]],
) -> dict[str, Any]:
    """:func:`amended_answer`, each new offer referring into a checked module (the
    records' ``reads`` are carried over; their new file rows: *rows*)."""
    answer = amended_answer(config, doc, rerun, stored)
    files: list[list[Any]] = doc["files"]

    def present(at: int) -> bool:
        return 0 <= at < len(files) and (rows[at] if at in rows else files[at])[1] is not None

    _refers_inside(doc["modules"], present, stored)
    return answer


def amended_answer(
    config: RegistryConfig,
    doc: dict[str, Any],
    rerun: list[int],
    stored: list[dict[str, Any]],
) -> dict[str, Any]:
    """The items and secondaries (in the plain form) of the whole document *doc* with the
    offers of the records at the positions *rerun* replaced by those they store now
    (*stored*), decided on the other records' offers (else :class:`Declined`)."""
    plugins: list[dict[str, Any]] = doc["plugins"]
    names = {sec.name for sec in config.secondary_registries}
    old, new, owner = _offer_changes(names, rerun, [plugins[at] for at in rerun], stored)
    called = set(rerun)
    for at, raw in enumerate(plugins):
        if at not in called:
            for row in raw.get("offers", ()):
                if row[0] in owner or row[1] in owner:
                    raise Declined(f"{raw['name']!r} offers a key or object of theirs")
    groups = doc["secondaries"]
    if type(groups) is not dict or set(groups) != names:
        raise Declined("the secondary registries differ")
    return {
        "items": _plain(_swapped(_entries_of_plain(doc["items"]), old, new, None)),
        "secondaries": {
            name: _plain(_swapped(_entries_of_plain(group), old, new, name))
            for name, group in groups.items()
        },
    }


def _offer_changes(
    names: set[str], rerun: list[int], raws: list[dict[str, Any]], stored: list[dict[str, Any]]
) -> tuple[Offers, Offers, dict[str, int]]:
    """The offers of the records at the positions *rerun* as stored before (*raws*) and
    now (*stored*), by position and key (each checked by :func:`_offers`, *names*: the
    secondary registries), and every key and reference they name, by the record naming
    it (none named by two: else :class:`Declined`)."""
    old: Offers = {}
    new: Offers = {}
    owner: dict[str, int] = {}
    for at, raw, now in zip(rerun, raws, stored, strict=True):
        old[at] = _offers(raw, names)
        new[at] = _offers(now, names)
        for offers in (old[at], new[at]):
            for key, row in offers.items():
                for text in (key, row[1]):
                    if owner.setdefault(text, at) != at:
                        raise Declined(f"{text!r} is offered by two plugins called again")
    return old, new, owner


def _offers(raw: dict[str, Any], secondary_names: set[str]) -> dict[str, list[Any]]:
    """The stored offers of record *raw* by key, if each is accepted with a reference, of
    a key it offers once, deriving only known secondaries as references (else
    :class:`Declined`: the merge would judge more than a winner per key)."""
    out: dict[str, list[Any]] = {}
    for row in raw.get("offers", ()):
        if not (
            type(row) is list
            and len(row) in (3, 5)
            and type(row[0]) is str
            and type(row[1]) is str
            and type(row[2]) is bool
            and (len(row) == 3 or (row[3] is None and type(row[4]) is dict))
        ):
            raise Declined(f"an offer of {raw.get('name')!r} is refused or of another shape")
        if len(row) == 5:
            derived = row[4]
            if not derived.keys() <= secondary_names or not all(
                value is None or type(value) is str for value in derived.values()
            ):
                raise Declined(f"an offer of {raw.get('name')!r} derives what is not stored")
        if row[0] in out:
            raise Declined(f"{raw.get('name')!r} offers key {row[0]!r} twice")
        out[row[0]] = row
    return out


def _named_elsewhere(data: bytes, needle: bytes, spans: list[tuple[int, int]]) -> bool:
    """Whether *needle* occurs in *data* outside every one of *spans* (start, end)."""
    return any(not any(start <= at < end for start, end in spans) for at in found_at(data, needle))


def _refers_inside(
    modules: Any, present: Callable[[int], bool], stored: list[dict[str, Any]]
) -> None:
    """Each offer of the records as *stored* now refers (itself and its derived
    secondaries) into a module of the module table *modules* whose file is recorded as
    *present*: each record stays one that may be taken as it is (its ``reads`` entry is
    carried over), as :func:`._reuse.plain_reads` would judge it (else
    :class:`Declined`)."""
    if type(modules) is not dict:
        raise Declined("the module table is of another shape")

    def watched(ref: str) -> bool:
        at = modules.get(ref.partition(":")[0])
        return type(at) is int and present(at)

    for raw in stored:
        if stored_refers_outside(raw, watched):
            raise Declined(f"{raw['name']!r} refers into a module not checked")


def _swapped(
    entries: dict[str, Entry], old: Offers, new: Offers, secondary: str | None
) -> dict[str, Entry]:
    """The answer's group *entries* (key: reference, record, keyed), sorted by key as the
    writer sorts them, with the entries of the records *old* names taken out and those of
    *new* put in; the items if *secondary* is None, else that secondary's entries, derived
    from the offers (else :class:`Declined`: the stored entries are not the ones those
    offers gave)."""
    for at, offers in old.items():
        for key, row in offers.items():
            if entries.pop(key, None) != _entry(row, at, secondary):
                raise Declined(f"key {key!r} is not the stored winner of its offer")
    for at, offers in new.items():
        for key, row in offers.items():
            entry = _entry(row, at, secondary)
            if key in entries:
                raise Declined(f"key {key!r} has another entry")
            if entry is not None:
                entries[key] = entry
    return {key: entries[key] for key in sorted(entries)}


def _entries_of_columns(columns: Any) -> dict[str, Entry]:
    """The entries of an answer's group in the written form (keys, references, record
    indexes, keyed rows: see :func:`.._cache.pack`)."""
    if not (
        type(columns) is list
        and len(columns) == 4
        and all(type(col) is list for col in columns)
        and len(columns[0]) == len(columns[1]) == len(columns[2])
    ):
        raise Declined("the answer's columns are of another shape")
    keys, refs, ps, keyed_at = columns
    keyed = set(keyed_at)
    entries = {key: (refs[i], ps[i], i in keyed) for i, key in enumerate(keys)}
    if len(entries) != len(keys) or keys != sorted(keys):
        raise Declined("the answer's keys are not unique and sorted")
    return entries


def _columns(entries: dict[str, Entry]) -> list[list[Any]]:
    """*entries* in the written form."""
    rows = list(entries.values())
    return [
        list(entries),
        [entry[0] for entry in rows],
        [entry[1] for entry in rows],
        [i for i, entry in enumerate(rows) if entry[2]],
    ]


def _entries_of_plain(group: Any) -> dict[str, Entry]:
    """The entries of an answer's group in the plain form (key: ``{"ref", "p", "keyed"}``)."""
    if type(group) is not dict or not all(type(row) is dict for row in group.values()):
        raise Declined("the answer is of another shape")
    return {
        key: (row.get("ref"), row.get("p"), row.get("keyed") is True) for key, row in group.items()
    }


def _plain(entries: dict[str, Entry]) -> dict[str, Any]:
    """*entries* in the plain form (as :func:`._document._items` writes them)."""
    out: dict[str, Any] = {}
    for key, (ref, at, keyed) in entries.items():
        out[key] = {"ref": ref, "p": at, "keyed": True} if keyed else {"ref": ref, "p": at}
    return out


def _entry(row: list[Any], at: int, secondary: str | None) -> Entry | None:
    """The entry offer *row* of record *at* gives in the items (*secondary* None) or in a
    secondary: ``(reference, record, keyed)``, None for no entry."""
    if secondary is None:
        return (row[1], at, row[2])
    derived = row[4].get(secondary) if len(row) == 5 else None
    return None if derived is None else (derived, at, False)


def _records_section(data: bytes, plan: _Edit, stored: list[dict[str, Any]]) -> dict[str, Encoded]:
    """The records section with the records called again as stored now, and where each
    record starts in it (:data:`.._fileio.RECORD_OFFSETS`)."""
    offsets = plan.offsets
    parts: list[bytes] = []
    moved: list[int] = []
    done = 0  # (bytes of the old section taken so far)
    shift = 0
    todo = dict(zip(plan.rerun, stored, strict=True))
    for at in range(len(offsets) - 1):
        start, end = offsets[at], offsets[at + 1] - 1  # (the record, without its comma)
        moved.append(start + shift)
        now = todo.get(at)
        if now is None:
            continue
        try:
            encoded = orjson.dumps(now)
        except TypeError:
            raise Declined("a record cannot be stored") from None
        parts.append(data[done:start])
        parts.append(encoded)
        done = end
        shift += len(encoded) - (end - start)
    parts.append(data[done:])
    moved.append(offsets[-1] + shift)
    section = b"".join(parts)
    if len(section) != moved[-1]:
        raise Declined("the records section is not where its offsets say")
    table = orjson.dumps(moved)
    return {
        "plugins": Encoded(section, cold_checksum(section)),
        RECORD_OFFSETS: Encoded(table, cold_checksum(table)),
    }
