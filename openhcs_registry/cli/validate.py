"""``openhcs-registry validate PATH|DIST``: check a plugin without importing it.

PATH is a plugin project folder (its ``pyproject.toml`` entry points and source), DIST an
installed distribution (its entry points and installed source).  The check reads the source
with :mod:`ast` and never imports the plugin; it imports only the contracts and the classes
the plugin builds on from outside itself (``openhcs_hookspecs``, a built-in plugin it extends),
which it needs to know what a subclass must provide.  It finds, before anyone installs or runs
the plugin:

- entry points in no group a registry reads, and targets whose module or attribute is missing;
- hookimpls whose name no hookspec declares (misspelt: "did you mean"), functions named like
  a hookspec but not decorated, hookimpl parameters the hookspec does not have;
- returned classes that do not subclass the registry's base class, are abstract (the methods
  to implement are named), carry no string key or inherit their parent's key;
- secondary references (``metadata_handler = "pkg.meta:Cls"``) that point nowhere;
- registry subclasses in an entry-point module that its hook does not return (not registered).

What cannot be followed statically (a computed list) is a note, never an error.  ``--import``
then runs the real discovery on the plugin in a fresh interpreter with a private cache (a
project folder is put on the path together with a temporary ``.dist-info`` holding its entry
points) and reports the keys it provides and every failure.  Exit 0: no error; 1: an error was
found; 2: bad usage (no such folder or distribution).
"""

from __future__ import annotations

import ast
import os
import sys
from pathlib import Path

from ._common import EXIT_OK, EXIT_PROBLEM, REGISTRY_MODULES_ENV, UsageError, print_json

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterator, Sequence
    from typing import Any

#: How deep re-exports and base classes are followed through the project's modules.
_MAX_DEPTH = 8


class Finding:
    """One result of the check: ``error`` (exit 1), ``warning`` or ``note``."""

    def __init__(
        self, level: str, message: str, file: Path | None = None, line: int | None = None
    ) -> None:
        self.level = level
        self.message = message
        self.file = file
        self.line = line

    def where(self) -> str:
        if self.file is None:
            return ""
        return f"{self.file}:{self.line}: " if self.line else f"{self.file}: "

    def as_json(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "message": self.message,
            "file": str(self.file) if self.file else None,
            "line": self.line,
        }


class Module:
    """One parsed source module of the plugin: its top-level names and imports."""

    def __init__(self, name: str, path: Path, tree: ast.Module) -> None:
        self.name = name
        self.path = path
        self.tree = tree
        self.is_package = path.name == "__init__.py"
        self.classes: dict[str, ast.ClassDef] = {}
        self.functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
        self.imports: dict[str, tuple[str, str | None]] = {}
        self.assigned: dict[str, ast.expr] = {}
        #: modules of ``from X import *``
        self.star: list[str] = []
        for node in _top_level(tree.body):
            if isinstance(node, ast.ClassDef):
                self.classes[node.name] = node
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.functions[node.name] = node
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        self.imports[alias.asname] = (alias.name, None)
                    else:
                        top = alias.name.split(".")[0]
                        self.imports[top] = (top, None)
            elif isinstance(node, ast.ImportFrom):
                base = self._absolute(node.module, node.level)
                for alias in node.names:
                    if alias.name == "*":
                        self.star.append(base)
                    else:
                        self.imports[alias.asname or alias.name] = (base, alias.name)
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        self.assigned[target.id] = node.value
            elif (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and node.value is not None
            ):
                self.assigned[node.target.id] = node.value

    def _absolute(self, module: str | None, level: int) -> str:
        if level == 0:
            return module or ""
        parts = self.name.split(".")
        if not self.is_package:
            parts = parts[:-1]
        parts = parts[: len(parts) - (level - 1)] if level > 1 else parts
        return ".".join([*parts, *([module] if module else [])])

    def defines(self, name: str) -> bool:
        return (
            name in self.classes
            or name in self.functions
            or name in self.imports
            or name in self.assigned
        )


