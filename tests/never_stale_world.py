"""A world that changes, and two observers that must agree (the never-stale model).

Shared by the model-based test (tests/test_never_stale_model.py, hypothesis stateful testing)
and the long campaign script (tools/never_stale_campaign.py).

A :class:`ModelWorld` is a real temporary virtualenv plus the folders a user's environment is
made of, holding one test registry (own entry-point group, contract module, discovery package
and secondary registry):

- ``venv/``: ``python -m venv --without-pip``; its site-packages gets ``_openhcs_outer.pth``
  whose one ``import site; site.addsitedir(...)`` line adds the site folder(s) of the running
  interpreter, so openhcs-registry, pluggy, orjson and pip (and an editable install's finder,
  which a plain path line would not run) are importable without installing anything
  (~60 ms instead of ~20 s for a venv with the project installed).  Plugins are installed
  into the venv's own site-packages with that pip (``venv/bin/python -m pip``): real
  installs, upgrades and uninstalls of wheels written by hand (``build_wheel``: a zip with
  METADATA, WHEEL, entry_points.txt and a correct RECORD; an "editable" wheel carries a
  ``__editable__.*.pth`` file pointing at a source folder, as PEP 660 backends do).
- ``p1/``, ``p2/``: ``PYTHONPATH`` folders (their order is part of the state); each may hold
  the discovery package ``dpk_<tag>`` as a regular or a namespace package.
- ``cwd0/``, ``cwd1/``: launch folders (``python -c`` puts the cwd first on ``sys.path``):
  shadowing modules, an optional dependency, unrelated files.
- ``src/ed0/``: the source folder of the editable install; ``extra/``: a folder reached
  only through a hand-written ``.pth`` file, holding a hand-written ``.dist-info``.
- ``etc/``: a folder on no path, holding the optional config file of the plugin ``cf``.

Besides modules, some installed plugins read data at import time (:data:`DATA_PLUGINS`): a
file of their package (``importlib.resources``), a folder of their package (``glob.glob``,
``os.listdir``), a config file outside any package (``os.path.exists``, then ``open``).

An operation is a tuple ``(name, int, ...)``.  Its integers pick targets *modulo* what exists,
so every sequence of operations is valid in every world: shrinking may drop any operation.
After an operation, :meth:`ModelWorld.check` runs a warm listing (cache enabled) and a fresh
discovery (``OPENHCS_DISABLE_REGISTRY_CACHE=1``) in new processes of the venv's interpreter
and returns what differs: keys, the ``module:qualname`` of every resolved value, the
secondary registry (keys and values), each key's provenance (plugin, origin, distribution,
version, file), failures and skipped plugins as (plugin, kind, key).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import re
import shutil
import site
import subprocess
import sys
import sysconfig
import textwrap
import uuid
import zipfile
from pathlib import Path
from typing import Any

Op = tuple[Any, ...]

KEYS = "abcd"

#: plugin distributions present from the start, each with its own key (s0, s1, ...): most
#: operations change one plugin among many, the case incremental rediscovery is for
STATIC = 16

#: Static plugins that import the helper chain ``chm`` (which imports ``chi``) and then
#: ``chs`` (whose body imports ``chi`` again, from ``sys.modules``), at both ends of the
#: plugins' order so that one of them loads ``chs`` first whichever way they are loaded; and
#: those that import ``chs`` alone and take their key's suffix from ``chi``: what they read
#: is ``chs``'s record.
CHAIN_FIRST = (0, STATIC - 1)
CHAIN_KEYED = (7, 8)

#: The static plugin that also returns the classes declared in its own group's ``_sub``
#: entry points (``importlib.metadata.entry_points``: a plugin of plugins; see the
#: operation ``pip_sub``), and the one whose key ends in the version of the ``optdep``
#: distribution, if installed (``importlib.metadata.version``; ``pip_optdep``).
GATHERING = 3
VERSIONED = 5

#: A static plugin that try-imports the optional dependency, and a later one (by name:
#: st10 loads before st13) whose key ends in whether ``importlib.util.find_spec`` finds it:
#: once the first imported it, ``find_spec`` answers from ``sys.modules`` and asks no
#: finder (the operation ``opt_toggle`` makes it appear and go).
OPT_IMPORTER = 10
OPT_PROBER = 13

#: name -> (relative weight in a campaign, ranges of the integer arguments)
OPS: dict[str, tuple[int, tuple[int, ...]]] = {
    # discovery package modules: write (add or edit) / remove / rename, in p1 or p2
    "disc_write": (14, (2, 5, 1024)),  # where, slot, variant
    "disc_remove": (5, (2, 5)),
    "disc_rename": (4, (2, 5, 5)),
    "init_toggle": (5, (2,)),  # regular <-> namespace package
    "init_write": (2, (2, 1024)),  # the package's __init__.py defines classes itself
    "sub_init_toggle": (3, (2,)),  # a subpackage (slot 4 is sub/s.py) gains/loses __init__
    # edits of any plugin file that exists
    "same_size_edit": (8, (64, 2)),  # file index, restore the mtime (0/1)
    "rewrite_keep_mtime": (4, (64, 1024)),  # file index, variant: new text, old mtime
    "restore_previous": (3, ()),  # put back the text and mtimes before the last edit
    "site_edit": (4, (3, 1024)),  # hand-edit an installed plugin module in site-packages
    "editable_edit": (6, (1024,)),  # edit the editable install's source
    "extra_edit": (4, (1024,)),
    "ep_edit": (3, (2,)),  # entry_points.txt edited in place (hand-written dist-info)
    # one plugin among many (issue 12): edit one of the STATIC plugins, keep the others
    "static_edit": (5, (16, 1024)),
    "static_same_size_edit": (3, (16,)),
    # what one static plugin offers changes, what it reads does not (the amended answer):
    # its original, a key no other plugin has, a second class with a partner, the class
    # renamed under the same key
    "static_offers": (5, (16, 4)),
    # what one static plugin reads changes (the answer replaced): its original, an import of
    # the helper chain's module (rows other plugins read too), of a standard-library module
    # that imports nothing, of a module that is not there (it fails to import), of a module
    # written in a PYTHONPATH folder (a new name there) if it is not there yet
    "static_reads": (5, (16, 5)),
    "chain_edit": (3, (1024,)),  # the helper chain's ``chi`` (CHAIN_KEYED's keys) rewritten
    # launch folder and environment
    "cwd": (5, (2,)),
    "cwd_file": (6, (2, 4, 1024)),  # which cwd, what (opt dep / shadow / dpk / unrelated)
    "pythonpath": (4, (3,)),
    "env_no_gpu": (4, ()),
    "env_no_entry_points": (1, ()),
    # optional dependency appearing / disappearing
    "opt_toggle": (6, (4,)),  # p1, p2, cwd0, site-packages
    "pth_toggle": (3, ()),
    # an editable install by a meta path finder (setuptools' flat-layout mode): a ``.pth``
    # whose import line installs a finder that maps the optional dependency to a folder
    # outside ``sys.path``; toggled, or the finder module rewritten to map it or not
    "finder": (3, (2,)),
    # real pip operations (a minority: ~0.7 s each)
    "pip_install": (3, (3, 1024)),  # plugin dist, variant (install or upgrade)
    "pip_uninstall": (2, (3,)),
    "pip_editable": (2, ()),  # install / uninstall the editable wheel
    "pip_optdep": (1, ()),  # install / uninstall a wheel providing the optional dependency
    # a module of the plugin package that imports what pkgutil.iter_modules lists, written
    # or removed: slot, variant (3: remove)
    "listed": (3, (3, 4)),
    # plugins reading data files (DATA_PLUGINS), not modules: ``df``'s data file removed (0)
    # or rewritten in place with other keys (1-3); ``formats/x<slot>.fmt`` added to or
    # removed from the folder ``gf`` globs (0) or ``lf`` lists (1); ``cf``'s config file
    # created (keys by variant) or removed
    "data_file": (3, (4,)),
    "data_listed": (3, (4, 2)),
    "config_toggle": (3, (3,)),
    # ``rf``'s file, read by a relative path (so in the working directory), created in
    # cwd0 or cwd1 (keys by variant) or removed
    "relative_toggle": (3, (2, 3)),
    # the variable ``ea`` and ``eb`` read through a helper (``eb`` from sys.modules) set to
    # one of two values (1, 2) or unset (0); ``ec``'s own variable toggled
    "env_flavour": (3, (3,)),
    "env_own": (2, ()),
    # install or upgrade (0) / uninstall (1) a wheel declaring a class in GATHERING's group
    "pip_sub": (2, (2,)),
    # a helper module in another top-level package, imported by plugins (import-time classes)
    "helper_write": (4, (3, 1024)),  # p1, p2, cwd0; variant
    "helper_remove": (2, (3,)),
    # a discovery package moved to the other PYTHONPATH folder; a module that is a symlink
    "pkg_move": (2, (2,)),
    "link_toggle": (2, ()),
    "link_target_edit": (3, (1024,)),
    # how the listing process is started: python -c (cwd first), a script in cwd1, python -m
    "launch": (3, (3,)),
    # nothing that matters: the warm start should be served from the cache
    "unrelated": (4, (2,)),
    "nothing": (3, ()),  # the warm start then reads the document the last one wrote
}


def random_op(rng: random.Random) -> Op:
    names = list(OPS)
    name = rng.choices(names, weights=[OPS[n][0] for n in names])[0]
    return (name, *(rng.randrange(r) for r in OPS[name][1]))


# -- sources -----------------------------------------------------------------------------------


def _classes(variant: int, opt: str, *, wrong_type_ok: bool) -> tuple[list[str], list[str]]:
    """Source lines of 0-2 classes picked by *variant*, and the names a hook returns."""
    count = variant % 3
    lines: list[str] = []
    names: list[str] = []
    code = variant // 3
    for i in range(count):
        key = KEYS[code % 4]
        flag = (code // 4) % 5
        code = code // 20 + i + 1
        name = f"C{i}"
        if flag == 4 and wrong_type_ok:
            lines += [f"class {name}:", f"    kind = '{key}'", ""]
        else:
            if flag == 1:
                lines += [f"class P{i}:", "    pass", ""]
            lines += [f"class {name}(Thing):", f"    kind = '{key}'"]
            if flag == 1:
                lines.append(f"    partner = P{i}")
            elif flag == 2:
                lines.append("    requires_gpu = True")
            elif flag == 3:
                lines.append(f"    requires_modules = ({opt!r},)")
            lines.append("")
        names.append(name)
    return lines, names


def module_source(spec: str, opt: str, variant: int, *, hook: bool) -> str:
    """A plugin module (``hook``: with a hookimpl) or a discovery-package module.

    ``variant % 16`` picks how it fails (0 and 9-15 not at all; import error, syntax error,
    SystemExit, a top-level import of the optional dependency; for hooks also a try-import in
    the hook, a hook that raises, a hook returning garbage; 8 try-imports the helper module
    of another top-level package); ``variant // 16`` its classes.
    """
    mode = variant % 16
    if mode >= 9 or (not hook and 5 <= mode < 8):
        mode = 0
    lines = [f"from {spec} import Thing"]
    if hook:
        lines.insert(0, "from openhcs_registry import hookimpl")
    if mode == 4:
        lines.append(f"import {opt}")
    elif mode == 8:  # a helper in another top-level package (its classes: import time)
        helper = opt.replace("opt_", "hlp_", 1)
        lines += ["try:", f"    import {helper}  # noqa", "except ImportError:", "    pass"]
    lines.append("")
    body, names = _classes(variant // 16, opt, wrong_type_ok=hook)
    lines += body
    if hook:
        lines += ["@hookimpl", "def provide_things():"]
        if mode == 5:
            lines += [
                "    try:",
                f"        import {opt}",
                "    except ImportError:",
                "        return []",
            ]
        elif mode == 6:
            lines.append("    raise RuntimeError('hook broke')")
        elif mode == 7:
            lines.append("    return 42")
        lines += [f"    return [{', '.join(names)}]", ""]
    if mode == 1:
        lines.append("raise ImportError('plugin broken')")
    elif mode == 2:
        lines.append("def broken(:")
    elif mode == 3:
        lines.append("raise SystemExit('no display')")
    return "\n".join(lines) + "\n"


def editable_finder(mapping: str) -> str:
    """A meta path finder module as setuptools writes for a flat-layout editable install
    (``__editable___<name>_finder.py``): top-level names mapped to folders, found by a
    finder appended to ``sys.meta_path`` by the ``.pth`` file's import line."""
    return textwrap.dedent(f"""\
        import sys
        from importlib.util import spec_from_file_location

        MAPPING = {{{mapping}}}


        class _EditableFinder:
            @classmethod
            def find_spec(cls, fullname, path=None, target=None):
                folder = MAPPING.get(fullname)
                if folder is None:
                    return None
                return spec_from_file_location(
                    fullname, folder + "/__init__.py", submodule_search_locations=[folder]
                )


        def install():
            if _EditableFinder not in sys.meta_path:
                sys.meta_path.append(_EditableFinder)
        """)


