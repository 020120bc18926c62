"""Differential check of a discovery change: the same worlds, two source trees, equal documents.

Usage::

    .venv/bin/python tools/discovery_diff.py OLD_TREE NEW_TREE

Each tree (a checkout: ``openhcs_registry``, ``hookspecs``, ``plugins``) is copied in turn to
one fixed folder, so that every path the documents record is the same for both; the worlds
(tests/support.py, with fixed names) are rebuilt there for each tree, every file and folder
of both given one fixed mtime (nothing is "racily clean", every stat signature is equal),
and bytecode is not written.  Then, in fresh interpreters, each scenario discovers its
registries (cold, then after an edit an incremental rediscovery, then warm) and prints what
a reader sees (keys, references, provenance, failures, skips, plugins in calling order)
and the cache documents written.  The two trees' outputs must be byte-identical apart from
the documents' ``timestamp``; the first difference is shown.

This is how the explicit-steps rework of ``_discovery`` (issue 14) was checked against the
shared-state version it replaced; run it again for any change meant to keep discovery's
behaviour.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

#: Where both trees are copied and their worlds built, in turn (made once per run).
ROOT = Path(tempfile.mkdtemp(prefix="discovery_diff_"))
SRC = ROOT / "src"
WORLD = ROOT / "world"
STAMP = 1_600_000_000
IGNORE = (".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*cache*")

SPEC = '''
from typing import ClassVar
from openhcs_registry import (
    AutoRegistered,
    LazyDiscoveryDict,
    RegistryConfig,
    SecondaryRegistryConfig,
    hookspec,
)


class Thing(AutoRegistered):
    __registry_name__ = {name!r}
    kind: ClassVar[str | None] = None
    partner: ClassVar[str | None] = None
    requires_modules: ClassVar[tuple[str, ...]] = ()


@hookspec
def provide_things():
    """Return Thing subclasses."""


def custom():
    from {name}_custom import Custom, Keyed
    return [Custom, Keyed]


CONFIG = RegistryConfig(
    name={name!r},
    hookspec=provide_things,
    base_class=Thing,
    key_attribute="kind",
    entry_point_group={group!r},
    discovery_packages={packages!r},
    secondary_registries=(SecondaryRegistryConfig("{name}_partner", attribute="partner"),),
    {extra}
)
REGISTRY = LazyDiscoveryDict(CONFIG)
'''

HEAD = "from openhcs_registry import hookimpl\nfrom {spec} import Thing\n\n"


def plugin(spec: str, body: str) -> str:
    return HEAD.format(spec=spec) + textwrap.dedent(body)


#: Entry-point plugins of each world: distribution suffix -> module source ({n}: the world).
PLUGINS = {
    "alpha": """
        class A(Thing):
            kind = "a"
            partner = "{n}_alpha:A"

        class Same(Thing):
            kind = "same"

        @hookimpl
        def provide_things():
            return [A, Same]
        """,
    "beta": """
        class B(Thing):
            kind = "b"
            partner = "nowhere_at_all:B"

        class Same(Thing):
            kind = "same"

        class Left(Thing):
            kind = "left"

        @hookimpl
        def provide_things():
            return {"b": B, "same": Same, "": B, "weird": 3}
        """,
    "first": """
        class Over(Thing):
            kind = "a"

        @hookimpl(tryfirst=True)
        def provide_things():
            return [Over]
        """,
    "last": """
        class L(Thing):
            kind = "l"
            requires_modules = ("no_such_module_xyz",)

        @hookimpl(trylast=True)
        def provide_things():
            return [L]

        @hookimpl
        def provide_thingz():
            return []
        """,
    "raiser": """
        class R(Thing):
            kind = "r"

        @hookimpl
        def provide_things():
            raise RuntimeError("boom")
        """,
    "blocked": "class X(Thing):\n    kind = 'x'\n",
    "scalar": "@hookimpl\ndef provide_things():\n    return 42\n",
}

#: Plugins that are not plugin modules (no hookimpl import).
RAW = {"exits": "import sys\nsys.exit(3)\n", "broken": "import no_such_dependency_abc\n"}

#: The discovery package of each world: path -> module source.
PACKAGE = {
    "__init__.py": "",
    "sub/__init__.py": "",
    "plain/.keep": "",
    "bad.py": "raise SystemExit(1)\n",
    "sub/m2.py": "class P2(Thing):\n    kind = 'p2'\n",
    "m1.py": """
        import abc

        class P1(Thing):
            kind = "p1"

        class Abstract(Thing, abc.ABC):
            @abc.abstractmethod
            def run(self): ...

        class Keyless(Thing):
            pass

        class Same(Thing):
            kind = "same"
        """,
}

CUSTOM = """
    class Custom(Thing):
        kind = "custom"

    class Keyed(Thing):
        kind = "same"
    """


def _install(site: Path, group: str, module: str, source: str) -> None:
    """A one-module distribution named *module*, laid out the way pip leaves it."""
    (site / f"{module}.py").write_text(source)
    info = site / f"{module}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{group}]\n{module} = {module}\n")
    (info / "top_level.txt").write_text(module + "\n")


def build_world(site: Path, name: str, strict: bool = False) -> None:
    """One registry with every kind of plugin source, outcome and failure."""
    spec, group = f"spec_{name}", f"grp_{name}"
    extra = "discovery_function=custom," + (' conflict_policy="strict",' if strict else "")
    packages = (f"{name}_pkg",)
    source = SPEC.format(name=name, group=group, packages=packages, extra=extra)
    (site / f"{spec}.py").write_text(source)
    for suffix, body in PLUGINS.items():
        _install(site, group, f"{name}_{suffix}", plugin(spec, body.replace("{n}", name)))
    for suffix, body in RAW.items():
        _install(site, group, f"{name}_{suffix}", body)
    for relpath, body in PACKAGE.items():
        path = site / f"{name}_pkg" / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(plugin(spec, body) if relpath.startswith(("m1", "sub/m")) else body)
    (site / f"{name}_custom.py").write_text(plugin(spec, CUSTOM))


SCENARIO = """
import json, os, sys, logging
logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s", stream=sys.stdout)
import importlib
from openhcs_registry import hookimpl
out = {}
for name in NAMES:
    mod = importlib.import_module("spec_" + name)
    reg = mod.REGISTRY
    if BLOCK:
        reg.block("w1_blocked")
        reg.block("w2_blocked")

    class Extra:
        @hookimpl
        def provide_things(self):
            return [mod.Thing]

    if name == "w2":  # a run-time plugin: w2 neither reads nor writes its cache
        reg.add_plugin(Extra(), name="extra")
    try:
        keys = sorted(reg)
    except Exception as exc:
        out[name] = {"raised": f"{type(exc).__name__}: {exc}"}
        continue
    part = reg.secondary(name + "_partner")
    out[name] = {
        "source": reg.source,
        "keys": keys,
        "info": {k: reg.info(k) for k in keys},
        "partners": {k: part.info(k) for k in sorted(part)},
        "failures": [f.to_json() for f in reg.failures],
        "skipped": [f.to_json() for f in reg.skipped],
        "plugins": [p["name"] for p in reg.plugins],
    }
