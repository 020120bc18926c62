"""``openhcs-registry``: inspect, explain and manage the registries and their caches.

Commands import what they need and no more: ``list`` on a warm cache imports no plugin module,
no pluggy and no importlib.metadata (only ``why`` reads entry-point metadata).  The common
options (``--json``, ``-v``, ``--module``) go before or after the command.

Exit codes: 0 fine; 1 a problem was found (``why``: the key is missing; ``doctor``: failures
other than expected outcomes, a corrupt cache, a registry that cannot be discovered; ``cache
verify``: a difference or no valid cache; ``cache warm``: a cache not written; ``list``: a
registry that cannot be discovered; any unexpected error); 2 bad usage (unknown registry or
key, with the known ones listed; bad arguments; a ``--module`` that cannot be imported).
"""

from __future__ import annotations

import os
import sys

from . import settings

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence
    from typing import Any

    from .lazy import LazyDiscoveryDict

EXIT_OK = 0
EXIT_PROBLEM = 1
EXIT_USAGE = 2

REGISTRY_MODULES_ENV = "OPENHCS_REGISTRY_MODULES"


class UsageError(Exception):
    """Bad input from the user: reported in one line, exit code 2."""


# -- output -------------------------------------------------------------------------------------
def _print_json(data: Any) -> None:
    import orjson

    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2, default=str).decode() + "\n")


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [len(h) for h in header]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    return "\n".join(lines)


# -- registries ---------------------------------------------------------------------------------
def _load_registries(modules: Sequence[str]) -> dict[str, LazyDiscoveryDict[Any]]:
    """Import the contract modules (built-in + ``--module``/env) and return their registries."""
    import importlib

    import openhcs_hookspecs

    from .lazy import registries

    extra = [m for m in os.environ.get(REGISTRY_MODULES_ENV, "").split(",") if m.strip()]
    for module in [*openhcs_hookspecs.REGISTRY_MODULES, *extra, *modules]:
        try:
            importlib.import_module(module.strip())
        except ImportError as exc:
            raise UsageError(f"cannot import registry module {module!r}: {exc}") from exc
    return registries()


def _pick(regs: dict[str, LazyDiscoveryDict[Any]], name: str) -> tuple[Any, str | None]:
    """The registry called *name*, or (primary, secondary name) for a secondary registry."""
    if name in regs:
        return regs[name], None
    for reg in regs.values():
        for sec in reg.config.secondary_registries:
            if sec.name == name:
                return reg, name
    known = sorted(regs) + sorted(
        s.name for r in regs.values() for s in r.config.secondary_registries
    )
    raise UsageError(f"unknown registry {name!r}; known: {', '.join(known)}")


def _mapping(reg: Any, secondary: str | None) -> Any:
    return reg.secondary(secondary) if secondary else reg


# -- commands -----------------------------------------------------------------------------------
def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def cmd_list(args: argparse.Namespace) -> int:
    regs = _load_registries(args.module)
    chosen = [_pick(regs, args.registry)] if args.registry else [(r, None) for r in regs.values()]
    out: dict[str, Any] = {}
    status = EXIT_OK
    for reg, secondary in chosen:
        names = [secondary] if secondary else [reg.name]
        if not secondary and args.registry is None:
            names += [sec.name for sec in reg.config.secondary_registries]
        for name in names:
            mapping = _mapping(reg, None if name == reg.name else name)
            entry: dict[str, Any] = {"source": None, "items": {}}
            if name != reg.name:
                entry["primary"] = reg.name
            try:
                entry["items"] = {k: mapping.info(k) for k in sorted(mapping)}
            except Exception as exc:  # a registry whose discovery fails: say so, list the rest
                if args.verbose:
                    raise
                entry["error"] = _error_text(exc)
                status = EXIT_PROBLEM
            entry["source"] = reg.source
            out[name] = entry
    if args.json:
        _print_json(out)
        return status
    for name, data in out.items():
        via = f", derived from {data['primary']}" if data.get("primary") else ""
        print(f"{name}  ({len(data['items'])} keys, from {data['source']}{via})")
        if data.get("error"):
            print(f"  ERROR: {data['error']} (run with -v for details)")
        rows = [
            [
                k,
                str(i.get("plugin") or "-"),
                str(i.get("distribution") or "-"),
                str(i.get("version") or "-"),
                str(i.get("ref") or "-"),
            ]
            for k, i in data["items"].items()
        ]
        if rows:
            print(_indent(_table(rows, ["key", "plugin", "distribution", "version", "reference"])))
        print()
    return status


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def cmd_show(args: argparse.Namespace) -> int:
    regs = _load_registries(args.module)
    reg, secondary = _pick(regs, args.registry)
    mapping = _mapping(reg, secondary)
    if args.key not in mapping:
        raise UsageError(
            f"{args.key!r} is not in registry {args.registry!r} "
            f"(known: {', '.join(sorted(mapping)) or 'none'}); try `openhcs-registry why "
            f"{args.registry} {args.key}`"
        )
    info = dict(mapping.info(args.key))
    value = mapping[args.key]
    doc = (getattr(value, "__doc__", None) or "").strip().splitlines()
    info["doc"] = doc[0].strip() if doc else ""
    target = value if isinstance(value, type) else type(value)
    info["object"] = f"{target.__module__}.{target.__qualname__}"
    if not isinstance(value, type):
        info["object"] += " instance"
    if args.json:
        _print_json(info)
        return EXIT_OK
    version = info.get("version")
    dist = info.get("distribution")
    rows = [
        ("key", info["key"]),
        ("registry", args.registry),
        ("object", info["object"]),
        ("summary", info["doc"]),
        ("plugin", info.get("plugin")),
        ("origin", info.get("origin")),
        ("distribution", f"{dist} {version}" if dist and version else dist),
        ("module", info.get("module")),
        ("file", info.get("file")),
        ("reference", info.get("ref")),
        ("source", info.get("source")),
    ]
    width = max(len(name) for name, _ in rows) + 2
    for name, val in rows:
        print(f"{name + ':':{width}}{val if val not in (None, '') else '-'}")
    return EXIT_OK


