"""Interleaved A/B of two engine revisions on the issue-12 cases (what ANALYSIS.md cites).

    .venv/bin/python benchmarks/ab_issue12.py --base a4a759e --runs 13 --sizes 20,200,2000
    .venv/bin/python benchmarks/ab_issue12.py --base a4a759e --cases incremental --runs 15

A is ``openhcs_registry`` of git revision ``--base``, B that of this checkout; each is copied
(and compiled) into the work folder and put first on ``PYTHONPATH``, so both run on the same
interpreter, plugin sites and contracts packages.  Every round runs every command once, A and
B alternated (on a 2-core machine shared with other jobs only same-round ratios and medians
mean something).  Printed: medians of the whole-process wall time and, in brackets, of the
in-process listing (``list(registry)`` in a fresh process).

Cases: ``plugins`` (warm, cold, plain pluggy, the ``import platformdirs, orjson`` floor per
size), ``incremental`` (warm, then one plugin file edited, one more distribution installed,
that distribution removed, another one upgraded, at the largest size), ``variable`` (warm,
then another value of a variable one plugin reads, at the largest size; not run unless
named), ``rekey`` (warm, then an edit that adds a key to one plugin's offer or takes it
away, at the largest size; not run unless named), ``reimport`` (warm, then an edit that
makes one plugin import a helper module of its package or stop, at the largest size; not
run unless named), ``builtin`` (first in-process listing of every built-in registry and
its secondaries, and the whole process).

Only A against B is meant: the figures of record, and the targets, are ``run.py``'s (the
engine installed).  With the engine's folder first on ``PYTHONPATH`` a warm start here
measured slower than there (2026-12-07, 2000 plugins: 102-105 vs 88-98 ms whole process),
so its ratios to a warm start read lower than the record's.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import synthetic  # noqa: E402
from harness import check_install  # noqa: E402

REPO = HERE.parent

_OURS = """import time
import orjson
import openhcs_bench_contracts as c
t1 = time.perf_counter(); n = len(list(c.BENCH_PLUGINS)); t2 = time.perf_counter()
print(f"list={(t2 - t1) * 1e3:.3f} src={c.BENCH_PLUGINS.source} n={n}")
"""
_PLUGGY = """import pluggy
import openhcs_bench_api as _api
_pm = pluggy.PluginManager("openhcs")
_pm.add_hookspecs(_api)
_pm.load_setuptools_entrypoints("openhcs_bench")
print(len([cls.key for res in _pm.hook.provide_bench_plugins() for cls in res]))
"""
_BUILTIN = """import time
import orjson
from openhcs_hookspecs import load_all
targets = list(load_all().values())
t1 = time.perf_counter()
n = 0
for r in targets:
    n += len(list(r))
    for s in r.config.secondary_registries:
        n += len(list(r.secondary(s.name)))
