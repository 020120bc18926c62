"""``openhcs-registry cache info|clear|warm|verify``: manage the cache files."""

from __future__ import annotations

import argparse
from typing import Any

from .. import settings
from .._lazy import LazyDiscoveryDict
from ._common import (
    EXIT_OK,
    EXIT_PROBLEM,
    error_text,
    load_registries,
    pick,
    print_json,
    table,
)


def cmd_cache(args: argparse.Namespace) -> int:
    regs = load_registries(args.module)
    targets = [pick(regs, args.registry)[0]] if args.registry else list(regs.values())
    action = args.action
    if action == "info":
        infos = [reg.cache.info() for reg in targets]
        if args.json:
            print_json(infos)
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
            print(table(rows, ["registry", "status", "keys", "age (s)", "path", "reason"]))
        return EXIT_OK
    if action == "clear":
        from .._cache import clear_cache

        removed = (
            [reg.cache.path for reg in targets if reg.clear_cache()]
            if args.registry
            else clear_cache()
        )
        if args.json:
            print_json([str(p) for p in removed])
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
            entry["error"] = error_text(exc)
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
        print_json(out)
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
    from .._cold._discovery import run_discovery

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
        print_json({"ok": not bad, "registries": results, "differences": bad})
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
