"""Timing harness: interleaved whole-process runs, in-process probes, statistics.

Every command is a ``python -c CODE`` run of the same interpreter (the venv's, never a PATH
shim).  Commands compared with each other are *interleaved* (A, B, C, A, B, C, ...) so that
load from other work on the machine spreads over all of them instead of biasing one, and
summarised by their median (min and max are shown to make the noise visible).

Besides the parent's wall-clock time of the whole process, a command can report figures
measured inside the child ("probes"): the child code calls ``_mark(name)`` and prints its
marks on a line starting with ``@@``; :func:`probe_prelude` provides both.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: The interpreter every child runs on: the one running the benchmarks (the venv's).
PYTHON = sys.executable

_PRELUDE = """\
import time as _bt
_BT0 = _bt.perf_counter()
_BMARKS = []
def _mark(name):
    _BMARKS.append((name, _bt.perf_counter()))
def _report(**values):
    parts = [f"{n}={(t - _BT0) * 1e3:.6f}" for n, t in _BMARKS]
    parts += [f"{k}={v}" for k, v in values.items()]
    print("@@ " + " ".join(parts), flush=True)
"""


def probe_prelude() -> str:
    """Code that starts a probe's clock; the body calls ``_mark(name)`` and ``_report()``.

    The clock starts right after interpreter start-up (the first statement of ``-c``), so
    marks are "milliseconds since the program began", and differences of marks are the
    in-process cost of what ran between them.
    """
    return _PRELUDE


@dataclass
class Command:
    """One program to time: ``python -c code`` with its environment."""

    label: str
    code: str
    env: dict[str, str]
    cwd: str
    #: Called before every run, untimed (e.g. delete a cache file to make the run cold).
    before: Callable[[], None] | None = None
    #: Called with the parsed probe values of every run, to check the job was really done.
    check: Callable[[dict[str, float]], None] | None = None
    #: Called when *check* fails, before one retry (e.g. rewrite a cache that files edited
    #: during the run made stale); such runs are discarded and counted, never timed.
    reprime: Callable[[], None] | None = None


@dataclass
class Sample:
    """All runs of one command: whole-process wall times and in-process probe values."""

    label: str
    wall_ms: list[float] = field(default_factory=list)
    probes: list[dict[str, float]] = field(default_factory=list)
    #: ``@@name text`` lines of the last run (e.g. the modules a run imported).
    extra: dict[str, str] = field(default_factory=dict)
    #: Runs thrown away because their check failed and the command was re-primed.
    discarded: int = 0

    def values(self, name: str) -> list[float]:
        """One probe value (a mark or a reported number) across runs."""
        return [p[name] for p in self.probes if name in p]

    def between(self, start: str | None, end: str) -> list[float]:
        """Milliseconds between two marks (``start=None``: since the child's clock began)."""
        out = []
        for p in self.probes:
            if end in p and (start is None or start in p):
                out.append(p[end] - (p[start] if start is not None else 0.0))
        return out


@dataclass
class Stats:
    median: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Stats:
        if not values:
            raise ValueError("no values")
        return cls(statistics.median(values), min(values), max(values), len(values))

    def fmt(self, digits: int = 1) -> str:
        return f"{self.median:.{digits}f} ({self.low:.{digits}f}-{self.high:.{digits}f})"


def parse_probe(stdout: str) -> dict[str, float]:
    """The ``@@ name=value ...`` line of a child's output, as floats."""
    for line in reversed(stdout.splitlines()):
        if line.startswith("@@ "):
            out: dict[str, float] = {}
            for part in line[3:].split():
                name, _, value = part.partition("=")
                out[name] = float(value)
            return out
    return {}


def parse_extra(stdout: str) -> dict[str, str]:
    """The ``@@name text`` lines of a child's output."""
    out = {}
    for line in stdout.splitlines():
        if line.startswith("@@") and not line.startswith("@@ "):
            name, _, text = line[2:].partition(" ")
            out[name] = text
    return out


class CheckFailed(RuntimeError):
    """A run did not do the job it was meant to time (wrong count, cache not used...)."""


def run_once(cmd: Command) -> tuple[float, dict[str, float], str]:
    """Run *cmd* once; return its wall time in ms, its probe values and its output."""
    if cmd.before is not None:
        cmd.before()
    start = time.perf_counter()
    proc = subprocess.run(
        [PYTHON, "-c", cmd.code],
        env=cmd.env,
        cwd=cmd.cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = (time.perf_counter() - start) * 1e3
    if proc.returncode != 0:
        raise RuntimeError(
            f"benchmark command {cmd.label!r} failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
        )
    probe = parse_probe(proc.stdout)
    if cmd.check is not None:
        try:
            cmd.check(probe)
        except CheckFailed:
            raise
        except Exception as exc:
            raise CheckFailed(f"{cmd.label}: {exc}") from exc
    return wall, probe, proc.stdout


def _run_checked(
    cmd: Command, sample: Sample | None, attempts: int = 4
) -> tuple[float, dict[str, float], str]:
    for attempt in range(attempts):
        try:
            return run_once(cmd)
        except CheckFailed:
            if cmd.reprime is None or attempt == attempts - 1:
                raise
            if sample is not None:
                sample.discarded += 1
            cmd.reprime()
    raise AssertionError("unreachable")


def interleave(commands: Sequence[Command], runs: int, warmup: int = 1) -> dict[str, Sample]:
    """Run every command *runs* times, round-robin, after *warmup* untimed rounds."""
    samples = {cmd.label: Sample(cmd.label) for cmd in commands}
    for _ in range(warmup):
        for cmd in commands:
            _run_checked(cmd, None)
    for _ in range(runs):
        for cmd in commands:
            sample = samples[cmd.label]
            wall, probe, stdout = _run_checked(cmd, sample)
            sample.wall_ms.append(wall)
            sample.probes.append(probe)
            sample.extra = parse_extra(stdout)
    return samples


def in_process_repeat(func: Callable[[], object], runs: int) -> Stats:
    """Time *func* in this process *runs* times (milliseconds)."""
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        out.append((time.perf_counter() - start) * 1e3)
    return Stats.of(out)


def base_env(**extra: str) -> dict[str, str]:
    """The environment of every child: this one, bytecode writing allowed, plus *extra*.

    ``PYTHONDONTWRITEBYTECODE`` is removed: the sites are compiled before the runs, and a
    child must not recompile every module it imports in memory (that is not what a user's
    installed environment does).  ``PYTHONPATH`` is set only by the cases that need it.
    """
    env = {k: v for k, v in os.environ.items() if k not in _DROP}
    env.update(extra)
    return env


_DROP = frozenset(
    {
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONPATH",
        "PYTHONSTARTUP",
        "PYTHONPROFILEIMPORTTIME",
        "PYTHONVERBOSE",
        "OPENHCS_CACHE_DIR",
        "OPENHCS_DISABLE_REGISTRY_CACHE",
        "OPENHCS_SUBPROCESS_NO_GPU",
        "OPENHCS_DISABLE_ENTRY_POINTS",
        "XDG_CACHE_HOME",
        "XDG_DATA_HOME",
    }
)


def check_install(repo: Path, *, strict: bool = True) -> str:
    """How the interpreter running the benchmarks has the project: ``"editable"`` or
    ``"regular"``; raises SystemExit if a regular install is not the checkout's code.

    An editable install puts an import finder in every process (``site`` imports it at
    start-up: ~12 ms on the benchmark machine, with ``pathlib`` and ``importlib.util``),
    which no user's installed environment pays and which is added alike to every
    whole-process figure, the floor included: differences stay true, but ratios move
    toward 1.  So the figures of record come from a regular install (``pip install
    ".[bench]"``, not ``-e``); then the installed packages must be the checkout's files,
    or the report would name a commit it did not measure (*strict*; reinstall with
    ``pip install --force-reinstall --no-deps .``).
    """
    import site

    folders = [Path(p) for p in site.getsitepackages()]
    if any(f.name.startswith("__editable__") for d in folders for f in d.glob("*.pth")):
        print(
            "[bench] warning: the project is installed editable; every child process imports "
            "its finder (~12 ms here): use a regular install for figures of record",
            file=sys.stderr,
        )
        return "editable"
    import importlib.util

    stale = []
    for package, source in (
        ("openhcs_registry", repo / "openhcs_registry"),
        ("openhcs_hookspecs", repo / "hookspecs" / "openhcs_hookspecs"),
        ("openhcs_plugins", repo / "plugins" / "openhcs_plugins"),
    ):
        spec = importlib.util.find_spec(package)
        if spec is None or spec.origin is None:
            stale.append(f"{package} (not installed)")
            continue
        installed = Path(spec.origin).parent
        for path in source.rglob("*.py"):
            copy = installed / path.relative_to(source)
            if not copy.is_file() or copy.read_bytes() != path.read_bytes():
                stale.append(str(path.relative_to(repo)))
    if stale and strict:
        raise SystemExit(
            f"[bench] the installed project differs from the checkout ({', '.join(stale[:5])}"
            f"{', ...' if len(stale) > 5 else ''}): reinstall with "
            f"`{sys.executable} -m pip install --force-reinstall --no-deps {repo}`"
        )
    return "regular"


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else float("inf")


def fmt_ratio(value: float) -> str:
    if value == float("inf"):
        return "∞"
    return f"{value:.0f}x" if value >= 100 else f"{value:.1f}x"


def md_table(header: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    """A Markdown table."""
    head = list(header)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        lines.append("| " + " | ".join(str(c) for c in row) + " |")
    return "\n".join(lines)
