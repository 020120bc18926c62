"""``registry.isolated()``: what a test or tool did to a registry, undone on exit."""

from __future__ import annotations

import importlib

from support import World

from openhcs_registry import autoregister, hookimpl


class Extra:
    @hookimpl
    def provide_things(self) -> list[type]:
        return []


def test_isolated_restores_overlays_and_import_time_notes(world: World) -> None:
    world.write_spec()
    world.install("good-plugin", f"good_{world.tag}", world.plugin_source(("Good", "good")))
    world.write(f"plain_{world.tag}.py", world.plugin_source(("Plain", "plain"), hook=False))
    registry = world.registry()
    spec = importlib.import_module(world.spec)

    class Kept(spec.Thing):  # noted before: stays
        kind = "kept"

    registry.register(Kept)
    assert sorted(registry) == ["good", "kept"]
    notes_before = autoregister.noted(registry.name)
    with registry.isolated() as same:
        assert same is registry and not registry.is_discovered  # reset on entry
        registry.unregister("kept")
        registry.block(f"good_{world.tag}")
        registry.add_plugin(Extra(), name="extra")
        importlib.import_module(f"plain_{world.tag}")  # notes Plain at import time
        assert sorted(registry) == ["plain"]
    assert not registry.is_discovered  # reset on exit
    assert sorted(registry) == ["good", "kept"]
    assert registry.blocked == frozenset()
    assert [id(o) for o in autoregister.noted(registry.name)] == [id(o) for o in notes_before]