#: The listing plugin's ``__init__``: it imports every module its package lists.
LISTED_INIT = """\
import importlib
import pkgutil

from openhcs_registry import hookimpl


@hookimpl
def provide_things():
    found = []
    for info in pkgutil.iter_modules(__path__):
        found += importlib.import_module(__name__ + "." + info.name).CLASSES
    return found
"""


#: Plugins that read data, not modules, at import time (each one class per key, named
#: ``K_<key>`` and bound in the module, so that a cached ``module:qualname`` resolves):
#: ``df`` reads its package's ``keys.txt`` (one key per line; missing: the key ``dnone``),
#: ``gf`` and ``lf`` list their package's ``formats`` folder (one key per ``.fmt`` file, by
#: ``glob.glob`` (which scans with ``os.scandir``) and ``os.listdir``), ``cf`` reads its
#: config file if ``os.path.exists`` says it is there (else the key ``cnone``), ``rf`` reads
#: ``rf.cfg`` by a relative path, in whichever folder a start runs (else the key ``rnone``);
#: ``ea`` and ``eb`` import a helper that reads a variable at import (the key's suffix: so
#: ``eb``, loaded after ``ea``, finds the helper in ``sys.modules``), ``ec`` reads its own
#: variable by ``in os.environ`` (the key ``ec1`` if set, ``ec0`` if not).
DATA_PLUGINS = ("df", "gf", "lf", "cf", "rf", "ea", "eb", "ec")

