"""The per-plugin snapshot record: what one plugin gave a registry and what it read.

Discovery produces one :class:`PluginRecord` per plugin (an entry point, a discovery-package
listing, a scanned module, the custom discovery function); the cache saves and loads the
records unchanged; incremental rediscovery reuses the records whose inputs are unchanged and
re-runs only the others; the merge (conflict order, secondaries, failures) is computed from
all records alike, so an incremental answer is built the same way as a fresh one.

A record holds

* its identity: name, origin, module, distribution and version, the entry-point declaration
  (``module:attr``) it was loaded from, or the modules a discovery-package listing found;
* its *offers*: every value its hook returned, in order, each judged on its own (accepted
  with its key and ``module:qualname`` reference and derived secondaries, or refused with the
  failure), before any other plugin is looked at;
* its own failures (import, hook, unknown hookimpl) and quiet skips;
* its inputs (:class:`._inputs.Inputs`: files with stat signatures, folders, names looked
  for and not found, top-level names).

Cold: the cache builds records from a document only when it must rediscover (incremental
reuse, ``explain()``); a warm read keeps the document's records as parsed and never imports
this module.  The typed shapes below exist for type checkers only.
"""

from __future__ import annotations

from .._diagnostics import PluginFailure

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Literal, TypedDict

    from ._inputs import Inputs

    #: Where a plugin came from (the conflict rule ranks them in this order).
    Origin = Literal["entry_point", "package", "custom", "runtime", "import_time", "listing"]

    class Provenance(TypedDict):
        """Where an item came from, as ``registry.info(key)`` shows it."""

        plugin: str
        origin: Origin
        module: str | None
        distribution: str | None
        version: str | None
        file: str | None

    class PluginDoc(TypedDict, total=False):
        """One record as the cache document stores it (provenance once per plugin)."""

        name: str
        origin: Origin
        module: str | None
        distribution: str | None
        version: str | None
        declaration: str | None
        priority: int | None
        listed: list[str] | None
        offers: list[list[Any]]
        failures: list[dict[str, Any]]
        skipped: list[dict[str, Any]]
        files: list[int]
        dirs: list[int]
        names: list[list[Any]]
        missing: list[str]
        tops: list[str]
        modules: list[str]
        environ: list[str]
        reusable: bool
        volatile: str | None


def _chain(module: str | None) -> list[str]:
    """``a``, ``a.b``, ``a.b.c`` for module ``a.b.c`` (what importing it loads of ours)."""
    if not module:
        return [""]
    out = []
    at = module.find(".")
    while at >= 0:
        out.append(module[:at])
        at = module.find(".", at + 1)
    out.append(module)
    return out


def stored_tops(doc: dict[str, Any]) -> list[str]:
    """The top-level names a stored record looked up (see :meth:`PluginRecord.to_json`)."""
    found = doc.get("tops")
    if found is not None:
        return list(found)
    module = doc.get("module")
    return [module.partition(".")[0]] if type(module) is str and module else []


def add_launch_tops(tops: set[str], doc: dict[str, Any]) -> None:
    """Add to *tops* the top-level names the launch record counts for stored record *doc*
    (as :func:`._discovery._recording.record_environment` gathers them): its entry
    point's module's, those it looked up, those it looked for and did not find."""
    module = doc.get("module")
    if doc.get("origin") == "entry_point" and type(module) is str:
        tops.add(module.partition(".")[0])
    tops.update(stored_tops(doc))
    missing = doc.get("missing")
    if missing:
        tops.update(m.partition(".")[0] for m in missing)


def stored_modules(doc: dict[str, Any]) -> list[str]:
    """The modules a stored record imported (see :meth:`PluginRecord.to_json`)."""
    found = doc.get("modules")
    if found is not None:
        return list(found)
    module = doc.get("module")
    return _chain(module) if type(module) is str and module else []


