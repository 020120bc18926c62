"""Failure records: what went wrong with which plugin, kept so it can be explained later.

A failure is logged once as a warning (naming plugin, module, distribution and cause) and kept
on the registry (``registry.failures``) and in its cache file, so a warm start that imports
nothing can still tell why a plugin is missing.
"""

from __future__ import annotations

from ._config import _Frozen
from ._log import get_logger

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

logger = get_logger("openhcs_registry.discovery")

_INFO = 20
_WARNING = 30


class FailureKind:
    """The reasons a plugin or value can be left out (strings, stable in caches and JSON)."""

    IMPORT_ERROR = "import_error"  # entry point / module could not be imported
    HOOK_ERROR = "hook_error"  # the hook implementation raised
    INVALID_PLUGIN = "invalid_plugin"  # pluggy refused the plugin (bad hookimpl signature, ...)
    BAD_RETURN = "bad_return"  # the hook returned something that is not a list/mapping
    WRONG_TYPE = "wrong_type"  # a value is not a subclass/instance of the base class
    MISSING_KEY = "missing_key"  # a returned value carries no key
    ABSTRACT = "abstract"  # a returned class is abstract
    DUPLICATE_KEY = "duplicate_key"  # lost a key conflict
    SKIPPED = "skipped"  # the registry's skip rule left it out (the message says why)
    UNAVAILABLE = "unavailable"  # the plugin says an optional dependency is missing
    BLOCKED = "blocked"  # blocked by name
    DERIVE_ERROR = "derive_error"  # a secondary registry could not be derived
    UNKNOWN_HOOK = "unknown_hook"  # a hookimpl-like name that matches no hookspec
    OVERRIDDEN = (
        "overridden"  # an intended override: a tryfirst hookimpl took this key (not a problem)
    )
    NOT_RETURNED = (
        "not_returned"  # a class of an entry-point module that its hook did not return (a note)
    )

    #: kinds that are expected outcomes, logged at INFO/DEBUG rather than WARNING
    QUIET = frozenset({"skipped", "unavailable", "blocked", "overridden"})


class PluginFailure(_Frozen):
    """One plugin (or one value of a plugin) left out of a registry, and why."""

    __slots__ = (
        "distribution",
        "exception",
        "key",
        "kind",
        "location",
        "message",
        "missing_module",
        "module",
        "plugin",
        "registry",
    )

    registry: str
    plugin: str
    kind: str
    message: str
    module: str | None
    distribution: str | None
    key: str | None
    exception: str | None
    location: str | None
    missing_module: str | None

    def __init__(
        self,
        registry: str,
        plugin: str,
        kind: str,
        message: str,
        module: str | None = None,
        distribution: str | None = None,
        key: str | None = None,
        exception: str | None = None,
        location: str | None = None,
        missing_module: str | None = None,
    ) -> None:
        self._set("registry", registry)
        self._set("plugin", plugin)
        self._set("kind", kind)
        self._set("message", message)
        self._set("module", module)
        self._set("distribution", distribution)
        self._set("key", key)
        self._set("exception", exception)
        self._set("location", location)
        self._set("missing_module", missing_module)

    @classmethod
    def of(
        cls,
        registry: str,
        plugin: str,
        kind: str,
        message: str,
        exc: BaseException | None = None,
        *,
        module: str | None = None,
        distribution: str | None = None,
        key: str | None = None,
        missing_module: str | None = None,
    ) -> PluginFailure:
        """A failure caused by *exc* (if any): its type, where it was raised, and the module
        it found missing (unless *missing_module* is given) - the one place they are read."""
        return cls(
            registry,
            plugin,
            kind,
            message,
            module=module,
            distribution=distribution,
            key=key,
            exception=type(exc).__name__ if exc is not None else None,
            location=exception_location(exc) if exc is not None else None,
            missing_module=missing_module or (missing_module_of(exc) if exc is not None else None),
        )

    def describe(self) -> str:
        where = ", ".join(
            part
            for part in (
                f"module {self.module}" if self.module else "",
                f"distribution {self.distribution}" if self.distribution else "",
                f"key {self.key!r}" if self.key else "",
            )
            if part
        )
        return f"plugin {self.plugin!r}" + (f" ({where})" if where else "") + f": {self.message}"

    def to_json(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__slots__ if getattr(self, f) is not None}

    @classmethod
    def from_json(cls, data: object) -> PluginFailure:
        """Rebuild from a cache entry; ``ValueError`` if it is not one."""
        if not isinstance(data, dict):
            raise ValueError("failure entry is not an object")
        kwargs: dict[str, Any] = {}
        for name in cls.__slots__:
            value = data.get(name)
            if value is None:
                if name in ("registry", "plugin", "kind", "message"):
                    raise ValueError(f"failure entry lacks {name}")
                continue
            if not isinstance(value, str):
                raise ValueError(f"failure field {name} is not a string")
            kwargs[name] = value
        return cls(**kwargs)


