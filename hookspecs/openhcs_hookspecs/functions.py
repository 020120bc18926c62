"""Function libraries: providers, and per-library catalogues of their real functions.

A :class:`FunctionLibrary` provider names a library (``import_name``, ``distribution``) and the
submodules to scan; the ``function_library`` registry finds providers through the
``provide_function_libraries`` hook, like every other plugin.  :func:`catalogue` returns a
library's :class:`FunctionCatalogue`: keys are public dotted paths
(``skimage.filters.gaussian``), values are the functions, imported on first read (only the
module that exports that function).  Everything else — listing, searching, signatures, first
doc lines, availability and why not — comes from the catalogue document and imports neither
the library nor numpy.

A catalogue is built by importing the scanned submodules once (:mod:`._function_scan`, cold)
and is valid while its inputs are: the library's distribution, the files of the scanned and
defining modules, the provider's own code, the variables and device paths the provider
declares (:mod:`openhcs_registry.catalogue`).  A change rebuilds that one library.

This module is on the warm path: no ``typing``, ``inspect`` or ``logging`` at run time.
"""

from __future__ import annotations

import threading
from abc import ABC
from collections.abc import Mapping

from openhcs_registry.autoregister import AutoRegistered
from openhcs_registry.config import RegistryConfig
from openhcs_registry.lazy import LazyDiscoveryDict
from openhcs_registry.markers import hookspec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any, ClassVar

#: ``kind`` of the catalogue documents (``function_catalogue_<library>.json``).
KIND = "function_catalogue"


class FunctionLibrary(AutoRegistered, ABC):
    """Describes one function library to catalogue.  Subclass it and return the subclass from
    a ``provide_function_libraries`` hookimpl.

    Everything a build reads must be declared here or live in this class's module (its file
    is an input of the catalogue): environment variables the scan or the availability check
    reads go in ``environment_variables``, device or driver paths in ``environment_paths``
    (a folder is compared by its entries, anything else by existence).
    """

    __registry_name__ = "function_library"
    #: Library name: the registry key and the catalogue's name.
    library_name: ClassVar[str | None] = None
    #: Top-level import name (``skimage``).
    import_name: ClassVar[str | None] = None
    #: Distribution whose version and ``.dist-info`` are inputs (``scikit-image``).
    distribution: ClassVar[str | None] = None
    #: Submodules whose public functions are catalogued.
    modules: ClassVar[tuple[str, ...]] = ()
    #: The array type the functions take and return (``numpy``, ``cupy``, ...).
    memory_type: ClassVar[str] = "numpy"
    #: Tags every function of the library carries (the submodule's last part is added).
    tags: ClassVar[tuple[str, ...]] = ()
    #: Whether the library needs a GPU (skipped with ``OPENHCS_SUBPROCESS_NO_GPU=1``).
    requires_gpu: ClassVar[bool] = False
    environment_variables: ClassVar[tuple[str, ...]] = ()
    environment_paths: ClassVar[tuple[str, ...]] = ()

    def unavailable_reason(self) -> str | None:
        """Why the library cannot be used here (None: it can).  Cold: may import it."""
        from importlib.util import find_spec

        from openhcs_registry import settings

        if self.requires_gpu and settings.no_gpu():
            return f"GPU libraries disabled ({settings.NO_GPU_ENV}=1)"
        name = self.import_name
        if name is None:
            return None
        try:
            found = find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            hint = f" (pip install {self.distribution})" if self.distribution else ""
            return f"not installed{hint}"
        return None

    def declared_paths(self) -> tuple[str, ...]:
        """``environment_paths``, plus paths only known at run time (override to add, e.g.
        the folder an environment variable names)."""
        return self.environment_paths

    def scan_settings(self) -> dict[str, Any]:
        """What the scan was asked to do (stored in the document for display)."""
        return {"modules": list(self.modules)}

    def public_names(self, module: Any) -> list[str]:
        """Names of *module* to consider: its ``__all__``, else its non-underscore names."""
        names = getattr(module, "__all__", None)
        if names is None:
            names = [n for n in vars(module) if not n.startswith("_")]
        return [n for n in names if isinstance(n, str)]

    def is_function(self, obj: Any) -> bool:
        """Whether *obj* is a function to catalogue (plain Python functions by default)."""
        import inspect

        return inspect.isfunction(obj)

    def probe_samples(self) -> dict[str, Any] | None:
        """Small inputs to call each function on when probing (``{"2d": array, ...}``), or
        None: the library is not probed.  Runs in the probing child process only."""
        return None

    def module_tags(self, module: str) -> list[str]:
        """Tags of the functions of *module*: its last part, then the library's tags."""
        last = module.rsplit(".", 1)[-1]
        return [last, *(t for t in self.tags if t != last)]


