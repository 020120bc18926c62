"""The static half of ``openhcs-registry validate``: what a plugin's source says, judged.

The :class:`Checker` follows each entry point of a :class:`~._plugin_source.Project` into the
source (parsed, never imported) and records :class:`~._plugin_source.Finding` objects.  It
imports only what the plugin builds on from outside itself (the contracts, a built-in plugin
it subclasses): the abstract methods and keys of those classes are what a subclass is judged
against.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from typing import Any

from ._plugin_source import Finding, Module, Project

#: How deep re-exports and base classes are followed through the project's modules.
_MAX_DEPTH = 8


# -- the static check --------------------------------------------------------------------------


class _Source:
    """The project's source as the checks read it: names resolved through its modules."""

    def __init__(self, project: Project, regs: dict[str, Any], specs: dict[str, Any]) -> None:
        self.project = project
        self.regs = regs
        self.specs = specs
        self.findings: list[Finding] = []
        self.keys: dict[str, list[str]] = {}
        self.by_hook: dict[str, list[Any]] = {}
        for reg in regs.values():
            self.by_hook.setdefault(reg.config.hook_name, []).append(reg)
        self.groups = {r.config.entry_point_group for r in regs.values()} | {"openhcs"}
        #: hookspecs of the project's own contract modules: name -> parameter names
        self.static_specs: dict[str, list[str]] = {}

    def add(self, level: str, message: str, module: Module | None = None, node: Any = None) -> None:
        self.findings.append(
            Finding(level, message, module.path if module else None, getattr(node, "lineno", None))
        )

    def resolve(self, module: Module, name: str, depth: int = 0) -> tuple[Any, ...] | None:
        """``("class", module, ClassDef)``, ``("external", object)`` or None for *name*."""
        if depth > _MAX_DEPTH:
            return None
        if name in module.classes:
            loaded = sys.modules.get(module.name)  # a contract module, imported by this tool
            if loaded is not None and isinstance(getattr(loaded, name, None), type):
                return ("external", getattr(loaded, name))
            return ("class", module, module.classes[name])
        if name in module.imports:
            source, attr = module.imports[name]
            if attr is None:
                return ("module", source)
            if self.project.owns(source):
                target = self.project.parse(source, self.findings)
                if target is None:
                    sub = self.project.parse(f"{source}.{attr}", self.findings)
                    return ("module", sub.name) if sub is not None else None
                return self.resolve(target, attr, depth + 1)
            return _external(source, attr)
        value = module.assigned.get(name)
        if isinstance(value, (ast.Name, ast.Attribute)):
            return self.resolve_expr(module, value, depth + 1)
        for source in module.star:  # ``from .handlers import *``
            target = (
                self.project.parse(source, self.findings) if self.project.owns(source) else None
            )
            if target is not None and not name.startswith("_") and target.defines(name):
                return self.resolve(target, name, depth + 1)
        return None

    def resolve_expr(
        self, module: Module, expr: ast.expr, depth: int = 0
    ) -> tuple[Any, ...] | None:
        if isinstance(expr, ast.Name):
            found = self.resolve(module, expr.id, depth)
            return None if found is not None and found[0] == "module" else found
        if isinstance(expr, ast.Attribute):
            dotted = _dotted(expr)
            if dotted is None:
                return None
            head, *rest = dotted.split(".")
            found = self.resolve(module, head, depth)
            if found is None or found[0] != "module":
                return None
            source = found[1]
            while len(rest) > 1 and self.project.owns(source):
                source, rest = f"{source}.{rest[0]}", rest[1:]
            if self.project.owns(source):
                target = self.project.parse(source, self.findings)
                return self.resolve(target, rest[0], depth + 1) if target else None
            return _external(source, ".".join(rest))
        return None

    def class_info(self, module: Module, cls: ast.ClassDef, depth: int) -> dict[str, Any]:
        """Methods (name -> abstract?) and attributes along the project's part of the MRO."""
        methods: dict[str, bool] = {}
        attrs: dict[str, ast.expr] = {}
        for node in cls.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                methods[node.name] = any(
                    (_dotted(d) or "").split(".")[-1] == "abstractmethod"
                    for d in node.decorator_list
                )
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        attrs[target.id] = node.value
            elif (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and node.value is not None
            ):
                attrs[node.target.id] = node.value
        external: list[Any] = []
        unresolved: list[str] = []
        for base in cls.bases:
            found = self.resolve_expr(module, base, depth + 1) if depth < _MAX_DEPTH else None
            if found is None:
                unresolved.append(ast.unparse(base))
            elif found[0] == "external":
                external.append(found[1])
            else:
                parent = self.class_info(found[1], found[2], depth + 1)
                for name, abstract in parent["methods"].items():
                    methods.setdefault(name, abstract)
                for name, value in parent["attrs"].items():
                    attrs.setdefault(name, value)
                external += parent["external"]
                unresolved += parent["unresolved"]
        return {"methods": methods, "attrs": attrs, "external": external, "unresolved": unresolved}

    @staticmethod
    def missing_methods(info: dict[str, Any]) -> list[str]:
        required = {n for n, abstract in info["methods"].items() if abstract}
        for base in info["external"]:
            required |= set(getattr(base, "__abstractmethods__", ()))
        return sorted(n for n in required if info["methods"].get(n, True))


