"""``openhcs-registry doctor``: every failure, cache health, settings and environment."""

from __future__ import annotations

import os
import sys

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

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any


def cmd_doctor(args: argparse.Namespace) -> int:
    from ..diagnostics import FailureKind
    from ..paths import get_openhcs_cache_dir

    regs = load_registries(args.module)
    report: dict[str, Any] = {"registries": {}}
    problems: list[str] = []
    for name, reg in regs.items():
        info = reg.cache.info()  # before discovery: the health the command found
        entry: dict[str, Any] = {"keys": None, "source": None, "cache": info, "failures": []}
        try:
            entry["keys"] = len(reg)
            entry["failures"] = [f.to_json() for f in reg.failures]
        except Exception as exc:
            if args.verbose:
                raise
            entry["error"] = error_text(exc)
            problems.append(f"{name}: discovery failed: {entry['error']}")
        entry["source"] = reg.source
        for f in entry["failures"]:
            if f["kind"] not in FailureKind.QUIET:
                problems.append(f"{name}: {f['kind']} in plugin {f['plugin']!r}")
        if info["status"] == "corrupt":
            problems.append(f"{name}: corrupt cache file ({info.get('reason')})")
        report["registries"][name] = entry
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
    code = EXIT_PROBLEM if problems else EXIT_OK
    if args.json:
        print_json(report)
        return code
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
    failure_rows = []
    for name, data in report["registries"].items():
        if data.get("error"):
            failure_rows.append([name, "discovery_error", "-", "-", data["error"]])
        for f in data["failures"]:
            message = f["message"] + (f" at {f['location']}" if f.get("location") else "")
            failure_rows.append([name, f["kind"], f["plugin"], f.get("key") or "-", message])
    if failure_rows:
        print("\nleft out of the registries:")
        print(indent(table(failure_rows, ["registry", "kind", "plugin", "key", "why"])))
        print(
            "  (unavailable, skipped and blocked are expected outcomes, not problems; "
            "`openhcs-registry why REGISTRY KEY` explains one key)"
        )
    print("\nsettings:")
    setting_rows = [[k, str(v)] for k, v in report["settings"].items()]
    print(indent("\n".join(f"{k:<{width(setting_rows)}}  {v}" for k, v in setting_rows)))
    print("environment variables:")
    env_rows = [[k, v if v is not None else "(unset)"] for k, v in report["environment"].items()]
    print(indent("\n".join(f"{k:<{width(env_rows)}}  {v}" for k, v in env_rows)))
    print(f"python: {sys.version.split()[0]} ({sys.executable})")
    if problems:
        print(f"\nproblems found: {len(problems)}")
        for problem in problems:
            print(f"  - {problem}")
    else:
        print("\nno problems found")
    return code
