"""Run every benchmark and write BENCHMARKS.md (and the raw figures as JSON).

    python -m venv /work/bvenv && /work/bvenv/bin/pip install ".[bench]"   # not -e
    /work/bvenv/bin/python benchmarks/run.py              # full run, ~5-10 minutes
    /work/bvenv/bin/python benchmarks/run.py --quick      # every case once at tiny size

Use the interpreter of the environment you want to measure (a virtualenv's ``bin/python``,
not a launcher shim): every child process runs on ``sys.executable``.  The figures of record
come from a regular install of this checkout (checked: a stale install stops the run; an
editable one is reported, see :func:`harness.check_install`).  Generated plugin
distributions, caches and results live under ``benchmarks/.work/`` (git-ignored) unless
``--workdir`` says otherwise.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import cases  # noqa: E402
import functions_case  # noqa: E402
import synthetic  # noqa: E402
import workers  # noqa: E402
from harness import PYTHON, check_install, fmt_ratio, md_table  # noqa: E402

CASES = ("builtin", "process", "plugins", "incremental", "enums", "resolve", "functions", "workers")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="every case once, 3 plugins (smoke)")
    p.add_argument("--runs", type=int, default=15, help="timed runs per command (default 15)")
    p.add_argument(
        "--runs-large", type=int, default=15, help="runs at the largest plugin set (default 15)"
    )
    p.add_argument(
        "--runs-fine",
        type=int,
        default=41,
        help="runs of the whole-process built-ins case, a 1 ms target (default 41)",
    )
    p.add_argument("--sizes", default="20,200,2000", help="plugin set sizes (default 20,200,2000)")
    p.add_argument("--cases", default=",".join(CASES), help=f"subset of {','.join(CASES)}")
    p.add_argument("--workdir", type=Path, default=HERE / ".work", help="scratch folder")
    p.add_argument(
        "--output", type=Path, default=REPO / "BENCHMARKS.md", help="Markdown report to write"
    )
    p.add_argument("--json", type=Path, default=None, help="raw results (default workdir)")
    p.add_argument(
        "--render-only",
        action="store_true",
        help="measure nothing: rewrite the report from the raw results of the last run "
        "(after editing ANALYSIS.md)",
    )
    return p.parse_args(argv)


def machine() -> dict[str, object]:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
                break
    except OSError:
        pass
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for dist in ("openhcs-registry", "pluggy", "stevedore", "orjson", "platformdirs", "matplotlib"):
        try:
            versions[dist] = version(dist)
        except PackageNotFoundError:
            versions[dist] = "not installed"
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = "?"
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": mem,
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "executable": PYTHON,
        "in_virtualenv": sys.prefix != sys.base_prefix,
        "versions": versions,
        "commit": commit,
        "loadavg_start": _loadavg(),
        "editable_install": check_install(REPO, strict=False) == "editable",
    }


def _loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def compile_project() -> None:
    """Bytecode for the project's packages (what an installed wheel would have)."""
    for folder in ("openhcs_registry", "hookspecs", "plugins"):
        path = REPO / folder
        if path.is_dir():
            synthetic.compile_tree(path)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    selected = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = set(selected) - set(CASES)
    if unknown:
        raise SystemExit(f"unknown case(s): {sorted(unknown)}")
    workdir: Path = args.workdir.resolve()
    if args.render_only:
        json_path = args.json or workdir / ("results-quick.json" if args.quick else "results.json")
        if not json_path.is_file():
            raise SystemExit(f"no results at {json_path}: run the benchmarks first")
        results = json.loads(json_path.read_text())
        args.output.write_text(render(results, quick=args.quick))
        print(f"[bench] rewrote {args.output} from {json_path}", file=sys.stderr)
        return 0
    workdir.mkdir(parents=True, exist_ok=True)
    if not args.quick:
        check_install(REPO)  # (the figures of record: the checkout's code, installed)
    if args.quick:
        cfg = cases.Settings(workdir, runs=1, runs_large=1, sizes=(3,), warmup=0, quick=True)
    else:
        sizes = tuple(int(s) for s in args.sizes.split(","))
        cfg = cases.Settings(
            workdir,
            runs=args.runs,
            runs_large=args.runs_large,
            runs_fine=args.runs_fine,
            sizes=sizes,
            large=max(sizes),
        )
    # fresh caches every run (the plugin sites are reused if complete)
    for child in workdir.iterdir():
        if child.name.startswith(("cache-", "xdg-")):
            cases._rm(child)
    compile_project()
    info = machine()
    started = time.perf_counter()
    results: dict[str, object] = {"machine": info, "settings": _settings(cfg)}
    runners = {
        "builtin": cases.case_builtin,
        "process": cases.case_process,
        "plugins": cases.case_plugins,
        "incremental": cases.case_incremental,
        "enums": cases.case_enums,
        "resolve": cases.case_resolve,
        "functions": functions_case.case_functions,
        "workers": workers.case_workers,
    }
    for name in CASES:
        if name in selected:
            t = time.perf_counter()
            print(f"[bench] {name} ...", file=sys.stderr, flush=True)
            results[name] = runners[name](cfg)
            print(f"[bench] {name}: {time.perf_counter() - t:.1f} s", file=sys.stderr, flush=True)
    info["loadavg_end"] = _loadavg()
    info["duration_s"] = round(time.perf_counter() - started, 1)
    results["targets"] = evaluate_targets(results)
    json_path = args.json or workdir / ("results-quick.json" if args.quick else "results.json")
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=2, default=str))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(render(results, quick=args.quick))
    print(f"[bench] wrote {args.output} and {json_path}", file=sys.stderr)
    return 0


