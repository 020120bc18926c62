"""The one snapshot record of a registry's answer: :class:`Snapshot` of :class:`Entry` items.

Discovery returns a snapshot (``source == "fresh"``, with the per-plugin records it was
merged from), the cache loads one from a valid document (``source == "cache"``) and saves
a fresh one, and the registry installs either unchanged: there is no converted copy.

An :class:`Entry` is one key: a live value, or a ``module:qualname`` reference resolved on
first read (``value is UNRESOLVED``).  Its provenance (``registry.info(key)``) is assembled
on first use: a cached entry from its plugin's stored record (stored once per plugin), a
fresh one from the merge's candidate (:class:`._discovery.Candidate`, an Entry).

On the warm path (a cache load builds one Entry per cached key): no ``typing`` at run time.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, Literal, TypedDict

    from ._cold._inputs import Inputs
    from ._cold._records import Origin, PluginRecord
    from ._diagnostics import PluginFailure

    #: Where an entry's value comes from in this process.
    Source = Literal["cache", "fresh", "runtime"]

    class Info(TypedDict, total=False):
        """An entry's provenance, as ``registry.info(key)`` shows it (with key and source)."""

        ref: str | None
        keyed: bool
        plugin: str | None
        origin: Origin | None
        module: str | None
        distribution: str | None
        version: str | None
        file: str | None


class _Unresolved:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<unresolved>"


#: The value of an entry known only by its reference (not imported yet).
UNRESOLVED: Any = _Unresolved()


def _parsed(text: str, kind: type) -> Any:
    """*text* parsed as JSON if it is a *kind*, else an empty *kind* (a damaged part)."""
    import orjson

    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return kind()
    return value if type(value) is kind else kind()


class Stored:
    """What a cached snapshot keeps of its document besides the items.

    The file paths are read on a warm start (their stats are the check).  The module table
    (``{module: row of its file}``) and the blocked modules stay JSON text until a value
    is resolved (a reference may point only into a recorded module's file: checked then,
    :func:`._resolve.import_entry`) or a class noted at import time is judged: a warm
    listing pays for neither.  The plugin records and their calling order are in the
    document's cold part, parsed only when provenance or the plugin list is first asked
    for (``registry.info``, ``registry.plugins``).  A part that cannot be parsed gives
    nothing (no recorded module, no record): a reference then goes stale and the registry
    is rediscovered; provenance degrades; nothing breaks.
    """

    __slots__ = ("_blocked", "_cold", "_load", "_missing", "_modules", "_records", "files")

    def __init__(
        self,
        modules: str,
        files: list[str],
        load: Callable[[], dict[str, Any]],
        missing: frozenset[int],
        blocked: str,
    ) -> None:
        self._modules: str | dict[str, Any] = modules  # JSON text until first needed
        self.files = files
        self._missing = missing  # rows of files recorded as missing
        self._blocked = blocked
        self._load = load  # parses (and checksums) the cold part; raises if it is unusable
        self._cold: dict[str, Any] | None = None
        self._records: list[dict[str, Any]] | None = None

    @property
    def modules(self) -> dict[str, Any]:
        """``{module: row}``, parsed on first use (JSON text of another shape: empty)."""
        found = self._modules
        if type(found) is str:
            found = self._modules = _parsed(found, dict)
        return found  # type: ignore[return-value]

    def allowed(self) -> frozenset[str]:
        """The modules a reference may point into: recorded with a file that exists."""
        count = len(self.files)
        missing = self._missing
        return frozenset(
            name
            for name, at in self.modules.items()
            if type(at) is int and 0 <= at < count and at not in missing
        )

    def blocked(self) -> frozenset[str]:
        """The modules whose classes are never overlaid (see :class:`Snapshot`)."""
        return frozenset(n for n in _parsed(self._blocked, list) if type(n) is str)

    def file_of(self, module: str) -> str | None:
        """The recorded file of *module*, if any."""
        at = self.modules.get(module)
        files = self.files
        return files[at] if type(at) is int and 0 <= at < len(files) else None

    def cold(self) -> dict[str, Any]:
        cold = self._cold
        if cold is None:
            try:
                cold = self._load()
            except Exception:  # damaged or hostile: no records (the answer was checked)
                cold = {}
            self._cold = cold
        return cold

    def records(self) -> list[dict[str, Any]]:
        """The stored plugin records (those of the wrong shape as empty records)."""
        records = self._records
        if records is None:
            found = self.cold().get("plugins")
            records = [r if type(r) is dict else {} for r in found] if type(found) is list else []
            self._records = records
        return records

    def record(self, index: int) -> dict[str, Any]:
        records = self.records()
        return records[index] if 0 <= index < len(records) else {}

    def hooks(self) -> list[int]:
        """Indexes of the records whose hook ran, in calling order."""
        count = len(self.records())
        found = self.cold().get("hooks")
        if type(found) is not list:
            return list(range(count))
        return [i for i in found if type(i) is int and 0 <= i < count]


