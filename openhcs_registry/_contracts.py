"""Finding the contracts: entry points read straight from the installed metadata files.

The engine never imports a contracts package by name.  Contracts packages (OpenHCS's own
``openhcs_hookspecs`` and any third-party one) declare their modules under the
``openhcs.contracts`` entry-point group; the CLI and the pytest plugin import what is declared
there.  Listing entry points with :mod:`importlib.metadata` costs ~45 ms of imports, more than
a whole warm ``openhcs-registry list``, so this module reads ``entry_points.txt`` of the
``*.dist-info`` / ``*.egg-info`` folders on ``sys.path`` itself.

The answer is remembered in a small private document (``entry_points_index.json`` in the
cache folder, written and read by :mod:`._fileio` like every cache) that is valid while

- the environment fingerprint is unchanged (interpreter, ``sys.path``, each folder's stat
  signature: installing, upgrading or removing a distribution adds or removes a metadata
  folder, which moves its site folder's mtime), and
- every ``entry_points.txt`` it read has the same stat signature (an editable project whose
  metadata is rewritten in place).

So a warm look costs one document read and a few ``stat`` calls; the environment's are shared
with the registry caches' checks.  Only the ``openhcs`` family of groups (``openhcs`` and
``openhcs.*``) is indexed.  Like importlib.metadata, the first distribution of a name on
``sys.path`` wins; unlike it, the launch folder (``sys.path[0]`` of a script, ``''``) is not
searched, as it is not part of the environment fingerprint either - a project checkout's own
``*.egg-info`` next to the script is not an installation.  A metadata folder that gains an
``entry_points.txt`` in place (no installer does that) is seen once its site folder changes.

On the warm path: imports only ``os`` and modules the registry caches' check imports anyway.
"""

from __future__ import annotations

import os

from . import _environment, _fileio, settings
from ._log import get_logger
from ._version import __version__
from .config import DEFAULT_ENTRY_POINT_GROUP
from .paths import get_openhcs_cache_dir

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

logger = get_logger("openhcs_registry.contracts")

#: The group contracts packages declare their contract modules in.
CONTRACTS_GROUP = DEFAULT_ENTRY_POINT_GROUP + ".contracts"
INDEX_FILE = "entry_points_index.json"
#: Bump when the index document's layout changes.
INDEX_FORMAT = 1
#: The engine's own distribution (``discovery.BUILTIN_DISTRIBUTION``): listed first.
OWN_DISTRIBUTION = "openhcs-registry"

_METADATA_SUFFIXES = (".dist-info", ".egg-info")

#: In-process memo: (the environment fingerprint object it was valid for, the index).
_memo: tuple[object, dict[str, list[list[str]]]] | None = None


def forget() -> None:
    """Drop the in-process memo: the next look reads (or rebuilds) the index document."""
    global _memo
    _memo = None


def declared(group: str) -> list[tuple[str, str, str]]:
    """``(distribution, name, value)`` of every entry point of *group* (``openhcs*`` only).

    Ordered as registries order plugins: the engine's own distribution first, then by
    normalised distribution name and entry-point name.
    """
    if group != DEFAULT_ENTRY_POINT_GROUP and not group.startswith(DEFAULT_ENTRY_POINT_GROUP + "."):
        raise ValueError(
            f"only the {DEFAULT_ENTRY_POINT_GROUP!r} groups are indexed, not {group!r}"
        )
    rows = _index().get(group, [])
    out = [(row[0], row[1], row[2]) for row in rows]
    out.sort(key=lambda r: (_canonical(r[0]) != OWN_DISTRIBUTION, _canonical(r[0]), r[1]))
    return out


def import_contracts(group: str = CONTRACTS_GROUP) -> list[str]:
    """Import every contract module declared under *group*; return the modules imported.

    Each import is isolated: a contracts package that fails to import (or raises SystemExit)
    is logged once and left out, and the others still count.
    """
    import importlib

    imported: list[str] = []
    for dist, name, value in declared(group):
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


