"""The benchmark cases.  Each returns a plain dict of results (JSON-ready).

Conventions (stated in BENCHMARKS.md):

* "in-process" figures are measured inside a *fresh* child process, around the registry
  operation only: the registry definitions (``openhcs_hookspecs`` / the benchmark contracts)
  and ``orjson`` — a mandatory dependency, the floor of this design — are imported before
  the clock starts; the ``orjson`` import time is reported separately.  "repeat" figures are
  the same operation redone inside one process (``reset()`` then list again: all imports done).
* "whole process" figures are the parent's wall clock around ``python -c ...``.
* "cold" = no usable cache (disabled for the OpenHCS table, deleted before each run for the
  plugin sets, so the run also writes it); "warm" = a valid cache written by an earlier run.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import synthetic
from builtin_bound import SETUP as _BOUND_SETUP
from builtin_bound import bound_program
from harness import (
    Command,
    Sample,
    Stats,
    base_env,
    fmt_ratio,
    interleave,
    probe_prelude,
    ratio,
)


@dataclass
class Settings:
    workdir: Path
    runs: int = 15
    runs_large: int = 15
    #: runs of the whole-process built-ins case: its target is a difference of 1 ms, and
    #: whole-process times here spread over ~20 ms (a median of 11 moves by a few ms)
    runs_fine: int = 41
    sizes: tuple[int, ...] = (20, 200, 2000)
    large: int = 2000
    warmup: int = 1
    quick: bool = False

    def runs_for(self, size: int) -> int:
        return self.runs_large if size >= self.large else self.runs


def _stats(values: list[float]) -> dict[str, float]:
    s = Stats.of(values)
    return {"median": s.median, "min": s.low, "max": s.high, "n": s.n}


def _expect(name: str, wanted: float):  # type: ignore[no-untyped-def]
    def check(probe: dict[str, float]) -> None:
        if probe.get(name) != wanted:
            raise RuntimeError(f"probe {name}={probe.get(name)!r}, expected {wanted!r}: {probe}")

    return check


def _expect_at_least(name: str, wanted: float):  # type: ignore[no-untyped-def]
    def check(probe: dict[str, float]) -> None:
        if probe.get(name, -1) < wanted:
            raise RuntimeError(f"probe {name}={probe.get(name)!r}, expected >= {wanted!r}")

    return check


def _both(*checks):  # type: ignore[no-untyped-def]
    def check(probe: dict[str, float]) -> None:
        for c in checks:
            c(probe)

    return check


def _prime(code: str, env: dict[str, str], cwd: Path) -> None:
    """Run *code* once, untimed (writes caches)."""
    from harness import run_once

    run_once(Command("prime", code, env, str(cwd)))


# -- case 1: the OpenHCS table --------------------------------------------------------------

_LIST_BUILTIN = """
import orjson
_mark("floor")
from openhcs_hookspecs import load_all
_regs = load_all()
_targets = [_regs[n] for n in {names!r}]
_mark("defined")
def _list_all():
    n = 0
    for r in _targets:
        n += len(list(r))
        for s in r.config.secondary_registries:
            n += len(list(r.secondary(s.name)))
    return n
_count = _list_all()
_mark("listed")
_hit = int(all(r.source == "cache" for r in _targets))
import statistics
_reps = []
for _ in range({repeats}):
    for r in _targets:
        r.reset()
    _t = _bt.perf_counter()
    _list_all()
    _reps.append((_bt.perf_counter() - _t) * 1e3)
