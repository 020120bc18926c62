"""What a plugin read (:mod:`openhcs_registry._cold._inputs`): the import recorder notes every module
file found, every name looked for and not found, and the files of code that failed.

Real modules written to a temporary folder on ``sys.path`` and really imported.
"""

from __future__ import annotations

import builtins
import contextlib
import importlib
import io
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import run_python

from openhcs_registry._cold import _inputs
from openhcs_registry._cold._inputs import Inputs, import_module, sig
from openhcs_registry._environment import environ_digest


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, str]]:
    """A folder on ``sys.path`` and a tag for unique module names; the modules are forgotten."""
    tag = uuid.uuid4().hex[:8]
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path, tag
    for name in [m for m in sys.modules if tag in m]:
        del sys.modules[name]


def test_imported_files_and_missing_names_are_recorded(site: tuple[Path, str]) -> None:
    folder, tag = site
    (folder / f"helper_{tag}.py").write_text("VALUE = 1\n")
    (folder / f"plug_{tag}.py").write_text(
        f"import helper_{tag}\nimport colorsys\n"
        f"try:\n    import optional_{tag}\nexcept ImportError:\n    optional = None\n"
    )
    inputs = Inputs()
    module = import_module(f"plug_{tag}", inputs)
    assert module.__name__ == f"plug_{tag}"
    plug, helper = str(folder / f"plug_{tag}.py"), str(folder / f"helper_{tag}.py")
    assert inputs.modules[f"plug_{tag}"] == plug and inputs.modules[f"helper_{tag}"] == helper
    assert inputs.files[plug] == sig(plug) and inputs.files[helper] == sig(helper)
    assert f"optional_{tag}" in inputs.missing  # looked for, not found: watched
    assert not any("colorsys" in path for path in inputs.files)  # the stdlib: not recorded
    assert {f"plug_{tag}", f"helper_{tag}", f"optional_{tag}"} <= inputs.tops

    again = Inputs()  # imported already: the record of the first load, not an empty one
    import_module(f"plug_{tag}", again)
    assert plug in again.files and helper in again.files and f"optional_{tag}" in again.missing


def test_a_missing_submodule_watches_only_its_name_in_the_package_folder(
    site: tuple[Path, str],
) -> None:
    folder, tag = site
    package = folder / f"pkg_{tag}"
    package.mkdir()
    (package / "__init__.py").write_text(
        "try:\n    from . import extra\nexcept ImportError:\n    extra = None\n"
    )
    inputs = Inputs()
    import_module(f"pkg_{tag}", inputs)
    assert f"pkg_{tag}.extra" in inputs.missing
    _stat, listed, searched = inputs.names[os.path.abspath(package)]
    assert searched == {"extra"} and listed == ["__init__"]  # the importable names there


def test_code_that_fails_at_import_is_recorded_before_the_error_goes_on(
    site: tuple[Path, str],
) -> None:
    folder, tag = site
    (folder / f"broken_{tag}.py").write_text(f"import helper2_{tag}\nraise SystemExit(3)\n")
    (folder / f"helper2_{tag}.py").write_text("X = 1\n")
    inputs = Inputs()
    with pytest.raises(SystemExit):
        import_module(f"broken_{tag}", inputs)
    assert str(folder / f"broken_{tag}.py") in inputs.files  # fixing it will be seen
    assert str(folder / f"helper2_{tag}.py") in inputs.files


