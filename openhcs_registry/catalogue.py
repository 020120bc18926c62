"""Catalogue documents: one cached answer per provider, valid while its recorded inputs are.

A registry's cache replays *which plugins* exist; a catalogue replays *what one provider
found by reading code* — a function library's public functions with their signatures, say —
so that a later process can list and search it without importing the code again.  Each
catalogue has its own document (``<kind>_<name>.json`` in the cache folder), so a change
rebuilds that one catalogue, never its neighbours.

The document carries its own inputs (DESIGN.md §8): the interpreter and search path, the stat
signature of every file the answer was read from (:class:`InputRecord` takes them *before*
the files are read where it can, through :func:`openhcs_registry._cold._inputs.recording`), the
listing of folders whose contents matter (an OpenCL ICD folder), and environment variables.
With every input recorded there is no maximum age: a document is used until an input
changes, and then rebuilt.

The warm path (:func:`load`) needs ``os.stat`` and one read; it imports no ``typing``,
``logging``, ``inspect`` or provider code.  :class:`InputRecord` is cold code (building).
"""

from __future__ import annotations

import os

from . import _environment, _fileio
from ._fileio import UnsafeCacheFile, checksum, read_document, write_document
from ._paths import get_openhcs_cache_dir
from ._version import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    from ._cold._inputs import Inputs, import_module, recording
    from ._cold._inputs import _in_stdlib as in_stdlib

__all__ = [
    "InputRecord",
    "Inputs",
    "UnsafeCacheFile",
    "catalogue_file",
    "changed_input",
    "checksum",
    "environment_header",
    "folder_entries",
    "import_module",
    "in_stdlib",
    "load",
    "read_document",
    "recording",
    "save",
    "write_document",
]

#: Format of catalogue documents; a document of another format is rebuilt.
FORMAT = 1


