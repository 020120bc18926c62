"""What every step of one discovery reads and none changes, and the helpers they share.

:class:`Context` is the immutable part of a run: the registry's configuration, the plugins
blocked by name, the records an incremental run may reuse, the previous entry-point scan
and the environment as discovery first looked at it (``sys.path`` folder listings and the
stat function).  Like pluggy's ``HookCaller`` handing ``_multicall`` its impls and kwargs,
every step gets it as an argument and hands back what it found as its return value; no
step writes anything another step reads except through those values.

The per-plugin :class:`~.._records.PluginRecord` is the one value completed by several
steps in turn: listing creates it (identity, inputs, load failures), calling adds its
hook's priority, failures and judged offers, the merge may mark it not reusable, the
recording adds the inputs of the references that won.  Each step touches only the records
it is given.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping

from ..._cache import _NOSIG
from ..._config import RegistryConfig
from ..._diagnostics import (
    PluginFailure,
    bad_key_text,
    report,
)
from ..._environment import environment_fingerprint, file_stat, snapshot
from ..._log import get_logger
from .._records import PluginRecord
from .._startup import startup_files

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

logger = get_logger("openhcs_registry.discovery")

#: Distribution whose plugins count as built-in for the conflict rule.
BUILTIN_DISTRIBUTION = "openhcs-registry"

#: Name of the pseudo-record holding environment-wide inputs (shadowing folders).
ENVIRONMENT = "<environment>"

#: Distribution name and version by top-level package (of the entry points' modules).
Packages = Mapping[str, tuple[str | None, str | None]]


class Context:
    """The read-only part of one discovery run, passed to every step.

    (A plain class with ``__slots__``, not a dataclass: creating a dataclass costs a good
    part of a millisecond at import, paid by every cold or incremental start.)
    """

    __slots__ = ("blocked", "config", "listed", "names", "reuse", "scanned", "stat", "vouched")

    def __init__(
        self,
        config: RegistryConfig,
        blocked: frozenset[str] = frozenset(),
        reuse: Mapping[str, PluginRecord] | None = None,
        scanned: dict[str, Any] | None = None,
        listed: dict[str, list[str] | None] | None = None,
        stat: Callable[[str], Any] = file_stat,
        names: dict[str, set[str]] | None = None,
    ) -> None:
        self.config = config
        self.blocked = blocked
        #: records of an earlier discovery whose inputs are unchanged, by plugin name
        self.reuse: Mapping[str, PluginRecord] = {} if reuse is None else reuse
        #: the previous entry-point scan (unchanged declaration files are not read again)
        self.scanned = scanned
        #: the declarations whose entry points may be taken from :attr:`scanned` (those of
        #: the records reused now); None: any
        self.vouched: set[str | None] | None = None
        #: ``sys.path`` folder listings, taken once (see :func:`look_at_environment`)
        self.listed: dict[str, list[str] | None] = {} if listed is None else listed
        #: the importable names of those listings (computed once, for the fingerprint)
        self.names: dict[str, set[str]] = {} if names is None else names
        self.stat = stat

    # -- failures ---------------------------------------------------------------------------
    def failure(
        self,
        plugin: str,
        kind: str,
        message: str,
        *,
        module: str | None = None,
        distribution: str | None = None,
        key: str | None = None,
        exc: BaseException | None = None,
        missing_module: str | None = None,
    ) -> PluginFailure:
        """A failure found now (logged once, here)."""
        failure = PluginFailure.of(
            self.config.name,
            plugin,
            kind,
            message,
            exc,
            module=module,
            distribution=distribution,
            key=key,
            missing_module=missing_module,
        )
        if exc is not None and logger.isEnabledFor(10):
            import traceback

            logger.debug("".join(traceback.format_exception(exc)))
        return report(failure)

    def fail(self, record: PluginRecord, kind: str, message: str, **kw: Any) -> None:
        """A failure of *record*'s plugin itself (load, hook, hook names), kept in it."""
        kw.setdefault("module", record.module)
        kw.setdefault("distribution", record.distribution)
        record.failures.append(self.failure(record.name, kind, message, **kw))

    def skip(self, record: PluginRecord, label: str, kind: str, message: str) -> None:
        """A quietly skipped class (abstract/keyless in a package scan): debug log only."""
        logger.debug(
            "registry %s: skipped %s in %s: %s", self.config.name, label, record.module, message
        )
        record.skipped.append(
            PluginFailure(self.config.name, label, kind, message, module=record.module)
        )

    # -- keys -------------------------------------------------------------------------------
    def key_text(self, obj: Any) -> str:
        """Why *obj* has no usable key (the message of a ``missing_key`` skip)."""
        try:
            key = self.config.key_of(obj)
        except Exception as exc:
            return f"{obj.__qualname__}: the key extractor raised {exc!r}"
        return bad_key_text(obj.__qualname__, key, self.config.key_attribute)

    def has_key(self, obj: Any) -> bool:
        return has_key(self.config, obj)