# -- imports sys.modules answers ---------------------------------------------------------------
# A finder on sys.meta_path is asked only for modules not imported yet.  When two plugins
# import the same helper, the second one's import is answered from sys.modules; without more,
# the helper would not be an input of the second plugin, and an incremental rediscovery could
# reuse that plugin's record after the helper changed (never-stale campaigns, seeds 1200/1300).


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A sys.path folder and a unique tag for module names (removed afterwards)."""
    tag = uuid.uuid4().hex[:8]
    sys.path.insert(0, str(tmp_path))
    importlib.invalidate_caches()
    try:
        yield tmp_path, tag
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if tag in m]:
            del sys.modules[name]


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _import_both(tag: str) -> tuple[Inputs, Inputs]:
    """Plugins ``first_<tag>`` then ``second_<tag>`` imported, each into its own record."""
    first, second = _inputs.Inputs(), _inputs.Inputs()
    _inputs.import_module(f"first_{tag}", first)
    _inputs.import_module(f"second_{tag}", second)
    return first, second


def test_a_helper_imported_first_by_another_plugin_is_an_input_of_both(
    folder: tuple[Path, str],
) -> None:
    root, tag = folder
    dep = _write(root / f"dep_{tag}.py", "VALUE = 1\n")
    helper = _write(root / f"helper_{tag}.py", f"import dep_{tag}\n")
    _write(root / f"first_{tag}.py", f"import helper_{tag}\n")
    _write(root / f"second_{tag}.py", f"import helper_{tag}\nfrom helper_{tag} import *\n")

    first, second = _import_both(tag)

    assert str(helper) in first.files and str(dep) in first.files
    # answered from sys.modules, yet recorded, with what loading the helper read
    assert f"helper_{tag}" in second.modules
    assert str(helper) in second.files
    assert str(dep) in second.files


def _kept(name: str) -> Inputs:
    """What this process keeps of the load of module *name* (sealed), as a record."""
    out = Inputs()
    out.update(_inputs._loaded[name])
    return out


def test_each_module_records_what_its_own_body_read_and_nothing_read_after_it(
    folder: tuple[Path, str],
) -> None:
    """The import chain: a module's record gains what is found while its body runs (nested
    imports included) and nothing its importer finds once that body has ended, whether it
    succeeded or raised."""
    root, tag = folder
    inner = _write(root / f"inner_{tag}.py", "VALUE = 1\n")
    middle = _write(root / f"middle_{tag}.py", f"import inner_{tag}\n")
    broken = _write(root / f"broken_{tag}.py", f"import gone_{tag}\n")
    later = _write(root / f"later_{tag}.py", "VALUE = 2\n")
    _write(
        root / f"top_{tag}.py",
        f"import middle_{tag}\n"
        f"try:\n    import broken_{tag}\nexcept ImportError:\n    pass\n"
        f"import later_{tag}\n",
    )
    record = _inputs.Inputs()
    _inputs.import_module(f"top_{tag}", record)
    top, middle_read, broken_read = (_kept(f"{name}_{tag}") for name in ("top", "middle", "broken"))
    assert {str(middle), str(inner), str(broken), str(later)} <= set(top.files)
    assert set(middle_read.files) == {str(middle), str(inner)}  # not later_, read after it
    assert set(broken_read.files) == {str(broken)} and f"gone_{tag}" in broken_read.missing
    assert f"gone_{tag}" not in middle_read.missing
    assert {str(middle), str(inner), str(broken), str(later)} <= set(record.files)


def test_relative_imports_from_sys_modules_are_inputs_of_the_running_body(
    folder: tuple[Path, str],
) -> None:
    """The same inside a package, through relative imports: ``pkg.sib``'s body runs
    ``from .inner import KEY`` after ``pkg.mid`` (``from . import inner``) loaded it."""
    root, tag = folder
    pkg = f"pkg_{tag}"
    _write(root / pkg / "__init__.py", "")
    inner = _write(root / pkg / "inner.py", "KEY = 1\n")
    _write(root / pkg / "mid.py", "from . import inner  # noqa\n")
    _write(root / pkg / "sib.py", "from .inner import KEY  # noqa\n")
    _write(root / f"first_{tag}.py", f"import {pkg}.mid\nimport {pkg}.sib\n")
    _write(root / f"second_{tag}.py", f"from {pkg} import sib\n")

    _first, second = _import_both(tag)
    assert str(inner) in _kept(f"{pkg}.sib").files
    assert str(inner) in second.files and str(root / pkg / "sib.py") in second.files


def test_the_import_chain_holds_the_running_bodies_not_every_module_found(
    folder: tuple[Path, str],
) -> None:
    """Modules whose body ended leave the chain at the next look-up (and their records are
    sealed then): a plugin importing many modules one after another keeps it short."""
    root, tag = folder
    for i in range(30):
        _write(root / f"m{i}_{tag}.py", f"VALUE = {i}\n")
    _write(
        root / f"last_{tag}.py",
        "from openhcs_registry._cold import _inputs\n"
        "CHAIN = [spec.name for spec, _ in _inputs._recorder.local.chain]\n",
    )
    _write(
        root / f"top_{tag}.py",
        "".join(f"import m{i}_{tag}\n" for i in range(30)) + f"import last_{tag}\n",
    )
    _inputs.import_module(f"top_{tag}", _inputs.Inputs())
    assert sys.modules[f"last_{tag}"].CHAIN == [f"top_{tag}", f"last_{tag}"]
    assert all(type(_inputs._loaded[f"m{i}_{tag}"]) is tuple for i in range(30))
    assert getattr(_inputs._recorder.local, "chain", None) is None  # the recording ended


def test_a_module_importing_what_its_importer_imported_first_records_it(
    folder: tuple[Path, str],
) -> None:
    """``sibling`` imports ``inner``, which its importer ``first`` had imported already (via
    ``middle``): answered from ``sys.modules``, it is still an input of ``sibling``'s own
    record, which a later plugin importing ``sibling`` takes."""
    root, tag = folder
    inner = _write(root / f"inner_{tag}.py", "VALUE = 1\n")
    _write(root / f"middle_{tag}.py", f"import inner_{tag}\n")
    sibling = _write(root / f"sibling_{tag}.py", f"import inner_{tag}\nV = inner_{tag}.VALUE\n")
    _write(root / f"first_{tag}.py", f"import middle_{tag}\nimport sibling_{tag}\n")
    _write(root / f"second_{tag}.py", f"import sibling_{tag}\n")

    _first, second = _import_both(tag)
    assert str(inner) in _kept(f"sibling_{tag}").files
    assert {str(sibling), str(inner)} <= set(second.files)


def _fields(record: Inputs) -> tuple[object, ...]:
    return (
        record.modules,
        record.files,
        record.dirs,
        record.names,
        record.missing,
        record.tops,
    )


def test_a_sealed_record_reads_as_the_record_it_was(folder: tuple[Path, str]) -> None:
    """Every field survives :func:`seal` (signatures and listings as lists again), and
    merging the sealed form into a record gives what merging the live one gives."""
    root, tag = folder
    module = _write(root / f"mod_{tag}.py", "X = 1\n")
    package = root / f"pkg_{tag}"
    package.mkdir()
    live = Inputs()
    live.modules[f"mod_{tag}"] = live.add_file(str(module))
    live.modules[f"builtin_{tag}"] = None
    live.add_file(str(root / f"gone_{tag}.py"))  # a file that cannot be stat'ed: None
    live.add_dir(str(package))
    live.add_names(str(package), {"sub", "other"})
    live.add_names(str(root / f"nowhere_{tag}"), {"x"})  # no listing: None
    live.missing.add(f"optional_{tag}")
    live.tops |= {f"mod_{tag}", f"pkg_{tag}"}
    assert None in live.files.values() and any(v[1] is None for v in live.names.values())

    sealed = _inputs.seal(live)
    thawed = Inputs()
    thawed.update(sealed)
    assert _fields(thawed) == _fields(live)
    assert all(type(v) is list for v in thawed.files.values() if v is not None)

    base = Inputs()
    base.add_names(str(package), {"first"})
    base.tops.add("base")
    from_live, from_sealed = Inputs(), Inputs()
    for target, source in ((from_live, live), (from_sealed, sealed)):
        target.update(base)
        target.update(source)
    assert _fields(from_sealed) == _fields(from_live)
    assert from_sealed.names[str(package)][2] == {"first", "sub", "other"}


def test_the_records_kept_for_later_plugins_are_not_tracked_by_the_collector(
    folder: tuple[Path, str],
) -> None:
    """What each module's load read is kept for the whole process: sealed, as tuples the
    cyclic collector stops tracking, so thousands of them cost its passes nothing."""
    import gc

    root, tag = folder
    _write(root / f"inner_{tag}.py", "VALUE = 1\n")
    _write(root / f"top_{tag}.py", f"import inner_{tag}\n")
    record = Inputs()
    _inputs.import_module(f"top_{tag}", record)
    kept = [_inputs._loaded[f"top_{tag}"], _inputs._loaded[f"inner_{tag}"]]
    kept.append(_inputs._import_log[f"top_{tag}"])
    kept.append(_inputs.known_inputs(f"top_{tag}"))
    for _ in range(3):  # (one level of nesting a pass)
        gc.collect()
    for sealed in kept:
        assert type(sealed) is tuple and not gc.is_tracked(sealed)
    assert str(root / f"inner_{tag}.py") in _kept(f"top_{tag}").files


def test_importlib_import_module_of_an_imported_module_is_recorded(
    folder: tuple[Path, str],
) -> None:
    root, tag = folder
    helper = _write(root / f"helper_{tag}.py", "X = 1\n")
    importlib.import_module(f"helper_{tag}")  # imported before any recorder (the app did)

    inputs = _inputs.Inputs()
    with _inputs.calling(inputs):  # as a hook call is recorded
        importlib.import_module(f"helper_{tag}")
    assert inputs.modules.get(f"helper_{tag}") == str(helper)
    assert str(helper) in inputs.files


def test_parent_package_files_are_inputs_of_a_submodule(folder: tuple[Path, str]) -> None:
    """``pkg.mod`` is another file once ``pkg`` loses ``__init__.py``: the parent is an input."""
    root, tag = folder
    init = _write(root / f"pkg_{tag}" / "__init__.py", "")
    _write(root / f"pkg_{tag}" / "mod.py", "")
    importlib.import_module(f"pkg_{tag}")  # the parent is imported first (a listing did)

    inputs = _inputs.Inputs()
    _inputs.import_module(f"pkg_{tag}.mod", inputs)
    assert inputs.modules.get(f"pkg_{tag}") == str(init)
    assert str(init) in inputs.files


@contextlib.contextmanager
def _first_on_sys_path(tag: str, *folders: Path) -> Iterator[None]:
    """*folders* first on ``sys.path`` for the block; then gone, and the modules whose
    names hold *tag* with them."""
    sys.path[:0] = [str(folder) for folder in folders]
    try:
        yield
    finally:
        for folder in folders:
            sys.path.remove(str(folder))
        for name in [m for m in sys.modules if tag in m]:
            del sys.modules[name]


def test_earlier_namespace_portions_record_the_name_as_missed(tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    early, late = tmp_path / "early", tmp_path / "late"
    (early / f"ns_{tag}").mkdir(parents=True)
    _write(late / f"ns_{tag}" / "mod.py", "")
    with _first_on_sys_path(tag, early, late):
        inputs = _inputs.Inputs()
        _inputs.import_module(f"ns_{tag}.mod", inputs)
    searched = inputs.names.get(str(early / f"ns_{tag}"))
    assert searched is not None and "mod" in searched[2]
    assert str(late / f"ns_{tag}") not in inputs.names  # where it was found: not a miss


def test_a_subpackage_folder_passed_over_is_watched_for_init(tmp_path: Path) -> None:
    """``ns.sub`` is a plain folder in the first portion of namespace package ``ns`` and a
    regular package in the second, which wins: the first one's ``sub`` is watched for
    ``__init__`` by the records of ``ns.sub`` and of its modules (also when ``ns.sub`` was
    imported before: the parents of a module are judged as their own import is)."""
    tag = uuid.uuid4().hex[:8]
    early, late = tmp_path / "early", tmp_path / "late"
    (early / f"ns_{tag}" / "sub").mkdir(parents=True)
    _write(late / f"ns_{tag}" / "sub" / "__init__.py", "")
    _write(late / f"ns_{tag}" / "sub" / "mod.py", "")
    passed_over = str(early / f"ns_{tag}" / "sub")
    with _first_on_sys_path(tag, early, late):
        first = _inputs.Inputs()
        _inputs.import_module(f"ns_{tag}.sub", first)
        second = _inputs.Inputs()  # ns.sub imported already: found as a parent
        _inputs.import_module(f"ns_{tag}.sub.mod", second)
    for inputs in (first, second):
        assert inputs.names[passed_over][2] == {"__init__"}
        assert "sub" in inputs.names[str(early / f"ns_{tag}")][2]


def test_the_hooks_are_removed_after_recording_and_a_foreign_hook_is_kept() -> None:
    import pkgutil

    real_import, real_import_module = builtins.__import__, importlib.import_module
    real_iter_modules = pkgutil.iter_modules
    files = [(builtins, "open"), (io, "open"), (os, "stat"), (os, "listdir"), (os, "scandir")]
    files.append((os, "open"))
    real_files = [getattr(namespace, name) for namespace, name in files]
    with _inputs.recording(_inputs.Inputs()):
        assert builtins.__import__ is not real_import
        assert importlib.import_module is not real_import_module
        assert pkgutil.iter_modules is not real_iter_modules
        for (namespace, name), real in zip(files, real_files):
            assert getattr(namespace, name) is not real, name
    assert builtins.__import__ is real_import
    assert importlib.import_module is real_import_module
    assert pkgutil.iter_modules is real_iter_modules
    assert [getattr(namespace, name) for namespace, name in files] == real_files

    def foreign(*args: object, **kwargs: object) -> object:
        return real_import(*args, **kwargs)  # type: ignore[arg-type]

    def foreign_stat(*args: Any, **kwargs: Any) -> Any:
        return real_files[2](*args, **kwargs)

    with _inputs.recording(_inputs.Inputs()):
        builtins.__import__ = foreign  # someone else hooks imports meanwhile
        os.stat = foreign_stat  # and stats
    try:
        assert builtins.__import__ is foreign  # not undone by us
        assert os.stat is foreign_stat
    finally:
        builtins.__import__ = real_import
        os.stat = real_files[2]


def test_installed_for_a_whole_run_notes_only_inside_recordings(
    folder: tuple[Path, str],
) -> None:
    """A discovery holds the hooks for its whole run (``installed()``); only what a
    recording's span imports is noted, and the hooks go when the run ends."""
    root, tag = folder
    _write(root / f"outside_{tag}.py", "")
    inside = _write(root / f"inside_{tag}.py", "")
    pre = _write(root / f"pre_{tag}.py", "")
    importlib.import_module(f"pre_{tag}")  # loaded before any recorder
    _write(root / f"a_{tag}.py", f"import pre_{tag}\n")
    _write(root / f"b_{tag}.py", f"import pre_{tag}\n")
    real_import = builtins.__import__
    first, second, third = _inputs.Inputs(), _inputs.Inputs(), _inputs.Inputs()
    with _inputs.installed():
        assert builtins.__import__ is not real_import
        importlib.import_module(f"outside_{tag}")
        with _inputs.recording(first):
            importlib.import_module(f"inside_{tag}")
        _inputs.import_module(f"a_{tag}", second)
        _inputs.import_module(f"b_{tag}", third)
        assert builtins.__import__ is not real_import  # still held between recordings
    assert builtins.__import__ is real_import
    assert str(inside) in first.files and not [f for f in first.files if "outside_" in f]
    # a module loaded before any recorder is an input of each plugin importing it
    assert str(pre) in second.files and str(pre) in third.files
    assert second.files[str(pre)] == third.files[str(pre)] == sig(str(pre))


