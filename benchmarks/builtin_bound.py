"""The bound under a warm listing: the file work alone, against ours and the floor.

    <venv>/bin/python benchmarks/builtin_bound.py --runs 31
    <venv>/bin/python benchmarks/builtin_bound.py --plugins 2000 --runs 21

Issue 12 asks for the first in-process listing of every built-in registry (and its
secondaries) in a fresh process to take ≤ 1 ms, and for a warm start at 2000 plugins to
take ≤ the floor (``import platformdirs, orjson``) + 10 ms, whole process.  This script
measures, in fresh processes and interleaved, the real listing (``ours``, as
``ab_issue12.py`` times it: the built-in registries, or with ``--plugins N`` the synthetic
registry of N plugin distributions, benchmarks/synthetic.py) and a flat script (``bound``)
that does only the file work a warm check cannot skip and nothing else: the interpreter's
binary stat'ed, the launch folder's listing, each registry document's head and warm part read
(the cold part is not), its checksum verified and its warm part parsed, the ``stat`` of
every ``sys.path`` entry, distribution declaration, recorded file and recorded folder the
documents name (each path once), and the items as dicts; the cyclic collector held off
while each document is parsed and answered, and set back after it, as a library must
(so the collector's pass that the allocations owe falls in the listing, as in ours: a
bound that held it off throughout left out ~0.1 ms that no library can).  No header,
settings, launch or failure comparison, no file-safety checks (owner, mode, symlinks), no
snapshot, views or locks: what ``ours`` pays above ``bound`` is those checks and the
engine around them, and what ``bound`` pays above the floor no implementation that keeps
the never-stale promise can skip (benchmarks/ANALYSIS.md).  Printed: medians of the
in-process listing and of the whole process (wall time of the child, as every
whole-process figure here), and the differences.  Run it from a regular install
(``pip install ".[bench]"``).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import synthetic  # noqa: E402

#: the real first listing, as ab_issue12.py times it (prints list=<ms> src=<source> n=<keys>)
from ab_issue12 import _BUILTIN  # noqa: E402
from ab_issue12 import _OURS as _PLUGINS  # noqa: E402

#: What the bound imports before its clock starts, per case: for the built-ins their
#: registry definitions (imported by ``ours`` before its clock too).  It imports ``orjson``
#: and nothing else of the floor: an implementation need not import ``platformdirs`` on a
#: warm start (ours does not), so the bound without it is the lower one.
SETUP = {"builtin": "from openhcs_hookspecs import load_all\nload_all()\n", "plugins": ""}

_BOUND = """import gc, os, sys, time
import orjson
{setup}paths = {paths!r}
t1 = time.perf_counter()
os.stat(sys.executable)
os.listdir(os.getcwd())
seen = set()
n = 0
for path in paths:
    fd = os.open(path, os.O_RDONLY)
    try:
        head = os.read(fd, 96)
        at = head.index(b',"warm":[') + 9
        close = head.index(b"]", at)
        length, total = map(int, head[at:close].split(b","))
        data = bytearray(length + 1)
        os.preadv(fd, [data], 0)
    finally:
        os.close(fd)
    view = memoryview(data)[close + 1 : length]
    acc = hash(len(view))
    for at in range(0, len(view), 1 << 14):
        acc = hash((acc, hash(int.from_bytes(view[at : at + (1 << 14)], "little"))))
    if acc != total:
        raise SystemExit("checksum")
    data[length] = 125  # the comma before the cold part closes the warm part instead
    # what it builds is never garbage: the collector is held off while one document is
    # parsed and answered, and set back after it, as a library must (a registry is read
    # at a time; the collector's pass it owes then is paid inside the listing)
    gc.disable()
    doc = orjson.loads(memoryview(data))
    env = doc["env"]
    todo = [row[0] for row in env["path"]]
    for entry, names in env["dists"].items():
        todo += [f"{{entry}}/{{name}}/entry_points.txt" for name in names]
    todo += doc["files"]
    todo += [row[0] for row in doc.get("dirs", ())]  # the folders plugins read
    for where in todo:
        if where not in seen:
            seen.add(where)
            try:
                os.stat(where)
            except OSError:
                pass
    items = dict(zip(doc["items"][0], doc["items"][1]))
    n += len(items)
    for group in doc.get("secondaries", {{}}).values():
        n += len(dict(zip(group[0], group[1])))
    gc.enable()
{report}
"""

#: How the bound says what it did when this script runs it (as ``ours`` does).
_PRINT = """t2 = time.perf_counter()
print(f"list={(t2 - t1) * 1e3:.3f} src=cache n={n}")"""


def bound_program(paths: list[str], setup: str = "", report: str = _PRINT) -> str:
    """The flat bound's program for the registry documents *paths*: *setup* runs before its
    clock, *report* after the work (``n`` holds the keys it counted).  The benchmark suite
    (benchmarks/cases.py) times it beside the synthetic registry's warm start."""
    return _BOUND.format(paths=paths, setup=setup, report=report)