def cmd_why(args: argparse.Namespace) -> int:
    from .explain import explain

    regs = _load_registries(args.module)
    reg, secondary = _pick(regs, args.registry)
    result = explain(reg, args.key, secondary=secondary)
    if args.json:
        _print_json(result.to_json())
    elif result.found:
        print(f"{args.key!r} is in {args.registry}: {result.causes[0]['detail']}")
        for cause in result.causes[1:]:
            print(f"  note - {cause['cause']}: {cause['detail']}")
    else:
        print(f"{args.key!r} is not in {args.registry}:")
        for cause in result.causes:
            print(f"  - {cause['cause']}: {cause['detail']}")
            if cause["advice"]:
                print(f"    what to do: {cause['advice']}")
    return EXIT_OK if result.found else EXIT_PROBLEM


def cmd_doctor(args: argparse.Namespace) -> int:
    from .diagnostics import FailureKind
    from .paths import get_openhcs_cache_dir

    regs = _load_registries(args.module)
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
            entry["error"] = _error_text(exc)
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
        "no_gpu": settings.no_gpu(),
        "entry_points_disabled": settings.entry_points_disabled(),
    }
    report["environment"] = {
        var: os.environ.get(var)
        for var in (
            settings.CACHE_DIR_ENV,
            settings.DISABLE_CACHE_ENV,
            settings.NO_GPU_ENV,
            settings.NO_ENTRY_POINTS_ENV,
            REGISTRY_MODULES_ENV,
        )
    }
    report["python"] = {"executable": sys.executable, "version": sys.version.split()[0]}
    report["problems"] = problems
    code = EXIT_PROBLEM if problems else EXIT_OK
    if args.json:
        _print_json(report)
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
    print(_table(rows, ["registry", "keys", "source", "failures", "cache (before this run)"]))
    failure_rows = []
    for name, data in report["registries"].items():
        if data.get("error"):
            failure_rows.append([name, "discovery_error", "-", "-", data["error"]])
        for f in data["failures"]:
            message = f["message"] + (f" at {f['location']}" if f.get("location") else "")
            failure_rows.append([name, f["kind"], f["plugin"], f.get("key") or "-", message])
    if failure_rows:
        print("\nleft out of the registries:")
        print(_indent(_table(failure_rows, ["registry", "kind", "plugin", "key", "why"])))
        print(
            "  (unavailable, gpu_skipped and blocked are expected outcomes, not problems; "
            "`openhcs-registry why REGISTRY KEY` explains one key)"
        )
    print("\nsettings:")
    setting_rows = [[k, str(v)] for k, v in report["settings"].items()]
    print(_indent("\n".join(f"{k:<{_width(setting_rows)}}  {v}" for k, v in setting_rows)))
    print("environment variables:")
    env_rows = [[k, v if v is not None else "(unset)"] for k, v in report["environment"].items()]
    print(_indent("\n".join(f"{k:<{_width(env_rows)}}  {v}" for k, v in env_rows)))
    print(f"python: {sys.version.split()[0]} ({sys.executable})")
    if problems:
        print(f"\nproblems found: {len(problems)}")
        for problem in problems:
            print(f"  - {problem}")
    else:
        print("\nno problems found")
    return code


