"""Case 6: the scikit-image function catalogue (issue 13).

Fresh processes, interleaved:

* *floor*: ``import platformdirs, orjson`` (the mandatory dependencies);
* *ours, warm*: load the scikit-image catalogue, list its ~337 entries, search it and check
  a call's arguments, from the document only (checked: no scikit-image, numpy or scipy
  module is imported, and the catalogue came from the cache);
* *OpenHCS-style warm start*: what OpenHCS's function cache still does in every process —
  import every scanned submodule and wrap every function;
* *cold build*: the catalogue document deleted before each run, so the run imports
  scikit-image, describes every function and writes the document.

Plus: resolving one function (``skimage.filters.gaussian``) in a warm process — its cost
and the modules it imports, against a plain ``import skimage.filters`` + attribute access.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from harness import PYTHON, Command, Stats, base_env, interleave, probe_prelude

LIBRARY = "skimage"
KEY = "skimage.filters.gaussian"


def _stats(values: list[float]) -> dict[str, float]:
    s = Stats.of(values)
    return {"median": s.median, "min": s.low, "max": s.high, "n": s.n}


_HEAVY = "('skimage', 'numpy', 'scipy', 'lazy_loader')"

_OURS = """
import sys
import orjson
_mark("deps")
from openhcs_hookspecs import functions as fn
_mark("imported")
{library!r} in fn.FUNCTION_LIBRARIES
_mark("registry")
cat = fn.catalogue({library!r})
_mark("loaded")
keys = list(cat)
hits = cat.search("gauss")
_mark("listed")
cat.check({key!r}, 1, sigma=2.0)
info = cat.info({key!r})
_mark("checked")
keys = list(cat)
hits = cat.search("threshold", tag="filters")
_mark("relisted")
heavy = [m for m in sys.modules if m.split(".")[0] in {heavy}]
_report(n=len(keys), hit=int(cat.source == "cache"), heavy=len(heavy))
"""

_OPENHCS_STYLE = """
import functools, importlib, inspect
from openhcs_plugins.functions import SkimageFunctions
_mark("deps")
wrapped = {{}}
for name in SkimageFunctions.modules:
    module = importlib.import_module(name)
    for attr in module.__all__:
        obj = getattr(module, attr, None)
        if inspect.isfunction(obj):
            @functools.wraps(obj)
            def wrapper(*args, _f=obj, **kwargs):
                return _f(*args, **kwargs)
            wrapped[name + "." + attr] = wrapper