_reported: set[tuple[str | None, ...]] = set()

#: >0 while :func:`quiet` is active: failures are recorded but logged at debug only.
_quiet = [0]


class quiet:
    """Context: a discovery run only to be explained (``why``) logs its failures at debug.

    ``openhcs-registry why`` reruns discovery to compare it with the cache; what that run
    finds is part of the explanation it prints, so warning about it too would say it twice.
    """

    def __enter__(self) -> None:
        _quiet[0] += 1

    def __exit__(self, *exc: object) -> None:
        _quiet[0] -= 1


_reentries = [0]


def note_reentry() -> None:
    """Count a registry read refused because that registry was being discovered.

    Discovery compares the count before and after: a change means some plugin saw a
    registry mid-discovery, so the answer depends on the order of reads and is not cached.
    """
    _reentries[0] += 1


def reentry_count() -> int:
    return _reentries[0]


def report(failure: PluginFailure) -> PluginFailure:
    """Log a fresh failure (warning, or info for expected outcomes) and return it.

    Every registry loads the whole entry-point group, so one broken plugin fails in each of
    them; it is said once per process (later repeats go to debug), and recorded in each.
    """
    token = (failure.plugin, failure.kind, failure.module, failure.key, failure.message)
    if token in _reported or _quiet[0]:
        logger.debug("registry %s: %s (again)", failure.registry, failure.describe())
        return failure
    _reported.add(token)
    level = _INFO if failure.kind in FailureKind.QUIET else _WARNING
    logger.log(level, "registry %s: %s", failure.registry, failure.describe())
    return failure


def exception_location(exc: BaseException) -> str | None:
    """``file:line`` of the innermost frame of *exc* in the plugin's code (where it broke).

    Frames of the import machinery (``<frozen importlib...>``) and of this engine are passed
    over: "no module named x" raised inside ``importlib`` is the plugin's import line, and an
    entry point naming a missing attribute has no line of its own (None).
    """
    import importlib
    import os

    skip = tuple(
        os.path.dirname(os.path.abspath(f)) + os.sep for f in (__file__, importlib.__file__ or "")
    )
    tb = exc.__traceback__
    found: str | None = None
    while tb is not None:
        file = tb.tb_frame.f_code.co_filename
        if not file.startswith("<frozen") and not os.path.abspath(file).startswith(skip):
            found = f"{file}:{tb.tb_lineno}"
        tb = tb.tb_next
    return found


