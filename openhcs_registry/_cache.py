"""The persistent registry cache: one orjson document per registry, checked with ``os.stat``.

A document is trusted only when every check passes (format, library version, age, the
registry's own settings, interpreter and ``sys.path`` fingerprint, discovery settings, the
files discovery recorded, and the still-missing dependencies of failed plugins).  Anything
else is a miss, and a miss is never an error: the registry simply discovers afresh.

Checking imports nothing but ``orjson``: no pluggy, no importlib.metadata, no plugin module.
"""

from __future__ import annotations

import gc
import os
import sys
import time
from itertools import repeat

from . import _fileio, settings
from ._config import RegistryConfig
from ._diagnostics import PluginFailure
from ._environment import (
    WORKING_DIRECTORY,
    environ_digest,
    environ_value,
    launch_folder,
    signatures,
    snapshot,
)
from ._log import get_logger
from ._paths import registry_cache_file
from ._snapshot import Entry, Snapshot, Stored
from ._version import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any, TypeGuard

    from ._environment import _Snapshot as _EnvSnapshot

logger = get_logger("openhcs_registry.cache")

#: Bump when the document layout changes; older files are then simply rebuilt.
CACHE_VERSION = 15  # 2: checksummed; 3: import-free checksum; 4: per-plugin inputs;
#                    5: per-plugin records (provenance once per plugin, items refer to it);
#                    6: warm/cold split, the recorded stats folded into one stamp;
#                    7: the cold part's sum is CRC-32 + Adler-32 (_fileio.cold_checksum)
#                    8: the environment section first, as bytes a burst checks once;
#                    9: stamps fold the signatures as one tuple (signatures, in C), the
#                       answer's items as columns, the module tables as text (pack);
#                   10: a head saying where the warm part ends, and its sum (_fileio._with_head)
#                   11: the cold part in sections, each with its sum, the records with
#                       their offsets, the file rows as columns, and per record what an
#                       edit's path needs without parsing it (reads: pack)
#                   12: the interpreter named by the stat of its binary, not its real path
#                       (_environment.interpreter_identity)
#                   13: the start-up files (.pth, sitecustomize) in the environment section
#                       (_cold._startup)
#                   14: the environment variables plugins read, in the environment
#                       section (_cold._inputs.environ_rows)
#                   15: each record names the variables it read (a change calls those
#                       plugins again, not all: _cold._reuse)

#: Allowed clock skew for timestamps from the future (another host sharing $HOME).
_FUTURE_TOLERANCE = 300.0


class CollectorHeld:
    """The cyclic collector held off meanwhile, then set back as it was.

    For the engine's own work: reading a document and answering from it, an incremental
    answer, and after a full discovery's plugin code (imports, hook calls: run with the
    collector as the application set it) the records, the merge and the document written.
    What that builds is live or freed by reference count, never cyclic garbage, so a
    collection then would only traverse it, and every object of the process with it.
    """

    __slots__ = ("collecting",)

    def __enter__(self) -> None:
        self.collecting = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc: object) -> None:
        if self.collecting:
            gc.enable()


class CacheInvalid(Exception):
    """The document is well-formed but no longer describes this environment (stale)."""


class CacheChanged(CacheInvalid):
    """Stale because some plugin's recorded inputs changed; the rest may be reused.

    ``full`` is the whole document (:func:`full_document`) if the check already read it.
    ``files_only``: raised by the file table's check (its stamp or a racy digest), after
    the header, the environment section and the launch record held; what else may have
    changed (folders, missing modules) was not looked at.  Also raised when only
    variables plugins read changed (after every other check held): then, and when files
    and variables changed, ``memo["variables"]`` names them.  ``appeared``: raised because
    a ``sys.path`` entry changed (an install, a removal), every recorded distribution's
    declaration has its recorded stat (their stamp holds) and metadata folders were only
    added, none of a distribution already there: these folders per ``sys.path`` entry,
    whose declarations are all that can be new.  ``settings_hold``: the
    recorded discovery settings were found to be the settings now (names and values).
    """

    full: dict[str, Any] | None = None
    #: what the check worked out for the incremental paths, when it compared the file
    #: rows: the rows that changed (``files_changed``) and the columns it compared
    #: (``file_columns``); see :attr:`Previous.memo`
    memo: dict[str, Any] | None = None
    files_only = False
    appeared: dict[str, list[str]] | None = None
    settings_hold = False


class CacheCorrupt(Exception):
    """The document is unreadable, hostile or of the wrong shape."""


#: Not worked out yet (:attr:`Previous.scanned`).
_UNREAD: Any = object()


class Previous:
    """A document that no longer holds as a whole, but whose header still does.

    Incremental rediscovery takes from it the records of the plugins whose own inputs are
    unchanged (see :meth:`reusable`) and the entry-point scan.
    """

    __slots__ = (
        "_full",
        "_scanned",
        "appeared",
        "files_only",
        "memo",
        "reason",
        "settings_hold",
        "warm",
    )

    def __init__(
        self,
        doc: dict[str, Any],
        reason: str,
        full: dict[str, Any] | None = None,
        files_only: bool = False,
        appeared: dict[str, list[str]] | None = None,
        settings_hold: bool = False,
        memo: dict[str, Any] | None = None,
    ) -> None:
        #: the document as read: its warm fields, the cold part unparsed (an edit's path
        #: parses the sections it needs: :func:`._cold._unchanged.answer_unchanged`)
        self.warm = doc
        self._full: Any = _UNREAD if full is None else full
        self.reason = reason
        #: the check found a recorded file changed and nothing before it (see
        #: :class:`CacheChanged`): the answer may be unchanged (:mod:`._cold._unchanged`)
        self.files_only = files_only
        #: the metadata folders that appeared, if they are all that changed in the
        #: distributions (see :class:`CacheChanged`)
        self.appeared = appeared
        #: the recorded discovery settings are the settings now (see :class:`CacheChanged`)
        self.settings_hold = settings_hold
        #: what the incremental paths worked out and share, each trying it in turn (the
        #: entry points declared now, see :func:`._cold._unchanged.declared_now`; the
        #: file rows that changed, see :class:`._cold._reuse._Changes`, and the file
        #: columns they were compared with, when the check compared them)
        self.memo: dict[str, Any] = {} if memo is None else memo
        self._scanned: Any = _UNREAD

    @property
    def doc(self) -> dict[str, Any] | None:
        """The whole document: its warm fields with the cold part's over them (see
        :func:`full_document`, parsed on first use), or None if the cold part is unusable
        (reuse nothing)."""
        if self._full is _UNREAD:
            self._full = None
            # (as in load(): parsing builds tens of thousands of containers, none garbage;
            # with the collector on, a parse at 2000 plugins set off collections that
            # traversed them all, ~30 ms)
            with CollectorHeld():
                try:
                    self._full = full_document(self.warm)
                except Exception as exc:  # a cold part of the wrong shape: rediscover everything
                    logger.debug("previous cache document not reusable: %s", exc)
        return self._full  # type: ignore[no-any-return]

    @property
    def scanned(self) -> dict[str, Any] | None:
        """The previous entry-point scan (rows of the wrong shape dropped).

        Discovery reuses a row's entry points only where they are declarations of records it
        reuses (see :func:`._discovery.run_discovery`); any other row's file is read again.
        """
        if self._scanned is _UNREAD:
            self._scanned = self._scan()
        return self._scanned  # type: ignore[no-any-return]

    def _scan(self) -> dict[str, Any] | None:
        if self.doc is None:
            return None
        try:
            found = self.doc.get("distributions")
            if type(found) is not dict:
                return None
            out: dict[str, Any] = {}
            # (plain loops, no generators: thousands of rows at a large plugin set)
            for entry, rows in found.items():
                kept = out[entry] = []
                for row in rows:
                    if type(row) is not list:
                        continue
                    size = len(row)
                    if size < 5 or type(row[0]) is not str:
                        continue
                    if size == 6:
                        eps = row[5]
                        if type(eps) is not list:
                            continue
                        for ep in eps:
                            if not (
                                type(ep) is list
                                and len(ep) == 2
                                and type(ep[0]) is str
                                and type(ep[1]) is str
                            ):
                                break
                        else:
                            kept.append(row)
                    elif size == 5:
                        kept.append(row)
            return out
        except Exception:
            return None

    def reusable(self) -> dict[str, Any]:
        """``{name: PluginRecord}`` of the records safe to reuse (cold path; never raises)."""
        if self.doc is None:
            return {}
        try:
            from ._cold._reuse import reusable_records

            return reusable_records(self.doc, self.memo)
        except Exception as exc:  # a document of the wrong shape: reuse nothing
            logger.debug("previous cache document not reusable: %s", exc)
            return {}


