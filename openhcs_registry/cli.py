"""``openhcs-registry``: inspect, explain and manage the registries and their caches.

Commands import what they need and no more: ``list`` on a warm cache imports no plugin module,
no pluggy and no importlib.metadata.  Exit codes: 0 fine, 1 a problem was found (``verify``
differences, ``doctor`` failures, a key ``why`` cannot find), 2 bad usage (unknown registry
or key, bad arguments).
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
def cmd_list(args: argparse.Namespace) -> int:
    regs = _load_registries(args.module)
    chosen = [_pick(regs, args.registry)] if args.registry else [(r, None) for r in regs.values()]
    out: dict[str, Any] = {}
    for reg, secondary in chosen:
        mapping = _mapping(reg, secondary)
        keys = sorted(mapping)
        name = secondary or reg.name
        items = {k: mapping.info(k) for k in keys}
        out[name] = {"source": reg.source, "items": items}
        if not secondary:
            for sec in reg.config.secondary_registries:
                if args.registry is None:
                    smap = reg.secondary(sec.name)
                    out[sec.name] = {
                        "source": reg.source,
                        "items": {k: smap.info(k) for k in sorted(smap)},
                        "primary": reg.name,
                    }
    if args.json:
        _print_json(out)
        return EXIT_OK
    for name, data in out.items():
        via = f", derived from {data['primary']}" if data.get("primary") else ""
        print(f"{name}  ({len(data['items'])} keys, from {data['source']}{via})")
        rows = [
            [
                k,
                str(i.get("plugin") or ""),
                str(i.get("distribution") or "-"),
                str(i.get("version") or ""),
                str(i.get("ref") or ""),
            ]
            for k, i in data["items"].items()
        ]
        if rows:
            print(_indent(_table(rows, ["key", "plugin", "distribution", "version", "reference"])))
        print()
    return EXIT_OK


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
    info["doc"] = doc[0] if doc else ""
    info["object"] = f"{getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', '?')}"
    if args.json:
        _print_json(info)
        return EXIT_OK
    for field in (
        "key",
        "object",
        "doc",
        "plugin",
        "origin",
        "distribution",
        "version",
        "module",
        "file",
        "ref",
        "source",
    ):
        print(f"{field + ':':14}{info.get(field) if info.get(field) is not None else '-'}")
    return EXIT_OK


def cmd_why(args: argparse.Namespace) -> int:
    from .explain import explain

    regs = _load_registries(args.module)
    reg, _secondary = _pick(regs, args.registry)  # a secondary's keys are its primary's keys
    result = explain(reg, args.key)
    if args.json:
        _print_json(result.to_json())
    elif result.found:
        print(f"{args.key!r} is in {args.registry}: {result.causes[0]['detail']}")
    else:
        print(f"{args.key!r} is not in {args.registry}:")
        for cause in result.causes:
            print(f"  - {cause['cause']}: {cause['detail']}")
            if cause["advice"]:
                print(f"    what to do: {cause['advice']}")
    return EXIT_OK if result.found else EXIT_PROBLEM


def cmd_doctor(args: argparse.Namespace) -> int:
    regs = _load_registries(args.module)
    report: dict[str, Any] = {"registries": {}, "settings": {}, "environment": {}}
    problems = 0
    for name, reg in regs.items():
        info = reg.cache.info()
        keys = sorted(reg)
        failures = reg.failures
        from .diagnostics import FailureKind

        serious = [f for f in failures if f.kind not in FailureKind.QUIET]
        problems += len(serious) + (1 if info["status"] == "corrupt" else 0)
        report["registries"][name] = {
            "keys": len(keys),
            "source": reg.source,
            "cache": info,
            "failures": [f.to_json() for f in failures],
        }
    from .paths import get_openhcs_cache_dir

    report["settings"] = {
        "cache_dir": str(get_openhcs_cache_dir()),
        "cache_disabled": settings.cache_disabled(),
        "no_gpu": settings.no_gpu(),
        "entry_points_disabled": settings.entry_points_disabled(),
    }
    for var in (
        settings.CACHE_DIR_ENV,
        settings.DISABLE_CACHE_ENV,
        settings.NO_GPU_ENV,
        settings.NO_ENTRY_POINTS_ENV,
        REGISTRY_MODULES_ENV,
    ):
        report["environment"][var] = os.environ.get(var)
    report["python"] = {"executable": sys.executable, "version": sys.version.split()[0]}
    if args.json:
        _print_json(report)
        return EXIT_PROBLEM if problems else EXIT_OK
    rows = []
    for name, data in report["registries"].items():
        cache = data["cache"]
        rows.append(
            [
                name,
                str(data["keys"]),
                str(data["source"]),
                cache["status"],
                str(len(data["failures"])),
            ]
        )
    print(_table(rows, ["registry", "keys", "source", "cache", "failures"]))
    for name, data in report["registries"].items():
        for f in data["failures"]:
            where = f" at {f['location']}" if f.get("location") else ""
            print(
                f"\n[{name}] {f['kind']}: plugin {f['plugin']!r}"
                f"{' (' + f['distribution'] + ')' if f.get('distribution') else ''}: "
                f"{f['message']}{where}"
            )
    print("\nsettings:")
    for k, v in report["settings"].items():
        print(f"  {k}: {v}")
    print("environment variables:")
    for k, v in report["environment"].items():
        print(f"  {k}={v if v is not None else '(unset)'}")
    print(f"\n{'problems found: ' + str(problems) if problems else 'no problems found'}")
    return EXIT_PROBLEM if problems else EXIT_OK


def cmd_cache(args: argparse.Namespace) -> int:
    regs = _load_registries(args.module)
    targets = (
        [_pick(regs, args.registry)[0]] if getattr(args, "registry", None) else list(regs.values())
    )
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
                    str(i.get("keys", "")),
                    str(i.get("age_seconds", "")),
                    i.get("reason", ""),
                    i["path"],
                ]
                for i in infos
            ]
            print(_table(rows, ["registry", "status", "keys", "age (s)", "reason", "path"]))
        return EXIT_OK
    if action == "clear":
        from .cache import clear_cache

        removed = (
            [p for reg in targets for p in ([reg.cache.path] if reg.clear_cache() else [])]
            if getattr(args, "registry", None)
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
        out = {}
        for reg in targets:
            reg.discover(force=True)
            out[reg.name] = {"keys": len(reg), "written": reg.cache.info()["status"] == "valid"}
        if args.json:
            _print_json(out)
        else:
            for name, data in out.items():
                written = "written" if data["written"] else "NOT written (see warnings)"
                print(f"{name}: {data['keys']} keys, cache {written}")
        return EXIT_OK
    # verify
    from .discovery import run_discovery

    differences: dict[str, Any] = {}
    for reg in targets:
        state = reg.cache.load()
        fresh = run_discovery(reg.config, reg.blocked)
        fresh_refs = {k: c.ref for k, c in fresh.items.items() if c.persist}
        if state is None:
            differences[reg.name] = {"problem": "no valid cache", **reg.cache.info()}
            continue
        cached_refs = {k: i.ref for k, i in state.items.items()}
        if cached_refs != fresh_refs:
            differences[reg.name] = {
                "only_in_cache": sorted(set(cached_refs) - set(fresh_refs)),
                "only_fresh": sorted(set(fresh_refs) - set(cached_refs)),
                "different": sorted(
                    k for k in set(cached_refs) & set(fresh_refs) if cached_refs[k] != fresh_refs[k]
                ),
            }
    if args.json:
        _print_json({"ok": not differences, "differences": differences})
    elif differences:
        for name, diff in differences.items():
            print(f"{name}: MISMATCH {diff}")
    else:
        print(f"all {len(targets)} cache(s) match a fresh discovery")
    return EXIT_PROBLEM if differences else EXIT_OK


# -- parser -------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    import argparse

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="machine-readable output")
    common.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="-v: info logging and tracebacks; -vv: debug logging of discovery",
    )
    common.add_argument(
        "--module",
        action="append",
        default=[],
        metavar="MOD",
        help=f"also import registries defined in MOD (repeatable; env {REGISTRY_MODULES_ENV}=a,b)",
    )
    parser = argparse.ArgumentParser(
        prog="openhcs-registry",
        parents=[common],
        description="Inspect, explain and manage OpenHCS plugin registries and their caches.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("list", parents=[common], help="registries, keys, source, provenance")
    p.add_argument("registry", nargs="?")
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("show", parents=[common], help="one entry's provenance and doc summary")
    p.add_argument("registry")
    p.add_argument("key")
    p.set_defaults(func=cmd_show)
    p = sub.add_parser("why", parents=[common], help="explain why a key is missing")
    p.add_argument("registry")
    p.add_argument("key")
    p.set_defaults(func=cmd_why)
    p = sub.add_parser("doctor", parents=[common], help="failures, cache health, settings")
    p.set_defaults(func=cmd_doctor)
    p = sub.add_parser("cache", parents=[common], help="cache info | clear | warm | verify")
    csub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action, text in (
        ("info", "state of each cache file"),
        ("clear", "delete cache files"),
        ("warm", "discover and write every cache"),
        ("verify", "compare caches with a fresh discovery (exit 1 on a difference)"),
    ):
        a = csub.add_parser(action, parents=[common], help=text)
        a.add_argument("registry", nargs="?")
        a.set_defaults(func=cmd_cache)
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
    args = parser.parse_args(argv)
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