# -- the index ----------------------------------------------------------------------------------
def _index() -> dict[str, list[list[str]]]:
    global _memo
    fingerprint = _environment.environment_fingerprint()
    memo = _memo
    if memo is not None and memo[0] is fingerprint:
        return memo[1]
    entries = _load(fingerprint) if not settings.cache_disabled() else None
    if entries is None:
        entries = _rebuild()
        fingerprint = _environment.environment_fingerprint()
    _memo = (fingerprint, entries)
    return entries


def _load(fingerprint: dict[str, Any]) -> dict[str, list[list[str]]] | None:
    path = get_openhcs_cache_dir() / INDEX_FILE
    try:
        doc = _fileio.read_document(path)
    except (_fileio.UnsafeCacheFile, ValueError) as exc:
        _fileio.warn_once(str(path), "entry-point index %s ignored and rebuilt: %s", path, exc)
        return None
    if doc is None:
        return None
    if doc.get("index_format") != INDEX_FORMAT or doc.get("version") != __version__:
        return None
    if doc.get("environment") != fingerprint:
        return None
    files = doc.get("files")
    entries = doc.get("entries")
    if not isinstance(files, list) or not isinstance(entries, dict):
        return None
    snap = _environment.snapshot()
    for item in files:
        if not isinstance(item, list) or len(item) != 2 or not isinstance(item[0], str):
            return None
        if snap.stat(item[0]) != item[1]:
            return None
    for rows in entries.values():
        if not isinstance(rows, list) or not all(_row_ok(r) for r in rows):
            return None
    return entries


def _row_ok(row: object) -> bool:
    return isinstance(row, list) and len(row) == 3 and all(isinstance(x, str) for x in row)


def _rebuild() -> dict[str, list[list[str]]]:
    """Scan ``sys.path`` and write the document (cold path; stats taken before reading)."""
    fingerprint = _environment.environment_fingerprint(fresh=True)
    files: list[list[Any]] = []
    entries: dict[str, list[list[str]]] = {}
    seen: set[str] = set()
    for folder in _environment.search_path():
        try:
            names = sorted(os.listdir(folder))
        except (OSError, ValueError):
            continue
        for item in names:
            if not item.endswith(_METADATA_SUFFIXES):
                continue
            dist = item.rsplit(".", 1)[0].split("-", 1)[0]
            canonical = _canonical(dist)
            if not dist or canonical in seen:
                continue
            meta = os.path.join(folder, item)
            if not os.path.isdir(meta):
                continue
            seen.add(canonical)  # the first of a name on sys.path wins, as for importlib
            text_path = os.path.join(meta, "entry_points.txt")
            signature = _environment.file_stat(text_path)
            if signature is None:
                continue
            try:
                with open(text_path, encoding="utf-8", errors="replace") as handle:
                    text = handle.read()
            except OSError:
                continue
            files.append([text_path, signature])
            for group, name, value in _parse(text):
                entries.setdefault(group, []).append([dist, name, value])
    if not settings.cache_disabled():
        doc = {
            "index_format": INDEX_FORMAT,
            "version": __version__,
            "environment": fingerprint,
            "files": files,
            "entries": entries,
        }
        _fileio.write_document(get_openhcs_cache_dir() / INDEX_FILE, doc)
    return entries


def _parse(text: str) -> list[tuple[str, str, str]]:
    """``(group, name, value)`` of the ``openhcs*`` sections of an ``entry_points.txt``."""
    out: list[tuple[str, str, str]] = []
    group: str | None = None
    prefix = DEFAULT_ENTRY_POINT_GROUP
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            group = section if section == prefix or section.startswith(prefix + ".") else None
            continue
        if group is None or "=" not in line:
            continue
        name, _, value = line.partition("=")
        name, value = name.strip(), value.strip()
        if name and value:
            out.append((group, name, value))
    return out


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")
