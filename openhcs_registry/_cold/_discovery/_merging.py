"""The merge, from all records alike (reused and new): one answer for every key.

The same object offered by two roads is judged once, the conflict rule picks each key's
winner (see the package docstring), secondaries come from the winners, and classes noted at
import time join.  The winners are :class:`Candidate` entries, installed as they are.

Four functions, each returning what it found: :func:`collect` (every record's offers in
calling order), :func:`import_time` (the classes noted at import time that no hook
offered), :func:`merge` (each key's winner) and :func:`derive_secondaries`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from ... import _autoregister as autoregister
from ..._diagnostics import FailureKind, PluginFailure, report
from ..._refs import reference_of
from ..._rules import requires_message
from ..._snapshot import UNRESOLVED as _UNRESOLVED
from ..._snapshot import Entry
from .. import _inputs
from .._inputs import Inputs
from .._records import Offer, PluginRecord
from ._calling import calling_order
from ._context import Context, dist_of, judged_when_noted
from ._judging import judge

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..._snapshot import Info
    from ._listing import Listing

#: Between otherwise equal candidates: an entry point's hook beats a package scan, which
#: beats a run-time plugin object, which beats a class merely noted at import time.
_ORIGIN_RANK = {"entry_point": 0, "custom": 1, "package": 1, "runtime": 2, "import_time": 3}


class DuplicateKeyError(ValueError):
    """Raised in ``conflict_policy="strict"`` registries when two plugins claim one key."""


class Candidate(Entry):
    """One accepted value for one key in the merge, with the record it came from.

    The winners are the fresh snapshot's entries as they are (no copy): the merge's own
    fields (*rank*, *ident*, *secondaries*) ride along unused after it.
    """

    __slots__ = (
        "dist_version",
        "distribution",
        "file",
        "ident",
        "module",
        "origin",
        "persist",
        "plugin",
        "rank",
        "secondaries",
    )

    def __init__(
        self,
        key: str,
        value: Any,
        plugin: str,
        origin: str,  # "entry_point" | "package" | "custom" | "import_time" | "runtime"
        module: str | None,
        distribution: str | None = None,
        dist_version: str | None = None,
        rank: tuple[Any, ...] = (),
        ref: str | None = None,
        persist: bool = True,
        keyed: bool = False,  # the key was given explicitly (mapping result)
        ident: object = None,  # the object's identity across roads (its reference, else id)
        secondaries: dict[str, Any] | None = None,
        file: str | None = None,
    ) -> None:
        super().__init__(key, ref, None, keyed)
        self.source = "fresh"
        self.value = value
        self.plugin = plugin
        self.origin = origin
        self.module = module
        self.distribution = distribution
        self.dist_version = dist_version
        self.rank = rank
        self.persist = persist
        self.ident = ident
        self.secondaries: dict[str, Any] = {} if secondaries is None else secondaries
        #: the module's file as a reused record's document recorded it (not imported here)
        self.file = file

    def _provenance(self) -> Info:
        return {
            "ref": self.ref,
            "keyed": self.keyed,
            "plugin": self.plugin,
            "origin": self.origin,  # type: ignore[typeddict-item]
            "module": self.module,
            "distribution": self.distribution,
            "version": self.dist_version,
            "file": _module_file(self.module) or self.file,
        }


def _module_file(module: str | None) -> str | None:
    if not module:
        return None
    mod = sys.modules.get(module)
    path = getattr(mod, "__file__", None)
    return os.path.abspath(path) if isinstance(path, str) else None


def _under(module: str | None, roots: set[str] | frozenset[str]) -> bool:
    """Whether *module* is one of *roots* or inside one of them."""
    return bool(module) and any(module == r or module.startswith(r + ".") for r in roots)  # type: ignore[union-attr]


def _label(cand: Candidate) -> str:
    """The qualname shown in conflict messages (the same for a reused and a live value)."""
    if cand.ref is not None:
        return cand.ref.split(":", 1)[1]
    value = cand.value
    return str(getattr(value, "__qualname__", None) or type(value).__qualname__)


# -- the merge: every record alike -------------------------------------------------------
class Collected:
    """Every record's offers: the accepted ones as candidates, the refused ones' failures.

    (The step results here are plain ``__slots__`` classes, not dataclasses: making a
    dataclass runs generated code at import, ~0.5 ms each, paid by every cold and
    incremental start.)
    """

    __slots__ = ("candidates", "failures", "offered", "offered_ids", "plugins")

    def __init__(self) -> None:
        self.candidates: list[Candidate] = []
        self.failures: list[PluginFailure] = []
        #: the plugins whose hook ran, in calling order (name, origin, module, ...)
        self.plugins: list[dict[str, Any]] = []
        #: the identities (references, else ``("id", id)``) and live objects' ids offered
        self.offered: set[object] = set()
        self.offered_ids: set[int] = set()


def collect(records: Mapping[str, PluginRecord]) -> Collected:
    """Every record's offers in calling order; one object offered twice is judged once."""
    out = Collected()
    rejected: set[object] = set()
    unavailable: dict[tuple[str | None, str | None], tuple[int, bool]] = {}
    failures = out.failures
    custom = [r for r in records.values() if r.origin == "custom"]
    ordered = calling_order(r for r in records.values() if r.origin != "custom")
    for record in ordered + custom:
        if record.origin != "custom":
            out.plugins.append(
                {
                    "name": record.name,
                    "origin": record.origin,
                    "module": record.module,
                    "distribution": record.distribution,
                    "version": record.version,
                }
            )
        for index, offer in enumerate(record.offers):
            ident = offer.identity()
            if ident in rejected:
                continue  # offered again by another road (package scan + hook): judged once
            out.offered.add(ident)
            if offer.live:
                out.offered_ids.add(id(offer.value))
            failure = offer.failure
            if failure is not None:
                rejected.add(ident)
                if failure.kind == FailureKind.UNAVAILABLE:
                    explicit = failure.message != requires_message(failure.missing_module)
                    token = (failure.key, failure.missing_module)
                    seen = unavailable.get(token)
                    if seen is not None:
                        # the plugin's own words beat the generic requires_modules text
                        at, was_explicit = seen
                        if explicit and not was_explicit:
                            failures[at] = failures[at].replace(message=failure.message)
                            unavailable[token] = (at, True)
                        continue
                    unavailable[token] = (len(failures), explicit)
                failures.append(failure)
                continue
            out.candidates.append(_candidate(record, offer, index))
    return out