@hookspec
def provide_function_libraries() -> Any:
    """Return :class:`FunctionLibrary` subclasses (a list, or ``{library_name: class}``)."""


FUNCTION_LIBRARIES_CONFIG = RegistryConfig(
    name="function_library",
    hookspec=provide_function_libraries,
    base_class=FunctionLibrary,
    key_attribute="library_name",
    # GPU libraries stay listed in GPU-less subprocesses (OPENHCS_SUBPROCESS_NO_GPU=1): their
    # catalogue says why they are unavailable instead of the library vanishing
    gpu_attribute="skip_from_registry_without_gpu",
    description="function library providers, by library name",
)

FUNCTION_LIBRARIES: LazyDiscoveryDict[type[FunctionLibrary]] = LazyDiscoveryDict(
    FUNCTION_LIBRARIES_CONFIG
)


class CallCheckError(TypeError):
    """Arguments that do not fit a catalogued signature (checked without importing)."""


def check_arguments(params: list[list[Any]], args: int, kwargs: Any) -> None:
    """Raise :class:`CallCheckError` unless *args* positional arguments and keyword names
    *kwargs* bind to *params* (the catalogue's parameter records), as ``Signature.bind``."""
    positional = [p for p in params if p[1] in ("POSITIONAL_ONLY", "POSITIONAL_OR_KEYWORD")]
    var_positional = any(p[1] == "VAR_POSITIONAL" for p in params)
    var_keyword = any(p[1] == "VAR_KEYWORD" for p in params)
    if args > len(positional) and not var_positional:
        raise CallCheckError(f"takes {len(positional)} positional arguments but {args} given")
    bound = {p[0] for p in positional[:args]}
    by_name = {p[0]: p for p in params if p[1] in ("POSITIONAL_OR_KEYWORD", "KEYWORD_ONLY")}
    for name in kwargs:
        if name in by_name:
            if name in bound:
                raise CallCheckError(f"got multiple values for argument {name!r}")
            bound.add(name)
        elif not var_keyword:
            raise CallCheckError(f"got an unexpected keyword argument {name!r}")
        # else: it lands in **kwargs (a positional-only name too: it is not bound by it)
    missing = [
        p[0]
        for p in params
        if p[1] in ("POSITIONAL_ONLY", "POSITIONAL_OR_KEYWORD", "KEYWORD_ONLY")
        and p[2] is None
        and p[0] not in bound
    ]
    if missing:
        raise CallCheckError(f"missing required arguments: {', '.join(map(repr, missing))}")


#: ``kind`` of the details documents (``function_details_<library>.json``).
DETAILS_KIND = "function_details"

if TYPE_CHECKING:
    _Functions = Mapping[str, Callable[..., Any]]
else:  # no ``typing`` at run time: subscripting only annotates
    _Functions = Mapping


