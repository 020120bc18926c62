"""``openhcs-registry``: inspect, explain and manage the registries and their caches.

Commands import what they need and no more: ``list`` on a warm cache imports no plugin module,
no pluggy and no importlib.metadata (only ``why`` reads entry-point metadata).  The common
options (``--json``, ``-v``, ``--module``) go before or after the command.

Exit codes: 0 fine; 1 a problem was found (``why``: the key is missing; ``doctor``: failures
other than expected outcomes, a corrupt cache, a registry that cannot be discovered; ``cache
verify``: a difference or no valid cache; ``cache warm``: a cache not written; ``list``: a
registry that cannot be discovered; ``validate``: an error in the plugin; any unexpected
error); 2 bad usage (unknown registry or key, with the known ones and the closest match
listed; bad arguments; a ``--module`` that cannot be imported).  Registry names are accepted
in either spelling (``microscope_handler``, ``MICROSCOPE_HANDLERS``, ``microscope_handlers``).
Shell completion comes from argcomplete (the ``completion`` extra), only when a shell asks.

One module per command (``list.py``, ``show.py``, ...), imported only when that command runs;
``_common`` holds what they share.  A new command: a module with a ``cmd_*(args) -> int``
function and one ``command(...)`` line in :func:`build_parser`; contracts packages add theirs
through the ``openhcs.commands`` entry-point group (:data:`COMMANDS_GROUP`).
"""

from __future__ import annotations

import os
import sys

from ._common import (
    EXIT_OK,
    EXIT_PROBLEM,
    EXIT_USAGE,
    REGISTRY_MODULES_ENV,
    UsageError,
    print_json,
    table,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence
    from typing import Any

__all__ = [
    "COMMANDS_GROUP",
    "EXIT_OK",
    "EXIT_PROBLEM",
    "EXIT_USAGE",
    "UsageError",
    "build_parser",
    "main",
    "print_json",
    "table",
]


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

    def command(name: str, text: str, func: str, parent: Any = sub) -> argparse.ArgumentParser:
        """A sub-command run by ``func`` ("module:function", imported on use).

        *module* is relative to this package (``.list``) or, for commands that contracts
        packages add, absolute (``openhcs_hookspecs._functions_cli``).
        """
        p: argparse.ArgumentParser = parent.add_parser(name, help=text, description=text)
        _add_common(p, top=False)
        p.set_defaults(func=func)
        return p

    _add_inspection_commands(command)
    _add_authoring_commands(command)
    _add_extensions(command)
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
        a = command(action, text, ".cache:cmd_cache", csub)
        a.add_argument("registry", nargs="?")
    return parser


def _add_inspection_commands(command: Any) -> None:
    """``list``, ``show``, ``why``, ``doctor``, ``contracts``: reading the registries."""
    p = command(
        "list",
        "registries, their keys, source (cache/fresh), plugin and distribution",
        ".list:cmd_list",
    )
    p.add_argument("registry", nargs="?")
    p.add_argument(
        "--all",
        action="store_true",
        help="also the keys left out (unavailable, blocked, skipped) or overridden, and why",
    )
    p = command(
        "show", "one entry's provenance and the doc summary of its object", ".show:cmd_show"
    )
    p.add_argument("registry")
    p.add_argument("key")
    p = command(
        "why", "explain why a key is missing from a registry (exit 1 if it is)", ".why:cmd_why"
    )
    p.add_argument("registry")
    p.add_argument("key")
    command(
        "doctor",
        "every failure, cache health, settings and environment (exit 1: problems)",
        ".doctor:cmd_doctor",
    )
    p = command(
        "contracts",
        "what a plugin implements: hookspec, base class, key, abstract methods, entry-point group",
        ".contracts:cmd_contracts",
    )
    p.add_argument("registry", nargs="?")


def _add_authoring_commands(command: Any) -> None:
    """``validate``, ``new-plugin``: a plugin project, before and after it is written."""
    p = command(
        "validate",
        "check a plugin project folder or installed distribution without importing it",
        ".validate:cmd_validate",
    )
    p.add_argument("target", metavar="PATH|DIST")
    p.add_argument(
        "--import",
        dest="run_import",
        action="store_true",
        help="also run the real discovery on the plugin in a subprocess",
    )
    p = command(
        "new-plugin",
        "write a plugin project (pyproject, hookimpls, class skeletons, tests) that validates",
        ".new_plugin:cmd_new_plugin",
    )
    p.add_argument("name", help="distribution name, e.g. openhcs-myscope")
    p.add_argument(
        "--registry",
        action="append",
        default=[],
        metavar="R",
        help="a registry to implement (repeatable; default microscope_handler)",
    )
    p.add_argument("--dir", metavar="D", help="folder to create (default ./NAME)")


def _configure_logging(verbosity: int) -> None:
    if verbosity <= 0:
        return
    import logging

    logging.basicConfig(
        level=logging.DEBUG if verbosity >= 2 else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


#: Entry-point group through which contracts packages add commands: ``name = "module:register"``,
#: where ``register(command)`` adds its sub-command(s) with the ``command`` factory of
#: :func:`build_parser`.  The engine names no contracts package: ``functions`` comes this way.
COMMANDS_GROUP = "openhcs.commands"


def _add_extensions(command: Any) -> None:
    """Let every installed contracts package add its commands (each isolated)."""
    import importlib

    from .._fileio import warn_once
    from ..settings import declared

    for dist, name, value in declared(COMMANDS_GROUP):
        module, _, attr = value.partition(":")
        try:
            register = getattr(importlib.import_module(module.strip()), attr.strip() or "register")
            register(command)
        except BaseException as exc:  # a broken package loses its command, not the CLI
            if isinstance(exc, KeyboardInterrupt):
                raise
            warn_once(
                f"command:{value}",
                "command %s = %s (distribution %s) cannot be added and is left out: %r",
                name,
                value,
                dist,
                exc,
            )


def _run(func: str, args: argparse.Namespace) -> int:
    """Import the command's module (only that one: ``list`` stays light) and run it."""
    import importlib

    module, _, name = func.partition(":")
    run: Any = getattr(importlib.import_module(module, package=__name__), name)
    return int(run(args))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``openhcs-registry`` and ``python -m openhcs_registry``."""
    parser = build_parser()
    if "_ARGCOMPLETE" in os.environ:  # a shell asking for completions (argcomplete)
        from ._completion import autocomplete

        autocomplete(parser)
    args = _merge_common(parser.parse_args(argv))
    _configure_logging(args.verbose)
    try:
        code: int = _run(args.func, args)
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
