"""Incremental rediscovery: after a change, only the plugins it touched are loaded again.

Each test builds a world of several plugins, discovers once, changes one thing and then
compares, in new processes, the incremental start (the cache is stale, some records are
reused) with a full discovery (``OPENHCS_DISABLE_REGISTRY_CACHE=1``): keys, the
``module:qualname`` of every resolved value, secondaries and failures must be equal, and
the incremental start must have imported only the plugin modules the change touched.  The
start after that is served from the cache the incremental start wrote.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _probes import observe_imports
from support import World, plain_document, walk_seeds

FIELDS = ("keys", "vals", "parts", "fails")


def incremental_equals_full(world: World) -> dict[str, Any]:
    """The next start (incremental), a full discovery and the start after; all agree."""
    incremental = observe_imports(world)
    full = observe_imports(world, OPENHCS_DISABLE_REGISTRY_CACHE="1")
    for field in FIELDS:
        assert incremental[field] == full[field], (field, incremental, full)
    after = observe_imports(world)
    assert after["source"] == "cache", after
    assert after["imported"] == []
    for field in FIELDS:
        assert after[field] == full[field], (field, after, full)
    return incremental


def many(world: World, count: int = 4, packages: tuple[str, ...] = ()) -> None:
    """*count* one-module plugin distributions ``p<tag>_<i>`` with key ``k<i>``."""
    world.write_spec(packages=packages)
    for i in range(count):
        plugin(world, i, f"k{i}")


def spec_without_typing(world: World) -> None:
    """Write the world's registry definitions again without importing ``typing`` (their
    annotations left unevaluated), so a probe can tell whether the engine imports it."""
    spec = world.site / f"{world.spec}.py"
    text = spec.read_text().replace("from typing import ClassVar\n", "")
    world.write(f"{world.spec}.py", "from __future__ import annotations\n" + text)


def discovery_package(world: World, *modules: str) -> str:
    """``many(world, 2)`` with discovery package ``p<tag>_pkg`` holding one ``Thing``
    subclass per module name in *modules* (``a`` -> class ``A``, key ``a``); its name."""
    pkg = f"p{world.tag}_pkg"
    many(world, 2, packages=(pkg,))
    world.write(f"{pkg}/__init__.py", "")
    for name in modules:
        source = f"from {world.spec} import Thing\nclass {name.upper()}(Thing):\n"
        world.write(f"{pkg}/{name}.py", source + f"    kind = {name!r}\n")
    return pkg


def plugin(
    world: World, i: int, key: str, version: str = "1.0", extra: str = "", dist: str = ""
) -> None:
    """Plugin module ``p<tag>_<i>`` offering key *key*: edited if it exists, else installed
    as distribution *dist* (default ``dist<i>``)."""
    name = f"p{world.tag}_{i}"
    source = world.plugin_source((f"C{i}", key), extra=extra).replace(
        f"    kind = {key!r}", f"    kind = {key!r}\n    partner = '{name}:C{i}'"
    )
    if (world.site / f"{name}.py").exists():
        world.write(f"{name}.py", source)
    else:
        world.install(dist or f"dist{i}", name, source, version=version)


def prime(world: World) -> None:
    observe_imports(world)
    warm = observe_imports(world)
    assert warm["source"] == "cache" and warm["imported"] == [], warm


def test_one_plugin_edited_reloads_only_that_plugin(world: World) -> None:
    many(world)
    prime(world)
    plugin(world, 2, "changed")
    got = incremental_equals_full(world)
    assert got["keys"] == ["changed", "k0", "k1", "k3"]
    assert got["imported"] == [f"p{world.tag}_2"]


def test_a_distribution_installed_loads_only_the_new_one(world: World) -> None:
    many(world)
    prime(world)
    plugin(world, 7, "k7")
    got = incremental_equals_full(world)
    assert got["keys"] == ["k0", "k1", "k2", "k3", "k7"]
    assert got["imported"] == [f"p{world.tag}_7"]


def test_an_install_start_lists_the_site_folder_once(world: World) -> None:
    """After an install, the entry-point index, the cache check's listing checksum, reuse's
    names and discovery's scan all want the site folder: one look lists it once (sorted
    once), and the start still finds the new distribution and writes a valid document."""
    many(world)
    prime(world)
    plugin(world, 7, "k7")
    got = world.run(
        f"""
        import json, os
        site = {str(world.site)!r}
        real = os.listdir
        calls = []
        def counting(path="."):
            if os.fspath(path) == site:
                calls.append(path)
            return real(path)
        os.listdir = counting
        from {world.spec} import REGISTRY
        keys = sorted(REGISTRY)
        print(json.dumps({{"keys": keys, "source": REGISTRY.source, "lists": len(calls)}}))
        """
    )
    assert got == {"keys": ["k0", "k1", "k2", "k3", "k7"], "source": "fresh", "lists": 1}
    assert incremental_equals_full(world)["keys"] == ["k0", "k1", "k2", "k3", "k7"]


def test_a_distribution_removed_loads_nothing(world: World) -> None:
    many(world)
    prime(world)
    world.uninstall("dist1")
    (world.site / f"p{world.tag}_1.py").unlink()
    got = incremental_equals_full(world)
    assert got["keys"] == ["k0", "k2", "k3"]
    assert got["imported"] == []


def test_a_distribution_upgraded_reloads_it(world: World) -> None:
    many(world)
    prime(world)
    world.uninstall("dist3")
    (world.site / f"p{world.tag}_3.py").unlink()
    plugin(world, 3, "k3new", version="2.0")
    got = incremental_equals_full(world)
    assert got["keys"] == ["k0", "k1", "k2", "k3new"]
    assert got["imported"] == [f"p{world.tag}_3"]


def test_an_edit_that_makes_a_conflict_is_merged_as_fresh_discovery_merges_it(
    world: World,
) -> None:
    many(world)
    prime(world)
    plugin(world, 3, "k0")  # now claims the key of an unchanged, reused plugin
    got = incremental_equals_full(world)
    assert got["keys"] == ["k0", "k1", "k2"]
    assert any(kind == "duplicate_key" for _p, kind, _k in got["fails"])
    assert got["imported"] == [f"p{world.tag}_3"]


def test_a_new_discovery_module_is_the_only_one_imported(world: World) -> None:
    pkg = discovery_package(world, "a")
    prime(world)
    world.write(f"{pkg}/b.py", f"from {world.spec} import Thing\nclass B(Thing):\n    kind = 'b'\n")
    got = incremental_equals_full(world)
    assert got["keys"] == ["a", "b", "k0", "k1"]
    assert f"p{world.tag}_pkg.a" not in got["imported"]
    assert f"p{world.tag}_pkg.b" in got["imported"]


def test_an_optional_dependency_installed_reloads_the_plugin_that_wanted_it(
    world: World,
) -> None:
    many(world, 3)
    dep = f"p{world.tag}_optdep"
    name = f"p{world.tag}_3"
    world.install(
        "dist3",
        name,
        world.plugin_source(("Opt", "opt")).replace(
            "    kind = 'opt'", f"    kind = 'opt'\n    requires_modules = ('{dep}',)"
        ),
    )
    prime(world)
    assert observe_imports(world)["keys"] == ["k0", "k1", "k2"]
    world.write(f"{dep}.py", "")
    got = incremental_equals_full(world)
    assert got["keys"] == ["k0", "k1", "k2", "opt"]
    assert got["imported"] == [name]


def test_import_time_side_effects_of_a_reused_plugin_are_not_lost(world: World) -> None:
    """A plugin whose import registers a class it does not return is never reused blind."""
    many(world, 3)
    helper = f"p{world.tag}_helper"
    world.write(
        f"{helper}.py",
        f"from {world.spec} import Thing\nclass Noted(Thing):\n    kind = 'noted'\n",
    )
    world.install(
        "dist9",
        f"p{world.tag}_9",
        f"import {helper}\n" + world.plugin_source(("Nine", "nine")),
    )
    prime(world)
    plugin(world, 1, "k1b")
    got = incremental_equals_full(world)
    assert "noted" in got["keys"] and "k1b" in got["keys"]
    assert f"p{world.tag}_1" in got["imported"] and f"p{world.tag}_0" not in got["imported"]


@pytest.mark.parametrize("count", [3])
def test_a_failing_plugin_fixed_reloads_only_it(world: World, count: int) -> None:
    many(world, count)
    world.install("dist8", f"p{world.tag}_8", "raise RuntimeError('broken')\n")
    prime(world)
    assert [f[1] for f in observe_imports(world)["fails"]] == ["import_error"]
    world.write(f"p{world.tag}_8.py", world.plugin_source(("Eight", "k8")))
    got = incremental_equals_full(world)
    assert got["keys"] == ["k0", "k1", "k2", "k8"]
    assert got["imported"] == [f"p{world.tag}_8"]


def test_changes_one_after_another_each_reload_only_what_they_touched(world: World) -> None:
    """A document written by an incremental start is as good a base as a fresh one."""
    many(world, 5)
    prime(world)
    for step, i in enumerate((1, 3, 1, 4)):
        plugin(world, i, f"s{step}")
        got = incremental_equals_full(world)
        assert got["imported"] == [f"p{world.tag}_{i}"], (step, got)
    assert got["keys"] == ["k0", "k2", "s1", "s2", "s3"]


def _written(world: World, path: Path | None = None) -> dict[str, Any]:
    """The registry's cache document (or the one at *path*), less what differs between two
    writes of one answer.

    Left out: the write time and what is computed from the bytes or the stats (checksum,
    the head's length and sum, stamps, cold part's table and offset), and the content digests of
    files modified racily close to a write (which files those are depends on when it
    happened).  The answer's fields in their plain form (``_cache.unpack``); the cold
    part's ``reads``, which a writer may carry over instead of computing it, kept.
    """
    raw = json.loads((world.cache_file if path is None else path).read_text())
    reads = raw["cold"]["reads"]
    doc = plain_document(raw)
    for field in ("timestamp", "checksum", "warm", "stamp", "coldat", "split", "racy"):
        doc.pop(field)
    doc["cold"]["files"] = [row[:5] for row in doc["cold"]["files"]]
    doc["cold"]["reads"] = reads
    return doc


def by_path(doc: dict[str, Any]) -> dict[str, Any]:
    """:func:`_written`'s document with every file row named by its path (the file table,
    the records' and ``reads``' rows sorted by path): what two documents of one answer
    share when their file rows come in another order."""
    paths: list[str] = doc["files"]

    def named(rows: list[int]) -> list[str]:
        assert rows == sorted(set(rows)), rows  # (the writer stores rows once, ascending)
        return sorted(paths[at] for at in rows)

    cold = dict(doc["cold"])
    cold["files"] = sorted(cold["files"])
    cold["plugins"] = [
        {**raw, "files": named(raw["files"])} if "files" in raw else raw for raw in cold["plugins"]
    ]
    rows, folders = cold["reads"]
    cold["reads"] = [[None if r is None else named(r) for r in rows], folders]
    return {
        **doc,
        "files": sorted(paths),
        "missing": named(doc["missing"]),
        "modules": {name: paths[at] for name, at in doc["modules"].items()},
        "cold": cold,
    }


@pytest.mark.parametrize("change", ["edit", "install", "remove", "conflict", "conflict_first"])
def test_the_document_an_incremental_start_writes_is_a_full_discoverys(
    world: World, change: str
) -> None:
    """Reused records are written back as stored, their rows carried into the new tables:
    the document is the one a full discovery writes, row for row (a warm start's stamps
    and every later incremental start read it)."""
    many(world, 6)
    prime(world)
    if change == "edit":
        plugin(world, 2, "changed")
    elif change == "install":
        plugin(world, 8, "k8")
    elif change == "remove":
        world.uninstall("dist1")
        (world.site / f"p{world.tag}_1.py").unlink()
    elif change == "conflict":
        plugin(world, 3, "k0")
    else:  # listed first, it reads the contract module's row first: that row comes forward
        plugin(world, 8, "k0", dist="aaa")
    got = observe_imports(world)
    assert got["source"] == "fresh"
    assert len(got["imported"]) <= 1, got  # incremental: the others reused
    incremental = _written(world)
    world.cache_file.unlink()
    assert observe_imports(world)["source"] == "fresh"  # a full discovery writes it again
    assert incremental == _written(world)


def test_an_edit_of_the_registry_contract_rediscovers_every_plugin(world: World) -> None:
    """The base class judges every plugin: editing its module reuses no record."""
    many(world, 3)
    prime(world)
    spec = world.site / f"{world.spec}.py"
    spec.write_text(
        spec.read_text().replace(
            "    requires_gpu: ClassVar[bool] = False",
            "    requires_gpu: ClassVar[bool] = False\n    requires_modules = ('absent_mod_x',)",
        )
    )
    got = incremental_equals_full(world)
    assert got["keys"] == []
    assert sorted(f[1] for f in got["fails"]) == ["unavailable"] * 3


def test_a_try_imported_dependency_installed_reloads_the_plugin_that_tried(world: World) -> None:
    many(world, 3)
    dep = f"p{world.tag}_tried"
    name = f"p{world.tag}_3"
    world.install(
        "dist3",
        name,
        world.plugin_source(("Tried", "tried"), hook=False)
        + f"\n@hookimpl\ndef provide_things():\n    try:\n        import {dep}\n"
        "    except ImportError:\n        return []\n    return [Tried]\n",
    )
    prime(world)
    world.write(f"{dep}.py", "")
    got = incremental_equals_full(world)
    assert got["keys"] == ["k0", "k1", "k2", "tried"]
    assert got["imported"] == [name, dep]


#: Longer campaigns: ``OPENHCS_INCREMENTAL_SEEDS=1-200 pytest tests/test_incremental.py -k random``
SEEDS = walk_seeds("OPENHCS_INCREMENTAL_SEEDS", (11, 29, 47, 83, 101, 131))


@pytest.mark.parametrize("seed", SEEDS)
def test_random_changes_one_at_a_time_keep_incremental_equal_to_full(
    world: World, seed: int
) -> None:
    """A seeded walk of single changes (edit, conflict, install, uninstall, upgrade with or
    without a new key, break, fix, discovery module added/removed, optional dependency
    toggled, a module of the same name put in or taken out of the launch folder); after
    each, the incremental start equals a full discovery and the start after is served from
    cache."""
    import random

    rng = random.Random(seed)
    pkg = f"p{world.tag}_pkg"
    dep = f"p{world.tag}_dep"
    many(world, 4, packages=(pkg,))
    world.write(f"{pkg}/__init__.py", "")
    installed = {0, 1, 2, 3}
    versions: dict[int, int] = {}
    modules: set[str] = set()
    prime(world)
    for step in range(10):
        action = rng.choice(
            [
                *("edit", "conflict", "install", "uninstall", "upgrade"),
                *("break", "module", "dep", "shadow"),
            ]
        )
        i = rng.choice(sorted(installed)) if installed else None
        if action == "edit" and i is not None:
            plugin(world, i, f"e{step}")
        elif action == "conflict" and i is not None and len(installed) > 1:
            plugin(world, i, "k0" if i else "k1")
        elif action == "install":
            new = max(installed | {3}) + 1
            installed.add(new)
            plugin(world, new, f"n{new}")
        elif action == "uninstall" and i is not None:
            installed.discard(i)
            world.uninstall(f"dist{i}", f"{versions.pop(i, 1)}.0")
            (world.site / f"p{world.tag}_{i}.py").unlink()
        elif action == "upgrade" and i is not None and i != 99:
            # as pip does: the new version's metadata folder, the old one gone, the module
            # written again (most often offering what it did)
            old = versions.get(i, 1)
            versions[i] = old + 1
            world.uninstall(f"dist{i}", f"{old}.0")
            (world.site / f"p{world.tag}_{i}.py").unlink()
            key = f"k{i}" if rng.random() < 0.7 else f"u{step}"
            plugin(world, i, key, version=f"{old + 1}.0")
        elif action == "break" and i is not None:
            world.write(f"p{world.tag}_{i}.py", "raise RuntimeError('broken')\n")
        elif action == "module":
            name = f"m{step}"
            if modules and rng.random() < 0.5:
                gone = modules.pop()
                (world.site / pkg / f"{gone}.py").unlink()
            else:
                modules.add(name)
                world.write(
                    f"{pkg}/{name}.py",
                    f"from {world.spec} import Thing\nclass M(Thing):\n    kind = {name!r}\n",
                )
        elif action == "dep":
            path = world.site / f"{dep}.py"
            if path.exists():
                path.unlink()
            else:
                world.write(f"{dep}.py", "")
            # a plugin that wants it, installed the first time
            if 99 not in installed:
                installed.add(99)
                world.install(
                    "dist99",
                    f"p{world.tag}_99",
                    world.plugin_source(("Opt", "opt")).replace(
                        "    kind = 'opt'", f"    kind = 'opt'\n    requires_modules = ('{dep}',)"
                    ),
                )
        elif action == "shadow" and i is not None:
            # a same-named module in the launch folder (the cwd of ``-c``) takes the name over
            shadow = world.root / f"p{world.tag}_{i}.py"
            if shadow.exists():
                shadow.unlink()
            else:
                shadow.write_text(world.plugin_source((f"S{i}", f"shadow{i}")))
        incremental_equals_full(world)


def test_a_variable_changed_calls_again_only_the_plugins_that_read_it(world: World) -> None:
    """Each record names the environment variables its plugin read (its own reads, and
    those of the modules it imported, also from ``sys.modules``): another value calls
    those plugins again and reuses the others.  A variable no record names any more is
    not watched."""
    many(world)
    tag = world.tag
    mode = f"MODE_{tag.upper()}"
    helper = f"h{tag}"
    world.write(f"{helper}.py", f"import os\nSUFFIX = os.environ.get({mode!r}, '')\n")

    def reads_mode(i: int, via_helper: bool = True) -> None:
        source = world.plugin_source((f"C{i}", f"k{i}")).replace(
            f"kind = 'k{i}'", f"kind = 'k{i}' + {helper}.SUFFIX"
        )
        world.write(f"p{tag}_{i}.py", f"import {helper}\n" + source if via_helper else "")

    for i in (1, 2):  # the second imports the helper from sys.modules
        reads_mode(i)
    prime(world)

    def start(value: str | None) -> dict[str, Any]:
        env = {} if value is None else {mode: value}
        got = observe_imports(world, **env)
        full = observe_imports(world, OPENHCS_DISABLE_REGISTRY_CACHE="1", **env)
        for field in FIELDS:
            assert got[field] == full[field], (field, got, full)
        after = observe_imports(world, **env)
        assert after["source"] == "cache" and after["imported"] == [], after
        return got

    got = start("x")
    assert got["keys"] == ["k0", "k1x", "k2x", "k3"]
    assert got["imported"] == [f"p{tag}_1", f"p{tag}_2"]
    assert start(None)["imported"] == [f"p{tag}_1", f"p{tag}_2"]
    plugin(world, 2, "k2")  # no longer imports the helper (an edit: its start re-calls it)
    assert observe_imports(world)["imported"] == [f"p{tag}_2"]
    got = start("y")
    assert got["keys"] == ["k0", "k1y", "k2", "k3"] and got["imported"] == [f"p{tag}_1"]
    # the last reader edited not to read it: its record changed (the edit's own path
    # declines), and the document the general path writes names the variable no more
    plugin(world, 1, "k1")
    assert observe_imports(world, **{mode: "y"})["imported"] == [f"p{tag}_1"]
    got = observe_imports(world, **{mode: "z"})
    assert got["source"] == "cache" and got["keys"] == ["k0", "k1", "k2", "k3"]


def test_a_folder_a_reused_plugin_looked_in_for_a_name_settles_after_it_changed(
    world: World,
) -> None:
    """A plugin package tests its own folder (``os.path.isdir``): its record looks in the
    site folder for its name.  A distribution installed there changes the folder, not that
    name: the plugin's record is reused, and the document written then describes the
    folder as the check saw it, so the start after it is served from the cache (with the
    old row kept, every start found the folder changed and discovered again)."""
    many(world, 2)
    pkg = f"p{world.tag}_pkg_looker"
    world.write(
        f"{pkg}/__init__.py",
        "import os\n"
        "HERE = os.path.isdir(os.path.dirname(os.path.abspath(__file__)))\n"
        + world.plugin_source(("Looker", "looker")),
    )
    world.add_dist_info("looker", "1.0", {"looker": pkg})
    prime(world)
    plugin(world, 7, "k7")
    got = incremental_equals_full(world)  # (the start after it: from the cache)
    assert got["keys"] == ["k0", "k1", "k7", "looker"]
    assert got["imported"] == [f"p{world.tag}_7"]
