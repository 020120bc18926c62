"""What the interpreter ran at start-up: an input of every plugin's imports (DESIGN.md §8).

Before any plugin is imported, :mod:`site` has processed the ``.pth`` files of the site
folders.  A path line adds a ``sys.path`` entry, which the environment section records
anyway; an *import line* runs code, and that code may change what every later ``import``
finds without changing any folder a record names.  setuptools' editable install of a
flat-layout project is the common case: its ``__editable__.<name>.pth`` imports
``__editable___<name>_finder``, which appends a finder to ``sys.meta_path`` mapping the
project's top-level names to its source folder, outside ``sys.path``.  Install one and a
module a plugin recorded as missing (``try: import zarr``) becomes importable, uninstall
it and one a plugin imported is gone, while every ``sys.path`` folder the records name
holds the same names.  ``sitecustomize`` and ``usercustomize`` may do the same.

So the *start-up files* are inputs of the whole document: every ``.pth`` file and
``sitecustomize``/``usercustomize`` entry in the recorded ``sys.path`` folders, and the
files of the modules the ``.pth`` import lines name and of those two modules as imported
(but the standard library's, which the interpreter in the header stands for).
The environment section records their paths and stats; the warm check folds their stats
(a file edited or removed in place) and, when a ``sys.path`` folder's listing moved, looks
for start-up files that appeared or went (:func:`startup_changed`).  Any such change is a
full rediscovery: what a finder answers can touch any plugin.

Not watched (docs/cache.md): modules those modules import in turn, and finders a program
installs itself after start-up (they are the program's own state, the same on every start
of it).
"""

from __future__ import annotations

import os
import re
import sys

from ._inputs import _in_stdlib

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

#: Modules :mod:`site` imports at start-up, after the ``.pth`` files, if they exist.
STARTUP_MODULES = ("sitecustomize", "usercustomize")

#: ``__import__('name')`` in an import line (setuptools' ``distutils-precedence.pth``)
_DUNDER_IMPORT = re.compile(r"""__import__\(\s*['"]([\w.]+)['"]""")


def is_startup_entry(name: str) -> bool:
    """Whether a folder entry named *name* is run at start-up (in a site folder)."""
    return name.endswith(".pth") or name.partition(".")[0] in STARTUP_MODULES


def startup_files(listed: Iterable[tuple[str, list[str] | None]]) -> list[str]:
    """The start-up files of the folders *listed* (``(folder, sorted entries or None)`` in
    ``sys.path`` order): each folder's start-up entries, then the files of the modules
    named by the ``.pth`` files' import lines and of ``sitecustomize``/``usercustomize``,
    as imported in this process (each path once, in that order)."""
    paths = [
        os.path.join(folder, name)
        for folder, names in listed
        if names is not None
        for name in names
        if is_startup_entry(name)
    ]
    modules = set(STARTUP_MODULES)
    for path in paths:
        if path.endswith(".pth"):
            modules.update(imported_by(path))
    for name in sorted(modules):
        file = getattr(sys.modules.get(name), "__file__", None)
        if isinstance(file, str):
            file = os.path.abspath(file)
            if not _in_stdlib(file):  # (the interpreter, in the header, stands for it)
                paths.append(file)
    return list(dict.fromkeys(paths))


def imported_by(pth: str) -> set[str]:
    """The modules the import lines of ``.pth`` file *pth* name (over-approximated: every
    ``import a.b, c`` and ``from d import …`` statement of a line :mod:`site` runs)."""
    try:
        with open(pth, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except (OSError, ValueError):
        return set()
    found: set[str] = set()
    for line in text.splitlines():
        if not line.startswith(("import ", "import\t")):
            continue  # (site runs only the lines that start so; others are path lines)
        found.update(_DUNDER_IMPORT.findall(line))
        for statement in line.split(";"):
            words = statement.split()
            if len(words) < 2:
                continue
            if words[0] == "import":
                candidates = " ".join(words[1:]).split(",")
            elif words[0] == "from":
                candidates = [words[1]]
            else:
                continue
            for candidate in candidates:
                parts = candidate.split()  # (``a as b``: a)
                if parts and all(part.isidentifier() for part in parts[0].split(".")):
                    found.add(parts[0])
    return found


def startup_changed(
    recorded: list[str],
    entries: Iterable[str],
    listing: Callable[[str], list[str] | None],
) -> str | None:
    """A start-up entry that appeared in or went from one of the ``sys.path`` folders
    *entries* (those whose listing may have moved), against the *recorded* start-up
    files; None if their start-up entries are the recorded ones."""
    for entry in entries:
        names = listing(entry)
        if names is None:
            continue
        now = {os.path.join(entry, name) for name in names if is_startup_entry(name)}
        before = {
            path
            for path in recorded
            if os.path.dirname(path) == entry and is_startup_entry(os.path.basename(path))
        }
        if now != before:
            return min(now ^ before)
    return None