def _width(rows: list[list[str]]) -> int:
    return max((len(r[0]) for r in rows), default=0)


def cmd_cache(args: argparse.Namespace) -> int:
    regs = _load_registries(args.module)
    targets = [_pick(regs, args.registry)[0]] if args.registry else list(regs.values())
    action = args.action
    if action == "info":
        infos = [reg.cache.info() for reg in targets]
        if args.json:
            _print_json(infos)
        else:
            rows = [
                [
                    i["registry"],
                    i["status"],
                    str(i.get("keys", "-")),
                    str(i.get("age_seconds", "-")),
                    i["path"],
                    i.get("reason", ""),
                ]
                for i in infos
            ]
            print(_table(rows, ["registry", "status", "keys", "age (s)", "path", "reason"]))
        return EXIT_OK
    if action == "clear":
        from .cache import clear_cache

        removed = (
            [reg.cache.path for reg in targets if reg.clear_cache()]
            if args.registry
            else clear_cache()
        )
        if args.json:
            _print_json([str(p) for p in removed])
        else:
            print(f"removed {len(removed)} cache file(s)")
            for p in removed:
                print(f"  {p}")
        return EXIT_OK
    if action == "warm":
        return _cache_warm(args, targets)
    return _cache_verify(args, targets)


def _cache_warm(args: argparse.Namespace, targets: list[LazyDiscoveryDict[Any]]) -> int:
    out: dict[str, Any] = {}
    status = EXIT_OK
    for reg in targets:
        entry: dict[str, Any] = {"keys": None, "written": False, "path": str(reg.cache.path)}
        try:
            reg.discover(force=True)
            entry["keys"] = len(reg)
        except Exception as exc:
            if args.verbose:
                raise
            entry["error"] = _error_text(exc)
        info = reg.cache.info()
        entry["written"] = info["status"] == "valid"
        if not entry["written"]:
            if not reg.cache.enabled:
                entry["reason"] = (
                    f"caching is disabled ({settings.DISABLE_CACHE_ENV}=1)"
                    if settings.cache_disabled()
                    else "caching is disabled for this registry (enable_cache=False)"
                )
            else:
                entry["reason"] = entry.get("error") or info.get("reason") or info["status"]
            if reg.cache.enabled or settings.cache_disabled():
                status = EXIT_PROBLEM
        out[reg.name] = entry
    if args.json:
        _print_json(out)
        return status
    for name, data in out.items():
        written = "cache written" if data["written"] else f"NOT cached: {data['reason']}"
        keys = "ERROR" if data["keys"] is None else f"{data['keys']} keys"
        print(f"{name}: {keys}, {written}")
    return status


def _refs(items: dict[str, Any]) -> dict[str, str | None]:
    return {k: getattr(v, "ref", None) for k, v in items.items()}


def _compare(cached: dict[str, str | None], fresh: dict[str, str | None]) -> dict[str, Any]:
    diff = {
        "only_in_cache": sorted(set(cached) - set(fresh)),
        "only_fresh": sorted(set(fresh) - set(cached)),
        "different": sorted(k for k in set(cached) & set(fresh) if cached[k] != fresh[k]),
    }
    return {k: v for k, v in diff.items() if v}


def _cache_verify(args: argparse.Namespace, targets: list[LazyDiscoveryDict[Any]]) -> int:
    from .discovery import run_discovery

    results: dict[str, Any] = {}
    for reg in targets:
        state = reg.cache.load()
        if state is None:
            results[reg.name] = {"ok": False, "problem": "no valid cache", **reg.cache.info()}
            continue
        fresh = run_discovery(reg.config, reg.blocked)
        persisted = {k: c for k, c in fresh.items.items() if c.persist}
        diff = _compare(_refs(state.items), _refs(persisted))
        for name, group in fresh.secondaries.items():
            fresh_group = {k: c for k, c in group.items() if c.persist and k in persisted}
            sec_diff = _compare(_refs(state.secondaries.get(name, {})), _refs(fresh_group))
            if sec_diff:
                diff[name] = sec_diff
        results[reg.name] = {"ok": not diff, **({"differences": diff} if diff else {})}
    bad = {name: r for name, r in results.items() if not r["ok"]}
    if args.json:
        _print_json({"ok": not bad, "registries": results, "differences": bad})
    else:
        for name, r in results.items():
            if r["ok"]:
                print(f"{name}: cache matches a fresh discovery")
            elif "problem" in r:
                reason = f": {r['reason']}" if r.get("reason") else ""
                print(f"{name}: {r['problem']} ({r['status']}{reason})")
            else:
                print(f"{name}: cache DIFFERS from a fresh discovery:")
                for what, keys in r["differences"].items():
                    print(f"  {what}: {keys}")
        if bad:
            print(
                f"\n{len(bad)} of {len(results)} cache(s) do not match; "
                "`openhcs-registry cache warm` rewrites them"
            )
    return EXIT_PROBLEM if bad else EXIT_OK


