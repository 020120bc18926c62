"""``openhcs-registry new-plugin NAME``: write a plugin project that validates and tests green.

The project is written from the live contracts (:mod:`.contracts`), so it matches the installed
registries: for each ``--registry`` a class skeleton subclassing the base class, with its key
and every abstract method (signatures as the base declares them), a hookimpl returning it,
the entry point in ``pyproject.toml``, and tests using the fixtures openhcs-registry installs
into pytest.  Out of the box ``openhcs-registry validate`` finds no error in it and, installed
(``pip install ".[test]"``), its tests pass; the methods raise ``NotImplementedError`` until
written.  Layout (src layout, so tests run against the installed copy)::

    NAME/pyproject.toml  README.md
    NAME/src/PKG/__init__.py  plugin.py (hookimpls, the entry point)  <registry>.py (classes)
    NAME/src/PKG/py.typed
    NAME/tests/test_PKG.py
"""

from __future__ import annotations

import argparse
import builtins
import keyword
import re
import sys
from pathlib import Path
from typing import Any

from .._cold._entrypoints import canonical
from ._common import EXIT_OK, UsageError, load_registries, pick

DEFAULT_REGISTRY = "microscope_handler"

_PYPROJECT = """\
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "0.1.0"
description = "An OpenHCS plugin: {what}"
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["openhcs-registry"]

[project.optional-dependencies]
test = ["pytest>=7.4"]

# Discovery loads this module and calls its hookimpls (`openhcs-registry contracts` lists them).
{entry_points}
[tool.setuptools.packages.find]
where = ["src"]

[tool.setuptools.package-data]
"*" = ["py.typed"]

[tool.pytest.ini_options]
testpaths = ["tests"]

[tool.ruff]
line-length = 100
"""

_README = """\
# {dist}

An OpenHCS plugin providing {what}.

```bash
pip install ".[test]"                 # editable: add -e and --config-settings editable_mode=strict
openhcs-registry validate .           # static check of the entry point, hooks and classes
python -m pytest                      # the tests use openhcs-registry's pytest fixtures
openhcs-registry list {first_registry}   # the key, plugin and distribution
```

Fill in the methods in `src/{package}/`; `openhcs-registry contracts REGISTRY` shows what each
one must do.
"""

_PLUGIN = '''\
"""Hook implementations of {dist}: the entry point discovery loads.

Keep this module cheap to import; import heavy libraries inside the classes' methods.  A
registry lists your keys from its cache without importing this module at all.
"""

from __future__ import annotations

from openhcs_registry import hookimpl

{imports}
{hooks}'''

_HOOK = '''
@hookimpl
def {hook}() -> list[type]:
    """{doc}"""
    return [{classes}]
'''

_CLASS_MODULE = '''\
"""{summary}"""

from __future__ import annotations

{imports}

class {cls}({base}):
    """{what_doc} ({key!r})."""

    {key_attribute} = "{key}"
{extra}{methods}'''

_METHOD = '''
    {decorator}def {signature}:
        """{doc}"""
        raise NotImplementedError("{cls}.{name}")
'''

_TESTS = '''\
"""Tests of {dist}, with the pytest fixtures openhcs-registry installs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

{imports}

#: registries name a distribution by its normalised name (PEP 503), as pip compares names
DIST = "{normalised}"
KEY = "{key}"

{tests}

def test_a_warm_listing_imports_no_module_of_the_plugin(openhcs_cache_dir):
    # two fresh interpreters sharing the test's private cache: the first discovers (importing
    # the plugin) and writes the cache, the second lists the keys from it importing nothing
    # of {package}
    code = (
        "import json, sys\\n"
{child_lines}        "print(json.dumps([sources, sorted(m for m in sys.modules "
        "if m == {package!r} or m.startswith({package_dot!r}))]))\\n"
    )

    def listing():
        proc = subprocess.run(
            [sys.executable, "-c", code],
            env=dict(os.environ),
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return json.loads(proc.stdout.splitlines()[-1])

    cold_sources, cold_imported = listing()
    assert set(cold_sources) == {{"fresh"}} and cold_imported  # the check can fail
    warm_sources, warm_imported = listing()
    assert set(warm_sources) == {{"cache"}}
    assert warm_imported == []
'''

