"""``openhcs-registry doctor`` (:mod:`openhcs_registry.cli.doctor`), run as a real subprocess."""

from __future__ import annotations

from support import World, doctor_json, world_cli


# -- one plugin's failure is one doctor row, whatever the number of registries --------------------
def test_doctor_groups_one_plugins_failure_across_registries(world: World) -> None:
    world.write_spec()  # a registry of another group: not touched by the broken plugin
    world.install(
        "broken-plugin",
        f"broken_{world.tag}",
        "import json\nraise ImportError('no libfoo here')\n",
        group="openhcs",
    )
    code, report = doctor_json(world)
    assert code == 1
    per_registry = [
        name
        for name, data in report["registries"].items()
        if any(f["plugin"] == f"broken_{world.tag}" for f in data["failures"])
    ]
    assert len(per_registry) >= 5  # every registry of the group loads it...
    (group,) = [g for g in report["failures"] if g["plugin"] == f"broken_{world.tag}"]
    assert group["registries"] == per_registry  # ...and it is one entry naming them
    assert [p for p in report["problems"] if f"broken_{world.tag}" in p] == [
        f"import_error in plugin 'broken_{world.tag}' ({', '.join(per_registry)})"
    ]
    text = world_cli(world, "doctor").stdout
    rows = [line for line in text.splitlines() if line.strip().startswith(f"broken_{world.tag}")]
    assert len(rows) == 1 and f"all {len(per_registry)} of group 'openhcs'" in rows[0]
    assert "problems found: 1" in text
