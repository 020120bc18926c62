"""The benchmarks still run: every case once, at tiny size, in a temporary folder.

No timing is asserted (the machine is shared and timings are noise here); only that each
case ran, did its job (the harness checks key counts and cache use in every child) and
produced numbers.  The real figures come from ``benchmarks/run.py`` -> BENCHMARKS.md.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from support import REPO

RUN = REPO / "benchmarks" / "run.py"


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _stats_ok(stats: object) -> bool:
    return isinstance(stats, dict) and all(_number(stats[k]) for k in ("median", "min", "max"))


def test_every_benchmark_runs_once_at_tiny_size(tmp_path: Path) -> None:
    report = tmp_path / "BENCHMARKS.md"
    raw = tmp_path / "results.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(RUN),
            "--quick",
            "--workdir",
            str(tmp_path / "work"),
            "--output",
            str(report),
            "--json",
            str(raw),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    results = json.loads(raw.read_text())

    builtin = results["builtin"]["rows"]
    assert builtin and builtin[0]["keys"] > 0
    for row in builtin:
        assert _stats_ok(row["cold_ms"]) and _stats_ok(row["warm_ms"])
    # the flat file-work bound is timed beside the listing of all registries
    assert [_stats_ok(r["bound_ms"]) for r in builtin if len(r["registries"]) > 1] == [True]

    process = results["process"]
    assert len(process["commands"]) == 5
    assert all(_stats_ok(c["whole_ms"]) for c in process["commands"])
    assert _number(process["ours_minus_floor_ms"])

    (size,) = results["plugins"]["sizes"]
    assert size["size"] == 3
    assert set(size["whole_ms"]) == {
        "bound: the file work alone",
        "floor: import platformdirs, orjson",
        "ours cold",
        "ours warm",
        "pluggy",
        "stevedore cold",
        "stevedore warm",
    }
    assert all(_stats_ok(s) for s in size["whole_ms"].values())
    assert _number(size["ratio_in_process"])
    assert _number(size["ratios_whole"]["bound - floor (ms)"])

    # the incremental case times every change the issue names, each checked to be a
    # changed start (not the cache) that finds every key
    (change,) = results["incremental"]["sizes"]
    assert list(change["whole_ms"]) == [
        "ours warm",
        "after one plugin edited",
        "after one plugin's key changed",
        "after one plugin's imports changed",
        "after one distribution installed",
        "after that distribution removed",
        "after one distribution upgraded",
    ]
    assert all(_stats_ok(s) for s in change["whole_ms"].values())
    assert set(change["ratios_whole"]) == {
        "edited / warm",
        "rekeyed / warm",
        "reimported / warm",
        "installed / warm",
        "removed / warm",
        "upgraded / warm",
    }
    assert all(_number(r) for r in change["ratios_whole"].values())

    for row in results["enums"]["rows"]:
        assert "skipped" in row or (_stats_ok(row["cold_ms"]) and _stats_ok(row["warm_ms"]))

    resolve = results["resolve"]["rows"]
    assert resolve and all(_stats_ok(r["resolve_ms"]) for r in resolve)
    # a warm lookup imports the value's own module(s), never the whole plugin set
    # (standard-library helpers the interpreter had not imported yet, e.g. importlib.util in a
    # non-editable install, and the engine's own resolution modules, imported on the first
    # value read, are not plugin modules)
    synthetic = resolve[-1]
    names = synthetic["module_names"].split(",")
    ours = {"openhcs_registry"}
    assert [m for m in names if m.partition(".")[0] not in sys.stdlib_module_names | ours] == [
        "openhcs_bench_p0001",
        "openhcs_bench_p0001.plugin",
    ]

    assert results["targets"] and all("figure" in t for t in results["targets"])
    text = report.read_text()
    assert "## Targets" in text and "## 3. Synthetic plugin sets" in text

    # --render-only rewrites the report from the raw results, measuring nothing
    report.write_text("stale")
    proc = subprocess.run(
        [
            *(sys.executable, str(RUN), "--quick", "--render-only"),
            *("--workdir", str(tmp_path / "work"), "--output", str(report), "--json", str(raw)),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert report.read_text() == text


@pytest.mark.parametrize("case", [[], ["--plugins", "20"]], ids=["builtin", "plugins"])
def test_the_bound_runs_and_both_sides_give_the_same_keys(case: list[str], tmp_path: Path) -> None:
    """benchmarks/builtin_bound.py: one round of the real first listing against the flat
    file-work script, for the built-ins and for a small synthetic registry (it exits non-zero
    if the two count different keys, or if either did not list from the cache)."""
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "builtin_bound.py"),
            "--runs",
            "1",
            "--workdir",
            str(tmp_path),
            *case,
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    lines = proc.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["ours", "bound", "floor"], proc.stdout
    # the whole-process figures are given where the floor means something: the plugins case
    assert ("whole process - floor" in lines[0]) == bool(case), proc.stdout
