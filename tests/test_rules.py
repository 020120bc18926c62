"""The acceptance rules (:mod:`openhcs_registry._rules`, ``admit()``): the skip rule,
``Unavailable`` values and ``requires_modules``, on every road (fresh, cached, subprocess).
"""

from __future__ import annotations

import pytest
from support import World

from openhcs_registry import FailureKind, Unavailable


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
        from openhcs_registry import hookimpl
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


# -- admit() itself, without a discovery ---------------------------------------------------------
class _Base:
    kind: str | None = None


def _provide() -> None:
    """The hookspec of the registry below (never called)."""


def test_admit_judges_each_value_on_its_own() -> None:
    import abc

    from openhcs_registry import RegistryConfig
    from openhcs_registry._rules import admit

    config = RegistryConfig(
        name="judged",
        hookspec=_provide,
        base_class=_Base,
        key_attribute="kind",
        skip=lambda value: "too big here" if getattr(value, "big", False) else None,
    )

    class Good(_Base):
        kind = "good"

    class Abstract(_Base, abc.ABC):
        kind = "abstract"

        @abc.abstractmethod
        def run(self) -> None: ...

    class Keyless(_Base):
        pass

    class Big(_Base):
        kind = "big"
        big = True

    class Needy(_Base):
        kind = "needy"
        requires_modules = ("no_such_module_for_admit_xyz",)

    assert admit(config, Good, None) is None
    assert admit(config, Good(), "an-instance") is None  # instances of the base are values too
    judged = {
        name: admit(config, value, key)
        for name, value, key in (
            ("wrong", int, "k"),
            ("abstract", Abstract, None),
            ("keyless", Keyless, None),
            ("big", Big, None),
            ("needy", Needy, None),
            ("gone", Unavailable("gone", "needs the gone package", "gone"), None),
        )
    }
    got = {n: (r.kind, r.key, r.missing_module) for n, r in judged.items() if r is not None}
    assert got == {
        "wrong": (FailureKind.WRONG_TYPE, "k", None),
        "abstract": (FailureKind.ABSTRACT, None, None),
        "keyless": (FailureKind.MISSING_KEY, None, None),
        "big": (FailureKind.SKIPPED, "big", None),
        "needy": (FailureKind.UNAVAILABLE, "needy", "no_such_module_for_admit_xyz"),
        "gone": (FailureKind.UNAVAILABLE, "gone", "gone"),
    }
    assert judged["big"] is not None and judged["big"].message == "too big here"
    assert judged["abstract"] is not None and "run" in judged["abstract"].message
