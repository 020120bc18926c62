"""``openhcs-registry why``: why a key is (not) in a registry."""

from __future__ import annotations

import argparse

from ._common import (
    EXIT_OK,
    EXIT_PROBLEM,
    load_registries,
    pick,
    print_json,
)


def cmd_why(args: argparse.Namespace) -> int:
    from .._cold._explain import explain

    regs = load_registries(args.module)
    reg, secondary = pick(regs, args.registry)
    result = explain(reg, args.key, secondary=secondary)
    if args.json:
        print_json(result.to_json())
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
        if result.suggestions and not any(c["cause"] == "not installed" for c in result.causes):
            print(f"  did you mean: {', '.join(map(repr, result.suggestions))}?")
    return EXIT_OK if result.found else EXIT_PROBLEM