t2 = time.perf_counter()
src = "cache" if all(r.source == "cache" for r in targets) else "fresh"
print(f"list={(t2 - t1) * 1e3:.3f} src={src} n={n}")
"""


class Runner:
    def __init__(self, work: Path, packages: dict[str, Path]) -> None:
        self.work = work
        self.packages = packages

    def env(self, variant: str, site: Path | None, cache: str) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        path = [str(self.packages.get(variant, self.work / "empty"))]
        if site is not None:
            path.append(str(site))
        env["PYTHONPATH"] = os.pathsep.join(path)
        env["OPENHCS_CACHE_DIR"] = str(self.work / f"cache-{variant}-{cache}")
        return env

    def run(self, code: str, env: dict[str, str]) -> tuple[float, float | None, str, int]:
        start = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=self.work
        )
        wall = (time.perf_counter() - start) * 1e3
        if out.returncode:
            raise RuntimeError(out.stderr[-3000:])
        found = re.search(r"list=([\d.]+) src=(\w+) n=(\d+)", out.stdout)
        if found is None:
            return wall, None, "", int(out.stdout.strip() or 0)
        return wall, float(found.group(1)), found.group(2), int(found.group(3))


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def case_plugins(r: Runner, sizes: list[int], runs: int) -> None:
    for size in sizes:
        site = synthetic.build_site(r.work, size)
        commands: list[tuple[str, str, dict[str, str], Path | None, str | None]] = []
        for v in "AB":
            env = r.env(v, site, f"synth-{size}")
            doc = Path(env["OPENHCS_CACHE_DIR"]) / "bench_plugins_registry.json"
            commands.append((f"{v} warm", _OURS, env, None, "cache"))
            commands.append((f"{v} cold", _OURS, env, doc, "fresh"))
            r.run(_OURS, env)
        commands.append(("pluggy", _PLUGGY, r.env("-", site, "none"), None, None))
        floor = f"import platformdirs, orjson\nprint({size})"  # (counted like the rest)
        commands.append(("floor", floor, r.env("-", site, "-"), None, None))
        wall: dict[str, list[float]] = {c[0]: [] for c in commands}
        inner: dict[str, list[float]] = {c[0]: [] for c in commands}
        for i in range(runs + 1):
            for label, code, env, remove, want in commands:
                if remove is not None and remove.exists():
                    remove.unlink()
                w, listed, source, count = r.run(code, env)
                if count != size or (want and source != want):
                    raise RuntimeError(f"{label}: {count} keys from {source}")
                if i:  # the first round warms the page cache
                    wall[label].append(w)
                    if listed is not None:
                        inner[label].append(listed)
        med = {k: _median(v) for k, v in wall.items()}
        cells = [
            f"{k} {med[k]:.1f}" + (f" [{_median(inner[k]):.2f}]" if inner[k] else "") for k in wall
        ]
        print(f"plugins {size} (runs {runs}): " + "  ".join(cells))
        for v in "AB":
            print(
                f"  {v}: warm - floor {med[v + ' warm'] - med['floor']:.1f} ms, "
                f"cold / pluggy {med[v + ' cold'] / med['pluggy']:.2f}x, in-process cold / warm "
                f"{_median(inner[v + ' cold']) / _median(inner[v + ' warm']):.1f}x"
            )


def _install(site: Path, index: int) -> Path:
    name = f"openhcs_bench_p{index:05d}"
    package = site / name
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "plugin.py").write_text(
        synthetic._PLUGIN.format(i=index).replace(f"{index:04d}", f"{index:05d}")
    )
    info = site / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(synthetic._METADATA.format(i=index))
    (info / "entry_points.txt").write_text(
        f"[{synthetic.GROUP}]\nplugin{index:05d} = {name}.plugin\n"
    )
    return package


def case_incremental(r: Runner, size: int, runs: int) -> None:
    sites = {}
    for v in "AB":  # each variant edits, installs, removes and upgrades in its own copy
        sites[v] = r.work / f"incremental-{v}" / f"site-{size}"
        if not sites[v].exists():
            shutil.copytree(synthetic.build_site(r.work, size), sites[v], symlinks=True)
    results: dict[tuple[str, str], list[tuple[float, float | None]]] = {}
    extra: dict[str, list[Path]] = {"A": [], "B": []}
    version = {"A": "1.0", "B": "1.0"}
    labels = ("warm", "edit", "install", "remove", "upgrade")
    counter = 90000

    def undo(v: str) -> None:
        for package in extra[v]:
            shutil.rmtree(package)
            shutil.rmtree(package.parent / f"{package.name}-1.0.dist-info")
        extra[v].clear()

    try:
        for i in range(runs + 1):
            for v in "AB":
                env = r.env(v, sites[v], f"incremental-{size}")
                undo(v)
                r.run(_OURS, env)
                r.run(_OURS, env)
                got = {"warm": r.run(_OURS, env)}
                with open(sites[v] / "openhcs_bench_p0000" / "plugin.py", "a") as fh:
                    fh.write(f"# edit {i}\n")
                got["edit"] = r.run(_OURS, env)
                counter += 1
                extra[v].append(_install(sites[v], counter))
                got["install"] = r.run(_OURS, env)
                undo(v)
                got["remove"] = r.run(_OURS, env)
                old = version[v]
                version[v] = "2.0" if old == "1.0" else "1.0"
                synthetic.set_version(sites[v], synthetic.UPGRADED, old, version[v])
                got["upgrade"] = r.run(_OURS, env)
                sources = tuple(got[k][2] for k in labels)
                counts = tuple(got[k][3] for k in labels)
                if sources != ("cache", "fresh", "fresh", "fresh", "fresh") or counts != (
                    size,
                    size,
                    size + 1,
                    size,
                    size,
                ):
                    raise RuntimeError(f"{v}: {got}")
                if i:
                    for label in labels:
                        results.setdefault((v, label), []).append(got[label][:2])
    finally:
        for v in "AB":
            undo(v)
            if version[v] != "1.0":
                synthetic.set_version(sites[v], synthetic.UPGRADED, version[v], "1.0")
    for v in "AB":
        wall = {k: _median([w for w, _ in results[(v, k)]]) for k in labels}
        inner = {k: _median([x for _, x in results[(v, k)] if x is not None]) for k in labels}
        print(
            f"incremental {size} {v} (runs {runs}): "
            + "  ".join(f"{k} {wall[k]:.1f} [{inner[k]:.1f}]" for k in wall)
            + " | "
            + ", ".join(f"{k} / warm {wall[k] / wall['warm']:.2f}x" for k in labels[1:])
        )


#: The variable the ``variable`` case's plugin reads (the first plugin of the site).
FLAVOUR = "OPENHCS_BENCH_FLAVOUR"


def case_variable(r: Runner, size: int, runs: int) -> None:
    """A warm start, then one with another value of a variable one plugin reads at import
    (format 15: that plugin called again; before: the whole registry rediscovered)."""
    sites = {}
    for v in "AB":
        sites[v] = r.work / f"variable-{v}" / f"site-{size}"
        if not sites[v].exists():
            shutil.copytree(synthetic.build_site(r.work, size), sites[v], symlinks=True)
            module = sites[v] / "openhcs_bench_p0000" / "plugin.py"
            module.write_text(
                f"import os\nFLAVOUR = os.environ.get({FLAVOUR!r}, '')\n" + module.read_text()
            )
    results: dict[tuple[str, str], list[tuple[float, float | None]]] = {}
    for i in range(runs + 1):
        for v in "AB":
            env = r.env(v, sites[v], f"variable-{size}")
            first, other = {**env, FLAVOUR: "a"}, {**env, FLAVOUR: "b"}
            r.run(_OURS, first)  # (after the last round's "b": a change too)
            got = {"warm": r.run(_OURS, first), "changed": r.run(_OURS, other)}
            if (got["warm"][2], got["changed"][2]) != ("cache", "fresh") or {
                got[k][3] for k in got
            } != {size}:
                raise RuntimeError(f"{v}: {got}")
            if i:
                for label in got:
                    results.setdefault((v, label), []).append(got[label][:2])
    _report("variable", size, runs, results, "changed")


def _report(
    case: str,
    size: int,
    runs: int,
    results: dict[tuple[str, str], list[tuple[float, float | None]]],
    changed: str,
) -> None:
    """Print *case*'s medians per variant: a warm start and the *changed* one."""
    for v in "AB":
        labels = ("warm", changed)
        wall = {k: _median([w for w, _ in results[(v, k)]]) for k in labels}
        inner = {k: _median([x for _, x in results[(v, k)] if x is not None]) for k in labels}
        print(
            f"{case} {size} {v} (runs {runs}): "
            + "  ".join(f"{k} {wall[k]:.1f} [{inner[k]:.1f}]" for k in wall)
            + f" | {changed} / warm {wall[changed] / wall['warm']:.2f}x"
        )