class _ValueChecks(_Source):
    """Each value a hook returns, judged against its registry (type, abstract, key)."""

    def check_value(
        self,
        reg: Any,
        module: Module,
        expr: ast.expr,
        given_key: ast.expr | None,
        returned: set[tuple[str, str]],
    ) -> None:
        cfg = reg.config
        if isinstance(expr, ast.Call):
            callee = ast.unparse(expr.func)
            if callee.split(".")[-1] == "Unavailable":
                key = expr.args[0] if expr.args else None
                if isinstance(key, ast.Constant) and isinstance(key.value, str):
                    self.add("note", f"{reg.name} {key.value!r} may be reported unavailable")
                return
            expr = expr.func  # an instance: check its class
        found = self.resolve_expr(module, expr)
        if found is None:
            self.add(
                "note",
                f"{ast.unparse(expr)[:60]}: not resolved statically (try --import)",
                module,
                expr,
            )
            return
        if found[0] == "external":
            real = found[1]
            label = getattr(real, "__qualname__", repr(real))
            self.check_external_value(reg, real, label, given_key, module, expr)
            return
        _, owner, cls = found
        returned.add((owner.name, cls.name))
        info = self.class_info(owner, cls, 0)
        label = cls.name
        where = (owner, cls)
        base = cfg.base_class
        if base is not None:
            if info["unresolved"]:
                self.add(
                    "note",
                    f"{label}: base {info['unresolved'][0]} not resolved statically; "
                    f"cannot check it subclasses {base.__qualname__}",
                    *where,
                )
            elif not any(_subclass(b, base) for b in info["external"]):
                self.add(
                    "error",
                    f"{label} is not a subclass of {base.__module__}.{base.__qualname__} "
                    f"(registry {reg.name}); the registry rejects it",
                    *where,
                )
                return
        missing = self.missing_methods(info)
        if missing:
            from .contracts import abstract_methods

            sigs: dict[str, Any] = {}
            for b in info["external"]:
                sigs.update(abstract_methods(b))
            text = "; ".join(
                f"def {sigs[m]['signature']}" if m in sigs else f"def {m}(...)" for m in missing
            )
            self.add("error", f"{label} is abstract: implement {text}", *where)
        own_key = self.key_of(reg, info, given_key, label, where)
        if own_key is not None:
            self.note_key(reg, own_key, label, where)
        self.check_secondaries(reg, info, label, where)

    def check_external_value(
        self, reg: Any, real: Any, label: str, given_key: Any, module: Module, node: Any
    ) -> None:
        """A returned class that lives outside the project (imported): checked on the real one."""
        import inspect

        cfg = reg.config
        if cfg.base_class is not None and not _subclass(real, cfg.base_class):
            self.add(
                "error", f"{label} is not a subclass of {cfg.base_class.__qualname__}", module, node
            )
            return
        if isinstance(real, type) and inspect.isabstract(real):
            missing = ", ".join(sorted(getattr(real, "__abstractmethods__", ())))
            self.add("error", f"{label} is abstract: implement {missing}", module, node)
            return
        key = _literal(given_key) if given_key is not None else cfg.key_of(real)
        if not isinstance(key, str) or not key:
            self.add("error", f"{label} has no usable key ({_type_name(key)})", module, node)
            return
        self.note_key(reg, key, label, (module, node))

    def key_of(
        self, reg: Any, info: dict[str, Any], given_key: Any, label: str, where: tuple[Any, Any]
    ) -> str | None:
        cfg = reg.config
        if given_key is not None:
            key = _literal(given_key)
            if key is _UNKNOWN:
                return None
            if not isinstance(key, str) or not key:
                self.add(
                    "error",
                    f"{label} is returned under key {key!r} ({_type_name(key)}); keys must be "
                    "non-empty strings",
                    *where,
                )
                return None
            return key
        if cfg.key_attribute is None:
            return None  # a key_extractor: computed at run time
        node = info["attrs"].get(cfg.key_attribute)
        if node is not None:
            key = _literal(node)
            if key is _UNKNOWN:
                return None
            if not isinstance(key, str) or not key:
                self.add(
                    "error",
                    f"{label}.{cfg.key_attribute} = {key!r} is {_type_name(key)}, not a "
                    "non-empty str: the registry has no key for it",
                    where[0],
                    node,
                )
                return None
            return key
        if info["unresolved"]:
            return None
        for base in info["external"]:
            inherited = getattr(base, cfg.key_attribute, None)
            if isinstance(inherited, str) and inherited:
                self.add(
                    "error",
                    f"{label} inherits key {inherited!r} from {base.__qualname__}: a duplicate "
                    f"of its parent; set its own {cfg.key_attribute}",
                    *where,
                )
                return None
        self.add(
            "error",
            f"{label} sets no {cfg.key_attribute} (the key of registry {reg.name}): "
            f'add {cfg.key_attribute} = "my_key"',
            *where,
        )
        return None

    def note_key(self, reg: Any, key: str, label: str, where: tuple[Any, Any]) -> None:
        keys = self.keys.setdefault(reg.name, [])
        if key in keys:
            self.add("warning", f"{label}: key {key!r} is provided twice in {reg.name}", *where)
        else:
            keys.append(key)

    def check_secondaries(
        self, reg: Any, info: dict[str, Any], label: str, where: tuple[Any, Any]
    ) -> None:
        for sec in reg.config.secondary_registries:
            node = info["attrs"].get(sec.attribute) if sec.attribute else None
            ref = _literal(node) if node is not None else None
            if not isinstance(ref, str):
                continue
            module_name, sep, qualname = ref.partition(":")
            if not sep or not self.project.owns(module_name):
                continue
            target = self.project.parse(module_name, self.findings)
            if target is None or not target.defines(qualname.split(".")[0]):
                self.add(
                    "error",
                    f"{label}.{sec.attribute} = {ref!r} points nowhere: "
                    + (f"no module {module_name}" if target is None else f"no {qualname} there")
                    + f" (secondary registry {sec.name})",
                    where[0],
                    node,
                )

    def check_unreturned(self, module: Module, returned: set[tuple[str, str]]) -> None:

        for cls in module.classes.values():
            if (module.name, cls.name) in returned:
                continue
            info = self.class_info(module, cls, 0)
            for reg in self.regs.values():
                base = reg.config.base_class
                if base is None or not any(_subclass(b, base) for b in info["external"]):
                    continue
                if self.missing_methods(info):
                    continue
                attr = reg.config.key_attribute
                if attr and attr not in info["attrs"]:
                    continue
                self.add(
                    "warning",
                    f"{cls.name} subclasses {base.__qualname__} but the hook does not return "
                    "it: it is not registered (return it from "
                    f"{reg.config.hook_name}())",
                    module,
                    cls,
                )


