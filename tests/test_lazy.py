"""``openhcs_registry.lazy``: the facade, and the secondary that forwards the primary's answer."""

from __future__ import annotations

from support import World


def _install(world: World) -> None:
    world.write_spec()
    world.install(
        "a-plugin",
        f"a_{world.tag}",
        world.plugin_source(
            ("A", "a"),
            extra=f"""
        class APartner:
            pass
        A.partner = "a_{world.tag}:APartner"
        """,
        ),
    )


def test_a_secondary_forwards_source_failures_and_provenance(world: World) -> None:
    _install(world)
    reg, partners = world.registry(), world.partners()
    assert partners.source is None and not reg.is_discovered  # no discovery triggered
    assert partners.failures == reg.failures  # triggers the primary's discovery
    assert partners.source == reg.source == "fresh"
    info = partners.info("a")
    assert info["ref"] == f"a_{world.tag}:APartner"
    assert info["plugin"] == reg.info("a")["plugin"]
    reg.reset()
    assert partners["a"].__name__ == "APartner" and partners.source == "cache"


def test_both_registries_are_read_only_mappings_of_one_kind(world: World) -> None:
    _install(world)
    reg, partners = world.registry(), world.partners()
    for mapping in (reg, partners):
        plain = mapping.copy()
        assert mapping == plain and plain == dict(mapping.items())
        assert (mapping | {"x": 1})["x"] == 1 and ({"x": 1} | mapping).keys() == {"x", *plain}
        assert mapping.get("missing", "default") == "default"
        assert len(mapping) == len(plain) and sorted(mapping) == sorted(plain)
