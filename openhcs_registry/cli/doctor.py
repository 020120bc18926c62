"""``openhcs-registry doctor``: every failure, cache health, settings and environment."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from .. import settings
from ._common import (
    EXIT_OK,
    EXIT_PROBLEM,
    REGISTRY_MODULES_ENV,
    error_text,
    indent,
    load_registries,
    print_json,
    table,
    width,
)


def cmd_doctor(args: argparse.Namespace) -> int:
    regs = load_registries(args.module)
    report = _report(regs, args.verbose)
    code = EXIT_PROBLEM if report["problems"] else EXIT_OK
    if args.json:
        print_json(report)
        return code
    group_of = {name: reg.config.entry_point_group for name, reg in regs.items()}
    _print_registries(report)
    _print_failures(report, group_of)
    _print_settings(report)
    return code


def _report(regs: dict[str, Any], verbose: bool) -> dict[str, Any]:
    """Every registry's keys, source, cache health and failures; settings; the problems."""
    from .._diagnostics import FailureKind
    from .._paths import get_openhcs_cache_dir

    report: dict[str, Any] = {"registries": {}}
    problems: list[str] = []
    for name, reg in regs.items():
        info = reg.cache.info()  # before discovery: the health the command found
        entry: dict[str, Any] = {"keys": None, "source": None, "cache": info, "failures": []}
        try:
            entry["keys"] = len(reg)
            entry["failures"] = [f.to_json() for f in reg.failures]
        except Exception as exc:
            if verbose:
                raise
            entry["error"] = error_text(exc)
            problems.append(f"{name}: discovery failed: {entry['error']}")
        entry["source"] = reg.source
        if info["status"] == "corrupt":
            problems.append(f"{name}: corrupt cache file ({info.get('reason')})")
        report["registries"][name] = entry
    # one plugin's failure is the same in every registry that loads its entry-point group:
    # one row (naming the registries), not one per registry
    report["failures"] = grouped = _group(report["registries"])
    for g in grouped:
        if g["kind"] not in FailureKind.QUIET:
            where = ", ".join(g["registries"])
            problems.append(f"{g['kind']} in plugin {g['plugin']!r} ({where})")
    report["settings"] = {
        "cache_dir": str(get_openhcs_cache_dir()),
        "cache_disabled": settings.cache_disabled(),
        "entry_points_disabled": settings.entry_points_disabled(),
        "switches": settings.discovery_settings(),
    }
    report["environment"] = {
        var: os.environ.get(var)
        for var in (
            settings.CACHE_DIR_ENV,
            settings.DISABLE_CACHE_ENV,
            settings.NO_ENTRY_POINTS_ENV,
            *settings.declared_switches(),
            REGISTRY_MODULES_ENV,
        )
    }
    report["python"] = {"executable": sys.executable, "version": sys.version.split()[0]}
    report["problems"] = problems
    return report


def _print_registries(report: dict[str, Any]) -> None:
    rows = []
    for name, data in report["registries"].items():
        cache = data["cache"]
        status = cache["status"] + (f" ({cache['reason']})" if cache.get("reason") else "")
        rows.append(
            [
                name,
                "ERROR" if data.get("error") else str(data["keys"]),
                str(data["source"] or "-"),
                str(len(data["failures"])),
                status,
            ]
        )
    print(table(rows, ["registry", "keys", "source", "failures", "cache (before this run)"]))


def _print_failures(report: dict[str, Any], group_of: dict[str, str]) -> None:
    """One row per grouped failure (a whole entry-point group named as such)."""
    failure_rows = []
    for name, data in report["registries"].items():
        if data.get("error"):
            failure_rows.append(["-", "discovery_error", "-", name, data["error"]])
    for g in report["failures"]:
        message = g["message"] + (f" at {g['location']}" if g.get("location") else "")
        where = ", ".join(g["registries"])
        groups = {group_of[name] for name in g["registries"]}
        if len(g["registries"]) > 1 and len(groups) == 1:
            (group,) = groups
            size = sum(1 for name in group_of if group_of[name] == group)
            if size == len(g["registries"]):  # the whole entry-point group
                where = f"all {size} of group {group!r}"
        failure_rows.append(
            [g["plugin"], g["kind"], g.get("key") or "-", where, " ".join(message.split())]
        )
    if failure_rows:
        print("\nleft out of the registries:")
        print(indent(table(failure_rows, ["plugin", "kind", "key", "registries", "why"])))
        print(
            "  (unavailable, skipped, blocked and overridden are expected outcomes, not "
            "problems; `openhcs-registry why REGISTRY KEY` explains one key)"
        )


def _print_settings(report: dict[str, Any]) -> None:
    """Settings, environment variables, the interpreter, and the problems found."""
    print("\nsettings:")
    setting_rows = [[k, str(v)] for k, v in report["settings"].items()]
    print(indent("\n".join(f"{k:<{width(setting_rows)}}  {v}" for k, v in setting_rows)))
    print("environment variables:")
    env_rows = [[k, v if v is not None else "(unset)"] for k, v in report["environment"].items()]
    print(indent("\n".join(f"{k:<{width(env_rows)}}  {v}" for k, v in env_rows)))
    print(f"python: {sys.version.split()[0]} ({sys.executable})")
    problems = report["problems"]
    if problems:
        print(f"\nproblems found: {len(problems)}")
        for problem in problems:
            print(f"  - {problem}")
    else:
        print("\nno problems found")


def _group(registries: dict[str, Any]) -> list[dict[str, Any]]:
    """Failures of every registry, one entry per (plugin, kind, key, message) with the
    registries it happened in, in the order first seen."""
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    for name, data in registries.items():
        for f in data["failures"]:
            token = (f["plugin"], f["kind"], f.get("key"), f.get("module"), f["message"])
            group = groups.get(token)
            if group is None:
                group = groups[token] = {**f, "registries": []}
                group.pop("registry", None)
            group["registries"].append(name)
    return list(groups.values())
