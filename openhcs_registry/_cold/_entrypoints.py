"""An entry-point scan that scales: folder listings, one ``stat`` per distribution.

``importlib.metadata.entry_points()`` parses every distribution's METADATA (through an
e-mail parser) to learn its name, several times per call, and reads every
``entry_points.txt``.  At 2000 plugin distributions that is most of a cold discovery.  Here:

* distributions are found by listing each ``sys.path`` entry (``*.dist-info``,
  ``*.egg-info``; inside a zip archive on ``sys.path`` too);
* name and version come from the folder name (``name-version.dist-info``, as pip and every
  installer write it); METADATA/PKG-INFO is read, once, only when the name lacks a version;
* ``entry_points.txt`` is read only for a distribution that is new or whose declaration
  file changed (its stat signature differs from the previous scan); otherwise the previous
  scan's entry points of the group are reused.

Rules, as ``importlib.metadata`` applies them: the first distribution of a (normalised) name
on ``sys.path`` wins; an entry point is ``name = module[:attr] [extras]`` under
``[group]``.  The launch entry (script folder, current directory) is not scanned: it is not
fingerprinted either (see :mod:`._environment`).

Cold path only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator
from operator import itemgetter

from .._environment import file_stat

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TypeAlias

    #: One scanned distribution: ``[folder, mtime, size, ctime, ino]`` of its declaration
    #: file, plus ``[[ep name, value], ...]`` of the group when it declares any.
    Row: TypeAlias = list[Any]

_NORMALISE = re.compile(r"[-_.]+")

#: The folder name endings of distribution metadata.
_METADATA_FOLDERS = (".dist-info", ".egg-info")

#: The recorded signature of a declaration file that does not exist.
_NOSIG: list[Any] = [None, None, None, None]


def canonical(name: str) -> str:
    """The normalised distribution name (PEP 503), as the conflict rule compares it."""
    # without runs of separators, replacing each is the rule (and ~3x cheaper than the
    # regular expression, once per distribution of the environment on every scan)
    out = name.replace("_", "-").replace(".", "-")
    if "--" in out:
        return _NORMALISE.sub("-", name).lower()
    return out.lower()


def named(
    found: Iterable[tuple[str, str, str, str | None, str | None]],
) -> Iterator[tuple[str, str, str, str, str | None, str | None]]:
    """Each declared entry point ``(distribution, name, value, version, group)`` of
    *found*, in order, with the name of its plugin record first: its own name, or
    ``"<distribution>:<name>"`` when an earlier one took it.  The one rule by which
    discovery names records and the install start compares the stored ones."""
    seen: set[str] = set()
    for dist, ep_name, value, version, group in found:
        name = ep_name if ep_name not in seen else f"{dist}:{ep_name}"
        seen.add(name)
        yield name, dist, ep_name, value, version, group


def declared_as_stored(raw: dict[str, Any], dist: str, value: str) -> bool:
    """Whether stored entry-point record *raw* is the one declaration *value* of
    distribution *dist* gives (module, distribution, declared value; the version aside):
    how the incremental paths compare the stored records with the entry points declared
    now."""
    return (
        raw["module"] == split_value(value)[0]
        and raw.get("distribution") == dist
        and (raw.get("declaration") or raw["module"]) == value
    )


def split_value(value: str) -> tuple[str, str | None]:
    """The module and the attribute path (None: the module itself) of entry-point *value*
    (``module:attr [extras]``)."""
    module, _, attr = value.split("[", 1)[0].strip().partition(":")
    return module.strip(), attr.strip() or None


class EntryPoint:
    """One declared entry point of the group (what discovery loads)."""

    __slots__ = ("attr", "distribution", "group", "module", "name", "value", "version")

    def __init__(
        self,
        name: str,
        value: str,
        distribution: str,
        version: str | None,
        group: str | None = None,
    ) -> None:
        self.group = group
        self.name = name
        self.value = value
        self.module, self.attr = split_value(value)
        self.distribution = distribution
        self.version = version

    def load(self) -> Any:
        """Import the module and follow the attribute path (``importlib.metadata``'s rule)."""
        import functools
        import importlib

        module = importlib.import_module(self.module)
        return functools.reduce(getattr, [a for a in (self.attr or "").split(".") if a], module)


def entry_points(group: str) -> list[EntryPoint]:
    """The entry points of *group* on ``sys.path`` now (cold path: no previous scan)."""
    from .._environment import search_path

    return scan(search_path(), group)[0]


def all_entry_points() -> list[EntryPoint]:
    """Every group's entry points on ``sys.path`` now, each with its ``group``.

    For ``explain()``'s evidence (an entry point declared in another group): the same
    listing, first-of-a-name rule and parser as discovery's scan, so ``why`` sees exactly
    the distributions discovery sees.
    """
    from .._environment import search_path

    return scan(search_path(), None)[0]


def parse_sections(text: str, wanted: Any) -> list[tuple[str, str, str]]:
    """``(group, name, value)`` of the sections of an ``entry_points.txt`` that *wanted*
    (``group -> bool``) accepts: the one parser of declarations (discovery, the index)."""
    out: list[tuple[str, str, str]] = []
    group: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            group = section if wanted(section) else None
            continue
        if group is None or "=" not in line:
            continue
        name, _, value = line.partition("=")
        name, value = name.strip(), value.strip()
        if name and value:
            out.append((group, name, value))
    return out


def parse_entry_points(text: str, group: str | None) -> list[list[str]]:
    """``[[name, value], ...]`` declared under ``[group]`` in an ``entry_points.txt``
    (``[[name, value, group], ...]`` of every section if *group* is None)."""
    if group is None:
        return [[name, value, g] for g, name, value in parse_sections(text, bool)]
    return [[name, value] for _, name, value in parse_sections(text, group.__eq__)]


def _version(entry: str, folder: str, rest: str) -> str | None:
    """The version of the distribution of metadata *folder* in ``sys.path`` entry *entry*:
    from the folder name (*rest*: what follows the name in it), else its METADATA."""
    version = rest.split("-", 1)[0] if rest else None
    return version or _metadata_version(os.path.join(entry, folder))


def _version_from(text: str) -> str | None:
    for line in text.splitlines():
        if line.startswith("Version:"):
            return line[8:].strip() or None
        if not line.strip():
            break  # end of the headers
    return None


def _read_bytes(path: str) -> bytes | None:
    """The bytes of *path*, or None if it cannot be read.

    Read as bytes and decoded by the caller: a text-mode ``open`` builds three file objects
    and a decoder per call, which was most of reading thousands of small declaration files.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except (OSError, ValueError):
        return None
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
    except OSError:
        return None
    finally:
        os.close(fd)
    return b"".join(chunks)


def _read(path: str) -> str | None:
    """The text of *path* (UTF-8, bad bytes replaced), or None if it cannot be read.

    (Lines are split with ``str.splitlines``, so newline translation changes nothing.)
    """
    data = _read_bytes(path)
    return None if data is None else data.decode("utf-8", "replace")


#: ``entry_points.txt`` path -> (its stat signature, the bytes read after that stat), of the
#: declarations the scans of this process read.  A cold start reads every distribution's
#: declaration for the discovery scan and then once more to build the entry-point index
#: (:func:`.._contracts.build_index`, whose stat of the file is the same): the index takes
#: the bytes from here instead (:func:`declaration_read`).
_read_now: dict[str, tuple[list[Any], bytes]] = {}


def declaration_read(path: str, signature: Any) -> bytes | None:
    """The bytes a scan of this process read from declaration *path* after a stat that
    gave *signature* (None: not read with that signature).

    A file whose signature was the same before that read and at the caller's stat is the
    one read (a change moves the signature; a change that does not is the racy case every
    stat-based check shares), so the caller may take these bytes as read after its stat.
    """
    found = _read_now.pop(path, None)
    if found is None or found[0] != list(signature):
        return None
    return found[1]


def forget_reads() -> None:
    """Drop the bytes :func:`declaration_read` would give (the index is built)."""
    _read_now.clear()


#: One declared entry point as :func:`declared` gives it:
#: ``(distribution, name, value, version, group)``.
Declared = tuple[str, str, str, "str | None", "str | None"]


def scan(
    entries: list[str],
    group: str | None,
    previous: dict[str, list[Row]] | None = None,
    listed: dict[str, list[str] | None] | None = None,
    stat: Any = file_stat,
) -> tuple[list[EntryPoint], dict[str, list[Row]]]:
    """The group's entry points on *entries* and the scan to record (see module docstring).

    *previous* is an earlier scan's record (``{entry: rows}``); an unchanged declaration
    file's entry points are taken from it instead of being read again.  *listed* holds
    folder listings already taken, *stat* the stat function to use.  *group* None scans
    every group (each entry point then carries its own ``group``).
    """
    found, record = declared(entries, group, previous, listed, stat)
    return [
        EntryPoint(name, value, dist, version, g) for dist, name, value, version, g in found
    ], record


#: The sort key of :func:`declared` (distribution, entry-point name), called in C.
_first = itemgetter(0, 1)


def declared(
    entries: list[str],
    group: str | None,
    previous: dict[str, list[Row]] | None = None,
    listed: dict[str, list[str] | None] | None = None,
    stat: Any = file_stat,
    vouched: set[str | None] | None = None,
) -> tuple[list[Declared], dict[str, list[Row]]]:
    """:func:`scan`'s entry points as plain tuples (:data:`Declared`), in the same order.

    *vouched*, if given, holds the only entry-point values a row of *previous* may be
    taken with: a row declaring another one is read again.

    Discovery reuses most records of an incremental start without loading their entry
    points: it compares a declaration with the record and needs no :class:`EntryPoint`
    (building thousands of them, module and attribute parsed, was a good part of the scan).
    """
    previous = previous or {}
    listed = listed or {}
    _read_now.clear()  # (held for the index build that may follow this scan, no longer)
    record: dict[str, list[Row]] = {}
    for entry in entries:
        old = {row[0]: row for row in previous.get(entry, ())}
        rows = record[entry] = []
        names = listed.get(entry)
        if names is None:
            try:
                names = os.listdir(entry)
            except NotADirectoryError:
                rows.extend(_scan_zip(entry, group))
                names = []
            except (OSError, ValueError):
                continue
        prefix = entry if entry.endswith("/") else entry + "/"  # (joined by hand: thousands)
        for folder in sorted([n for n in names if n.endswith(_METADATA_FOLDERS)]):
            declaration = prefix + folder + "/entry_points.txt"
            sig = stat(declaration)  # None: none declared (or a PKG-INFO-style file)
            before = old.get(folder)
            if before is not None and before[1:5] == (sig or _NOSIG):
                eps = before[5] if len(before) > 5 else []
                if eps and vouched is not None:
                    for ep in eps:
                        if ep[1] not in vouched:
                            before = None
                            break
            else:
                before = None
            if before is None:
                rows.append(_read_row(declaration, folder, sig, group))
                continue
            row: Row = [folder, *(sig or _NOSIG)]
            if eps:
                row.append(eps)
            rows.append(row)
    return _declared_by(entries, record, group), record


def _declared_by(
    entries: list[str], record: dict[str, list[Row]], group: str | None
) -> list[Declared]:
    """The entry points scan rows *record* declare, sorted as :func:`declared` gives them:
    the first distribution of a name on ``sys.path`` wins, as importlib.metadata decides
    (the version is worked out only for a distribution that declares something)."""
    seen: set[str] = set()
    found: list[Declared] = []
    for entry in entries:
        for row in record.get(entry, ()):
            folder = row[0]
            raw, _, rest = folder.rsplit(".", 1)[0].partition("-")
            name = canonical(raw)
            if name in seen:
                continue
            seen.add(name)
            if len(row) > 5:
                version = _version(entry, folder, rest)
                for ep in row[5]:
                    found.append((name, ep[0], ep[1], version, ep[2] if group is None else group))
    found.sort(key=_first)  # (stable: one name declared twice keeps the file's order)
    return found


def _read_row(declaration: str, folder: str, sig: Any, group: str | None) -> Row:
    """The scan's row of metadata *folder*, its declaration read (after the stat that gave
    *sig*, None: there is none) and kept for the index build that may follow."""
    data = _read_bytes(declaration) if sig is not None else None
    if data is not None and sig is not None:
        _read_now[declaration] = (list(sig), data)
    text = data.decode("utf-8", "replace") if data is not None else None
    eps = parse_entry_points(text, group) if text else []
    row: Row = [folder, *(sig or _NOSIG)]
    if eps:
        row.append(eps)
    return row


def appeared(
    entries: list[str],
    group: str,
    previous: dict[str, Any],
    new: dict[str, list[str]],
    stat: Any = file_stat,
) -> tuple[list[Declared], dict[str, list[Row]]] | None:
    """What :func:`declared` finds that *previous* did not, and the scan to record, when
    every metadata folder *previous* scanned still declares what it did and *new* are the
    folders that appeared since (:func:`new_distributions`, in the check that found the
    recorded declarations unchanged by their stamp).

    After ``pip install`` of one distribution the full scan compares thousands of
    unchanged rows one by one to find one new folder; here the previous rows are kept as
    they are (a table at a time), only the new folders are stat'ed and read, and only
    their entry points are returned (sorted as :func:`declared` sorts).  The previous
    ones are then exactly what they were: none vanished (no folder is gone, no declaration
    changed) and none is shadowed (none of *new* may be of a scanned distribution).  None
    when that cannot be told this way (``sys.path`` other than scanned, folders other than
    *new* says, a declaring folder without a version in its name, whose METADATA the full
    scan reads again): then :func:`declared` scans in full.
    """
    _read_now.clear()
    if list(previous) != entries or list(new) != entries:
        return None
    record: dict[str, list[Row]] = {}
    added: dict[str, list[Row]] = {}  # the new folders' rows, per entry
    for entry, rows in previous.items():
        fresh = new[entry]
        if not fresh:
            record[entry] = rows
            continue
        prefix = entry if entry.endswith("/") else entry + "/"
        rows_new: list[Row] = []
        for folder in fresh:
            declaration = prefix + folder + "/entry_points.txt"
            rows_new.append(_read_row(declaration, folder, stat(declaration), group))
        added[entry] = rows_new
        record[entry] = sorted(rows + rows_new, key=_folder)
    if not added:
        return [], record
    declaring = [row[0] for rows in previous.values() for row in rows if len(row) > 5]
    if _VERSIONLESS.search("\n".join(declaring)):
        return None  # a declaring folder's version is read from its METADATA each scan
    # (no new folder is of a distribution listed before it: new_distributions() checked)
    return _declared_by(entries, added, group), record


def new_distributions(
    recorded: dict[str, list[str]], listing: Callable[[str], list[str] | None]
) -> dict[str, list[str]] | None:
    """Per ``sys.path`` entry of *recorded* (its metadata folders, sorted, as a scan
    recorded them), the metadata folders *listing* gives now that it does not name, if
    folders were only added and none may be of a distribution already there or of
    another new one (the first of a name wins: one would shadow the other); else None.

    The caller knows every recorded declaration is unchanged (their stamp): then what
    these folders declare is all that can be new (:func:`appeared`,
    :func:`declares_switches`).
    """
    out: dict[str, list[str]] = {}
    fresh: list[str] = []
    listed = _listed(recorded, listing)
    if listed is None:
        return None
    for entry, olds, metas in listed:
        if metas == olds:
            out[entry] = []
            continue
        known = set(olds)
        added = [n for n in metas if n not in known]
        if len(metas) - len(added) != len(olds):
            return None  # a recorded folder is gone
        out[entry] = added
        fresh.extend(added)
    if fresh and _clash([n for names in recorded.values() for n in names], fresh):
        return None
    return out


def _listed(
    recorded: dict[str, list[Any]], listing: Callable[[str], list[str] | None]
) -> list[tuple[str, list[Any], list[str]]] | None:
    """Each recorded ``sys.path`` entry with its recorded metadata folders (or rows) and
    the metadata folders *listing* gives for it now, sorted (none: nothing there, as
    recorded); None if an entry that recorded folders is gone, or is an archive (its
    content is not listed)."""
    out: list[tuple[str, list[Any], list[str]]] = []
    for entry, olds in recorded.items():
        names = listing(entry)
        if names is None:
            if olds or os.path.isfile(entry):
                return None
            names = []
        out.append((entry, olds, sorted([n for n in names if n.endswith(_METADATA_FOLDERS)])))
    return out


def declares_switches(new: dict[str, list[str]]) -> bool:
    """Whether a metadata folder of *new* (per ``sys.path`` entry) may declare a
    discovery switch: its ``entry_points.txt`` names the switches' group."""
    from .. import settings

    group = settings.SWITCHES_GROUP.encode()
    for entry, folders in new.items():
        prefix = entry if entry.endswith("/") else entry + "/"
        for folder in folders:
            data = _read_bytes(prefix + folder + "/entry_points.txt")
            if data is not None and group in data:
                return True
    return False