_DATA_CLASSES = """
for _key in KEYS:
    _name = "K_" + _key
    globals()[_name] = type(_name, (Thing,), {{"kind": _key, "__module__": __name__}})


@hookimpl
def provide_things():
    return [globals()["K_" + key] for key in KEYS]
"""

DATA_FILE_INIT = (
    """\
from importlib.resources import files

from openhcs_registry import hookimpl
from {spec} import Thing

try:
    KEYS = files(__package__).joinpath("keys.txt").read_text().split()
except FileNotFoundError:
    KEYS = ["dnone"]
"""
    + _DATA_CLASSES
)

GLOB_INIT = (
    """\
import glob
import os

from openhcs_registry import hookimpl
from {spec} import Thing

_FOUND = glob.glob(os.path.join(os.path.dirname(__file__), "formats", "*.fmt"))
KEYS = sorted("g" + os.path.basename(path)[:-4] for path in _FOUND)
"""
    + _DATA_CLASSES
)

LISTDIR_INIT = (
    """\
import os

from openhcs_registry import hookimpl
from {spec} import Thing

_FOUND = os.listdir(os.path.join(os.path.dirname(__file__), "formats"))
KEYS = sorted("l" + name[:-4] for name in _FOUND if name.endswith(".fmt"))
"""
    + _DATA_CLASSES
)

CONFIG_MODULE = (
    """\
import os

from openhcs_registry import hookimpl
from {spec} import Thing

CONFIG = {config!r}
KEYS = ["cnone"]
if os.path.exists(CONFIG):
    with open(CONFIG) as fh:
        KEYS = fh.read().split()
"""
    + _DATA_CLASSES
)


RELATIVE_MODULE = (
    """\
import os

from openhcs_registry import hookimpl
from {spec} import Thing

KEYS = ["rnone"]
if os.path.exists("rf.cfg"):
    with open("rf.cfg") as fh:
        KEYS = fh.read().split()
"""
    + _DATA_CLASSES
)


#: The helper ``ea`` and ``eb`` import (``evh_<tag>``): it reads ``MFLAVOUR_<TAG>``.
FLAVOUR_HELPER = """\
import os

FLAVOUR = os.environ.get({var!r}, "none")
"""

FLAVOUR_MODULE = (
    """\
from openhcs_registry import hookimpl
from {spec} import Thing

import {helper}

KEYS = ["{short}" + {helper}.FLAVOUR]
"""
    + _DATA_CLASSES
)

OWN_VARIABLE_MODULE = (
    """\
import os

from openhcs_registry import hookimpl
from {spec} import Thing

KEYS = ["ec1" if {var!r} in os.environ else "ec0"]
"""
    + _DATA_CLASSES
)


def data_keys(prefix: str, variant: int) -> str:
    """The text of a data file: ``variant + 1`` keys, so each variant has its own size."""
    return "".join(f"{prefix}{variant}{j}\n" for j in range(variant + 1))


def package_init(impl: str = "impl") -> str:
    """``pkg/__init__.py`` whose hook imports its classes from ``pkg/impl.py`` (case 1)."""
    return textwrap.dedent(f"""\
        from openhcs_registry import hookimpl

        @hookimpl
        def provide_things():
            from .{impl} import CLASSES
            return CLASSES
        """)