class FunctionCatalogue(_Functions):
    """One library's functions: dotted path -> function (imported on first read).

    Two documents per library, written together: the *catalogue* (``{key: first doc line}``,
    tags per module, availability, inputs) is all that listing and searching read; the
    *details* (per key ``[signature, params, defining module]``) are read on the first
    :meth:`info`, :meth:`signature` or :meth:`check`.  Keeping the listing document small
    matters: reading 200 KB costs a fresh process ~1-4 ms (allocation and page faults), the
    30 KB listing a fraction of that.  The catalogue holds the checksum of its details, so a
    details document of another build is never paired with it.
    """

    __slots__ = ("_details", "_doc", "_entries", "_resolved", "_tags", "path", "source")

    def __init__(
        self, doc: dict[str, Any], source: str, path: Any, details: dict[str, Any] | None = None
    ) -> None:
        self._doc = doc
        self._entries: dict[str, str] = doc["functions"]
        self._tags: dict[str, list[str]] = doc["module_tags"]
        self._details = details
        self._resolved: dict[str, Any] = {}
        self.source = source  # "cache" or "fresh"
        self.path = path

    # -- about the library -----------------------------------------------------------------
    @property
    def library(self) -> str:
        name: str = self._doc["name"]
        return name

    @property
    def version(self) -> str | None:
        version: str | None = self._doc.get("library_version")
        return version

    @property
    def available(self) -> bool:
        return self._doc.get("reason") is None

    @property
    def reason(self) -> str | None:
        """Why the library is unavailable here (None: it is available)."""
        reason: str | None = self._doc.get("reason")
        return reason

    def summary(self) -> dict[str, Any]:
        """The library's row: name, version, availability, counts, where it came from."""
        doc = self._doc
        return {
            "library": doc["name"],
            "distribution": doc.get("distribution"),
            "version": doc.get("library_version"),
            "available": doc.get("reason") is None,
            "reason": doc.get("reason"),
            "memory_type": doc.get("memory_type"),
            "functions": len(self._entries),
            "modules": doc.get("modules", []),
            "failures": doc.get("failures", {}),
            "settings": doc.get("settings", {}),
            "source": self.source,
            "cache_file": str(self.path),
            "built": doc.get("timestamp"),
        }

    # -- the mapping -----------------------------------------------------------------------
    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def keys(self) -> Any:
        return self._entries.keys()

    def __getitem__(self, key: str) -> Callable[..., Any]:
        found = self._resolved.get(key)
        if found is not None:
            return found  # type: ignore[no-any-return]
        if key not in self._entries:  # KeyError for an unknown name: what a mapping does
            raise KeyError(key)
        value = self._import(key)
        self._resolved[key] = value
        return value  # type: ignore[no-any-return]

    def _import(self, key: str) -> Any:
        """Import the one module that exports *key* and take the function from it."""
        import importlib

        module, _, name = key.rpartition(".")
        if module not in (self._doc.get("modules") or ()):  # only a module the scan read
            raise KeyError(key)
        value = getattr(importlib.import_module(module), name, None)
        if not callable(value):
            raise KeyError(f"{key} is catalogued but no longer importable")
        return value

    def __repr__(self) -> str:
        state = "available" if self.available else f"unavailable: {self.reason}"
        return f"<FunctionCatalogue {self.library} {self.version} ({len(self)}, {state})>"

    # -- reading the documents -------------------------------------------------------------
    def _all_details(self) -> dict[str, Any]:
        details = self._details
        if details is None:
            details = _read_details(self)
            if details is None:  # missing, damaged or of another build: build both again
                fresh = catalogue(self.library, rebuild=True)
                details = fresh._all_details()
                if fresh._entries != self._entries:
                    raise KeyError(f"the catalogue of {self.library} changed; read it again")
            self._details = details
        return details

    def details(self, key: str) -> dict[str, Any]:
        """``signature`` (text), ``params`` (``[name, kind, default repr or None, annotation
        or None]`` each; None if no signature could be read) and ``defined_in`` of *key*."""
        if key not in self._entries:
            raise KeyError(key)
        record = self._all_details()["details"].get(key)
        if not (type(record) is list and len(record) == 3):
            return {"signature": None, "params": None, "defined_in": None}
        return {"signature": record[0], "params": record[1], "defined_in": record[2]}

    def tags(self, key: str) -> list[str]:
        return self._tags.get(key.rpartition(".")[0], [])

    def info(self, key: str) -> dict[str, Any]:
        """Everything known about *key* without importing it: signature, parameters, first
        doc line, exporting and defining module and file, tags, library, version,
        availability."""
        doc = self._doc
        details = self.details(key)
        defined = details["defined_in"]
        files = self._all_details().get("module_files")
        return {
            "key": key,
            "name": key.rpartition(".")[2],
            "signature": details["signature"],
            "params": details["params"],
            "doc": self._entries[key],
            "module": key.rpartition(".")[0],
            "defined_in": defined,
            "file": files.get(defined) if type(files) is dict else None,
            "tags": self.tags(key),
            "library": doc["name"],
            "distribution": doc.get("distribution"),
            "version": doc.get("library_version"),
            "memory_type": doc.get("memory_type"),
            "available": doc.get("reason") is None,
            "reason": doc.get("reason"),
            "source": self.source,
        }

    def signature(self, key: str) -> str | None:
        sig: str | None = self.details(key)["signature"]
        return sig

    def check(self, key: str, *args: Any, **kwargs: Any) -> None:
        """Raise :class:`CallCheckError` unless ``self[key](*args, **kwargs)`` would bind.

        Only the number of positional arguments and the keyword names are used; nothing is
        imported.  A function whose signature could not be read accepts anything.
        """
        params = self.details(key)["params"]
        if isinstance(params, list):
            check_arguments(params, len(args), kwargs)

    def search(
        self,
        text: str | None = None,
        *,
        name: str | None = None,
        tag: str | None = None,
    ) -> list[str]:
        """Keys matching every filter given: *text* a case-insensitive substring of the key or
        the first doc line, *name* the exact function name, *tag* one of its tags."""
        needle = text.lower() if text else None
        tags = self._tags
        out = []
        for key, line in self._entries.items():
            module, _, short = key.rpartition(".")
            if name is not None and short != name:
                continue
            if tag is not None and tag not in tags.get(module, ()):
                continue
            if needle is not None and needle not in key.lower() and needle not in line.lower():
                continue
            out.append(key)
        return out


