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