def test_requirements_imported_already_are_recorded(folder: tuple[Path, str]) -> None:
    root, tag = folder
    opt = _write(root / f"opt_{tag}.py", "")
    importlib.import_module(f"opt_{tag}")

    class Value:
        requires_modules = (f"opt_{tag}", f"absent_{tag}")

    inputs = _inputs.Inputs()
    _inputs.note_found(inputs, Value.requires_modules)
    assert inputs.modules.get(f"opt_{tag}") == str(opt)
    assert f"absent_{tag}" not in inputs.modules  # not imported: the recorder's business


def test_the_standard_library_is_what_sysconfig_says_without_importing_it() -> None:
    """Files of the standard library are not recorded (the interpreter stands for them);
    the recorder tells them from the folder of ``os`` instead of importing ``sysconfig``.
    Differentially, over every module file this process has loaded (the standard library,
    this venv's site-packages, the project, pytest's plugins): the same answer as
    ``sysconfig``'s stdlib and site paths give."""
    import sysconfig

    paths = sysconfig.get_paths()

    def forms(path: str) -> set[str]:
        return {os.path.abspath(path) + os.sep, os.path.realpath(path) + os.sep}

    std = tuple(set().union(*(forms(paths[k]) for k in ("stdlib", "platstdlib"))))
    site = set().union(*(forms(paths[k]) for k in ("purelib", "platlib")))
    site |= {
        f for e in sys.path if e.endswith(("site-packages", "dist-packages")) for f in forms(e)
    }

    files = {
        os.path.abspath(m.__file__)
        for m in list(sys.modules.values())
        if isinstance(getattr(m, "__file__", None), str) and os.path.isabs(m.__file__)
    }
    said = {f: f.startswith(std) and not f.startswith(tuple(site)) for f in files}
    assert sum(said.values()) > 50 and len(said) - sum(said.values()) > 50  # both kinds
    assert {f: _inputs._in_stdlib(f) for f in files} == said
    assert not _inputs._in_stdlib(os.path.join(_inputs._STDLIB[0], "site-packages", "x.py"))
    # and the recorder's process does not import sysconfig for it
    code = (
        "import sys\nfrom openhcs_registry._cold import _inputs\n"
        "assert _inputs._in_stdlib(sys.modules['os'].__file__)\n"
        "print('sysconfig' in sys.modules)"
    )
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_distribution_lookups_record_the_metadata_folders_they_read(
    site: tuple[Path, str],
) -> None:
    """``importlib.metadata`` asks every ``sys.meta_path`` finder for distributions: the
    recorder notes what each look-up reads (a scan: every folder and declaration; one
    name: that distribution's metadata, and the folders before the one holding it)."""
    folder, tag = site
    info = folder / f"dep_{tag}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: dep-{tag}\nVersion: 1.0\n")
    (folder / f"byname_{tag}.py").write_text(
        "from importlib.metadata import version, PackageNotFoundError\n"
        f"VERSION = version('Dep.{tag.upper()}')\n"  # (compared as normalized names)
        f"try:\n    version('absent-{tag}')\nexcept PackageNotFoundError:\n    pass\n"
    )
    (folder / f"scan_{tag}.py").write_text(
        f"from importlib.metadata import entry_points\nFOUND = entry_points(group='g_{tag}')\n"
    )
    found = Inputs()
    assert import_module(f"byname_{tag}", found).VERSION == "1.0"
    # the distribution found: its folder and its version's file, not the site folder...
    assert str(info) in found.dirs and str(info / "METADATA") in found.files
    # ...but the one looked for in vain: every folder it could appear in, the site folder
    # among them
    assert str(folder) in found.dirs
    scan = Inputs()
    import_module(f"scan_{tag}", scan)
    assert str(folder) in scan.dirs
    assert scan.files[str(info / "entry_points.txt")] is None  # (none yet: one may appear)
    assert not any(path.startswith(_inputs._STDLIB) for path in [*scan.dirs, *found.dirs])

    only = Inputs()  # a name found, and nothing missed: the site folder is not an input
    (folder / f"only_{tag}.py").write_text(
        f"from importlib.metadata import version\nV = version('dep-{tag}')\n"
    )
    import_module(f"only_{tag}", only)
    assert str(info) in only.dirs and str(folder) not in only.dirs


