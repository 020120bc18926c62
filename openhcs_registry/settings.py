"""Environment switches, read at the moment they matter (never frozen at import).

The engine's own switches are constants here.  Switches that change what a contract's
``skip`` rule answers (OpenHCS's ``OPENHCS_SUBPROCESS_NO_GPU``) belong to the contracts
package, which declares their names under the ``openhcs.settings`` entry-point group; the
engine records their values in every cache without knowing what they mean.

So every cache check needs the declared entry points, and :func:`declared` - the warm reader
of the entry-point index that :mod:`._contracts` builds - lives here rather than in a module of
its own: every warm start imports this module anyway, and importing one more module costs more
than reading the index (~0.15 ms against ~0.03 ms).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

CACHE_DIR_ENV = "OPENHCS_CACHE_DIR"
DISABLE_CACHE_ENV = "OPENHCS_DISABLE_REGISTRY_CACHE"
NO_ENTRY_POINTS_ENV = "OPENHCS_DISABLE_ENTRY_POINTS"
#: The entry-point group naming the environment switches that contracts' skip rules read.
SWITCHES_GROUP = "openhcs.settings"
#: The family of entry-point groups the index holds (``openhcs`` and ``openhcs.*``).
INDEXED_GROUPS = "openhcs"
#: The engine's own distribution (``_discovery.BUILTIN_DISTRIBUTION``): listed first.
OWN_DISTRIBUTION = "openhcs-registry"

_TRUE = {"1", "true", "yes", "on"}


def env_flag(name: str) -> bool:
    """True when the variable is set to 1/true/yes/on (case-insensitive)."""
    return os.environ.get(name, "").strip().lower() in _TRUE


def cache_disabled() -> bool:
    return env_flag(DISABLE_CACHE_ENV)


def entry_points_disabled() -> bool:
    """True when entry-point plugins are not loaded at all (tests, isolated runs)."""
    return env_flag(NO_ENTRY_POINTS_ENV)


def declared_switches() -> tuple[str, ...]:
    """Names of the environment switches installed contracts packages declare (sorted).

    Declared in metadata, not registered by code, so the answer is the same in every process
    of an environment, whatever it imported first.
    """
    return tuple(sorted({name for _, name, _ in declared(SWITCHES_GROUP)}))


def discovery_settings() -> dict[str, str]:
    """Settings that change what discovery finds; recorded in (and checked against) caches.

    The engine's entry-point switch, and the raw value (``""`` when unset) of every declared
    contract switch.
    """
    recorded = {NO_ENTRY_POINTS_ENV: "1" if entry_points_disabled() else "0"}
    for name in declared_switches():
        recorded[name] = os.environ.get(name, "")
    return recorded


# -- the installed entry points, without importlib.metadata --------------------------------------
#: (the environment fingerprint object the index was valid for, the index by group, and the
#: sorted answers already given for it by group).
_memo: tuple[object, dict[str, list[list[str]]], dict[str, list[tuple[str, str, str]]]] | None
_memo = None


def forget_entry_points() -> None:
    """Drop the in-process memo: the next look reads (or rebuilds) the index document."""
    global _memo
    _memo = None


def declared(group: str) -> list[tuple[str, str, str]]:
    """``(distribution, name, value)`` of every installed entry point of *group*.

    Only the ``openhcs`` family of groups is indexed.  Ordered as registries order plugins:
    the engine's own distribution first, then by normalised distribution name and name.
    Read from the index document (see :mod:`._contracts`), memoised for the environment
    snapshot the registry caches share.  The list is shared: treat it as read-only.
    """
    if group != INDEXED_GROUPS and not group.startswith(INDEXED_GROUPS + "."):
        raise ValueError(f"only the {INDEXED_GROUPS!r} groups are indexed, not {group!r}")
    global _memo
    from ._environment import environment_fingerprint

    fingerprint = environment_fingerprint()
    memo = _memo
    if memo is None or memo[0] is not fingerprint:
        found = None if cache_disabled() else _load_index(fingerprint)
        if found is None:
            from ._contracts import build_index

            found = build_index()
            fingerprint = environment_fingerprint()
        memo = _memo = (fingerprint, found, {})
    answers = memo[2]
    out = answers.get(group)
    if out is None:
        out = [(row[0], row[1], row[2]) for row in memo[1].get(group, ())]
        out.sort(key=lambda r: (_canonical(r[0]) != OWN_DISTRIBUTION, _canonical(r[0]), r[1]))
        answers[group] = out
    return out


def switched_distributions() -> list[str] | None:
    """The normalised names of the distributions declaring a discovery switch, if the
    index was read in this look at the environment (as a discovery's settings are), else
    None: the caller then keeps what it recorded before (see
    :func:`._cold._entrypoints.switches_kept`, which reads it back)."""
    memo = _memo
    if memo is None:
        return None
    from ._cold._entrypoints import canonical  # (the rule the check compares names by)
    from ._environment import environment_fingerprint

    if memo[0] is not environment_fingerprint():
        return None
    return sorted({canonical(row[0]) for row in memo[1].get(SWITCHES_GROUP, ())})


def _load_index(fingerprint: dict[str, Any]) -> dict[str, list[list[str]]] | None:
    """The index document's entries if it is valid for this environment, else None."""
    from . import _environment, _fileio
    from ._paths import cache_file
    from ._version import __version__

    path = cache_file(ENTRY_POINT_INDEX_FILE)
    try:
        doc = _fileio.read_document(path)
    except (_fileio.UnsafeCacheFile, ValueError) as exc:
        _fileio.warn_once(str(path), "entry-point index %s ignored and rebuilt: %s", path, exc)
        return None
    if (
        doc is None
        or doc.get("index_format") != ENTRY_POINT_INDEX_FORMAT
        or doc.get("version") != __version__
        or doc.get("environment") != fingerprint
    ):
        return None
    files = doc.get("files")
    if not isinstance(files, list):
        return None
    # every entry comes with the metadata file it was read from, which must be a
    # ``<sys.path folder>/<x>.dist-info|.egg-info/entry_points.txt`` with the recorded stat
    # signature: a document can only repeat what installed metadata says (same trust as a
    # registry cache's references, which must point into recorded sources)
    snap = _environment.snapshot()
    folders = set(snap.entries)
    entries: dict[str, list[list[str]]] = {}
    for item in files:
        if not isinstance(item, list) or len(item) != 4:
            return None
        path, signature, dist, rows = item
        if not isinstance(path, str) or not isinstance(dist, str) or not isinstance(rows, list):
            return None
        meta, base = os.path.split(path)
        if base != "entry_points.txt" or not meta.endswith((".dist-info", ".egg-info")):
            return None
        if os.path.dirname(meta) not in folders or snap.stat(path) != signature:
            return None
        for row in rows:
            if not isinstance(row, list) or len(row) != 3 or not all(map(_is_str, row)):
                return None
            entries.setdefault(row[0], []).append([dist, row[1], row[2]])
    return entries


ENTRY_POINT_INDEX_FILE = "entry_points_index.json"
#: Bump when the index document's layout changes.
ENTRY_POINT_INDEX_FORMAT = 2


def _is_str(value: object) -> bool:
    return isinstance(value, str)


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")
