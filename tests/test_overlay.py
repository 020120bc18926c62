"""``openhcs_registry._overlay``: run-time additions, judged by the one ``admit()``."""

from __future__ import annotations

import abc
import importlib

import pytest
from support import World


def test_register_takes_the_rules_of_an_explicit_value(world: World) -> None:
    """Type and key are checked; abstract or skipped is the caller's decision."""
    world.write_spec()
    registry = world.registry()
    thing = importlib.import_module(world.spec).Thing

    class Half(thing, abc.ABC):  # type: ignore[misc, valid-type]
        kind = None

        @abc.abstractmethod
        def run(self) -> None: ...

    with pytest.raises(TypeError, match="holds Thing subclasses or instances"):
        registry.register(object(), key="x")
    with pytest.raises(ValueError, match="has no key"):
        registry.register(Half)
    assert registry.register(Half, key="half") == "half"
    assert registry["half"] is Half and registry.info("half")["origin"] == "runtime"
    assert registry.unregister("half") is Half and "half" not in registry
