"""The bound under the built-in registries' first warm listing: the file work alone.

    <venv>/bin/python benchmarks/builtin_bound.py --runs 31

Issue 12 asks for the first in-process listing of every built-in registry (and its
secondaries) in a fresh process to take ≤ 1 ms.  This script measures, in fresh processes
and interleaved, that listing (``ours``, as ``ab_issue12.py --cases builtin`` times it) and
a flat script (``bound``) that does only the file work a warm check cannot skip and nothing
else: the interpreter's real path, the launch folder's listing, each registry document
opened, read, its checksum verified and its warm part parsed, the ``stat`` of every
``sys.path`` entry, distribution declaration and recorded file the documents name (each
path once), and the items as dicts.  No header, settings, launch or failure comparison, no
file-safety checks (owner, mode, symlinks), no snapshot, views or locks: what ``ours``
pays above ``bound`` is those checks and the engine around them
(benchmarks/ANALYSIS.md).  Both import ``orjson`` and the registry definitions before the
clock starts; run it from a regular install (``pip install ".[bench]"``).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
#: the real first listing, as ab_issue12.py times it (prints list=<ms> src=<source> n=<keys>)
from ab_issue12 import _BUILTIN as _OURS  # noqa: E402

_BOUND = """import os, sys, time
import orjson
from openhcs_hookspecs import load_all
load_all()
paths = {paths!r}
t1 = time.perf_counter()
os.path.realpath(sys.executable)
os.listdir(os.getcwd())
seen = set()
n = 0
for path in paths:
    fd = os.open(path, os.O_RDONLY)
    try:
        data = os.read(fd, os.fstat(fd).st_size)
    finally:
        os.close(fd)
    end = data.rfind(b',"checksum":')
    mark = data.rfind(b',"split":', 0, end)
    at = int(data[mark + 9 : end]) if mark > 0 else end
    body = data[:at] + b"}}"
    if hash(int.from_bytes(body, "little")) != int(data[end + 12 : -1]):
        raise SystemExit("checksum")
    doc = orjson.loads(body)
    env = doc["env"]
    todo = [row[0] for row in env["path"]]
    for entry, names in env["dists"].items():
        todo += [f"{{entry}}/{{name}}/entry_points.txt" for name in names]
    todo += doc["files"]
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
t2 = time.perf_counter()
print(f"list={{(t2 - t1) * 1e3:.3f}} src=cache n={{n}}")
"""


def _run(code: str, env: dict[str, str], cwd: str) -> tuple[float, int]:
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True
    )
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    found = re.search(r"list=([\d.]+) src=(\w+) n=(\d+)", out.stdout)
    if found is None or found.group(2) != "cache":
        raise RuntimeError(f"not a listing from the cache: {out.stdout!r}")
    return float(found.group(1)), int(found.group(3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=31)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        env = dict(os.environ, OPENHCS_CACHE_DIR=os.path.join(work, "cache"))
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # (imports from .pyc, as installed)
        subprocess.run([sys.executable, "-c", _OURS], env=env, cwd=work, capture_output=True)
        _run(_OURS, env, work)  # the caches written, then read once
        paths = sorted(str(p) for p in Path(work, "cache").glob("*_registry.json"))
        bound = _BOUND.format(paths=paths)
        times: dict[str, list[float]] = {"ours": [], "bound": []}
        counts: dict[str, set[int]] = {"ours": set(), "bound": set()}
        for i in range(args.runs + 1):
            for label, code in (("ours", _OURS), ("bound", bound)):
                ms, count = _run(code, env, work)
                counts[label].add(count)
                if i:  # (the first round warms the page cache)
                    times[label].append(ms)
        if counts["ours"] != counts["bound"]:
            raise SystemExit(f"different answers: {counts}")
        for label, values in times.items():
            print(
                f"{label}: median {statistics.median(values):.3f} ms, "
                f"best {min(values):.3f} ms ({len(paths)} documents, {args.runs} runs)"
            )


if __name__ == "__main__":
    main()