_REGISTRY_TESTS = """
def test_{reg}_is_discovered_and_cached(openhcs_cache_roundtrip):
    values = openhcs_cache_roundtrip({const})
    assert KEY in values
    assert {const}.info(KEY)["distribution"] == DIST


def test_{reg}_has_no_failures(openhcs_fresh_registries):
    sorted({const})
    assert [f for f in {const}.failures if f.distribution == DIST] == []


def test_{reg}_class_is_concrete(openhcs_fresh_registries):
    cls = {const}[KEY]
    assert cls is {cls}
    assert issubclass(cls, {base})
    assert not getattr(cls, "__abstractmethods__", None)
    cls()
"""


def _identifier(name: str) -> str:
    package = re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower()
    if not package or not package.isidentifier() or keyword.iskeyword(package):
        raise UsageError(f"{name!r} does not make a Python package name; use letters, digits, -")
    return package


def _camel(text: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^0-9a-zA-Z]+", text) if part)


class _Imports:
    """``from X import Y`` lines for the names a generated module uses."""

    def __init__(self) -> None:
        self.names: dict[str, set[str]] = {}

    def add(self, module: str, name: str) -> None:
        self.names.setdefault(module, set()).add(name)

    def annotation_names(self, text: str, context: dict[str, Any]) -> None:
        """Imports for the names in an annotation written in the base class's module."""
        import collections.abc
        import typing

        for word in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text):
            if word in ("None", "True", "False") or hasattr(builtins, word):
                continue
            value = context.get(word)
            module = getattr(value, "__module__", None) if value is not None else None
            if module and module != "builtins" and module not in ("__main__",):
                source = "pathlib" if module.startswith("pathlib") else module
                self.add(source, word)
            elif hasattr(collections.abc, word):
                self.add("collections.abc", word)
            elif hasattr(typing, word):
                self.add("typing", word)

    def render(self, first_party: str = "") -> str:
        """isort's sections: standard library, third party, the project's own package."""
        std = sorted(m for m in self.names if m.split(".")[0] in sys.stdlib_module_names)
        own = sorted(m for m in self.names if first_party and m.split(".")[0] == first_party)
        other = sorted(m for m in self.names if m not in std and m not in own)
        blocks = [
            "\n".join(_from_import(m, self.names[m]) for m in group)
            for group in (std, other, own)
            if group
        ]
        return "\n\n".join(blocks) + "\n" if blocks else ""


def _from_import(module: str, names: set[str]) -> str:
    """One ``from`` import in isort's order (constants, classes, functions), wrapped at 100."""

    def order(name: str) -> tuple[int, str]:
        kind = 0 if name.isupper() else 1 if name[:1].isupper() else 2
        return kind, name

    ordered = sorted(names, key=order)
    line = f"from {module} import {', '.join(ordered)}"
    if len(line) <= 100:
        return line
    return f"from {module} import (\n" + "".join(f"    {n},\n" for n in ordered) + ")"


def _class_module(reg: Any, cls: str, key: str, dist: str) -> tuple[str, str]:
    """The source of one registry's class module, and its base class's name."""
    from .contracts import abstract_methods

    cfg = reg.config
    base = cfg.base_class
    if base is None:
        raise UsageError(f"registry {reg.name!r} has no base class: nothing to subclass")
    if cfg.key_attribute is None:
        raise UsageError(f"registry {reg.name!r} computes its keys: write the class by hand")
    imports = _Imports()
    imports.add(base.__module__, base.__name__)
    context = vars(sys.modules[base.__module__])
    methods = []
    for name, method in abstract_methods(base).items():
        signature = method["signature"]
        imports.annotation_names(signature.split("(", 1)[1], context)
        kind = method["kind"]
        decorator = "" if kind == "method" else f"@{kind}\n    "
        methods.append(
            _METHOD.format(
                decorator=decorator,
                signature=signature,
                doc=(method["doc"] or f"Implement {name}.").replace('"""', "'''"),
                cls=cls,
                name=name,
            )
        )
    extra = ""
    for sec in cfg.secondary_registries:
        if sec.attribute:
            extra += (
                f'    # {sec.attribute} = "{dist.replace("-", "_")}.module:Class"  '
                f"# feeds the {sec.name} registry\n"
            )
    what = cfg.description or reg.name
    source = _CLASS_MODULE.format(
        summary=f"The {reg.name.replace('_', ' ')} of {dist}.",
        imports=imports.render(),
        cls=cls,
        base=base.__name__,
        what_doc=f"{base.__name__} of {dist}: {what}",
        key_attribute=cfg.key_attribute,
        key=key,
        extra=extra,
        methods="".join(methods),
    )
    return source, base.__name__


