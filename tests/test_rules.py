"""The acceptance rules (:mod:`openhcs_registry._rules`, ``admit()``): the skip rule,
``Unavailable`` values and ``requires_modules``, on every road (fresh, cached, subprocess).
"""

from __future__ import annotations

import pytest
from support import World

from openhcs_registry import FailureKind


def test_gpu_plugins_skipped_in_no_gpu_mode(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    world.write_spec()
    world.install(
        "gpu-plugin",
        f"gpu_{world.tag}",
        world.plugin_source(
            ("Cpu", "cpu"),
            ("Gpu", "gpu"),
            extra="""
        Gpu.requires_gpu = True
        """,
        ),
    )
    reg = world.registry()
    assert sorted(reg) == ["cpu", "gpu"]
    monkeypatch.setenv("OPENHCS_SUBPROCESS_NO_GPU", "1")
    reg.reset()
    assert sorted(reg) == ["cpu"]
    assert [f.kind for f in reg.failures] == [FailureKind.SKIPPED]


def test_unavailable_values_are_reported(world: World) -> None:
    world.write_spec()
    world.install(
        "opt-plugin",
        f"opt_{world.tag}",
        world.plugin_source(
            ("Here", "here"),
            hook=False,
            extra="""
        from openhcs_registry import Unavailable
        @hookimpl
        def provide_things():
            return [Here, Unavailable("gone", "needs the missing_lib_q package", missing_module="missing_lib_q")]
        """,
        ),
    )
    reg = world.registry()
    assert list(reg) == ["here"]
    (f,) = reg.failures
    assert (f.kind, f.key, f.missing_module) == (FailureKind.UNAVAILABLE, "gone", "missing_lib_q")


def test_requires_modules_reports_unavailable_once_on_every_road(world: World) -> None:
    pkg = f"pkg_{world.tag}"
    dep = f"optdep_{world.tag}"
    world.write_spec(packages=(pkg,))
    world.write(f"{pkg}/__init__.py", "")
    world.write(
        f"{pkg}/opt.py",
        f"from {world.spec} import Thing\nclass Opt(Thing):\n    kind = 'opt'\n    requires_modules = ({dep!r},)\n",
    )
    # the same class also offered by an entry-point hook
    world.install(
        "opt-plugin",
        f"optep_{world.tag}",
        f"""
        from openhcs_registry.markers import hookimpl
        @hookimpl
        def provide_things():
            from {pkg}.opt import Opt
            return [Opt]
        """,
    )
    reg = world.registry()
    assert list(reg) == []
    assert [(f.kind, f.key, f.missing_module) for f in reg.failures] == [
        (FailureKind.UNAVAILABLE, "opt", dep)
    ]
    world.write(f"{dep}.py", "")  # the optional dependency gets installed
    out = world.run(
        f"import json; from {world.spec} import REGISTRY; k = sorted(REGISTRY); print(json.dumps(k))"
    )
    assert out == ["opt"]


def test_one_absence_reported_once_across_roads(world: World) -> None:
    pkg = f"pkg_{world.tag}"
    dep = f"absent_{world.tag}"
    world.write_spec(packages=(pkg,))
    world.write(
        f"{pkg}/__init__.py",
        f"""
        from openhcs_registry import Unavailable, hookimpl
        @hookimpl
        def provide_things():
            return [Unavailable("opt", "needs {dep}", missing_module="{dep}")]
        """,
    )
    world.write(
        f"{pkg}/opt.py",
        f"from {world.spec} import Thing\nclass Opt(Thing):\n    kind = 'opt'\n    requires_modules = ({dep!r},)\n",
    )
    world.add_dist_info("pkg-plugin", "1.0", {"pkg": pkg})
    reg = world.registry()
    assert list(reg) == []
    assert [(f.kind, f.key) for f in reg.failures] == [(FailureKind.UNAVAILABLE, "opt")]
