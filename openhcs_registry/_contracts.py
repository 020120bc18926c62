"""Finding the contracts: entry points read straight from the installed metadata files.

The engine never imports a contracts package by name.  Contracts packages (OpenHCS's own
``openhcs_hookspecs`` and any third-party one) declare their modules under the
``openhcs.contracts`` entry-point group; the CLI and the pytest plugin import what is declared
there (:func:`import_contracts`).  Listing entry points with :mod:`importlib.metadata` costs
~45 ms of imports, more than a whole warm ``openhcs-registry list``, so :func:`build_index`
reads ``entry_points.txt`` of the ``*.dist-info`` / ``*.egg-info`` folders on ``sys.path``
itself, and :func:`.settings.declared` answers from the document it writes.

The index (``entry_points_index.json`` in the cache folder, written and read by
:mod:`._fileio` like every cache) holds the ``openhcs`` family of groups (``openhcs``,
``openhcs.contracts``, ``openhcs.settings``, ...) and is valid while

- the environment fingerprint is unchanged (interpreter, ``sys.path``, each folder's stat
  signature: installing, upgrading or removing a distribution adds or removes a metadata
  folder, which moves its site folder's mtime), and
- every ``entry_points.txt`` that declares an ``openhcs*`` entry point has the same stat
  signature (an editable project whose metadata is rewritten in place).

So a warm look costs one document read and a few ``stat`` calls; the environment's are shared
with the registry caches' checks.  A registry's start does not need the index while its
document's environment section holds, nor after an install whose new folders declare no
switch (:func:`._cold._entrypoints.declares_switches`, see :func:`._cache._checked_env`):
the index is then rebuilt by the next process that reads it.  Like importlib.metadata, the
first distribution of a name on ``sys.path`` wins; unlike it, the launch folder (``sys.path[0]``
of a script, ``''``) is not searched, as it is not part of the environment fingerprint either -
a project checkout's own ``*.egg-info`` next to the script is not an installation.  A metadata
file that gains its first ``openhcs*`` entry point in place (installers write a new metadata
folder instead, which moves the site folder's mtime; only a hand edit does that) is seen once
its site folder changes: watching every distribution's file would cost a ``stat`` per
installed distribution on every warm start.
"""

from __future__ import annotations

import os
import sys

from . import _environment, _fileio, settings
from ._paths import cache_file
from ._version import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    #: ``{declaration path: (stat signature, [(group, name, value), ...])}``
    Declarations = dict[str, tuple[list[Any], list[tuple[str, str, str]]]]

#: The group contracts packages declare their contract modules in.
CONTRACTS_GROUP = settings.INDEXED_GROUPS + ".contracts"

_METADATA_SUFFIXES = (".dist-info", ".egg-info")


def import_contracts(group: str = CONTRACTS_GROUP) -> list[str]:
    """Import every contract module declared under *group*; return the modules imported.

    Each import is isolated: a contracts package that fails to import (or raises SystemExit)
    is logged once and left out, and the others still count.
    """
    import importlib

    imported: list[str] = []
    for dist, name, value in settings.declared(group):
        module = value.split(":", 1)[0].split("[", 1)[0].strip()
        if not module:
            continue
        try:
            importlib.import_module(module)
        except BaseException as exc:  # SystemExit from a contracts module included; not ^C
            if isinstance(exc, KeyboardInterrupt):
                raise
            _fileio.warn_once(
                f"contracts:{module}",
                "contracts %s = %s (distribution %s) cannot be imported and is left out: %r",
                name,
                value,
                dist,
                exc,
            )
            continue
        imported.append(module)
    return imported