_mark("listed")
_report(n=len(wrapped))
"""

_COLD = """
from openhcs_hookspecs import functions as fn
_mark("deps")
cat = fn.catalogue({library!r})
keys = list(cat)
_mark("listed")
_report(n=len(keys), fresh=int(cat.source == "fresh"))
"""

_RESOLVE = """
import sys
from openhcs_hookspecs import functions as fn
cat = fn.catalogue({library!r})
before = set(sys.modules)
_mark("listed")
f = cat[{key!r}]
_mark("resolved")
new = [m for m in set(sys.modules) - before]
ours = [m for m in new if m.split(".")[0] in {heavy}]
skimage_mods = sorted(m for m in new if m.startswith("skimage."))
print("@@mods " + ",".join(m for m in skimage_mods if m.count(".") == 1))
_report(new=len(ours), hit=int(cat.source == "cache"))
"""

_PLAIN_RESOLVE = """
import sys
before = set(sys.modules)
_mark("listed")
import skimage.filters
f = skimage.filters.gaussian
_mark("resolved")
new = [m for m in set(sys.modules) - before if m.split(".")[0] in {heavy}]
_report(new=len(new))
"""


def _check(**wanted: float):  # type: ignore[no-untyped-def]
    def check(probe: dict[str, float]) -> None:
        for name, value in wanted.items():
            if probe.get(name) != value:
                raise RuntimeError(f"probe {name}={probe.get(name)!r}, expected {value!r}")

    return check


def _at_least(name: str, value: float):  # type: ignore[no-untyped-def]
    def check(probe: dict[str, float]) -> None:
        if probe.get(name, -1) < value:
            raise RuntimeError(f"probe {name}={probe.get(name)!r}, expected >= {value}")

    return check


def case_functions(cfg: object) -> dict[str, object]:
    """Warm catalogue vs OpenHCS-style warm start vs cold build, and one resolution."""
    import subprocess

    if importlib.util.find_spec("skimage") is None:
        return {"skipped": "scikit-image is not installed (pip install openhcs-registry[skimage])"}
    workdir: Path = cfg.workdir  # type: ignore[attr-defined]
    runs: int = cfg.runs  # type: ignore[attr-defined]
    warmup: int = cfg.warmup  # type: ignore[attr-defined]
    warm_cache = workdir / "cache-functions"
    cold_cache = workdir / "cache-functions-cold"
    env = base_env(OPENHCS_CACHE_DIR=str(warm_cache))
    cold_env = base_env(OPENHCS_CACHE_DIR=str(cold_cache))
    cwd = str(workdir)
    prelude = probe_prelude()
    ours_code = prelude + _OURS.format(library=LIBRARY, key=KEY, heavy=_HEAVY)

    def prime() -> None:
        """Write the warm catalogue, and the provider registry of the cold folder (the cold
        runs must rebuild the catalogue only, not rediscover the providers)."""
        for environment in (env, cold_env):
            subprocess.run(
                [PYTHON, "-c", prelude + _COLD.format(library=LIBRARY)],
                env=environment,
                cwd=cwd,
                check=True,
                capture_output=True,
            )

    def delete_cold_catalogue() -> None:
        for path in cold_cache.glob(f"function_catalogue_{LIBRARY}.json"):
            path.unlink()

    prime()
    commands = [
        Command("floor: import platformdirs, orjson", "import platformdirs, orjson", env, cwd),
        Command(
            "ours: warm catalogue (list, search, check)",
            ours_code,
            env,
            cwd,
            check=_check(hit=1, heavy=0),
            reprime=prime,
        ),
        Command(
            "OpenHCS-style warm start (import + wrap every function)",
            prelude + _OPENHCS_STYLE.format(),
            env,
            cwd,
            check=_at_least("n", 300),
        ),
        Command(
            "cold build (catalogue deleted before each run)",
            prelude + _COLD.format(library=LIBRARY),
            cold_env,
            cwd,
            before=delete_cold_catalogue,
            check=_check(fresh=1),
        ),
        Command(
            f"ours: resolve {KEY} (warm)",
            prelude + _RESOLVE.format(library=LIBRARY, key=KEY, heavy=_HEAVY),
            env,
            cwd,
            check=_check(hit=1),
            reprime=prime,
        ),
        Command(
            "plain: import skimage.filters; .gaussian",
            prelude + _PLAIN_RESOLVE.format(heavy=_HEAVY),
            env,
            cwd,
        ),
    ]
    samples = interleave(commands, runs, warmup)
    by = {c.label: samples[c.label] for c in commands}
    floor, ours, openhcs, cold, resolve, plain = (by[c.label] for c in commands)
    n = int(ours.values("n")[0])
    res: dict[str, object] = {
        "library": LIBRARY,
        "entries": n,
        "whole_ms": {label: _stats(s.wall_ms) for label, s in by.items()},
        "ours_in_process": {
            "orjson_import_ms": _stats(ours.between(None, "deps")),
            "contract_import_ms": _stats(ours.between("deps", "imported")),
            "load_ms": _stats(ours.between("imported", "loaded")),
            "registry_ms": _stats(ours.between("imported", "registry")),
            "documents_ms": _stats(ours.between("registry", "loaded")),
            "list_search_ms": _stats(ours.between("loaded", "listed")),
            "first_check_info_ms": _stats(ours.between("listed", "checked")),
            "load_list_search_ms": _stats(ours.between("imported", "listed")),
            "relist_ms": _stats(ours.between("checked", "relisted")),
        },
        "openhcs_style_in_process_ms": _stats(openhcs.between("deps", "listed")),
        "cold_in_process_ms": _stats(cold.between("deps", "listed")),
        "resolve_ms": _stats(resolve.between("listed", "resolved")),
        "resolve_modules": int(resolve.values("new")[0]),
        "plain_resolve_ms": _stats(plain.between("listed", "resolved")),
        "plain_resolve_modules": int(plain.values("new")[0]),
        "resolve_submodules": resolve.extra.get("mods", ""),
        "discarded": sum(s.discarded for s in by.values()),
    }
    floor_ms = _stats(floor.wall_ms)["median"]
    res["ours_minus_floor_ms"] = _stats(ours.wall_ms)["median"] - floor_ms
    return res


def targets(res: object) -> list[tuple[str, bool | None, str]]:
    """(target, met, figure) rows for the report's target table."""
    if not isinstance(res, dict) or "skipped" in res:
        return [("scikit-image catalogue targets", None, "not measured (see case 6)")]
    ip = res["ours_in_process"]
    listing = ip["list_search_ms"]["median"]
    loaded = ip["load_list_search_ms"]["median"]
    load = ip["load_ms"]["median"]
    d = res["ours_minus_floor_ms"]
    return [
        (
            f"in-process listing of the {res['entries']} scikit-image entries <= 1 ms",
            loaded <= 1.0,
            f"{loaded:.2f} ms to load (provider registry + document + input checks: "
            f"{load:.2f} ms), list and search; {listing:.3f} ms to list + search once loaded",
        ),
        (
            "whole process (list + search the catalogue) <= dependency floor + 2 ms",
            d <= 2.0,
            f"{d:+.1f} ms vs `import platformdirs, orjson`",
        ),
        (
            "resolving one function imports only its submodule",
            res["resolve_modules"] == res["plain_resolve_modules"],
            f"{res['resolve_modules']} modules (scikit-image/numpy/scipy) vs "
            f"{res['plain_resolve_modules']} for a plain `import skimage.filters` + attribute",
        ),
    ]