_report(count=_count, hit=_hit, repeat=statistics.median(_reps))
"""


def builtin_registry_names() -> list[str]:
    from openhcs_hookspecs import load_all

    return list(load_all())


def case_builtin(cfg: Settings) -> dict[str, object]:
    """Per built-in registry: first listing without cache vs with cache, in-process."""
    cache_dir = cfg.workdir / "cache-builtin"
    names = builtin_registry_names()
    rows = [[n] for n in names] + [names]
    if cfg.quick:
        rows = [names]
    results: dict[str, object] = {"rows": []}
    warm_env = base_env(OPENHCS_CACHE_DIR=str(cache_dir))
    cold_env = base_env(OPENHCS_CACHE_DIR=str(cache_dir), OPENHCS_DISABLE_REGISTRY_CACHE="1")
    all_code = probe_prelude() + _LIST_BUILTIN.format(names=names, repeats=1)

    def reprime() -> None:
        _prime(all_code, warm_env, cfg.workdir)

    reprime()
    for row in rows:
        label = "all registries" if len(row) > 1 else row[0]
        cold = Command(
            f"{label} cold",
            probe_prelude() + _LIST_BUILTIN.format(names=row, repeats=3 if not cfg.quick else 1),
            cold_env,
            str(cfg.workdir),
            check=_expect("hit", 0),
        )
        warm = Command(
            f"{label} warm",
            probe_prelude() + _LIST_BUILTIN.format(names=row, repeats=50 if not cfg.quick else 1),
            warm_env,
            str(cfg.workdir),
            check=_expect("hit", 1),
            reprime=reprime,
        )
        commands = [cold, warm]
        if len(row) > 1:
            # the file work of this listing alone (benchmarks/builtin_bound.py), interleaved
            paths = sorted(str(p) for p in cache_dir.glob("*_registry.json"))
            commands.append(
                Command(
                    f"{label} bound",
                    probe_prelude()
                    + bound_program(
                        paths,
                        _BOUND_SETUP["builtin"] + '_mark("defined")\n',
                        '_mark("listed")\n_report(count=n)',
                    ),
                    warm_env,
                    str(cfg.workdir),
                )
            )
        samples = interleave(commands, cfg.runs, cfg.warmup)
        sc, sw = samples[cold.label], samples[warm.label]
        bound = samples.get(f"{label} bound")
        if bound is not None and bound.values("count") != sw.values("count"):
            raise RuntimeError(
                f"the bound counted {bound.values('count')} keys, ours {sw.values('count')}"
            )
        c_list = sc.between("defined", "listed")
        w_list = sw.between("defined", "listed")
        orjson_ms = sw.between(None, "floor")
        w_incl = [a + b for a, b in zip(w_list, orjson_ms, strict=True)]
        results["rows"].append(  # type: ignore[attr-defined]
            {
                "label": label,
                "registries": row,
                "keys": sw.values("count")[0],
                "cold_ms": _stats(c_list),
                "warm_ms": _stats(w_list),
                "warm_incl_orjson_ms": _stats(w_incl),
                "orjson_import_ms": _stats(orjson_ms),
                "cold_repeat_ms": _stats(sc.values("repeat")),
                "warm_repeat_ms": _stats(sw.values("repeat")),
                "ratio": ratio(Stats.of(c_list).median, Stats.of(w_list).median),
                "ratio_incl_orjson": ratio(Stats.of(c_list).median, Stats.of(w_incl).median),
                "cold_whole_ms": _stats(sc.wall_ms),
                "warm_whole_ms": _stats(sw.wall_ms),
                "discarded": sw.discarded,
                **(
                    {}
                    if bound is None
                    else {"bound_ms": _stats(bound.between("defined", "listed"))}
                ),
            }
        )
    return results


# -- case 2: whole process, warm cache ------------------------------------------------------

_OURS_ALL = """
import openhcs_registry
from openhcs_hookspecs import load_all
_n = 0
_hit = 1
for _r in load_all().values():
    _n += len(list(_r))
    for _s in _r.config.secondary_registries:
        _n += len(list(_r.secondary(_s.name)))
    _hit &= _r.source == "cache"