def switches_kept(
    recorded: dict[str, list[Any]],
    switched: list[str],
    listing: Callable[[str], list[str] | None],
    stat: Callable[[str], Any],
) -> bool:
    """Whether the discovery switches declared now are the recorded ones, after metadata
    folders vanished (an uninstall) and perhaps others appeared (an upgrade), told from
    the recorded scan *recorded* (``{entry: rows}``: each row ``[folder, *stat, ...]``)
    and *switched*, the distributions that declared a switch when it was written.

    So when each recorded folder still listed has its recorded declaration stat, no
    vanished folder is of a distribution of *switched*, none vanished leaves another
    folder of its name to be found instead (the first of a name wins), and no folder that
    appeared may declare a switch or shadow a recorded one: what vanished declared no
    switch, and what appeared declares none.  Otherwise the settings are compared in full.
    """
    vanished: list[str] = []
    appeared: dict[str, list[str]] = {}
    remaining: list[str] = []
    listed = _listed(recorded, listing)
    if listed is None:
        return False
    for entry, rows, metas in listed:
        now = set(metas)
        prefix = entry if entry.endswith("/") else entry + "/"
        for row in rows:
            folder = row[0]
            if folder not in now:
                vanished.append(folder)
                continue
            now.discard(folder)
            remaining.append(folder)
            if (stat(prefix + folder + "/entry_points.txt") or _NOSIG) != row[1:5]:
                return False  # a declaration rewritten in place
        appeared[entry] = sorted(now)
    gone = {canonical(f.rsplit(".", 1)[0].partition("-")[0]) for f in vanished}
    if not gone.isdisjoint(switched):
        return False
    left = {canonical(f.rsplit(".", 1)[0].partition("-")[0]) for f in remaining}
    if not gone.isdisjoint(left):
        return False  # another folder of a removed name would be found instead
    fresh = [f for folders in appeared.values() for f in folders]
    return not fresh or not (_clash(remaining, fresh) or declares_switches(appeared))