class Entry:
    """One registry key: its value (or :data:`UNRESOLVED`), reference and provenance.

    The constructor is the cache's form (called once per cached key on a warm start):
    provenance comes from record *plugin* (an index) of *table*, the document's
    :class:`Stored` part, and so does the module's file: read only when ``info`` is asked for.
    """

    __slots__ = ("_info", "_plugin", "_table", "key", "keyed", "ref", "source", "value")

    def __init__(
        self,
        key: str,
        ref: str | None,
        plugin: int | None = None,
        keyed: bool = False,
        table: Stored | None = None,
    ) -> None:
        self.key = key
        self.ref = ref
        self._plugin = plugin
        self.keyed = keyed  # the key was given explicitly (a mapping result)
        self._table = table
        self.value: Any = UNRESOLVED
        self.source: Source = "cache"
        self._info: Info | None = None

    @classmethod
    def live(cls, key: str, value: Any, info: Info, ref: str | None = None) -> Entry:
        """An entry of this process only (run-time registration, import-time overlay)."""
        entry = cls(key, ref)
        entry.value = value
        entry.source = "runtime"
        entry._info = info
        return entry

    @property
    def info(self) -> Info:
        info = self._info
        if info is None:
            info = self._info = self._provenance()
        return info

    def _provenance(self) -> Info:
        table = self._table
        ref = self.ref or ""
        module = ref.partition(":")[0]
        file = None
        plugin: dict[str, Any] = {}
        if table is not None:
            file = table.file_of(module)
            if self._plugin is not None:
                plugin = table.record(self._plugin)
        return {
            "ref": self.ref,
            "keyed": self.keyed,
            "plugin": plugin.get("name"),
            "origin": plugin.get("origin"),
            "module": module,
            "distribution": plugin.get("distribution"),
            "version": plugin.get("version"),
            "file": file if type(file) is str else None,
        }


