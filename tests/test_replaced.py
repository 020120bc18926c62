"""The answer replaced: an edit that changed what a plugin reads.

A plugin edited to import a helper module it did not import (or to stop), to import a
module of the standard library, to read a data file, is loaded and called again; its
record then differs from the stored one in what it read, so the document's tables change
around it.  When it stores the record it stored but for what it read (and, perhaps, what
it offers, meeting no other record's key), the start writes the previous document with
that record replaced in its place and the tables rebuilt around it
(:mod:`openhcs_registry._cold._replaced`, which logs "answer replaced" at debug level).
Each test compares, in new processes, that start with a full discovery: the listing and
the document, row for row (or by path, where a row comes forward), and the start after
it, from the cache.
"""

from __future__ import annotations

import random

import pytest
from support import World, walk_seeds
from test_amended import start_equals_full
from test_incremental import many, plugin, prime
from test_unchanged import next_start_equals_full, upgrade


def _helper(world: World, name: str, body: str = "VALUE = 1\n") -> str:
    """Helper module *name* (of the world's tag) written in the site; its module name."""
    module = f"h{world.tag}_{name}"
    world.write(f"{module}.py", body)
    return module


def test_a_new_import_of_a_helper_module_replaces_the_record(world: World) -> None:
    """Plugin 1 imports a helper module it did not: a new file row among its rows, the
    later records' rows moved, a new top-level name (the environment record taken
    again); taken out again, the row goes."""
    many(world)
    helper = _helper(world, "a")
    prime(world)
    plugin(world, 1, "k1", extra=f"import {helper}\n")
    got = next_start_equals_full(world, unchanged=True, path="replaced")
    assert got["keys"] == ["k0", "k1", "k2", "k3"]
    assert got["imported"] == [f"p{world.tag}_1"]
    assert "the environment record taken again" in got["said"], got
    plugin(world, 1, "k1")
    got = next_start_equals_full(world, unchanged=True, path="replaced")
    assert got["imported"] == [f"p{world.tag}_1"]


def test_a_helper_module_of_a_package_renamed_replaces_the_record(world: World) -> None:
    """A helper module of a package renamed, the plugin's import with it: the old file
    vanished (a recorded file gone), the new one read.  (A top-level module renamed
    changes the names a ``sys.path`` entry provides: the general path.)"""
    many(world)
    pkg = f"q{world.tag}"
    world.write(f"{pkg}/__init__.py", "")
    world.write(f"{pkg}/old.py", "VALUE = 1\n")
    plugin(world, 2, "k2", extra=f"import {pkg}.old\n")
    prime(world)
    (world.site / pkg / "old.py").rename(world.site / pkg / "new.py")
    plugin(world, 2, "k2", extra=f"import {pkg}.new\n")
    got = next_start_equals_full(world, unchanged=True, path="replaced")
    assert got["keys"] == ["k0", "k1", "k2", "k3"]
    assert got["imported"] == [f"p{world.tag}_2"]


def test_a_new_top_level_module_imported_by_a_flat_layout_plugin_replaces_it(
    world: World,
) -> None:
    """A module written beside the plugins (a name no record looked up appears in the
    site folder) and imported by plugin 3: the sys.path rows are written afresh with the
    record replaced.  A module no plugin imports, dropped there too: nothing called
    again."""
    many(world)
    prime(world)
    helper = _helper(world, "flat")
    plugin(world, 3, "k3", extra=f"import {helper}\n")
    got = next_start_equals_full(world, unchanged=True, path="replaced")
    assert got["imported"] == [f"p{world.tag}_3"]
    assert "the environment record taken again" in got["said"], got
    _helper(world, "unrelated")  # (the install's path: no entry point added)
    got = next_start_equals_full(world, unchanged=True, path="extended")
    assert got["imported"] == []
    assert "after 0 plugin(s) added" in got["said"], got


