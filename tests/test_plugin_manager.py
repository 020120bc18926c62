"""``registry.plugin_manager``: an application's own hooks on the plugins a registry found.

A third-party-style world on disk: entry-point plugins (one blocked, one broken), a discovery
package and a run-time plugin, all implementing an application's hooks besides the registry's
provider hook; the application declares its hookspecs and calls them with arguments, a
``firstresult`` hook and a wrapper.
"""

from __future__ import annotations

import importlib
from typing import Any

import pluggy
from support import World

APP_SPECS = """
from openhcs_registry import hookspec


class AppSpecs:
    @hookspec
    def greet(self, name):
        "Every plugin says hello to *name*."

    @hookspec(firstresult=True)
    def pick_reader(self, path):
        "The first plugin that can read *path* returns its name."
"""


def plugin(world: World, cls: str, key: str, word: str, extra: str = "") -> str:
    return world.plugin_source((cls, key)) + (
        "\n@hookimpl\ndef greet(name):\n"
        f"    return {word!r} + ':' + name\n"
        "\n@hookimpl\ndef pick_reader(path):\n"
        f"    return {word!r} if path.endswith('.{word}') else None\n" + extra
    )


def build(world: World) -> Any:
    pkg = f"pkg_{world.tag}"
    world.write_spec(packages=(pkg,))
    app = f"app_{world.tag}"
    world.write(f"{app}.py", APP_SPECS)
    # the application's contracts are declared for the group: its hook names are no typos
    world.add_dist_info("the-app", "1.0", {"app": app}, group=f"{world.group}.contracts")
    wrapper = """
@hookimpl(wrapper=True, specname="greet")
def shout(name):
    said = yield
    return [s.upper() for s in said]
"""
    world.install("alpha-plugin", f"alpha_{world.tag}", plugin(world, "A", "a", "alpha", wrapper))
    world.install("beta-plugin", f"beta_{world.tag}", plugin(world, "B", "b", "beta"))
    world.install("gamma-plugin", f"gamma_{world.tag}", plugin(world, "C", "c", "gamma"))
    world.install("broken-plugin", f"broken_{world.tag}", "raise ImportError('no libfoo')\n")
    world.write(f"{pkg}/__init__.py", "")
    world.write(
        f"{pkg}/mod.py",
        f"from {world.spec} import Thing\n"
        "from openhcs_registry import hookimpl\n"
        "class P(Thing):\n    kind = 'p'\n"
        "@hookimpl\ndef greet(name):\n    return 'pkg:' + name\n",
    )
    return importlib.import_module(app)


class RuntimePlugin:
    from openhcs_registry import hookimpl

    @hookimpl
    def greet(self, name: str) -> str:
        return "runtime:" + name


def test_application_hooks_on_the_discovered_plugins(world: World) -> None:
    app = build(world)
    registry = world.registry()
    registry.block(f"gamma_{world.tag}")
    assert sorted(registry) == ["a", "b", "p"]
    assert not [f for f in registry.failures if f.kind == "unknown_hook"]  # contracts known
    pm = registry.plugin_manager
    assert isinstance(pm, pluggy.PluginManager)
    assert registry.plugin_manager is pm  # built once, kept
    pm.add_hookspecs(app.AppSpecs)
    said = pm.hook.greet(name="x")
    # the wrapper (in alpha) upper-cases what every plugin said; gamma is blocked
    assert sorted(said) == ["ALPHA:X", "BETA:X", "PKG:X"]
    assert pm.hook.pick_reader(path="plate.beta") == "beta"  # firstresult: one answer
    assert pm.hook.pick_reader(path="plate.none") is None
    names = {name for name, _ in pm.list_name_plugin()}
    assert {f"alpha_{world.tag}", f"beta_{world.tag}", f"package:pkg_{world.tag}.mod"} <= names
    assert f"gamma_{world.tag}" not in names
    assert [f.plugin for f in pm.failures] == [f"broken_{world.tag}"]
    assert "no libfoo" in pm.failures[0].message
    # the registry's own hook is there too, with the same plugins
    provided = pm.hook.provide_things()
    assert sorted(cls.kind for group in provided for cls in group) == ["a", "b"]


def test_runtime_plugins_join_and_unblocking_rebuilds(world: World) -> None:
    app = build(world)
    registry = world.registry()
    first = registry.plugin_manager
    name = registry.add_plugin(RuntimePlugin(), name="rt")
    pm = registry.plugin_manager
    assert pm is not first  # the run-time plugins changed
    pm.add_hookspecs(app.AppSpecs)
    assert "RUNTIME:Y" in pm.hook.greet(name="y")
    assert "GAMMA:Y" in pm.hook.greet(name="y")
    registry.remove_plugin(name)
    registry.block(f"alpha_{world.tag}")  # the wrapper's plugin is gone: no upper-casing
    again = registry.plugin_manager
    again.add_hookspecs(app.AppSpecs)
    assert sorted(again.hook.greet(name="z")) == ["beta:z", "gamma:z", "pkg:z"]


def test_built_on_demand_from_a_warm_start(world: World) -> None:
    build(world)
    code = f"""
        import json, sys
        import {world.spec} as spec
        keys = sorted(spec.REGISTRY)
        light = "pluggy" not in sys.modules
        import app_{world.tag} as app
        pm = spec.REGISTRY.plugin_manager
        pm.add_hookspecs(app.AppSpecs)
        print(json.dumps([spec.REGISTRY.source, keys, light, sorted(pm.hook.greet(name="w"))]))
        """
    world.run(code)  # cold: writes the cache
    source, keys, light, said = world.run(code)
    assert source == "cache" and keys == ["a", "b", "c", "p"]
    assert light  # the warm listing did not build it
    assert said == ["ALPHA:W", "BETA:W", "GAMMA:W", "PKG:W"]


def test_plugins_have_the_names_discovery_gives_them(world: World) -> None:
    """The plugin manager lists entry points with discovery's reader: the same plugins, by
    the same names (``dist:name`` with the normalised distribution name when two
    distributions declare one name), never one only importlib.metadata would see."""
    world.write_spec()
    world.install(
        "Alpha_Dist", f"alpha_{world.tag}", world.plugin_source(("A", "a")), ep_name="same"
    )
    world.install("beta.dist", f"beta_{world.tag}", world.plugin_source(("B", "b")), ep_name="same")
    world.install("gamma-dist", f"gamma_{world.tag}", world.plugin_source(("C", "c")))
    registry = world.registry()
    discovered = sorted(p["name"] for p in registry.plugins if p["origin"] == "entry_point")
    managed = sorted(name for name, _ in registry.plugin_manager.list_name_plugin())
    assert managed == discovered
    assert discovered == sorted(["same", "beta-dist:same", f"gamma_{world.tag}"])
