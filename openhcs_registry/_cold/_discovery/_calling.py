"""Calling each loaded plugin's hook, isolated, through pluggy.

:func:`call_plugins` is the step: it takes the plugins listing loaded (and the custom
discovery function's record), calls each hook once in pluggy's order and has its answer
judged at once (:func:`._judging.judge_answer`), keeping the priority, failures and offers
in the plugin's record; it returns what else the calls showed (:class:`Calls`).

Only the plugin's marked hook attributes are registered (not every attribute of its
module), hook names no hookspec declares are reported, and a hook that raises (or returns
something that is not a list or dict) becomes that plugin's failure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from operator import attrgetter
from types import ModuleType

from ... import _autoregister as autoregister
from ..._diagnostics import FailureKind
from ..._markers import PROJECT_NAME, declared_hookspecs
from .. import _entrypoints, _inputs
from .._records import PluginRecord
from ._context import Context, Loaded, logger
from ._judging import judge_answer

TYPE_CHECKING = False
if TYPE_CHECKING:  # (typing at run time is an import every changed start would pay)
    from typing import Any, Protocol, TypeVar

    class Called(Protocol):
        """What :func:`calling_order` reads of a record: its name and hook priority."""

        @property
        def name(self) -> str: ...

        @property
        def priority(self) -> int | None: ...

    _R = TypeVar("_R", bound=Called)


class Calls:
    """What calling the hooks showed besides the records' answers."""

    __slots__ = ("modules", "noted")

    def __init__(self) -> None:
        #: classes noted at import time while each plugin's hook ran
        self.noted: dict[str, list[Any]] = {}
        #: the modules of the hookimpls called (a plugin object's hook may live elsewhere)
        self.modules: set[str] = set()


def calling_order(records: Iterable[_R]) -> list[_R]:
    """Records whose hook ran, in the order pluggy calls them.

    pluggy registers in name order and calls ``tryfirst`` impls (last registered first),
    then normal ones (last registered first), then ``trylast`` ones (first registered
    first).  Written out here so that reused records, which are not registered with pluggy,
    take the same place as in a fresh discovery (and the stored records of the
    answer-extended path, which builds no record for them: :mod:`.._extended`).
    """
    called = sorted([r for r in records if r.priority is not None], key=_by_name)
    # (one pass, no per-record key function call: thousands of records)
    first: list[_R] = []
    normal: list[_R] = []
    last: list[_R] = []
    for r in reversed(called):
        priority = r.priority
        if priority == 1:
            normal.append(r)
        elif priority == 0:
            first.append(r)
        elif priority == 2:
            last.append(r)
    last.reverse()
    return first + normal + last


#: The sort key of :func:`calling_order` (pluggy registers in name order).
_by_name = attrgetter("name")


#: Hook names declared per project, extended once from the contracts' entry points.
_contracts_loaded: set[str] = set()


def hookimpl_attributes(obj: Any) -> dict[str, Any]:
    """The attributes of plugin *obj* that carry a hookimpl marker, by attribute name."""
    marker = PROJECT_NAME + "_impl"
    out = {}
    namespace = getattr(obj, "__dict__", None)
    if type(obj) is ModuleType and isinstance(namespace, dict) and "__dir__" not in namespace:
        # a plain module (what an entry point names): ``dir()`` is its sorted namespace and
        # ``getattr`` its values, but for dunder names the module type may answer itself
        for attr in sorted(namespace):
            value = namespace[attr] if attr[:2] != "__" else getattr(obj, attr, None)
            if isinstance(getattr(value, marker, None), dict):
                out[attr] = value
        return out
    for attr in dir(obj):
        try:
            value = getattr(obj, attr, None)
        except Exception:  # a property of a plugin object may raise: not a hookimpl
            value = None
        if isinstance(getattr(value, marker, None), dict):
            out[attr] = value
    return out


class _Hookimpls:
    """What pluggy is given for a loaded plugin: only the plugin's marked attributes.

    ``PluginManager.register`` inspects every attribute of the object it is given
    (``inspect.getattr_static`` on each name of ``dir()``): for a plugin module that is
    every import and helper in it, most of a cold discovery's registration time.  The
    marked attributes were found already (:func:`hookimpl_attributes`), so pluggy sees those
    alone and registers, verifies and calls them exactly as it would on the module.
    """

    def __init__(self, attributes: dict[str, Any]) -> None:
        self.__dict__.update(attributes)

    def __dir__(self) -> list[str]:
        return list(self.__dict__)


