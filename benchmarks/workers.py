"""Worker start cost: what a new ``spawn`` worker pays for its first registry listing.

A driver process lists the built-in registries once (which writes their caches), then starts
one ``multiprocessing`` spawn pool of one worker per run and hands it a task:

* ``first_listing``: inside the worker, the clock runs from before ``import orjson`` (the
  floor) through ``openhcs_hookspecs.load_all()`` and listing every registry and secondary
  registry; the worker reports the figures and whether every registry came from the cache;
* the same with ``OPENHCS_DISABLE_REGISTRY_CACHE=1`` (cold: discovery in every worker);
* ``noop``: a task that touches no registry, so that the parent's wall clock from creating
  the pool to the first result can be compared with and without the registry work.

Runs are interleaved (noop, warm, cold, noop, ...).  Used by ``run.py`` (case ``workers``);
``python benchmarks/workers.py`` prints the figures alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def noop() -> dict[str, Any]:
    return {"pid": os.getpid()}


def first_listing() -> dict[str, Any]:
    """Run in a fresh worker: the first listing of every built-in registry, timed."""
    t0 = time.perf_counter()
    import orjson  # noqa: F401  (a mandatory dependency: the floor)

    t1 = time.perf_counter()
    from openhcs_hookspecs import load_all

    registries = list(load_all().values())
    count = 0
    for registry in registries:
        count += len(list(registry))
        for secondary in registry.config.secondary_registries:
            count += len(list(registry.secondary(secondary.name)))
    t2 = time.perf_counter()
    return {
        "pid": os.getpid(),
        "floor_ms": (t1 - t0) * 1e3,
        "listing_ms": (t2 - t1) * 1e3,
        "count": count,
        "hit": all(r.source == "cache" for r in registries),
        # why a registry was not read from the cache (asked after the clock stopped)
        "misses": {r.name: r.cache.info().get("reason") for r in registries if r.source != "cache"},
    }


_DRIVER = """
import json, os, sys, time, multiprocessing
sys.path.append({here!r})  # appended: the launch entry stays first (see measure())
import workers
workers.first_listing()  # this process writes the caches the workers read
ctx = multiprocessing.get_context("spawn")

def first_task(func, cold):
    if cold:
        os.environ["OPENHCS_DISABLE_REGISTRY_CACHE"] = "1"
    try:
        t = time.perf_counter()
        with ctx.Pool(1) as pool:
            result = pool.apply(func)
            result["wall_ms"] = (time.perf_counter() - t) * 1e3
        return result
    finally:
        os.environ.pop("OPENHCS_DISABLE_REGISTRY_CACHE", None)

out = {{"noop": [], "warm": [], "cold": []}}
for i in range({runs} + {warmup}):
    rows = [("noop", first_task(workers.noop, False)),
            ("warm", first_task(workers.first_listing, False)),
            ("cold", first_task(workers.first_listing, True))]
    if i >= {warmup}:
        for name, row in rows:
            out[name].append(row)
print(json.dumps(out))
"""


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _stats(values: list[float]) -> dict[str, float]:
    return {"median": _median(values), "min": min(values), "max": max(values), "n": len(values)}


def measure(runs: int, warmup: int, cache_dir: Path, env: dict[str, str]) -> dict[str, Any]:
    """Run the driver; the figures (medians, min, max) as a dict.

    The driver starts in an empty folder next to the cache folder, and adds this folder at
    the *end* of ``sys.path``: a launch folder pushed away from ``sys.path[0]`` counts as an
    ordinary entry, whose listing is checked, and the cache folder created inside it would be
    a new entry there (a possible namespace package): the first warm worker would rediscover.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    launch = cache_dir.parent / (cache_dir.name + "-launch")
    launch.mkdir(exist_ok=True)
    child_env = {**env, "OPENHCS_CACHE_DIR": str(cache_dir)}
    child_env.pop("OPENHCS_DISABLE_REGISTRY_CACHE", None)
    code = _DRIVER.format(here=str(HERE), runs=runs, warmup=warmup)
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env=child_env,
        capture_output=True,
        text=True,
        timeout=900,
        cwd=str(launch),
    )
    if proc.returncode != 0:
        raise RuntimeError(f"workers benchmark failed:\n{proc.stderr[-4000:]}")
    raw = json.loads(proc.stdout.strip().splitlines()[-1])
    misses = [row["misses"] for row in raw["warm"] if not row["hit"]]
    if misses:
        raise RuntimeError(
            f"a warm worker did not read the cache (figures would be cold): {misses}"
        )
    if any(row["hit"] for row in raw["cold"]):
        raise RuntimeError("a cold worker read the cache")
    if len({row["count"] for row in raw["warm"] + raw["cold"]}) != 1:
        raise RuntimeError("warm and cold workers listed different numbers of entries")
    noop_wall = _stats([r["wall_ms"] for r in raw["noop"]])
    warm_wall = _stats([r["wall_ms"] for r in raw["warm"]])
    return {
        "runs": runs,
        "entries": raw["warm"][0]["count"],
        "floor_ms": _stats([r["floor_ms"] for r in raw["warm"]]),
        "warm_listing_ms": _stats([r["listing_ms"] for r in raw["warm"]]),
        "cold_listing_ms": _stats([r["listing_ms"] for r in raw["cold"]]),
        "noop_first_task_ms": noop_wall,
        "warm_first_task_ms": warm_wall,
        "cold_first_task_ms": _stats([r["wall_ms"] for r in raw["cold"]]),
        "warm_extra_ms": warm_wall["median"] - noop_wall["median"],
    }


def case_workers(cfg: Any) -> dict[str, Any]:
    """``run.py`` case: the figures above, with the run count of the other cases."""
    from harness import base_env

    return measure(cfg.runs, cfg.warmup, cfg.workdir / "cache-workers", base_env())


def _f(stats: dict[str, float]) -> str:
    return f"{stats['median']:.1f} ({stats['min']:.1f}-{stats['max']:.1f})"


def render(res: Any) -> list[str]:
    if not isinstance(res, dict):
        return []
    return [
        "## Workers: a spawn worker's first listing",
        "",
        "A `multiprocessing` spawn pool of one worker per run (`benchmarks/workers.py`); the "
        f"worker lists every built-in registry and secondary ({res['entries']} entries). "
        "*In the worker*: from before `import orjson` through `load_all()` and the listing. "
        "*First task*: the parent's clock from creating the pool to the first result "
        "(interpreter start, unpickling, the task). Warm workers all read the cache the parent "
        "wrote; cold ones run with `OPENHCS_DISABLE_REGISTRY_CACHE=1`.",
        "",
        "| figure | ms |",
        "| --- | --- |",
        f"| `import orjson` in the worker (floor) | {_f(res['floor_ms'])} |",
        f"| first listing in the worker, warm | {_f(res['warm_listing_ms'])} |",
        f"| first listing in the worker, cold | {_f(res['cold_listing_ms'])} |",
        f"| first task, no registry | {_f(res['noop_first_task_ms'])} |",
        f"| first task, warm listing | {_f(res['warm_first_task_ms'])} |",
        f"| first task, cold listing | {_f(res['cold_first_task_ms'])} |",
        f"| registry start cost of a warm worker (medians: warm - no registry) "
        f"| {res['warm_extra_ms']:.1f} |",
        "",
    ]


if __name__ == "__main__":
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        results = measure(args.runs, 1, Path(tmp) / "cache", env)
    print(json.dumps(results, indent=1))
    print("\n".join(render(results)))