class Snapshot:
    """A registry's complete answer, immutable once installed.

    Everything a read needs: ``items`` and ``secondaries`` (:class:`Entry` by key),
    ``failures`` and ``skipped``, the recorded ``modules`` (references are imported only
    from these) and ``blocked_modules`` (classes noted in them are never overlaid), and the
    plugins whose hook ran.  A fresh snapshot also carries what the cache writes and
    incremental rediscovery reuses: the per-plugin ``records``, the environment looked at,
    the entry-point scan (until it is installed: see :meth:`written`); a cached one where
    it was read from (``path``, ``timestamp``).
    """

    __slots__ = (
        "_blocked_modules",
        "_modules",
        "_plugins",
        "_table",
        "cacheable",
        "distributions",
        "environment",
        "failures",
        "imported",
        "items",
        "launch",
        "module_files",
        "package_dirs",
        "path",
        "records",
        "reused",
        "secondaries",
        "skipped",
        "source",
        "timestamp",
        "uncacheable_reason",
    )

    def __init__(
        self,
        source: Source = "fresh",
        items: dict[str, Any] | None = None,
        secondaries: dict[str, dict[str, Any]] | None = None,
        failures: list[PluginFailure] | None = None,
        modules: set[str] | frozenset[str] | None = None,
        plugins: list[dict[str, Any]] | None = None,
        timestamp: float = 0.0,
        path: str | None = None,
        skipped: list[PluginFailure] | None = None,
        blocked_modules: set[str] | frozenset[str] | None = None,
        table: Stored | None = None,
    ) -> None:
        self.source = source
        self.items: dict[str, Any] = {} if items is None else items
        self.secondaries: dict[str, dict[str, Any]] = {} if secondaries is None else secondaries
        self.failures: list[PluginFailure] = [] if failures is None else failures
        self.skipped: list[PluginFailure] = [] if skipped is None else skipped
        # None in a cached snapshot: taken from its table when first needed (see below)
        self._modules = modules if modules is not None or table is not None else set()
        self._blocked_modules = (
            blocked_modules if blocked_modules is not None or table is not None else set()
        )
        #: a fresh snapshot: the plugins in calling order
        self._plugins: list[dict[str, Any]] = [] if plugins is None else plugins
        self._table = table  # a cached snapshot: what it keeps of its document
        self.timestamp = timestamp
        self.path = path
        # what a fresh discovery found besides the answer (empty in a cached snapshot)
        self.records: dict[str, PluginRecord] = {}
        #: installed: the modules the plugins loaded now imported or found imported (their
        #: records' inputs, which :meth:`written` drops)
        self.imported: frozenset[str] = frozenset()
        self.reused: set[str] = set()
        self.module_files: dict[str, str] = {}
        self.package_dirs: set[str] = set()
        self.launch: dict[str, list[str]] = {}
        self.environment: dict[str, Any] = {}
        self.distributions: dict[str, Any] = {}
        self.cacheable = True
        self.uncacheable_reason: str | None = None

    @property
    def modules(self) -> set[str] | frozenset[str]:
        """The recorded modules: a reference is imported only from one of these (a cached
        snapshot reads them from its table on first use: a warm listing never does)."""
        found = self._modules
        if found is None:
            table = self._table
            found = self._modules = table.allowed() if table is not None else frozenset()
        return found

    @property
    def blocked_modules(self) -> set[str] | frozenset[str]:
        """Modules whose classes noted at import time are never overlaid (a cached
        snapshot reads them from its table on first use)."""
        found = self._blocked_modules
        if found is None:
            table = self._table
            found = self._blocked_modules = table.blocked() if table is not None else frozenset()
        return found

    @property
    def plugins(self) -> list[dict[str, Any]]:
        """The plugins whose hook ran, in calling order (name, origin, module, ...)."""
        table = self._table
        if self.source != "cache" or table is None:
            return self._plugins
        records = table.records()
        fields = ("name", "origin", "module", "distribution", "version")
        return [{f: records[i].get(f) for f in fields} for i in table.hooks()]

    def recorded_file(self, module: str) -> tuple[bool, str | None]:
        """Whether *module*'s file was recorded (and checked), and which file.

        A cached snapshot records the file of every module a reference may point into (a
        reference into any other is stale); a fresh one only those of reused records,
        whose modules were not imported here.
        """
        if self.source == "cache":
            if self._table is None:
                return True, None
            return True, self._table.file_of(module)
        file = self.module_files.get(module)
        return file is not None, file

    def written(self) -> Snapshot:
        """This snapshot without what only the cache writer needed; returned for installing.

        The entry-point scan, the environment looked at and the per-plugin records are read
        only to write the next document (and to tell whether an incremental run reran only
        the plugins called on every start).  An installed registry keeps the answer, the
        plugins in calling order, the reused records' module files, and of the records only
        what :func:`._explain.explain` reads: the modules the plugins loaded now imported
        (:attr:`imported`).  Dropping the rest here frees it by reference count, instead of
        at exit, where every object still alive is traversed by the collector that tears
        the modules down: at 2000 plugins a cold start's records (inputs, candidates,
        offers: ~37,000 objects) took ~45 ms of that teardown, as long as the collection
        of everything plain pluggy leaves behind.
        """
        self.distributions = {}
        self.environment = {}
        self.imported = frozenset(self.imports())
        self.records = {}
        return self

    def imports(self) -> set[str]:
        """The modules the plugins loaded now imported or found imported (from their
        records' inputs, or once installed, what :meth:`written` kept of them)."""
        found = set(self.imported)
        for inputs in self.inputs.values():
            found.update(inputs.modules)
        return found

    @property
    def inputs(self) -> dict[str, Inputs]:
        """What each plugin loaded now read, by plugin name (reused records keep theirs in
        their stored form: :meth:`PluginRecord.module_names`, :meth:`~PluginRecord.file_paths`)."""
        return {n: r.inputs for n, r in self.records.items() if r.inputs is not None}

    @property
    def volatile(self) -> list[str]:
        """Plugins whose part cannot be cached: called again on every start."""
        return [n for n, r in self.records.items() if r.volatile is not None]