def package_impl(spec: str, opt: str, variant: int) -> str:
    """``impl.py`` for :func:`package_init`: classes (and failures) without a hook."""
    text = module_source(spec, opt, variant, hook=False)
    body, names = _classes(variant // 16, opt, wrong_type_ok=False)
    del body
    return text + f"CLASSES = [{', '.join(names)}]\n"


SPEC = '''\
from typing import ClassVar
from openhcs_registry import AutoRegistered, LazyDiscoveryDict, RegistryConfig, SecondaryRegistryConfig, hookspec


class Thing(AutoRegistered):
    __registry_name__ = {name!r}
    kind: ClassVar[str | None] = None
    partner: ClassVar[object] = None
    requires_gpu: ClassVar[bool] = False


@hookspec
def provide_things():
    """Return Thing subclasses."""


CONFIG = RegistryConfig(
    name={name!r},
    hookspec=provide_things,
    base_class=Thing,
    key_attribute="kind",
    entry_point_group={group!r},
    discovery_packages=({package!r},),
    secondary_registries=(SecondaryRegistryConfig("{name}_partner", attribute="partner"),),
)
REGISTRY = LazyDiscoveryDict(CONFIG)
PARTNERS = REGISTRY.secondary("{name}_partner")
'''

LISTING = r"""
import json
from {spec} import REGISTRY, PARTNERS

def ref(value):
    return getattr(value, "__module__", "?") + ":" + getattr(value, "__qualname__", "?")

def resolve(mapping, key):
    try:
        return ref(mapping[key])
    except KeyError:
        return None

keys = sorted(REGISTRY)
source = REGISTRY.source
prov = {{}}
for key in keys:
    info = REGISTRY.info(key)
    prov[key] = [info.get(f) for f in ("plugin", "origin", "distribution", "version", "file")]
vals = {{key: resolve(REGISTRY, key) for key in keys}}
parts = {{key: resolve(PARTNERS, key) for key in sorted(PARTNERS)}}
print(json.dumps({{
    "keys": keys,
    "source": source,
    "vals": vals,
    "prov": prov,
    "parts": parts,
    "fails": sorted([f.plugin, f.kind, f.key or ""] for f in REGISTRY.failures),
    "skipped": sorted([f.plugin, f.kind, f.key or ""] for f in REGISTRY.skipped),
}}))
"""

COMPARED = ("keys", "vals", "prov", "parts", "fails", "skipped")


# -- wheels ------------------------------------------------------------------------------------


def _record_hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def build_wheel(
    folder: Path, dist: str, version: str, files: dict[str, str], entry_points: str
) -> Path:
    """Write a pure-Python wheel by hand: *files* plus a dist-info pip accepts."""
    name = dist.replace("-", "_")
    info = f"{name}-{version}.dist-info"
    contents = dict(files)
    contents[f"{info}/METADATA"] = f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n"
    contents[f"{info}/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: never-stale-model\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n"
    )
    if entry_points:
        contents[f"{info}/entry_points.txt"] = entry_points
    record = [
        f"{path},{_record_hash(text.encode())},{len(text.encode())}"
        for path, text in contents.items()
    ]
    record.append(f"{info}/RECORD,,")
    contents[f"{info}/RECORD"] = "\n".join(record) + "\n"
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, text in contents.items():
            zf.writestr(path, text)
    return wheel


def outer_site_folders() -> list[str]:
    """The site folders of the running interpreter (where openhcs-registry and pip live)."""
    folders: list[str] = []
    for path in (sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]):
        if path not in folders and os.path.isdir(path):
            folders.append(path)
    user = site.getusersitepackages()
    if site.ENABLE_USER_SITE and os.path.isdir(user) and user not in folders:
        folders.append(user)
    return folders


# -- the world ---------------------------------------------------------------------------------


