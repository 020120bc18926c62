"""Long never-stale campaigns: random world changes, warm listing == fresh discovery.

The same model as tests/test_never_stale_model.py (tests/never_stale_world.py), driven by a
seeded ``random.Random`` instead of hypothesis, for thousands of operations::

    .venv/bin/python tools/never_stale_campaign.py --seed 1 --steps 5000
    .venv/bin/python tools/never_stale_campaign.py --seed 1 --world 7   # replay one world

Operations run in worlds of ``--world-steps`` operations (a new temporary virtualenv each);
world *k* of seed *s* draws its operations from ``Random(f"{s}:{k}")``, so any world can be
replayed alone.  After every operation a warm listing and a fresh discovery run in new
processes and are compared, and after a warm start that discovered, one more warm start must
be served from the cache (one change costs one rediscovery; ``--no-settle`` leaves that
out; a start that is not is reported like a divergence, its diff ``{"unsettled": ...}``,
and counted apart).  A divergence is printed with the world's operations and a
reproducer shrunk by replaying (dropping chunks, then single operations, while it still
diverges); the world is then abandoned (its cache is the wrong one) and the next one starts.
An exception of the model itself (not of the engine) is printed as ``MODEL ERROR`` and that
world is left out of the counts.  The last line is ``operations=N checks=N divergences=D
unsettled=U model_errors=E warm_from_cache=H pip_ops=P seed=S seconds=T``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from never_stale_world import ModelWorld, Op, random_op, replay


def shrink(root: Path, ops: list[Op], budget: float, settle: bool = False) -> list[Op]:
    """The shortest sub-sequence of *ops* found (within *budget* seconds) that diverges."""
    deadline = time.monotonic() + budget
    counter = 0

    def diverges(candidate: list[Op]) -> bool:
        nonlocal counter
        counter += 1
        return replay(root / f"shrink{counter}", candidate, settle) is not None

    if not diverges(ops):
        return ops  # not reproducible in a new world (timing?): report as is
    chunk = max(1, len(ops) // 2)
    while chunk >= 1 and time.monotonic() < deadline:
        i = 0
        changed = False
        while i < len(ops) and time.monotonic() < deadline:
            candidate = ops[:i] + ops[i + chunk :]
            if candidate and diverges(candidate):
                ops = candidate
                changed = True
            else:
                i += chunk
        if not changed:
            chunk //= 2
    return ops


def run_world(
    root: Path, seed: int, index: int, steps: int, shrink_budget: float, settle: bool = True
) -> tuple[ModelWorld, dict[str, Any] | None]:
    rng = random.Random(f"{seed}:{index}")  # noqa: S311 (reproducible, not secret)
    world = ModelWorld(root / f"world{index}", settle)
    diff = world.check()
    for _ in range(steps):
        if diff is not None:
            break
        world.apply(random_op(rng))
        diff = world.check()
    if diff is None:
        return world, None
    report: dict[str, Any] = {
        "seed": seed,
        "world": index,
        "ops": world.ops,
        "state": world.describe(),
        "diff": diff,
    }
    if shrink_budget > 0:
        report["shrunk"] = shrink(
            root / f"shrink{index}", list(world.ops), shrink_budget, settle and "unsettled" in diff
        )
    return world, report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=1000, help="operations in all")
    parser.add_argument("--world-steps", type=int, default=50, help="operations per world")
    parser.add_argument("--world", type=int, default=None, help="replay only this world")
    parser.add_argument("--shrink-seconds", type=float, default=300.0)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders")
    parser.add_argument(
        "--no-settle", action="store_true", help="do not ask that a change cost one rediscovery"
    )
    args = parser.parse_args(argv)

    base = Path(tempfile.mkdtemp(prefix=f"never-stale-{args.seed}-"))
    operations = checks = divergences = unsettled = hits = pip_ops = errors = 0
    started = time.monotonic()
    indices = [args.world] if args.world is not None else range(10**9)
    for index in indices:
        if args.world is None and operations >= args.steps:
            break
        steps = args.world_steps
        if args.world is None:
            steps = min(steps, args.steps - operations)
        try:
            world, report = run_world(
                base, args.seed, index, steps, args.shrink_seconds, not args.no_settle
            )
        except Exception as exc:  # the model's own fault: say so, go on with the next world
            import traceback

            errors += 1
            print(f"MODEL ERROR in world {index}: {exc!r}", flush=True)
            traceback.print_exc(file=sys.stdout)
            continue
        operations += len(world.ops)
        checks += world.checks
        hits += world.cache_hits
        pip_ops += world.pip_ops
        if report is not None and "unsettled" in report["diff"]:
            unsettled += 1
            print("UNSETTLED " + json.dumps(report, default=str), flush=True)
        elif report is not None:
            divergences += 1
            print("DIVERGENCE " + json.dumps(report, default=str), flush=True)
        print(
            f"world {index}: {len(world.ops)} operations, {world.cache_hits}/{world.checks} "
            f"warm starts from the cache, total {operations} operations "
            f"({time.monotonic() - started:.0f} s)",
            flush=True,
        )
        if not args.keep:
            world.close()
    print(
        f"operations={operations} checks={checks} divergences={divergences} "
        f"unsettled={unsettled} "
        f"model_errors={errors} "
        f"warm_from_cache={hits} pip_ops={pip_ops} seed={args.seed} "
        f"seconds={time.monotonic() - started:.0f}",
        flush=True,
    )
    if not args.keep:
        import shutil

        shutil.rmtree(base, ignore_errors=True)
    return 1 if divergences or unsettled else 0


if __name__ == "__main__":
    sys.exit(main())