print(f"@@ count={_n} hit={int(_hit)}")
"""


def case_process(cfg: Settings) -> dict[str, object]:
    """Whole process, warm cache, against ``pass`` and the dependency floor."""
    cache_dir = cfg.workdir / "cache-builtin"
    data_home = cfg.workdir / "xdg-data"
    env = base_env(OPENHCS_CACHE_DIR=str(cache_dir))
    env_default = base_env(XDG_DATA_HOME=str(data_home))
    cwd = str(cfg.workdir)

    def reprime() -> None:
        _prime(_OURS_ALL, env, cfg.workdir)
        _prime(_OURS_ALL, env_default, cfg.workdir)

    reprime()
    commands = [
        Command("python -c pass", "pass", env, cwd),
        Command("floor: import platformdirs, orjson", "import platformdirs, orjson", env, cwd),
        Command("import openhcs_registry", "import openhcs_registry", env, cwd),
        Command(
            "ours: list all registries (OPENHCS_CACHE_DIR)",
            _OURS_ALL,
            env,
            cwd,
            check=_expect("hit", 1),
            reprime=reprime,
        ),
        Command(
            "ours: list all registries (default folder)",
            _OURS_ALL,
            env_default,
            cwd,
            check=_expect("hit", 1),
            reprime=reprime,
        ),
    ]
    samples = interleave(commands, 1 if cfg.quick else cfg.runs_fine, cfg.warmup)
    out: dict[str, object] = {
        "commands": [
            {"label": s.label, "whole_ms": _stats(s.wall_ms), "discarded": s.discarded}
            for s in samples.values()
        ]
    }
    floor = Stats.of(samples[commands[1].label].wall_ms).median
    bare = Stats.of(samples[commands[0].label].wall_ms).median
    ours = Stats.of(samples[commands[3].label].wall_ms).median
    ours_default = Stats.of(samples[commands[4].label].wall_ms).median
    out["ours_minus_floor_ms"] = ours - floor
    out["ours_default_minus_floor_ms"] = ours_default - floor
    out["ours_minus_pass_ms"] = ours - bare
    out["floor_minus_pass_ms"] = floor - bare
    out["keys"] = samples[commands[3].label].values("count")[0]
    return out


# -- case 3: synthetic plugin sets ----------------------------------------------------------

_OURS_SYNTH = """
import orjson
_mark("floor")
import openhcs_bench_contracts as _c
_mark("defined")
_keys = list(_c.BENCH_PLUGINS)
_mark("listed")
_report(count=len(_keys), hit=int(_c.BENCH_PLUGINS.source == "cache"),
        failures=len(_c.BENCH_PLUGINS.failures))