def _candidate(record: PluginRecord, offer: Offer, index: int) -> Candidate:
    assert offer.key is not None
    ref = offer.ref
    live = offer.live
    module = record.module
    value_module = ref.partition(":")[0] if ref else None
    if live:
        found = getattr(offer.value, "__module__", None)
        value_module = found if isinstance(found, str) else module
    priority = record.priority
    origin = record.origin
    # (positional: one call per value offered, thousands at a large plugin set)
    return Candidate(
        offer.key,
        offer.value if live else _UNRESOLVED,
        record.name,
        origin,
        value_module or module,
        record.distribution,
        record.version,
        (
            priority if priority is not None else 1,
            0 if record.builtin else 1,
            _ORIGIN_RANK.get(origin, 3),
            record.name,
            index,
        ),
        ref,
        record.volatile is None,
        offer.given,
        offer.identity(),
        offer.secondaries,
    )


class ImportTime:
    """The classes noted at import time that no hook offered, judged."""

    __slots__ = ("candidates", "failed_modules", "failures", "records", "skipped")

    def __init__(self) -> None:
        self.candidates: list[Candidate] = []
        #: their records (``import-time:<module>``), new in this discovery
        self.records: dict[str, PluginRecord] = {}
        self.failures: list[PluginFailure] = []
        self.skipped: list[PluginFailure] = []  # not returned by a hook
        #: modules discovery imports that failed to import: classes they defined before
        #: failing are orphans no warm start could resolve, so they stay out everywhere
        self.failed_modules: set[str] = set()