def has_key(config: RegistryConfig, obj: Any) -> bool:
    """Whether *obj* has a usable key in *config*'s registry."""
    try:
        key = config.key_of(obj)
    except Exception:
        return False
    return isinstance(key, str) and bool(key)


def judged_when_noted(config: RegistryConfig, obj: Any) -> bool:
    """Whether a class noted at import time is one the merge judges
    (:func:`._merging.import_time`): neither abstract nor keyless.

    Only such a class, noted while a plugin loaded and not offered by its hook, gives an
    import-time record or skip, which reusing the plugin's record without importing it
    would lose: so only such a class pins the record (:func:`._recording.finish`).  A
    private base class without a key (the built-in streaming backends' ``_StreamBackend``)
    leaves nothing to lose.
    """
    return not inspect.isabstract(obj) and has_key(config, obj)


class Loaded:
    """A plugin loaded in this process, to be registered with pluggy and called."""

    __slots__ = ("marked", "obj", "record")

    def __init__(
        self, record: PluginRecord, obj: Any, marked: dict[str, Any] | None = None
    ) -> None:
        self.record = record
        self.obj = obj
        #: its hookimpl attributes when known already (checked for misspelt hook names)
        self.marked = marked


def dist_of(packages: Packages, module_name: str | None) -> tuple[str | None, str | None]:
    """The distribution (name, version) of *module_name*'s top-level package, if known."""
    if not module_name:
        return (None, None)
    return packages.get(module_name.split(".")[0], (None, None))


def look_at_environment(
    fresh: bool,
) -> tuple[
    dict[str, Any],
    dict[str, list[str] | None],
    dict[str, set[str]],
    Callable[[str], Any],
]:
    """The environment as discovery found it: fingerprint with ``sys.path`` listings and
    names, the listings themselves and their importable names (read again by no step), and
    the stat function to use."""
    # looked at before anything is read: an install during discovery is a change afterwards
    # (an incremental run keeps the look its cache check just took: older, never newer
    # than what is read next, so a change meanwhile is still a change afterwards)
    env = environment_fingerprint(fresh=fresh)
    # the listings of that look (taken after its stats of the folders), each sorted once and
    # shared with whatever else asked for it in the same look: after an install, the
    # entry-point index, the cache check's listing checksum and reuse's names
    snap = snapshot()
    stat = file_stat if fresh else snap.stat
    listed: dict[str, list[str] | None] = {}
    found_names: dict[str, set[str]] = {}
    names = {}
    listings = []
    for entry, _sig in env["path"]:
        found = snap.listing(entry)
        listings.append(snap.checksum(entry))  # (a zip archive: summed by content)
        provided = snap.names(entry)
        if found is None or provided is None:
            continue
        listed[entry] = found
        found_names[entry] = provided
        names[entry] = sorted(provided)  # what an install changes
    # what start-up ran (.pth files, the modules they import): taken after the listings,
    # as the files of this look are (a file added meanwhile is a change afterwards)
    startup = [[path, *(stat(path) or _NOSIG)] for path in startup_files(listed.items())]
    environment = {**env, "listings": listings, "names": names, "startup": startup}
    return environment, listed, found_names, stat