class Offer:
    """One value a plugin's hook returned, judged on its own.

    ``failure`` is None for an accepted value (then ``key`` and, if it can be cached,
    ``ref`` are set) or the reason it was refused.  ``secondaries`` maps each secondary
    registry to the derived ``module:qualname`` reference, None (nothing derived) or a
    :class:`PluginFailure` (derivation failed), for accepted values only.
    """

    __slots__ = ("failure", "given", "key", "live", "ref", "secondaries", "value")

    def __init__(
        self,
        key: str | None,
        ref: str | None,
        given: bool,
        failure: PluginFailure | None = None,
        value: Any = None,
        live: bool = False,
    ) -> None:
        self.key = key
        self.ref = ref
        self.given = given  # the key was given explicitly (a mapping result)
        self.failure = failure
        self.value = value  # the live object (fresh discovery only)
        self.live = live
        self.secondaries: dict[str, Any] = {}

    def identity(self) -> object:
        """What tells two offers of one object apart from two objects (ref or the object)."""
        return self.ref if self.ref is not None else ("id", id(self.value))

    def to_json(self) -> list[Any]:
        secs: dict[str, Any] = {}
        for name, derived in self.secondaries.items():
            secs[name] = derived.to_json() if isinstance(derived, PluginFailure) else derived
        row: list[Any] = [self.key, self.ref, self.given]
        if self.failure is not None or secs:
            row.append(self.failure.to_json() if self.failure is not None else None)
        if secs:
            row.append(secs)
        return row

    @classmethod
    def from_json(cls, row: list[Any]) -> Offer:
        key, ref, given = row[0], row[1], row[2]
        if (key is not None and type(key) is not str) or (ref is not None and type(ref) is not str):
            raise ValueError("bad offer")
        if type(given) is not bool or (len(row) > 4 and type(row[4]) is not dict):
            raise ValueError("bad offer")
        failure = PluginFailure.from_json(row[3]) if len(row) > 3 and row[3] is not None else None
        offer = cls(key, ref, bool(given), failure)
        if len(row) > 4:
            for name, derived in row[4].items():
                if derived is not None and type(derived) not in (str, dict):
                    raise ValueError("bad derived entry")
                offer.secondaries[name] = (
                    PluginFailure.from_json(derived) if type(derived) is dict else derived
                )
        return offer


