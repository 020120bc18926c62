"""One-way layers: the engine never imports the contracts or the plugins, not even lazily.

Statically (every import statement and every module-name string in the engine's sources) and
at run time: the CLI finds contracts packages - OpenHCS's own and third-party ones - through
the ``openhcs.contracts`` entry points, read by :mod:`openhcs_registry._contracts` without
importlib.metadata, and that index is compared with importlib.metadata's answer.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import openhcs_hookspecs as _hookspecs_pkg
import openhcs_plugins as _plugins_pkg

import openhcs_registry as _engine_pkg

# the sources of the packages under test: the checkout's, or the installed wheel's (CI runs
# the suite against both)
ENGINE = Path(_engine_pkg.__file__).resolve().parent


CONTRACTS = Path(_hookspecs_pkg.__file__).resolve().parent


PLUGINS = Path(_plugins_pkg.__file__).resolve().parent


REPO = ENGINE.parent


UPPER = ("openhcs_hookspecs", "openhcs_plugins")


def _names_used(source: str) -> list[tuple[int, str]]:
    """Every module an engine source could reach: imports, and module-like strings in code.

    Docstrings are prose and left out; any other string constant naming a contracts or
    plugins module (``importlib.import_module("openhcs_hookspecs")``, an entry in a tuple of
    module names) counts, so a lazy import by name cannot slip through.
    """
    tree = ast.parse(source)
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.lineno, node.module))
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
        ):
            found.append((node.lineno, node.value))
    return found


def _violations(folder: Path, forbidden: tuple[str, ...]) -> list[str]:
    out = []
    for path in sorted(folder.rglob("*.py")):
        for line, name in _names_used(path.read_text()):
            if any(word in name for word in forbidden):
                out.append(f"{path.relative_to(REPO)}:{line}: {name!r}")
    return out


def test_the_checker_can_fail() -> None:
    bad = textwrap.dedent(
        '''
        """Docstrings may mention openhcs_hookspecs."""
        import importlib
        def load():
            """So may these: openhcs_plugins."""
            from openhcs_hookspecs import colormaps
            return importlib.import_module("openhcs_plugins.colormaps")
        '''
    )
    names = [name for _, name in _names_used(bad)]
    assert "openhcs_hookspecs" in names and "openhcs_plugins.colormaps" in names
    assert not any("Docstrings" in n or "So may" in n for n in names)


def test_engine_sources_name_no_contracts_or_plugins_module() -> None:
    assert list(ENGINE.rglob("*.py")), "engine sources not found"
    assert _violations(ENGINE, UPPER) == []


def test_contracts_and_plugins_use_only_the_public_engine() -> None:
    """Upper layers import the engine's public modules, never ``openhcs_registry._x``."""
    private = []
    for folder in (CONTRACTS, PLUGINS):
        for path in sorted(folder.rglob("*.py")):
            source = path.read_text()
            for line, name in _names_used(source):
                if name.startswith("openhcs_registry._"):
                    private.append(f"{path.relative_to(REPO)}:{line}: {name}")
            for node in ast.walk(ast.parse(source)):  # from openhcs_registry import _x
                if isinstance(node, ast.ImportFrom) and node.module == "openhcs_registry":
                    private += [
                        f"{path.relative_to(REPO)}:{node.lineno}: openhcs_registry.{a.name}"
                        for a in node.names
                        if a.name.startswith("_")
                    ]
    assert private == []
    # contracts name their discovery packages (configuration the engine acts on) but never
    # import a plugin module themselves
    imports = []
    for path in sorted(CONTRACTS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imports += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                imports.append(node.module)
    assert imports and not [name for name in imports if name.startswith("openhcs_plugins")]


def test_the_engine_holds_no_openhcs_domain_module() -> None:
    """The OpenHCS enums live in the contracts; the engine has none of their names."""
    assert not (ENGINE / "constants.py").exists()
    engine_text = "\n".join(p.read_text() for p in ENGINE.rglob("*.py"))
    for name in ("BASE_COLORMAPS", "create_colormap_enum", "GroupBy", "AllComponents"):
        assert name not in engine_text, name
