"""The catalogue of one function library, as read from its documents: a read-only mapping
of dotted paths to functions (imported on first read), with listing, search, signatures and
argument checks that import nothing.

On the warm path: no ``typing``, ``inspect`` or ``logging`` at run time.  Building and
choosing documents is :mod:`.functions`' job; this module only reads them.
"""

from __future__ import annotations

from collections.abc import Mapping

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any


class CallCheckError(TypeError):
    """Arguments that do not fit a catalogued signature (checked without importing)."""


def check_arguments(params: list[list[Any]], args: int, kwargs: Any) -> None:
    """Raise :class:`CallCheckError` unless *args* positional arguments and keyword names
    *kwargs* bind to *params* (the catalogue's parameter records), as in a real call."""
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
                from .functions import catalogue

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
    from openhcs_registry import catalogue as store

    path = store.catalogue_file(DETAILS_KIND, cat.library)
    try:
        doc = store.read_document(path)
    except (store.UnsafeCacheFile, ValueError, OSError):
        return None
    if doc is None or doc.get("kind") != DETAILS_KIND or doc.get("name") != cat.library:
        return None
    details = doc.get("details")
    if type(details) is not dict or doc.get("checksum_of_details") != cat._doc.get(
        "details_checksum"
    ):
        return None
    return doc
