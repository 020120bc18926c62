"""The hook call order of a discovery is pluggy's, though each plugin is registered alone.

:func:`openhcs_registry._cold._discovery._calling.impls_in_call_order` registers every plugin
with a manager of its own turn (pluggy's ``_add_hookimpl`` is quadratic over one manager) and
puts pluggy's list together itself: checked here against pluggy registering them all with
one manager, over random mixes of ``tryfirst``/``trylast``/plain impls, several impls of the
hook in one plugin (``specname``), wrappers, and plugins pluggy refuses.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pluggy
import pytest

from openhcs_registry import RegistryConfig, hookimpl, hookspec
from openhcs_registry._cold._discovery import _calling
from openhcs_registry._cold._discovery._context import Context, Loaded
from openhcs_registry._cold._inputs import Inputs
from openhcs_registry._cold._records import PluginRecord
from openhcs_registry._markers import PROJECT_NAME


@hookspec
def provide_order_things() -> list[Any]:  # type: ignore[empty-body]
    """Return things."""


def _impl(flags: str, index: int) -> Any:
    def provide_order_things() -> list[Any]:
        return [index]

    if flags == "refused":

        def refused(unknown_argument: Any) -> list[Any]:
            return []

        return hookimpl(specname="provide_order_things")(refused)
    options: dict[str, Any] = {"specname": "provide_order_things"}
    if flags == "first":
        options["tryfirst"] = True
    elif flags == "last":
        options["trylast"] = True
    elif flags == "wrapper":
        options["wrapper"] = True

        def wrap() -> Iterator[None]:
            return (yield)

        return hookimpl(**options)(wrap)
    return hookimpl(**options)(provide_order_things)


class _Plugin:
    def __init__(self, impls: dict[str, Any]) -> None:
        self.__dict__.update(impls)


def _world(seed: int, count: int) -> tuple[Context, dict[str, Loaded]]:
    rng = random.Random(seed)
    config = RegistryConfig(
        f"order_{seed}", provide_order_things, key_attribute="key", enable_cache=False
    )
    loaded = {}
    index = 0
    for p in range(count):
        impls = {}
        for attr in range(rng.choice((1, 1, 1, 2, 3))):
            flags = rng.choice(("plain", "plain", "first", "last", "wrapper", "refused"))
            impls[f"impl_{attr}"] = _impl(flags, index)
            index += 1
        name = f"plugin_{rng.randrange(10**6):06d}_{p}"
        record = PluginRecord(name, "entry_point", None, inputs=Inputs())
        loaded[name] = Loaded(record, _Plugin(impls))
    return Context(config), loaded


def _pluggy_alone(ctx: Context, loaded: dict[str, Loaded], order: list[str]) -> list[Any]:
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(type("Spec", (), {"provide_order_things": staticmethod(provide_order_things)}))
    for name in order:
        try:
            pm.register(_calling._Hookimpls(_calling.hookimpl_attributes(loaded[name].obj)), name)
        except Exception:
            pass
    return [
        (impl.plugin_name, impl.function)
        for impl in reversed(pm.hook.provide_order_things.get_hookimpls())
        if not (impl.hookwrapper or impl.wrapper)
    ]


@pytest.mark.parametrize("seed", range(40))
def test_call_order_is_pluggys(seed: int) -> None:
    ctx, loaded = _world(seed, count=1 + seed % 12)
    order = sorted(loaded)
    got = _calling.impls_in_call_order(ctx, loaded, order)
    assert [(p.record.name, impl.function) for p, impl in got] == _pluggy_alone(ctx, loaded, order)
    refused = {name for name, p in loaded.items() if p.record.failures}
    for name, plugin in loaded.items():
        kinds = [f.kind for f in plugin.record.failures]
        assert kinds == (["invalid_plugin"] if name in refused else [])


def test_an_impl_both_tryfirst_and_trylast_is_ordered_by_pluggy_itself() -> None:
    """pluggy places such an impl by its neighbours: the one-manager order is used."""
    ctx, loaded = _world(0, count=0)
    for name, flags in (("a", {"tryfirst": True, "trylast": True}), ("b", {"tryfirst": True})):
        loaded[name] = Loaded(
            PluginRecord(name, "entry_point", None, inputs=Inputs()),
            _Plugin({"impl": hookimpl(specname="provide_order_things", **flags)(lambda: [])}),
        )
    loaded["c"] = Loaded(
        PluginRecord("c", "entry_point", None, inputs=Inputs()),
        _Plugin({"impl": hookimpl(specname="provide_order_things")(lambda: [])}),
    )
    order = ["a", "b", "c"]
    got = _calling.impls_in_call_order(ctx, loaded, order)
    assert [(p.record.name, impl.function) for p, impl in got] == _pluggy_alone(ctx, loaded, order)
    assert [p.record.name for p, _ in got] == ["b", "a", "c"]  # "c" went in before "a"