def test_a_name_a_record_looked_up_appearing_takes_the_general_path(world: World) -> None:
    """Plugin 1 tries an import that fails (its record looked the name up); the module
    appears in the site folder as plugin 2 is edited: plugin 1's answer may change, which
    the general path judges (here its key does)."""
    many(world)
    name = f"h{world.tag}_later"
    source = world.plugin_source(("C1", "k1")).replace("kind = 'k1'", "kind = 'k1' + SUFFIX")
    guard = f"try:\n    from {name} import SUFFIX\nexcept ImportError:\n    SUFFIX = ''\n"
    world.write(f"p{world.tag}_1.py", guard + source)
    prime(world)
    _helper(world, "later", "SUFFIX = 'x'\n")
    plugin(world, 2, "k2", extra="# edited\n")
    got = next_start_equals_full(world, unchanged=False, path="replaced", document="paths")
    assert got["keys"] == ["k0", "k1x", "k2", "k3"]


def test_a_module_of_the_standard_library_imported_now_replaces_the_record(
    world: World,
) -> None:
    """The plugin's modules and looked-up names change, no file row does."""
    many(world)
    prime(world)
    plugin(world, 2, "k2", extra="import colorsys\n")
    got = next_start_equals_full(world, unchanged=True, path="replaced")
    assert got["keys"] == ["k0", "k1", "k2", "k3"]
    assert got["imported"] == [f"p{world.tag}_2"]


def test_an_import_shared_with_a_later_plugin_replaces_the_record(world: World) -> None:
    """Plugins 0 and 2 import one helper (plugin 0 introduced its row); plugin 0 stops:
    the row comes forward to plugin 2 (the documents agree by path), and back."""
    many(world)
    helper = _helper(world, "shared")
    plugin(world, 0, "k0", extra=f"import {helper}\n")
    plugin(world, 2, "k2", extra=f"import {helper}\n")
    prime(world)
    plugin(world, 0, "k0")
    got = next_start_equals_full(world, unchanged=True, path="replaced", document="paths")
    assert got["keys"] == ["k0", "k1", "k2", "k3"]
    plugin(world, 0, "k0", extra=f"import {helper}\n")
    next_start_equals_full(world, unchanged=True, path="replaced", document="paths")


def test_an_import_and_a_key_changed_together_replace_the_record(world: World) -> None:
    """What the plugin reads and offers changed: its offers amend the answer too."""
    many(world)
    helper = _helper(world, "b")
    prime(world)
    plugin(world, 3, "renamed", extra=f"import {helper}\n")
    got = next_start_equals_full(world, unchanged=True, path="replaced")
    assert got["keys"] == ["k0", "k1", "k2", "renamed"]
    assert got["parts"]["renamed"] == f"p{world.tag}_3:C3", got["parts"]


def test_a_data_file_read_now_replaces_the_record(world: World) -> None:
    """A plugin that starts reading a data file for its key: a new file row."""
    many(world)
    data = world.site / f"d{world.tag}.txt"
    data.write_text("fromfile")
    prime(world)
    source = world.plugin_source(("C1", "k1")).replace(
        "kind = 'k1'", f"kind = open({str(data)!r}).read().strip()"
    )
    world.write(f"p{world.tag}_1.py", source)
    got = next_start_equals_full(world, unchanged=True, path="replaced")
    assert got["keys"] == ["fromfile", "k0", "k2", "k3"]
    data.write_text("again")  # (the file is an input now: the edit's path takes it)
    got = next_start_equals_full(world, unchanged=True, path="amended")
    assert got["keys"] == ["again", "k0", "k2", "k3"]


def test_a_variable_read_now_then_no_longer_replaces_the_record(world: World) -> None:
    """A plugin edited to read a variable (its value in the key): the environment section
    gains its row; another value then calls that plugin alone; edited not to read it, the
    row goes, as a full discovery writes the section."""
    many(world)
    prime(world)
    mode = f"MODE_{world.tag.upper()}"
    source = world.plugin_source(("C2", "k2")).replace(
        "kind = 'k2'", f"kind = 'k2' + os.environ.get({mode!r}, '')"
    )
    world.write(f"p{world.tag}_2.py", "import os\n" + source)
    got = next_start_equals_full(world, unchanged=True, path="replaced", **{mode: "a"})
    assert got["keys"] == ["k0", "k1", "k2a", "k3"]
    assert [row[0] for row in world.read_cache()["env"]["environ"]] == [mode]
    got = next_start_equals_full(world, unchanged=True, path="amended", **{mode: "b"})
    assert got["keys"] == ["k0", "k1", "k2b", "k3"]
    assert got["imported"] == [f"p{world.tag}_2"]
    plugin(world, 2, "k2")
    got = next_start_equals_full(world, unchanged=True, path="replaced", **{mode: "b"})
    assert got["keys"] == ["k0", "k1", "k2", "k3"]
    assert world.read_cache()["env"]["environ"] == []