#: What the ``rekey`` case appends to the first plugin's module: a second class, so the
#: edit changes what the plugin offers (the ``incremental`` case's edit offers the same).
_EXTRA = """

class Extra(BenchPlugin):
    key = "extra0000"


@hookimpl
def provide_bench_plugins():
    return [Plugin0000, Extra]
"""


def case_rekey(r: Runner, size: int, runs: int) -> None:
    """A warm start, then one after an edit that adds a key to one plugin's offer or takes
    it away again (in turn): the edit a plugin author makes, which the ``incremental``
    case's (a comment appended) is not."""
    _toggled(r, size, runs, "rekey", lambda text: text + _EXTRA, 1)


#: What the ``reimport`` case puts first in the first plugin's module: an import of a
#: helper module of its package, so the edit changes what the plugin reads (a new file,
#: a new module), not what it offers.
_IMPORT = "from openhcs_bench_p0000 import _helper  # noqa: F401\n"


def case_reimport(r: Runner, size: int, runs: int) -> None:
    """A warm start, then one after an edit that makes one plugin import a helper module
    of its package or stop importing it (in turn): what the plugin reads changed, what it
    offers did not."""
    _toggled(r, size, runs, "reimport", lambda text: _IMPORT + text, 0)


def _toggled(
    r: Runner, size: int, runs: int, case: str, edited: Callable[[str], str], added: int
) -> None:
    """A warm start, then one after the first plugin's module was *edited* (or put back,
    in turn); the edit adds *added* keys."""
    sites, originals = {}, {}
    for v in "AB":
        sites[v] = r.work / f"{case}-{v}" / f"site-{size}"
        if not sites[v].exists():
            shutil.copytree(synthetic.build_site(r.work, size), sites[v], symlinks=True)
            (sites[v] / "openhcs_bench_p0000" / "_helper.py").write_text("VALUE = 1\n")
        module = sites[v] / "openhcs_bench_p0000" / "plugin.py"
        originals[v] = module.read_text().replace(_IMPORT, "").split(_EXTRA)[0]
        module.write_text(originals[v])
    results: dict[tuple[str, str], list[tuple[float, float | None]]] = {}
    try:
        for i in range(runs + 1):
            for v in "AB":
                env = r.env(v, sites[v], f"{case}-{size}")
                module = sites[v] / "openhcs_bench_p0000" / "plugin.py"
                on = i % 2 == 0
                r.run(_OURS, env)
                got = {"warm": r.run(_OURS, env)}
                module.write_text(edited(originals[v]) if on else originals[v])
                got["edited"] = r.run(_OURS, env)
                before = size + (added if i and (i - 1) % 2 == 0 else 0)
                counts = (got["warm"][3], got["edited"][3])
                sources = (got["warm"][2], got["edited"][2])
                if sources != ("cache", "fresh") or counts != (before, size + added * on):
                    raise RuntimeError(f"{v}: {got}")
                if i:
                    for label in got:
                        results.setdefault((v, label), []).append(got[label][:2])
    finally:
        for v in "AB":
            (sites[v] / "openhcs_bench_p0000" / "plugin.py").write_text(originals[v])
    _report(case, size, runs, results, "edited")