_catalogues: dict[tuple[str, str], FunctionCatalogue] = {}
#: One build at a time in a process: threads asking for the same library while it is being
#: built wait and take the result instead of importing and scanning it again.
_build_lock = threading.RLock()


def _valid_body(doc: dict[str, Any]) -> bool:
    """The shape :class:`FunctionCatalogue` relies on (a hand-edited document is rebuilt)."""
    functions = doc.get("functions")
    tags = doc.get("module_tags")
    modules = doc.get("modules")
    if type(functions) is not dict or type(tags) is not dict or type(modules) is not list:
        return False
    if type(doc.get("details_checksum")) is not int:
        return False
    return all(type(v) is str for v in functions.values()) and all(
        type(v) is list for v in tags.values()
    )


def _read_details(cat: FunctionCatalogue) -> dict[str, Any] | None:
    """The details document belonging to *cat* (same build), else None."""
    from openhcs_registry import _fileio
    from openhcs_registry import catalogue as store

    path = store.catalogue_file(DETAILS_KIND, cat.library)
    try:
        doc = _fileio.read_document(path)
    except (_fileio.UnsafeCacheFile, ValueError, OSError):
        return None
    if doc is None or doc.get("kind") != DETAILS_KIND or doc.get("name") != cat.library:
        return None
    details = doc.get("details")
    if type(details) is not dict or doc.get("checksum_of_details") != cat._doc.get(
        "details_checksum"
    ):
        return None
    return doc


def catalogue(library: str, *, rebuild: bool = False) -> FunctionCatalogue:
    """The catalogue of *library* (a ``function_library`` key): from its document when that
    is valid, else built now (importing the library once) and saved.

    Raises ``KeyError`` for an unknown library.  An unavailable library gives an empty
    catalogue whose :attr:`~FunctionCatalogue.reason` says why.
    """
    from openhcs_registry import catalogue as store

    if library not in FUNCTION_LIBRARIES:
        raise KeyError(f"unknown function library {library!r}; known: {sorted(FUNCTION_LIBRARIES)}")
    path = store.catalogue_file(KIND, library)
    memo_key = (library, str(path))
    if not rebuild:
        found = _valid_catalogue(library, path, memo_key)
        if found is not None:
            return found
    with _build_lock:
        if not rebuild:  # built by another thread meanwhile?
            found = _valid_catalogue(library, path, memo_key)
            if found is not None:
                return found
        cat = _catalogues[memo_key] = _build(library, path)
    return cat


