"""Fresh (and incremental) discovery: plugin sources -> per-plugin records -> ``{key: value}``.

This is the slow path (it imports pluggy and the plugin modules) and runs only when no valid
cache exists, or when some plugins' inputs changed.  It is written so that no single plugin
can spoil it: every load, import and hook call is isolated, and whatever goes wrong becomes a
:class:`~openhcs_registry.PluginFailure` instead of an exception.

It works in two steps.  First, per plugin: load it, call its hook, judge every value it
returned on its own, and keep all of that with what the plugin read in one
:class:`~openhcs_registry._cold._records.PluginRecord`.  A plugin whose recorded inputs are
unchanged since the last discovery is not loaded again: its record is reused (incremental
rediscovery).  Second, the merge, from all records alike: the same object offered by two
roads is judged once, the conflict rule picks each key's winner, secondaries come from the
winners, classes noted at import time join.  So an incremental answer is computed exactly
as a fresh one is.

Conflict rule (documented in docs/design.md): when two *different* objects claim one key the
winner is the candidate that sorts first by (hookimpl ``tryfirst`` < normal < ``trylast``,
built-in plugin before third-party, entry point < discovery package < run-time plugin <
import-time class, plugin name, position in the plugin's result).  The loser
is recorded as a ``duplicate_key`` failure; ``conflict_policy="strict"`` raises instead.

The steps, one module each, are functions with explicit inputs and outputs, in the shape
of pluggy's manager, hook caller and ``_multicall``: :mod:`._listing` (list and load the
plugins: a :class:`~._listing.Listing` of records and loaded plugins), :mod:`._calling`
(call each hook, isolated, and keep its judged answer in the plugin's record),
:mod:`._judging` (judge each value on its own: an :class:`~._judging.Answer` of offers),
:mod:`._merging` (collect the offers, add the import-time classes, pick each key's winner,
derive the secondaries), :mod:`._recording` (what the answer depends on).  What they all
read and none changes is one immutable :class:`~._context.Context`; :func:`run_discovery`
passes each step's result to the next and assembles the :class:`~..._snapshot.Snapshot`.
"""

from __future__ import annotations

from ..._cache import CollectorHeld
from ..._config import RegistryConfig
from ..._diagnostics import reentry_count
from ..._snapshot import Snapshot
from .. import _inputs
from .._records import PluginRecord
from ._calling import RAISED, Calls, call_plugins, impls_in_call_order, invoke
from ._context import BUILTIN_DISTRIBUTION as BUILTIN_DISTRIBUTION
from ._context import ENVIRONMENT as ENVIRONMENT
from ._context import Context, logger, look_at_environment
from ._listing import Listing, list_plugins, load_entry_points
from ._merging import Candidate as Candidate
from ._merging import DuplicateKeyError as DuplicateKeyError
from ._merging import collect, derive_secondaries, import_time, merge
from ._recording import finish, record_environment

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .._unchanged import Rerun


def run_discovery(
    config: RegistryConfig,
    blocked: frozenset[str] = frozenset(),
    extra_plugins: dict[str, Any] | None = None,
    reuse: dict[str, PluginRecord] | None = None,
    scanned: dict[str, Any] | None = None,
    rerun: Rerun | None = None,
) -> Snapshot:
    """Discover *config*'s registry; never raises for a plugin's fault.

    *reuse* holds records of an earlier discovery whose inputs are known to be unchanged
    (see :func:`.cache.RegistryCacheManager.load`): those plugins are not loaded or called
    again, their records are merged as they are.  *scanned* is the earlier entry-point scan.
    *rerun* holds plugins loaded and called already in this process (by
    :func:`.._unchanged.answer_unchanged`): their records are taken as this run's own, not
    loaded a second time (which would find their modules imported and note nothing).
    """
    logger.debug("registry %s: %s discovery", config.name, "incremental" if reuse else "fresh")
    environment, listed, names, stat = look_at_environment(fresh=reuse is None)
    if rerun is not None:
        reuse = {**(reuse or {}), **rerun.records}
    ctx = Context(config, blocked, reuse or {}, scanned, listed, stat, names)
    if scanned is not None:
        # a previous row's entry points are taken as they are only if each is the
        # declaration of a record reused now (checked against its own inputs); any other
        # distribution's entry_points.txt is read again (a document names no new module)
        ctx.vouched = {r.declaration for r in (reuse or {}).values() if r.origin == "entry_point"}
    reentries = reentry_count()
    with _inputs.installed():  # once for the run, not once per plugin recorded
        listing = list_plugins(ctx, dict(extra_plugins or {}))
        calls = call_plugins(ctx, listing.loaded, listing.custom)
    with CollectorHeld():  # the engine's work on what the plugins gave
        return _results(ctx, environment, listing, calls, rerun, reentries)