def test_files_a_plugin_reads_folders_it_lists_and_paths_it_tests_are_inputs(
    site: tuple[Path, str],
) -> None:
    """``open`` for reading (also through ``pathlib``), ``os.listdir``/``os.scandir`` (also
    ``glob``), ``os.stat`` (``os.path.exists``, ``isdir``): what a plugin's code reads
    itself decides its answer as much as what it imports."""
    folder, tag = site
    data, missing = folder / "keys.txt", folder / "absent.cfg"
    data.write_text("a b\n")
    listed = folder / "formats"
    listed.mkdir()
    (listed / "x.fmt").write_text("")
    tested = folder / "gpu"
    tested.mkdir()
    (folder / f"reader_{tag}.py").write_text(
        "import glob, os, pathlib\n"
        f"KEYS = open({str(data)!r}).read().split()\n"  # at import: in the module's record
        "def run():\n"
        f"    pathlib.Path({str(data)!r}).read_text()\n"
        f"    os.path.exists({str(missing)!r})\n"
        f"    os.path.isdir({str(tested)!r})\n"
        f"    glob.glob({str(listed)!r} + '/*.fmt')\n"
        f"    with open({str(folder / 'out.log')!r}, 'w') as out:\n"  # a write: no input
        "        out.write('x')\n"
        "    with open('/proc/self/status') as status:\n"  # the kernel's: no input
        "        status.read()\n"
        "    os.listdir(os.open(os.curdir, os.O_RDONLY))\n"  # a descriptor: no path
    )
    imported = Inputs()
    module = import_module(f"reader_{tag}", imported)
    assert module.KEYS == ["a", "b"]
    assert imported.files[str(data)] == sig(str(data))
    called = Inputs()
    with _inputs.recording(called):
        module.run()
    assert called.files[str(data)] == sig(str(data))
    assert called.files[str(missing)] is None  # its appearance will be a change
    assert str(listed) in called.dirs
    # a folder tested for existence: its name in its parent, not its stat (every entry
    # added to it would move that)
    assert str(tested) not in called.dirs and str(tested) not in called.files
    assert "gpu" in called.names[str(folder)][2]
    recorded = [*called.files, *called.dirs, *called.names]
    assert str(folder / "out.log") not in recorded
    assert not any(path.startswith("/proc/") for path in recorded)

    later = Inputs()  # a plugin importing the module after it was loaded: its reads too
    import_module(f"reader_{tag}", later)
    assert str(data) in later.files


