"""What every command shares (:mod:`openhcs_registry.cli._common`): finding registries from
``--module`` and ``OPENHCS_REGISTRY_MODULES``, a clear usage error for a module that is not there.
"""

from __future__ import annotations

import json

from support import World, cli


def test_registry_modules_from_the_environment(world: World) -> None:
    world.write_spec()
    world.install("good-plugin", f"good_{world.tag}", world.plugin_source(("Good", "good")))
    proc = cli("list", world.name, "--json", env=world.env(OPENHCS_REGISTRY_MODULES=world.spec))
    assert proc.returncode == 0, proc.stderr
    assert list(json.loads(proc.stdout)[world.name]["items"]) == ["good"]
    missing = cli("list", "--module", "no_such_module_xyz")
    assert missing.returncode == 2 and "no_such_module_xyz" in missing.stderr