def _top_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Top-level statements, looking into ``if``/``try`` blocks (``try: import x``)."""
    for node in body:
        if isinstance(node, ast.If):
            yield from _top_level(node.body)
            yield from _top_level(node.orelse)
        elif isinstance(node, ast.Try):
            yield from _top_level(node.body)
            for handler in node.handlers:
                yield from _top_level(handler.body)
            yield from _top_level(node.orelse)
            yield from _top_level(node.finalbody)
        else:
            yield node


class Project:
    """A plugin project folder or an installed distribution: entry points and where source is."""

    def __init__(
        self,
        label: str,
        name: str | None,
        entry_points: list[tuple[str, str, str]],
        roots: list[Path],
        installed: bool,
    ) -> None:
        self.label = label
        self.name = name
        self.entry_points = entry_points
        self.roots = roots
        self.installed = installed
        self.tops = {value.split(":")[0].split(".")[0] for _, _, value in entry_points}
        for root in roots:
            if root.is_dir():
                for child in root.iterdir():
                    if child.suffix == ".py" or (child / "__init__.py").is_file():
                        self.tops.add(child.stem if child.suffix == ".py" else child.name)
        self.tops -= {"tests", "test", "setup", "conftest", "docs", "noxfile"}
        self._parsed: dict[str, Module | None] = {}

    def owns(self, module: str) -> bool:
        return module.split(".")[0] in self.tops

    def locate(self, module: str) -> Path | None:
        """The source file of *module*, found without importing anything of the project."""
        parts = module.split(".")
        start: list[Path] = []
        for root in self.roots:
            if (root / parts[0]).is_dir() or (root / f"{parts[0]}.py").is_file():
                start.append(root / parts[0])
        if not start and self.installed:
            from importlib.util import find_spec

            try:  # a top-level name: finds it (editable finders too) without running it
                spec = find_spec(parts[0])
            except (ImportError, ValueError):
                spec = None
            if spec is not None and spec.submodule_search_locations:
                start = [Path(p) for p in spec.submodule_search_locations]
            elif spec is not None and spec.origin and spec.origin.endswith(".py"):
                return Path(spec.origin) if len(parts) == 1 else None
        for base in start:
            if base.is_dir():
                path = base
                for part in parts[1:]:
                    path = path / part
                if path.is_dir():
                    init = path / "__init__.py"
                    return init if init.is_file() else None
                if path.with_suffix(".py").is_file():
                    return path.with_suffix(".py")
            elif len(parts) == 1 and base.with_suffix(".py").is_file():
                return base.with_suffix(".py")
        return None

    def parse(self, module: str, findings: list[Finding]) -> Module | None:
        if module in self._parsed:
            return self._parsed[module]
        self._parsed[module] = None
        path = self.locate(module)
        if path is None:
            return None
        try:
            tree = ast.parse(path.read_bytes(), filename=str(path))
        except (OSError, SyntaxError, ValueError) as exc:
            line = getattr(exc, "lineno", None)
            findings.append(Finding("error", f"{module} cannot be parsed: {exc}", path, line))
            return None
        parsed = Module(module, path, tree)
        self._parsed[module] = parsed
        return parsed

    def modules(self) -> list[str]:
        """Every module name under the project's top-level names (for "did you mean")."""
        out = []
        for root in self.roots:
            for top in self.tops:
                base = root / top
                if base.is_dir():
                    for path in base.rglob("*.py"):
                        rel = path.relative_to(root).with_suffix("")
                        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
                        out.append(".".join(parts))
                elif (root / f"{top}.py").is_file():
                    out.append(top)
        return sorted(set(out))


# -- loading the project ---------------------------------------------------------------------


class BrokenProject(Exception):
    """The project's own metadata is unreadable: a problem found (exit 1), not bad usage."""


def load_project(target: str) -> Project:
    path = Path(target)
    if path.is_dir():
        return _project_folder(path.resolve())
    if path.is_file() and path.name == "pyproject.toml":
        return _project_folder(path.resolve().parent)
    return _installed(target)