def _settings(cfg: cases.Settings) -> dict[str, object]:
    return {
        "runs": cfg.runs,
        "runs_large": cfg.runs_large,
        "runs_fine": cfg.runs_fine,
        "sizes": list(cfg.sizes),
        "warmup_rounds": cfg.warmup,
        "quick": cfg.quick,
    }


# -- targets --------------------------------------------------------------------------------


def evaluate_targets(results: dict[str, object]) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []

    def add(name: str, met: bool | None, figure: str) -> None:
        out.append({"target": name, "met": met, "figure": figure})

    builtin = results.get("builtin")
    if isinstance(builtin, dict):
        rows = builtin["rows"]
        all_row = next((r for r in rows if r["label"] == "all registries"), None)
        if all_row is not None:
            w = all_row["warm_ms"]["median"]
            add(
                "in-process warm listing of all built-in registries <= 1 ms (OpenHCS: 16 ms)",
                w <= 1.0,
                f"{w:.2f} ms median, orjson already imported; "
                f"{all_row['warm_incl_orjson_ms']['median']:.1f} ms counting the orjson import; "
                f"{all_row['warm_repeat_ms']['median']:.2f} ms re-read in a warm process"
                + (
                    f"; the file work alone (flat bound) {all_row['bound_ms']['median']:.2f} ms"
                    if "bound_ms" in all_row
                    else ""
                ),
            )
        per = [r for r in rows if r["label"] != "all registries"]
        if per:
            worst = min(per, key=lambda r: r["ratio"])
            add(
                "warm/cold >= 10x per built-in registry, in-process",
                all(r["ratio"] >= 10 for r in per),
                ", ".join(f"{r['label']} {fmt_ratio(r['ratio'])}" for r in per)
                + f" (lowest: {worst['label']})",
            )
        elif all_row is not None:
            add(
                "warm/cold >= 10x per built-in registry, in-process",
                all_row["ratio"] >= 10,
                f"all registries together {fmt_ratio(all_row['ratio'])} "
                "(per-registry rows skipped)",
            )
    plugins = results.get("plugins")
    if isinstance(plugins, dict):
        by_size = {e["size"]: e for e in plugins["sizes"]}
        if 200 in by_size:
            r = by_size[200]["ratio_in_process"]
            add(
                "warm/cold >= 50x at 200 plugins, in-process",
                r >= 50,
                f"{fmt_ratio(r)} ({by_size[200]['ours_cold_list_ms']['median']:.1f} ms -> "
                f"{by_size[200]['ours_warm_list_ms']['median']:.2f} ms)",
            )
        for size, e in sorted(by_size.items()):
            w = e["whole_ms"]
            ours = w["ours warm"]["median"]
            pl = w["pluggy"]["median"]
            sw = w["stevedore warm"]["median"]
            add(
                f"whole process faster than plain pluggy and stevedore at {size} plugins",
                ours < pl and ours < sw,
                f"ours warm {ours:.1f} ms vs pluggy {pl:.1f} ms ({fmt_ratio(pl / ours)}) and "
                f"stevedore (its cache warm) {sw:.1f} ms ({fmt_ratio(sw / ours)})",
            )
        for size, e in sorted(by_size.items()):
            w = e["whole_ms"]
            cold, pl = w["ours cold"]["median"], w["pluggy"]["median"]
            add(
                f"cold <= 1.0x plain pluggy at {size} plugins",
                cold <= pl,
                f"ours cold {cold:.1f} ms vs pluggy {pl:.1f} ms ({fmt_ratio(cold / pl)})",
            )
            floor = w["floor: import platformdirs, orjson"]["median"]
            warm = w["ours warm"]["median"]
            if size >= 2000:
                bound = w.get("bound: the file work alone")
                add(
                    f"warm <= floor + 10 ms at {size} plugins",
                    warm - floor <= 10.0,
                    f"ours warm {warm:.1f} ms, floor {floor:.1f} ms ({warm - floor:+.1f} ms)"
                    + (
                        ""
                        if bound is None
                        else f"; the file work alone (flat bound) {bound['median'] - floor:+.1f} ms"
                    ),
                )
    incremental = results.get("incremental")
    if isinstance(incremental, dict):
        for e in incremental["sizes"]:
            r = e["ratios_whole"]
            for what, key, note in (
                ("one plugin edited", "edited / warm", ""),
                ("one plugin's key changed", "rekeyed / warm", " (an edit that changes offers)"),
                (
                    "one plugin's imports changed",
                    "reimported / warm",
                    " (an edit that changes what it reads)",
                ),
                ("one more distribution installed", "installed / warm", ""),
                ("that distribution removed", "removed / warm", " (not in the issue's list)"),
                ("one distribution upgraded", "upgraded / warm", " (not in the issue's list)"),
            ):
                if key not in r:  # (raw results of an older run: --render-only)
                    continue
                add(
                    f"next start after {what} <= 2x a warm start at {e['size']} plugins{note}",
                    r[key] <= 2.0,
                    f"{fmt_ratio(r[key])} of warm (whole process; warm "
                    f"{e['whole_ms']['ours warm']['median']:.1f} ms)",
                )
    process = results.get("process")
    if isinstance(process, dict):
        d = process["ours_minus_floor_ms"]
        add(
            "whole-process warm start within 5 ms of the dependency floor",
            d <= 5.0,
            f"{d:+.1f} ms vs `import platformdirs, orjson` (`OPENHCS_CACHE_DIR` set)",
        )
        add(
            "built-in registries: warm whole process <= floor + 1 ms (issue 12)",
            d <= 1.0,
            f"{d:+.1f} ms vs `import platformdirs, orjson` (`OPENHCS_CACHE_DIR` set)",
        )
        dd = process["ours_default_minus_floor_ms"]
        add(
            "same, default cache folder (no `OPENHCS_CACHE_DIR`; not in the issue's list)",
            dd <= 5.0,
            f"{dd:+.1f} ms: on Linux the folder comes from the XDG rule, "
            "without importing platformdirs (see the analysis)",
        )
    enums = results.get("enums")
    if isinstance(enums, dict):
        row = next((r for r in enums["rows"] if r["label"] == "colormap"), None)
        if row is None or "skipped" in row:
            add("warm colormap enum <= 0.5 ms in-process", None, "not measured (see case 4)")
        else:
            w = row["warm_ms"]["median"]
            add("warm colormap enum <= 0.5 ms in-process", w <= 0.5, f"{w:.2f} ms median")
    if "functions" in results:
        for name, met, figure in functions_case.targets(results["functions"]):
            add(name, met, figure)
    return out


