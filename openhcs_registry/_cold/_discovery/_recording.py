"""Recording what the answer depends on, for the cache and incremental rediscovery.

Every record's failures and skips are collected, the modules of the winners' references
recorded (with the inputs of modules nothing imported yet), and the environment-wide
inputs: the launch folder, namespace portions that could shadow a recorded name, and the
registry's own code.
"""

from __future__ import annotations

import os
import sys

from ..._environment import importable_names, launch_folder, search_path
from ..._refs import reference_of
from .. import _inputs
from .._inputs import Inputs
from .._records import PluginRecord
from ._run import ENVIRONMENT, _Discovery


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


def finish(run: _Discovery) -> None:
    """Collect every record's own failures and skips, and the modules to fingerprint."""
    res = run.result
    for name, noted in run.noted.items():
        record = run.records.get(name)
        if record is None or not noted:
            continue
        refs = {o.ref for o in record.offers}
        if any(reference_of(obj) not in refs for obj in noted):
            # loading it noted a class it did not return (whatever its hook did: raised,
            # returned None, left it out): what that import registers is judged at import
            # time, so reusing the record without importing the plugin would lose it
            record.reusable = False
    own = [f for r in run.records.values() for f in r.failures]
    res.failures[:0] = own
    res.skipped[:0] = [f for r in run.records.values() for f in r.skipped]
    for group in [res.items, *res.secondaries.values()]:
        for cand in group.values():
            if not cand.persist:
                continue
            if cand.ref is None:
                cand.ref = reference_of(cand.value)
            if cand.ref is None:
                cand.persist = False
                record = res.records.get(cand.plugin)
                if record is not None and record.volatile is None:
                    record.volatile = f"{cand.key!r} has no module:qualname address"
                continue
            module = cand.ref.split(":")[0]
            run.modules.add(module)
            record = res.records.get(cand.plugin)
            if record is not None and record.stored is not None:
                file = _stored_file(record, module)
                if file is not None:
                    res.module_files[module] = file
                    if cand.module == module:
                        cand.file = file  # provenance as a fresh discovery gives it
            inputs = record.inputs if record is not None else None
            if (
                inputs is not None
                and module not in inputs.modules
                and not run.reused(
                    record  # type: ignore[arg-type]
                )
            ):
                inputs.update(_inputs.known_inputs(module))  # a value defined elsewhere
                if module not in inputs.modules:  # a reference nothing imported yet
                    _record_unimported(inputs, module)
    run.modules.update(run.plugin_modules)
    record_environment(run)


def record_environment(run: _Discovery) -> None:
    """Places that could shadow a recorded name: launch folder, namespace portions."""
    tops: set[str] = {m.split(".")[0] for m in run.ep_modules}
    tops.update(p.split(".")[0] for p in run.config.discovery_packages)
    for record in run.records.values():
        imported, missing = record.looked_up()
        tops |= imported
        tops.update(m.split(".")[0] for m in missing)
    launch = launch_folder()
    entries = search_path()
    env = run.records[ENVIRONMENT] = PluginRecord(ENVIRONMENT, "listing", None, inputs=Inputs())
    assert env.inputs is not None
    # the recorded names are kept even without a launch folder: a sys.path entry that a
    # later process adds (a worker's scratch folder, pytest's rootdir) is harmless unless
    # it provides one of them
    present: set[str] = set()
    if launch is not None:
        folder = os.path.abspath(launch or os.curdir)
        entries = [folder, *entries]
        present = importable_names(folder) or set()
    run.result.launch = {"tops": sorted(tops), "present": sorted(tops & present)}
    if launch is not None and tops & present:
        # those names came from this folder: the same names in another one are a change
        run.result.launch["folder"] = [folder]
    known = {f for r in run.records.values() for f in r.file_paths()}
    # the registry's own code (hookspec, base class, key extractor, discovery and derive
    # functions) judges every plugin: an edit there concerns them all
    cfg = run.config
    own = [cfg.hookspec, cfg.base_class, cfg.key_extractor, cfg.discovery_function]
    own += [sec.derive for sec in cfg.secondary_registries]
    for obj in own:
        module = sys.modules.get(getattr(obj, "__module__", None) or "")
        file = getattr(module, "__file__", None)
        if isinstance(file, str):
            env.inputs.add_file(os.path.abspath(file))
    for path in _inputs.shadow_dirs(tops, entries, run.listed, known):
        # gaining or losing __init__.py changes which portion wins: that name only
        env.inputs.add_names(path, {"__init__"})