class PluginRecord:
    """Everything one plugin contributed to one registry, and everything it read."""

    __slots__ = (
        "declaration",
        "distribution",
        "failures",
        "inputs",
        "listed",
        "module",
        "name",
        "offers",
        "origin",
        "priority",
        "reusable",
        "skipped",
        "stored",
        "version",
        "volatile",
    )

    def __init__(
        self,
        name: str,
        origin: Origin,
        module: str | None,
        distribution: str | None = None,
        version: str | None = None,
        declaration: str | None = None,
        inputs: Inputs | None = None,
    ) -> None:
        self.name = name
        self.origin = origin
        self.module = module
        self.distribution = distribution
        self.version = version
        self.declaration = declaration
        self.inputs = inputs
        #: pluggy priority of its hookimpl (0 tryfirst, 1 normal, 2 trylast); None: not called
        self.priority: int | None = None
        #: for a discovery-package listing: the modules it found
        self.listed: list[str] | None = None
        self.offers: list[Offer] = []
        self.failures: list[PluginFailure] = []
        self.skipped: list[PluginFailure] = []
        #: False when reusing it without importing it would miss what its import did
        #: (it noted classes at import time that it did not return itself)
        self.reusable = True
        #: why its part cannot be cached (an instance, a key JSON cannot hold), else None:
        #: such a plugin is called again on every start, the rest of the registry is not
        self.volatile: str | None = None
        #: a record reused from a document: ``(its stored form, file rows, folder rows,
        #: modules)`` of that document; its inputs stay in that form (carried over as is)
        self.stored: tuple[dict[str, Any], list[Any], list[Any], dict[str, Any]] | None = None

    # -- what it read, live or stored ----------------------------------------------------------
    def module_names(self) -> list[str]:
        """The modules it imported."""
        if self.stored is not None:
            return stored_modules(self.stored[0])
        return list(self.inputs.modules) if self.inputs is not None else []

    @property
    def builtin(self) -> bool:
        return self.distribution == "openhcs-registry"

    def provenance(self, file: str | None = None) -> Provenance:
        return {
            "plugin": self.name,
            "origin": self.origin,
            "module": self.module,
            "distribution": self.distribution,
            "version": self.version,
            "file": file,
        }

    def same_identity(self, other: PluginRecord) -> bool:
        """Whether *other* (found now) is this plugin, declared the same way."""
        return self.declared_as(
            other.name,
            other.origin,
            other.module,
            other.distribution,
            other.version,
            other.declaration,
        )

    def declared_as(
        self,
        name: str,
        origin: str,
        module: str | None,
        distribution: str | None,
        version: str | None,
        declaration: str | None,
    ) -> bool:
        """Whether the plugin found now with this identity is this one, declared the same
        way (:meth:`same_identity` without building the other record)."""
        return (
            self.name == name
            and self.origin == origin
            and self.module == module
            and self.distribution == distribution
            and self.version == version
            and self.declaration == declaration
        )

    def add_looked_up(self, tops: set[str], files: set[str]) -> None:
        """Add to *tops* the top-level names it imported or looked for and did not find,
        and to *files* the files it read (into the caller's sets, building none: thousands
        of records at an incremental start)."""
        stored = self.stored
        if stored is not None:
            raw, rows = stored[0], stored[1]
            tops.update(stored_tops(raw))
            missing = raw.get("missing")
            for at in raw.get("files", ()):
                files.add(rows[at][0])
        elif self.inputs is not None:
            tops |= self.inputs.tops
            missing = self.inputs.missing
            files.update(self.inputs.files)
        else:
            return
        if missing:
            tops.update(m.split(".")[0] for m in missing)

    def to_json(
        self, files: list[int], dirs: list[int], names: list[list[Any]] | None = None
    ) -> PluginDoc:
        doc: PluginDoc = {"name": self.name, "origin": self.origin, "module": self.module}
        if self.distribution is not None:
            doc["distribution"] = self.distribution
            doc["version"] = self.version
        if self.declaration is not None and self.declaration != self.module:
            doc["declaration"] = self.declaration  # left out when it is just the module
        if self.priority is not None:
            doc["priority"] = self.priority
        if self.listed is not None:
            doc["listed"] = self.listed
        if self.volatile is None and self.offers:
            doc["offers"] = [o.to_json() for o in self.offers]
        if self.failures:
            doc["failures"] = [f.to_json() for f in self.failures]
        if self.skipped:
            doc["skipped"] = [f.to_json() for f in self.skipped]
        inputs = self.inputs
        if files:
            doc["files"] = files
        if dirs:
            doc["dirs"] = dirs
        if names:
            doc["names"] = names
        if inputs is not None:
            if inputs.missing:
                doc["missing"] = sorted(inputs.missing)
            # left out when they are just the plugin's module and its packages
            own = _chain(self.module)
            if inputs.tops != {own[0]}:
                doc["tops"] = sorted(inputs.tops)
            if sorted(inputs.modules) != own:
                doc["modules"] = sorted(inputs.modules)
            if inputs.environ:  # (the values: the environment section's rows)
                doc["environ"] = sorted(inputs.environ)
        if not self.reusable:
            doc["reusable"] = False
        if self.volatile is not None:
            doc["volatile"] = self.volatile
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> PluginRecord:
        """A record read back (its inputs are checked by the caller, from the tables).

        An incremental start reads thousands of records: one look per field, the slots
        set directly (no ``__init__`` defaults built and thrown away), and the common
        offer ``[key, ref, given]`` read here; every field is type-checked all the same.
        """
        get = doc.get
        name = doc["name"]
        origin = doc["origin"]
        if type(name) is not str or type(origin) is not str:
            raise ValueError("bad plugin record")
        module = get("module")
        if type(module) is not str:
            module = None
        declaration = get("declaration")
        distribution = get("distribution")
        version = get("version")
        if distribution is not None and type(distribution) is not str:
            raise ValueError("bad plugin record distribution")
        if version is not None and type(version) is not str:
            raise ValueError("bad plugin record version")
        if declaration is not None and type(declaration) is not str:
            raise ValueError("bad plugin record declaration")
        if declaration is None and origin == "entry_point":
            declaration = module
        priority = get("priority")
        if priority not in (None, 0, 1, 2) or type(priority) is bool:
            raise ValueError("bad plugin record priority")
        listed = get("listed")
        if listed is not None:
            if not (type(listed) is list and all(type(m) is str for m in listed)):
                raise ValueError("bad plugin record listing")
            listed = list(listed)
        record = cls.__new__(cls)
        record.name = name
        record.origin = origin  # type: ignore[assignment]  # one of the Origin names, as written
        record.module = module
        record.distribution = distribution
        record.version = version
        record.declaration = declaration
        record.inputs = None
        record.priority = priority
        record.listed = listed
        offers = get("offers")
        found: list[Offer] = []
        if offers is not None:
            new_offer = Offer.__new__
            for row in offers:
                if type(row) is list and len(row) == 3:  # accepted, nothing derived
                    key, ref, given = row
                    if (
                        (key is not None and type(key) is not str)
                        or (ref is not None and type(ref) is not str)
                        or type(given) is not bool
                    ):
                        raise ValueError("bad offer")
                    offer = new_offer(Offer)
                    offer.key = key
                    offer.ref = ref
                    offer.given = given
                    offer.failure = None
                    offer.value = None
                    offer.live = False
                    offer.secondaries = {}
                    found.append(offer)
                else:
                    found.append(Offer.from_json(row))
        record.offers = found
        failures = get("failures")
        record.failures = [] if failures is None else [PluginFailure.from_json(f) for f in failures]
        skipped = get("skipped")
        record.skipped = [] if skipped is None else [PluginFailure.from_json(f) for f in skipped]
        record.reusable = get("reusable", True) is True
        volatile = get("volatile")
        record.volatile = volatile if type(volatile) is str else None
        record.stored = None
        return record
