"""What every command shares: exit codes, usage errors, output helpers, finding registries."""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from ..lazy import LazyDiscoveryDict

EXIT_OK = 0
EXIT_PROBLEM = 1
EXIT_USAGE = 2

REGISTRY_MODULES_ENV = "OPENHCS_REGISTRY_MODULES"


class UsageError(Exception):
    """Bad input from the user: reported in one line, exit code 2."""


def print_json(data: Any) -> None:
    import orjson

    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2, default=str).decode() + "\n")


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [len(h) for h in header]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    return "\n".join(lines)


def indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def width(rows: list[list[str]]) -> int:
    return max((len(r[0]) for r in rows), default=0)


def load_registries(modules: Sequence[str]) -> dict[str, LazyDiscoveryDict[Any]]:
    """Import the contract modules (declared under ``openhcs.contracts``, then
    ``--module``/env) and return their registries."""
    import importlib

    from .._contracts import import_contracts
    from ..lazy import registries

    import_contracts()
    extra = [m for m in os.environ.get(REGISTRY_MODULES_ENV, "").split(",") if m.strip()]
    for module in [*extra, *modules]:
        try:
            importlib.import_module(module.strip())
        except ImportError as exc:
            raise UsageError(f"cannot import registry module {module!r}: {exc}") from exc
    return registries()


def pick(regs: dict[str, LazyDiscoveryDict[Any]], name: str) -> tuple[Any, str | None]:
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


def view_of(reg: Any, secondary: str | None) -> Any:
    return reg.secondary(secondary) if secondary else reg


def error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