"""

_PLUGGY_SYNTH = """
import pluggy
import openhcs_bench_api as _api
_pm = pluggy.PluginManager("openhcs")
_pm.add_hookspecs(_api)
_pm.load_setuptools_entrypoints("openhcs_bench")
_keys = [cls.key for res in _pm.hook.provide_bench_plugins() for cls in res]
_mark("listed")
_report(count=len(_keys))
"""

_STEVEDORE_SYNTH = """
from stevedore import ExtensionManager
import openhcs_bench_api as _api
_mgr = ExtensionManager("openhcs_bench")
_keys = [cls.key for ext in _mgr for cls in ext.plugin.provide_bench_plugins()]
_mark("listed")
_report(count=len(_keys))
"""


def _rm(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


#: The flat file-work bound's label in the plugins case (its report names it in the targets).
_BOUND_LABEL = "bound: the file work alone"


def synthetic_commands(cfg: Settings, size: int) -> tuple[Path, list[Command]]:
    site = synthetic.build_site(cfg.workdir, size)
    cache_dir = cfg.workdir / f"cache-synth-{size}"
    xdg_cache = cfg.workdir / f"xdg-cache-{size}"
    cache_file = cache_dir / "bench_plugins_registry.json"
    _rm(cache_dir)
    _rm(xdg_cache)
    env = base_env(
        PYTHONPATH=str(site), OPENHCS_CACHE_DIR=str(cache_dir), XDG_CACHE_HOME=str(xdg_cache)
    )
    cwd = str(cfg.workdir)
    counted = _expect("count", size)
    commands = [
        Command("floor: import platformdirs, orjson", "import platformdirs, orjson", env, cwd),
        Command(
            "ours cold",
            probe_prelude() + _OURS_SYNTH,
            env,
            cwd,
            before=lambda: _rm(cache_file),
            check=_both(counted, _expect("hit", 0), _expect("failures", 0)),
        ),
        Command(
            "ours warm",
            probe_prelude() + _OURS_SYNTH,
            env,
            cwd,
            check=_both(counted, _expect("hit", 1), _expect("failures", 0)),
        ),
        Command("pluggy", probe_prelude() + _PLUGGY_SYNTH, env, cwd, check=counted),
        # the file work of a warm start alone (benchmarks/builtin_bound.py), on the document
        # "ours cold" wrote: what any implementation that keeps the never-stale promise pays
        Command(
            _BOUND_LABEL,
            probe_prelude()
            + bound_program([str(cache_file)], report='_mark("listed")\n_report(count=n)'),
            env,
            cwd,
            check=counted,
        ),
        Command(
            "stevedore cold",
            probe_prelude() + _STEVEDORE_SYNTH,
            env,
            cwd,
            before=lambda: _rm(xdg_cache),
            check=counted,
        ),
        Command(
            "stevedore warm",
            probe_prelude() + _STEVEDORE_SYNTH,
            env,
            cwd,
            check=_both(counted, lambda _p: _expect_dir(xdg_cache) if stevedore_caches() else None),
        ),
    ]
    return site, commands


def stevedore_caches() -> bool:
    """Whether stevedore keeps its entry-point cache for this interpreter.

    stevedore disables it for interpreters under /tmp (and when a ``.disable`` file exists);
    then "stevedore warm" is simply stevedore without a cache, and the report says so.
    """
    return sys.executable[0:4] != "/tmp"


def _expect_dir(path: Path) -> None:
    if not path.is_dir() or not any(path.rglob("*")):
        raise RuntimeError(f"stevedore wrote no entry-point cache under {path}")


def case_plugins(cfg: Settings) -> dict[str, object]:
    """N real plugin distributions: ours cold/warm vs plain pluggy vs stevedore."""
    out: dict[str, object] = {"sizes": []}
    for size in cfg.sizes:
        _site, commands = synthetic_commands(cfg, size)
        runs = cfg.runs_for(size)
        samples = interleave(commands, runs, cfg.warmup)
        by = {label: s for label, s in samples.items()}
        whole = {label: Stats.of(s.wall_ms).median for label, s in by.items()}
        cold_list = by["ours cold"].between("defined", "listed")
        warm_list = by["ours warm"].between("defined", "listed")
        entry: dict[str, object] = {
            "size": size,
            "runs": runs,
            "discarded": sum(x.discarded for x in by.values()),
            "whole_ms": {label: _stats(s.wall_ms) for label, s in by.items()},
            "in_process_job_ms": {
                label: _stats(s.between(None, "listed"))
                for label, s in by.items()
                if label != "floor: import platformdirs, orjson"
            },
            "ours_cold_list_ms": _stats(cold_list),
            "ours_warm_list_ms": _stats(warm_list),
            "orjson_import_ms": _stats(by["ours warm"].between(None, "floor")),
            "ratio_in_process": ratio(Stats.of(cold_list).median, Stats.of(warm_list).median),
            "ratios_whole": {
                "pluggy / ours warm": ratio(whole["pluggy"], whole["ours warm"]),
                "stevedore warm / ours warm": ratio(whole["stevedore warm"], whole["ours warm"]),
                "stevedore cold / ours warm": ratio(whole["stevedore cold"], whole["ours warm"]),
                "ours cold / ours warm": ratio(whole["ours cold"], whole["ours warm"]),
                "ours cold / pluggy": ratio(whole["ours cold"], whole["pluggy"]),
                "ours cold / stevedore cold": ratio(whole["ours cold"], whole["stevedore cold"]),
                "ours warm - floor (ms)": whole["ours warm"]
                - whole["floor: import platformdirs, orjson"],
                "bound - floor (ms)": whole[_BOUND_LABEL]
                - whole["floor: import platformdirs, orjson"],
            },
        }
        out["sizes"].append(entry)  # type: ignore[attr-defined]
    return out


# -- case 3b: incremental rediscovery (issue 12) --------------------------------------------


def _add_distribution(site: Path, index: int) -> Path:
    """One more synthetic plugin distribution laid out as pip would (returns its package)."""
    package = site / f"openhcs_bench_p{index:04d}"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "plugin.py").write_text(synthetic._PLUGIN.format(i=index))
    info = site / f"openhcs_bench_p{index:04d}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(synthetic._METADATA.format(i=index))
    (info / "entry_points.txt").write_text(
        synthetic._ENTRY_POINTS.format(group=synthetic.GROUP, i=index)
    )
    return package


def case_incremental(cfg: Settings) -> dict[str, object]:
    """The next start after one change, vs warm: one plugin edited, one distribution
    installed, that distribution removed, another one upgraded.

    Each size gets its own copy of the synthetic site (these runs change it).  Per round:
    a warm start (its untimed ``before`` re-primes the cache: the upgrade's document may
    settle), one plugin file edited (a line appended) then the registry listed, another
    plugin's key renamed (``plugin0002`` to ``renamed0002`` or back: what it offers
    changes, as a plugin author's edit often does) then listed, a third plugin made to
    import a helper module of its package, or to stop (``from openhcs_bench_p0003 import
    _helper`` first in its module: what it reads changes, a new file among its inputs)
    then listed, one more distribution installed then listed, that distribution removed
    (as ``pip uninstall``: its package and metadata folder) then listed, distribution
    ``p0001`` upgraded from 1.0 to 2.0 (or back: its metadata folder renamed by version,
    its module replaced) then listed.  Every run is checked: the changed runs must not be
    served from the cache, and must find every key, with no failure.  The issue's targets
    are the edit and the install; removal and upgrade are the other changes it names,
    reported beside them.
    """
    return {"sizes": [_incremental_size(cfg, size) for size in cfg.sizes]}


#: The changed starts of the incremental case, in the order of a round (label, ratio name).
_CHANGES = (
    ("after one plugin edited", "edited / warm"),
    ("after one plugin's key changed", "rekeyed / warm"),
    ("after one plugin's imports changed", "reimported / warm"),
    ("after one distribution installed", "installed / warm"),
    ("after that distribution removed", "removed / warm"),
    ("after one distribution upgraded", "upgraded / warm"),
)


def _incremental_size(cfg: Settings, size: int) -> dict[str, object]:
    """One size of :func:`case_incremental` (its hooks close over this state)."""
    site = synthetic.build_site(cfg.workdir / "incremental", size)
    cache_dir = cfg.workdir / f"cache-incremental-{size}"
    cache_file = cache_dir / "bench_plugins_registry.json"
    _rm(cache_dir)
    env = base_env(PYTHONPATH=str(site), OPENHCS_CACHE_DIR=str(cache_dir))
    cwd = str(cfg.workdir)
    code = probe_prelude() + _OURS_SYNTH
    edited = site / "openhcs_bench_p0000" / "plugin.py"
    rekeyed = site / "openhcs_bench_p0002" / "plugin.py"
    third = f"openhcs_bench_p{min(3, size - 1):04d}"  # (the smoke test's site has 3)
    reimported = site / third / "plugin.py"
    helper = f"from {third} import _helper  # noqa: F401\n"
    (reimported.parent / "_helper.py").write_text("VALUE = 1\n")
    upgraded = min(synthetic.UPGRADED, size - 1)
    extra: list[Path] = []
    state = {"edits": 0, "next": 90000, "version": "1.0"}

    def undo_install() -> None:
        while extra:
            package = extra.pop()
            _rm(package)
            _rm(package.parent / f"{package.name}-1.0.dist-info")

    def warm_before() -> None:
        undo_install()  # (after a failed round: the site as built)
        _prime(code, env, Path(cwd))

    def edit() -> None:
        state["edits"] += 1
        with open(edited, "a") as fh:
            fh.write(f"# edit {state['edits']}\n")

    def rekey() -> None:
        # (the key a plugin author renames: what the plugin offers changes, its reads not)
        text = rekeyed.read_text()
        old, new = ('"plugin0002"', '"renamed0002"')
        rekeyed.write_text(text.replace(old, new) if old in text else text.replace(new, old))

    def reimport() -> None:
        # (an import added or taken out: what the plugin reads changes, its offers not)
        text = reimported.read_text()
        reimported.write_text(text.replace(helper, "") if helper in text else helper + text)

    def install() -> None:
        state["next"] += 1
        extra.append(_add_distribution(site, state["next"]))

    def upgrade() -> None:
        old = state["version"]
        state["version"] = new = "2.0" if old == "1.0" else "1.0"
        synthetic.set_version(site, upgraded, old, new)

    checks = {
        "after one plugin edited": size,
        "after one plugin's key changed": size,
        "after one plugin's imports changed": size,
        "after one distribution installed": size + 1,
        "after that distribution removed": size,
        "after one distribution upgraded": size,
    }
    befores = {
        "after one plugin edited": edit,
        "after one plugin's key changed": rekey,
        "after one plugin's imports changed": reimport,
        "after one distribution installed": install,
        "after that distribution removed": undo_install,
        "after one distribution upgraded": upgrade,
    }
    commands = [
        Command(
            "ours warm",
            code,
            env,
            cwd,
            before=warm_before,
            check=_both(_expect("count", size), _expect("hit", 1)),
        ),
        *(
            Command(
                label,
                code,
                env,
                cwd,
                before=befores[label],
                check=_both(
                    _expect("count", checks[label]), _expect("hit", 0), _expect("failures", 0)
                ),
            )
            for label, _ in _CHANGES
        ),
    ]
    try:
        _prime(code, env, Path(cwd))
        samples = interleave(commands, cfg.runs_for(size), cfg.warmup)
    finally:
        undo_install()
        reimported.write_text(reimported.read_text().replace(helper, ""))
        if state["version"] != "1.0":
            synthetic.set_version(site, upgraded, state["version"], "1.0")
        _rm(cache_file)
    whole = {label: Stats.of(s.wall_ms).median for label, s in samples.items()}
    return {
        "size": size,
        "runs": cfg.runs_for(size),
        "discarded": sum(x.discarded for x in samples.values()),
        "whole_ms": {label: _stats(s.wall_ms) for label, s in samples.items()},
        "in_process_ms": {
            label: _stats(s.between("defined", "listed")) for label, s in samples.items()
        },
        "ratios_whole": {name: ratio(whole[label], whole["ours warm"]) for label, name in _CHANGES},
    }


# -- case 4: enums --------------------------------------------------------------------------

_ENUM_HIT = """
import os as _os
_path = _os.path.join(_os.environ["OPENHCS_CACHE_DIR"], {file!r})
def _stamp():
    try:
        return _os.stat(_path).st_mtime_ns
    except OSError:
        return None
