"""Test support: real plugin worlds on disk (modules, packages, installed distributions).

A :class:`World` is a temporary site folder holding a registry contract module, plugin
packages and ``.dist-info`` folders with ``entry_points.txt`` — the same things pip leaves
behind — so discovery runs against real files, in this process or in a fresh subprocess.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
import threading
import uuid
from pathlib import Path
from typing import Any

SPEC_TEMPLATE = '''
from typing import ClassVar
from openhcs_registry import AutoRegistered, LazyDiscoveryDict, RegistryConfig, SecondaryRegistryConfig, hookspec
from openhcs_hookspecs import skip_gpu  # a third-party contract reusing OpenHCS's rule


class Thing(AutoRegistered):
    __registry_name__ = {name!r}
    kind: ClassVar[str | None] = None
    partner: ClassVar[str | None] = None
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
    discovery_packages={packages!r},
    secondary_registries=(SecondaryRegistryConfig("{name}_partner", attribute="partner"),),
    skip=skip_gpu,
    {extra}
)
REGISTRY = LazyDiscoveryDict(CONFIG)
PARTNERS = REGISTRY.secondary("{name}_partner")
'''


def walk_seeds(variable: str, default: tuple[int, ...] = (1, 2, 3)) -> list[int]:
    """The seeds of a seeded random walk: environment variable *variable*'s ``first-last``
    (or one seed) for a longer walk, else *default*."""
    given = os.environ.get(variable, "")
    if not given:
        return list(default)
    first, _, last = given.partition("-")
    return list(range(int(first), int(last or first) + 1))


def plain_document(doc: dict[str, Any]) -> dict[str, Any]:
    """A registry cache document as JSON gives it, in its plain form: the answer's fields
    as discovery builds them, the cold part's file rows as rows, without what the writer
    derives (see ``_cache.pack``)."""
    from openhcs_registry._cache import rows_of, unpack

    cold = doc.get("cold")
    if type(cold) is dict:
        cold = {k: v for k, v in cold.items() if k not in ("reads", "recat")}
        cold["files"] = rows_of(doc["files"], cold["files"])
        doc["cold"] = cold
    return {**doc, **unpack(doc)}


class World:
    """A throwaway registry with its own entry-point group, contract module and site folder."""

    def __init__(self, root: Path, cache_dir: Path | None = None) -> None:
        self.tag = uuid.uuid4().hex[:8]
        self.root = root
        self.site = root / f"site_{self.tag}"
        self.site.mkdir(parents=True)
        self.cache_dir = cache_dir or root / "cache"
        self.name = f"things_{self.tag}"
        self.group = f"grp_{self.tag}"
        self.spec = f"spec_{self.tag}"

    # -- writing ---------------------------------------------------------------------------
    def write_spec(self, packages: tuple[str, ...] = (), **extra: Any) -> None:
        extra_src = "".join(f"{k}={v!r}, " for k, v in extra.items())
        source = SPEC_TEMPLATE.format(
            name=self.name, group=self.group, packages=tuple(packages), extra=extra_src
        )
        self.write(f"{self.spec}.py", source)

    def write(self, relpath: str, source: str) -> Path:
        path = self.site / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source).lstrip())
        importlib.invalidate_caches()
        return path

    def plugin_source(self, *classes: tuple[str, str], extra: str = "", hook: bool = True) -> str:
        """A plugin module defining Thing subclasses (name, key) and a hookimpl returning them."""
        lines = [
            "from openhcs_registry import hookimpl",
            f"from {self.spec} import Thing",
            "",
        ]
        for cls, key in classes:
            lines += [f"class {cls}(Thing):", f"    kind = {key!r}", ""]
        if hook:
            names = ", ".join(cls for cls, _ in classes)
            lines += ["@hookimpl", "def provide_things():", f"    return [{names}]", ""]
        return "\n".join(lines) + textwrap.dedent(extra)

    def install(
        self,
        dist: str,
        module: str,
        source: str,
        *,
        version: str = "1.0",
        ep_name: str | None = None,
        group: str | None = None,
    ) -> Path:
        """Install a one-module distribution the way pip lays it out (module + .dist-info)."""
        self.write(f"{module}.py", source)
        return self.add_dist_info(dist, version, {ep_name or module: module}, group=group)

    def add_dist_info(
        self, dist: str, version: str, eps: dict[str, str], group: str | None = None
    ) -> Path:
        info = self.site / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        lines = [f"[{group or self.group}]"] + [f"{k} = {v}" for k, v in eps.items()]
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
        (info / "top_level.txt").write_text(
            "\n".join(sorted({v.split(".")[0] for v in eps.values()})) + "\n"
        )
        importlib.invalidate_caches()
        return info

    def uninstall(self, dist: str, version: str = "1.0") -> None:
        import shutil

        shutil.rmtree(self.site / f"{dist.replace('-', '_')}-{version}.dist-info")
        importlib.invalidate_caches()

    # -- using -----------------------------------------------------------------------------
    def activate(self, monkeypatch: Any) -> None:
        monkeypatch.syspath_prepend(str(self.site))
        monkeypatch.setenv("OPENHCS_CACHE_DIR", str(self.cache_dir))
        importlib.invalidate_caches()

    def registry(self) -> Any:
        return importlib.import_module(self.spec).REGISTRY

    def partners(self) -> Any:
        return importlib.import_module(self.spec).PARTNERS

    @property
    def cache_file(self) -> Path:
        return self.cache_dir / f"{self.name}_registry.json"

    def read_cache(self) -> dict[str, Any]:
        """The cache document, its answer's fields in their plain form (``items`` as
        ``{key: {"ref", "p"}}``, ``modules`` as ``{module: row}``, the cold part's file
        rows as rows, without what the writer derives: see ``_cache.pack``)."""
        return plain_document(json.loads(self.cache_file.read_text()))

    def write_cache(self, doc: dict[str, Any]) -> None:
        """Write *doc* (as :meth:`read_cache` gives it) as the engine would, with a valid
        checksum: a deliberate edit."""
        from openhcs_registry._cache import pack
        from openhcs_registry._fileio import encode_document

        self.cache_file.write_bytes(encode_document(pack(doc)))
        os.chmod(self.cache_file, 0o600)

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(self.site), env.get("PYTHONPATH", "")]).rstrip(
            os.pathsep
        )
        env["OPENHCS_CACHE_DIR"] = str(self.cache_dir)
        env.update(extra)
        return env

    def run(
        self, code: str, *, timeout: float = 60, python: str = sys.executable, **extra_env: str
    ) -> Any:
        """Run *code* in a fresh interpreter (*python*, this one by default); it must print
        one JSON document last."""
        proc = subprocess.run(
            [python, "-c", textwrap.dedent(code)],
            env=self.env(**extra_env),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.root,
        )
        if proc.returncode != 0:
            raise AssertionError(f"subprocess failed ({proc.returncode}):\n{proc.stderr}")
        return json.loads(proc.stdout.strip().splitlines()[-1])


def two_plugin_world(world: World) -> World:
    """A registry with two installed one-plugin distributions (alpha 1.0, beta)."""
    world.write_spec()
    world.install(
        "alpha-plugin", f"alpha_{world.tag}", world.plugin_source(("Alpha", "alpha")), version="1.0"
    )
    world.install("beta-plugin", f"beta_{world.tag}", world.plugin_source(("Beta", "beta")))
    return world


def _last_json(out: str) -> Any:
    return json.loads(out.strip().splitlines()[-1])


def run_many(world: World, code: str, count: int, timeout: float = 120) -> list[Any]:
    """Start *count* interpreters on *code* at once; return each one's last JSON line."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code)],
            env=world.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=world.root,
        )
        for _ in range(count)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        if proc.returncode != 0:
            raise AssertionError(f"subprocess failed ({proc.returncode}):\n{err}")
        results.append(_last_json(out))
    return results