# -- report ---------------------------------------------------------------------------------


def _f(stats: dict[str, float], digits: int = 1) -> str:
    return f"{stats['median']:.{digits}f} ({stats['min']:.{digits}f}-{stats['max']:.{digits}f})"


def render(results: dict[str, object], quick: bool = False) -> str:
    m = results["machine"]
    s = results["settings"]
    assert isinstance(m, dict) and isinstance(s, dict)
    out: list[str] = ["# Benchmarks", ""]
    if quick:
        out += [
            "**Quick smoke run: one run per command at tiny size; the figures mean nothing.**",
            "",
        ]
    out += [
        "Generated by `benchmarks/run.py` — do not edit by hand; rerun it:",
        "",
        "```bash",
        'pip install ".[bench]"                      # a regular install (not -e) of this checkout',
        "<venv>/bin/python benchmarks/run.py",
        "```",
        "",
        "## Machine and run",
        "",
        f"- Date: {m['date']}; commit {m['commit']}; the run took {m.get('duration_s')} s.",
        f"- {m['cpu']}, {m['cores']} cores, {m['memory']} RAM; {m['platform']}.",
        f"- {m['implementation']} {m['python']} at `{m['executable']}` "
        f"(virtualenv: {'yes' if m['in_virtualenv'] else 'no'}; project installed "
        f"{'editable' if m['editable_install'] else 'normally'}).",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()) + ".",
        f"- Load average at start {m['loadavg_start']}, at end {m.get('loadavg_end')} — the "
        "machine is shared with other work, so absolute figures are noisy; compare the ratios "
        "and the medians of interleaved runs.",
        "- Bytecode: the project's packages and every generated plugin site are compiled with "
        "`compileall` before the runs, and `PYTHONDONTWRITEBYTECODE` (set on this machine) is "
        "removed from the children's environment, so every run imports from `.pyc` files as an "
        "installed environment does. Third-party packages were compiled by pip at install.",
        f"- Runs: every command {s['runs']} timed runs ({s['runs_large']} at the largest plugin "
        f"set; {s.get('runs_fine', s['runs'])} in the whole-process built-ins case, whose target "
        f"is a difference of 1 ms), after {s['warmup_rounds']} untimed warm-up round(s); "
        "commands compared with each "
        "other are interleaved (A, B, C, A, B, C, ...). Figures are **median (min-max)** in ms.",
        "",
        "## Method",
        "",
        "- *In-process* figures are taken inside a fresh child process around the registry "
        "operation only. The registry definitions (`openhcs_hookspecs`, or the benchmark's "
        "contracts module) and `orjson` — a mandatory dependency, the floor of this design — "
        "are imported before the clock starts; the `orjson` import is reported next to it. "
        "*Re-read* figures redo the operation in the same process (`reset()` then list), all "
        "imports done.",
        "- *Whole-process* figures are the wall clock of `python -c ...` from the parent.",
        "- *Cold* = no usable cache: for the OpenHCS table `OPENHCS_DISABLE_REGISTRY_CACHE=1` "
        '(as OpenHCS\'s "without cache"); for the plugin sets the cache file is deleted before '
        "every cold run, which therefore also writes it. *Warm* = a valid cache from an "
        "earlier run. Every run checks it did the job: the number of keys found, whether the "
        "cache was used (or not), no plugin failures.",
        "",
    ]
    out += _render_builtin(results.get("builtin"))
    out += _render_process(results.get("process"))
    out += _render_plugins(results.get("plugins"))
    out += _render_incremental(results.get("incremental"))
    out += _render_enums(results.get("enums"))
    out += _render_resolve(results.get("resolve"))
    if "functions" in results:
        out += functions_case.render(results["functions"])
    out += workers.render(results.get("workers"))
    discarded = _count_discarded(results)
    out += [
        f"Warm runs discarded and retried because files changed under the run (other work "
        f"editing the checkout made a cache stale; the cache was rewritten first): {discarded}.",
        "",
    ]
    targets = results.get("targets") or []
    out += ["## Targets", ""]
    out.append(
        md_table(
            ["target", "status", "figure"],
            [
                [
                    t["target"],
                    "not measured"
                    if t["met"] is None
                    else ("**met**" if t["met"] else "**not met**"),
                    t["figure"],
                ]
                for t in targets  # type: ignore[union-attr]
            ],
        )
    )
    out.append("")
    analysis = HERE / "ANALYSIS.md"
    if analysis.exists() and not quick:
        out += [analysis.read_text().rstrip(), ""]
    return "\n".join(out)


