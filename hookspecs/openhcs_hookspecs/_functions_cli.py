"""``openhcs-registry functions``: function libraries, their functions, one function's details.

* ``functions``: every library with its version, number of functions, availability (and why
  not) and whether its catalogue came from the cache;
* ``functions LIBRARY``: that library's functions (signature, first doc line);
* ``--search TEXT`` / ``--tag TAG`` / ``--name NAME``: matching functions, of one library or all;
* ``functions LIBRARY.NAME`` (or ``--show``): one function's signature, parameters and
  provenance (defining module and file, distribution and version, catalogue document).

A warm run reads the catalogue documents only: it imports no library (nor numpy).
The command is added to ``openhcs-registry`` through the ``openhcs.commands`` entry-point
group (the engine names no contracts package): :func:`register`.
``--rebuild`` rebuilds the catalogues shown, importing their libraries.
"""

from __future__ import annotations

from openhcs_registry.cli import EXIT_OK, UsageError, print_json, table

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from openhcs_hookspecs.functions import FunctionCatalogue

#: Signatures longer than this are cut in tables (``functions LIBRARY.NAME`` shows them whole).
WIDTH = 70


def _cut(text: str | None, width: int = WIDTH) -> str:
    text = text or ""
    return text if len(text) <= width else text[: width - 3] + "..."


def _catalogue(fn: Any, library: str, rebuild: bool) -> FunctionCatalogue:
    try:
        cat: FunctionCatalogue = fn.catalogue(library, rebuild=rebuild)
    except KeyError as exc:
        known = ", ".join(sorted(fn.FUNCTION_LIBRARIES))
        raise UsageError(f"unknown function library {library!r}; known: {known}") from exc
    return cat


def cmd_functions(args: argparse.Namespace) -> int:
    from openhcs_hookspecs import functions as fn

    target: str | None = args.target
    if target is not None and (args.show or target not in fn.FUNCTION_LIBRARIES):
        if "." not in target and not args.show:
            _catalogue(fn, target, False)  # raises the usage error listing the libraries
        return _show(fn, target, args)
    filtering = args.search is not None or args.tag is not None or args.name is not None
    if target is None and not filtering:
        return _libraries(fn, args)
    names = [target] if target is not None else sorted(fn.FUNCTION_LIBRARIES)
    rows: list[dict[str, Any]] = []
    for library in names:
        cat = _catalogue(fn, library, args.rebuild)
        keys = cat.search(args.search, tag=args.tag, name=args.name) if filtering else list(cat)
        rows += [_row(cat, key) for key in keys]
        if target is not None and not cat.available and not args.json:
            print(f"{library}: unavailable: {cat.reason}")
    if args.json:
        print_json(rows)
        return EXIT_OK
    if rows:
        print(
            table(
                [[r["key"], _cut(r["signature"]), _cut(r["doc"], 60)] for r in rows],
                ["function", "signature", "summary"],
            )
        )
    print(f"{len(rows)} function(s)")
    return EXIT_OK


def _row(cat: FunctionCatalogue, key: str) -> dict[str, Any]:
    info = cat.info(key)
    return {k: info[k] for k in ("key", "library", "signature", "doc", "tags", "available")}


def _libraries(fn: Any, args: argparse.Namespace) -> int:
    summaries = [
        _catalogue(fn, name, args.rebuild).summary() for name in sorted(fn.FUNCTION_LIBRARIES)
    ]
    if args.json:
        print_json(summaries)
        return EXIT_OK
    rows = [
        [
            s["library"],
            s["version"] or "-",
            str(s["functions"]),
            "yes" if s["available"] else f"no: {s['reason']}",
            s["source"],
        ]
        for s in summaries
    ]
    print(table(rows, ["library", "version", "functions", "available", "catalogue"]))
    return EXIT_OK


def _show(fn: Any, key: str, args: argparse.Namespace) -> int:
    try:
        cat = fn.find(key)
    except KeyError as exc:
        raise UsageError(
            f"no catalogued function {key!r}; try `openhcs-registry functions --search "
            f"{key.rpartition('.')[2]}`"
        ) from exc
    if args.rebuild:
        cat = _catalogue(fn, cat.library, True)
    info = cat.info(key)
    info["cache_file"] = str(cat.path)
    if args.json:
        print_json(info)
        return EXIT_OK
    dist = info["distribution"]
    version = info["version"]
    rows = [
        ("function", info["key"]),
        ("signature", f"{info['name']}{info['signature'] or '(...)'}"),
        ("summary", info["doc"]),
        ("library", info["library"]),
        ("distribution", f"{dist} {version}" if dist and version else dist),
        ("exported by", info["module"]),
        ("defined in", info["defined_in"]),
        ("file", info["file"]),
        ("memory type", info["memory_type"]),
        ("tags", ", ".join(info["tags"])),
        ("available", "yes" if info["available"] else f"no: {info['reason']}"),
        ("catalogue", f"{info['source']} ({info['cache_file']})"),
    ]
    width = max(len(name) for name, _ in rows) + 2
    for name, val in rows:
        print(f"{name + ':':{width}}{val if val not in (None, '') else '-'}")
    params = info["params"] or []
    if params:
        print("parameters:")
        print(
            "\n".join(
                "  " + line
                for line in table(
                    [[p[0], p[1].lower(), p[2] or "", p[3] or ""] for p in params],
                    ["name", "kind", "default", "annotation"],
                ).splitlines()
            )
        )
    return EXIT_OK


def register(command: Any) -> None:
    """Add ``functions`` with the CLI's ``command`` factory (see ``openhcs.commands``)."""
    p = command(
        "functions",
        "function libraries, their catalogued functions, one function's signature and provenance",
        f"{__name__}:cmd_functions",
    )
    p.add_argument("target", nargs="?", metavar="LIBRARY[.FUNCTION]")
    p.add_argument("--search", metavar="TEXT", help="substring of the name or first doc line")
    p.add_argument("--tag", help="functions carrying this tag (e.g. filters, gpu)")
    p.add_argument("--name", help="functions of exactly this name (e.g. gaussian)")
    p.add_argument("--show", action="store_true", help="the target is one function: show it")
    p.add_argument("--rebuild", action="store_true", help="rebuild the catalogues shown")
