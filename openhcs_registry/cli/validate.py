"""``openhcs-registry validate PATH|DIST``: check a plugin without importing it.

PATH is a plugin project folder (its ``pyproject.toml`` entry points and source), DIST an
installed distribution (its entry points and installed source).  The check reads the source
with :mod:`ast` and never imports the plugin; it imports only the contracts and the classes
the plugin builds on from outside itself (``openhcs_hookspecs``, a built-in plugin it extends),
which it needs to know what a subclass must provide.  It finds, before anyone installs or runs
the plugin:

- entry points in no group a registry reads, and targets whose module or attribute is missing;
- hookimpls whose name no hookspec declares (misspelt: "did you mean"), functions named like
  a hookspec but not decorated, hookimpl parameters the hookspec does not have;
- returned classes that do not subclass the registry's base class, are abstract (the methods
  to implement are named), carry no string key or inherit their parent's key;
- secondary references (``metadata_handler = "pkg.meta:Cls"``) that point nowhere;
- registry subclasses in an entry-point module that its hook does not return (not registered).

What cannot be followed statically (a computed list) is a note, never an error.  ``--import``
then runs the real discovery on the plugin in a fresh interpreter with a private cache (a
project folder is put on the path together with a temporary ``.dist-info`` holding its entry
points) and reports the keys it provides and every failure.  Exit 0: no error; 1: an error was
found; 2: bad usage (no such folder or distribution).  The static check is
:mod:`._plugin_check`, reading what :mod:`._plugin_source` loads.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._common import EXIT_OK, EXIT_PROBLEM, REGISTRY_MODULES_ENV, print_json
from ._plugin_check import Checker
from ._plugin_source import BrokenProject, Finding, Project, load_project

# -- --import: the real discovery in a subprocess ---------------------------------------------


def run_import(
    project: Project, modules: Sequence[str] = (), timeout: float = 300
) -> dict[str, Any]:
    """Discover every registry in a fresh interpreter with the plugin present; its report."""
    import json
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory(prefix="openhcs-validate-") as tmp:
        env = dict(os.environ)
        env["OPENHCS_CACHE_DIR"] = str(Path(tmp) / "cache")
        env.pop("OPENHCS_DISABLE_REGISTRY_CACHE", None)
        env.pop("OPENHCS_DISABLE_ENTRY_POINTS", None)  # the plugin comes in as an entry point
        if modules:  # --module registries are discovered in the child too
            extra = [m for m in env.get(REGISTRY_MODULES_ENV, "").split(",") if m.strip()]
            env[REGISTRY_MODULES_ENV] = ",".join([*extra, *modules])
        name = project.name or "unnamed-plugin"
        if not project.installed:
            # the project as if installed: its source roots and a .dist-info with its entry
            # points, first on the path (shadowing an installed copy of the same distribution)
            info = Path(tmp) / "site" / f"{name.replace('-', '_')}-0+validate.dist-info"
            info.mkdir(parents=True)
            (info / "METADATA").write_text(
                f"Metadata-Version: 2.1\nName: {name}\nVersion: 0+validate\n"
            )
            lines: list[str] = []
            for group in sorted({g for g, _, _ in project.entry_points}):
                lines.append(f"[{group}]")
                lines += [f"{n} = {v}" for g, n, v in project.entry_points if g == group]
            (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
            paths = [str(info.parent), *(str(r) for r in project.roots)]
            env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")]).rstrip(
                os.pathsep
            )
        code = f"from openhcs_registry.cli.validate import _child; _child({name!r})"
        proc = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    out = proc.stdout.strip().splitlines()
    try:
        report: dict[str, Any] = json.loads(out[-1])
    except (IndexError, ValueError):
        return {
            "error": f"discovery subprocess failed (exit {proc.returncode}): {proc.stderr[-2000:]}"
        }
    report["stderr"] = proc.stderr
    return report


def _child(dist: str) -> None:
    """In the subprocess: discover everything and report what belongs to *dist*."""
    import json
    import logging

    logging.disable(logging.WARNING)  # the report carries every failure
    from .contracts import load_contracts

    regs, _ = load_contracts(())
    canon = dist.lower().replace("_", "-").replace(".", "-")

    def ours(value: str | None) -> bool:
        return bool(value) and value.lower().replace("_", "-").replace(".", "-") == canon  # type: ignore[union-attr]

    report: dict[str, Any] = {"keys": {}, "failures": [], "errors": []}
    for reg in regs.values():
        try:
            reg.discover(force=True)
            keys = sorted(k for k in reg if ours(reg.info(k).get("distribution")))
        except Exception as exc:
            report["errors"].append(f"{reg.name}: discovery raised {type(exc).__name__}: {exc}")
            continue
        for key in keys:
            try:
                reg[key]
            except Exception as exc:
                report["errors"].append(f"{reg.name}[{key!r}] cannot be loaded: {exc}")
        if keys:
            report["keys"][reg.name] = keys
        for sec in reg.config.secondary_registries:
            view = reg.secondary(sec.name)
            sec_keys = [k for k in keys if k in view]
            for key in sec_keys:
                try:
                    view[key]
                except Exception as exc:
                    report["errors"].append(f"{sec.name}[{key!r}] cannot be loaded: {exc}")
            if sec_keys:
                report["keys"][sec.name] = sec_keys
        for failure in reg.failures:
            if ours(failure.distribution):
                report["failures"].append(
                    {
                        "registry": reg.name,
                        "kind": failure.kind,
                        "plugin": failure.plugin,
                        "key": failure.key,
                        "message": failure.message,
                    }
                )
    print(json.dumps(report))


#: Failure kinds of ``--import`` that are expected outcomes, not errors.
_EXPECTED = {"unavailable": "note", "skipped": "note", "overridden": "note", "blocked": "note"}


def cmd_validate(args: argparse.Namespace) -> int:
    try:
        project = load_project(args.target)
    except BrokenProject as exc:
        if args.json:
            print_json(
                {
                    "target": args.target,
                    "ok": False,
                    "findings": [Finding("error", str(exc)).as_json()],
                }
            )
        else:
            print(f"validating {args.target}\n  error: {exc}\n1 error(s), 0 warning(s)")
        return EXIT_PROBLEM
    from .contracts import load_contracts

    regs, specs = load_contracts(args.module)
    checker = Checker(project, regs, specs)
    checker.run()
    findings = checker.findings
    report: dict[str, Any] = {
        "target": project.label,
        "distribution": project.name,
        "entry_points": [{"group": g, "name": n, "value": v} for g, n, v in project.entry_points],
        "keys": checker.keys,
    }
    if args.run_import:
        imported = run_import(project, args.module)
        report["import"] = {k: v for k, v in imported.items() if k != "stderr"}
        if "error" in imported:
            findings.append(Finding("error", f"--import: {imported['error']}"))
        else:
            for failure in imported["failures"]:
                level = _EXPECTED.get(failure["kind"], "error")
                if failure["kind"] == "not_returned":
                    level = "warning"
                key = f" {failure['key']!r}" if failure.get("key") else ""
                findings.append(
                    Finding(
                        level,
                        f"--import: {failure['registry']}{key}: {failure['kind']}: "
                        f"{failure['message']} (plugin {failure['plugin']})",
                    )
                )
            findings += [Finding("error", f"--import: {text}") for text in imported["errors"]]
            if not imported["keys"] and not imported["failures"]:
                findings.append(
                    Finding("error", "--import: discovery found nothing of this plugin")
                )
    errors = [f for f in findings if f.level == "error"]
    report["ok"] = not errors
    report["findings"] = [f.as_json() for f in findings]
    if args.json:
        print_json(report)
        return EXIT_PROBLEM if errors else EXIT_OK
    print(f"validating {project.label}")
    for finding in findings:
        print(f"  {finding.level}: {finding.where()}{finding.message}")
    for reg_name, keys in checker.keys.items():
        print(f"  provides {reg_name}: {', '.join(keys)}")
    if args.run_import and "keys" in report.get("import", {}):
        for reg_name, keys in report["import"]["keys"].items():
            print(f"  discovered {reg_name}: {', '.join(keys)}")
    warnings = sum(f.level == "warning" for f in findings)
    print(f"{len(errors)} error(s), {warnings} warning(s)" + ("" if errors else ": OK"))
    return EXIT_PROBLEM if errors else EXIT_OK