def _clash(before: list[str], fresh: list[str]) -> bool:
    """Whether a metadata folder of *fresh* may be of the same distribution as one of
    *before* or another of *fresh* (the first of a name on ``sys.path`` wins, so one of
    them is shadowed), or has a name the rule cannot place (a leading or trailing
    separator): a longer name that begins like one of *before* counts too.

    *before* is searched as one string: every name normalised as :func:`canonical`
    normalises a distribution name, one a line, so a folder of the distribution named
    ``c`` begins its line with ``c-`` (what follows the name begins with a separator).
    """
    joined = "\n" + "\n".join(before).lower()
    normal = joined.replace("_", "-").replace(".", "-")
    if "--" in normal:
        normal = _NORMALISE.sub("-", joined)
    seen: set[str] = set()
    for folder in fresh:
        name = canonical(folder.rsplit(".", 1)[0].partition("-")[0])
        if not name or name[0] == "-" or name[-1] == "-" or name in seen:
            return True
        if f"\n{name}-" in normal:
            return True
        seen.add(name)
    return False


#: The sort key of a scan's rows (the metadata folder's name).
_folder = itemgetter(0)

#: A metadata folder name whose version :func:`_version` reads from METADATA (one name a
#: line): no dash before the suffix, or the first dash followed by another or the suffix.
_VERSIONLESS = re.compile(
    r"^[^-\n]*(?:-(?:-|\.(?:dist|egg)-info$)|\.(?:dist|egg)-info$)", re.MULTILINE
)


def _metadata_version(base: str) -> str | None:
    for name in ("METADATA", "PKG-INFO"):
        text = _read(os.path.join(base, name)) if os.path.isdir(base) else _read(base)
        if text:
            return _version_from(text)
    return None


def _scan_zip(archive: str, group: str | None) -> list[Row]:
    """Distributions inside a zip archive on ``sys.path`` (its own content is checked)."""
    import zipfile  # only here: a zip on sys.path is rare, and zipfile costs ~5-10 ms

    try:
        with zipfile.ZipFile(archive) as zf:
            rows: list[Row] = []
            for info in zf.namelist():
                folder, _, leaf = info.partition("/")
                if leaf == "entry_points.txt" and folder.endswith((".dist-info", ".egg-info")):
                    text = zf.read(info).decode("utf-8", "replace")
                    eps = parse_entry_points(text, group)
                    rows.append([folder, *_NOSIG, *([eps] if eps else [])])
            return sorted(rows, key=lambda r: r[0])
    except (OSError, ValueError, zipfile.BadZipFile):
        return []
