"""Function libraries: providers, and per-library catalogues of their real functions.

A :class:`FunctionLibrary` provider names a library (``import_name``, ``distribution``) and the
submodules to scan; the ``function_library`` registry finds providers through the
``provide_function_libraries`` hook, like every other plugin.  :func:`catalogue` returns a
library's :class:`FunctionCatalogue`: keys are public dotted paths
(``skimage.filters.gaussian``), values are the functions, imported on first read (only the
module that exports that function).  Everything else — listing, searching, signatures, first
doc lines, availability and why not — comes from the catalogue document and imports neither
the library nor numpy.

The catalogue object and its reading live in :mod:`._function_catalogue`; this module holds
the contract (provider base class, hookspec, registry) and chooses between a valid document
and a build.  A catalogue is built by importing the scanned submodules once
(:mod:`._function_scan`, cold)
and is valid while its inputs are: the library's distribution, the files of the scanned and
defining modules, the provider's own code, the variables and device paths the provider
declares (:mod:`openhcs_registry.catalogue`).  A change rebuilds that one library.

This module is on the warm path: no ``typing``, ``inspect`` or ``logging`` at run time.
"""

from __future__ import annotations

import _thread
from abc import ABC

from openhcs_registry import AutoRegistered, LazyDiscoveryDict, RegistryConfig, hookspec

from ._function_catalogue import (
    DETAILS_KIND,
    CallCheckError,
    FunctionCatalogue,
    _valid_body,
    check_arguments,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar

#: ``kind`` of the catalogue documents (``function_catalogue_<library>.json``).
KIND = "function_catalogue"

__all__ = [
    "DETAILS_KIND",
    "FUNCTION_LIBRARIES",
    "FUNCTION_LIBRARIES_CONFIG",
    "KIND",
    "CallCheckError",
    "FunctionCatalogue",
    "FunctionLibrary",
    "catalogue",
    "catalogues",
    "check_arguments",
    "find",
    "forget",
    "probe",
    "provide_function_libraries",
    "search",
    "why_stale",
]


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

        from openhcs_hookspecs import NO_GPU_ENV, no_gpu

        if self.requires_gpu and no_gpu():
            return f"GPU libraries disabled ({NO_GPU_ENV}=1)"
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
    # no skip rule: GPU libraries stay listed in GPU-less subprocesses
    # (OPENHCS_SUBPROCESS_NO_GPU=1); their catalogue says why they are unavailable instead of
    # the library vanishing
    description="function library providers, by library name",
)

FUNCTION_LIBRARIES: LazyDiscoveryDict[type[FunctionLibrary]] = LazyDiscoveryDict(
    FUNCTION_LIBRARIES_CONFIG
)


_catalogues: dict[tuple[str, str], FunctionCatalogue] = {}
#: One build at a time in a process: threads asking for the same library while it is being
#: built wait and take the result instead of importing and scanning it again.
_build_lock = _thread.RLock()


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
        cat = _build(library, path, memo_key)
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
    with _build_lock:
        # Look at the memo again, under the lock: a build in another thread remembers its
        # catalogue before writing the document, so a document read here may be that build's
        # (the memo was empty at the first look), and two threads reading one document must
        # not each remember a copy of their own.
        found = _catalogues.get(memo_key)
        if found is not None and found._doc.get("inputs") == doc.get("inputs"):
            # the document this process wrote, found valid on disk (a racily-clean input can
            # fail the memo's quick look and pass the document's full one): one object
            return found
        cat = _catalogues[memo_key] = FunctionCatalogue(doc, "cache", path)
    return cat


def _build(library: str, path: Any, memo_key: tuple[str, str]) -> FunctionCatalogue:
    """Scan the library, remember the catalogue, write both documents (details first).

    Remembered before writing: a thread that finds the new document before this one returns
    then gets this same catalogue from the memo, not a second copy read from the file.
    """
    import orjson

    from openhcs_registry import catalogue as store
    from openhcs_registry import settings

    from ._function_scan import build

    body, inputs = build(FUNCTION_LIBRARIES[library])
    details = {"details": body.pop("details"), "module_files": body.pop("module_files")}
    body["details_checksum"] = store.checksum(orjson.dumps(details))
    details_doc = {
        "kind": DETAILS_KIND,
        "name": library,
        "checksum_of_details": body["details_checksum"],
        **details,
    }
    doc = {"name": library, **body, "inputs": inputs.as_document()}
    cat = _catalogues[memo_key] = FunctionCatalogue(doc, "fresh", path, details_doc)
    if not settings.cache_disabled():
        store.write_document(store.catalogue_file(DETAILS_KIND, library), details_doc)
    store.save(path, KIND, library, body, doc["inputs"])
    return cat


def forget(library: str | None = None) -> None:
    """Forget the catalogues this process holds (every library's, or *library*'s).

    The next :func:`catalogue` call validates and reads the library's document again (or
    builds), as a fresh process would; objects already handed out are not changed.  For
    tests and tools that change a document on disk behind this process's back: a catalogue
    it holds is otherwise kept while its inputs are unchanged, and a document is not one of
    them.
    """
    with _build_lock:
        for key in [k for k in _catalogues if library is None or k[0] == library]:
            del _catalogues[key]


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
