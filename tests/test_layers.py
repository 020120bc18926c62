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


# -- the folder layout: public modules, the warm path, the cold package ------------------------
#: The engine's public modules: the package root (the API, re-exported once) and the toolkits
#: contracts packages build on.  Every other module is ``_``-private.
PUBLIC_MODULES = {"__init__", "__main__", "catalogue", "enums", "settings", "pytest_plugin", "cli"}


def test_every_engine_module_is_public_or_private_by_name() -> None:
    top = {p.stem for p in ENGINE.glob("*.py")} | {
        p.name for p in ENGINE.iterdir() if (p / "__init__.py").is_file()
    }
    assert PUBLIC_MODULES <= top
    assert sorted(n for n in top - PUBLIC_MODULES if not n.startswith("_")) == []
    # the cold package holds the cold modules only; nothing else is nested
    assert sorted(p.name for p in ENGINE.iterdir() if (p / "__init__.py").is_file()) == [
        "_cold",
        "cli",
    ]


WARM_READS = """
    import json, sys
    # an editable install's import finder imports pathlib at start-up, which would hide an
    # import of ours: forgotten here (a throwaway process), so that a warm read importing it
    # imports it again and is seen
    sys.modules.pop("pathlib", None)
    from openhcs_hookspecs import MICROSCOPE_HANDLERS
    from openhcs_hookspecs.colormaps import create_colormap_enum
    from openhcs_registry.cli import main
    keys = sorted(MICROSCOPE_HANDLERS)
    listed = sorted(m for m in sys.modules if m.startswith("openhcs_registry"))
    create_colormap_enum()
    main(["list", "--json"])
    heavy = sorted(m for m in sys.modules if m in HEAVY or m.startswith("pluggy"))
    value = MICROSCOPE_HANDLERS["imagexpress"]
    engine = sorted(m for m in sys.modules if m.startswith("openhcs_registry"))
    sys.stderr.write(json.dumps({"source": MICROSCOPE_HANDLERS.source, "engine": engine,
                                 "heavy": heavy, "listed": listed}))
"""
#: What the warm-path import rule keeps out of a warm read (docs/design.md, "Layers").
#: (``dataclasses`` and ``inspect`` are not listed: orjson, a dependency, imports them.
#: ``threading`` is: the engine's locks come from ``_thread``, which it is built on.)
HEAVY = ("typing", "logging", "importlib.metadata", "pathlib", "threading")


def test_a_warm_read_imports_nothing_from_the_cold_package(_isolated_cache: Path) -> None:
    """The layout is the warm/cold split: ``_cold/`` is exactly what a warm start leaves out.

    A warm ``sorted(MICROSCOPE_HANDLERS)`` then ``MICROSCOPE_HANDLERS["imagexpress"]`` (data
    path 1 of docs/design.md), a warm colormap enum and a warm ``openhcs-registry list`` import
    engine modules from the top of the package only; the cold run imports the cold package.
    """
    import json
    import os
    import subprocess
    import sys

    env = dict(os.environ, OPENHCS_CACHE_DIR=str(_isolated_cache))
    runs = []
    for _ in range(2):
        proc = subprocess.run(
            [sys.executable, "-c", f"HEAVY = {HEAVY!r}\n" + textwrap.dedent(WARM_READS)],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert proc.returncode == 0, proc.stderr
        runs.append(json.loads(proc.stderr.splitlines()[-1]))
    cold, warm = runs
    assert cold["source"] == "fresh" and warm["source"] == "cache"
    # the warm-path import rule: the listing, the enum and `list` import none of these
    assert cold["heavy"]  # the cold run did (pluggy, importlib.metadata): the check can fail
    assert warm["heavy"] == []
    assert "openhcs_registry._cold._discovery" in cold["engine"]  # the check can fail
    assert [m for m in warm["engine"] if m.startswith("openhcs_registry._cold")] == []
    # a listing resolves no value: the resolution and the admission rules are imported
    # by the first value read (and the cold run's discovery), not by the keys
    unresolved = ("openhcs_registry._resolve", "openhcs_registry._refs", "openhcs_registry._rules")
    assert [m for m in unresolved if m in warm["listed"]] == []
    assert "openhcs_registry._resolve" in warm["engine"]  # (imported once a value is read)
    # and the warm path is only what docs/design.md lists as warm
    warm_top = {m.split(".")[1] for m in warm["engine"] if "." in m}
    assert warm_top <= {p.stem for p in ENGINE.glob("*.py")} | {"cli"}


#: The modules a warm read imports (checked above); only they follow the warm-path import rule.
WARM_CLI = {"__init__.py", "_common.py", "list.py", "_completion.py"}


def test_the_warm_path_import_rule_is_written_only_where_it_applies() -> None:
    """``TYPE_CHECKING = False`` (typing kept out at run time) is the idiom of the warm
    modules and of the changed starts' (the cold package's modules that an edit, install,
    removal or upgrade start imports: a removal imports neither pluggy nor ``typing``,
    tests/test_reduced.py), and of them only.

    Other cold code - the explainer, the plugin manager (it imports pluggy), the CLI's
    other commands, the pytest plugin - and the built-in plugins (the examples plugin
    authors copy) import ``typing`` as normal Python does.
    """
    idiom = "\nTYPE_CHECKING = False\n"
    tooling = {"_explain.py", "_plugin_manager.py"}
    cold = [
        *(p for p in (ENGINE / "_cold").glob("*.py") if p.name in tooling),
        *(p for p in (ENGINE / "cli").glob("*.py") if p.name not in WARM_CLI),
        ENGINE / "pytest_plugin.py",
        *PLUGINS.rglob("*.py"),
    ]
    assert len(cold) > 20
    assert [str(p.relative_to(REPO)) for p in cold if idiom in p.read_text()] == []
    changed = [p for p in (ENGINE / "_cold").rglob("*.py") if p.name not in tooling]
    assert len(changed) > 10
    warm = [p for p in ENGINE.glob("_*.py") if "import" in p.read_text()]
    assert [
        str(p.relative_to(REPO))
        for p in (*warm, *changed)
        if "\nfrom typing import" in p.read_text() or "\nimport typing" in p.read_text()
    ] == []
