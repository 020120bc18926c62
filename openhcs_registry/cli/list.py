"""``openhcs-registry list``: registries, their keys, source, plugin and distribution."""

from __future__ import annotations

from ._common import (
    EXIT_OK,
    EXIT_PROBLEM,
    error_text,
    indent,
    load_registries,
    pick,
    print_json,
    table,
    view_of,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any


def cmd_list(args: argparse.Namespace) -> int:
    regs = load_registries(args.module)
    chosen = [pick(regs, args.registry)] if args.registry else [(r, None) for r in regs.values()]
    out: dict[str, Any] = {}
    status = EXIT_OK
    for reg, secondary in chosen:
        names = [secondary] if secondary else [reg.name]
        if not secondary and args.registry is None:
            names += [sec.name for sec in reg.config.secondary_registries]
        for name in names:
            mapping = view_of(reg, None if name == reg.name else name)
            entry: dict[str, Any] = {"source": None, "items": {}}
            if name != reg.name:
                entry["primary"] = reg.name
            try:
                entry["items"] = {k: mapping.info(k) for k in sorted(mapping)}
                if getattr(args, "all", False) and name == reg.name:
                    entry["absent"] = _absent(reg)
            except Exception as exc:  # a registry whose discovery fails: say so, list the rest
                if args.verbose:
                    raise
                entry["error"] = error_text(exc)
                status = EXIT_PROBLEM
            entry["source"] = reg.source
            out[name] = entry
    if args.json:
        print_json(out)
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
            print(indent(table(rows, ["key", "plugin", "distribution", "version", "reference"])))
        absent = data.get("absent")
        if absent:
            print("  left out, or overridden (--all):")
            other = [
                [a["key"] or "-", a["kind"], a["plugin"], " ".join(a["reason"].split())]
                for a in absent
            ]
            print(indent(indent(table(other, ["key", "status", "plugin", "reason"]))))
        print()
    return status


def _absent(reg: Any) -> list[dict[str, Any]]:
    """What the registry left out with a reason: unavailable, blocked, skipped, overridden,
    lost conflicts and plugin failures; read from the cache or discovery, nothing imported."""
    out = []
    for f in reg.failures:
        out.append(
            {
                "key": f.key,
                "kind": f.kind,
                "plugin": f.plugin,
                "module": f.module,
                "reason": f.message,
            }
        )
    return sorted(out, key=lambda a: (a["key"] is None, a["key"] or "", a["kind"], a["plugin"]))