def _valid_catalogue(
    library: str, path: Any, memo_key: tuple[str, str]
) -> FunctionCatalogue | None:
    """The catalogue remembered in this process or stored in its document, if still valid."""
    from openhcs_registry import catalogue as store
    from openhcs_registry import settings

    found = _catalogues.get(memo_key)
    if found is not None and store.changed_input(found._doc.get("inputs")) is None:
        return found
    if settings.cache_disabled():
        return None
    doc, _why = store.load(path, KIND, library)
    if doc is None or not _valid_body(doc):
        return None
    cat = _catalogues[memo_key] = FunctionCatalogue(doc, "cache", path)
    return cat


def _build(library: str, path: Any) -> FunctionCatalogue:
    """Scan the library, write both documents (details first), return the catalogue."""
    import orjson

    from openhcs_registry import _fileio, settings
    from openhcs_registry import catalogue as store

    from ._function_scan import build

    body, inputs = build(FUNCTION_LIBRARIES[library])
    details = {"details": body.pop("details"), "module_files": body.pop("module_files")}
    body["details_checksum"] = _fileio.checksum(orjson.dumps(details))
    details_doc = {
        "kind": DETAILS_KIND,
        "name": library,
        "checksum_of_details": body["details_checksum"],
        **details,
    }
    if not settings.cache_disabled():
        _fileio.write_document(store.catalogue_file(DETAILS_KIND, library), details_doc)
    store.save(path, KIND, library, body, inputs)
    doc = {"name": library, **body, "inputs": inputs.as_document()}
    return FunctionCatalogue(doc, "fresh", path, details_doc)


def catalogues() -> dict[str, FunctionCatalogue]:
    """Every known library's catalogue, by library name (each validated or rebuilt alone)."""
    return {name: catalogue(name) for name in sorted(FUNCTION_LIBRARIES)}


def why_stale(library: str) -> str:
    """``valid``, ``missing`` or why the document of *library* would be rebuilt."""
    from openhcs_registry import catalogue as store

    return store.load(store.catalogue_file(KIND, library), KIND, library)[1]


def search(
    text: str | None = None,
    *,
    name: str | None = None,
    tag: str | None = None,
    library: str | None = None,
) -> list[dict[str, Any]]:
    """:meth:`FunctionCatalogue.search` over one library or all; each hit's :meth:`info`."""
    cats = {library: catalogue(library)} if library is not None else catalogues()
    return [cat.info(key) for cat in cats.values() for key in cat.search(text, name=name, tag=tag)]


def find(key: str) -> FunctionCatalogue:
    """The catalogue holding dotted path *key* (``KeyError`` if none).

    The library named like the key's top-level package is tried first, so that finding
    ``skimage.filters.gaussian`` reads one document, not every library's.
    """
    top = key.partition(".")[0]
    names = sorted(FUNCTION_LIBRARIES, key=lambda name: name != top)
    for name in names:
        cat = catalogue(name)
        if key in cat:
            return cat
    raise KeyError(key)


def probe(
    library: str, keys: list[str] | None = None, *, timeout: float = 5.0, rebuild: bool = False
) -> dict[str, dict[str, str]]:
    """Opt-in: call *keys* (default: every function) of *library* on the provider's sample
    inputs, in a child process, at most *timeout* seconds per function.

    Returns ``{key: {sample name: "ok: ..." | "error: ..."}}`` (or ``{"probe": "timeout:
    ..." | "crashed: ..."}``).  Results are cached in their own document, valid while the
    catalogue's inputs hold; never part of a catalogue read.  See :mod:`._function_probe`.
    """
    from ._function_probe import probe as run_probe

    return run_probe(library, keys, timeout=timeout, rebuild=rebuild)