def run_python(
    code: str,
    env: dict[str, str],
    timeout: float = 120,
    cwd: Path | None = None,
    python: str = sys.executable,
) -> Any:
    """Run *code* with *python* (this interpreter by default) and return its last stdout
    line parsed as JSON."""
    proc = subprocess.run(
        [python, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )
    if proc.returncode != 0:
        raise AssertionError(f"subprocess failed ({proc.returncode}):\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def race(make: Any) -> list[Any]:
    """``make()`` in 32 threads released together; what each got."""
    barrier = threading.Barrier(32)
    got: list[Any] = []

    def one() -> None:
        barrier.wait()
        got.append(make())

    threads = [threading.Thread(target=one) for _ in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return got


# -- the command line, run as a real subprocess ------------------------------------------------
def cli(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
    **extra_env: str,
) -> subprocess.CompletedProcess[str]:
    """``python -m openhcs_registry ARGS`` with *env* (default: this process's) plus *extra_env*."""
    base = env if env is not None else dict(os.environ)
    return subprocess.run(
        [sys.executable, "-m", "openhcs_registry", *args],
        env={**base, **extra_env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def world_cli(world: World, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The command line on *world*'s registry (``--module`` its contract) and environment."""
    return cli(*args, "--module", world.spec, env=world.env(**env))


def why_json(world: World, key: str) -> dict[str, Any]:
    """``why REGISTRY KEY --json`` on *world*'s registry; exit 0 (present) or 1 (missing)."""
    proc = world_cli(world, "why", world.name, key, "--json")
    assert proc.returncode in (0, 1), proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def doctor_json(world: World) -> tuple[int, dict[str, Any]]:
    """``doctor --json`` on *world*'s registry: (exit code, report)."""
    proc = world_cli(world, "doctor", "--json")
    return proc.returncode, json.loads(proc.stdout)


def doctor_kinds(report: dict[str, Any], registry: str) -> list[str]:
    """The failure kinds ``doctor --json`` reports for *registry*, sorted."""
    return sorted(f["kind"] for f in report["registries"][registry]["failures"])


# -- the source tree -----------------------------------------------------------------------------
#: The checkout holding this tests folder (CI's second run copies only tests/, benchmarks/ and
#: pyproject.toml out of it: there, tests that need the source tree skip).
REPO = Path(__file__).resolve().parent.parent
#: What a copy of the tree leaves out: VCS, virtualenvs, build output and caches.
TREE_IGNORE = (
    ".git",
    ".venv",
    ".ci-venv",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".*cache*",
)


def copy_source_tree(dest: Path) -> Path:
    """Copy the checkout to *dest* (without :data:`TREE_IGNORE`): builds leave the checkout untouched."""
    import shutil

    shutil.copytree(REPO, dest, ignore=shutil.ignore_patterns(*TREE_IGNORE))
    return dest


def modules_after_main(argv: list[str]) -> tuple[int, list[str]]:
    """``openhcs_registry.cli.main(argv)`` in a fresh interpreter, its output discarded:
    (exit code, every module imported by then)."""
    code = (
        "import sys, json, contextlib, io\nfrom openhcs_registry.cli import main\n"
        f"with contextlib.redirect_stdout(io.StringIO()):\n    rc = main({argv!r})\n"
        "print(json.dumps([rc, sorted(sys.modules)]))"
    )
    rc, modules = run_python(code, env=dict(os.environ), timeout=60)
    return rc, modules


# -- a third-party plugin joining a built-in registry ---------------------------------------------
BUILTIN_LISTING = """
import json
import openhcs_hookspecs as hs
reg = getattr(hs, {registry!r})
ours = [k for k in sorted(reg) if k.startswith({prefix!r})]
print(json.dumps({{
    "source": reg.source,
    "keys": sorted(reg),
    "refs": {{k: reg.info(k)["ref"] for k in ours}},
    "dists": {{k: reg.info(k)["distribution"] for k in ours}},
    "secondary": {{
        s.name: {{
            k: reg.secondary(s.name)[k].__module__ + ":" + reg.secondary(s.name)[k].__qualname__
            for k in sorted(reg.secondary(s.name)) if k.startswith({prefix!r})
        }}
        for s in reg.config.secondary_registries
    }},
    "skipped": sorted(
        f.key for f in reg.failures if f.kind == "skipped" and (f.key or "").startswith({prefix!r})
    ),
}}))
"""


def join_builtin_registry(
    world: World, registry: str, module: str, source: str, prefix: str = "acme"
) -> dict[str, Any]:
    """Install *source* as distribution *module* (``-`` for ``_``) in the ``openhcs`` entry-point group
    (the built-in registries' group) and list the built-in *registry* (its name in
    ``openhcs_hookspecs``) in new processes: cold, warm, and with ``OPENHCS_SUBPROCESS_NO_GPU=1``.
    Only keys starting with *prefix* are described (refs, distributions, secondaries, skipped)."""
    world.install(module.replace("_", "-"), module, source, group="openhcs")
    code = BUILTIN_LISTING.format(registry=registry, prefix=prefix)
    cold = world.run(code)
    warm = world.run(code)
    no_gpu = world.run(code, OPENHCS_SUBPROCESS_NO_GPU="1")
    return {"cold": cold, "warm": warm, "no_gpu": no_gpu}


def assert_joined(
    got: dict[str, Any], module: str, classes: tuple[str, str], builtin: set[str]
) -> None:
    """What :func:`join_builtin_registry` must find: the plugin's two values (*classes*: the
    one keyed ``acme``, the GPU one keyed ``acme_gpu``) beside the *builtin* keys, from its
    distribution, cold (fresh) and warm (cache) alike; in no-GPU mode the GPU one is skipped."""
    cpu, gpu = classes
    dist = module.replace("_", "-")
    assert (got["cold"]["source"], got["warm"]["source"]) == ("fresh", "cache")
    for seen in (got["cold"], got["warm"]):
        assert builtin <= set(seen["keys"])  # the built-in ones stay
        assert seen["refs"] == {"acme": f"{module}:{cpu}", "acme_gpu": f"{module}:{gpu}"}
        assert seen["dists"] == {"acme": dist, "acme_gpu": dist}
    assert got["no_gpu"]["refs"] == {"acme": f"{module}:{cpu}"}
    assert got["no_gpu"]["skipped"] == ["acme_gpu"]
