"""The persistent registry cache: one orjson document per registry, checked with ``os.stat``.

A document is trusted only when every check passes (format, library version, age, the
registry's own settings, interpreter and ``sys.path`` fingerprint, discovery settings, the
files discovery recorded, and the still-missing dependencies of failed plugins).  Anything
else is a miss, and a miss is never an error: the registry simply discovers afresh.

Checking imports nothing but ``orjson``: no pluggy, no importlib.metadata, no plugin module.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from . import _fileio, settings
from ._environment import launch_folder, snapshot
from ._log import get_logger
from ._version import __version__
from .config import RegistryConfig
from .diagnostics import PluginFailure
from .paths import get_openhcs_cache_dir, registry_cache_file
from .refs import REFERENCE_RE as _REF_MODULE

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .discovery import Candidate, DiscoveryResult

logger = get_logger("openhcs_registry.cache")

#: Bump when the document layout changes; older files are then simply rebuilt.
CACHE_VERSION = 4  # 2: checksummed (CRC-32); 3: import-free checksum; 4: per-plugin inputs

#: Allowed clock skew for timestamps from the future (another host sharing $HOME).
_FUTURE_TOLERANCE = 300.0


class CacheInvalid(Exception):
    """The document is well-formed but no longer describes this environment (stale)."""


class CacheCorrupt(Exception):
    """The document is unreadable, hostile or of the wrong shape."""


class CachedItem:
    """A registry entry known from the cache: its reference and where it came from."""

    __slots__ = ("info", "key", "ref")

    def __init__(self, key: str, ref: str, info: dict[str, Any]) -> None:
        self.key = key
        self.ref = ref
        self.info = info


class CachedState:
    """The trusted content of a valid cache document."""

    __slots__ = (
        "blocked_modules",
        "failures",
        "items",
        "modules",
        "path",
        "plugins",
        "secondaries",
        "skipped",
        "timestamp",
    )

    def __init__(
        self,
        items: dict[str, CachedItem],
        secondaries: dict[str, dict[str, CachedItem]],
        failures: list[PluginFailure],
        modules: frozenset[str],
        plugins: list[dict[str, Any]],
        timestamp: float,
        path: Path,
        skipped: list[PluginFailure] | None = None,
        blocked_modules: frozenset[str] = frozenset(),
    ) -> None:
        self.blocked_modules = blocked_modules
        self.skipped = skipped or []
        self.items = items
        self.secondaries = secondaries
        self.failures = failures
        self.modules = modules
        self.plugins = plugins
        self.timestamp = timestamp
        self.path = path


#: Entries modified this close to the cache write may change again within the same
#: filesystem timestamp tick without their mtime moving ("racy", as git calls it), so they
#: also get a content digest.  Whole-second mtimes mean a coarse filesystem: a wider window.
_RACY_NS = 100_000_000
_RACY_COARSE_NS = 2_500_000_000


def _is_racy(mtime_ns: int | None, now_ns: int) -> bool:
    if mtime_ns is None:
        return False
    window = _RACY_COARSE_NS if mtime_ns % 1_000_000_000 == 0 else _RACY_NS
    return now_ns - mtime_ns < window


def _digest(path: str) -> int | None:
    """Checksum of a file's bytes (only for racy entries)."""
    try:
        with open(path, "rb") as fh:
            return _fileio.checksum(fh.read())
    except (OSError, ValueError):
        return None


def _listing(path: str) -> int | None:
    """Checksum of a folder's sorted entries, as :func:`._inputs.listing` records it."""
    try:
        entries = os.listdir(path)
    except (OSError, ValueError):
        return None
    names = sorted(e for e in entries if e != "__pycache__" and not e.startswith("."))
    return _fileio.checksum("\0".join(names).encode("utf-8", "surrogateescape"))


def _sig_record(rec: object, extra: int, what: str) -> list[Any]:
    """A recorded ``[path, mtime, size, ctime, ino, *extra]`` row, shape-checked."""
    if not (type(rec) is list and 5 <= len(rec) <= 5 + extra and type(rec[0]) is str):
        raise CacheCorrupt(f"bad {what} record")
    for value in rec[1:]:
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
    return len(rec) > 5 and rec[5] is not None and _listing(path) == rec[5]


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


#: Provenance fields of an item: strings or null (shown by ``info()`` and the CLI).
_PROVENANCE = ("plugin", "origin", "module", "distribution", "version", "file")