def _project_folder(folder: Path) -> Project:
    pyproject = folder / "pyproject.toml"
    if not pyproject.is_file():
        raise UsageError(f"{folder} has no pyproject.toml (give a plugin project folder)")
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        try:
            import tomli as tomllib  # type: ignore[import-not-found]
        except ImportError as exc:
            raise UsageError("reading pyproject.toml needs Python 3.11+ or tomli") from exc
    try:
        data = tomllib.loads(pyproject.read_text())
    except (OSError, ValueError) as exc:
        raise BrokenProject(f"{pyproject} cannot be read: {exc}") from exc
    project = data.get("project", {})
    eps = [
        (group, name, str(value))
        for group, entries in (project.get("entry-points") or {}).items()
        if isinstance(entries, dict)
        for name, value in entries.items()
    ]
    setuptools = data.get("tool", {}).get("setuptools", {})
    roots: list[Path] = []
    package_dir = setuptools.get("package-dir") or {}
    if isinstance(package_dir, dict) and "" in package_dir:
        roots.append(folder / package_dir[""])
    find = (
        (setuptools.get("packages") or {}) if isinstance(setuptools.get("packages"), dict) else {}
    )
    for where in (find.get("find") or {}).get("where", []):
        roots.append(folder / where)
    if not roots:
        roots = [folder / "src", folder] if (folder / "src").is_dir() else [folder]
    return Project(str(folder), project.get("name"), eps, roots, installed=False)


def _installed(name: str) -> Project:
    from importlib import metadata

    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        import difflib

        known = sorted({d.metadata["Name"] or "" for d in metadata.distributions()} - {""})
        close = difflib.get_close_matches(name, known, 3, 0.6)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise UsageError(
            f"{name!r} is neither a folder nor an installed distribution{hint}"
        ) from None
    eps = [(ep.group, ep.name, ep.value) for ep in dist.entry_points]
    found = Project(
        f"{dist.metadata['Name']} {dist.version}", dist.metadata["Name"], eps, [], installed=True
    )
    # every top-level package of the distribution is the plugin's (never imported), not only
    # those its entry points name
    found.tops |= set((dist.read_text("top_level.txt") or "").split())
    for file in dist.files or ():
        parts = file.parts
        if len(parts) > 1 and parts[0].isidentifier() and file.suffix == ".py":
            found.tops.add(parts[0])
        elif len(parts) == 1 and file.suffix == ".py" and not parts[0].startswith("__editable__"):
            found.tops.add(file.stem)
    return found


# -- the static check --------------------------------------------------------------------------


class Checker:
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

    # -- resolving names ---------------------------------------------------------------------
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


# -- --import: the real discovery in a subprocess ---------------------------------------------


def run_import(
    project: Project, modules: Sequence[str] = (), timeout: float = 300
) -> dict[str, Any]:
    """Discover every registry in a fresh interpreter with the plugin present; its report."""
    import json
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory(prefix="openhcs-validate-") as tmp:
        env = dict(os.environ)
        env["OPENHCS_CACHE_DIR"] = str(Path(tmp) / "cache")
        env.pop("OPENHCS_DISABLE_REGISTRY_CACHE", None)
        env.pop("OPENHCS_DISABLE_ENTRY_POINTS", None)  # the plugin comes in as an entry point
        if modules:  # --module registries are discovered in the child too
            extra = [m for m in env.get(REGISTRY_MODULES_ENV, "").split(",") if m.strip()]
            env[REGISTRY_MODULES_ENV] = ",".join([*extra, *modules])
        name = project.name or "unnamed-plugin"
        if not project.installed:
            # the project as if installed: its source roots and a .dist-info with its entry
            # points, first on the path (shadowing an installed copy of the same distribution)
            info = Path(tmp) / "site" / f"{name.replace('-', '_')}-0+validate.dist-info"
            info.mkdir(parents=True)
            (info / "METADATA").write_text(
                f"Metadata-Version: 2.1\nName: {name}\nVersion: 0+validate\n"
            )
            lines: list[str] = []
            for group in sorted({g for g, _, _ in project.entry_points}):
                lines.append(f"[{group}]")
                lines += [f"{n} = {v}" for g, n, v in project.entry_points if g == group]
            (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
            paths = [str(info.parent), *(str(r) for r in project.roots)]
            env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")]).rstrip(
                os.pathsep
            )
        code = f"from openhcs_registry.cli.validate import _child; _child({name!r})"
        proc = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    out = proc.stdout.strip().splitlines()
    try:
        report: dict[str, Any] = json.loads(out[-1])
    except (IndexError, ValueError):
        return {
            "error": f"discovery subprocess failed (exit {proc.returncode}): {proc.stderr[-2000:]}"
        }
    report["stderr"] = proc.stderr
    return report


