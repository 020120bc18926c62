"""Environment switches (:mod:`openhcs_registry.settings`): the engine's own, and those that
contracts packages declare under ``openhcs.settings`` for their skip rules.

Real worlds and processes: a third-party contract with its own switch rebuilds its cache when
the switch flips - because it is declared - and a warm listing always equals a fresh one.
"""

from __future__ import annotations

import pytest
from support import World

from openhcs_registry import settings


def test_engine_switches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(settings.NO_ENTRY_POINTS_ENV, "yes")
    assert settings.entry_points_disabled()
    assert settings.discovery_settings()[settings.NO_ENTRY_POINTS_ENV] == "1"
    monkeypatch.setenv(settings.NO_ENTRY_POINTS_ENV, "0")
    assert not settings.entry_points_disabled()


def test_openhcs_declares_its_gpu_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine learns the switch from the installed metadata, not from its own code."""
    assert "OPENHCS_SUBPROCESS_NO_GPU" in settings.declared_switches()
    monkeypatch.setenv("OPENHCS_SUBPROCESS_NO_GPU", "1")
    assert settings.discovery_settings()["OPENHCS_SUBPROCESS_NO_GPU"] == "1"


PROBE = """
import json
from {spec} import REGISTRY
from openhcs_registry import settings
keys = sorted(REGISTRY)
print(json.dumps([REGISTRY.source, keys, [f.message for f in REGISTRY.failures],
                  "MY_SWITCH" in settings.declared_switches()]))
"""


def _switch_world(world: World, declare: bool) -> str:
    """A contract whose skip rule reads MY_SWITCH; its plugin gives keys a and b."""
    world.write_spec()
    spec = world.site / f"{world.spec}.py"
    rule = "skip=lambda v: 'b is off while MY_SWITCH is set' if os.environ.get('MY_SWITCH') "
    rule += "and getattr(v, 'kind', None) == 'b' else None,"
    spec.write_text("import os\n" + spec.read_text().replace("skip=skip_gpu,", rule))
    world.install("ab-plugin", f"ab_{world.tag}", world.plugin_source(("A", "a"), ("B", "b")))
    if declare:
        world.add_dist_info(
            "switch-contracts", "1.0", {"MY_SWITCH": world.spec}, group="openhcs.settings"
        )
    return PROBE.format(spec=world.spec)


def test_a_declared_third_party_switch_rebuilds_the_cache(world: World) -> None:
    probe = _switch_world(world, declare=True)
    assert world.run(probe) == ["fresh", ["a", "b"], [], True]
    assert world.run(probe)[:2] == ["cache", ["a", "b"]]
    on = world.run(probe, MY_SWITCH="1")
    assert on == ["fresh", ["a"], ["b is off while MY_SWITCH is set"], True]
    assert world.run(probe, MY_SWITCH="1")[:3] == ["cache", ["a"], on[2]]  # reason replayed
    assert world.run(probe)[:2] == ["fresh", ["a", "b"]]


def test_an_undeclared_switch_a_rule_reads_is_watched_as_a_variable_read(world: World) -> None:
    """Undeclared, the switch is not among the settings; but the rule reads it by name while
    discovery records (``os.environ.get``), so it is an input all the same (it was a
    documented limitation, pinned here, before variables read were recorded)."""
    probe = _switch_world(world, declare=False)
    assert world.run(probe)[:2] == ["fresh", ["a", "b"]]
    on = world.run(probe, MY_SWITCH="1")
    assert on == ["fresh", ["a"], ["b is off while MY_SWITCH is set"], False]
    assert world.run(probe, MY_SWITCH="1")[:3] == ["cache", ["a"], on[2]]
    assert world.run(probe)[:2] == ["fresh", ["a", "b"]]
