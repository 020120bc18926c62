"""What every command shares: exit codes, usage errors, output helpers, finding registries."""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from .._lazy import LazyDiscoveryDict

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
    from .._lazy import registries

    import_contracts()
    extra = [m for m in os.environ.get(REGISTRY_MODULES_ENV, "").split(",") if m.strip()]
    for module in [*extra, *modules]:
        try:
            importlib.import_module(module.strip())
        except ImportError as exc:
            raise UsageError(f"cannot import registry module {module!r}: {exc}") from exc
    return registries()


def pick(regs: dict[str, LazyDiscoveryDict[Any]], name: str) -> tuple[Any, str | None]:
    """The registry called *name*, or (primary, secondary name) for a secondary registry.

    Either spelling is accepted: the registry's name (``microscope_handler``), the constant
    it is bound to (``MICROSCOPE_HANDLERS``) or a plural (``microscope_handlers``).  An
    unknown name is a usage error naming the closest known ones.
    """
    names = registry_names(regs)
    wanted = names.get(_spelling(name))
    if wanted is not None:
        return wanted
    import difflib

    known = sorted(regs) + sorted(
        s.name for r in regs.values() for s in r.config.secondary_registries
    )
    close = difflib.get_close_matches(_spelling(name), list(names), 3, 0.6)
    hint = sorted({_display(names[c]) for c in close})
    suggestion = f"; did you mean {' or '.join(hint)}?" if hint else ""
    raise UsageError(f"unknown registry {name!r}{suggestion} (known: {', '.join(known)})")


def registry_names(regs: dict[str, LazyDiscoveryDict[Any]]) -> dict[str, tuple[Any, str | None]]:
    """Every accepted spelling (normalised by :func:`_spelling`) -> (registry, secondary).

    Besides the names themselves, the module-level constants of each registry's contract
    module that hold it (``MICROSCOPE_HANDLERS``, ``METADATA_HANDLERS``) are aliases; shell
    completion offers the canonical names only.
    """
    import sys

    out: dict[str, tuple[Any, str | None]] = {}
    for reg in regs.values():
        entries: list[tuple[str, str | None]] = [(reg.name, None)]
        entries += [(s.name, s.name) for s in reg.config.secondary_registries]
        module = sys.modules.get(getattr(reg.config.hookspec, "__module__", "") or "")
        for attr, value in vars(module).items() if module is not None else ():
            if value is reg:
                entries.append((attr, None))
            elif getattr(value, "primary", None) is reg and isinstance(
                getattr(value, "name", None), str
            ):
                entries.append((attr, value.name))
        for spelling, secondary in entries:
            out.setdefault(_spelling(spelling), (reg, secondary))
    return out


def _spelling(name: str) -> str:
    """*name* lower-cased, ``-`` as ``_``, and a plural made singular (``registries``)."""
    name = name.strip().lower().replace("-", "_")
    if name.endswith("ies"):
        return name[:-3] + "y"
    if name.endswith("s") and not name.endswith("ss"):
        return name[:-1]
    return name


def _display(found: tuple[Any, str | None]) -> str:
    reg, secondary = found
    return repr(secondary or reg.name)


def view_of(reg: Any, secondary: str | None) -> Any:
    return reg.secondary(secondary) if secondary else reg


def error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
