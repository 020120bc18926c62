"""``openhcs_registry._snapshot``: one record for a registry's answer, fresh or cached.

Discovery's snapshot and the cache's are the same type and give the same provenance
(differentially: a fresh process against a warm one).
"""

from __future__ import annotations

from support import World

from openhcs_registry import RegistryCacheManager
from openhcs_registry._snapshot import UNRESOLVED, Entry, Snapshot

READ = """
import json
from {spec} import REGISTRY
keys = sorted(REGISTRY)
print(json.dumps({{"source": REGISTRY.source,
                   "info": {{k: REGISTRY.info(k) for k in keys}},
                   "values": {{k: REGISTRY[k].__qualname__ for k in keys}}}}))
"""


def test_fresh_and_cached_snapshots_give_the_same_answer(world: World) -> None:
    world.write_spec()
    world.install("ab-plugin", f"ab_{world.tag}", world.plugin_source(("A", "a"), ("B", "b")))
    fresh = world.run(READ.format(spec=world.spec))
    warm = world.run(READ.format(spec=world.spec))
    assert (fresh["source"], warm["source"]) == ("fresh", "cache")
    for key, info in fresh["info"].items():
        assert info.pop("source") == "fresh"
        assert warm["info"][key].pop("source") == "cache"
    assert warm["info"] == fresh["info"]
    assert warm["values"] == fresh["values"] == {"a": "A", "b": "B"}


def test_the_cache_loads_a_snapshot_of_unresolved_entries(world: World) -> None:
    world.write_spec()
    world.install("ab-plugin", f"ab_{world.tag}", world.plugin_source(("A", "a")))
    registry = world.registry()
    assert sorted(registry) == ["a"] and registry.source == "fresh"
    loaded = RegistryCacheManager(registry.config).load()
    assert isinstance(loaded, Snapshot) and loaded.source == "cache"
    entry = loaded.items["a"]
    assert type(entry) is Entry and entry.value is UNRESOLVED
    assert entry.ref == f"ab_{world.tag}:A"
    assert entry.info["plugin"] == registry.info("a")["plugin"]
    assert loaded.plugins == registry.plugins


def test_an_installed_fresh_snapshot_keeps_what_its_records_imported_not_the_records(
    world: World,
) -> None:
    """Installing a discovery's snapshot drops its per-plugin records (freed then, not
    traversed at exit) and keeps, for ``why``, the modules the plugins loaded imported:
    the same set a discovery that was not installed reads from its records."""
    from openhcs_registry._cold._discovery import run_discovery

    world.write_spec()
    helper = f"helper_{world.tag}"
    world.write(f"{helper}.py", "X = 1\n")
    world.install(
        "ab-plugin", f"ab_{world.tag}", f"import {helper}\n" + world.plugin_source(("A", "a"))
    )
    registry = world.registry()
    assert sorted(registry) == ["a"] and registry.source == "fresh"
    installed = registry._state
    assert installed is not None and installed.records == {}
    direct = run_discovery(registry.config, registry.blocked)
    assert direct.records  # (not installed: the writer's material is still there)
    assert installed.imports() == direct.imports()
    assert {helper, f"ab_{world.tag}"} <= installed.imports()