def missing_module_of(exc: BaseException) -> str | None:
    """The top-level module a ``ModuleNotFoundError`` (anywhere in the chain) was about."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, ModuleNotFoundError) and cur.name:
            return cur.name.split(".")[0]
        cur = cur.__cause__ or cur.__context__
    return None


def missing_requirements(value: Any) -> str | None:
    """The first module named in *value*'s ``requires_modules`` that cannot be found.

    Checked with ``find_spec`` (nothing imported), so a plugin class can say which optional
    dependency it needs and be reported as unavailable instead of failing later.
    """
    required = getattr(value, "requires_modules", ())
    if isinstance(required, str):
        required = (required,)
    if not required or not isinstance(required, (tuple, list)):
        return None
    from importlib.util import find_spec

    for name in required:
        if not isinstance(name, str):
            continue
        try:
            if find_spec(name) is None:
                return name
        except (ImportError, ValueError):
            return name
    return None


def abstract_text(cls: Any) -> str:
    """``"Half is abstract (abstract methods: run, stop)"``: what is left to implement."""
    label = getattr(cls, "__qualname__", None) or repr(cls)[:80]
    methods = sorted(getattr(cls, "__abstractmethods__", None) or ())
    listed = f" (abstract methods to implement: {', '.join(methods)})" if methods else ""
    return f"{label} is abstract{listed}"


def bad_key_text(label: str, key: object, attribute: str | None) -> str:
    """Why *key* is no usable key, naming its type (``kind = 42`` is an int, not a str)."""
    where = f" (attribute {attribute!r})" if attribute else ""
    if key is None:
        return f"{label} has no usable key{where}: it is not set"
    if isinstance(key, str):  # the empty string
        return f"{label} has no usable key{where}: it is an empty string"
    kind = type(key).__name__
    article = "an" if kind[:1] in "aeiou" else "a"
    return (
        f"{label} has no usable key{where}: it is {key!r}, {article} {kind}; "
        f"a key must be a non-empty str (write {str(key)!r})"
    )


class RegistryKeyError(KeyError):
    """``registry[key]`` for a key the registry does not hold, saying why when it knows.

    ``args[0]`` is the key (as for a plain ``KeyError``); ``str()`` is the whole sentence,
    e.g. ``'omero' is not in registry 'microscope_handler': unavailable: needs the omero-py
    package (plugin ...)``.  ``kind`` is the :class:`FailureKind` of the reason, if any.
    """

    def __init__(self, key: object, message: str, kind: str | None = None) -> None:
        super().__init__(key)
        self.key = key
        self.message = message
        self.kind = kind

    def __str__(self) -> str:
        return self.message


_KIND_WORDS = {
    FailureKind.UNAVAILABLE: "unavailable",
    FailureKind.BLOCKED: "blocked",
    FailureKind.SKIPPED: "skipped",
    FailureKind.NOT_RETURNED: "not returned by its entry point's hook",
}


def key_error(
    registry: str,
    key: object,
    failures: list[PluginFailure],
    known: list[str],
    noted: list[Any] | None = None,
    key_of: Any = None,
) -> RegistryKeyError:
    """The :class:`RegistryKeyError` for *key*: the recorded reason, or close known keys.

    *noted* are classes noted at import time for the registry (with *key_of* reading their
    key): one of a blocked plugin's modules, or one its entry point's hook did not return,
    tells why its key is absent even though nothing recorded that key.
    """
    head = f"{key!r} is not in registry {registry!r}"
    if not isinstance(key, str):
        kind = type(key).__name__
        return RegistryKeyError(key, f"{head}: keys are str, not {kind}")
    for failure in failures:
        if failure.key == key and failure.kind not in (
            FailureKind.DUPLICATE_KEY,
            FailureKind.OVERRIDDEN,
        ):
            word = _KIND_WORDS.get(failure.kind, f"left out ({failure.kind})")
            return RegistryKeyError(
                key, f"{head}: {word}: {failure.message} (plugin {failure.plugin!r})", failure.kind
            )
    for obj in noted or ():
        try:
            same = key_of(obj) == key
        except Exception:  # a broken key extractor: discovery reports it, not this message
            same = False
        if not same:
            continue
        module = getattr(obj, "__module__", None) or ""
        label = f"{module}.{getattr(obj, '__qualname__', '')}"
        for failure in failures:
            if failure.kind == FailureKind.NOT_RETURNED and failure.plugin == label:
                return RegistryKeyError(
                    key,
                    f"{head}: not returned: {label} is {failure.message}",
                    failure.kind,
                )
            root = failure.module or ""
            inside = bool(root) and (module == root or module.startswith(root + "."))
            if inside and failure.kind == FailureKind.BLOCKED:
                return RegistryKeyError(
                    key, f"{head}: blocked: plugin {failure.plugin!r} is blocked", "blocked"
                )
    import difflib

    close = difflib.get_close_matches(key, known, n=3)
    hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
    return RegistryKeyError(key, f"{head}{hint}")