def _count_discarded(node: object) -> int:
    if isinstance(node, dict):
        own = node.get("discarded", 0)
        return (own if isinstance(own, int) else 0) + sum(
            _count_discarded(v) for k, v in node.items() if k != "discarded"
        )
    if isinstance(node, list):
        return sum(_count_discarded(v) for v in node)
    return 0


def _render_builtin(res: object) -> list[str]:
    if not isinstance(res, dict):
        return []
    out = [
        "## 1. The OpenHCS table: built-in registries, without vs with cache (in-process)",
        "",
        "OpenHCS documents: microscope 30 → 3 ms, storage 40 → 4 ms, ZMQ servers 20 → 2 ms, "
        "library 50 → 5 ms, format 15 → 2 ms; total ~155 → ~16 ms (9.7x). Here each row is the "
        "first listing of that registry (with its secondary registries) in a fresh process, so "
        "each row pays the one-time costs (pluggy, `importlib.metadata`, entry-point scan) that "
        "the *all registries* row pays once.",
        "",
    ]
    rows = []
    for r in res["rows"]:
        rows.append(
            [
                r["label"],
                int(r["keys"]),
                _f(r["cold_ms"]),
                _f(r["warm_ms"], 2),
                fmt_ratio(r["ratio"]),
                _f(r["warm_incl_orjson_ms"]),
                fmt_ratio(r["ratio_incl_orjson"]),
                _f(r["cold_repeat_ms"], 2),
                _f(r["warm_repeat_ms"], 3),
            ]
        )
    out.append(
        md_table(
            [
                "registry",
                "keys",
                "without cache",
                "with cache",
                "ratio",
                "with cache + orjson import",
                "ratio",
                "re-discover (imports done)",
                "re-read cache",
            ],
            rows,
        )
    )
    out.append("")
    return out