def _constant(reg: Any) -> tuple[str, str]:
    """``(module, name)`` of the module-level constant holding *reg* (for imports in tests)."""
    module = sys.modules.get(reg.config.hookspec.__module__)
    for attr, value in vars(module).items() if module is not None else ():
        if value is reg:
            return module.__name__, attr  # type: ignore[union-attr]
    raise UsageError(f"no module-level constant holds registry {reg.name!r}: tests need one")


def render(dist: str, regs: list[Any]) -> dict[str, str]:
    """The files of the project, by path relative to its folder."""
    package = _identifier(dist)
    key = package.removeprefix("openhcs_").removesuffix("_plugin") or package
    files: dict[str, str] = {}
    plugin_imports = []
    hooks = []
    test_imports = _Imports()
    tests = []
    child_lines = []
    groups: dict[str, list[str]] = {}
    for reg in regs:
        cls = _camel(key) + _camel(reg.name)
        source, base = _class_module(reg, cls, key, dist)
        files[f"src/{package}/{reg.name}.py"] = source
        plugin_imports.append(f"from .{reg.name} import {cls}")
        hooks.append(
            _HOOK.format(
                hook=reg.config.hook_name,
                doc=f"The {reg.name.replace('_', ' ')} classes of {dist}.",
                classes=cls,
            )
        )
        groups.setdefault(reg.config.entry_point_group, [])
        const_module, const = _constant(reg)
        test_imports.add(const_module, const)
        test_imports.add(f"{package}.{reg.name}", cls)
        test_imports.add(reg.config.base_class.__module__, base)
        tests.append(_REGISTRY_TESTS.format(reg=reg.name, const=const, cls=cls, base=base))
        child_lines.append(f'        "from {const_module} import {const}\\n"\n')
    child_lines.append(
        '        "sources = []\\n"\n'
        + "".join(
            f'        "sorted({_constant(r)[1]}); sources.append({_constant(r)[1]}.source)\\n"\n'
            for r in regs
        )
    )
    entry_points = "".join(
        f"[project.entry-points.{group if group.isidentifier() else repr(group)}]\n"
        f'{key} = "{package}.plugin"\n\n'
        for group in groups
    )
    what = ", ".join(r.config.description or r.name for r in regs)
    files["pyproject.toml"] = _PYPROJECT.format(dist=dist, what=what, entry_points=entry_points)
    files["README.md"] = _README.format(
        dist=dist, what=what, package=package, first_registry=regs[0].name
    )
    files[f"src/{package}/__init__.py"] = f'"""{dist}: an OpenHCS plugin ({what})."""\n'
    files[f"src/{package}/py.typed"] = ""  # the classes are typed: let mypy read them
    files[f"src/{package}/plugin.py"] = _PLUGIN.format(
        dist=dist, imports="\n".join(sorted(plugin_imports)) + "\n", hooks="\n".join(hooks)
    )
    files[f"tests/test_{package}.py"] = _TESTS.format(
        dist=dist,
        normalised=canonical(dist),
        key=key,
        package=package,
        package_dot=package + ".",
        imports=test_imports.render(first_party=package).rstrip("\n"),
        tests="\n".join(tests),
        child_lines="".join(child_lines),
    )
    return files


def cmd_new_plugin(args: argparse.Namespace) -> int:
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9._-]*", args.name):
        raise UsageError(f"{args.name!r} is not a distribution name (letters, digits, - _ .)")
    regs = load_registries(args.module)
    chosen = []
    for name in args.registry or [DEFAULT_REGISTRY]:
        reg, secondary = pick(regs, name)
        if secondary:
            raise UsageError(
                f"{secondary!r} is derived from {reg.name!r}: use --registry {reg.name} and set "
                "its attribute"
            )
        if reg not in chosen:
            chosen.append(reg)
    files = render(args.name, chosen)
    folder = Path(args.dir) if args.dir else Path(args.name)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise UsageError(f"{folder} exists and is not empty: choose another --dir")
    for rel, text in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    if args.json:
        from ._common import print_json

        print_json({"folder": str(folder), "files": sorted(files)})
        return EXIT_OK
    print(f"wrote {folder}/ ({', '.join(r.name for r in chosen)}):")
    for rel in sorted(files):
        print(f"  {rel}")
    print(
        f"next: cd {folder} && pip install '.[test]' && openhcs-registry validate . "
        "&& python -m pytest"
    )
    return EXIT_OK