class _Known:
    """What decides whether a noted class's module is one discovery imports."""

    __slots__ = ("discovery_packages", "modules", "packages", "records")

    def __init__(
        self,
        records: Mapping[str, PluginRecord],
        modules: set[str],  # plugin modules imported
        packages: Mapping[str, tuple[str | None, str | None]],
        discovery_packages: tuple[str, ...],
    ) -> None:
        self.records = records
        self.modules = modules
        self.packages = packages
        self.discovery_packages = discovery_packages

    def imports(self, module: str | None) -> bool:
        """Whether a fresh discovery imports *module* too."""
        if not module:
            return False
        if module in self.modules:
            return True
        for record in self.records.values():
            if record.origin != "import_time" and module in record.module_names():
                return True  # imported while a plugin loaded: a fresh process imports it too
        top = module.split(".")[0]
        return (top in self.packages and any(m.split(".")[0] == top for m in self.modules)) or any(
            module.startswith(p + ".") for p in self.discovery_packages
        )


def import_time(
    ctx: Context, listing: Listing, modules: set[str], collected: Collected
) -> ImportTime:
    """Classes noted by ``AutoRegistered``; persisted only if discovery would import them.

    *listing* is what listing found (records, entry-point and blocked modules), *modules*
    every plugin module imported, *collected* what the hooks offered already.
    """
    out = ImportTime()
    known = _Known(listing.records, modules, listing.packages, ctx.config.discovery_packages)
    pinned: set[str] = set()
    offered, offered_ids = set(collected.offered), set(collected.offered_ids)
    for index, obj in enumerate(autoregister.noted(ctx.config.name)):
        module = getattr(obj, "__module__", None)
        if _under(module, listing.blocked_modules):
            continue  # a blocked plugin's classes stay out even when already imported
        if not judged_when_noted(ctx.config, obj):
            continue
        ref = reference_of(obj)
        if id(obj) in offered_ids or (ref is not None and ref in offered):
            continue  # offered by a hook already (judged there)
        _pin_importers(listing.records, module, pinned)
        name = f"import-time:{module}"
        fresh = PluginRecord(name, "import_time", module, *dist_of(listing.packages, module))
        record = listing.records.get(name)
        if record is None:
            record = out.records.setdefault(name, fresh)
        if _under(module, listing.ep_modules):
            # the entry point's hook is the authority for the modules it loads: a class
            # it did not return (raised, misspelt, left out on purpose) stays out
            out.skipped.append(
                PluginFailure(
                    ctx.config.name,
                    f"{module}.{getattr(obj, '__qualname__', '?')}",
                    FailureKind.NOT_RETURNED,
                    "defined in a module loaded through an entry point, but not returned "
                    f"by its {ctx.config.hook_name}() hook",
                    module=module,
                )
            )
            continue
        if isinstance(module, str) and module not in sys.modules and known.imports(module):
            # defined by a module discovery imports whose import failed (reported as
            # such): only the half-run module noted it, no warm start could resolve it
            out.failed_modules.add(module)
            continue
        offer = _judge_noted(ctx, record, obj, module)
        offered.add(offer.identity())
        offered_ids.add(id(obj))
        if offer.failure is not None:
            out.failures.append(offer.failure)
            continue
        cand = _candidate(record, offer, index)
        # persisted only if a fresh process would define it the same way: its module is
        # one discovery imports, and it is still what that module holds (not a class
        # left over from a module that has since been reloaded)
        cand.persist = known.imports(module) and ref is not None
        out.candidates.append(cand)
    return out


def _judge_noted(ctx: Context, record: PluginRecord, obj: Any, module: str | None) -> Offer:
    """Class *obj* of *module*, noted at import time, judged as *record*'s offer (its
    module's known inputs and what judging looks up become the record's inputs)."""
    if record.inputs is None:
        record.inputs = Inputs()
    if isinstance(module, str):
        record.inputs.update(_inputs.known_inputs(module))
    with _inputs.recording(record.inputs):
        return judge(ctx, record, None, obj)