"""

_COLORMAP = """
import orjson
_mark("floor")
_before = _stamp()
from openhcs_hookspecs.colormaps import create_colormap_enum
_mark("defined")
_E = create_colormap_enum(enable_cache=True)
_mark("made")
_n = len(_E.__members__)
import sys
_hit = int(_before is not None and _stamp() == _before)
_report(count=_n, matplotlib=int("matplotlib" in sys.modules), hit=_hit)
"""

_COMPONENTS = """
import orjson
_mark("floor")
_before = _stamp()
import openhcs_hookspecs.components as _k
_mark("defined")
_n = len(_k.AllComponents.__members__) + len(_k.VariableComponents.__members__)
_n += len(_k.GroupBy.__members__)
_mark("made")
_hit = int(_before is not None and _stamp() == _before)
_report(count=_n, hit=_hit)
"""

ENUM_CACHE_FILES = {"colormap": "colormap_enum.json", "components": "component_enums.json"}


def enums_available() -> dict[str, bool]:
    def has(name: str) -> bool:
        try:
            return importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            return False

    return {
        "colormap": has("openhcs_hookspecs.colormaps") and has("matplotlib"),
        "components": has("openhcs_hookspecs.components"),
        "matplotlib": has("matplotlib"),
    }


def case_enums(cfg: Settings) -> dict[str, object]:
    """Colormap enum (matplotlib installed) and component enums: cold vs warm, in-process."""
    available = enums_available()
    out: dict[str, object] = {"available": available, "rows": []}
    cache_dir = cfg.workdir / "cache-enums"
    env = base_env(OPENHCS_CACHE_DIR=str(cache_dir), MPLCONFIGDIR=str(cfg.workdir / "mpl"))
    cwd = str(cfg.workdir)
    for name, code in (("colormap", _COLORMAP), ("components", _COMPONENTS)):
        if not available[name]:
            out["rows"].append({"label": name, "skipped": "module not available yet"})  # type: ignore[attr-defined]
            continue
        cache_file = cache_dir / ENUM_CACHE_FILES[name]
        code = probe_prelude() + _ENUM_HIT.format(file=ENUM_CACHE_FILES[name]) + code
        cold = Command(
            f"{name} cold",
            code,
            env,
            cwd,
            before=lambda f=cache_file: _rm(f),
            check=_both(_expect_at_least("count", 1), _expect("hit", 0)),
        )
        warm_code = code
        warm = Command(
            f"{name} warm",
            warm_code,
            env,
            cwd,
            check=_expect("hit", 1),
            reprime=lambda c=warm_code: _prime(c, env, cfg.workdir),
        )
        samples = interleave([cold, warm], cfg.runs, cfg.warmup)
        sc, sw = samples[cold.label], samples[warm.label]
        c_ms = sc.between("defined", "made")
        w_ms = sw.between("defined", "made")
        row: dict[str, object] = {
            "label": name,
            "members": sw.values("count")[0],
            "cold_ms": _stats(c_ms),
            "warm_ms": _stats(w_ms),
            "ratio": ratio(Stats.of(c_ms).median, Stats.of(w_ms).median),
            "cold_whole_ms": _stats(sc.wall_ms),
            "warm_whole_ms": _stats(sw.wall_ms),
            "discarded": sw.discarded,
        }
        if name == "colormap":
            row["warm_imports_matplotlib"] = bool(sw.values("matplotlib")[0])
            row["cold_imports_matplotlib"] = bool(sc.values("matplotlib")[0])
        out["rows"].append(row)  # type: ignore[attr-defined]
    return out


# -- case 5: resolving one value ------------------------------------------------------------

_RESOLVE_BUILTIN = """
import orjson, sys
from openhcs_hookspecs import load_all
_r = load_all()[{name!r}]
_keys = sorted(_r)
_before = set(sys.modules)
_mark("listed")
_v = _r[_keys[0]]
_mark("resolved")
_new = sorted(set(sys.modules) - _before)
print("@@mods " + ",".join(_new))
_report(new=len(_new), hit=int(_r.source == "cache"))
"""

_RESOLVE_SYNTH = """
import orjson, sys
import openhcs_bench_contracts as _c
_keys = list(_c.BENCH_PLUGINS)
_before = set(sys.modules)
_mark("listed")
_v = _c.BENCH_PLUGINS[{key!r}]
_mark("resolved")
_new = sorted(set(sys.modules) - _before)
print("@@mods " + ",".join(_new))
_report(new=len(_new), hit=int(_c.BENCH_PLUGINS.source == "cache"))
"""


def case_resolve(cfg: Settings) -> dict[str, object]:
    """Warm cache: resolving one value imports only its module; what that costs."""
    cache_dir = cfg.workdir / "cache-builtin"
    env = base_env(OPENHCS_CACHE_DIR=str(cache_dir))
    cwd = str(cfg.workdir)
    names = builtin_registry_names()
    if cfg.quick:
        names = names[:1]

    def reprime() -> None:
        _prime(_OURS_ALL, env, cfg.workdir)

    reprime()
    commands = [
        Command(
            f"{name}[first key]",
            probe_prelude() + _RESOLVE_BUILTIN.format(name=name),
            env,
            cwd,
            check=_expect("hit", 1),
            reprime=reprime,
        )
        for name in names
    ]
    size = 200 if 200 in cfg.sizes else min(cfg.sizes)
    site = synthetic.build_site(cfg.workdir, size)
    synth_cache = cfg.workdir / f"cache-resolve-{size}"
    synth_env = base_env(PYTHONPATH=str(site), OPENHCS_CACHE_DIR=str(synth_cache))
    key = synthetic.plugin_key(size // 2)
    synth_code = probe_prelude() + _RESOLVE_SYNTH.format(key=key)
    _prime(synth_code, synth_env, cfg.workdir)
    commands.append(
        Command(f"{size} plugins[{key}]", synth_code, synth_env, cwd, check=_expect("hit", 1))
    )
    samples = interleave(commands, cfg.runs, cfg.warmup)
    rows = []
    for cmd in commands:
        s: Sample = samples[cmd.label]
        rows.append(
            {
                "label": cmd.label,
                "resolve_ms": _stats(s.between("listed", "resolved")),
                "modules_imported": int(s.values("new")[0]),
                "discarded": s.discarded,
                "module_names": s.extra.get("mods", ""),
            }
        )
    return {"rows": rows, "synthetic_size": size}


def summary_ratio(value: float) -> str:
    return fmt_ratio(value)


def environment_note() -> dict[str, str]:
    return {k: os.environ.get(k, "") for k in ("PYTHONDONTWRITEBYTECODE",)}
