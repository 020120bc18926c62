"""The answer extended: an install that only added plugins writes the old answer plus theirs.

A distribution installed with new plugins whose offers meet no recorded key changes
nothing the other plugins read: the start loads and calls only the new plugins and writes
the previous document with their records inserted where a full discovery lists them
(:mod:`openhcs_registry._cold._extended`, which logs "answer extended" at debug level when
it does).  Each test compares, in new processes, that start with a full discovery: the
listing, and the document, row for row (as tests/test_unchanged.py does).  Changes that
are more than an install (a removal, an edit with it), and installs whose plugins meet
another key, fail or read what a later plugin introduced, take the ordinary incremental
path, and give the same answer.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from support import World, run_python
from test_incremental import _written, discovery_package, many, plugin, prime
from test_unchanged import _CAPTURE, next_start_equals_full

#: The world's keys after ``many(world)``.
KEYS = ["k0", "k1", "k2", "k3"]


def extended(world: World, taken: bool = True, document: bool = True) -> dict[str, Any]:
    """The next start, taking the answer-extended path or not (*taken*), equals a full
    discovery: listing, the document (row for row, unless *document* is false) and the
    start after."""
    return next_start_equals_full(world, unchanged=taken, path="extended", document=document)


def test_a_distribution_sorting_last(world: World) -> None:
    many(world)
    prime(world)
    plugin(world, 7, "k7")
    got = extended(world)
    assert got["keys"] == [*KEYS, "k7"]
    assert got["imported"] == [f"p{world.tag}_7"]
    # no recorded declaration changed: only the new metadata folder was scanned
    assert "new metadata folders scanned" in got["said"], got


def test_a_distribution_sorting_first_moves_every_index(world: World) -> None:
    """Listed first, its record and rows come before all others': every other record's
    rows, the items' records and the calling order move (the document says so, row for
    row)."""
    many(world)
    prime(world)
    plugin(world, 7, "k7", dist="aaa")
    got = extended(world)
    assert got["keys"] == [*KEYS, "k7"]
    assert got["imported"] == [f"p{world.tag}_7"]


def test_distributions_in_the_middle_one_after_another(world: World) -> None:
    """Each start extends the document the one before wrote."""
    many(world)
    prime(world)
    plugin(world, 7, "k7", dist="dist1b")
    assert extended(world)["keys"] == [*KEYS, "k7"]
    plugin(world, 8, "k8", dist="dist0b")
    got = extended(world)
    assert got["keys"] == [*KEYS, "k7", "k8"]
    assert got["imported"] == [f"p{world.tag}_8"]


def test_two_distributions_installed_at_once(world: World) -> None:
    many(world)
    prime(world)
    plugin(world, 7, "k7", dist="aaa")
    plugin(world, 8, "k8", dist="dist2b")
    got = extended(world)
    assert got["keys"] == [*KEYS, "k7", "k8"]
    assert got["imported"] == [f"p{world.tag}_7", f"p{world.tag}_8"]


def test_a_distribution_without_plugins_keeps_the_answer(world: World) -> None:
    """An install of a distribution that declares no plugin of the registry (a library, or
    another group's plugin): nothing loaded, the document written for the new environment."""
    many(world)
    prime(world)
    world.write(f"lib{world.tag}.py", "VALUE = 1\n")
    world.add_dist_info("somelib", "1.0", {"other": f"lib{world.tag}"}, group="another_group")
    got = extended(world)
    assert got["keys"] == KEYS and got["imported"] == []


def test_a_new_key_meeting_an_old_one_takes_the_general_path(world: World) -> None:
    many(world)
    prime(world)
    plugin(world, 7, "k1", dist="aaa")  # wins k1 by name: the old winner loses
    got = extended(world, taken=False)
    assert "not proven" in got["declined"] and "meets another" in got["declined"]
    assert got["keys"] == KEYS
    assert any(kind == "duplicate_key" for _p, kind, _k in got["fails"])
    assert got["imported"] == [f"p{world.tag}_7"]  # loaded once, handed over


def test_a_new_plugin_that_fails_to_import_takes_the_general_path(world: World) -> None:
    many(world)
    prime(world)
    plugin(world, 7, "k7", extra="raise RuntimeError('broken at install')\n")
    got = extended(world, taken=False)
    assert "not proven" in got["declined"]
    assert got["keys"] == KEYS
    assert any(kind == "import_error" for _p, kind, _k in got["fails"])


@pytest.mark.parametrize(("reader", "dist"), [(1, "dist2b"), (2, "aaa")])
def test_a_new_plugin_reading_a_helper_another_plugin_introduced(
    world: World, reader: int, dist: str
) -> None:
    """Listed after the plugin that introduced the helper's file row (1, dist2b), the new
    plugin reads it where it is; listed before it (2, aaa), it brings that row forward (as
    a full discovery's tables have it) and the rows between move back."""
    helper = f"h{world.tag}_shared"
    world.write(f"{helper}.py", "VALUE = 1\n")
    many(world)
    plugin(world, reader, f"k{reader}", extra=f"import {helper}\n")
    prime(world)
    plugin(world, 7, "k7", dist=dist, extra=f"import {helper}\n")
    got = extended(world)
    assert got["keys"] == [*KEYS, "k7"]
    assert got["imported"] == [f"p{world.tag}_7"]


def test_a_new_plugin_searching_a_folder_a_later_plugin_introduced(world: World) -> None:
    """A package folder searched by a later plugin first: whose folder row records the
    names searched there depends on who comes first, so the general path writes the
    tables (the new plugin handed over, loaded once).

    (The listing is compared, not the document: a submodule missing from a package that
    an earlier plugin imported in the same process is recorded without the package's
    file, so the records a full discovery writes depend on the loading order, which an
    incremental start, loading only the new plugin, does not have.)"""
    helper = f"h{world.tag}_pkg"
    world.write(f"{helper}/__init__.py", "")
    tried = f"try:\n    import {helper}.absent\nexcept ImportError:\n    pass\n"
    many(world)
    plugin(world, 2, "k2", extra=tried)
    prime(world)
    plugin(world, 7, "k7", dist="aaa", extra=tried)
    got = extended(world, taken=False, document=False)
    assert "folder a later plugin introduced" in got["declined"]
    assert got["keys"] == [*KEYS, "k7"]
    assert got["imported"] == [f"p{world.tag}_7"]


@pytest.mark.parametrize("how", ["requires", "import"])
def test_an_install_bringing_a_module_a_stored_plugin_missed(world: World, how: str) -> None:
    """The new distribution also brings a module that a stored plugin wanted and missed
    (a contract's ``requires_modules``, or an ``import`` it tried): that plugin is called
    again, not taken as stored, though ``reads`` says it may be taken as it is while its
    inputs are unchanged (the name it looked up is one of them)."""
    dep = f"p{world.tag}_optdep"
    many(world, 3)
    if how == "requires":
        world.install(
            "dist3",
            f"p{world.tag}_3",
            world.plugin_source(("Opt", "opt")).replace(
                "    kind = 'opt'", f"    kind = 'opt'\n    requires_modules = ('{dep}',)"
            ),
        )
        expected = ["k0", "k1", "k2", "k7", "opt"]
    else:
        plugin(world, 3, "k3", extra=f"try:\n    import {dep}\nexcept ImportError:\n    pass\n")
        expected = ["k0", "k1", "k2", "k3", "k7"]
    prime(world)
    plugin(world, 7, "k7")
    world.write(f"{dep}.py", "")
    got = extended(world, taken=False)
    assert got["keys"] == expected
    assert f"p{world.tag}_3" in got["imported"], got
    assert "would be loaded again" in got["declined"], got


def test_a_removal_takes_the_general_path(world: World) -> None:
    many(world)
    prime(world)
    world.uninstall("dist1")
    (world.site / f"p{world.tag}_1.py").unlink()
    got = extended(world, taken=False)
    assert got["keys"] == ["k0", "k2", "k3"] and got["imported"] == []


def test_an_install_with_an_edit_takes_the_general_path(world: World) -> None:
    many(world)
    prime(world)
    plugin(world, 7, "k7")
    plugin(world, 2, "k2", extra="# edited too\n")
    got = extended(world, taken=False)
    assert "not tried" in got["declined"]
    assert got["keys"] == [*KEYS, "k7"]
    assert got["imported"] == [f"p{world.tag}_2", f"p{world.tag}_7"]


def test_an_install_next_to_a_declaration_rewritten_compares_every_declaration(
    world: World,
) -> None:
    """A recorded ``entry_points.txt`` rewritten in place with what it declared (a comment
    added): the recorded distributions' stamp moves, so the new folders alone cannot say
    what is declared; every declaration is compared, and the answer is still extended."""
    many(world)
    prime(world)
    declaration = world.site / "dist1-1.0.dist-info" / "entry_points.txt"
    declaration.write_text(declaration.read_text() + "# rewritten\n")
    plugin(world, 7, "k7")
    got = extended(world)
    assert "every declaration compared" in got["said"], got
    assert got["keys"] == [*KEYS, "k7"]
    assert got["imported"] == [f"p{world.tag}_7"]


def test_a_new_entry_point_named_like_an_old_one_compares_every_declaration(
    world: World,
) -> None:
    """A new distribution declaring an entry point of an old one's name: the listing names
    the later one by its distribution's name, which the placement by sort key does not
    work out; every declaration is compared, and the answer is still extended."""
    many(world)
    prime(world)
    source = world.plugin_source(("C9", "k9"))
    world.install("dist9", f"p{world.tag}_9", source, ep_name=f"p{world.tag}_1")
    got = extended(world)
    assert "every declaration compared" in got["said"], got
    assert got["keys"] == [*KEYS, "k9"]
    assert got["imported"] == [f"p{world.tag}_9"]


def test_an_install_next_to_a_discovery_package(world: World) -> None:
    discovery_package(world, "a")
    prime(world)
    plugin(world, 7, "k7", dist="aaa")
    got = extended(world)
    assert got["keys"] == ["a", "k0", "k1", "k7"]


def test_an_install_next_to_a_blocked_plugin(world: World) -> None:
    """A plugin blocked by name has a record that was never loaded: carried as it is while
    it stays blocked, the new plugin added around it."""
    many(world)
    code = (
        _CAPTURE
        + f"from {world.spec} import REGISTRY\n"
        + f"REGISTRY.block('p{world.tag}_1')\n"
        + "import json\n"
        + "keys = sorted(REGISTRY)\n"
        + 'print(json.dumps({"keys": keys, "source": REGISTRY.source, '
        + '"extended": any("answer extended after" in m for m in SEEN)}))\n'
    )

    def blocked_start(**env: str) -> dict[str, Any]:
        got: dict[str, Any] = run_python(code, world.env(**env), cwd=world.root)
        return got

    blocked_start()
    assert blocked_start()["source"] == "cache"
    plugin(world, 7, "k7", dist="aaa")
    got = blocked_start()
    assert got == {"keys": ["k0", "k2", "k3", "k7"], "source": "fresh", "extended": True}
    written = _written(world)
    assert blocked_start(OPENHCS_DISABLE_REGISTRY_CACHE="1")["keys"] == got["keys"]
    assert blocked_start() == {**got, "source": "cache", "extended": False}
    world.cache_file.unlink()
    assert blocked_start()["source"] == "fresh"  # a full discovery writes it again
    assert written == _written(world)


@pytest.mark.parametrize("marker", ["tryfirst", "trylast"])
def test_a_new_plugin_called_first_or_last(world: World, marker: str) -> None:
    """The calling order the document records (pluggy's: tryfirst, normal, trylast) puts
    the new record where a full discovery calls it."""
    many(world)
    prime(world)
    name = f"p{world.tag}_7"
    source = world.plugin_source(("C7", "k7")).replace("@hookimpl\n", f"@hookimpl({marker}=True)\n")
    world.install(
        "dist1b",
        name,
        source.replace("    kind = 'k7'", f"    kind = 'k7'\n    partner = '{name}:C7'"),
    )
    got = extended(world)
    assert got["keys"] == [*KEYS, "k7"]


#: Every built-in registry's keys, failures and secondaries, and the path's debug lines.
_BUILTINS = (
    _CAPTURE
    + """
import json
from openhcs_hookspecs import load_all
out = {}
for name, reg in sorted(load_all().items()):
    out[name] = {
        "keys": sorted(reg),
        "fails": sorted([f.plugin, f.kind, f.key or ""] for f in reg.failures),
        "secondaries": {s.name: sorted(reg.secondary(s.name)) for s in reg.config.secondary_registries},
    }
print(json.dumps({"registries": out, "extended": [m for m in SEEN if "answer extended" in m]}))
"""
)


def test_a_plugin_installed_for_the_built_in_registries(world: World) -> None:
    """The built-in registries share the entry-point group: a format plugin installed there
    is a new plugin of each (offering nothing to the others).  Each registry whose stored
    records all hold extends its document; each answer and document is a full
    discovery's, and the environment section is the same in all."""
    from test_contracts_formats import SOURCE

    world.run(_BUILTINS)
    module = f"acme_format_{world.tag}"
    world.install(module.replace("_", "-"), module, SOURCE, group="openhcs")
    got = world.run(_BUILTINS)
    assert any("microscope_format_registry: answer extended after 1" in m for m in got["extended"])
    assert "acme" in got["registries"]["microscope_format_registry"]["keys"]
    written = _all_written(world)
    full = world.run(_BUILTINS, OPENHCS_DISABLE_REGISTRY_CACHE="1")
    assert got["registries"] == full["registries"]
    assert world.run(_BUILTINS)["registries"] == full["registries"]  # warm, from the cache
    for path in world.cache_dir.glob("*_registry.json"):
        path.unlink()
    world.run(_BUILTINS)  # a full discovery writes them again
    assert written == _all_written(world)
    assert len({json.dumps(doc["env"], sort_keys=True) for doc in written.values()}) == 1


def _all_written(world: World) -> dict[str, Any]:
    """Every registry document in the world's cache folder, as :func:`_written` reads one."""
    return {path.name: _written(world, path) for path in world.cache_dir.glob("*_registry.json")}


def test_the_place_of_a_new_entry_point_is_bisect_left() -> None:
    import bisect
    import random

    from openhcs_registry._cold._unchanged import position_in as _position

    rng = random.Random(12)
    for size in (0, 1, 2, 7, 100):
        keys = sorted((f"d{rng.randrange(40)}", f"e{rng.randrange(5)}") for _ in range(size))
        for probe in [*keys, ("a", "a"), ("z", "z"), *((f"d{i}", "e2") for i in range(40))]:
            assert _position(keys, probe) == bisect.bisect_left(keys, probe)