def _render_process(res: object) -> list[str]:
    if not isinstance(res, dict):
        return []
    out = [
        "## 2. Whole process, warm cache",
        "",
        f"`import openhcs_registry` and list every registry's keys ({int(res['keys'])} keys, "
        "secondaries included), against an empty interpreter and against a process that only "
        "imports the mandatory dependencies `platformdirs` and `orjson` (pluggy is needed only "
        "by discovery, i.e. cold).",
        "",
        md_table(
            ["command", "whole process (ms)"],
            [[c["label"], _f(c["whole_ms"])] for c in res["commands"]],
        ),
        "",
        f"Ours - floor: **{res['ours_minus_floor_ms']:+.1f} ms** (`OPENHCS_CACHE_DIR` set, so "
        f"platformdirs is not imported); {res['ours_default_minus_floor_ms']:+.1f} ms with the "
        f"default folder (XDG rule, platformdirs not imported on Linux). Floor - `pass`: "
        f"{res['floor_minus_pass_ms']:+.1f} ms; "
        f"ours - `pass`: {res['ours_minus_pass_ms']:+.1f} ms.",
        "",
    ]
    return out


def _render_plugins(res: object) -> list[str]:
    if not isinstance(res, dict):
        return []
    out = [
        "## 3. Synthetic plugin sets: openhcs-registry vs plain pluggy vs stevedore",
        "",
        "N real distributions (a package with a hookimpl module, a `.dist-info` with `METADATA` "
        "and `entry_points.txt`) in one site folder on `PYTHONPATH`. Every command does the same "
        "job — list the keys of all N plugins — and is checked to find exactly N: ours through "
        "a `RegistryConfig` on the `openhcs_bench` group; pluggy with "
        "`load_setuptools_entrypoints` + the hook call; stevedore with `ExtensionManager` "
        "(with its own entry-point cache under `XDG_CACHE_HOME`; *cold* = that cache deleted; "
        + (
            ""
            if cases.stevedore_caches()
            else "**stevedore disables that cache for an interpreter under /tmp, as here: "
            "its warm and cold runs are the same job** "
        )
        + ") "
        "and the hook function of each extension.",
        "",
    ]
    for e in res["sizes"]:
        labels = list(e["whole_ms"])
        job = e["in_process_job_ms"]
        rows = [
            [lab, _f(e["whole_ms"][lab]), _f(job[lab]) if lab in job else "—"] for lab in labels
        ]
        out += [
            f"### {e['size']} plugins ({e['runs']} runs)",
            "",
            md_table(["command", "whole process", "in-process, whole job"], rows),
            "",
            f"In-process listing, ours: cold {_f(e['ours_cold_list_ms'])} → warm "
            f"{_f(e['ours_warm_list_ms'], 2)} = **{fmt_ratio(e['ratio_in_process'])}** "
            f"(orjson import, before the clock: {_f(e['orjson_import_ms'])}).",
            "",
            "Ratios of medians (whole process): "
            + "; ".join(
                f"{k} {v:+.1f}" if k.endswith("(ms)") else f"{k} {fmt_ratio(v)}"
                for k, v in e["ratios_whole"].items()
            )
            + ".",
            "",
        ]
    return out