def _child(dist: str) -> None:
    """In the subprocess: discover everything and report what belongs to *dist*."""
    import json
    import logging

    logging.disable(logging.WARNING)  # the report carries every failure
    from .contracts import load_contracts

    regs, _ = load_contracts(())
    canon = dist.lower().replace("_", "-").replace(".", "-")

    def ours(value: str | None) -> bool:
        return bool(value) and value.lower().replace("_", "-").replace(".", "-") == canon  # type: ignore[union-attr]

    report: dict[str, Any] = {"keys": {}, "failures": [], "errors": []}
    for reg in regs.values():
        try:
            reg.discover(force=True)
            keys = sorted(k for k in reg if ours(reg.info(k).get("distribution")))
        except Exception as exc:
            report["errors"].append(f"{reg.name}: discovery raised {type(exc).__name__}: {exc}")
            continue
        for key in keys:
            try:
                reg[key]
            except Exception as exc:
                report["errors"].append(f"{reg.name}[{key!r}] cannot be loaded: {exc}")
        if keys:
            report["keys"][reg.name] = keys
        for sec in reg.config.secondary_registries:
            view = reg.secondary(sec.name)
            sec_keys = [k for k in keys if k in view]
            for key in sec_keys:
                try:
                    view[key]
                except Exception as exc:
                    report["errors"].append(f"{sec.name}[{key!r}] cannot be loaded: {exc}")
            if sec_keys:
                report["keys"][sec.name] = sec_keys
        for failure in reg.failures:
            if ours(failure.distribution):
                report["failures"].append(
                    {
                        "registry": reg.name,
                        "kind": failure.kind,
                        "plugin": failure.plugin,
                        "key": failure.key,
                        "message": failure.message,
                    }
                )
    print(json.dumps(report))


#: Failure kinds of ``--import`` that are expected outcomes, not errors.
_EXPECTED = {"unavailable": "note", "gpu_skipped": "note", "overridden": "note", "blocked": "note"}


def cmd_validate(args: argparse.Namespace) -> int:
    try:
        project = load_project(args.target)
    except BrokenProject as exc:
        if args.json:
            print_json(
                {
                    "target": args.target,
                    "ok": False,
                    "findings": [Finding("error", str(exc)).as_json()],
                }
            )
        else:
            print(f"validating {args.target}\n  error: {exc}\n1 error(s), 0 warning(s)")
        return EXIT_PROBLEM
    from .contracts import load_contracts

    regs, specs = load_contracts(args.module)
    checker = Checker(project, regs, specs)
    checker.run()
    findings = checker.findings
    report: dict[str, Any] = {
        "target": project.label,
        "distribution": project.name,
        "entry_points": [{"group": g, "name": n, "value": v} for g, n, v in project.entry_points],
        "keys": checker.keys,
    }
    if args.run_import:
        imported = run_import(project, args.module)
        report["import"] = {k: v for k, v in imported.items() if k != "stderr"}
        if "error" in imported:
            findings.append(Finding("error", f"--import: {imported['error']}"))
        else:
            for failure in imported["failures"]:
                level = _EXPECTED.get(failure["kind"], "error")
                if failure["kind"] == "not_returned":
                    level = "warning"
                key = f" {failure['key']!r}" if failure.get("key") else ""
                findings.append(
                    Finding(
                        level,
                        f"--import: {failure['registry']}{key}: {failure['kind']}: "
                        f"{failure['message']} (plugin {failure['plugin']})",
                    )
                )
            findings += [Finding("error", f"--import: {text}") for text in imported["errors"]]
            if not imported["keys"] and not imported["failures"]:
                findings.append(
                    Finding("error", "--import: discovery found nothing of this plugin")
                )
    errors = [f for f in findings if f.level == "error"]
    report["ok"] = not errors
    report["findings"] = [f.as_json() for f in findings]
    if args.json:
        print_json(report)
        return EXIT_PROBLEM if errors else EXIT_OK
    print(f"validating {project.label}")
    for finding in findings:
        print(f"  {finding.level}: {finding.where()}{finding.message}")
    for reg_name, keys in checker.keys.items():
        print(f"  provides {reg_name}: {', '.join(keys)}")
    if args.run_import and "keys" in report.get("import", {}):
        for reg_name, keys in report["import"]["keys"].items():
            print(f"  discovered {reg_name}: {', '.join(keys)}")
    warnings = sum(f.level == "warning" for f in findings)
    print(f"{len(errors)} error(s), {warnings} warning(s)" + ("" if errors else ": OK"))
    return EXIT_PROBLEM if errors else EXIT_OK
