"""``openhcs-registry contracts``: what a plugin must provide, read from the contracts themselves.

For each registry: the hookspec (name, signature, doc), the base class, the key attribute,
the abstract methods a subclass must implement (with signatures), the class attributes it may
set, the secondary registries and the entry-point group.  Hookspecs that feed no registry
(``provide_colormaps``) are listed too.  Everything comes from the live contract modules (the
built-in ones, those of the ``<group>.contracts`` entry points and ``--module``), so a new
registry is described without touching this command; no plugin module is imported.

``validate`` and ``new-plugin`` use the same descriptions (:func:`load_contracts`).
"""

from __future__ import annotations

import argparse
import inspect
import sys
from collections.abc import Sequence
from typing import Any

from ._common import EXIT_OK, UsageError, load_registries, pick, print_json

#: Attributes every registry base class carries that a plugin never sets.
_PLUMBING = frozenset({"__registry_name__"})


def load_contracts(modules: Sequence[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(registries by name, hookspec functions by name)`` of every known contract module.

    The contract modules are the built-in ones, ``--module``/env ones and those declared in
    the ``<group>.contracts`` entry-point group of each registry's group (each isolated: a
    broken third-party contract is left out, not fatal).
    """
    regs = load_registries(modules)
    groups = {r.config.entry_point_group for r in regs.values()} | {"openhcs"}
    from .._cold._entrypoints import entry_points

    for group in sorted(groups):
        for ep in entry_points(f"{group}.contracts"):
            try:
                ep.load()
            except BaseException as exc:  # SystemExit from a contract module included
                if isinstance(exc, KeyboardInterrupt):
                    raise
                print(f"openhcs-registry: contracts {ep.value!r}: {exc}", file=sys.stderr)
    from .._lazy import registries

    regs = registries()
    specs: dict[str, Any] = {}
    for reg in regs.values():
        specs[reg.config.hook_name] = reg.config.hookspec
    for name, module in list(sys.modules.items()):
        if module is None or not _is_contract_module(name, regs):
            continue
        for value in list(vars(module).values()):
            if inspect.isfunction(value) and isinstance(getattr(value, "openhcs_spec", None), dict):
                specs.setdefault(value.__name__, value)
    return regs, specs


def _is_contract_module(name: str, regs: dict[str, Any]) -> bool:
    """Modules holding a registry's hookspec, or declared under ``openhcs.contracts``."""
    if any(getattr(r.config.hookspec, "__module__", None) == name for r in regs.values()):
        return True
    return name in _declared_contract_modules()


def _declared_contract_modules() -> set[str]:
    from .._contracts import CONTRACTS_GROUP
    from ..settings import declared

    return {value.split(":", 1)[0].strip() for _dist, _name, value in declared(CONTRACTS_GROUP)}


def signature_of(func: Any, drop_self: bool = False) -> str:
    """``name(params) -> ret`` with the annotations as written (postponed strings unquoted)."""
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return f"{func.__name__}(...)"
    params = list(sig.parameters.values())
    if drop_self and params and params[0].name in ("self", "cls"):
        params = params[1:]
    params = [
        p.replace(
            annotation=_as_written(p.annotation),
            # a string default as formatters write it ("", not '')
            default=_Written(_double_quoted(p.default))
            if isinstance(p.default, str)
            else p.default,
        )
        for p in params
    ]
    sig = sig.replace(parameters=params, return_annotation=_as_written(sig.return_annotation))
    return f"{func.__name__}{sig}"


class _Written:
    """An annotation shown as its source text (``str | Path``, not ``'str | Path'``)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _double_quoted(text: str) -> str:
    import json

    return json.dumps(text)


def _as_written(annotation: Any) -> Any:
    return _Written(annotation) if isinstance(annotation, str) else annotation


def _summary(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.strip().split("\n\n")[0].replace("\n", " ")


def abstract_methods(cls: type) -> dict[str, Any]:
    """The abstract methods a concrete subclass of *cls* must implement, by name."""
    out: dict[str, Any] = {}
    for name in sorted(getattr(cls, "__abstractmethods__", ())):
        member = inspect.getattr_static(cls, name, None)
        func = getattr(member, "__func__", member)
        out[name] = {
            "signature": signature_of(func) if callable(func) else name,
            "kind": _member_kind(member),
            "doc": _summary(func),
        }
    return out


def _member_kind(member: Any) -> str:
    if isinstance(member, classmethod):
        return "classmethod"
    if isinstance(member, staticmethod):
        return "staticmethod"
    if isinstance(member, property):
        return "property"
    return "method"


def class_attributes(cls: type) -> dict[str, Any]:
    """Class attributes a subclass may set (annotated on the base or its bases), with defaults."""
    out: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        if klass is object or klass.__module__.startswith("openhcs_registry."):
            continue
        for name, annotation in vars(klass).get("__annotations__", {}).items():
            if name in _PLUMBING:
                continue
            text = (
                annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)
            )
            out[name] = {"type": text, "default": repr(getattr(cls, name, None))}
    return out


def describe(reg: Any) -> dict[str, Any]:
    """Everything a plugin author needs to know about one registry, as plain data."""
    cfg = reg.config
    base = cfg.base_class
    hook = cfg.hookspec
    module = sys.modules.get(getattr(hook, "__module__", "") or "")
    constants = (
        sorted(f"{module.__name__}.{attr}" for attr, value in vars(module).items() if value is reg)
        if module is not None
        else []
    )
    return {
        "registry": reg.name,
        "description": cfg.description,
        "import": constants,
        "entry_point_group": cfg.entry_point_group,
        "hookspec": describe_hook(hook),
        "base_class": f"{base.__module__}.{base.__qualname__}" if base is not None else None,
        "base_class_doc": _summary(base) if base is not None else "",
        "key_attribute": cfg.key_attribute,
        "key_extractor": (
            f"{cfg.key_extractor.__module__}.{cfg.key_extractor.__qualname__}"
            if cfg.key_extractor is not None
            else None
        ),
        "abstract_methods": abstract_methods(base) if base is not None else {},
        "class_attributes": class_attributes(base) if base is not None else {},
        "secondaries": [
            {
                "name": s.name,
                "attribute": s.attribute,
                "derive": (f"{s.derive.__module__}.{s.derive.__qualname__}" if s.derive else None),
                "description": s.description,
            }
            for s in cfg.secondary_registries
        ],
        "discovery_packages": list(cfg.discovery_packages),
        "conflict_policy": cfg.conflict_policy,
    }


def describe_hook(hook: Any) -> dict[str, Any]:
    opts = getattr(hook, "openhcs_spec", None) or {}
    return {
        "name": hook.__name__,
        "module": hook.__module__,
        "signature": signature_of(hook),
        "doc": inspect.getdoc(hook) or "",
        "firstresult": bool(opts.get("firstresult")),
        "historic": bool(opts.get("historic")),
    }


def cmd_contracts(args: argparse.Namespace) -> int:
    regs, specs = load_contracts(args.module)
    hooks_of_registries = {r.config.hook_name for r in regs.values()}
    if args.registry:
        if args.registry in specs and args.registry not in hooks_of_registries:
            out: dict[str, Any] = {"hooks": {args.registry: describe_hook(specs[args.registry])}}
            chosen: list[Any] = []
        else:
            reg, secondary = pick(regs, args.registry)
            if secondary:
                raise UsageError(
                    f"{secondary!r} is derived from {reg.name!r}: see "
                    f"`openhcs-registry contracts {reg.name}`"
                )
            chosen = [reg]
            out = {"registries": {}, "hooks": {}}
    else:
        chosen = list(regs.values())
        out = {
            "registries": {},
            "hooks": {
                name: describe_hook(func)
                for name, func in sorted(specs.items())
                if name not in hooks_of_registries
            },
        }
    if chosen:
        out["registries"] = {reg.name: describe(reg) for reg in chosen}
    if args.json:
        print_json(out)
        return EXIT_OK
    for data in out.get("registries", {}).values():
        print(_render(data))
        print()
    for hook in out.get("hooks", {}).values():
        print(f"hook {hook['name']}  (no registry; module {hook['module']})")
        print(f"  @hookimpl\n  def {hook['signature']}:")
        print("\n".join("      " + line for line in hook["doc"].splitlines()))
        print()
    return EXIT_OK


def _render(data: dict[str, Any]) -> str:
    lines = [f"{data['registry']}  {data['description']}".rstrip()]
    if data["import"]:
        lines.append(f"  import:       {', '.join(data['import'])}")
    lines.append(f"  entry points: [project.entry-points.{_toml_key(data['entry_point_group'])}]")
    hook = data["hookspec"]
    lines.append(f"  hookspec:     {hook['module']}.{hook['signature']}")
    for line in hook["doc"].splitlines():
        lines.append(f"                {line}".rstrip())
    if data["base_class"]:
        lines.append(f"  base class:   {data['base_class']}")
        if data["base_class_doc"]:
            lines.append(f"                {data['base_class_doc']}")
    if data["key_attribute"]:
        lines.append(f"  key:          class attribute {data['key_attribute']!r} (a non-empty str)")
    else:
        lines.append(f"  key:          computed by {data['key_extractor']}")
    if data["abstract_methods"]:
        lines.append("  implement:")
        for method in data["abstract_methods"].values():
            prefix = "" if method["kind"] == "method" else f"@{method['kind']} "
            doc = f"  # {method['doc']}" if method["doc"] else ""
            lines.append(f"    {prefix}def {method['signature']}{doc}")
    attrs = {k: v for k, v in data["class_attributes"].items() if k != data["key_attribute"]}
    if attrs:
        lines.append("  may set:")
        for name, attr in attrs.items():
            lines.append(f"    {name}: {attr['type']} = {attr['default']}")
    for sec in data["secondaries"]:
        source = f"attribute {sec['attribute']!r}" if sec["attribute"] else f"{sec['derive']}()"
        lines.append(f"  secondary:    {sec['name']} (from {source}) {sec['description']}".rstrip())
    if data["discovery_packages"]:
        lines.append(f"  scans:        {', '.join(data['discovery_packages'])}")
    lines.append(f"  conflicts:    {data['conflict_policy']}")
    return "\n".join(lines)


def _toml_key(group: str) -> str:
    return group if group.replace("_", "").replace("-", "").isalnum() else f'"{group}"'