#: Entries modified this close to the cache write may change again within the same
#: filesystem timestamp tick without their mtime moving ("racy", as git calls it), so they
#: also get a content digest (:func:`._document._is_racy`).  Whole-second mtimes mean a
#: coarse filesystem: a wider window.
_RACY_NS = 100_000_000
_RACY_COARSE_NS = 2_500_000_000


def _digest(path: str) -> int | None:
    """Checksum of a file's bytes (only for racy entries)."""
    try:
        with open(path, "rb") as fh:
            return _fileio.checksum(fh.read())
    except (OSError, ValueError):
        return None


def _sig_record(rec: object, extra: int, what: str) -> list[Any]:
    """A recorded ``[path, mtime, size, ctime, ino, checksum, (names)]`` row, shape-checked."""
    if not (type(rec) is list and 5 <= len(rec) <= 5 + extra and type(rec[0]) is str):
        raise CacheCorrupt(f"bad {what} record")
    for value in rec[1:6]:
        if value is not None and type(value) is not int:
            raise CacheCorrupt(f"bad {what} record for {rec[0]}")
    return rec


def _folder_unchanged(path: str, rec: list[Any], now: list[int] | None, racy_ns: int) -> bool:
    """A folder is unchanged if its stat is, or else if its list of entries is.

    A folder's mtime also moves when ``__pycache__`` appears in it or a file in it is
    replaced by one of the same name; its listing says whether the set of modules changed.
    Folders modified within the racy window of the write are always compared by listing.
    """
    if now is None:
        return rec[1] is None  # still missing, or gone
    if now == rec[1:5] and rec[1] < racy_ns:
        return True
    if len(rec) <= 5 or rec[5] is None:
        return False
    # listed once per look (the warm check, the entry-point index, reuse and discovery)
    return bool(snapshot().checksum(path) == rec[5])


#: How a declaration file that does not exist is recorded (see :mod:`._entrypoints`).
_NOSIG = [None, None, None, None]

#: Distribution rows of one ``sys.path`` entry remembered as checked for the snapshot (the
#: other registries of a burst record the same rows) only up to this many: a large list
#: kept alive costs more at exit, and in the collector, than comparing it again saves.
_VERIFIED_ROWS = 512


def _expect(cond: bool, what: str) -> None:
    if not cond:
        raise CacheCorrupt(what)


def _obj(value: object, what: str) -> dict[str, Any]:
    """*value* if it is a JSON object, else the document is corrupt."""
    if not isinstance(value, dict):
        raise CacheCorrupt(f"{what} is not an object")
    return value