def _render_incremental(res: object) -> list[str]:
    if not isinstance(res, dict):
        return []
    out = [
        "## 3b. Incremental rediscovery: the next start after one change",
        "",
        "A copy of the synthetic site per size. Interleaved per round: a warm start; one "
        "plugin file edited (a line appended) then the registry listed; another plugin's key "
        "renamed (`plugin0002` to `renamed0002` or back: an edit that changes what it offers) "
        "then listed; a third plugin made to import a helper module of its package, or to "
        "stop (`from openhcs_bench_p0003 import _helper`: an edit that changes what it "
        "reads) then listed; one more plugin "
        "distribution installed then the registry listed; that distribution removed (its "
        "package and metadata folder, as `pip uninstall`) then the registry listed; "
        "distribution `p0001` upgraded from 1.0 to 2.0, or back (a metadata folder of the "
        "new version, the old one removed, its module replaced by new code) then the "
        "registry listed. Each changed start is checked to be served *not* from the cache, "
        "to find every key and to report no failure. The issue's targets are the edit and "
        "the install; removal and upgrade are the other changes it names.",
        "",
    ]
    for e in res["sizes"]:
        rows = [
            [label, _f(e["whole_ms"][label]), _f(e["in_process_ms"][label])]
            for label in e["whole_ms"]
        ]
        out += [
            f"### {e['size']} plugins ({e['runs']} runs)",
            "",
            md_table(["command", "whole process", "in-process listing"], rows),
            "",
            "Ratios of medians (whole process): "
            + "; ".join(f"{k} {fmt_ratio(v)}" for k, v in e["ratios_whole"].items())
            + ".",
            "",
        ]
    return out


def _render_enums(res: object) -> list[str]:
    if not isinstance(res, dict):
        return []
    out = ["## 4. Enums: colormap (matplotlib installed) and components, cold vs warm", ""]
    rows = []
    notes = []
    for r in res["rows"]:
        if "skipped" in r:
            notes.append(f"- {r['label']}: skipped — {r['skipped']}.")
            continue
        rows.append(
            [
                r["label"],
                int(r["members"]),
                _f(r["cold_ms"]),
                _f(r["warm_ms"], 3),
                fmt_ratio(r["ratio"]),
                _f(r["cold_whole_ms"]),
                _f(r["warm_whole_ms"]),
            ]
        )
        if "warm_imports_matplotlib" in r:
            notes.append(
                f"- colormap: matplotlib imported on the warm path: "
                f"{'yes' if r['warm_imports_matplotlib'] else 'no'} (cold: "
                f"{'yes' if r['cold_imports_matplotlib'] else 'no'})."
            )
    if rows:
        out.append(
            md_table(
                [
                    "enum",
                    "members",
                    "cold, in-process",
                    "warm, in-process",
                    "ratio",
                    "cold, whole process",
                    "warm, whole process",
                ],
                rows,
            )
        )
        out.append("")
    out += notes
    out.append("")
    return out


def _render_resolve(res: object) -> list[str]:
    if not isinstance(res, dict):
        return []
    out = [
        "## 5. Resolving one value on a warm cache",
        "",
        "After a warm listing, `registry[key]` imports only the module of that value (counted "
        "from `sys.modules`); pluggy and stevedore import every plugin module to answer the "
        "same question.",
        "",
        md_table(
            ["lookup", "resolve (ms, in-process)", "modules imported", "which"],
            [
                [
                    r["label"],
                    _f(r["resolve_ms"], 2),
                    r["modules_imported"],
                    "`" + (r["module_names"] or "-").replace(",", "`, `") + "`",
                ]
                for r in res["rows"]
            ],
        ),
        "",
    ]
    return out


if __name__ == "__main__":
    raise SystemExit(main())
