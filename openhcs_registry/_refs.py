"""``module:qualname`` references: how a cached value is named without importing it.

A reference is the address of an object that a fresh process can reach by importing one
module and walking attributes (``pkg.mod:Outer.Inner`` works for nested classes).  Objects
without such an address (lambdas, instances, classes made in a function) cannot be cached;
:func:`reference_of` says so by returning ``None`` and the registry stays uncached.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class UnresolvableReference(Exception):
    """A reference could not be parsed or resolved."""


def _dotted(text: str) -> bool:
    """Whether *text* is ``name(.name)*`` of ASCII identifiers (``[A-Za-z_][A-Za-z0-9_]*``)."""
    return text.isascii() and all(part.isidentifier() for part in text.split("."))


def parse(ref: str) -> tuple[str, str]:
    """Split ``"module:qualname"``; raise ``ValueError`` for anything else.

    String methods, not a regular expression: compiling one cost every warm start more than
    all the references it checks.
    """
    if isinstance(ref, str):
        module, sep, qualname = ref.partition(":")
        if sep and _dotted(module) and _dotted(qualname):
            return module, qualname
    raise ValueError(f"not a module:qualname reference: {ref!r}")


def reference_of(obj: object) -> str | None:
    """The reference under which *obj* can be found again, or None if it has none."""
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str):
        return None
    if "<" in qualname or module == "__main__":
        return None
    ref = f"{module}:{qualname}"
    try:
        parse(ref)
    except ValueError:
        return None
    import sys

    mod = sys.modules.get(module)
    if mod is None:
        return None
    try:
        found: Any = mod
        for part in qualname.split("."):
            found = getattr(found, part)
    except AttributeError:
        return None
    return ref if found is obj else None


def resolve(ref: str) -> Any:
    """Import the module of *ref* and return the object it names.

    Raises ``ImportError``/``AttributeError``/``ValueError`` with the reference in the message.
    """
    module, qualname = parse(ref)
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise AttributeError(f"{ref}: module {module!r} has no {qualname!r}") from exc
    return obj
