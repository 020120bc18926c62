"""The answer reduced: an uninstall that only removed plugins writes the old answer less theirs.

A distribution uninstalled whose plugins nothing else read, looked for or met changes
nothing the other plugins read: the start loads nothing and writes the previous document
without the removed records, their items and rows (:mod:`openhcs_registry._cold._reduced`,
which logs "answer reduced" at debug level when it does).  Each test compares, in new
processes, that start with a full discovery: the listing, and the document, row for row
(as tests/test_unchanged.py does; after removing the plugin that first read a file others
read too, with its rows named by their paths: that row comes forward in another order).
Removals that are more than that (a plugin another one imports, a key that met another,
an edit with it) take the ordinary incremental path, and give the same answer.
"""

from __future__ import annotations

from typing import Any

from support import World, run_python
from test_incremental import discovery_package, many, plugin, prime, spec_without_typing
from test_unchanged import next_start_equals_full


def reduced(world: World, taken: bool = True, document: bool | str = True) -> dict[str, Any]:
    """The next start, taking the answer-reduced path or not (*taken*), equals a full
    discovery: listing, the document (row for row; ``"paths"``: its rows named by their
    paths; not at all if false) and the start after."""
    return next_start_equals_full(world, unchanged=taken, path="reduced", document=document)


def uninstall(world: World, i: int, dist: str = "") -> None:
    """``pip uninstall`` of plugin distribution *dist* (default ``dist<i>``): its
    metadata folder and its module."""
    world.uninstall(dist or f"dist{i}")
    (world.site / f"p{world.tag}_{i}.py").unlink()


def test_a_removal_loads_nothing_and_keeps_the_others(world: World) -> None:
    many(world)
    prime(world)
    uninstall(world, 2)
    got = reduced(world)
    assert got["keys"] == ["k0", "k1", "k3"]
    assert got["imported"] == []
    assert "1 plugin(s) removed" in got["said"], got


def test_removals_one_after_another_and_two_at_once(world: World) -> None:
    """Each start reduces the document the one before wrote; the last one listed and one
    in the middle go in one start."""
    many(world, 6)
    prime(world)
    uninstall(world, 5)
    assert reduced(world)["keys"] == ["k0", "k1", "k2", "k3", "k4"]
    uninstall(world, 1)
    uninstall(world, 3)
    got = reduced(world)
    assert got["keys"] == ["k0", "k2", "k4"]
    assert "2 plugin(s) removed" in got["said"], got


def test_a_removal_then_an_install_of_it_again(world: World) -> None:
    many(world)
    prime(world)
    uninstall(world, 2)
    reduced(world)
    plugin(world, 2, "k2")
    got = next_start_equals_full(world, unchanged=True, path="extended")
    assert got["keys"] == ["k0", "k1", "k2", "k3"]


def test_a_removal_next_to_a_discovery_package(world: World) -> None:
    """The package's records read folders (kept as they are); the launch record and the
    ``<environment>`` record are written afresh from the kept records' names."""
    discovery_package(world, "a", "b")
    plugin(world, 2, "k2")
    prime(world)
    uninstall(world, 2)
    got = reduced(world)
    assert got["keys"] == ["a", "b", "k0", "k1"]
    assert got["imported"] == []


def test_removing_the_plugin_that_read_a_shared_file_first(world: World) -> None:
    """The first plugin listed introduced the contract module's row that every plugin
    reads: without it the next plugin introduces it.  A full discovery puts it after that
    plugin's own module's row (the order it read them in); the reduced path, as the
    general path, carries the record's rows in their old order, so the contract module's
    comes first: the same document with its rows in another order.  Then every start
    from that document (the next removal of the plugin listed first, an edit) answers as
    a full discovery."""
    many(world)
    prime(world)
    uninstall(world, 0)
    got = reduced(world, document="paths")
    assert got["keys"] == ["k1", "k2", "k3"]
    assert got["imported"] == []
    uninstall(world, 1)
    assert reduced(world, document="paths")["keys"] == ["k2", "k3"]
    plugin(world, 2, "k2", extra="# edited\n")
    got = next_start_equals_full(world, unchanged=True, document="paths")
    assert got["imported"] == [f"p{world.tag}_2"]


def test_removing_a_plugin_another_one_imports(world: World) -> None:
    many(world)
    plugin(world, 3, "k3", extra=f"import p{world.tag}_1\n")
    prime(world)
    uninstall(world, 1)
    got = reduced(world, taken=False)
    assert got["keys"] == ["k0", "k2"]  # (the plugin importing it fails now)
    assert [(p, kind) for p, kind, _key in got["fails"]] == [(f"p{world.tag}_3", "import_error")]


def test_removing_a_plugin_whose_key_another_one_offers_too(world: World) -> None:
    """Its key met another plugin's: which one wins, and the failure the other carries,
    are the merge's to decide again."""
    many(world)
    plugin(world, 7, "k2")
    prime(world)
    uninstall(world, 2)
    got = reduced(world, taken=False)
    assert got["keys"] == ["k0", "k1", "k2", "k3"]


def test_a_removal_with_an_edit_takes_the_general_path(world: World) -> None:
    many(world)
    prime(world)
    uninstall(world, 2)
    plugin(world, 1, "k1", extra="# edited too\n")
    got = reduced(world, taken=False)
    assert got["keys"] == ["k0", "k1", "k3"]
    assert got["imported"] == [f"p{world.tag}_1"]


def test_a_removal_with_an_install_takes_the_general_path(world: World) -> None:
    many(world)
    prime(world)
    uninstall(world, 2)
    plugin(world, 7, "k7")
    got = reduced(world, taken=False)
    assert got["keys"] == ["k0", "k1", "k3", "k7"]


def test_a_removal_start_imports_no_typing_pluggy_or_sysconfig(world: World) -> None:
    """A removal loads and calls nothing, so its start pays no import that only calling
    plugins needs: the engine's changed-start modules keep ``typing`` out at run time, and
    the import recorder finds the standard library without ``sysconfig``
    (docs/design.md, "Layers")."""
    many(world)
    spec_without_typing(world)
    prime(world)
    uninstall(world, 2)
    heavy = ("typing", "sysconfig", "pluggy")
    code = (
        "import json, logging, sys\n"
        "SEEN = []\n"
        "class _Seen(logging.Handler):\n"
        "    def emit(self, record):\n"
        "        SEEN.append(record.getMessage())\n"
        "_log = logging.getLogger('openhcs_registry')\n"
        "_log.addHandler(_Seen())\n"
        "_log.setLevel(logging.DEBUG)\n"
        f"HEAVY = {heavy!r}\n"
        "before = [m for m in HEAVY if m in sys.modules]\n"
        f"from {world.spec} import REGISTRY\n"
        "keys = sorted(REGISTRY)\n"
        "print(json.dumps({'keys': keys, 'source': REGISTRY.source, 'before': before,\n"
        "    'reduced': any('answer reduced after' in m for m in SEEN),\n"
        "    'after': [m for m in HEAVY if m in sys.modules]}))\n"
    )
    got = run_python(code, world.env(), cwd=world.root)
    assert got["source"] == "fresh" and got["reduced"], got
    assert got["keys"] == ["k0", "k1", "k3"]
    assert got["before"] == [], got
    assert got["after"] == [], got["after"]
    # and a full discovery of the same world does import them (the probe can see them)
    world.cache_file.unlink()
    full = run_python(code, world.env(), cwd=world.root)
    assert full["source"] == "fresh" and "pluggy" in full["after"], full