def test_a_plugin_that_fails_to_import_now_replaces_the_record(world: World) -> None:
    """An edit that breaks the plugin's import (a module that does not exist, imported
    first): its record fails, its keys go, its hook is no longer called; fixed again, it
    offers them again.  Both replace the record; the failure is reported as a full
    discovery reports it."""
    many(world)
    prime(world)
    source = world.plugin_source(("C1", "k1"))
    world.write(f"p{world.tag}_1.py", "import no_such_module_anywhere\n" + source)
    got = next_start_equals_full(world, unchanged=True, path="replaced")
    assert got["keys"] == ["k0", "k2", "k3"]
    assert [kind for _p, kind, _k in got["fails"]] == ["import_error"], got["fails"]
    plugin(world, 1, "k1")
    got = next_start_equals_full(world, unchanged=True, path="replaced")
    assert got["keys"] == ["k0", "k1", "k2", "k3"]
    assert got["fails"] == []


def test_a_syntax_error_and_its_fix_replace_the_record(world: World) -> None:
    """The edit a plugin author saves half-typed, among other plugins that fail: the new
    failure takes its place among the records' own."""
    many(world, 5)
    world.write(f"p{world.tag}_0.py", "import no_such_module_either\n")
    world.write(f"p{world.tag}_4.py", "import no_such_module_at_all\n")
    prime(world)
    source = world.plugin_source(("C2", "k2"))
    world.write(f"p{world.tag}_2.py", source.replace("class C2", "class C2(:", 1))
    got = next_start_equals_full(world, unchanged=True, path="replaced")
    assert got["keys"] == ["k1", "k3"]
    assert [p for p, _kind, _k in got["fails"]] == [
        f"p{world.tag}_0",
        f"p{world.tag}_2",
        f"p{world.tag}_4",
    ], got["fails"]
    world.write(f"p{world.tag}_2.py", source + "\n")
    got = next_start_equals_full(world, unchanged=True, path="replaced")
    assert got["keys"] == ["k1", "k2", "k3"]


def test_a_hook_that_raises_now_replaces_the_record(world: World) -> None:
    """The plugin imports, its hook raises: a failure of its own, its keys gone."""
    many(world)
    prime(world)
    world.write(
        f"p{world.tag}_3.py",
        "from openhcs_registry import hookimpl\n\n"
        "@hookimpl\ndef provide_things():\n    raise RuntimeError('not today')\n",
    )
    got = next_start_equals_full(world, unchanged=True, path="replaced")
    assert got["keys"] == ["k0", "k1", "k2"]
    assert [p for p, _kind, _k in got["fails"]] == [f"p{world.tag}_3"], got["fails"]


def test_an_upgrade_that_imports_a_new_module_replaces_the_record(world: World) -> None:
    """``pip install -U`` of a plugin whose new version imports a helper module (shipped
    beside it) and looks up another name: the upgraded record replaced, the environment
    section and the scan written afresh, as a full discovery writes them; downgraded, the
    same."""
    many(world)
    helper = _helper(world, "up")
    prime(world)
    upgrade(world, 1, "k1", "1.0", "2.0", extra=f"import {helper}\n")
    got = next_start_equals_full(world, unchanged=True, path="replaced")
    assert got["keys"] == ["k0", "k1", "k2", "k3"]
    assert got["imported"] == [f"p{world.tag}_1"]
    (record,) = [r for r in world.read_cache()["cold"]["plugins"] if r["name"] == f"p{world.tag}_1"]
    assert record["version"] == "2.0"
    upgrade(world, 1, "k1", "2.0", "1.5")
    got = next_start_equals_full(world, unchanged=True, path="replaced")
    assert got["imported"] == [f"p{world.tag}_1"]