def unknown_hooks(
    obj: Any, group: str, attributes: dict[str, Any] | None = None
) -> list[tuple[str, str | None]]:
    """``(name, close match)`` of each hookimpl on *obj* that no hookspec of *group* declares.

    Known hookspecs are those defined in this process plus those of the contract modules
    declared under the ``<group>.contracts`` entry-point group (loaded only when a name is
    not known yet, so a correct plugin costs nothing).
    """
    marker = PROJECT_NAME + "_impl"
    names = [
        str(getattr(value, marker).get("specname") or attr)
        for attr, value in (hookimpl_attributes(obj) if attributes is None else attributes).items()
    ]
    unknown = [n for n in names if n not in declared_hookspecs(PROJECT_NAME)]
    if unknown and group not in _contracts_loaded:
        _contracts_loaded.add(group)
        _load_contracts(group)
        unknown = [n for n in unknown if n not in declared_hookspecs(PROJECT_NAME)]
    if not unknown:  # the common case: nothing to suggest, nothing more to import
        return []
    import difflib

    known = sorted(declared_hookspecs(PROJECT_NAME))
    return [(n, next(iter(difflib.get_close_matches(n, known, 1, 0.6)), None)) for n in unknown]


def _load_contracts(group: str) -> None:
    """Import the contract modules declared for *group* (each isolated)."""
    for ep in _entrypoints.entry_points(f"{group}.contracts"):
        try:
            ep.load()
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            logger.debug("contracts %s could not be loaded: %s", ep.value, exc)


def check_hook_names(ctx: Context, record: PluginRecord, obj: Any) -> dict[str, Any]:
    """Report hookimpls whose name matches no hookspec of the group (a misspelling);
    return the plugin's hookimpl attributes (what pluggy is given for it)."""
    marked = hookimpl_attributes(obj)
    for hook, suggestion in unknown_hooks(obj, ctx.config.entry_point_group, marked):
        hint = f"; did you mean {suggestion!r}?" if suggestion else ""
        ctx.fail(
            record,
            FailureKind.UNKNOWN_HOOK,
            f"hookimpl {hook!r} matches no hookspec of entry-point group "
            f"{ctx.config.entry_point_group!r}{hint}",
        )
    return marked


# -- hook -------------------------------------------------------------------------------
def call_plugins(
    ctx: Context, loaded: Mapping[str, Loaded], custom: PluginRecord | None = None
) -> Calls:
    """Call the hook of every plugin loaded now, then the custom discovery function of
    record *custom*; reused records keep their offers."""
    out = Calls()
    if loaded:
        _call_hooks(ctx, loaded, out)
    func = ctx.config.discovery_function
    if custom is not None and func is not None:
        custom.priority = 1
        module = custom.module
        assert custom.inputs is not None
        if module:  # its own module, imported long before: watched like a plugin's
            custom.inputs.update(_inputs.known_inputs(module))
        _call(ctx, custom, func, out)
    return out


def _call_hooks(ctx: Context, loaded: Mapping[str, Loaded], out: Calls) -> None:
    """Register *loaded* with a new pluggy manager and call each hookimpl once."""
    for plugin, impl in impls_in_call_order(ctx, loaded, sorted(loaded)):
        record = plugin.record
        impl_module = getattr(impl.function, "__module__", None)
        if isinstance(impl_module, str):
            out.modules.add(impl_module)
        record.priority = 0 if impl.tryfirst else 2 if impl.trylast else 1
        _call(ctx, record, impl.function, out)


def impls_in_call_order(
    ctx: Context, loaded: Mapping[str, Loaded], order: Iterable[str]
) -> list[tuple[Loaded, Any]]:
    """``(plugin, hookimpl)`` of the registry's hook, in pluggy's call order, the plugins
    registered with a new manager in *order* (a plugin pluggy refuses is the record's
    ``invalid_plugin`` failure).

    Each plugin is registered alone (then unregistered): pluggy validates it and makes its
    hookimpls exactly as it would among all the others, but its ``_add_hookimpl`` scans the
    hook's whole list on every registration, which at thousands of plugins is a quadratic
    share of a cold start.  The list pluggy would hold after registering them all in *order*
    is put together from the plugins' own lists instead (:func:`_pluggy_order`).
    """
    order = list(order)
    pm, hook = _new_manager(ctx)
    own: list[tuple[Loaded, list[Any]]] = []
    refused: list[tuple[Loaded, Exception]] = []
    for name in order:
        plugin = loaded[name]
        try:
            pm.register(_Hookimpls(_marked(plugin)), name=name)
        except Exception as exc:
            refused.append((plugin, exc))  # (older pluggy may have kept some of its impls)
        own.append((plugin, hook.get_hookimpls()))
        if pm.get_plugin(name) is not None:
            pm.unregister(name=name)
        if hook.get_hookimpls():  # not left as pluggy left it: let pluggy order them all
            return _all_in_one_manager(ctx, loaded, order)
    ordered = _pluggy_order(own)
    if ordered is None:
        return _all_in_one_manager(ctx, loaded, order)
    for plugin, error in refused:
        ctx.fail(
            plugin.record, FailureKind.INVALID_PLUGIN, f"rejected by pluggy: {error}", exc=error
        )
    return ordered


