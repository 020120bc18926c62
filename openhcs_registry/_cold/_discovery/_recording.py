"""Recording what the answer depends on, for the cache and incremental rediscovery.

Every record's failures and skips are collected, the modules of the winners' references
recorded (with the inputs of modules nothing imported yet), and the environment-wide
inputs: the launch folder, namespace portions that could shadow a recorded name, and the
registry's own code.

:func:`finish` and :func:`record_environment` are the step: they take the records and the
winners and return what the snapshot records (:class:`Recorded`); besides, they complete
the records (reusable or not, the inputs of the references that won) and the winners (their
references and stored files).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping

from ..._config import RegistryConfig
from ..._environment import importable_names, launch_folder, search_path
from ..._refs import reference_of
from .. import _inputs
from .._inputs import Inputs
from .._records import PluginRecord
from ._context import ENVIRONMENT, Context, judged_when_noted
from ._merging import Candidate

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class Recorded:
    """What the answer depends on, besides the records' own inputs."""

    __slots__ = ("module_files", "modules")

    def __init__(self) -> None:
        #: the modules references may point into (the winners' and the plugin modules)
        self.modules: set[str] = set()
        #: the files reused records' documents recorded for those modules (not imported here)
        self.module_files: dict[str, str] = {}


def _stored_file(record: PluginRecord, module: str) -> str | None:
    """The file a reused record's document recorded for *module*."""
    assert record.stored is not None
    _raw, files, _dirs, modules = record.stored
    at = modules.get(module)
    return files[at][0] if type(at) is int and 0 <= at < len(files) else None


def _record_unimported(inputs: Inputs, module: str) -> None:
    """Watch the file of a module a reference points into but nothing imported.

    A secondary value given as a string (``metadata_handler = "my_plugin.meta:Handler"``,
    as the README shows) is resolved only when used; its module's file, found without
    importing it, is recorded like an imported one's, so the cache may point into it.
    """
    from .._explain import locate

    file, _ = locate(module)
    if file is not None and os.path.isfile(file):
        inputs.modules[module] = inputs.add_file(os.path.abspath(file))


def finish(
    config: RegistryConfig,
    records: Mapping[str, PluginRecord],
    noted: Mapping[str, list[Any]],
    reused: set[str],
    groups: Iterable[Mapping[str, Candidate]],
    plugin_modules: set[str],
) -> Recorded:
    """The modules to fingerprint, from the winners of *groups* (the items and each
    secondary); marks the records whose loading *noted* classes they did not offer (of
    those the merge judges: :func:`._context.judged_when_noted`) as not reusable."""
    for name, classes in noted.items():
        record = records.get(name)
        if record is not None and classes and pins(config, record, classes):
            record.reusable = False
    out = Recorded()
    for group in groups:
        for cand in group.values():
            if cand.persist:
                _record_winner(records, reused, cand, out)
    out.modules.update(plugin_modules)
    return out


def pins(config: RegistryConfig, record: PluginRecord, noted: Iterable[Any]) -> bool:
    """Whether classes *noted* while *record*'s plugin loaded or ran pin the record (not
    reusable): one of them, of those the merge judges, is not an offer of the record.

    Loading it noted a class it did not return (whatever its hook did: raised, returned
    None, left it out): what that import registers is judged at import time, so reusing
    the record without importing the plugin would lose it.  A class the merge leaves out
    (abstract or keyless: :func:`._context.judged_when_noted`) loses nothing.
    """
    refs = {o.ref for o in record.offers}
    return any(reference_of(obj) not in refs and judged_when_noted(config, obj) for obj in noted)


def _record_winner(
    records: Mapping[str, PluginRecord], reused: set[str], cand: Candidate, out: Recorded
) -> None:
    """The module of winner *cand*'s reference, and its inputs when nothing recorded them."""
    if cand.ref is None:
        cand.ref = reference_of(cand.value)
    if cand.ref is None:
        cand.persist = False
        record = records.get(cand.plugin)
        if record is not None and record.volatile is None:
            record.volatile = f"{cand.key!r} has no module:qualname address"
        return
    module = cand.ref.split(":")[0]
    out.modules.add(module)
    record = records.get(cand.plugin)
    if record is not None and record.stored is not None:
        file = _stored_file(record, module)
        if file is not None:
            out.module_files[module] = file
            if cand.module == module:
                cand.file = file  # provenance as a fresh discovery gives it
    if record is None or record.name in reused:
        return
    inputs = record.inputs
    if inputs is not None and module not in inputs.modules:
        inputs.update(_inputs.known_inputs(module))  # a value defined elsewhere
        if module not in inputs.modules:  # a reference nothing imported yet
            _record_unimported(inputs, module)


def record_environment(
    ctx: Context, records: Mapping[str, PluginRecord], ep_modules: set[str]
) -> tuple[PluginRecord, dict[str, list[str]]]:
    """Places that could shadow a recorded name: launch folder, namespace portions.

    Returns the :data:`ENVIRONMENT` pseudo-record holding them and the launch record.
    """
    tops: set[str] = {m.split(".")[0] for m in ep_modules}
    tops.update(p.split(".")[0] for p in ctx.config.discovery_packages)
    known: set[str] = set()
    for record in records.values():
        record.add_looked_up(tops, known)
    return environment_record(ctx, tops, known)


def environment_record(
    ctx: Context, tops: set[str], known: set[str]
) -> tuple[PluginRecord, dict[str, list[str]]]:
    """:func:`record_environment` from the recorded top-level names *tops* (the entry
    points', the discovery packages' and every record's looked-up ones) and the files
    *known* to the records: the answer-extended path (:mod:`.._extended`) has them from
    the previous document and the few plugins it added, with no record built for the
    others."""
    launch_entry = launch_folder()
    entries = search_path()
    env = PluginRecord(ENVIRONMENT, "listing", None, inputs=Inputs())
    assert env.inputs is not None
    # the recorded names are kept even without a launch folder: a sys.path entry that a
    # later process adds (a worker's scratch folder, pytest's rootdir) is harmless unless
    # it provides one of them
    present: set[str] = set()
    if launch_entry is not None:
        folder = os.path.abspath(launch_entry or os.curdir)
        entries = [folder, *entries]
        present = importable_names(folder) or set()
    launch = {"tops": sorted(tops), "present": sorted(tops & present)}
    if launch_entry is not None and tops & present:
        # those names came from this folder: the same names in another one are a change
        launch["folder"] = [folder]
    # the registry's own code (hookspec, base class, key extractor, discovery and derive
    # functions) judges every plugin: an edit there concerns them all
    cfg = ctx.config
    own = [cfg.hookspec, cfg.base_class, cfg.key_extractor, cfg.discovery_function]
    own += [sec.derive for sec in cfg.secondary_registries]
    for obj in own:
        module = sys.modules.get(getattr(obj, "__module__", None) or "")
        file = getattr(module, "__file__", None)
        if isinstance(file, str):
            env.inputs.add_file(os.path.abspath(file))
    for path in _inputs.shadow_dirs(tops, entries, ctx.listed, known, ctx.names):
        # gaining or losing __init__.py changes which portion wins: that name only
        env.inputs.add_names(path, {"__init__"})
    return env, launch