def test_a_plugin_that_fails_after_defining_a_class_takes_the_general_path(
    world: World,
) -> None:
    """A module that fails to import after defining a class: the class was noted at
    import time, which only the merge over every record judges."""
    many(world)
    prime(world)
    plugin(world, 1, "k1", extra="import no_such_module_anywhere\n")
    got = next_start_equals_full(world, unchanged=False, path="replaced", document="paths")
    assert got["keys"] == ["k0", "k2", "k3"]
    assert "noted a class at import time" in got["declined"], got


def test_a_new_import_meeting_another_key_takes_the_general_path(world: World) -> None:
    """The edited plugin reads otherwise and takes plugin 0's key: a conflict."""
    many(world)
    helper = _helper(world, "c")
    prime(world)
    plugin(world, 2, "k0", extra=f"import {helper}\n")
    got = next_start_equals_full(world, unchanged=False, path="replaced", document="paths")
    assert got["keys"] == ["k0", "k1", "k3"]
    assert "offers a key or object of theirs" in got["declined"], got


# -- a seeded random walk of reads and offers changed, each start against a full discovery


def _reads_source(world: World, i: int, rng: random.Random, data: str) -> str:
    """Plugin ``p<tag>_<i>`` importing some of the world's helper modules (perhaps none),
    perhaps a module of the standard library, perhaps reading data file *data*, and
    offering classes as :func:`test_amended._offers_source` draws them; now and then
    failing to import (a missing module, a syntax error) or its hook raising."""
    from test_amended import _offers_source

    lines = [f"import h{world.tag}_{n}" for n in range(3) if rng.random() < 0.35]
    if rng.random() < 0.2:
        # (modules that import nothing: what a module imports is recorded where it is
        # imported first, which depends on what the process imported before)
        lines.append(rng.choice(("import colorsys", "import keyword")))
    if rng.random() < 0.15:
        lines.append(f"DATA = open({data!r}).read()")
    if rng.random() < 0.1:  # (the plugin fails to import: before its classes, or after)
        lines.insert(rng.choice((0, len(lines))), f"import no_such_module_{i}")
    source = "\n".join(lines) + "\n" + _offers_source(world, i, rng)
    if rng.random() < 0.05:  # (saved half-typed)
        source = source.replace("(Thing):", "(Thing:", 1)
    if rng.random() < 0.05:  # (its hook raises)
        source = source.replace("    return ", "    raise RuntimeError('not today')\n    return ")
    return source


@pytest.mark.parametrize("seed", walk_seeds("OPENHCS_REPLACED_SEEDS"))
def test_random_reads_changes_agree_with_a_full_discovery(world: World, seed: int) -> None:
    """Six plugins and three helper modules; eight times, one or two plugins rewritten to
    import other helpers (or a module of the standard library, or to read a data file)
    and to offer other classes, now and then to fail to import or to import a module
    written beside it now, or a helper edited (its importers called again).  Every
    start equals a full discovery, document and all; most replace records
    (``OPENHCS_REPLACED_SEEDS=1-50`` runs a longer walk)."""
    rng = random.Random(seed)
    many(world, 6)
    data = world.site / f"d{world.tag}.txt"
    data.write_text("data\n")
    for n in range(3):
        _helper(world, str(n))
    prime(world)
    # (first, one change the path must take, whatever the walk draws after it)
    plugin(world, 0, "k0", extra=f"import h{world.tag}_0\n")
    replaced = start_equals_full(world, "replaced", paths=True)["replaced"]
    assert replaced, "an import added did not replace the record"
    for step in range(8):
        if rng.random() < 0.15:
            n = rng.randrange(3)
            _helper(world, str(n), f"VALUE = {step}\n# {'edited' * (step + 1)}\n")
        for i in rng.sample(range(6), rng.choice((1, 1, 2))):
            path = world.site / f"p{world.tag}_{i}.py"
            source = _reads_source(world, i, rng, str(data))
            if rng.random() < 0.1:  # (a module written beside it now: a new name there)
                source = f"import {_helper(world, f'new{step}_{i}')}\n" + source
            if len(source) == path.stat().st_size:  # (else Python may run the old bytecode)
                source += "\n"
            world.write(path.name, source)
        start_equals_full(world, "replaced", paths=True)