class ModelWorld:
    """One registry in one throwaway virtualenv; operations change it, check() compares."""

    def __init__(self, root: Path, settle: bool = False) -> None:
        self.root = root
        self.tag = uuid.uuid4().hex[:6]
        self.name = f"mthings_{self.tag}"
        self.group = f"mgrp_{self.tag}"
        self.spec = f"mspec_{self.tag}"
        self.pkg = f"dpk_{self.tag}"
        self.opt = f"opt_{self.tag}"
        root.mkdir(parents=True, exist_ok=True)
        venv = root / "venv"
        subprocess.run(
            [sys.executable, "-m", "venv", "--without-pip", str(venv)],
            check=True,
            capture_output=True,
        )
        self.python = str(venv / "bin" / "python")
        self.site = Path(
            subprocess.run(
                [self.python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
        )
        lines = "; ".join(f"site.addsitedir({p!r})" for p in outer_site_folders())
        (self.site / "_openhcs_outer.pth").write_text(f"import site; {lines}\n")
        (self.site / f"{self.spec}.py").write_text(
            SPEC.format(name=self.name, group=self.group, package=self.pkg)
        )
        self.cache = root / "cache"
        self.wheels = root / "wheels"
        self.pp = [root / "p1", root / "p2"]
        self.cwds = [root / "cwd0", root / "cwd1"]
        self.unrelated = root / "unrelated"
        self.src = root / "src" / "ed0"
        self.extra = root / "extra"
        for folder in (*self.pp, *self.cwds, self.unrelated, self.src, self.extra):
            folder.mkdir(parents=True, exist_ok=True)
        # the editable install's source, and the .pth-reached folder with its own dist-info
        self._write(self.src / f"ed0_{self.tag}.py", self._plugin(9))
        self._write(self.extra / f"ex_{self.tag}.py", self._plugin(17))
        self._write(self.extra / f"ex2_{self.tag}.py", self._plugin(26))
        info = self.extra / "ex_plugin-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ex-plugin\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[{self.group}]\nex = ex_{self.tag}\n")
        # many unchanging plugins, laid out as pip does (module + .dist-info); some import
        # the helper chain
        self._write(self.site / f"chi_{self.tag}.py", "KEY = 'k0'\n")
        self._write(self.site / f"chm_{self.tag}.py", f"import chi_{self.tag}\n")
        self._write(self.site / f"chs_{self.tag}.py", f"from chi_{self.tag} import KEY\n")
        for i in range(STATIC):
            self._write(self.site / f"st{i}_{self.tag}.py", self._static(i, "s"))
            info = self.site / f"st{i}_plugin-1.0.dist-info"
            info.mkdir()
            (info / "METADATA").write_text(
                f"Metadata-Version: 2.1\nName: st{i}-plugin\nVersion: 1.0\n"
            )
            (info / "entry_points.txt").write_text(f"[{self.group}]\nst{i} = st{i}_{self.tag}\n")
        # a plugin package that imports the modules it lists (pkgutil.iter_modules): the
        # operation ``listed`` adds, edits and removes them
        self._write(self.site / f"lp_{self.tag}" / "__init__.py", LISTED_INIT)
        self._write(self.site / f"lp_{self.tag}" / "m0.py", self._listed_module(0, 0))
        info = self.site / "lp_plugin-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lp-plugin\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[{self.group}]\nlp = lp_{self.tag}\n")
        # plugins reading data files (DATA_PLUGINS), with one key each to start with
        self.etc = root / "etc"
        self._write(
            self.site / f"df_{self.tag}" / "__init__.py", DATA_FILE_INIT.format(spec=self.spec)
        )
        self._write(self.site / f"df_{self.tag}" / "keys.txt", data_keys("d", 0))
        for short, init in (("gf", GLOB_INIT), ("lf", LISTDIR_INIT)):
            self._write(
                self.site / f"{short}_{self.tag}" / "__init__.py", init.format(spec=self.spec)
            )
            self._write(self.site / f"{short}_{self.tag}" / "formats" / "x0.fmt", "")
        self._write(
            self.site / f"cf_{self.tag}.py",
            CONFIG_MODULE.format(spec=self.spec, config=str(self.etc / "cf.cfg")),
        )
        self._write(self.site / f"rf_{self.tag}.py", RELATIVE_MODULE.format(spec=self.spec))
        self.flavour = 0  # MFLAVOUR_<TAG>: unset, "a" or "b"
        self.own = False  # MOWN_<TAG> set
        flavour_var, own_var = f"MFLAVOUR_{self.tag.upper()}", f"MOWN_{self.tag.upper()}"
        helper = f"evh_{self.tag}"
        self._write(self.site / f"{helper}.py", FLAVOUR_HELPER.format(var=flavour_var))
        for short in ("ea", "eb"):
            self._write(
                self.site / f"{short}_{self.tag}.py",
                FLAVOUR_MODULE.format(spec=self.spec, helper=helper, short=short),
            )
        self._write(
            self.site / f"ec_{self.tag}.py",
            OWN_VARIABLE_MODULE.format(spec=self.spec, var=own_var),
        )
        self.etc.mkdir()
        for short in DATA_PLUGINS:
            info = self.site / f"{short}_plugin-1.0.dist-info"
            info.mkdir()
            (info / "METADATA").write_text(
                f"Metadata-Version: 2.1\nName: {short}-plugin\nVersion: 1.0\n"
            )
            (info / "entry_points.txt").write_text(
                f"[{self.group}]\n{short} = {short}_{self.tag}\n"
            )
        # a regular discovery package in p1 with one module to start with
        self._write(self.pp[0] / self.pkg / "__init__.py", "")
        self._write(self.pp[0] / self.pkg / "m0.py", self._discovery(8))
        self.order = [0, 1]  # PYTHONPATH: indices into self.pp
        self.launch = 0  # 0: python -c, 1: a script in cwd1, 2: python -m from the cwd
        self.cwd = 0
        self.no_gpu = False
        self.no_entry_points = False
        self.installed: dict[int, int] = {}  # plugin dist -> installed version
        self.editable = False
        self.optdep = False
        self.optdep_installs = 0
        self.sub = 0  # the version of sub-plugin installed (0: none)
        self.previous: list[tuple[Path, bytes | None, tuple[int, int] | None]] = []
        self.ops: list[Op] = []
        self.cache_hits = 0
        self.checks = 0
        #: whether :meth:`check` also asks that one change cost one rediscovery
        self.settle = settle
        self.pip_ops = 0

    # -- helpers ---------------------------------------------------------------------------
    def _plugin(self, variant: int) -> str:
        return module_source(self.spec, self.opt, variant, hook=True)

    def _static(self, i: int, prefix: str) -> str:
        """Static plugin *i*: one class keyed ``<prefix><i>`` (same size for s and t); the
        helper chain's plugins import it (see :data:`CHAIN_FIRST`)."""
        head = key = more = ""
        if i in CHAIN_FIRST:
            head = f"import chm_{self.tag}  # noqa\nimport chs_{self.tag}  # noqa\n"
        elif i in CHAIN_KEYED:
            head, key = f"from chs_{self.tag} import KEY as CHAIN\n", " + CHAIN"
        elif i == GATHERING:
            head = "from importlib.metadata import entry_points\n"
            more = f", *(ep.load() for ep in entry_points(group='{self.group}_sub'))"
        elif i == OPT_IMPORTER:
            head = f"try:\n    import {self.opt}  # noqa\nexcept ImportError:\n    pass\n"
        elif i == OPT_PROBER:
            head = (
                "import importlib.util\n"
                f"FOUND = 'y' if importlib.util.find_spec({self.opt!r}) else 'n'\n"
            )
            key = " + FOUND"
        elif i == VERSIONED:
            head = (
                "from importlib.metadata import PackageNotFoundError, version\n"
                "try:\n    DEP = version('optdep').replace('.', '')\n"
                "except PackageNotFoundError:\n    DEP = ''\n"
            )
            key = " + DEP"
        return (
            f"{head}from openhcs_registry import hookimpl\n"
            f"from {self.spec} import Thing\n\n"
            f"class S{i}(Thing):\n    kind = '{prefix}{i}'{key}\n\n"
            f"@hookimpl\ndef provide_things():\n    return [S{i}{more}]\n"
        )

    def _listed_module(self, slot: int, variant: int) -> str:
        """A module of the listing plugin's package: one class, keyed by slot and variant."""
        return (
            f"from {self.spec} import Thing\n\n"
            f"class L(Thing):\n    kind = 'l{slot}v{variant}'\n\nCLASSES = [L]\n"
        )

    def _discovery(self, variant: int) -> str:
        return module_source(self.spec, self.opt, variant, hook=False)

    def _remember(self, path: Path) -> None:
        """Keep *path*'s text and times so restore_previous can put them back (tar x)."""
        if path.is_file():
            st = path.stat()
            self.previous.append((path, path.read_bytes(), (st.st_atime_ns, st.st_mtime_ns)))
        else:
            self.previous.append((path, None, None))

    def _write(self, path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    def _edit(self, path: Path, text: str) -> None:
        self.previous = []
        self._remember(path)
        self._write(path, text)

    def _remove(self, path: Path) -> None:
        if path.is_file():
            self.previous = []
            self._remember(path)
            path.unlink()

    def plugin_files(self) -> list[Path]:
        """Every plugin-ish ``.py`` file of the world, sorted (targets of generic edits)."""
        found: list[Path] = []
        for base in (*self.pp, *self.cwds, self.src, self.extra):
            found += [p for p in base.rglob("*.py") if "__pycache__" not in p.parts]
        found += sorted(self.site.glob(f"pd*_{self.tag}*.py"))
        found += sorted(self.site.glob(f"pd*_{self.tag}/*.py"))
        return sorted({p for p in found if not p.name.startswith("mlist_")})

    def _pip(self, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON"))}
        env["PIP_CONFIG_FILE"] = os.devnull
        cmd = [self.python, "-m", "pip", "--disable-pip-version-check", "-q", *args]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise RuntimeError(f"pip {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
        self.pip_ops += 1

    def _install(self, wheel: Path) -> None:
        self._pip(
            "install", "--no-deps", "--no-index", "--no-compile", "--force-reinstall", str(wheel)
        )

    # -- operations ------------------------------------------------------------------------
    def apply(self, op: Op) -> None:
        self.ops.append(op)
        getattr(self, "op_" + op[0])(*op[1:])

    def _slot(self, where: int, slot: int) -> Path:
        """Discovery module *slot* in PYTHONPATH folder *where*: m0-m3, or sub/s.py."""
        name = "sub/s.py" if slot == 4 else f"m{slot}.py"
        return self.pp[where] / self.pkg / name

    def op_disc_write(self, where: int, slot: int, variant: int) -> None:
        self._edit(self._slot(where, slot), self._discovery(variant))

    def op_disc_remove(self, where: int, slot: int) -> None:
        self._remove(self._slot(where, slot))

    def op_disc_rename(self, where: int, slot: int, to: int) -> None:
        src = self._slot(where, slot)
        dst = self._slot(where, to)
        if src.is_file() and src != dst:
            self.previous = []
            self._remember(src)
            self._remember(dst)
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)

    def op_init_toggle(self, where: int) -> None:
        init = self.pp[where] / self.pkg / "__init__.py"
        if init.exists():
            self._remove(init)
        else:
            self._edit(init, "")

    def op_init_write(self, where: int, variant: int) -> None:
        self._edit(self.pp[where] / self.pkg / "__init__.py", self._discovery(variant))

    def op_sub_init_toggle(self, where: int) -> None:
        init = self.pp[where] / self.pkg / "sub" / "__init__.py"
        if init.exists():
            self._remove(init)
        else:
            self._edit(init, "")

    def _pick(self, index: int) -> Path | None:
        files = self.plugin_files()
        return files[index % len(files)] if files else None

    def op_same_size_edit(self, index: int, restore_mtime: int) -> None:
        path = self._pick(index)
        if path is None:
            return
        text = path.read_text()
        match = re.search(r"kind = '([a-d])'", text)
        if match is None:
            return
        new = KEYS[(KEYS.index(match.group(1)) + 1) % 4]
        st = path.stat()
        self._edit(path, text[: match.start(1)] + new + text[match.end(1) :])
        if restore_mtime:
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))

    def op_rewrite_keep_mtime(self, index: int, variant: int) -> None:
        path = self._pick(index)
        if path is None or path.name == "__init__.py":
            return
        st = path.stat()
        hook = "hookimpl" in path.read_text()
        self._edit(path, self._plugin(variant) if hook else self._discovery(variant))
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))

    def op_restore_previous(self) -> None:
        for path, data, times in reversed(self.previous):
            if data is None:
                if path.is_file():
                    path.unlink()
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
                assert times is not None
                os.utime(path, ns=times)
        self.previous = []

    def op_site_edit(self, dist: int, variant: int) -> None:
        if dist not in self.installed:
            return
        single = self.site / f"pd{dist}_{self.tag}.py"
        if single.is_file():
            self._edit(single, self._plugin(variant))
        else:
            self._edit(
                self.site / f"pd{dist}_{self.tag}" / "impl.py",
                package_impl(self.spec, self.opt, variant),
            )

    def op_static_edit(self, i: int, variant: int) -> None:
        """Replace static plugin *i* by a variant (or back to its original, variant 0)."""
        text = self._static(i, "s") if variant == 0 else self._plugin(variant)
        self._edit(self.site / f"st{i}_{self.tag}.py", text)

    def op_static_offers(self, i: int, variant: int) -> None:
        """Static plugin *i* offering something else, importing what it imported: its
        original (variant 0), the key ``u<i>`` (1), a second class ``X<i>`` keyed ``x<i>``
        whose partner is ``S<i>`` (2), its class renamed ``Renamed<i>`` (3)."""
        text = self._static(i, "s")
        if variant == 1:
            text = text.replace(f"kind = 's{i}'", f"kind = 'u{i}'")
        elif variant == 2:
            module = f"st{i}_{self.tag}"
            extra = f"class X{i}(Thing):\n    kind = 'x{i}'\n    partner = '{module}:S{i}'\n\n"
            text = text.replace("@hookimpl", extra + "@hookimpl").replace(
                f"return [S{i}", f"return [S{i}, X{i}"
            )
        elif variant == 3:
            text = text.replace(f"S{i}", f"Renamed{i}")
        self._edit(self.site / f"st{i}_{self.tag}.py", text)

    def op_static_reads(self, i: int, variant: int) -> None:
        """Static plugin *i* reading something else, offering what it offered: its original
        (variant 0), importing the helper chain's ``chm`` first (1: the chain's rows, read
        by other plugins too), ``colorsys`` (2), a module that is not there (3: it fails to
        import before defining its class), a module of the first ``PYTHONPATH`` folder
        written now if it is not there (4: a name no record looked up appears with the
        edit)."""
        head = [
            "",
            f"import chm_{self.tag}  # noqa\n",
            "import colorsys  # noqa\n",
            f"import missing_{self.tag}  # noqa\n",
            f"import nt_{self.tag}  # noqa\n",
        ][variant]
        # (records of this world look into both folders, so the start after it takes the
        # general path; tests/test_replaced.py has worlds where the edit's path takes it)
        beside = self.pp[0] / f"nt_{self.tag}.py"
        if variant == 4 and not beside.exists():
            self._write(beside, "VALUE = 1\n")
        self._edit(self.site / f"st{i}_{self.tag}.py", head + self._static(i, "s"))

    def op_chain_edit(self, variant: int) -> None:
        """Rewrite the helper chain's ``chi``: the keys of :data:`CHAIN_KEYED` change.  Its
        size changes too: Python would run the old bytecode after a same-size edit in the
        same second (the same_size_edit operations are about that)."""
        path = self.site / f"chi_{self.tag}.py"
        text = f"KEY = 'k{variant}'\n"
        if len(text) == path.stat().st_size:
            text += "\n"
        self._edit(path, text)

    def op_static_same_size_edit(self, i: int) -> None:
        """Key s<i> <-> t<i> in place, same size, mtime put back (rsync -a of a new build)."""
        path = self.site / f"st{i}_{self.tag}.py"
        text = path.read_text()
        new = (
            text.replace(f"'s{i}'", f"'t{i}'")
            if f"'s{i}'" in text
            else text.replace(f"'t{i}'", f"'s{i}'")
        )
        if new == text:
            return
        st = path.stat()
        self._edit(path, new)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))

    def op_editable_edit(self, variant: int) -> None:
        self._edit(self.src / f"ed0_{self.tag}.py", self._plugin(variant))

    def op_extra_edit(self, variant: int) -> None:
        self._edit(self.extra / f"ex_{self.tag}.py", self._plugin(variant))

    def op_ep_edit(self, second: int) -> None:
        eps = self.extra / "ex_plugin-1.0.dist-info" / "entry_points.txt"
        lines = [f"[{self.group}]", f"ex = ex_{self.tag}"]
        if second:
            lines.append(f"ex2 = ex2_{self.tag}")
        with open(eps, "r+") as fh:  # in place: the folder's mtime does not move
            fh.truncate(0)
            fh.write("\n".join(lines) + "\n")

    def op_cwd(self, which: int) -> None:
        self.cwd = which

    def op_cwd_file(self, which: int, what: int, variant: int) -> None:
        folder = self.cwds[which]
        if what == 0:  # the optional dependency, saved next to the script
            path = folder / f"{self.opt}.py"
            self._remove(path) if path.exists() else self._edit(path, "")
        elif what == 1:  # a module shadowing an installed plugin module
            path = folder / f"pd0_{self.tag}.py"
            self._remove(path) if path.exists() else self._edit(path, self._plugin(variant))
        elif what == 2:  # a discovery package in the launch folder
            path = folder / self.pkg / "__init__.py"
            if path.exists():
                shutil.rmtree(folder / self.pkg)
                self.previous = []
            else:
                self._edit(path, "")
                self._write(folder / self.pkg / "lm.py", self._discovery(variant))
        else:
            self._edit(folder / "unrelated.py", f"X = {variant}\n")

    def op_pythonpath(self, which: int) -> None:
        self.order = [[0, 1], [1, 0], [0]][which]

    def op_env_no_gpu(self) -> None:
        self.no_gpu = not self.no_gpu

    def op_env_no_entry_points(self) -> None:
        self.no_entry_points = not self.no_entry_points

    def op_env_flavour(self, value: int) -> None:
        self.flavour = value

    def op_env_own(self) -> None:
        self.own = not self.own

    def op_opt_toggle(self, where: int) -> None:
        folder = [self.pp[0], self.pp[1], self.cwds[0], self.site][where]
        path = folder / f"{self.opt}.py"
        self._remove(path) if path.exists() else self._edit(path, "")

    def op_pth_toggle(self) -> None:
        pth = self.site / f"extra_{self.tag}.pth"
        self._remove(pth) if pth.exists() else self._edit(pth, f"{self.extra}\n")

    def op_finder(self, what: int) -> None:
        """Toggle the finder (its ``.pth`` and module), or (*what* 1, if it is there) rewrite
        its module in place to map the optional dependency, or not (``.pth`` untouched)."""
        pth = self.site / f"__editable__.optf_{self.tag}-1.0.pth"
        module = self.site / f"__editable___optf_{self.tag}_finder.py"
        target = self.root / "optsrc" / self.opt
        if not (target / "__init__.py").exists():
            self._write(target / "__init__.py", "")
        if what and module.exists():
            mapped = f"{self.opt!r}: {str(target)!r}" in module.read_text()
            self._edit(module, editable_finder("" if mapped else f"{self.opt!r}: {str(target)!r}"))
        elif pth.exists():
            self._remove(pth)
            self._remove(module)
        else:
            self._edit(module, editable_finder(f"{self.opt!r}: {str(target)!r}"))
            self._edit(pth, f"import {module.stem}; {module.stem}.install()\n")

    def op_pip_install(self, dist: int, variant: int) -> None:
        version = self.installed.get(dist, 0) + 1
        module = f"pd{dist}_{self.tag}"
        if (dist + variant // 512) % 2:  # a package whose hook imports from a submodule
            files = {
                f"{module}/__init__.py": package_init(),
                f"{module}/impl.py": package_impl(self.spec, self.opt, variant),
            }
        else:
            files = {f"{module}.py": self._plugin(variant)}
        eps = f"[{self.group}]\npd{dist} = {module}\n"
        wheel = build_wheel(self.wheels, f"pd{dist}-plugin", f"{version}.0", files, eps)
        self._install(wheel)
        self.installed[dist] = version
        self.previous = []

    def op_pip_uninstall(self, dist: int) -> None:
        if dist in self.installed:
            self._pip("uninstall", "-y", f"pd{dist}-plugin")
            del self.installed[dist]
            self.previous = []

    def op_pip_editable(self) -> None:
        if self.editable:
            self._pip("uninstall", "-y", "ed0-plugin")
        else:
            files = {"__editable__.ed0_plugin-1.0.pth": f"{self.src}\n"}
            eps = f"[{self.group}]\ned0 = ed0_{self.tag}\n"
            self._install(build_wheel(self.wheels, "ed0-plugin", "1.0", files, eps))
        self.editable = not self.editable
        self.previous = []

    def op_pip_optdep(self) -> None:
        if self.optdep:
            self._pip("uninstall", "-y", "optdep")
        else:
            files = {f"{self.opt}/__init__.py": ""}
            self.optdep_installs += 1  # (each install another version: VERSIONED's key)
            version = f"{self.optdep_installs}.0"
            self._install(build_wheel(self.wheels, "optdep", version, files, ""))
        self.optdep = not self.optdep
        self.previous = []

    def op_listed(self, slot: int, variant: int) -> None:
        """Write (variant 0-2) or remove (3) module *slot* of the listing plugin's package."""
        path = self.site / f"lp_{self.tag}" / f"m{slot}.py"
        if variant == 3:
            self._remove(path)
        else:
            self._edit(path, self._listed_module(slot, variant))

    def op_data_file(self, variant: int) -> None:
        """Remove ``df``'s ``keys.txt`` (variant 0), or write variant 1-3's keys in place (the
        world starts with ``data_keys("d", 0)``, which no variant writes)."""
        path = self.site / f"df_{self.tag}" / "keys.txt"
        if variant == 0:
            self._remove(path)
        else:
            self._edit(path, data_keys("d", variant))

    def op_data_listed(self, slot: int, which: int) -> None:
        """Add ``formats/x<slot>.fmt`` to ``gf`` (*which* 0, glob) or ``lf`` (1, os.listdir),
        or remove it if it is there (``x0.fmt`` is at the start)."""
        path = self.site / f"{('gf', 'lf')[which]}_{self.tag}" / "formats" / f"x{slot}.fmt"
        if path.exists():
            self._remove(path)
        else:
            self._edit(path, "")

    def op_config_toggle(self, variant: int) -> None:
        """Create ``cf``'s config file with variant 0-2's keys, or remove it if it is there."""
        path = self.etc / "cf.cfg"
        if path.exists():
            self._remove(path)
        else:
            self._edit(path, data_keys("c", variant))

    def op_relative_toggle(self, where: int, variant: int) -> None:
        """Create ``rf.cfg`` in cwd *where* with variant 0-2's keys, or remove it."""
        path = self.cwds[where] / "rf.cfg"
        if path.exists():
            self._remove(path)
        else:
            self._edit(path, data_keys("r", variant))

    def op_pip_sub(self, what: int) -> None:
        if what:
            if self.sub:
                self._pip("uninstall", "-y", "sub-plugin")
                self.sub = 0
        else:
            self.sub += 1
            module = f"sb_{self.tag}"
            files = {
                f"{module}.py": f"from {self.spec} import Thing\n\n"
                f"class SB(Thing):\n    kind = 'sb{self.sub}'\n"
            }
            eps = f"[{self.group}_sub]\nsb = {module}:SB\n"
            self._install(build_wheel(self.wheels, "sub-plugin", f"{self.sub}.0", files, eps))
        self.previous = []

    def op_helper_write(self, where: int, variant: int) -> None:
        folder = [self.pp[0], self.pp[1], self.cwds[0]][where]
        self._edit(folder / f"hlp_{self.tag}.py", self._discovery(variant))

    def op_helper_remove(self, where: int) -> None:
        folder = [self.pp[0], self.pp[1], self.cwds[0]][where]
        self._remove(folder / f"hlp_{self.tag}.py")

    def op_pkg_move(self, where: int) -> None:
        src = self.pp[where] / self.pkg
        dst = self.pp[1 - where] / self.pkg
        if src.is_dir() and not dst.exists():
            os.replace(src, dst)
            self.previous = []

    def op_link_toggle(self) -> None:
        link = self.pp[0] / self.pkg / "lnk.py"
        target = self.unrelated / "link_target.py"
        if link.is_symlink():
            link.unlink()
        else:
            if not target.exists():
                self._write(target, self._discovery(16 * 5))
            link.parent.mkdir(parents=True, exist_ok=True)
            if link.exists():
                link.unlink()
            link.symlink_to(target)
        self.previous = []

    def op_link_target_edit(self, variant: int) -> None:
        """Edit the file a discovery module links to (the link itself does not change)."""
        self._edit(self.unrelated / "link_target.py", self._discovery(variant))

    def op_launch(self, mode: int) -> None:
        self.launch = mode

    def op_drop_bytecode(self) -> None:
        """Delete every ``__pycache__`` (``make clean``, ``git clean -fdx``, a fresh image).

        Not in :data:`OPS`: after a same-size edit with the mtime put back, Python itself
        keeps importing the old bytecode (its check is mtime + size), so fresh discovery and
        the document agree on the old answer until the bytecode goes; the document is then
        stale (a known limit, pinned as an xfail in tests/test_never_stale_model.py).
        """
        for base in (self.site, *self.pp, *self.cwds, self.src, self.extra):
            for cache in sorted(base.rglob("__pycache__"), reverse=True):
                shutil.rmtree(cache, ignore_errors=True)

    def op_nothing(self) -> None:
        pass

    def op_unrelated(self, what: int) -> None:
        if what:
            (self.unrelated / f"note{len(self.ops)}.txt").write_text("x\n")
        else:
            self._write(self.cwds[self.cwd] / "notes.txt", f"{len(self.ops)}\n")

    # -- observing -------------------------------------------------------------------------
    def env(self, fresh: bool) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("OPENHCS_", "PYTHON", "VIRTUAL_ENV", "PIP_"))
        }
        env["PYTHONPATH"] = os.pathsep.join(str(self.pp[i]) for i in self.order)
        env["OPENHCS_CACHE_DIR"] = str(self.cache)
        if self.no_gpu:
            env["OPENHCS_SUBPROCESS_NO_GPU"] = "1"
        if self.no_entry_points:
            env["OPENHCS_DISABLE_ENTRY_POINTS"] = "1"
        env.pop(f"MFLAVOUR_{self.tag.upper()}", None)
        env.pop(f"MOWN_{self.tag.upper()}", None)
        if self.flavour:
            env[f"MFLAVOUR_{self.tag.upper()}"] = "ab"[self.flavour - 1]
        if self.own:
            env[f"MOWN_{self.tag.upper()}"] = ""
        if fresh:
            env["OPENHCS_DISABLE_REGISTRY_CACHE"] = "1"
        return env

    def _argv(self) -> list[str]:
        code = LISTING.format(spec=self.spec)
        if self.launch == 0:
            return [self.python, "-c", code]
        if self.launch == 1:  # a script: its folder (cwd1) comes first on sys.path
            script = self.root / "cwd1" / f"mlist_{self.tag}.py"
        else:  # python -m: the cwd comes first (as a full path)
            script = self.cwds[self.cwd] / f"mlist_{self.tag}.py"
        if not script.exists():
            script.write_text(code)
        if self.launch == 1:
            return [self.python, str(script)]
        return [self.python, "-m", f"mlist_{self.tag}"]

    def observe(self, fresh: bool) -> dict[str, Any]:
        proc = subprocess.run(
            self._argv(),
            env=self.env(fresh),
            cwd=self.cwds[self.cwd],
            capture_output=True,
            text=True,
            timeout=120,
        )
        lines = proc.stdout.strip().splitlines()
        if proc.returncode != 0 or not lines:
            return {"crash": proc.returncode, "stderr": proc.stderr[-2000:]}
        result: dict[str, Any] = json.loads(lines[-1])
        return result

    def check(self) -> dict[str, Any] | None:
        """Warm listing vs fresh discovery, in new processes; the differences, or None.

        With :attr:`settle`, a warm start that discovered (some of) the registry again must have
        written a document the next start takes as it is: one change costs one rediscovery
        (else ``{"unsettled": ...}``).  The fresh discovery between the two writes nothing.
        """
        warm = self.observe(fresh=False)
        fresh = self.observe(fresh=True)
        self.checks += 1
        if warm.get("source") == "cache":
            self.cache_hits += 1
        if "crash" in warm or "crash" in fresh:
            return {"warm": warm, "fresh": fresh}
        diff = {f: (warm[f], fresh[f]) for f in COMPARED if warm[f] != fresh[f]}
        if diff:
            diff["warm_source"] = warm["source"]
            return diff
        if self.settle and warm.get("source") != "cache":
            again = self.observe(fresh=False)
            if again.get("source") != "cache":
                return {"unsettled": again.get("source"), "again": again}
        return None

    def describe(self) -> str:
        return (
            f"PYTHONPATH order {self.order}, cwd{self.cwd}, launch {self.launch}, "
            f"no_gpu={self.no_gpu}, "
            f"no_entry_points={self.no_entry_points}, flavour={self.flavour}, own={self.own}, "
            f"installed={self.installed}, "
            f"editable={self.editable}, optdep={self.optdep}, sub={self.sub}"
        )

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def replay(root: Path, ops: list[Op], settle: bool = False) -> dict[str, Any] | None:
    """Apply *ops* to a new world, checking after each; the first divergence (or None)."""
    world = ModelWorld(root, settle)
    try:
        world.check()
        for op in ops:
            world.apply(op)
            diff = world.check()
            if diff is not None:
                return diff
        return None
    finally:
        world.close()
