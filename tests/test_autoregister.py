"""Import-time registration (:mod:`openhcs_registry._autoregister`): importing a module registers
its classes, in a fresh process too.
"""

from __future__ import annotations

from support import World


def test_import_my_plugin_is_enough_outside_entry_points(world: World) -> None:
    """A module no entry point loads still registers its classes by being imported."""
    world.write_spec()
    world.write(f"plain_{world.tag}.py", world.plugin_source(("Plain", "plain"), hook=False))
    out = world.run(
        f"""
        import json
        import {world.spec} as spec
        import plain_{world.tag}
        print(json.dumps(sorted(spec.REGISTRY)))
        """
    )
    assert out == ["plain"]
