"""Hook markers for the pluggy project ``"openhcs"``, without importing pluggy.

pluggy recognises a hookspec or hookimpl by an attribute named ``<project>_spec`` /
``<project>_impl`` that holds a dict of options.  Writing that attribute ourselves gives
markers that pluggy accepts unchanged, while ``import openhcs_hookspecs`` (which every
warm start needs for the registry definitions) stays free of pluggy's ~25 ms import.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar, overload

    _F = TypeVar("_F", bound=Callable[..., Any])
else:  # the overload stubs below are replaced by the implementation; no ``typing`` import

    def overload(func):
        return func


PROJECT_NAME = "openhcs"

#: Hookspec names declared in this process, per project (misspelt hookimpls are told apart
#: from these; see ``_discovery._calling.unknown_hooks``).
_declared: dict[str, set[str]] = {}


def declared_hookspecs(project_name: str = PROJECT_NAME) -> frozenset[str]:
    """Names of the hookspecs of *project_name* defined so far in this process."""
    return frozenset(_declared.get(project_name, ()))


class HookspecMarker:
    """Decorator marking a function as a hook specification of :data:`PROJECT_NAME`."""

    def __init__(self, project_name: str = PROJECT_NAME) -> None:
        self.project_name = project_name

    @overload
    def __call__(self, function: _F) -> _F: ...

    @overload
    def __call__(
        self, function: None = ..., *, firstresult: bool = ..., historic: bool = ...
    ) -> Callable[[_F], _F]: ...

    def __call__(
        self,
        function: _F | None = None,
        *,
        firstresult: bool = False,
        historic: bool = False,
        warn_on_impl: Warning | None = None,
    ) -> _F | Callable[[_F], _F]:
        def mark(func: _F) -> _F:
            if historic and firstresult:
                raise ValueError("cannot have a historic firstresult hook")
            opts = {
                "firstresult": firstresult,
                "historic": historic,
                "warn_on_impl": warn_on_impl,
                "warn_on_impl_args": None,
            }
            setattr(func, self.project_name + "_spec", opts)
            _declared.setdefault(self.project_name, set()).add(func.__name__)
            return func

        return mark(function) if function is not None else mark


class HookimplMarker:
    """Decorator marking a function as a hook implementation of :data:`PROJECT_NAME`."""

    def __init__(self, project_name: str = PROJECT_NAME) -> None:
        self.project_name = project_name

    @overload
    def __call__(self, function: _F) -> _F: ...

    @overload
    def __call__(
        self,
        function: None = ...,
        *,
        tryfirst: bool = ...,
        trylast: bool = ...,
        optionalhook: bool = ...,
        specname: str | None = ...,
        wrapper: bool = ...,
        hookwrapper: bool = ...,
    ) -> Callable[[_F], _F]: ...

    def __call__(
        self,
        function: _F | None = None,
        *,
        tryfirst: bool = False,
        trylast: bool = False,
        optionalhook: bool = False,
        specname: str | None = None,
        wrapper: bool = False,
        hookwrapper: bool = False,
    ) -> _F | Callable[[_F], _F]:
        # wrapper/hookwrapper: for an application's own hooks (``registry.plugin_manager``);
        # a registry's provider hook ignores wrappers
        def mark(func: _F) -> _F:
            opts = {
                "wrapper": wrapper,
                "hookwrapper": hookwrapper,
                "optionalhook": optionalhook,
                "tryfirst": tryfirst,
                "trylast": trylast,
                "specname": specname,
            }
            setattr(func, self.project_name + "_impl", opts)
            return func

        return mark(function) if function is not None else mark


hookspec = HookspecMarker()
hookimpl = HookimplMarker()