def test_the_engines_own_reads_during_a_recording_are_no_plugins_input(tmp_path: Path) -> None:
    """The engine lists a discovery package's folders while a plugin is recorded, and the
    recorder stats what it notes: neither is the plugin's input (the engine's version in
    every document's header covers its code)."""
    from openhcs_registry._cold._discovery._listing import _watch_plain_folders

    (tmp_path / "plain").mkdir()
    mine, plugin = Inputs(), Inputs()
    with _inputs.recording(plugin):
        _watch_plain_folders(mine, str(tmp_path))  # scandir + exists, by the engine
        plugin.add_file(str(tmp_path / "x.py"))  # the recorder's own stat
    assert str(tmp_path / "plain") in mine.dirs  # what the engine recorded on purpose
    assert not plugin.dirs and not plugin.names
    assert list(plugin.files) == [str(tmp_path / "x.py")]


def test_environment_variables_a_plugin_reads_are_noted_once_per_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Read by name (``[...]``, ``get``, ``in``, ``getenv``), a variable is noted with its
    value when the recorder was installed; read in a walk of the environment (a copy) it
    is not; the engine's own reads are not; ``os.environ`` gets its class back."""
    from openhcs_registry import settings

    tag = uuid.uuid4().hex[:8].upper()
    names = [f"{n}_{tag}" for n in ("GET", "IN", "GETENV", "ITEM", "WALKED", "SETDEFAULT")]
    get, isin, getenv, item, walked, default = names
    monkeypatch.setenv(get, "one")
    monkeypatch.setenv(item, "two")
    monkeypatch.setenv(walked, "three")
    monkeypatch.setattr(_inputs, "_environ_read", {})
    with _inputs.recording(Inputs()):
        assert type(os.environ) is not os._Environ
        copied = dict(os.environ)  # a walk: no variable noted by it
        os.environ.get(get)
        assert isin not in os.environ
        os.getenv(getenv)
        os.environ[item]
        os.environ.setdefault(default, "set by the plugin")
        settings.cache_disabled()  # the engine's own read
    assert type(os.environ) is os._Environ
    assert copied[walked] == "three"
    assert _inputs._environ_read == {
        get: "one",
        isin: None,
        getenv: None,
        item: "two",
        default: None,  # what the next process starts with (the plugin sets it)
    }
    rows = dict(map(tuple, _inputs.environ_rows([["EARLIER_" + tag, 5]])))
    assert rows["EARLIER_" + tag] == 5  # a previous document's row, carried
    assert rows[get] == environ_digest("one") and rows[isin] is None
    assert rows[default] is None
    assert "OPENHCS_DISABLE_REGISTRY_CACHE" not in rows

    # a value that moved between two discoveries of this process never matches
    monkeypatch.setenv(get, "changed")
    with _inputs.recording(Inputs()):
        pass
    rows = dict(map(tuple, _inputs.environ_rows()))
    assert rows[get] == -1 and rows[item] == environ_digest("two")