print("RESULT " + json.dumps(out, sort_keys=True, default=repr))
"""

BUILTIN = """
import json, sys
import openhcs_hookspecs as hs
out = {}
for name, reg in sorted(hs.load_all().items()):
    keys = sorted(reg)
    out[name] = {"source": reg.source, "keys": keys,
                 "failures": [f.to_json() for f in reg.failures]}
print("RESULT " + json.dumps(out, sort_keys=True, default=repr))
"""


def _stamp(root: Path, when: int = STAMP) -> None:
    for folder, dirs, files in os.walk(root):
        for entry in dirs + files:
            os.utime(os.path.join(folder, entry), (when, when), follow_symlinks=False)
    os.utime(root, (when, when))


def _run(code: str, cache: Path, block: bool, names: list[str]) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENHCS_", "PYTHON"))}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(WORLD / "site"), str(SRC), str(SRC / "hookspecs"), str(SRC / "plugins")]
    )
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["OPENHCS_CACHE_DIR"] = str(cache)
    code = f"NAMES = {names!r}\nBLOCK = {block!r}\n" + code
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=WORLD, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise SystemExit(f"scenario failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def _documents(cache: Path, changed: list[str]) -> dict[str, str]:
    """Each document's bytes, with what differs between two copies of one file renamed.

    The write time, the checksum over it and what is computed from the rows (a registry
    document's stamps of the recorded stats, its cold part's table of sections and sums,
    the records' offsets, the split, the length of its environment section) are left out;
    every ``st_ctime_ns`` and ``st_ino`` of a file or folder under :data:`ROOT` (which no copy
    can keep) is replaced
    by ``ctime`` and the file's name (ctimes of files stamped together collide), so a
    signature recorded for another file still shows.  The recorded size of a source file
    the two trees hold in different versions (*changed*, relative to the tree) is replaced
    by ``size`` (a hook's traceback records the engine file that called it).
    """
    table: dict[bytes, bytes] = {}
    for folder, dirs, files in os.walk(ROOT):
        for entry in [folder, *(os.path.join(folder, e) for e in dirs + files)]:
            st = os.lstat(entry)
            rel = os.path.relpath(entry, ROOT).encode()
            table[str(st.st_ctime_ns).encode()] = b"ctime"
            table[str(st.st_ino).encode()] = b"ino:" + rel
    docs = {}
    for path in sorted(cache.glob("*.json")):
        data = re.sub(rb'"timestamp":[0-9.e+-]+', b'"timestamp":0', path.read_bytes())
        data = re.sub(rb',"checksum":[0-9]+}$', b"}", data)
        # derived from the rows compared here (stats, cold bytes, warm length): left out
        data = re.sub(rb'"stamp":\[-?[0-9]+,-?[0-9]+\]', b'"stamp":[0,0]', data)
        # (format 8: the files' stamp alone; the distributions' in the env section, whose
        # length the stamp's digits change)
        data = re.sub(rb'"(d?stamp)":-?[0-9]+', rb'"\1":0', data)
        data = re.sub(rb',"envlen":[0-9]+', b',"envlen":0', data)
        data = re.sub(rb',"warm":\[[0-9]+,-?[0-9]+\]', b',"warm":[0,0]', data)
        # (format 11: where each cold section lies and its sum, the records' offsets)
        data = re.sub(rb'"coldat":\{[^{}]*\}', b'"coldat":{}', data)
        data = re.sub(rb'"recat":\[[0-9,]*\]', b'"recat":[]', data)
        data = re.sub(rb',"split":[0-9]+', b',"split":0', data)
        data = _sizes_replaced(data, [str(SRC / rel) for rel in changed])
        data = re.sub(rb"[0-9]+", lambda m: table.get(m.group(), m.group()), data)
        docs[path.name] = data.decode()
    return docs


def _sizes_replaced(data: bytes, paths: list[str]) -> bytes:
    """*data* with the recorded size of each of *paths* replaced by ``size``: in the rows
    that name the path, and in the sizes column of a registry document's cold file
    columns (format 11: the paths are the warm ``files``, the stats columns)."""
    for path in paths:
        quoted = re.escape(b'"' + path.encode() + b'",')
        data = re.sub(rb"(" + quoted + rb"\[?-?[0-9]+,)[0-9]+", rb"\1size", data)
    try:
        doc = json.loads(data)
    except ValueError:
        return data
    cold = doc.get("cold") if type(doc) is dict else None
    if not (
        type(cold) is dict and type(cold.get("files")) is list and type(doc.get("files")) is list
    ):
        return data
    wanted = set(paths)
    sizes = cold["files"][1]
    for at, path in enumerate(doc["files"]):
        if path in wanted:
            sizes[at] = "size"
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def _changed(old: Path, new: Path) -> list[str]:
    """The source files (relative paths) the two trees hold in different versions."""
    out = []
    for tree, other in ((old, new), (new, old)):
        for path in tree.rglob("*.py"):
            rel = path.relative_to(tree)
            if any(part.startswith(".") or part == "__pycache__" for part in rel.parts):
                continue
            twin = other / rel
            if not twin.exists() or twin.read_bytes() != path.read_bytes():
                out.append(str(rel))
    return sorted(set(out))


def observe(tree: Path, changed: list[str]) -> list[tuple[str, Any]]:
    """Every scenario's output and documents, for the source *tree*."""
    for folder in (SRC, WORLD, ROOT / "cache"):
        shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(tree, SRC, ignore=shutil.ignore_patterns(*IGNORE))
    site = WORLD / "site"
    site.mkdir(parents=True)
    names = ["w1", "w2"]
    build_world(site, "w1")
    build_world(site, "w2")
    build_world(site, "w3", strict=True)
    _stamp(ROOT)
    cache = ROOT / "cache"
    seen: list[tuple[str, Any]] = []

    def step(label: str, code: str, block: bool = True, names: list[str] = names) -> None:
        seen.append((label, _run(code, cache, block, names)))
        seen.append((label + " documents", _documents(cache, changed)))

    step("cold", SCENARIO)
    step("warm", SCENARIO)
    step("strict", SCENARIO, names=["w3"])
    # an edit of one plugin and of one package module: an incremental rediscovery
    (site / "w1_beta.py").write_text(plugin("spec_w1", "class B(Thing):\n    kind = 'b2'\n"))
    (site / "w1_pkg" / "m1.py").write_text(plugin("spec_w1", "class P1(Thing):\n    kind = 'q'\n"))
    _stamp(site / "w1_beta.py", STAMP + 100)
    _stamp(site / "w1_pkg", STAMP + 100)
    step("incremental", SCENARIO)
    step("after", SCENARIO)
    # the entry point unblocked: the blocked plugin is loaded now
    step("unblocked", SCENARIO, block=False)
    step("builtin", BUILTIN)
    return seen


def main(argv: list[str]) -> int:
    old, new = (Path(a).resolve() for a in argv)
    try:
        changed = _changed(old, new)
        first, second = observe(old, changed), observe(new, changed)
    finally:
        shutil.rmtree(ROOT, ignore_errors=True)
    for (label, a), (_, b) in zip(first, second, strict=True):
        if a != b:
            print(f"DIFFERENT: {label}")
            text_a, text_b = (json.dumps(x, indent=1, sort_keys=True) for x in (a, b))
            pairs = enumerate(zip(text_a, text_b, strict=False))
            at = next((i for i, (x, y) in pairs if x != y), min(len(text_a), len(text_b)))
            print(f"  old: ...{text_a[max(0, at - 300) : at + 300]}...")
            print(f"  new: ...{text_b[max(0, at - 300) : at + 300]}...")
            return 1
        print(f"same: {label}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