def _new_manager(ctx: Context) -> tuple[Any, Any]:
    """A pluggy manager knowing the registry's hookspec, and its hook caller."""
    import pluggy

    pm = pluggy.PluginManager(PROJECT_NAME)
    spec_namespace = type("Spec", (), {ctx.config.hook_name: staticmethod(ctx.config.hookspec)})
    pm.add_hookspecs(spec_namespace)
    return pm, getattr(pm.hook, ctx.config.hook_name)


def _marked(plugin: Loaded) -> dict[str, Any]:
    marked = plugin.marked
    return hookimpl_attributes(plugin.obj) if marked is None else marked


def _pluggy_order(own: list[tuple[Loaded, list[Any]]]) -> list[tuple[Loaded, Any]] | None:
    """The call order pluggy gives the hookimpls of plugins registered in the order of
    *own* (each with the list pluggy made for it alone); None if some impl is both
    ``tryfirst`` and ``trylast`` (pluggy's placing of it depends on its neighbours).

    ``HookCaller._add_hookimpl`` puts a ``trylast`` impl at the front, a ``tryfirst`` one
    at the end and any other after the last impl that is not ``tryfirst``; the wrappers
    apart, the list is therefore the ``trylast`` impls (last registered first), then the
    others (in order), then the ``tryfirst`` ones (in order), each plugin's own list being
    that same arrangement of its impls.  Calls go from the end of the list.
    """
    last: list[list[tuple[Loaded, Any]]] = []
    normal: list[tuple[Loaded, Any]] = []
    first: list[tuple[Loaded, Any]] = []
    for plugin, impls in own:
        chunk = []
        for impl in impls:
            if impl.hookwrapper or impl.wrapper:
                continue
            if impl.trylast:
                if impl.tryfirst:
                    return None
                chunk.append((plugin, impl))
            elif impl.tryfirst:
                first.append((plugin, impl))
            else:
                normal.append((plugin, impl))
        if chunk:
            last.append(chunk)
    listed = [pair for chunk in reversed(last) for pair in chunk] + normal + first
    listed.reverse()
    return listed


def _all_in_one_manager(
    ctx: Context, loaded: Mapping[str, Loaded], order: list[str]
) -> list[tuple[Loaded, Any]]:
    """:func:`impls_in_call_order` as pluggy itself orders them: every plugin registered
    with one manager (for the impls :func:`_pluggy_order` cannot place)."""
    pm, hook = _new_manager(ctx)
    for name in order:
        plugin = loaded[name]
        try:
            pm.register(_Hookimpls(_marked(plugin)), name=name)
        except Exception as exc:
            ctx.fail(
                plugin.record, FailureKind.INVALID_PLUGIN, f"rejected by pluggy: {exc}", exc=exc
            )
    return [
        (loaded[impl.plugin_name], impl)
        for impl in reversed(hook.get_hookimpls())
        if not (impl.hookwrapper or impl.wrapper)
    ]


#: What :func:`invoke` gives for a hook that raised (the failure is the record's).
RAISED = object()


def invoke(ctx: Context, record: PluginRecord, function: Any, out: Calls) -> Any:
    """``function()`` isolated (``SystemExit`` included, not ^C), recording what it imports;
    :data:`RAISED` if it raised.  Classes noted meanwhile go to ``out.noted``."""
    assert record.inputs is not None
    before = autoregister.noted_count(ctx.config.name)
    try:
        with _inputs.calling(record.inputs):
            return function()
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        what = "discovery function" if record.origin == "custom" else f"{ctx.config.hook_name}()"
        ctx.fail(
            record,
            FailureKind.HOOK_ERROR,
            f"{what} raised {type(exc).__name__}: {exc}",
            exc=exc,
        )
        return RAISED
    finally:
        out.noted.setdefault(record.name, []).extend(
            autoregister.noted_since(ctx.config.name, before)
        )


def _call(ctx: Context, record: PluginRecord, function: Any, out: Calls) -> None:
    """Call one hook (isolated) and keep its judged answer in *record*."""
    returned = invoke(ctx, record, function, out)
    if returned is RAISED:
        return
    answer = judge_answer(ctx, record, returned)
    if answer.failure is not None:
        record.failures.append(answer.failure)
    record.offers.extend(answer.offers)
    if answer.volatile is not None:
        record.volatile = answer.volatile