def case_builtin(r: Runner, runs: int) -> None:
    commands = [(f"{v} first listing", _BUILTIN, r.env(v, None, "builtin")) for v in "AB"]
    commands.append(("floor", "import platformdirs, orjson", r.env("-", None, "-")))
    for _, code, env in commands[:2]:
        r.run(code, env)
        r.run(code, env)
    wall: dict[str, list[float]] = {c[0]: [] for c in commands}
    inner: dict[str, list[float]] = {c[0]: [] for c in commands}
    for i in range(runs + 1):
        for label, code, env in commands:
            w, listed, source, _ = r.run(code, env)
            if listed is not None and source != "cache":
                raise RuntimeError(f"{label}: not from the cache")
            if i:
                wall[label].append(w)
                if listed is not None:
                    inner[label].append(listed)
    floor = _median(wall["floor"])
    for label in list(wall)[:2]:
        print(
            f"builtin {label} (runs {runs}): in-process {_median(inner[label]):.2f} ms, "
            f"whole process - floor {_median(wall[label]) - floor:.1f} ms"
        )


def prepare(work: Path, base: str) -> dict[str, Path]:
    packages = {"A": work / "engine-A", "B": work / "engine-B"}
    for folder in packages.values():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", base, "openhcs_registry"],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(packages["A"])], input=archive, check=True)
    shutil.copytree(
        REPO / "openhcs_registry",
        packages["B"] / "openhcs_registry",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    (work / "empty").mkdir(exist_ok=True)
    for folder in packages.values():
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(folder)], check=True)
    for cache in work.glob("cache-*"):
        shutil.rmtree(cache)
    return packages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="a4a759e", help="git revision of variant A")
    parser.add_argument("--runs", type=int, default=13)
    parser.add_argument("--sizes", default="20,200,2000")
    parser.add_argument("--cases", default="plugins,incremental,builtin")
    parser.add_argument("--workdir", default=str(HERE / ".work" / "ab"))
    args = parser.parse_args()
    check_install(REPO, strict=False)  # (A and B are copies on PYTHONPATH: only the finder)
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    r = Runner(work, prepare(work, args.base))
    sizes = [int(s) for s in args.sizes.split(",")]
    cases = args.cases.split(",")
    if "plugins" in cases:
        case_plugins(r, sizes, args.runs)
    if "incremental" in cases:
        case_incremental(r, max(sizes), args.runs)
    if "variable" in cases:
        case_variable(r, max(sizes), args.runs)
    if "rekey" in cases:
        case_rekey(r, max(sizes), args.runs)
    if "reimport" in cases:
        case_reimport(r, max(sizes), args.runs)
    if "builtin" in cases:
        case_builtin(r, args.runs)


if __name__ == "__main__":
    main()
