"""``openhcs-registry show``: one entry's provenance and the doc summary of its object."""

from __future__ import annotations

import argparse

from ._common import (
    EXIT_OK,
    UsageError,
    load_registries,
    pick,
    print_json,
    view_of,
)


def cmd_show(args: argparse.Namespace) -> int:
    regs = load_registries(args.module)
    reg, secondary = pick(regs, args.registry)
    mapping = view_of(reg, secondary)
    if args.key not in mapping:
        reason = f"{args.key!r} is not in registry {args.registry!r}"
        try:
            mapping[args.key]
        except KeyError as exc:  # says why, when the registry knows (unavailable, blocked...)
            reason = str(exc)
        raise UsageError(
            f"{reason} (known: {', '.join(sorted(mapping)) or 'none'}); try "
            f"`openhcs-registry why {args.registry} {args.key}`"
        )
    info = dict(mapping.info(args.key))
    value = mapping[args.key]
    # the plugins this entry won against: an intended override, or a lost conflict
    info["overrides"] = [
        {"plugin": f.plugin, "kind": f.kind, "message": f.message}
        for f in reg.failures
        if f.key == args.key and f.kind in ("overridden", "duplicate_key") and not secondary
    ]
    doc = (getattr(value, "__doc__", None) or "").strip().splitlines()
    info["doc"] = doc[0].strip() if doc else ""
    target = value if isinstance(value, type) else type(value)
    info["object"] = f"{target.__module__}.{target.__qualname__}"
    if not isinstance(value, type):
        info["object"] += " instance"
    if args.json:
        print_json(info)
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
    for other in info["overrides"]:
        label = "overrides" if other["kind"] == "overridden" else "conflict"
        rows.append((label, f"{other['plugin']}: {other['message']}"))
    width = max(len(name) for name, _ in rows) + 2
    for name, val in rows:
        print(f"{name + ':':{width}}{val if val not in (None, '') else '-'}")
    return EXIT_OK