def _items(raw: object, allowed: frozenset[str], where: str) -> dict[str, CachedItem]:
    """The items of one group; every reference must point into a module discovery recorded.

    That check is what keeps a hostile document from importing anything discovery did not
    find: a reference outside the recorded modules makes the whole document corrupt.
    """
    if type(raw) is not dict:
        raise CacheCorrupt(f"{where} is not an object")
    out: dict[str, CachedItem] = {}
    match = _REF_MODULE.match
    for key, info in raw.items():
        if not key:
            raise CacheCorrupt(f"empty key in {where}")
        if type(info) is not dict:
            raise CacheCorrupt(f"{where}[{key!r}] is not an object")
        ref = info.get("ref")
        found = match(ref) if type(ref) is str else None
        if found is None:
            raise CacheCorrupt(f"{where}[{key!r}].ref is not a module:qualname reference")
        if found.group(1) not in allowed:
            raise CacheCorrupt(
                f"{where}[{key!r}] points into {found.group(1)!r}, which discovery did not record"
            )
        for name in _PROVENANCE:
            value = info.get(name)
            if value is not None and type(value) is not str:
                raise CacheCorrupt(f"{where}[{key!r}].{name} not a string")
        keyed = info.get("keyed", False)
        if keyed is not True and keyed is not False:
            raise CacheCorrupt(f"{where}[{key!r}].keyed is not a boolean")
        out[key] = CachedItem(key, found.string, info)
    return out


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

    # -- location ---------------------------------------------------------------------------
    @property
    def path(self) -> Path:
        return registry_cache_file(self.config.name)

    @property
    def enabled(self) -> bool:
        return self.config.enable_cache and not settings.cache_disabled()

    def _settings(self) -> dict[str, Any]:
        recorded: dict[str, Any] = dict(settings.discovery_settings())
        recorded["blocked"] = sorted(self.blocked)
        return recorded

    # -- reading ----------------------------------------------------------------------------
    def load(self) -> CachedState | None:
        """The valid cached state, or None (missing, stale or corrupt: then rebuild)."""
        if not self.enabled:
            return None
        path = self.path
        try:
            doc = _fileio.read_document(path)
        except _fileio.StaleFormat as exc:
            logger.info(
                "registry %s: cache %s is stale (%s); rediscovering", self.config.name, path, exc
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
        except CacheInvalid as exc:
            logger.info("registry %s: cache is stale (%s); rediscovering", self.config.name, exc)
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
        return state

    def validate(self, doc: dict[str, Any], path: Path | None = None) -> CachedState:
        """Check *doc* against this process; raise CacheInvalid/CacheCorrupt or return it.

        Runs on every warm start, once per registry, so it is written for speed: cheap
        comparisons first, one pass over the recorded inputs, no per-field helper calls.
        """
        get = doc.get
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
        age = time.time() - ts  # type: ignore[operator]
        if age > self.config.max_age:
            raise CacheInvalid(f"older than max_age ({age:.0f}s > {self.config.max_age:.0f}s)")
        if age < -_FUTURE_TOLERANCE:
            raise CacheInvalid("timestamp lies in the future")
        if get("config") != _config_fingerprint(self.config):
            raise CacheInvalid("registry configuration changed")
        if get("settings") != self._settings():
            raise CacheInvalid("discovery settings changed")
        snap = snapshot()
        if get("interpreter") != snap.header:
            raise CacheInvalid("another interpreter or virtual environment")
        # anything modified this close to the write is compared by content, not by stat
        racy_ns = int(ts * 1e9) - _RACY_COARSE_NS  # type: ignore[operator]
        stat = snap.stat
        self._check_search_path(get("path"), snap.entries, racy_ns)
        self._check_launch(_obj(get("launch"), "launch"))
        for decl, rec in _obj(get("distributions"), "distributions").items():
            if stat(decl) != rec:
                raise CacheInvalid(f"entry-point declaration {decl} changed")
        files = _list(get("files"), "files")
        check = self.config.check_mtimes
        for rec in files:
            _sig_record(rec, 1, "file")
            if check and (
                stat(rec[0]) != rec[1:5] or (len(rec) == 6 and _digest(rec[0]) != rec[5])
            ):
                raise CacheInvalid(f"{rec[0]} changed")
        for rec in _list(get("dirs"), "dirs"):
            _sig_record(rec, 1, "folder")
            if check and not _folder_unchanged(rec[0], rec, stat(rec[0]), racy_ns):
                raise CacheInvalid(f"folder {rec[0]} changed")
        # references may point only into modules whose file is recorded (and was just checked)
        watched = {rec[0] for rec in files if rec[1] is not None}
        allowed = frozenset(
            name
            for name, file in _obj(get("modules"), "modules").items()
            if type(file) is str and file in watched
        )
        items = _items(get("items"), allowed, "items")
        raw_secondaries = _obj(get("secondaries"), "secondaries")
        secondaries: dict[str, dict[str, CachedItem]] = {}
        for sec in self.config.secondary_registries:
            group = _items(raw_secondaries.get(sec.name), allowed, f"secondaries.{sec.name}")
            _expect(group.keys() <= items.keys(), f"{sec.name} keys not in primary")
            secondaries[sec.name] = group
        _expect(len(raw_secondaries) == len(secondaries), "secondary registries differ")

        failures = _failures(get("failures"), "failures")
        for failure in failures:
            _expect(failure.registry == self.config.name, "failure of another registry")
            if failure.missing_module and _importable(failure.missing_module):
                raise CacheInvalid(
                    f"{failure.missing_module!r}, missing for plugin {failure.plugin!r}, "
                    "is now installed"
                )
        plugins = _list(get("plugins"), "plugins")
        _expect(all(type(p) is dict for p in plugins), "plugin entry is not an object")
        blocked_modules = _list(get("blocked_modules"), "blocked_modules")
        _expect(all(type(m) is str for m in blocked_modules), "bad blocked_modules")
        return CachedState(
            items=items,
            secondaries=secondaries,
            failures=failures,
            modules=allowed,
            plugins=plugins,
            timestamp=float(ts),  # type: ignore[arg-type]
            path=path or self.path,
            skipped=_failures(get("skipped"), "skipped"),
            blocked_modules=frozenset(blocked_modules),
        )

    @staticmethod
    def _check_search_path(recorded: object, entries: list[str], racy_ns: int) -> None:
        """``sys.path`` (normalised) is the same list, and no entry gained or lost a module."""
        rows = _list(recorded, "path")
        if len(rows) != len(entries):
            raise CacheInvalid("sys.path changed")
        stat = snapshot().stat
        for entry, rec in zip(entries, rows, strict=True):
            _sig_record(rec, 1, "sys.path")
            if rec[0] != entry:
                raise CacheInvalid(f"sys.path changed ({entry})")
            if not _folder_unchanged(entry, rec, stat(entry), racy_ns):
                raise CacheInvalid(f"{entry} changed (a distribution installed or removed?)")

    @staticmethod
    def _check_launch(launch: dict[str, Any]) -> None:
        """The recorded names that the launch folder (cwd, script folder) provides, per name.

        The launch folder is not fingerprinted (it differs between programs and changes
        whenever a file is saved there); only whether it shadows a recorded name matters.
        """
        tops = launch.get("tops")
        if not tops:
            return
        _expect(type(tops) is list and type(launch.get("present")) is list, "bad launch")
        folder = launch_folder()
        if folder is None:
            present: set[str] = set()
        else:
            names = snapshot().names(os.path.abspath(folder or os.curdir))
            present = set() if names is None else names.intersection(tops)
        if present != set(launch["present"]):
            raise CacheInvalid("the launch folder shadows another set of recorded names")
        if present and launch.get("folder") != [os.path.abspath(folder or os.curdir)]:
            # the same names, from another launch folder: other modules under those names
            raise CacheInvalid("recorded names come from another launch folder")

    # -- writing ----------------------------------------------------------------------------
    def save(self, result: DiscoveryResult) -> bool:
        """Write what a fresh process would find (run-time registrations left out)."""
        if not self.enabled:
            return False
        if not result.cacheable:
            logger.info("registry %s: not cached: %s", self.config.name, result.uncacheable_reason)
            return False
        doc = self.build_document(result)
        ok = _fileio.write_document(self.path, doc)
        if ok:
            logger.debug("registry %s: cache written to %s", self.config.name, self.path)
        return ok

    def build_document(self, result: DiscoveryResult) -> dict[str, Any]:
        files: dict[str, Any] = {}
        dirs: dict[str, Any] = {}
        modules: dict[str, str] = {}
        for inputs in result.inputs.values():
            for file, value in inputs.files.items():
                files.setdefault(file, value)
            for folder, value in inputs.dirs.items():
                dirs.setdefault(folder, value)
            for name, found in inputs.modules.items():
                if found is not None:
                    modules.setdefault(name, found)
        for name in result.modules:  # plugin and value modules imported before discovery
            loaded = getattr(sys.modules.get(name), "__file__", None)
            if name not in modules and isinstance(loaded, str) and os.path.abspath(loaded) in files:
                modules[name] = os.path.abspath(loaded)
        now_ns = time.time_ns()
        file_rows = []
        for file in sorted(files):
            value = files[file]
            row = [file, *(value or (None, None, None, None))]
            if value is not None and _is_racy(value[0], now_ns):
                row.append(_digest(file))
            file_rows.append(row)
        dir_rows = []
        for folder in sorted(dirs):
            value = dirs[folder]
            dir_rows.append([folder, *(value or (None, None, None, None)), _listing(folder)])
        env = result.environment or {}
        header = {k: v for k, v in env.items() if k not in ("path", "listings")}

        def items(group: dict[str, Candidate]) -> dict[str, Any]:
            return {
                key: {"ref": cand.ref, **cand.provenance()}
                for key, cand in sorted(group.items())
                if cand.persist and cand.ref is not None
            }

        persisted = items(result.items)
        return {
            "cache_version": CACHE_VERSION,
            "version": __version__,
            "registry": self.config.name,
            "timestamp": time.time(),
            "config": _config_fingerprint(self.config),
            "settings": self._settings(),
            "interpreter": header,
            "path": [
                [entry, *(value or (None, None, None, None)), listing]
                for (entry, value), listing in zip(
                    env.get("path", ()), env.get("listings", ()), strict=True
                )
            ],
            "launch": result.launch or {"tops": [], "present": []},
            "distributions": result.distributions,
            "files": file_rows,
            "dirs": dir_rows,
            "modules": dict(sorted(modules.items())),
            "items": persisted,
            "secondaries": {
                name: {k: v for k, v in items(group).items() if k in persisted}
                for name, group in result.secondaries.items()
            },
            "failures": [f.to_json() for f in result.failures],
            "skipped": [f.to_json() for f in result.skipped],
            "blocked_modules": sorted(result.blocked_modules),
            "plugins": result.plugins,
        }

    def clear(self) -> bool:
        """Delete this registry's cache file (only if it is ours); True if one was removed."""
        path = self.path
        return _fileio.is_our_document(path) and _fileio.remove_document(path)

    def info(self) -> dict[str, Any]:
        """Health summary for ``openhcs-registry cache info`` (never raises)."""
        path = self.path
        out: dict[str, Any] = {"registry": self.config.name, "path": str(path)}
        try:
            doc = _fileio.read_document(path)
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


_fingerprints: dict[int, tuple[RegistryConfig, dict[str, Any]]] = {}


def _config_fingerprint(config: RegistryConfig) -> dict[str, Any]:
    """``config.fingerprint()``, computed once per (immutable) configuration object."""
    memo = _fingerprints.get(id(config))
    if memo is None or memo[0] is not config:
        memo = (config, config.fingerprint())
        _fingerprints[id(config)] = memo
    return memo[1]


def _importable(missing: str) -> bool:
    """Whether a module recorded as missing may be importable now (nothing is imported).

    Installing it anywhere on ``sys.path`` changes that folder's mtime, which the environment
    fingerprint has already checked; what is left is the launch folder, which the
    fingerprint leaves out (a ``zarr.py`` saved next to the script), and a module put into
    ``sys.modules`` by hand.  Searching only there keeps this check cheap on every start.
    """
    top = missing.split(".")[0]
    if top in sys.modules or top in sys.builtin_module_names:
        return True
    folder = launch_folder()
    if folder is None:
        return False
    from importlib.machinery import PathFinder

    try:
        return PathFinder.find_spec(top, [folder]) is not None
    except Exception:
        return False


def clear_cache(name: str | None = None) -> list[Path]:
    """Delete the cache file of registry *name*, or every openhcs cache file; return them."""
    folder = get_openhcs_cache_dir()
    removed: list[Path] = []
    if name is not None:
        path = registry_cache_file(name)
        if _fileio.is_our_document(path) and _fileio.remove_document(path):
            removed.append(path)
        return removed
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for entry in sorted(names):
        # only our own documents: a folder shared with other files keeps them
        if entry.endswith(".json") and not entry.startswith("."):
            path = folder / entry
            if _fileio.is_our_document(path) and _fileio.remove_document(path):
                removed.append(path)
    return removed