def test_a_relative_path_read_makes_the_working_directory_an_input(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A plugin reading a relative path reads it in the working directory: noted as the
    pseudo-variable :data:`WORKING_DIRECTORY` (its value: the folder when the recorder was
    installed); an absolute path leaves it out.  The warm check compares the folder."""
    from openhcs_registry._cache import _environ_reason, environ_changed
    from openhcs_registry._environment import WORKING_DIRECTORY

    monkeypatch.chdir(tmp_path)
    (tmp_path / "keys.txt").write_text("k\n")
    monkeypatch.setattr(_inputs, "_environ_read", {})
    with _inputs.recording(Inputs()):
        open(tmp_path / "keys.txt").close()  # absolute: no
    assert WORKING_DIRECTORY not in _inputs._environ_read
    with _inputs.recording(plugin := Inputs()):
        open("keys.txt").close()
    assert _inputs._environ_read == {WORKING_DIRECTORY: str(tmp_path)}
    assert str(tmp_path / "keys.txt") in plugin.files  # the file read, as ever
    rows = _inputs.environ_rows()
    assert rows == [[WORKING_DIRECTORY, environ_digest(str(tmp_path))]]
    assert environ_changed(rows) == []  # the same folder: holds
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert environ_changed(rows) == [WORKING_DIRECTORY]
    assert _environ_reason([WORKING_DIRECTORY]) == "the working directory changed"


def test_a_file_opened_read_only_with_os_open_is_an_input(tmp_path: Path) -> None:
    """``os.open`` read-only is a read (an input, also when the file is missing); with
    flags that write or create it is not, nor relative to a folder descriptor."""
    read, written, missing = (tmp_path / n for n in ("read.txt", "written.txt", "gone.txt"))
    read.write_text("k")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "by_fd.txt").write_text("")
    with _inputs.recording(plugin := Inputs()):
        os.close(os.open(read, os.O_RDONLY))
        os.close(os.open(written, os.O_WRONLY | os.O_CREAT, 0o600))
        with pytest.raises(FileNotFoundError):
            os.open(missing, os.O_RDONLY)
        folder = os.open(tmp_path / "sub", os.O_RDONLY)
        try:
            os.close(os.open("by_fd.txt", os.O_RDONLY, dir_fd=folder))
        finally:
            os.close(folder)
    assert os.open is _inputs._real_os_open
    assert str(read) in plugin.files and plugin.files[str(missing)] is None
    assert str(written) not in plugin.files
    assert not any(path.endswith("by_fd.txt") for path in plugin.files)


def test_environ_digest_is_the_same_in_every_process() -> None:
    """String hashes are randomised per process; the digest is not (a document written by
    one process is checked by the next)."""
    code = (
        "import json; from openhcs_registry._environment import environ_digest as d;"
        "print(json.dumps([d('x'), d(''), d('\u00e4' * 300), d(None)]))"
    )
    seen = [run_python(code, {**os.environ, "PYTHONHASHSEED": seed}) for seed in ("1", "2")]
    here = [environ_digest("x"), environ_digest(""), environ_digest("\u00e4" * 300), None]
    assert seen == [here, here]
    assert len({environ_digest("x"), environ_digest("x\0"), environ_digest("")}) == 3


def test_find_spec_of_a_module_imported_already_records_it(site: tuple[Path, str]) -> None:
    """``importlib.util.find_spec`` answers an imported name from ``sys.modules`` (no
    finder asked): the recorder notes the module all the same, by absolute or relative
    name; a name not found is noted by the finders' recorder, as before."""
    import importlib.util

    folder, tag = site
    package = folder / f"pkg_{tag}"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "opt.py").write_text("")
    importlib.import_module(f"pkg_{tag}.opt")  # another plugin imported it first
    real = importlib.util.find_spec
    inputs = Inputs()
    with _inputs.recording(inputs):
        assert importlib.util.find_spec is not real
        assert importlib.util.find_spec(f"pkg_{tag}.opt") is not None
        assert importlib.util.find_spec(f"absent_{tag}") is None
    assert importlib.util.find_spec is real
    assert inputs.modules[f"pkg_{tag}.opt"] == str(package / "opt.py")
    assert inputs.files[str(package / "opt.py")] == sig(str(package / "opt.py"))
    assert str(package / "__init__.py") in inputs.files  # its package's, as for imports
    assert f"absent_{tag}" in inputs.missing
    relative = Inputs()
    with _inputs.recording(relative):
        assert importlib.util.find_spec(".opt", f"pkg_{tag}") is not None
    assert f"pkg_{tag}.opt" in relative.modules