def _list(value: object, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise CacheCorrupt(f"{what} is not a list")
    return value


def _items(raw: object, count: int, table: Stored, where: str) -> dict[str, Entry]:
    """The items of one group, from their columns (see :func:`pack`).

    Shapes are checked here, by whole columns; where a reference points is checked when it
    is resolved: only into a module discovery recorded (:func:`._resolve.import_entry`,
    which rediscovers instead), and its full syntax then too (:func:`.refs.parse`).  A warm
    start pays for the items it reads, not for their modules.
    """
    keys, refs, plugins, keyed = _column_lists(raw, where)
    if keys and (
        {*map(type, keys)} != {str}
        or {*map(type, refs)} != {str}
        or {*map(type, plugins)} != {int}
        or "" in keys
    ):
        raise CacheCorrupt(f"{where}: a key, reference or plugin of the wrong type")
    if plugins and not (min(plugins) >= 0 and max(plugins) < count):
        raise CacheCorrupt(f"{where}: an item names no recorded plugin")
    out = dict(
        zip(keys, map(Entry, keys, refs, plugins, repeat(False), repeat(table)), strict=True)
    )
    if len(out) != len(keys):
        raise CacheCorrupt(f"{where}: a key given twice")
    for at in keyed:
        out[keys[at]].keyed = True
    return out


def _column_lists(raw: object, where: str) -> tuple[list[Any], list[Any], list[Any], list[int]]:
    """One group's four columns (see :func:`pack`): lists, the keys, references and plugin
    indexes of one length, the keyed rows indexes of keys (one shape check for the warm
    answer, :func:`_items`, and the plain form, :func:`_rows`)."""
    if not (type(raw) is list and len(raw) == 4 and all(type(c) is list for c in raw)):
        raise CacheCorrupt(f"{where} is not a list of four columns")
    keys, refs, plugins, keyed = raw
    if not len(keys) == len(refs) == len(plugins):
        raise CacheCorrupt(f"{where}: columns of different lengths")
    for at in keyed:
        if type(at) is not int or not 0 <= at < len(keys):
            raise CacheCorrupt(f"{where}: bad keyed row")
    return keys, refs, plugins, keyed


def _failures(raw: object, what: str) -> list[PluginFailure]:
    try:
        return [PluginFailure.from_json(f) for f in _list(raw, what)]
    except ValueError as exc:
        raise CacheCorrupt(str(exc)) from exc


class RegistryCacheManager:
    """Reads, validates, writes and clears the cache file of one registry.

    ``blocked`` names plugins blocked for this registry; they change what discovery finds,
    so they are part of the recorded settings.
    """

    def __init__(self, config: RegistryConfig, blocked: frozenset[str] = frozenset()) -> None:
        self.config = config
        self.blocked = blocked
        #: set by :meth:`load` when the document is stale only because some plugins'
        #: inputs changed: what incremental rediscovery starts from
        self.previous: Previous | None = None

    # -- location ---------------------------------------------------------------------------
    @property
    def path(self) -> Path:
        """This registry's cache file (``pathlib`` imported on first use: see :attr:`file`)."""
        from pathlib import Path

        return Path(self.file)

    @property
    def file(self) -> str:
        """This registry's cache file as a string: what the engine itself uses."""
        return registry_cache_file(self.config.name)

    @property
    def enabled(self) -> bool:
        return self.config.enable_cache and not settings.cache_disabled()

    # -- reading ----------------------------------------------------------------------------
    def load(self) -> Snapshot | None:
        """The valid cached state, or None (missing, stale or corrupt: then rebuild)."""
        if not self.enabled:
            return None
        path = self.file
        # parsing builds tens of thousands of containers at a large plugin set; none can be
        # garbage, so the cyclic collector is held off meanwhile (it ran ~40 times per
        # load at 2000 plugins), then left as it was
        with CollectorHeld():
            try:
                doc = _fileio.read_document(path, lazy=True)
            except _fileio.StaleFormat as exc:
                logger.info(
                    "registry %s: cache %s is stale (%s); rediscovering",
                    self.config.name,
                    path,
                    exc,
                )
                return None
            except (_fileio.UnsafeCacheFile, ValueError) as exc:
                _fileio.warn_once(str(path), "registry cache %s ignored and rebuilt: %s", path, exc)
                return None
            if doc is None:
                logger.debug("registry %s: no cache file at %s", self.config.name, path)
                return None
            try:
                state = self.validate(doc, path)
            except CacheChanged as exc:
                logger.info(
                    "registry %s: cache is stale (%s); rediscovering what changed",
                    self.config.name,
                    exc,
                )
                self.previous = Previous(
                    doc,
                    str(exc),
                    exc.full,
                    exc.files_only,
                    exc.appeared,
                    exc.settings_hold,
                    exc.memo,
                )
                return None
            except CacheInvalid as exc:
                logger.info(
                    "registry %s: cache is stale (%s); rediscovering", self.config.name, exc
                )
                return None
            except CacheCorrupt as exc:
                _fileio.warn_once(
                    str(path), "registry cache %s is corrupt (%s); rebuilding it", path, exc
                )
                return None
            except Exception as exc:  # any other shape problem we did not foresee: still a miss
                _fileio.warn_once(
                    str(path),
                    "registry cache %s unusable (%s: %s); rebuilding it",
                    path,
                    type(exc).__name__,
                    exc,
                )
                return None
        logger.debug(
            "registry %s: loaded %d keys from %s", self.config.name, len(state.items), path
        )
        if _settles(doc, state.timestamp, self.config.check_mtimes):
            self._settle(doc)
        return state

    def _settle(self, doc: dict[str, Any]) -> None:
        """Write *doc* again with its racy rows settled (:func:`._cold._unchanged.settle`);
        a failure only leaves them compared by content at the next start."""
        from ._cold._unchanged import settle

        try:
            settle(self, doc)
        except Exception as exc:  # the answer stands; the document stays as it was
            logger.debug("registry %s: cache not settled: %s", self.config.name, exc)
        else:
            logger.debug("registry %s: cache rewritten, its racy rows settled", self.config.name)

    def validate(self, doc: dict[str, Any], path: str | None = None) -> Snapshot:
        """Check *doc* against this process; raise CacheInvalid/CacheCorrupt or return it.

        :class:`CacheChanged` (a CacheInvalid) means the header still holds but some
        recorded input changed: the caller may rediscover incrementally from the document.

        Runs on every warm start, once per registry, so it is written for speed: cheap
        comparisons first, one pass over the recorded inputs, no per-field helper calls.
        The warm fields hold only paths and one stamp of their recorded stats (see
        :func:`fold_rows`); only when a stamp differs is the cold part read, to say what changed.
        The environment section (interpreter, settings, ``sys.path``, distributions) is
        the same bytes in every document of one environment: checked once per look, and
        for the other registries of the burst compared as bytes (:func:`_checked_env`).
        """
        get = doc.get
        ts = self._check_header(get)
        snap = snapshot()
        # anything modified this close to the write is compared by content, not by stat
        racy_ns = int(ts * 1e9) - _RACY_COARSE_NS
        files = _list(get("files"), "files")
        stamp = get("stamp")
        _expect(type(stamp) is int, "bad stamp")
        launch = _obj(get("launch"), "launch")
        check = self.config.check_mtimes
        snap = _checked_env(doc, snap, racy_ns, launch, files, check)
        # from here on a difference is a change of some plugin's inputs: incremental
        # rediscovery can reuse the rest of the document
        variables = environ_changed(env_section(doc).get("environ"))
        folded = _fold_files(snap, files, check)
        if folded is not None:
            try:
                if folded != stamp:
                    _what_changed(doc, snap, check, False)
                racy = get("racy")
                if racy:
                    _check_racy(files, _list(racy, "racy"))
            except CacheChanged as exc:
                exc.files_only = True
                if variables and exc.memo is not None and "files_changed" in exc.memo:
                    # (the changed rows are known, so the edit's path may call their
                    # readers and the variables' together; a racy digest's names none)
                    exc.memo["variables"] = variables
                raise
        dirs = _list(get("dirs"), "dirs")
        for rec in dirs:
            _sig_record(rec, 2, "folder")
            if check and not _folder_unchanged(rec[0], rec, snap.stat(rec[0]), racy_ns):
                raise CacheChanged(f"folder {rec[0]} changed")
        failures = self._check_failures(get("failures"), snap)
        volatile = get("volatile")
        if volatile:
            _list(volatile, "volatile")
            raise CacheChanged(f"{len(volatile)} plugin(s) are called on every start")
        if variables:  # (and nothing else: the plugins reading them may be called alone)
            stale = CacheChanged(_environ_reason(variables))
            stale.files_only = True
            stale.memo = {"variables": variables}
            raise stale
        return _answer(self.config, doc, files, failures, ts, path or self.file)

    def _check_header(self, get: Any) -> float:
        """Format, library version, registry, age, configuration, blocks; the write time."""
        version = get("cache_version")
        if version != CACHE_VERSION or type(version) is not int:
            raise CacheInvalid(f"cache format {version!r}, expected {CACHE_VERSION}")
        written_by = get("version")
        _expect(type(written_by) is str, "no library version")
        if written_by != __version__:
            raise CacheInvalid(f"written by openhcs-registry {written_by!r}")
        if get("registry") != self.config.name:
            raise CacheCorrupt(f"document is for registry {get('registry')!r}")
        ts = get("timestamp")
        _expect(type(ts) is float or type(ts) is int, "bad timestamp")
        age = time.time() - ts
        if age > self.config.max_age:
            raise CacheInvalid(f"older than max_age ({age:.0f}s > {self.config.max_age:.0f}s)")
        if age < -_FUTURE_TOLERANCE:
            raise CacheInvalid("timestamp lies in the future")
        if get("config") != _config_fingerprint(self.config):
            raise CacheInvalid("registry configuration changed")
        blocked = get("blocked")
        if type(blocked) is not list or blocked != sorted(self.blocked):
            raise CacheInvalid("discovery settings changed (blocked plugins)")
        return float(ts)

    def _check_failures(self, raw: object, snap: _EnvSnapshot) -> list[PluginFailure]:
        """The recorded failures; one whose missing module is now importable is a change."""
        failures = _failures(raw, "failures")
        for failure in failures:
            _expect(failure.registry == self.config.name, "failure of another registry")
            if failure.missing_module and _importable(failure.missing_module, snap):
                raise CacheChanged(
                    f"{failure.missing_module!r}, missing for plugin {failure.plugin!r}, "
                    "is now installed"
                )
        return failures

    # -- writing ----------------------------------------------------------------------------
    def save(self, result: Snapshot, environ: Any = None) -> bool:
        """Write what a fresh process would find (run-time registrations left out);
        *environ*: the ``environ`` rows of the document whose records *result* reused."""
        if not self.enabled:
            return False
        if not result.cacheable:
            logger.info("registry %s: not cached: %s", self.config.name, result.uncacheable_reason)
            return False
        doc = self.build_document(result, environ)
        ok = _fileio.write_document(self.file, pack(doc))
        if ok:
            logger.debug("registry %s: cache written to %s", self.config.name, self.file)
        return ok

    def build_document(self, result: Snapshot, environ: Any = None) -> dict[str, Any]:
        """The document for *result*: header, input tables, records, the merged answer
        (*environ*: see :meth:`save`).

        Written by the cold module :mod:`._document` (only a discovery writes).
        """
        from ._cold._document import build_document

        return build_document(
            self.config, settings.discovery_settings(), sorted(self.blocked), result, environ
        )

    def clear(self) -> bool:
        """Delete this registry's cache file (only if it is ours); True if one was removed."""
        path = self.path
        return _fileio.is_our_document(path) and _fileio.remove_document(path)

    def info(self) -> dict[str, Any]:
        """Health summary for ``openhcs-registry cache info`` (never raises)."""
        path = self.file
        out: dict[str, Any] = {"registry": self.config.name, "path": str(path)}
        try:
            doc = _fileio.read_document(path, lazy=True)
        except Exception as exc:
            return {**out, "status": "corrupt", "reason": str(exc)}
        if doc is None:
            return {**out, "status": "missing"}
        try:
            state = self.validate(doc, path)
        except CacheInvalid as exc:
            return {**out, "status": "stale", "reason": str(exc)}
        except Exception as exc:
            return {**out, "status": "corrupt", "reason": str(exc)}
        return {
            **out,
            "status": "valid",
            "keys": len(state.items),
            "age_seconds": round(time.time() - state.timestamp, 1),
            "failures": len(state.failures),
        }


def _answer(
    config: RegistryConfig,
    doc: dict[str, Any],
    files: list[str],
    failures: list[PluginFailure],
    ts: float,
    path: str,
) -> Snapshot:
    """The checked document as a Snapshot: its items, secondaries, hooks and blocks."""
    get = doc.get
    modules = get("modules")  # JSON text: {module: row of its file}
    blocked = get("blocked_modules")  # JSON text: [module]
    if type(modules) is not str or type(blocked) is not str:
        raise CacheCorrupt("bad module tables")
    missing = _list(get("missing", []), "missing")  # rows of files recorded as missing
    _expect(all(type(at) is int for at in missing), "bad missing rows")
    plugins = get("plugins")
    if type(plugins) is not int or plugins < 0:
        raise CacheCorrupt("bad plugin count")
    # the cold part's loader keeps only what parsing it needs, not the parsed warm fields
    # (items, failures, configuration...): those are garbage once this answer is built
    cold = {"cold": get("cold"), "coldat": get("coldat")}
    table = Stored(modules, files, lambda: _cold_of(cold, path), frozenset(missing), blocked)
    items = _items(get("items"), plugins, table, "items")
    raw_secondaries = _obj(get("secondaries"), "secondaries")
    secondaries: dict[str, dict[str, Entry]] = {}
    for sec in config.secondary_registries:
        group = _items(raw_secondaries.get(sec.name), plugins, table, f"secondaries.{sec.name}")
        _expect(group.keys() <= items.keys(), f"{sec.name} keys not in primary")
        secondaries[sec.name] = group
    _expect(len(raw_secondaries) == len(secondaries), "secondary registries differ")
    return Snapshot(
        "cache",
        items=items,
        secondaries=secondaries,
        failures=failures,
        timestamp=ts,
        path=path,
        skipped=_failures(get("skipped"), "skipped"),
        table=table,
    )


#: The environment section last found valid: ``(look, its raw bytes, the racy bound it was
#: checked with, the parsed section, whether ``sys.path`` had gained entries it does not
#: record)``; see :func:`_checked_env`.
_env_checked: tuple[_EnvSnapshot, bytes, int, dict[str, Any], bool] | None = None


#: Racy files whose digests a start compares rather than write the document again: one
#: edited plugin's few files cost less to read at each start than a rewrite at a large
#: plugin set; a racy folder (its listing) or a fresh install's files do not.
_SETTLE_FILES = 8


def _settles(doc: dict[str, Any], ts: float, check: bool) -> bool:
    """Whether a valid *doc* has rows compared by content at every start, and the racy
    window has passed since its write (*ts*): see :func:`._cold._unchanged.settle`.

    Such rows are racy files (more than a few), and folders (``sys.path`` entries; with
    *check*, the folders plugins read) either modified close to the write, or whose stat
    has moved since without their listing changing (a file made and removed there) and
    has stayed put for the window.  Reads few rows, whose stats the check took already.
    """
    now = time.time()
    if now - ts <= _RACY_COARSE_NS / 1e9 or ts > now:
        return False
    racy = doc.get("racy")
    if check and type(racy) is list and len(racy) > _SETTLE_FILES:
        return True
    racy_ns = int(ts * 1e9) - _RACY_COARSE_NS
    quiet_ns = time.time_ns() - _RACY_COARSE_NS
    stat = snapshot().stat
    for rows in (doc.get("dirs") if check else None, env_section(doc).get("path")):
        for row in rows or ():
            if not (type(row) is list and len(row) > 5 and type(row[0]) is str):
                continue
            if type(row[1]) is int and row[1] >= racy_ns:
                return True
            if restatable(stat(row[0]), row, quiet_ns):
                return True
    return False


def restatable(sig: list[int] | None, row: list[Any], quiet_ns: int) -> TypeGuard[list[int]]:
    """Whether folder *row*, which the check found unchanged by its listing, may take its
    stat now, *sig*: it moved from the recorded one and has been quiet since *quiet_ns*
    (one rule for :func:`_settles` and :func:`._cold._unchanged.settle`)."""
    return sig is not None and sig != row[1:5] and sig[0] < quiet_ns


def env_section(doc: dict[str, Any]) -> dict[str, Any]:
    """*doc*'s environment section, parsed (once: it replaces the raw bytes in *doc*)."""
    memo = _env_checked
    if memo is not None and doc.get("env") == memo[1]:
        doc["env"] = memo[3]  # the same bytes, parsed already (treated as read-only)
    return _part(doc, "env", (bytes,), _fileio.parse_env)


def _checked_env(
    doc: dict[str, Any],
    snap: _EnvSnapshot,
    racy_ns: int,
    launch: dict[str, Any],
    files: list[Any],
    check: bool,
) -> _EnvSnapshot:
    """The environment section holds: interpreter, settings, ``sys.path``, distributions
    (and, between the last two, the registry's own launch record, in the order of cost).

    Every registry document written in one environment holds the same section bytes, so
    the first registry of a burst checks them and the others compare bytes: a section
    equal to the one last checked *in the same look* (``snap``: the same stats, listings
    and ``sys.path``) with a racy bound no earlier than it was checked with needs no new
    check (a row that was not racy then is not racy for a later bound, and a row compared
    by listing holds whatever the bound).  Only the switches' values are read again
    (``os.environ`` may change at any moment).  When ``sys.path`` has gained entries the
    section does not record (pytest's rootdir, a script's ``sys.path.insert``: see
    :func:`_recorded_entries`), whether they are harmless depends on each registry's
    recorded names, so that test alone is made again for each.

    The declared switches are not read from the entry-point index here: their names come
    from the ``entry_points.txt`` files of the distributions on ``sys.path``, every one of
    which this section records (its folder listing through the ``sys.path`` rows, its stat
    through the distributions' stamp), so while the section holds, the recorded names are
    the declared ones, and only their values need comparing.  When the section does not
    hold, the recorded settings are compared with :func:`.settings.discovery_settings`
    before the change is reported: a changed set of switches is a full rediscovery, as
    any settings change is.  Unless what changed cannot touch them: metadata folders only
    added, none declaring a switch (an install), or folders gone, none of a distribution
    the section records as declaring one (``switched``), with no other declaration
    changed (an uninstall, an upgrade: :func:`._cold._entrypoints.switches_kept`); then
    the index is not rebuilt and no new look begins.  With entry points disabled the
    distributions are not recorded: then the settings are always compared in full (which
    may rebuild the index and so begin a new look: the look the check went on in is
    returned).
    """
    global _env_checked
    raw = doc.get("env")
    memo = _env_checked
    if memo is not None and memo[0] is snap and memo[1] == raw and racy_ns >= memo[2]:
        _check_switches(memo[3]["settings"])
        if memo[4]:  # (the entries it gained must not provide a name this one recorded)
            _recorded_entries(memo[3]["path"], snap.entries, launch)
        _check_launch(launch, snap)
        return snap
    env = env_section(doc)
    if env.get("interpreter") != snap.header:
        raise CacheInvalid("another interpreter or virtual environment")
    startup = _list(env.get("startup"), "startup")
    _check_startup(startup, snap)
    recorded = _obj(env.get("settings"), "settings")
    _check_switches(recorded)
    snap = snapshot()  # (a full settings check may have begun a new look)
    rows = _list(env.get("path"), "path")
    entries = snap.entries
    exact = len(rows) == len(entries) and all(
        type(r) is list and r and r[0] == e for r, e in zip(rows, entries, strict=False)
    )
    if not exact:
        entries = _recorded_entries(rows, entries, launch)
    dists = env.get("dists")
    kept = False  # the switches declared now are the recorded ones (see below)
    new = None  # the metadata folders that appeared, if they are all that changed
    full = None  # the whole document, if read to tell that the switches hold
    folded = None  # the distributions' stamp, once taken in the look the check goes on in
    if _moved(rows, entries, snap):
        # most likely an install or a removal.  If every recorded declaration has its
        # recorded stat and folders were only added, none of a distribution already
        # there, what they declare is all that can be new: if none declares a switch
        # (one small file read after an install), the recorded switches are the declared
        # ones.  Else the settings are compared in full, which rebuilds the entry-point
        # index in a fresh look, and the check goes on in that look (the site folder,
        # thousands of entries, listed once for the index, this check's listing checksum
        # and incremental reuse)
        if exact and type(dists) is dict:
            folded = _fold_distributions(snap, dists)
            if folded == env.get("dstamp"):
                new = _new_distributions(dists, snap)
            elif type(env.get("switched")) is list:
                # an uninstall or an upgrade: metadata folders vanished.  If none of them
                # is of a distribution that declared a switch, no other declaration
                # changed and none that appeared declares one, the switches hold too;
                # the cold part read for that is the one incremental reuse reads
                full = _switches_kept(doc, env, snap)
        kept = full is not None or (new is not None and not _declares_switches(new))
        if not kept:
            _settings_hold(recorded)
            snap = snapshot()
            folded = None  # (a new look: its stats are taken afresh)
    try:
        _check_search_path(rows, entries, racy_ns)
    except CacheChanged as exc:
        _check_startup_listed(startup, rows, entries, snap, racy_ns)
        if not kept:
            _settings_hold(recorded)
        # (the declarations' stats are in this look already when their stamp was taken)
        _take_stats(snapshot(), dists if folded is None else None, files, check)
        exc.appeared = new
        exc.settings_hold = True
        if full is not None:
            exc.full = full
        raise
    _check_launch(launch, snap)
    stamp = env.get("dstamp")
    _expect(type(stamp) is int, "bad stamp")
    if folded is None:
        folded = _fold_distributions(snap, _obj(dists, "dists"))
    if folded != stamp:
        if not kept:
            _settings_hold(recorded)
        _what_changed(doc, snap, check, True)
    if type(raw) is bytes:
        _env_checked = (snap, raw, racy_ns, env, not exact)
    return snap


def _check_startup(rows: list[Any], snap: _EnvSnapshot) -> None:
    """The start-up files (``.pth`` files, the modules their import lines name,
    ``sitecustomize``) have their recorded stats.  What they ran decides what any import
    finds (:mod:`._cold._startup`): a change is a full rediscovery, not a plugin's."""
    if not rows:
        return
    for rec in rows:
        _sig_record(rec, 0, "start-up")
    paths = [rec[0] for rec in rows]
    sigs = signatures(paths)
    snap.keep(paths, sigs)  # (a writer of this look records the same stats)
    if hash(tuple(sigs)) != fold_rows(rows):
        for rec, now in zip(rows, sigs, strict=True):  # (which one, for the message)
            if now != (-1 if rec[1] is None else tuple(rec[1:5])):
                raise CacheInvalid(f"start-up file {rec[0]} changed")
        raise CacheInvalid("the start-up files' stats no longer match")


def _check_startup_listed(
    startup: list[Any], rows: list[Any], entries: list[str], snap: _EnvSnapshot, racy_ns: int
) -> None:
    """No start-up file appeared in or went from a ``sys.path`` folder whose listing may
    have moved (cold: a folder changed, most likely an install or a removal, which the
    start-up files' own stats cannot show)."""
    moved = [
        entry
        for entry, rec in zip(entries, rows, strict=False)
        # (the rows after the change were not shape-checked yet)
        if not _folder_unchanged(entry, _sig_record(rec, 1, "sys.path"), snap.stat(entry), racy_ns)
    ]
    if not moved:
        return
    from ._cold._startup import startup_changed

    changed = startup_changed([rec[0] for rec in startup], moved, snap.listing)
    if changed is not None:
        raise CacheInvalid(f"start-up file {changed} appeared or went")


def _new_distributions(dists: dict[str, Any], snap: _EnvSnapshot) -> dict[str, list[str]] | None:
    """:func:`._cold._entrypoints.new_distributions` in the look *snap* (cold: an
    environment that moved)."""
    from ._cold._entrypoints import new_distributions

    return new_distributions(dists, snap.listing)


def _switches_kept(
    doc: dict[str, Any], env: dict[str, Any], snap: _EnvSnapshot
) -> dict[str, Any] | None:
    """The whole document, if :func:`._cold._entrypoints.switches_kept` tells from its
    recorded scan that the declared switches are the recorded ones (cold: an environment
    that moved), else None."""
    from ._cold._entrypoints import switches_kept

    try:
        full = full_document(doc)
        found = _obj(full.get("distributions"), "distributions")
        if switches_kept(found, env["switched"], snap.listing, snap.stat):
            return full
    except Exception:  # (a document of a shape not foreseen: the settings in full)
        pass
    return None


def _declares_switches(new: dict[str, list[str]]) -> bool:
    """:func:`._cold._entrypoints.declares_switches` (cold, as above)."""
    from ._cold._entrypoints import declares_switches

    return declares_switches(new)


def _check_switches(recorded: dict[str, Any]) -> None:
    """The recorded discovery settings have their values now (their names: see
    :func:`_checked_env`); with entry points disabled, compared in full."""
    environ = os.environ
    no_eps = settings.NO_ENTRY_POINTS_ENV
    disabled = settings.entry_points_disabled()
    for name, value in recorded.items():
        if name == no_eps:
            if value != ("1" if disabled else "0"):
                raise CacheInvalid("discovery settings changed")
        elif environ.get(name, "") != value:
            raise CacheInvalid("discovery settings changed")
    if disabled or no_eps not in recorded:
        _settings_hold(recorded)


def environ_changed(rows: Any) -> list[str]:
    """The names of the ``environ`` rows (``[name, digest]``:
    :func:`._environment.environ_digest`) whose variable has another value now, in row
    order.  Read again at every check: ``os.environ`` may change at any moment."""
    if not rows:
        return []
    out = []
    for row in _list(rows, "environ"):
        _expect(type(row) is list and len(row) == 2 and type(row[0]) is str, "bad environ row")
        if environ_digest(environ_value(row[0])) != row[1]:
            out.append(row[0])
    return out


def _environ_reason(changed: list[str]) -> str:
    """Why a document is stale when the variables *changed* (names, in row order) have
    other values: the variables plugins read while discovery recorded them.  A plugin
    choosing its keys by ``os.environ.get("X")`` decides on it as on a file: another value
    is a change of the inputs of the records that read it (each record names the variables
    it read), which incremental rediscovery calls again."""
    if changed[0] == WORKING_DIRECTORY:  # (a plugin read a relative path)
        return "the working directory changed"
    return f"environment variable {changed[0]} changed"


def _settings_hold(recorded: dict[str, Any]) -> None:
    """The recorded settings are the settings now, declared switches read afresh."""
    if recorded != settings.discovery_settings():
        raise CacheInvalid("discovery settings changed")


def _moved(rows: list[Any], entries: list[str], snap: _EnvSnapshot) -> bool:
    """Whether the stat of some ``sys.path`` entry differs from its recorded row (rows of
    a bad shape are left to :func:`_check_search_path`)."""
    stat = snap.stat
    for entry, rec in zip(entries, rows, strict=False):
        if type(rec) is list and len(rec) >= 5:
            now = stat(entry)
            if (rec[1] is not None) if now is None else now != rec[1:5]:
                return True
    return False


def _check_search_path(rows: list[Any], entries: list[str], racy_ns: int) -> None:
    """No ``sys.path`` entry gained or lost a module (the list itself is checked first)."""
    stat = snapshot().stat
    for entry, rec in zip(entries, rows, strict=True):
        _sig_record(rec, 1, "sys.path")
        if not _folder_unchanged(entry, rec, stat(entry), racy_ns):
            raise CacheChanged(f"{entry} changed (a distribution installed or removed?)")


def _check_launch(launch: dict[str, Any], snap: _EnvSnapshot) -> None:
    """The recorded names that the launch folder (cwd, script folder) provides, per name.

    The launch folder is not fingerprinted (it differs between programs and changes
    whenever a file is saved there); only whether it shadows a recorded name matters.
    """
    tops = launch.get("tops")
    if not tops:
        return
    _expect(type(tops) is list and type(launch.get("present")) is list, "bad launch")
    folder, names = _launch(snap)
    present = names.intersection(tops) if names else set()
    if present != set(launch["present"]):
        raise CacheChanged("the launch folder shadows another set of recorded names")
    if present and launch.get("folder") != [folder]:
        # the same names, from another launch folder: other modules under those names
        raise CacheInvalid("recorded names come from another launch folder")


#: ``(look, launch folder made absolute or None, the names it provides or None)``
_launch_seen: tuple[_EnvSnapshot, str | None, set[str] | None] | None = None


def _launch(snap: _EnvSnapshot) -> tuple[str | None, set[str] | None]:
    """The launch folder (absolute) and its importable names, once per look.

    Which entry of ``sys.path`` is the launch entry depends on ``sys.path``, the working
    directory and ``sys.argv[0]``, which are the look's key: every registry of a burst
    asks, and gets the answer of the first (``_environment._launch_index`` walks
    ``sys.path`` with a ``getcwd`` and an ``abspath`` per entry).
    """
    global _launch_seen
    seen = _launch_seen
    if seen is not None and seen[0] is snap:
        return seen[1], seen[2]
    folder = launch_folder()
    full = None if folder is None else os.path.abspath(folder or os.curdir)
    names = None if full is None else snap.names(full)
    _launch_seen = (snap, full, names)
    return full, names


# The two folds below are the hot loop of a warm start: they run once per distribution and
# per recorded file (thousands at a large plugin set).  Each path's signature is taken by
# ``map`` in C (:func:`._environment.signatures`): the loop itself runs no bytecode per
# path, so a warm start pays the ``stat`` calls and little else.  The look keeps them
# (:meth:`._environment._Snapshot.keep`, :meth:`~._environment._Snapshot.take`): a later
# registry of the burst folds the same declarations from its memo and stats only the files
# no earlier one took, and a check that goes on row by row, or an incremental start's reuse
# test, compares rows with the same stats.
#
# A fold stands for the per-row comparison ``current stat == recorded stat``: the writer
# folds the recorded signatures, the reader the current ones, in the same order, and one
# comparison of the two stamps replaces one per row.  ``hash`` of a tuple of ints is not
# salted (PYTHONHASHSEED covers str and bytes only) and the interpreter is part of the
# checked header, so equal inputs give equal stamps in every process; two different
# signature sequences give equal stamps with probability ~2**-61 (the order of the
# document's checksum).  A missing file folds as ``-1`` (no stat tuple looks like that).
# When a stamp differs, :func:`_what_changed` compares row by row to say what changed.


def fold_rows(rows: list[Any]) -> int:
    """The stamp of recorded rows ``[path, mtime, size, ctime, ino, ...]`` (nulls for a
    missing file), as the warm check folds the current signatures of their paths."""
    return hash(tuple([-1 if r[1] is None else (r[1], r[2], r[3], r[4]) for r in rows]))


def fold_distributions(found: dict[str, list[Any]]) -> int:
    """The stamp of the recorded distribution rows ``{entry: [[folder, *sig, ...], ...]}``."""
    return hash(tuple([fold_rows(rows) for rows in found.values()]))


def _take_stats(snap: _EnvSnapshot, dists: Any, files: list[Any], check: bool) -> None:
    """Stat the recorded declarations (*dists*; None: taken already) and files into *snap*
    with the hot loops, for a check that stopped early (an entry of ``sys.path`` changed:
    an install, a removal).

    Incremental reuse compares every record's rows with the snapshot's stats next; taken
    here they cost what a warm start pays, instead of a call through the snapshot per
    row (at 2000 plugins ~6000 paths).  The document's own faults are left for reuse to
    meet: whatever this raises is ignored, the caller's change stands.
    """
    try:
        if type(dists) is dict:
            _fold_distributions(snap, dists)
        _fold_files(snap, files, check)
    except Exception:  # a malformed row: reuse meets it, as before
        pass


def _fold_distributions(snap: _EnvSnapshot, found: dict[str, Any]) -> int:
    """The stamp of each recorded distribution's ``entry_points.txt`` now (hot loop)."""
    verified = snap.verified
    parts = []
    for entry, listed in found.items():
        if type(listed) is not list or type(entry) is not str:
            raise CacheCorrupt("bad distributions")
        memo = verified.get(entry)
        if memo is not None and memo[0] == listed:
            parts.append(memo[1])  # another registry's document listed the same
            continue
        if {*map(type, listed)} - {str}:
            raise CacheCorrupt("bad distribution record")
        head = entry + "/"
        paths = [head + name + "/entry_points.txt" for name in listed]
        sigs = signatures(paths)
        snap.keep(paths, sigs)
        part = hash(tuple(sigs))
        if len(listed) <= _VERIFIED_ROWS:
            verified[entry] = (listed, part)
        parts.append(part)
    return hash(tuple(parts))


def _fold_files(snap: _EnvSnapshot, files: list[Any], check: bool) -> int | None:
    """The stamp of every recorded file now, if *check* (else the paths are only
    shape-checked and the stamp is not compared: None) (hot loop)."""
    # a path that is not a string would make stat() or open() take a file descriptor
    if {*map(type, files)} - {str}:
        raise CacheCorrupt("bad file record")
    if not check:
        return None
    return hash(tuple(snap.take(files)))


def _check_racy(files: list[str], racy: list[Any]) -> None:
    """Files modified racily close to the write also have their content digest compared."""
    count = len(files)
    for row in racy:
        if not (type(row) is list and len(row) == 2 and type(row[0]) is int):
            raise CacheCorrupt("bad racy record")
        at = row[0]
        if not 0 <= at < count:
            raise CacheCorrupt("bad racy record")
        if _digest(files[at]) != row[1]:
            raise CacheChanged(f"{files[at]} changed")


def _what_changed(doc: dict[str, Any], snap: _EnvSnapshot, check: bool, dists: bool) -> None:
    """A stamp differs: compare the cold part's rows one by one to say what changed.

    *dists*: the distributions' stamp differs (else only the files' does, and their rows
    alone are compared).  Only the sections compared are parsed.  Always raises:
    :class:`CacheChanged` naming the first changed input (or, if no row differs, that the
    stamps do), with the file rows that changed; :class:`CacheCorrupt` if the cold part
    is unusable.
    """
    if dists:
        _check_distributions(snap, _obj(cold_section(doc, "distributions"), "distributions"))
    if not check:
        raise CacheChanged("the recorded stats no longer match")
    paths = _list(doc.get("files"), "files")
    cols = file_columns(cold_section(doc, "files"), len(paths))
    changed = changed_rows(paths, cols, snap)
    exc = CacheChanged(
        f"{paths[min(changed)]} changed" if changed else "the recorded stats no longer match"
    )
    exc.memo = {"files_changed": changed, "file_columns": cols}
    raise exc


def cold_section(doc: dict[str, Any], name: str) -> Any:
    """Section *name* of *doc*'s cold part, parsed alone (:class:`CacheCorrupt` if it does
    not match its sum or there is none of that name; :class:`CacheInvalid` if the file
    was replaced since its warm part was read)."""
    try:
        return _fileio.parse_section(doc, name)
    except _fileio.DocumentReplaced as exc:
        raise CacheInvalid(str(exc)) from exc
    except (KeyError, ValueError) as exc:
        raise CacheCorrupt(f"cold section {name}: {exc}") from exc


# The file table's rows are in the cold part as columns (format 11 on): the paths are the
# warm fields' (so they are not written twice), then ``[mtimes, sizes, ctimes, inodes,
# [[row, digest], ...]]`` (a missing file: nulls; a racy one's content digest).  Four
# lists of ints parse far faster than thousands of rows; everything else reads rows
# (:func:`full_document`).


def file_columns(cols: Any, count: int) -> list[Any]:
    """*cols*, the cold part's file columns, checked to be of that shape and to hold
    *count* rows."""
    _expect(
        type(cols) is list
        and len(cols) == 5
        and all(type(col) is list and len(col) == count for col in cols[:4])
        and type(cols[4]) is list,
        "cold file rows differ from the warm ones",
    )
    return cols  # type: ignore[no-any-return]


def columns_of(rows: list[list[Any]]) -> list[Any]:
    """File *rows* ``[path, mtime, size, ctime, ino, (digest)]`` as the cold part's
    columns."""
    return [
        [r[1] for r in rows],
        [r[2] for r in rows],
        [r[3] for r in rows],
        [r[4] for r in rows],
        [[at, r[5]] for at, r in enumerate(rows) if len(r) == 6],
    ]


def rows_of(paths: list[str], cols: list[Any]) -> list[list[Any]]:
    """The file rows of the warm *paths* and the cold part's columns *cols*."""
    rows = [list(row) for row in zip(paths, *cols[:4], strict=True)]
    count = len(rows)
    for pair in cols[4]:
        _expect(
            type(pair) is list and len(pair) == 2 and type(at := pair[0]) is int,
            "bad file digest",
        )
        _expect(0 <= at < count and len(rows[at]) == 5, "bad file digest")
        rows[at].append(pair[1])
    return rows


def changed_rows(paths: list[str], cols: list[Any], snap: _EnvSnapshot) -> frozenset[int]:
    """The rows of the file table (*paths*, the cold part's columns *cols*) whose file
    changed since the write: its stat in the look *snap* differs, or its content digest."""
    # the signatures the warm check just took of these very paths (else taken from the
    # look), compared as tuples with the recorded ones: thousands of rows, no loop body
    sigs = snap.taken_for(paths)
    recorded = [-1 if m is None else (m, s, c, i) for m, s, c, i in zip(*cols[:4], strict=True)]
    changed = {at for at, pair in enumerate(zip(sigs, recorded, strict=True)) if pair[0] != pair[1]}
    for pair in cols[4]:
        if type(pair) is not list or len(pair) != 2 or type(pair[0]) is not int:
            raise CacheCorrupt("bad file digest")
        at = pair[0]
        if 0 <= at < len(paths) and at not in changed and _digest(paths[at]) != pair[1]:
            changed.add(at)
    return frozenset(changed)


def cold_part(doc: dict[str, Any]) -> dict[str, Any]:
    """The cold part of a document read with ``lazy=True`` (parsed here, once)."""
    return _part(doc, "cold", (memoryview, _fileio.ColdPart), _fileio.parse_cold)


def _cold_of(doc: dict[str, Any], path: str) -> dict[str, Any]:
    """:func:`cold_part` for provenance.  A warm start reads the cold part only when asked
    (its own sum checks it then), so a damaged one is found late: its document is removed,
    with a warning, and the next start rebuilds it whole, instead of serving it on without
    provenance."""
    try:
        return cold_part(doc)
    except CacheCorrupt as exc:
        ref = doc.get("cold")
        if type(ref) is _fileio.ColdPart and ref.remove():
            _fileio.warn_once(
                path, "registry cache %s: cold part damaged (%s); removed, to be rebuilt", path, exc
            )
        raise


def _part(doc: dict[str, Any], key: str, raw: tuple[type, ...], parse: Any) -> dict[str, Any]:
    """*doc*'s part *key*, parsed by *parse* while still of a *raw* type it was read as
    (then kept parsed in *doc*); a part that does not parse is a corrupt document, one
    whose file was replaced since its warm part was read is a stale one."""
    value = doc.get(key)
    if type(value) in raw:
        try:
            value = doc[key] = parse(doc)
        except _fileio.DocumentReplaced as exc:
            raise CacheInvalid(str(exc)) from exc
        except ValueError as exc:
            raise CacheCorrupt(str(exc)) from exc
    return _obj(value, key)


# The answer's warm fields are written for a warm listing (format 9 on): the items of each
# group as four columns ``[keys, references, plugin indexes, rows given a key]`` (lists,
# which a parser builds far faster than one object per item), the module table and the
# blocked modules as JSON text (parsed only when a value is resolved or a noted class is
# judged: see :class:`.Stored`).  Discovery and incremental starts build, and the cold
# path reads, the plain form (``{key: {"ref", "p", "keyed"}}``, ``{module: row}``, a
# list of names): :func:`pack` and :func:`unpack` are the one conversion each way.


def pack(doc: dict[str, Any]) -> dict[str, Any]:
    """*doc* with its answer's warm fields in the written form (see above)."""
    import orjson

    out = dict(doc)
    cold = doc.get("cold")
    if type(cold) is dict:
        from ._cold._reuse import plain_reads

        rows = cold["files"]
        reads = cold.get("reads")  # (carried over by a writer that proved it unchanged)
        out["cold"] = {
            **cold,
            "files": columns_of(rows),
            "reads": plain_reads(cold["plugins"], doc["modules"], rows) if reads is None else reads,
        }
    out["modules"] = orjson.dumps(doc["modules"]).decode()
    out["blocked_modules"] = orjson.dumps(doc["blocked_modules"]).decode()
    out["items"] = _columns(doc["items"])
    out["secondaries"] = {name: _columns(group) for name, group in doc["secondaries"].items()}
    return out


def _columns(items: dict[str, dict[str, Any]]) -> list[list[Any]]:
    rows = list(items.values())
    return [
        list(items),
        [row["ref"] for row in rows],
        [row["p"] for row in rows],
        [at for at, row in enumerate(rows) if row.get("keyed") is True],
    ]


def unpack(doc: dict[str, Any]) -> dict[str, Any]:
    """The answer's fields of a read document in the plain form (:class:`CacheCorrupt` if
    they do not parse or have the wrong shape)."""
    import orjson

    try:
        modules = orjson.loads(doc.get("modules"))  # type: ignore[arg-type]
        blocked = orjson.loads(doc.get("blocked_modules"))  # type: ignore[arg-type]
    except (orjson.JSONDecodeError, TypeError) as exc:
        raise CacheCorrupt(f"module tables: {exc}") from exc
    _obj(modules, "modules")
    _expect(type(blocked) is list and all(type(m) is str for m in blocked), "bad blocked_modules")
    return {
        "modules": modules,
        "blocked_modules": blocked,
        "items": _rows(doc.get("items"), "items"),
        "secondaries": {
            name: _rows(group, f"secondaries.{name}")
            for name, group in _obj(doc.get("secondaries"), "secondaries").items()
        },
    }


def _rows(raw: object, where: str) -> dict[str, dict[str, Any]]:
    """The plain rows of one group's columns."""
    keys, refs, plugins, keyed = _column_lists(raw, where)
    _expect(all(type(k) is str for k in keys), f"{where}: a key of the wrong type")
    out: dict[str, dict[str, Any]] = {
        key: {"ref": ref, "p": plugin} for key, ref, plugin in zip(keys, refs, plugins, strict=True)
    }
    _expect(len(out) == len(keys), f"{where}: a key given twice")
    for at in keyed:
        out[keys[at]]["keyed"] = True
    return out


def full_document(doc: dict[str, Any]) -> dict[str, Any]:
    """The whole document: warm fields, then the cold part's fields over them, the file
    table as rows ``[path, mtime, size, ctime, ino, (digest)]`` (its warm paths and its
    stats' columns as ``file_table`` too), without the records' offsets
    (:func:`._fileio.encode_parts` writes them afresh).

    The cold part's file columns and distribution rows must list exactly the paths the
    warm fields list (which the warm check stat'ed): else the document is corrupt.
    """
    paths = _list(doc.get("files"), "files")
    cold = dict(cold_part(doc))
    cols = file_columns(cold.get("files"), len(paths))
    env = env_section(doc)
    cold["files"] = rows_of(paths, cols)
    cold.pop(_fileio.RECORD_OFFSETS, None)
    # (``reads`` is kept: a writer that proves it unchanged carries it over, see
    # :func:`._cold._unchanged._rewritten`; every other writer computes it afresh)
    # (the paths and columns kept too: the incremental paths compare the stats from them)
    full = {**doc, **env, **cold, **unpack(doc), "file_table": (paths, cols)}
    found = _obj(cold.get("distributions"), "distributions")
    listed = _obj(env.get("dists"), "dists")
    _expect(list(found) == list(listed), "cold distributions differ from the warm ones")
    for entry, dists in found.items():
        names = listed[entry]
        _expect(
            type(dists) is list
            and type(names) is list
            and len(dists) == len(names)
            and all(type(r) is list and r and r[0] == n for r, n in zip(dists, names, strict=True)),
            "cold distributions differ from the warm ones",
        )
    return full


def _check_distributions(snap: _EnvSnapshot, found: dict[str, Any]) -> None:
    """Each recorded distribution's ``entry_points.txt`` has its recorded stat."""
    stat = snap.stat
    nosig = _NOSIG
    for entry, dists in found.items():
        for row in _list(dists, "distributions"):
            sig = stat(f"{entry}/{row[0]}/entry_points.txt")
            if (sig or nosig) != row[1:5]:
                raise CacheChanged(f"entry-point declaration of {row[0]} changed")


def _recorded_entries(rows: list[Any], entries: list[str], launch: dict[str, Any]) -> list[str]:
    """The current ``sys.path`` entries that the document recorded, if the others are harmless.

    ``sys.path`` may have gained entries since the document was written - a dask worker's
    scratch folder, pytest's rootdir, a script's ``sys.path.insert`` - without that changing
    discovery's answer: an added entry matters only if it provides a name discovery imported
    or looked for (recorded per plugin, gathered in ``launch["tops"]``), or holds distribution
    metadata (new entry points).  The recorded entries must still be there, in their order.
    Anything else is ``sys.path changed``.
    """

    recorded = [r[0] if type(r) is list and r else None for r in rows]
    tops = launch.get("tops")
    if type(tops) is not list or len(recorded) > len(entries):
        raise CacheInvalid("sys.path changed")
    wanted = set(tops)
    kept: list[str] = []
    at = 0
    for entry in entries:
        if at < len(recorded) and entry == recorded[at]:
            kept.append(entry)
            at += 1
            continue
        names = snapshot().names(entry) if os.path.isdir(entry) else None
        if names is None:
            if os.path.exists(entry):  # a zip archive or an unreadable folder: no look inside
                raise CacheInvalid(f"sys.path gained {entry}")
            continue  # nothing there (yet): provides nothing; checked again next start
        shadowing = names & wanted
        if shadowing:
            shown = ", ".join(sorted(shadowing)[:3])
            raise CacheInvalid(f"sys.path gained {entry}, which provides {shown}")
        listed = os.listdir(entry)
        if any(n.endswith((".dist-info", ".egg-info")) for n in listed):
            raise CacheInvalid(f"sys.path gained {entry}, which holds distributions")
        if any(n.endswith(".pth") for n in listed):  # (a site folder, added at start-up)
            raise CacheInvalid(f"sys.path gained {entry}, which holds .pth files")
    if at != len(recorded):
        raise CacheInvalid("sys.path changed")
    return kept


_fingerprints: dict[int, tuple[RegistryConfig, dict[str, Any]]] = {}


def _config_fingerprint(config: RegistryConfig) -> dict[str, Any]:
    """``config.fingerprint()``, computed once per (immutable) configuration object."""
    memo = _fingerprints.get(id(config))
    if memo is None or memo[0] is not config:
        memo = (config, config.fingerprint())
        _fingerprints[id(config)] = memo
    return memo[1]


def _importable(missing: str, snap: _EnvSnapshot | None = None) -> bool:
    """Whether a module recorded as missing may be importable now (nothing is imported).

    Installing it anywhere on ``sys.path`` changes that folder's mtime, which the environment
    fingerprint has already checked; what is left is the launch folder, which the
    fingerprint leaves out (a ``zarr.py`` saved next to the script), and a module put into
    ``sys.modules`` by hand.  Searching only there keeps this check cheap on every start;
    a name the look's listing of the launch folder does not provide (an over-approximation
    of what the import system finds there) is not searched for at all.
    """
    top = missing.split(".")[0]
    if top in sys.modules or top in sys.builtin_module_names:
        return True
    folder, names = _launch(snapshot() if snap is None else snap)
    if folder is None:
        return False
    if names is not None and top not in names:
        return False
    from importlib.machinery import PathFinder

    try:
        return PathFinder.find_spec(top, [folder]) is not None
    except Exception:
        return False


def clear_cache(name: str | None = None) -> list[Path]:
    """Delete the cache file of registry *name*, or every openhcs cache file of this
    environment's folder (and, in the default location, the documents earlier versions
    left directly in ``cache/``, which nothing reads); return them."""
    from pathlib import Path

    from ._paths import get_openhcs_cache_dir

    folder = get_openhcs_cache_dir()
    removed: list[Path] = []
    if name is not None:
        path = Path(registry_cache_file(name))
        if _fileio.is_our_document(path) and _fileio.remove_document(path):
            removed.append(path)
        return removed
    folders = [folder]
    if not os.environ.get(settings.CACHE_DIR_ENV):  # (the default: one folder per environment)
        folders.append(folder.parent)
    for where in folders:
        try:
            names = os.listdir(where)
        except OSError:
            continue
        for entry in sorted(names):
            # only our own documents: a folder shared with other files keeps them
            if entry.endswith(".json") and not entry.startswith("."):
                path = where / entry
                if _fileio.is_our_document(path) and _fileio.remove_document(path):
                    removed.append(path)
    return removed