def build_index() -> dict[str, list[list[str]]]:
    """Scan ``sys.path`` and write the index document (cold path; stats taken before reading).

    Returns ``{group: [[distribution, name, value], ...]}`` for the ``openhcs*`` groups.
    """
    fingerprint = _environment.environment_fingerprint(fresh=True)
    files: list[list[Any]] = []
    entries: dict[str, list[list[str]]] = {}
    seen: set[str] = set()
    # one pass over every distribution of the environment (thousands at a large plugin
    # set, rebuilt whenever one is installed): paths joined by hand, no folder test unless
    # the declaration is missing, bytes read without a text layer, and only a file that
    # mentions the group family at all decoded and parsed
    family = settings.INDEXED_GROUPS.encode()
    # the fresh look begun above: its listings and stats are the ones the registry caches'
    # checks, incremental reuse and the discovery scan of this burst then reuse (taken
    # before any file is read)
    snap = _environment.snapshot()
    stat = snap.stat
    # declarations the previous index read, by their stat signature then: an unchanged one
    # is not read again (an install rebuilds the index over every distribution of the
    # environment) - its family entries are taken from that index, and one without any
    # stays plain; with the caches off, everything is read
    cached = not settings.cache_disabled()
    index_path = cache_file(settings.ENTRY_POINT_INDEX_FILE) if cached else None
    known_plain, known_files = _previous_index(index_path) if index_path is not None else ({}, {})
    plain: dict[str, list[str]] = {}
    # the declarations this process's discovery scan read already, with the same stat
    # signature (a cold start scans, then builds the index): not read a second time
    scanned = sys.modules.get(f"{__package__}._cold._entrypoints")
    read_before = getattr(scanned, "declaration_read", None)
    for folder in _environment.search_path():
        names = snap.listing(folder)
        if names is None:
            continue
        prefix = folder if folder.endswith("/") else folder + "/"
        plain_here = plain[folder] = []
        # a plain declaration of the previous index is unchanged iff its row (folder name
        # and stat signature) is one of that folder's rows: one set test, no parse
        known_here = known_plain.get(folder, _NO_ROWS)
        for item in [n for n in names if n.endswith(_METADATA_SUFFIXES)]:
            dist = item.rsplit(".", 1)[0].split("-", 1)[0]
            canonical = dist.lower().replace("_", "-").replace(".", "-")
            if not dist or canonical in seen:
                continue
            meta = prefix + item
            text_path = meta + "/entry_points.txt"
            signature = stat(text_path)
            if signature is None:
                if os.path.isdir(meta):
                    seen.add(canonical)  # the first of a name on sys.path wins
                continue
            seen.add(canonical)  # (a folder: it holds a file)
            row = f"{item}\t{signature[0]}\t{signature[1]}\t{signature[2]}\t{signature[3]}"
            if row in known_here:
                plain_here.append(row)
                continue  # read before with this signature: no family entry in it
            before = known_files.get(text_path)
            if before is not None and before[0] == signature:
                found = before[1]  # read before with this signature: these entries
            else:
                data = read_before(text_path, signature) if read_before is not None else None
                if data is None:
                    data = _read_declaration(text_path, signature[1])
                if data is None:
                    continue
                if family not in data:
                    plain_here.append(row)
                    continue  # no section of the family can be declared in it
                found = parse_entry_points(data.decode("utf-8", "replace"))
            if not found:
                plain_here.append(row)
                continue  # watched through its site folder only (see the module docstring)
            files.append([text_path, signature, dist, [list(row) for row in found]])
            for group, name, value in found:
                entries.setdefault(group, []).append([dist, name, value])
    if scanned is not None:
        scanned.forget_reads()
    if index_path is not None:
        _write_index(index_path, fingerprint, files, plain)
    return entries


#: (no rows known for a folder)
_NO_ROWS: frozenset[str] = frozenset()


def _read_declaration(text_path: str, size: int) -> bytes | None:
    """The bytes of an ``entry_points.txt`` whose stat said *size* (None if unreadable)."""
    try:
        fd = os.open(text_path, os.O_RDONLY)
        try:  # one read while the size is the stat's (one byte more tells the end)
            data = os.read(fd, size + 1)
            if len(data) > size:  # it grew since: read on to its end
                chunks = [data]
                while chunk := os.read(fd, 1 << 16):
                    chunks.append(chunk)
                data = b"".join(chunks)
        finally:
            os.close(fd)
    except OSError:
        return None
    return data


def _write_index(
    index_path: Any, fingerprint: Any, files: list[list[Any]], plain: dict[str, list[str]]
) -> None:
    """Write the index document: the family's declarations, and the plain ones by stat."""
    doc = {
        "index_format": settings.ENTRY_POINT_INDEX_FORMAT,
        "version": __version__,
        "environment": fingerprint,
        "files": files,  # [path, stat signature, distribution, [[group, name, value]]]
        # per sys.path entry, one string (one object to parse on a warm read, which
        # never looks at it): "folder\tmtime\tsize\tctime\tinode" lines of the
        # declarations without a family entry, for the next rebuild
        "plain": {folder: "\n".join(rows) for folder, rows in plain.items() if rows},
    }
    _fileio.write_document(index_path, doc)


def _previous_index(path: Any) -> tuple[dict[str, set[str]], Declarations]:
    """What the previous index read: ``{sys.path entry: {row, ...}}`` of its plain
    declarations (a row is ``metadata folder, mtime, size, ctime, inode`` joined by tabs),
    and its family declarations with their entries; nothing if that document is missing,
    unreadable, of another format or version, or of the wrong shape (then every
    declaration is read)."""
    try:
        doc = _fileio.read_document(path)
        if (
            not isinstance(doc, dict)
            or doc.get("index_format") != settings.ENTRY_POINT_INDEX_FORMAT
            or doc.get("version") != __version__
        ):
            return {}, {}
        found = doc.get("plain")
        if not isinstance(found, dict):
            return {}, {}
        plain = {
            folder: set(text.split("\n"))
            for folder, text in found.items()
            if isinstance(folder, str) and isinstance(text, str)
        }
        return plain, _family_declarations(doc.get("files"))
    except Exception:  # a document of the wrong shape: read everything
        return {}, {}


def _family_declarations(files: Any) -> Declarations:
    """The previous index's ``files`` rows, each checked for shape (a bad one is left out:
    its declaration is read again)."""
    out: Declarations = {}
    for row in files if isinstance(files, list) else ():
        if not (isinstance(row, list) and len(row) == 4 and isinstance(row[0], str)):
            continue
        path, signature, _dist, entries = row
        if not (isinstance(signature, list) and len(signature) == 4 and isinstance(entries, list)):
            continue
        found = [
            (e[0], e[1], e[2])
            for e in entries
            if isinstance(e, list) and len(e) == 3 and all(isinstance(x, str) for x in e)
        ]
        if len(found) == len(entries):
            out[path] = (signature, found)
    return out


def parse_entry_points(text: str) -> list[tuple[str, str, str]]:
    """``(group, name, value)`` of the ``openhcs*`` sections of an ``entry_points.txt``."""
    from ._cold._entrypoints import parse_sections

    prefix = settings.INDEXED_GROUPS
    return parse_sections(text, lambda g: g == prefix or g.startswith(prefix + "."))