class Checker(_ValueChecks):
    """Follows each entry point into the source and records the findings."""

    def run(self) -> None:
        plugin_eps = [ep for ep in self.project.entry_points if ep[0] in self.groups]
        contract_groups = {f"{g}.contracts" for g in self.groups}
        for group, name, value in self.project.entry_points:
            if group in contract_groups:
                module = self.check_target(group, name, value)
                if module is not None:  # the project's own contracts: read, not imported
                    self.own_hookspecs(module)
        if not plugin_eps:
            import difflib

            seen = sorted({g for g, _, _ in self.project.entry_points} - contract_groups)
            close = [g for s in seen for g in difflib.get_close_matches(s, self.groups, 1, 0.7)]
            hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
            groups = ", ".join(repr(g) for g in sorted(self.groups))
            self.add(
                "error",
                f"no entry point in a group the registries read ({groups}){hint}: "
                "discovery will never load this plugin; add "
                '[project.entry-points.openhcs] my_plugin = "my_package.plugin"',
            )
        for group, name, value in plugin_eps:
            self.check_plugin(group, name, value)

    def own_hookspecs(self, module: Module) -> None:
        """Hookspecs declared by the project's own contract modules (their parameter names)."""
        for func in module.functions.values():
            for deco in func.decorator_list:
                target = deco.func if isinstance(deco, ast.Call) else deco
                last = (_dotted(target) or "").split(".")[-1]
                bound = module.assigned.get(last)
                marker = isinstance(bound, ast.Call) and (_dotted(bound.func) or "").endswith(
                    "HookspecMarker"
                )
                if last == "hookspec" or marker:
                    args = (*func.args.posonlyargs, *func.args.args, *func.args.kwonlyargs)
                    self.static_specs.setdefault(func.name, [a.arg for a in args])

    def check_target(self, group: str, name: str, value: str) -> Module | None:
        module_name, _, attr = value.partition(":")
        module_name = module_name.strip()
        label = f"entry point {name} = {value!r} ({group})"
        module = self.project.parse(module_name, self.findings)
        if module is None:
            if self.project.locate(module_name) is not None:
                return None  # unparsable: already reported
            import difflib

            close = difflib.get_close_matches(module_name, self.project.modules(), 1, 0.7)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            where = ", ".join(str(r) for r in self.project.roots) or "the installed files"
            self.add("error", f"{label}: module {module_name!r} not found in {where}{hint}")
            return None
        if attr and not module.defines(attr.strip().split(".")[0]):
            self.add("error", f"{label}: {module_name} has no attribute {attr.strip()!r}", module)
            return None
        return module

    def check_plugin(self, group: str, name: str, value: str) -> None:
        module = self.check_target(group, name, value)
        if module is None:
            return
        attr = value.partition(":")[2].strip()
        functions: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
        if attr:
            found = self.resolve(module, attr.split(".")[0])
            if found is None or found[0] != "class":
                self.add(
                    "note",
                    f"entry point {name}: {value} is not a module or a class defined in the "
                    "project; its hookimpls are not checked statically (try --import)",
                    module,
                )
                return
            _, owner, cls = found
            functions = [n for n in cls.body if isinstance(n, ast.FunctionDef)]
            hook_module = owner
        else:
            hook_module = module
        # (function, module defining it): a module plugin also offers the functions it imports
        found_functions = (
            [(f, hook_module) for f in functions] if attr else self.module_functions(module)
        )
        impls = [(f, m, _hookimpl_name(f, m)) for f, m in found_functions]
        marked = [(f, m, n) for f, m, n in impls if n is not None]
        for func, owner, hook_name in impls:
            if hook_name is None and (func.name in self.specs or func.name in self.static_specs):
                self.add(
                    "error",
                    f"{func.name}() is named like a hookspec but not decorated with @hookimpl: "
                    "pluggy ignores it (from openhcs_registry import hookimpl)",
                    owner,
                    func,
                )
        if not marked:
            self.add(
                "error",
                f"entry point {name}: {value} has no @hookimpl function, so it provides nothing "
                "(`openhcs-registry contracts` lists the hooks)",
                hook_module,
            )
        returned: set[tuple[str, str]] = set()
        for func, owner, hook_name in marked:
            assert hook_name is not None
            self.check_hookimpl(owner, func, hook_name, group, returned)
        if not attr:
            self.check_unreturned(module, returned)

    def module_functions(
        self, module: Module
    ) -> list[tuple[ast.FunctionDef | ast.AsyncFunctionDef, Module]]:
        """Functions a module offers pluggy: its own, and those it imports from the project."""
        out = [(f, module) for f in module.functions.values()]
        for source, attr in module.imports.values():
            if attr is not None and self.project.owns(source):
                target = self.project.parse(source, self.findings)
                if target is not None and attr in target.functions:
                    out.append((target.functions[attr], target))
        for source in module.star:
            target = (
                self.project.parse(source, self.findings) if self.project.owns(source) else None
            )
            if target is not None:
                out += [(f, target) for n, f in target.functions.items() if not n.startswith("_")]
        return out

    def check_hookimpl(
        self,
        module: Module,
        func: ast.FunctionDef | ast.AsyncFunctionDef,
        hook_name: str,
        group: str,
        returned: set[tuple[str, str]],
    ) -> None:
        spec = self.specs.get(hook_name)
        static = self.static_specs.get(hook_name)
        if spec is None and static is None:
            import difflib

            known = [*self.specs, *self.static_specs]
            close = difflib.get_close_matches(hook_name, known, 1, 0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            self.add(
                "error",
                f"hookimpl {hook_name}() matches no hookspec{hint} (pluggy would reject or "
                "ignore it; `openhcs-registry contracts` lists the hooks)",
                module,
                func,
            )
            return
        import inspect

        allowed = set(inspect.signature(spec).parameters) if spec is not None else set(static or ())
        params = [a.arg for a in (*func.args.posonlyargs, *func.args.args, *func.args.kwonlyargs)]
        if params and params[0] == "self":
            params = params[1:]
        extra = [p for p in params if p not in allowed]
        if extra:
            self.add(
                "error",
                f"hookimpl {hook_name}() takes {', '.join(extra)}, which hookspec "
                f"{hook_name}({', '.join(allowed)}) does not give",
                module,
                func,
            )
        for reg in self.by_hook.get(hook_name, []):
            if reg.config.entry_point_group != group:
                self.add(
                    "warning",
                    f"{hook_name}() feeds {reg.name}, which reads entry points of group "
                    f"{reg.config.entry_point_group!r}, not {group!r}",
                    module,
                    func,
                )
                continue
            for given_key, expr, owner in self.returned_values(module, func):
                self.check_value(reg, owner, expr, given_key, returned)

    def returned_values(
        self, module: Module, func: ast.FunctionDef | ast.AsyncFunctionDef
    ) -> Iterator[tuple[ast.expr | None, ast.expr, Module]]:
        """``(given key node, value node, module)`` of each value the hook can return."""
        local: dict[str, ast.expr] = {}
        returns: list[ast.Return] = []
        for node in _walk_body(func):
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
                if isinstance(target, ast.Name):
                    local[target.id] = node.value
            elif isinstance(node, ast.Return):
                returns.append(node)
        for ret in returns:
            value = ret.value
            if isinstance(value, ast.Name) and value.id in local:
                value = local[value.id]
            if value is None or (isinstance(value, ast.Constant) and value.value is None):
                continue
            if isinstance(value, (ast.List, ast.Tuple, ast.Set)):
                for element in value.elts:
                    yield None, element, module
            elif isinstance(value, ast.Dict):
                for key, element in zip(value.keys, value.values, strict=True):
                    if key is not None:
                        yield key, element, module
            else:
                self.add(
                    "note",
                    f"{func.name}() returns {ast.unparse(value)[:60]}: not followed statically "
                    "(try --import)",
                    module,
                    ret,
                )


def _walk_body(func: ast.AST) -> Iterator[ast.AST]:
    """Nodes of a function body, not descending into nested functions or classes."""
    stack = list(ast.iter_child_nodes(func))
    while stack:
        node = stack.pop(0)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def _hookimpl_name(func: ast.FunctionDef | ast.AsyncFunctionDef, module: Module) -> str | None:
    """The hook a function implements (``specname=`` or its name), or None if not marked."""
    for deco in func.decorator_list:
        call = deco if isinstance(deco, ast.Call) else None
        target = call.func if call is not None else deco
        name = _dotted(target) or ""
        last = name.split(".")[-1]
        bound = module.assigned.get(last)
        is_marker = isinstance(bound, ast.Call) and (_dotted(bound.func) or "").endswith(
            "HookimplMarker"
        )
        if last == "hookimpl" or is_marker or module.imports.get(last, ("", ""))[1] == "hookimpl":
            for kw in call.keywords if call is not None else ():
                if kw.arg == "specname" and isinstance(kw.value, ast.Constant):
                    return str(kw.value.value)
            return func.name
    return None


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return f"{head}.{node.attr}" if head else None
    return None


class _Unknown:
    def __repr__(self) -> str:
        return "<computed>"


_UNKNOWN: Any = _Unknown()


def _literal(node: ast.AST | None) -> Any:
    if node is None:
        return None
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _UNKNOWN


def _type_name(value: Any) -> str:
    return "None" if value is None else type(value).__name__


def _external(module: str, attr: str) -> tuple[str, Any] | None:
    """A class the plugin builds on from outside itself (contracts, other plugins): imported."""
    import importlib

    try:
        value: Any = importlib.import_module(module)
        for part in attr.split("."):
            value = getattr(value, part)
    except Exception:
        try:  # ``from pkg import submodule``
            value = importlib.import_module(f"{module}.{attr}")
        except Exception:
            return None
        return ("module", value.__name__)
    return ("external", value)


def _subclass(value: Any, base: type) -> bool:
    return isinstance(value, type) and issubclass(value, base)
