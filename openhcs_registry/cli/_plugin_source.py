"""A plugin's metadata and source as ``validate`` reads them: never imported, only parsed.

A :class:`Project` is a plugin project folder (its ``pyproject.toml`` entry points and
setuptools source roots) or an installed distribution (its entry points, top-level packages and
files, found with ``find_spec`` of top-level names, which runs nothing).  :class:`Module` is one
parsed source file: its top-level classes, functions, imports and assignments.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ._common import UsageError


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
