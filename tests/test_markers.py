"""The hook markers (:mod:`openhcs_registry._markers`): written without pluggy, understood by it."""

from __future__ import annotations

from support import World


def test_markers_are_understood_by_plain_pluggy() -> None:
    import pluggy

    from openhcs_registry import hookimpl, hookspec

    class Spec:
        @hookspec
        def ask(self, x: int) -> int: ...

    class Impl:
        @hookimpl(tryfirst=True)
        def ask(self, x: int) -> int:
            return x + 1

    pm = pluggy.PluginManager("openhcs")
    pm.add_hookspecs(Spec)
    pm.register(Impl())
    assert pm.hook.ask(x=1) == [2]
    assert pm.hook.ask.get_hookimpls()[0].tryfirst


def test_pluggys_own_marker_works_with_our_registry(world: World) -> None:
    world.write_spec()
    world.install(
        "pl-plugin",
        f"pl_{world.tag}",
        f"""
        import pluggy
        from {world.spec} import Thing
        class P(Thing):
            kind = "p"
        @pluggy.HookimplMarker("openhcs")
        def provide_things():
            return [P]
        """,
    )
    assert list(world.registry()) == ["p"]
