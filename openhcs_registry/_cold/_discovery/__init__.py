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

The steps, one module each: :mod:`._listing` (list and load the plugins),
:mod:`._calling` (call each hook, isolated), :mod:`._judging` (judge each value on its
own), :mod:`._merging` (the merge), :mod:`._recording` (what the answer depends on);
:mod:`._run` holds the state they share.
"""

from __future__ import annotations

import os
from typing import Any

from ..._config import RegistryConfig
from ..._diagnostics import reentry_count
from ..._environment import environment_fingerprint, file_stat, snapshot
from ..._snapshot import Snapshot
from .. import _inputs
from .._records import PluginRecord
from ._calling import call_hooks
from ._listing import add_extra_plugins, custom_function, load_entry_points, scan_packages
from ._merging import Candidate as Candidate
from ._merging import DuplicateKeyError as DuplicateKeyError
from ._merging import collect, derive_secondaries, import_time, merge
from ._recording import finish
from ._run import BUILTIN_DISTRIBUTION as BUILTIN_DISTRIBUTION
from ._run import ENVIRONMENT as ENVIRONMENT
from ._run import _Discovery, logger


def run_discovery(
    config: RegistryConfig,
    blocked: frozenset[str] = frozenset(),
    extra_plugins: dict[str, Any] | None = None,
    reuse: dict[str, PluginRecord] | None = None,
    scanned: dict[str, Any] | None = None,
) -> Snapshot:
    """Discover *config*'s registry; never raises for a plugin's fault.

    *reuse* holds records of an earlier discovery whose inputs are known to be unchanged
    (see :func:`.cache.RegistryCacheManager.load`): those plugins are not loaded or called
    again, their records are merged as they are.  *scanned* is the earlier entry-point scan.
    """
    logger.debug("registry %s: %s discovery", config.name, "incremental" if reuse else "fresh")
    if scanned is not None:
        # a previous row's entry points are taken as they are only if each is the
        # declaration of a record reused now (checked against its own inputs); any other
        # distribution's entry_points.txt is read again (a document names no new module)
        vouched = {r.declaration for r in (reuse or {}).values() if r.origin == "entry_point"}
        scanned = {
            entry: [r for r in rows if len(r) < 6 or all(ep[1] in vouched for ep in r[5])]
            for entry, rows in scanned.items()
        }
    work = _Discovery(config, blocked, extra_plugins, reuse, scanned)
    _look_at_environment(work, fresh=reuse is None)
    reentries = reentry_count()
    load_entry_points(work)
    add_extra_plugins(work)
    scan_packages(work)
    call_hooks(work)
    custom_function(work)
    candidates = collect(work)
    candidates.extend(import_time(work))
    # classes noted at import time in these modules are never overlaid by the registry
    # either: blocked plugins stay out, and an entry point's hook is the authority
    work.result.blocked_modules = set(work.blocked_modules) | work.ep_modules | work.failed_modules
    merge(work, candidates)
    derive_secondaries(work)
    finish(work)
    if reentry_count() != reentries:
        # a plugin read a registry that was being discovered: what it saw depends on the
        # order of reads in this process, and another process may read in another order
        work.result.cacheable = False
        work.result.uncacheable_reason = "a plugin read a registry during its discovery"
    logger.debug(
        "registry %s: found %d keys, %d failures (%d plugins reused)",
        config.name,
        len(work.result.items),
        len(work.result.failures),
        len(work.result.reused),
    )
    return work.result


def _look_at_environment(work: _Discovery, fresh: bool) -> None:
    """The environment as discovery found it: fingerprint, ``sys.path`` listings, names."""
    # looked at before anything is read: an install during discovery is a change afterwards
    # (an incremental run keeps the look its cache check just took: older, never newer
    # than what is read next, so a change meanwhile is still a change afterwards)
    env = environment_fingerprint(fresh=fresh)
    work.stat = file_stat if fresh else snapshot().stat
    names = {}
    listings = []
    for entry, _sig in env["path"]:
        try:
            found = work.listed[entry] = os.listdir(entry)
        except NotADirectoryError:
            listings.append(_inputs.listing(entry))  # a zip archive: summed by content
            continue
        except (OSError, ValueError):
            listings.append(None)
            continue
        listings.append(_inputs.listing_of(found))
        names[entry] = sorted(_inputs.importable_names(found))  # what an install changes
    work.result.environment = {**env, "listings": listings, "names": names}