_FLOOR = "import platformdirs, orjson\nprint('list=0 src=cache n=0')\n"


def _run(code: str, env: dict[str, str], cwd: str) -> tuple[float, float, int]:
    """Wall time of a fresh process running *code* (ms), its in-process listing, its keys."""
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True
    )
    wall = (time.perf_counter() - start) * 1e3
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    found = re.search(r"list=([\d.]+) src=(\w+) n=(\d+)", out.stdout)
    if found is None or found.group(2) != "cache":
        raise RuntimeError(f"not a listing from the cache: {out.stdout!r}")
    return wall, float(found.group(1)), int(found.group(3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=31)
    parser.add_argument(
        "--plugins",
        type=int,
        default=0,
        help="N: the synthetic registry of N plugin distributions (default: the built-ins)",
    )
    parser.add_argument(
        "--workdir", type=Path, default=None, help="keep the plugin site here (default: temp)"
    )
    args = parser.parse_args()
    if args.plugins < 0 or args.runs < 1:
        parser.error("--plugins must be ≥ 0 and --runs ≥ 1")
    case = "plugins" if args.plugins else "builtin"
    with tempfile.TemporaryDirectory() as scratch:
        work = str(args.workdir or scratch)
        os.makedirs(work, exist_ok=True)
        env = dict(os.environ, OPENHCS_CACHE_DIR=os.path.join(work, f"cache-bound-{case}"))
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # (imports from .pyc, as installed)
        ours = _BUILTIN
        if args.plugins:
            env["PYTHONPATH"] = str(synthetic.build_site(Path(work), args.plugins))
            ours = _PLUGINS
        subprocess.run([sys.executable, "-c", ours], env=env, cwd=work, capture_output=True)
        _run(ours, env, work)  # the caches written, then read once
        paths = sorted(str(p) for p in Path(env["OPENHCS_CACHE_DIR"]).glob("*_registry.json"))
        bound = bound_program(paths, SETUP[case])
        commands = {"ours": ours, "bound": bound, "floor": _FLOOR}
        wall: dict[str, list[float]] = {label: [] for label in commands}
        inner: dict[str, list[float]] = {label: [] for label in commands}
        counts: dict[str, set[int]] = {label: set() for label in commands}
        for i in range(args.runs + 1):
            for label, code in commands.items():
                whole, ms, count = _run(code, env, work)
                counts[label].add(count)
                if i:  # (the first round warms the page cache)
                    wall[label].append(whole)
                    inner[label].append(ms)
        if counts["ours"] != counts["bound"]:
            raise SystemExit(f"different answers: {counts}")
    med = {label: statistics.median(values) for label, values in wall.items()}
    what = f"{args.plugins} plugins" if args.plugins else "built-in registries"
    gap = statistics.median(inner["ours"]) - statistics.median(inner["bound"])
    for label in ("ours", "bound"):
        # (the built-ins' bound imports their definitions, which the floor does not: its
        # whole process says nothing there)
        whole = (
            f"; whole process - floor {med[label] - med['floor']:+.1f} ms" if args.plugins else ""
        )
        print(
            f"{label}: in-process median {statistics.median(inner[label]):.3f} ms, "
            f"best {min(inner[label]):.3f} ms{whole} ({what}, {len(paths)} documents, "
            f"{args.runs} runs)"
        )
    whole = f", whole process {med['ours'] - med['bound']:+.1f} ms" if args.plugins else ""
    print(
        f"floor: whole process {med['floor']:.1f} ms; ours - bound: in-process {gap:+.3f} ms{whole}"
    )


if __name__ == "__main__":
    main()