# -- parser -------------------------------------------------------------------------------------
def _add_common(parser: argparse.ArgumentParser, top: bool) -> None:
    """The options every command takes, before or after the command name.

    The copies on the sub-commands write to their own ``sub_*`` destinations (argparse would
    otherwise let a sub-command's defaults overwrite what was given before the command:
    ``openhcs-registry -vv list`` would lose ``-vv``); :func:`_merge_common` joins them.
    """
    import argparse

    prefix = "" if top else "sub_"
    hidden: Any = argparse.SUPPRESS
    parser.add_argument(
        "--json",
        dest=prefix + "json",
        action="store_true",
        default=False if top else hidden,
        help="machine-readable output",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        dest=prefix + "verbose",
        action="count",
        default=0 if top else hidden,
        help="-v: info logging and tracebacks; -vv: debug logging of discovery",
    )
    parser.add_argument(
        "--module",
        dest=prefix + "module",
        action="append",
        default=[] if top else hidden,
        metavar="MOD",
        help=f"also import registries defined in MOD (repeatable; env {REGISTRY_MODULES_ENV}=a,b)",
    )


def _merge_common(args: argparse.Namespace) -> argparse.Namespace:
    args.json = args.json or getattr(args, "sub_json", False)
    args.verbose = args.verbose + (getattr(args, "sub_verbose", 0) or 0)
    args.module = [*args.module, *(getattr(args, "sub_module", None) or [])]
    return args


def build_parser() -> argparse.ArgumentParser:
    import argparse

    parser = argparse.ArgumentParser(
        prog="openhcs-registry",
        description="Inspect, explain and manage OpenHCS plugin registries and their caches.",
        epilog="exit codes: 0 fine, 1 a problem was found, 2 bad usage (unknown registry or key)",
    )
    _add_common(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, text: str, func: Any, parent: Any = sub) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = parent.add_parser(name, help=text, description=text)
        _add_common(p, top=False)
        p.set_defaults(func=func)
        return p

    p = command(
        "list", "registries, their keys, source (cache/fresh), plugin and distribution", cmd_list
    )
    p.add_argument("registry", nargs="?")
    p = command("show", "one entry's provenance and the doc summary of its object", cmd_show)
    p.add_argument("registry")
    p.add_argument("key")
    p = command("why", "explain why a key is missing from a registry (exit 1 if it is)", cmd_why)
    p.add_argument("registry")
    p.add_argument("key")
    command(
        "doctor",
        "every failure, cache health, settings and environment (exit 1: problems)",
        cmd_doctor,
    )
    p = sub.add_parser(
        "cache", help="cache info | clear | warm | verify", description="Manage the cache files."
    )
    csub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action, text in (
        ("info", "state of each cache file (valid, stale and why, corrupt, missing)"),
        ("clear", "delete cache files (one registry's, or every openhcs cache file)"),
        ("warm", "discover every registry afresh and write its cache"),
        ("verify", "compare each cache with a fresh discovery (exit 1 on a difference)"),
    ):
        a = command(action, text, cmd_cache, csub)
        a.add_argument("registry", nargs="?")
    return parser


def _configure_logging(verbosity: int) -> None:
    if verbosity <= 0:
        return
    import logging

    logging.basicConfig(
        level=logging.DEBUG if verbosity >= 2 else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``openhcs-registry`` and ``python -m openhcs_registry``."""
    parser = build_parser()
    args = _merge_common(parser.parse_args(argv))
    _configure_logging(args.verbose)
    try:
        code: int = args.func(args)
    except UsageError as exc:
        print(f"openhcs-registry: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `openhcs-registry list | head`: the reader left, not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:
        if args.verbose:
            raise
        print(
            f"openhcs-registry: {type(exc).__name__}: {exc} (run with -v for details)",
            file=sys.stderr,
        )
        return EXIT_PROBLEM
    sys.stdout.flush()
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
