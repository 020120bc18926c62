"""The merge, from all records alike (reused and new): one answer for every key.

The same object offered by two roads is judged once, the conflict rule picks each key's
winner (see the package docstring), secondaries come from the winners, and classes noted at
import time join.  The winners are :class:`Candidate` entries, installed as they are.
"""

from __future__ import annotations

import inspect
import os
import sys
from typing import TYPE_CHECKING, Any

from ... import _autoregister as autoregister
from ..._diagnostics import FailureKind, PluginFailure, report
from ..._refs import reference_of
from ..._rules import requires_message
from ..._snapshot import UNRESOLVED as _UNRESOLVED
from ..._snapshot import Entry
from .. import _inputs
from .._records import Offer, PluginRecord

if TYPE_CHECKING:
    from ..._snapshot import Info
from ._calling import calling_order
from ._judging import judge
from ._run import _Discovery

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
def collect(run: _Discovery) -> list[Candidate]:
    """Every record's offers in calling order; one object offered twice is judged once."""
    run.offered = set()
    run.offered_ids = set()
    rejected: set[object] = set()
    unavailable: dict[tuple[str | None, str | None], tuple[int, bool]] = {}
    failures = run.result.failures
    custom = [r for r in run.records.values() if r.origin == "custom"]
    ordered = calling_order(r for r in run.records.values() if r.origin != "custom")
    candidates: list[Candidate] = []
    for record in ordered + custom:
        if record.origin != "custom":
            run.result.plugins.append(
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
            run.offered.add(ident)
            if offer.live:
                run.offered_ids.add(id(offer.value))
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
            candidates.append(_candidate(run, record, offer, index))
    return candidates


def _candidate(run: _Discovery, record: PluginRecord, offer: Offer, index: int) -> Candidate:
    assert offer.key is not None
    value_module = offer.ref.split(":")[0] if offer.ref else None
    if offer.live:
        found = getattr(offer.value, "__module__", None)
        value_module = found if isinstance(found, str) else record.module
    return Candidate(
        key=offer.key,
        value=offer.value if offer.live else _UNRESOLVED,
        plugin=record.name,
        origin=record.origin,
        module=value_module or record.module,
        distribution=record.distribution,
        dist_version=record.version,
        rank=(
            record.priority if record.priority is not None else 1,
            0 if record.builtin else 1,
            _ORIGIN_RANK.get(record.origin, 3),
            record.name,
            index,
        ),
        ref=offer.ref,
        persist=record.volatile is None,
        keyed=offer.given,
        ident=offer.identity(),
        secondaries=offer.secondaries,
    )


def import_time(run: _Discovery) -> list[Candidate]:
    """Classes noted by ``AutoRegistered``; persisted only if discovery would import them."""
    out = []
    for index, obj in enumerate(autoregister.noted(run.config.name)):
        module = getattr(obj, "__module__", None)
        if _under(module, run.blocked_modules):
            continue  # a blocked plugin's classes stay out even when already imported
        if inspect.isabstract(obj) or not run._has_key(obj):
            continue
        ref = reference_of(obj)
        if id(obj) in run.offered_ids or (ref is not None and ref in run.offered):
            continue  # offered by a hook already (judged there)
        _pin_importers(run, module)
        record = PluginRecord(f"import-time:{module}", "import_time", module, *run._dist_of(module))
        record = run.records.setdefault(record.name, record)
        if _under(module, run.ep_modules):
            # the entry point's hook is the authority for the modules it loads: a class
            # it did not return (raised, misspelt, left out on purpose) stays out
            run.result.skipped.append(
                PluginFailure(
                    run.config.name,
                    f"{module}.{getattr(obj, '__qualname__', '?')}",
                    FailureKind.NOT_RETURNED,
                    "defined in a module loaded through an entry point, but not returned "
                    f"by its {run.config.hook_name}() hook",
                    module=module,
                )
            )
            continue
        if (
            isinstance(module, str)
            and module not in sys.modules
            and _discovered_module(run, module)
        ):
            # defined by a module discovery imports whose import failed (reported as
            # such): only the half-run module noted it, no warm start could resolve it
            run.failed_modules.add(module)
            continue
        inputs = run.inputs_of(record.name)
        if isinstance(module, str):
            inputs.update(_inputs.known_inputs(module))
        with _inputs.recording(inputs):
            offer = judge(run, record, None, obj)
        run.offered.add(offer.identity())
        run.offered_ids.add(id(obj))
        if offer.failure is not None:
            run.result.failures.append(offer.failure)
            continue
        cand = _candidate(run, record, offer, index)
        # persisted only if a fresh process would define it the same way: its module is
        # one discovery imports, and it is still what that module holds (not a class
        # left over from a module that has since been reloaded)
        cand.persist = _discovered_module(run, module) and ref is not None
        out.append(cand)
    return out


def _pin_importers(run: _Discovery, module: str | None) -> None:
    """Mark the plugins whose loading imported *module* as not reusable.

    A class registered at import time is noted only when its module is imported in this
    process: a later discovery that reused the plugin which imported it (without
    importing it again) would lose the class.  So that plugin is loaded every time.
    """
    if not module or module in run.pinned:
        return
    run.pinned.add(module)  # once per module: a module may note thousands of classes
    for record in run.records.values():
        if record.origin != "import_time" and module in record.module_names():
            record.reusable = False


def _discovered_module(run: _Discovery, module: str | None) -> bool:
    if not module:
        return False
    if module in run.plugin_modules:
        return True
    for record in run.records.values():
        if record.origin != "import_time" and module in record.module_names():
            return True  # imported while a plugin loaded: a fresh process imports it too
    top = module.split(".")[0]
    return (
        top in run.ep_packages and any(m.split(".")[0] == top for m in run.plugin_modules)
    ) or any(module.startswith(p + ".") for p in run.config.discovery_packages)


def merge(run: _Discovery, candidates: list[Candidate]) -> None:
    items = run.result.items
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
            run.result.failures.append(
                run.failure(
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
        if run.config.conflict_policy == "strict":
            raise DuplicateKeyError(
                f"registry {run.config.name}: plugins {current.plugin!r} and "
                f"{cand.plugin!r} both provide key {cand.key!r}"
            )
        run.result.failures.append(
            run.failure(
                cand.plugin,
                FailureKind.DUPLICATE_KEY,
                message,
                module=cand.module,
                distribution=cand.distribution,
                key=cand.key,
            )
        )


def derive_secondaries(run: _Discovery) -> None:
    """Each secondary from the winners' derived entries (judged with their plugin)."""
    for sec in run.config.secondary_registries:
        derived: dict[str, Candidate] = {}
        for key, cand in sorted(run.result.items.items()):
            value = cand.secondaries.get(sec.name)
            if value is None:
                continue
            if isinstance(value, PluginFailure):
                run.result.failures.append(report(value))
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
        run.result.secondaries[sec.name] = derived