def test_a_pathlib_accessor_holding_the_file_functions_is_hooked_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Python 3.10's ``pathlib`` reads through ``_NormalAccessor``, whose class attributes
    are the ``os``/``io`` functions as they were when it was imported: those are hooked
    (as static methods) and put back.  (Here a stand-in of that class, on any Python.)"""
    import pathlib

    class Accessor:  # as 3.10 defines it
        stat = os.stat
        open = io.open
        listdir = os.listdir
        scandir = os.scandir
        unlink = os.unlink

    monkeypatch.setattr(pathlib, "_NormalAccessor", Accessor, raising=False)
    data = tmp_path / "keys.txt"
    data.write_text("a\n")
    inputs = Inputs()
    with _inputs.recording(inputs):
        reader = Accessor()
        with reader.open(str(data)) as handle:
            assert handle.read() == "a\n"
        try:
            reader.stat(str(tmp_path / "absent.cfg"))
        except FileNotFoundError:
            pass
        assert reader.listdir(str(tmp_path)) == ["keys.txt"]
        assert Accessor.unlink is os.unlink  # (not a file function the recorder hooks)
    assert inputs.files[str(data)] == sig(str(data))
    assert inputs.files[str(tmp_path / "absent.cfg")] is None
    assert str(tmp_path) in inputs.dirs
    assert Accessor.stat is os.stat and Accessor.open is io.open
    assert Accessor.listdir is os.listdir and Accessor.scandir is os.scandir