def catalogue_file(kind: str, name: str) -> Path:
    """The document of catalogue *name* of *kind* (``function_catalogue_skimage.json``)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return get_openhcs_cache_dir() / f"{kind}_{safe}.json"


def folder_entries(path: str) -> list[str] | None:
    """The sorted visible entries of folder *path* (``__pycache__`` left out: importing
    creates it); None if it is not a readable folder.

    Recording and checking share this one rule.  A folder's mtime would do for "did
    something change", but device and driver folders (``/etc/OpenCL/vendors``) are compared
    by what they hold, so that touching them is not a change.
    """
    try:
        return sorted(e for e in os.listdir(path) if e[0] != "." and e != "__pycache__")
    except (OSError, ValueError):
        return None


def _present(path: str) -> bool:
    try:
        os.stat(path)
    except (OSError, ValueError):
        return False
    return True


#: A file modified this close to the write may change again within the same filesystem
#: timestamp tick without its signature moving ("racy", as git calls it): it also gets a
#: content checksum.  Whole-second mtimes mean a coarse filesystem: a wider window.
RACY_NS = 100_000_000
RACY_COARSE_NS = 2_500_000_000


def _racy(sig: list[int] | None, now_ns: int) -> bool:
    if sig is None:
        return False
    window = RACY_COARSE_NS if sig[0] % 1_000_000_000 == 0 else RACY_NS
    return now_ns - sig[0] < window


def _digest(path: str) -> int | None:
    try:
        with open(path, "rb") as fh:
            return _fileio.checksum(fh.read())
    except (OSError, ValueError):  # a folder, or gone
        return None


def environment_header() -> dict[str, Any]:
    """Interpreter identity and the normalised search path (the launch entry left out)."""
    snap = _environment.snapshot()
    return {**snap.header, "path": list(snap.entries)}


class InputRecord:
    """What a catalogue was computed from: filled while building, stored in its document."""

    __slots__ = ("files", "folders", "paths", "variables")

    def __init__(self) -> None:
        self.files: dict[str, list[int] | None] = {}
        self.folders: dict[str, list[str] | None] = {}
        self.paths: dict[str, bool] = {}
        self.variables: dict[str, str | None] = {}

    def file(self, path: str, sig: list[int] | bool | None = False) -> None:
        """Record file *path*; *sig* as taken before reading it, else its signature now."""
        path = os.path.abspath(path)
        if path in self.files:
            return
        if sig is False:
            from ._cold._inputs import sig as sig_now

            sig = sig_now(path)
        self.files[path] = sig if isinstance(sig, list) else None

    def module_files(self, inputs: Inputs, names: list[str]) -> None:
        """Record the files of modules *names*, with the signatures a recorder took for them
        before they were read (a module imported earlier in this process: as of now)."""
        import sys

        for name in names:
            recorded = inputs.modules.get(name)
            if recorded is not None and recorded in inputs.files:
                self.file(recorded, inputs.files[recorded])
                continue
            module_file = getattr(sys.modules.get(name), "__file__", None)
            if isinstance(module_file, str):
                self.file(module_file)

    def folder(self, path: str) -> None:
        """Record the entries of folder *path* (None: missing)."""
        self.folders.setdefault(path, folder_entries(path))

    def presence(self, path: str) -> None:
        """Record whether *path* exists (device nodes: their times move on use)."""
        self.paths.setdefault(path, _present(path))

    def variable(self, name: str) -> None:
        self.variables.setdefault(name, os.environ.get(name))

    def import_candidates(self, top: str) -> None:
        """Record where ``import top`` would look: ``<entry>/<top>`` and ``<entry>/<top>.py``
        in each search-path entry up to the one that has it (later ones cannot shadow it).
        Installing, removing or shadowing the package changes one of them, including for a
        package that is not installed at all (then every entry is recorded)."""
        from ._cold._inputs import _in_stdlib

        for entry in _environment.search_path():
            if _in_stdlib(entry + os.sep):  # the interpreter's identity covers these
                continue
            found = False
            for candidate in (os.path.join(entry, top), os.path.join(entry, top + ".py")):
                self.file(candidate)
                found = found or self.files[os.path.abspath(candidate)] is not None
            if found:
                return

    def as_document(self) -> dict[str, Any]:
        import time

        now = time.time_ns()
        return {
            "environment": environment_header(),
            "files": self.files,
            "digests": {
                path: _digest(path)
                for path, sig in self.files.items()
                if _racy(sig, now) and os.path.isfile(path)
            },
            "folders": self.folders,
            "paths": self.paths,
            "variables": self.variables,
        }


def changed_input(inputs: Any) -> str | None:
    """Why the recorded *inputs* no longer hold (None: they all do).  Stats, no import."""
    if type(inputs) is not dict:
        return "no inputs recorded"
    if inputs.get("environment") != environment_header():
        return "interpreter or search path changed"
    files = inputs.get("files")
    folders = inputs.get("folders")
    paths = inputs.get("paths")
    variables = inputs.get("variables")
    if not (type(files) is dict and type(folders) is dict):
        return "malformed inputs"
    if not (type(paths) is dict and type(variables) is dict):
        return "malformed inputs"
    environ = os.environ
    for name, value in variables.items():
        if environ.get(name) != value:
            return f"environment variable {name} changed"
    file_stat = _environment.file_stat
    for path, sig in files.items():
        if file_stat(path) != sig:
            return f"{path} changed"
    digests = inputs.get("digests") or {}
    if type(digests) is not dict:
        return "malformed inputs"
    for path, digest in digests.items():  # files saved just before the write: by content
        if _digest(path) != digest:
            return f"{path} changed (same signature, other content)"
    for path, entries in folders.items():
        if folder_entries(path) != entries:
            return f"contents of {path} changed"
    for path, present in paths.items():
        if _present(path) is not present:
            return f"{path} appeared" if not present else f"{path} disappeared"
    return None


def load(path: Path, kind: str, name: str) -> tuple[dict[str, Any] | None, str]:
    """The valid document at *path*, or ``(None, why not)``.

    Never raises for bad content: a corrupt, foreign, older or stale document is a reason to
    rebuild.  Valid means: our format and library version, the expected *kind* and *name*,
    and every recorded input unchanged.
    """
    try:
        doc = _fileio.read_document(path)
    except (_fileio.UnsafeCacheFile, ValueError, OSError) as exc:
        return None, f"unusable: {exc}"
    if doc is None:
        return None, "missing"
    if doc.get("cache_version") != FORMAT or doc.get("version") != __version__:
        return None, "written by another version"
    if doc.get("kind") != kind or doc.get("name") != name:
        return None, "not this catalogue"
    why = changed_input(doc.get("inputs"))
    if why is not None:
        return None, f"stale: {why}"
    return doc, "valid"


def save(
    path: Path, kind: str, name: str, body: dict[str, Any], inputs: InputRecord | dict[str, Any]
) -> bool:
    """Write the catalogue *body* with its *inputs* (a record, or the inputs of another
    document: a derived document shares its source's); False if it could not be written."""
    import time

    from . import settings

    if settings.cache_disabled():
        return False
    doc = {
        "cache_version": FORMAT,
        "version": __version__,
        "kind": kind,
        "name": name,
        "timestamp": time.time(),
        "inputs": inputs.as_document() if isinstance(inputs, InputRecord) else inputs,
        **body,
    }
    return _fileio.write_document(path, doc)


#: What catalogue builders (cold code in the contracts) use of the engine, public here so that
#: they never import ``openhcs_registry._x``: the document reader/writer and checksum, and the
#: import recorder (imported only when first used: it is not on the warm path).
_COLD = {
    "Inputs": "Inputs",
    "import_module": "import_module",
    "recording": "recording",
    "in_stdlib": "_in_stdlib",
}


def __getattr__(name: str) -> Any:
    target = _COLD.get(name)
    if target is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from ._cold import _inputs

    return getattr(_inputs, target)