def render(res: object, section: str = "6") -> list[str]:
    out = [f"## {section}. Function catalogue: scikit-image", ""]
    if not isinstance(res, dict):
        return [*out, "Not run.", ""]
    if "skipped" in res:
        return [*out, f"Skipped: {res['skipped']}.", ""]

    def f(stats: dict[str, float], digits: int = 1) -> str:
        return f"{stats['median']:.{digits}f} ({stats['min']:.{digits}f}-{stats['max']:.{digits}f})"

    out += [
        f"{res['entries']} public functions of 14 submodules. *Ours, warm* reads the catalogue "
        "document (no scikit-image, numpy or scipy import — checked in every run); the "
        "*OpenHCS-style warm start* imports every submodule and wraps every function, as "
        "OpenHCS's function cache still does in each process; the *cold build* imports the "
        "library, describes every function and writes the document.",
        "",
        "| command | whole process (ms) |",
        "|---|---|",
    ]
    out += [f"| {label} | {f(s)} |" for label, s in res["whole_ms"].items()]
    ip = res["ours_in_process"]
    out += [
        "",
        f"Ours - floor: **{res['ours_minus_floor_ms']:+.1f} ms**.",
        "",
        "| in-process, ours (warm) | ms |",
        "|---|---|",
        f"| import orjson (the floor) | {f(ip['orjson_import_ms'], 2)} |",
        f"| import the contract (`openhcs_hookspecs.functions`, engine) | "
        f"{f(ip['contract_import_ms'], 2)} |",
        f"| load the catalogue (provider registry + document + input checks) | "
        f"{f(ip['load_ms'], 2)} |",
        f"| ... of which the provider registry (the engine's warm read) | "
        f"{f(ip['registry_ms'], 2)} |",
        f"| ... of which the catalogue document and its input checks | "
        f"{f(ip['documents_ms'], 2)} |",
        f"| list + search, once loaded | {f(ip['list_search_ms'], 3)} |",
        f"| load + list + search | {f(ip['load_list_search_ms'], 2)} |",
        f"| first check + info (reads the details document) | {f(ip['first_check_info_ms'], 2)} |",
        f"| list + search again | {f(ip['relist_ms'], 3)} |",
        f"| OpenHCS-style: import + wrap | {f(res['openhcs_style_in_process_ms'])} |",
        f"| cold build | {f(res['cold_in_process_ms'])} |",
        "",
        f"Resolving `{KEY}` in a warm process: {f(res['resolve_ms'])} ms, "
        f"{res['resolve_modules']} modules of scikit-image/numpy/scipy imported — the same as "
        f"a plain `import skimage.filters` + attribute access "
        f"({f(res['plain_resolve_ms'])} ms, {res['plain_resolve_modules']} modules). "
        f"scikit-image submodules loaded: {res['resolve_submodules'] or '-'} "
        "(the other scanned submodules stay unimported).",
        "",
    ]
    return out