def _results(
    ctx: Context,
    environment: Any,
    listing: Listing,
    calls: Calls,
    rerun: Rerun | None,
    reentries: int,
) -> Snapshot:
    """The snapshot of a run: what the plugins listed and called gave, merged and recorded."""
    config = ctx.config
    if rerun is not None:  # loaded and called already: as if listed and called now
        again = listing.reused & rerun.records.keys()
        listing.reused -= again
        for name in again:
            listing.noted[name] = rerun.noted.get(name, [])
        listing.modules |= rerun.modules
    modules = listing.modules | calls.modules  # every plugin module imported
    collected = collect(listing.records)
    late = import_time(ctx, listing, modules, collected)
    records = {**listing.records, **late.records}
    merged = merge(ctx, collected.candidates + late.candidates)
    secondaries, derive_failures = derive_secondaries(ctx, merged.items)
    noted = dict(listing.noted)  # classes noted while each plugin loaded, then ran
    for name, classes in calls.noted.items():
        noted[name] = noted.get(name, []) + classes
    recorded = finish(
        config, records, noted, listing.reused, [merged.items, *secondaries.values()], modules
    )
    own = [f for r in records.values() for f in r.failures]
    skipped = [f for r in records.values() for f in r.skipped]
    records[ENVIRONMENT], launch = record_environment(ctx, records, listing.ep_modules)
    result = Snapshot(
        items=merged.items,
        secondaries=secondaries,
        failures=own + collected.failures + late.failures + merged.failures + derive_failures,
        modules=recorded.modules,
        plugins=collected.plugins,
        skipped=skipped + late.skipped,
        # classes noted at import time in these modules are never overlaid by the registry
        # either: blocked plugins stay out, and an entry point's hook is the authority
        blocked_modules=listing.blocked_modules | listing.ep_modules | late.failed_modules,
    )
    result.records = records
    result.reused = listing.reused
    result.module_files = recorded.module_files
    result.package_dirs = listing.package_dirs
    result.launch = launch
    result.environment = environment
    result.distributions = listing.distributions
    if reentry_count() != reentries or (rerun is not None and rerun.reentered):
        # a plugin read a registry that was being discovered: what it saw depends on the
        # order of reads in this process, and another process may read in another order
        result.cacheable = False
        result.uncacheable_reason = "a plugin read a registry during its discovery"
    logger.debug(
        "registry %s: found %d keys, %d failures (%d plugins reused)",
        config.name,
        len(result.items),
        len(result.failures),
        len(result.reused),
    )
    return result


def _no_key(value: Any) -> None:
    return None


def plugin_answers(
    hookspec: Any, *, label: str, group: str | None = None
) -> list[tuple[str, str | None, Any]]:
    """``(hookimpl label, its module, returned value)`` of hook *hookspec* of every plugin of
    entry-point *group* (default ``openhcs``), for answers that are not a registry's (an enum
    built from plugins' answers).

    The same listing, loading, pluggy registration and isolated calls as a registry's
    discovery (:mod:`._listing`, :mod:`._calling`); a broken plugin is reported under
    *label* (once per process) and the others still answer.  Plugins are registered
    built-in first, then by distribution and entry-point name; the answers come in pluggy's
    call order.  Nothing is judged, merged or cached here: the caller does that.
    """
    from ..._config import DEFAULT_ENTRY_POINT_GROUP

    config = RegistryConfig(
        label,
        hookspec,
        key_extractor=_no_key,
        entry_point_group=group or DEFAULT_ENTRY_POINT_GROUP,
        enable_cache=False,
    )
    ctx = Context(config)
    listing = load_entry_points(ctx, check_names=False)
    records = {name: plugin.record for name, plugin in listing.loaded.items()}

    def order(name: str) -> tuple[bool, str, str]:
        dist = records[name].distribution or ""
        return (dist != BUILTIN_DISTRIBUTION, dist, name)

    out = Calls()
    answers: list[tuple[str, str | None, Any]] = []
    for plugin, impl in impls_in_call_order(ctx, listing.loaded, sorted(records, key=order)):
        returned = invoke(ctx, plugin.record, impl.function, out)
        if returned is not RAISED:
            function_name = getattr(impl.function, "__name__", config.hook_name)
            module = getattr(impl.function, "__module__", None)
            answers.append((f"{impl.plugin_name}:{function_name}", module, returned))
    return answers
