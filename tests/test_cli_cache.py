"""``openhcs-registry cache info|clear|warm|verify`` (:mod:`openhcs_registry.cli.cache`), run as
real subprocesses.
"""

from __future__ import annotations

import json
import os

from support import World, cli


def test_cache_commands(world: World) -> None:
    world.write_spec()
    world.install("good-plugin", f"good_{world.tag}", world.plugin_source(("Good", "good")))
    env = world.env()
    mod = ["--module", world.spec]
    info = json.loads(cli("cache", "info", world.name, "--json", *mod, env=env).stdout)
    assert info[0]["status"] == "missing"
    assert cli("cache", "warm", world.name, *mod, env=env).returncode == 0
    info = json.loads(cli("cache", "info", world.name, "--json", *mod, env=env).stdout)
    assert info[0]["status"] == "valid" and info[0]["keys"] == 1
    assert cli("cache", "verify", world.name, *mod, env=env).returncode == 0
    # tamper: the cache claims a key that discovery does not find (refs stay valid)
    doc = world.read_cache()
    doc["items"]["ghost"] = dict(doc["items"]["good"])
    world.write_cache(doc)
    verify = cli("cache", "verify", world.name, "--json", *mod, env=env)
    assert verify.returncode == 1
    report = json.loads(verify.stdout)
    assert report["ok"] is False
    assert report["registries"][world.name]["differences"]["only_in_cache"] == ["ghost"]
    assert "DIFFERS" in cli("cache", "verify", world.name, *mod, env=env).stdout
    cleared = cli("cache", "clear", world.name, "--json", *mod, env=env)
    assert json.loads(cleared.stdout) == [str(world.cache_file)]
    assert not world.cache_file.exists()
    assert cli("cache", "verify", world.name, *mod, env=env).returncode == 1  # no cache at all


# -- cache warm / verify -----------------------------------------------------------------------
def test_warm_says_when_nothing_could_be_written() -> None:
    proc = cli(
        "cache", "warm", "zmq_server", env=dict(os.environ, OPENHCS_DISABLE_REGISTRY_CACHE="1")
    )
    assert proc.returncode == 1
    assert "NOT cached: caching is disabled (OPENHCS_DISABLE_REGISTRY_CACHE=1)" in proc.stdout


def test_verify_compares_secondary_registries(world: World) -> None:
    world.write_spec()
    source = world.plugin_source(("Good", "good"))
    source = source.replace(
        "    kind = 'good'", f"    kind = 'good'\n    partner = '{world.spec}:Thing'"
    )
    world.install("good-plugin", f"good_{world.tag}", source)
    env = world.env()
    mod = ["--module", world.spec]
    assert cli("cache", "warm", *mod, env=env).returncode == 0
    doc = world.read_cache()
    assert doc["secondaries"][f"{world.name}_partner"]["good"]["ref"] == f"{world.spec}:Thing"
    doc["secondaries"][f"{world.name}_partner"]["good"]["ref"] = f"good_{world.tag}:Good"
    world.write_cache(doc)
    proc = cli("cache", "verify", world.name, "--json", *mod, env=env)
    assert proc.returncode == 1
    diff = json.loads(proc.stdout)["registries"][world.name]["differences"]
    assert diff == {f"{world.name}_partner": {"different": ["good"]}}
