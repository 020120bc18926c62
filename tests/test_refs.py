"""``module:qualname`` references (:mod:`openhcs_registry._refs`): only objects a fresh process can
find again get one, and resolving one imports its module.
"""

from __future__ import annotations

import pytest
from support import World

from openhcs_registry import _refs as refs


class Outer:
    class Inner:
        pass


def test_parse_accepts_only_whole_references() -> None:
    assert refs.parse("pkg.mod:Outer.Inner") == ("pkg.mod", "Outer.Inner")
    for bad in ("pkg.mod", "pkg.mod:", ":Name", "pkg mod:X", "pkg.mod:X\n", "a:b:c", 42):
        with pytest.raises(ValueError, match="not a module:qualname reference"):
            refs.parse(bad)  # type: ignore[arg-type]


def test_reference_of_nested_classes_and_of_objects_without_an_address() -> None:
    assert refs.reference_of(Outer.Inner) == f"{__name__}:Outer.Inner"
    assert refs.resolve(f"{__name__}:Outer.Inner") is Outer.Inner

    def local() -> None: ...

    made_here = type("Made", (), {"__module__": __name__})  # not reachable under its name
    for unaddressable in (lambda: None, local, Outer(), made_here, 42):
        assert refs.reference_of(unaddressable) is None


def test_resolve_imports_the_module_and_names_the_reference_in_errors(world: World) -> None:
    world.write(f"refmod_{world.tag}.py", "class Thing:\n    pass\n")
    module = f"refmod_{world.tag}"
    out = world.run(
        f"""
        import json, sys
        from openhcs_registry import _refs as refs
        before = {module!r} in sys.modules
        thing = refs.resolve("{module}:Thing")
        print(json.dumps([before, {module!r} in sys.modules, refs.reference_of(thing)]))
        """
    )
    assert out == [False, True, f"{module}:Thing"]
    with pytest.raises(AttributeError, match=f"{module}:Nope"):
        refs.resolve(f"{module}:Nope")
    with pytest.raises(ImportError):
        refs.resolve(f"no_such_module_{world.tag}:Thing")