def _pin_importers(
    records: Mapping[str, PluginRecord], module: str | None, pinned: set[str]
) -> None:
    """Mark the plugins whose loading imported *module* as not reusable.

    A class registered at import time is noted only when its module is imported in this
    process: a later discovery that reused the plugin which imported it (without
    importing it again) would lose the class.  So that plugin is loaded every time.
    """
    if not module or module in pinned:
        return
    pinned.add(module)  # once per module: a module may note thousands of classes
    for record in records.values():
        if record.origin != "import_time" and module in record.module_names():
            record.reusable = False


class Merged:
    """Each key's winner, and the failures of the candidates that lost."""

    __slots__ = ("failures", "items")

    def __init__(self) -> None:
        self.items: dict[str, Candidate] = {}
        self.failures: list[PluginFailure] = []


def merge(ctx: Context, candidates: list[Candidate]) -> Merged:
    """Each key's winner by the conflict rule; a loser is a failure (or, strict, raises)."""
    out = Merged()
    items = out.items
    lost: set[tuple[str, object]] = set()
    for cand in sorted(candidates, key=lambda c: c.rank):
        current = items.get(cand.key)
        if current is None:
            items[cand.key] = cand
            continue
        if current.ident == cand.ident:
            current.persist = current.persist or cand.persist
            continue
        if (cand.key, cand.ident) in lost:  # same loser offered again (e.g. import time)
            continue
        lost.add((cand.key, cand.ident))
        if current.rank and current.rank[0] == 0 and cand.rank and cand.rank[0] != 0:
            # an intended override (a tryfirst hookimpl): an outcome, not a problem
            out.failures.append(
                ctx.failure(
                    cand.plugin,
                    FailureKind.OVERRIDDEN,
                    f"key {cand.key!r} is overridden by plugin {current.plugin!r} "
                    f"({_label(current)}, tryfirst); {_label(cand)} is not used",
                    module=cand.module,
                    distribution=cand.distribution,
                    key=cand.key,
                )
            )
            continue
        message = (
            f"key {cand.key!r} is also provided by plugin {current.plugin!r} "
            f"({_label(current)}); {_label(cand)} is ignored"
        )
        if ctx.config.conflict_policy == "strict":
            raise DuplicateKeyError(
                f"registry {ctx.config.name}: plugins {current.plugin!r} and "
                f"{cand.plugin!r} both provide key {cand.key!r}"
            )
        out.failures.append(
            ctx.failure(
                cand.plugin,
                FailureKind.DUPLICATE_KEY,
                message,
                module=cand.module,
                distribution=cand.distribution,
                key=cand.key,
            )
        )
    return out


def derive_secondaries(
    ctx: Context, items: Mapping[str, Candidate]
) -> tuple[dict[str, dict[str, Candidate]], list[PluginFailure]]:
    """Each secondary from the winners' derived entries (judged with their plugin), and
    the derivation failures of the winners."""
    secondaries: dict[str, dict[str, Candidate]] = {}
    failures: list[PluginFailure] = []
    for sec in ctx.config.secondary_registries:
        derived: dict[str, Candidate] = {}
        for key, cand in sorted(items.items()):
            value = cand.secondaries.get(sec.name)
            if value is None:
                continue
            if isinstance(value, PluginFailure):
                failures.append(report(value))
                continue
            ref = value if isinstance(value, str) else None
            derived[key] = Candidate(
                key=key,
                value=_UNRESOLVED if ref is not None else value,
                plugin=cand.plugin,
                origin=cand.origin,
                module=ref.split(":")[0] if ref else getattr(value, "__module__", None),
                distribution=cand.distribution,
                dist_version=cand.dist_version,
                ref=ref,
                persist=cand.persist,
            )
        secondaries[sec.name] = derived
    return secondaries, failures
