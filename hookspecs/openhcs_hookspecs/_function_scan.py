"""Building a function catalogue (cold): import the scanned submodules once, describe each
public function, and record every input the answer was read from.

Describing a function costs ~30 µs (``inspect.signature`` and the first doc line); importing
the library is what costs (scikit-image: ~1.2 s for 14 submodules), which is why the result
is kept.  Everything the build reads is recorded in an :class:`InputRecord`: the provider's
code (every module of its class hierarchy), this module, the distribution's ``METADATA``,
where ``import <library>`` would look, the files of the scanned, parent and defining modules
(signatures taken before the files were read), the declared environment variables and paths.
"""

from __future__ import annotations

import inspect
import os
import re
import sys
from typing import Any

from openhcs_registry import catalogue as store
from openhcs_registry.catalogue import InputRecord

from . import NO_GPU_ENV
from .functions import FunctionLibrary

#: Longest default ``repr`` kept; longer ones are cut (a default array's repr, say).
MAX_REPR = 200


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _repr(value: Any) -> str:
    """A default's ``repr``, the same in every process: functions and classes by name
    (``<function numpy.max>``), object addresses removed, long texts cut."""
    if inspect.isroutine(value) or inspect.isclass(value):
        kind = "class" if inspect.isclass(value) else "function"
        module = getattr(value, "__module__", None)
        name = getattr(value, "__qualname__", None) or getattr(value, "__name__", "?")
        return f"<{kind} {module}.{name}>" if module else f"<{kind} {name}>"
    try:
        text = _ADDRESS.sub("", repr(value))
    except Exception as exc:  # a default whose __repr__ fails must not fail the build
        text = f"<unrepresentable {type(value).__name__}: {type(exc).__name__}>"
    return text if len(text) <= MAX_REPR else text[: MAX_REPR - 3] + "..."


def _annotation(value: Any) -> str | None:
    if value is inspect.Parameter.empty:
        return None
    return value if isinstance(value, str) else inspect.formatannotation(value)


def first_doc_line(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    for line in doc.splitlines():
        if line.strip():
            return line.strip()
    return ""


def describe(obj: Any) -> dict[str, Any]:
    """Signature (string and per parameter) and first doc line of *obj*."""
    out: dict[str, Any] = {"doc": first_doc_line(obj)}
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):  # some builtins have none: callable with anything
        out["signature"] = out["params"] = None
        return out
    params = []
    for p in sig.parameters.values():
        default = None if p.default is inspect.Parameter.empty else _repr(p.default)
        params.append([p.name, p.kind.name, default, _annotation(p.annotation)])
    try:
        out["signature"] = _ADDRESS.sub("", str(sig))
    except Exception:  # an annotation whose repr fails
        out["signature"] = "(" + ", ".join(str(p[0]) for p in params) + ")"
    out["params"] = params
    return out


def _distribution(name: str | None, rec: InputRecord) -> str | None:
    """The version of distribution *name*; its ``METADATA`` file becomes an input."""
    if not name:
        return None
    from importlib import metadata

    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return None
    folder = getattr(dist, "_path", None)  # PathDistribution: the .dist-info folder
    if folder is not None:
        metadata_file = os.path.join(str(folder), "METADATA")
        if not os.path.exists(metadata_file):  # an .egg-info folder
            metadata_file = os.path.join(str(folder), "PKG-INFO")
        rec.file(metadata_file)
    version: str | None = dist.version
    return version


def _code_files(provider: type[FunctionLibrary], rec: InputRecord) -> None:
    """The provider's own code: the module of every class it inherits from, and this one."""
    for klass in provider.__mro__:
        file = getattr(sys.modules.get(klass.__module__), "__file__", None)
        if isinstance(file, str) and not store.in_stdlib(os.path.abspath(file)):
            rec.file(file)
    rec.file(__file__)
    from openhcs_registry import catalogue

    rec.file(str(catalogue.__file__))


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _stubs(rec: InputRecord, names: list[str]) -> None:
    """``__init__.pyi`` beside a package's ``__init__.py``: lazy-loading packages (scikit-image
    uses ``lazy_loader``) read their public names from it."""
    for name in names:
        file = getattr(sys.modules.get(name), "__file__", None)
        if isinstance(file, str) and file.endswith("__init__.py") and os.path.exists(file + "i"):
            rec.file(file + "i")


def _scan(
    provider: FunctionLibrary,
    inputs: store.Inputs,
    rec: InputRecord,
    details: dict[str, list[Any]],
) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """The first doc line of every function of the scanned modules (their signatures go
    into *details*), the modules that failed, the modules read."""
    functions: dict[str, str] = {}
    failures: dict[str, str] = {}
    read: list[str] = []
    for modname in provider.modules:
        own = store.Inputs()
        read += [*_parents(modname), modname]
        try:
            module = store.import_module(modname, own)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # SystemExit at import included: one module, not all
            failures[modname] = f"{type(exc).__name__}: {exc}"
            inputs.update(own)
            for folder in own.dirs:  # a missing module appearing counts
                rec.folder(folder)
            continue
        inputs.update(own)
        try:
            found = _describe_module(provider, modname, module)
        except Exception as exc:  # the provider's own hooks failed: this module, not all
            failures[modname] = f"scan failed: {type(exc).__name__}: {exc}"
            continue
        for key, (text, record) in found.items():
            functions[key] = text
            details[key] = record
            if record[2] is not None:
                read.append(record[2])
    return functions, failures, read


def _describe_module(
    provider: FunctionLibrary, modname: str, module: Any
) -> dict[str, tuple[str, list[Any]]]:
    """``{key: (first doc line, [signature, params, defining module])}`` of one module."""
    out: dict[str, tuple[str, list[Any]]] = {}
    for name in provider.public_names(module):
        obj = getattr(module, name, None)
        if obj is None or not provider.is_function(obj):
            continue
        described = describe(obj)
        defined = getattr(obj, "__module__", None)
        defined = defined if isinstance(defined, str) else None
        out[f"{modname}.{name}"] = (
            described["doc"],
            [described["signature"], described["params"], defined],
        )
    return out


def build(provider_cls: type[FunctionLibrary]) -> tuple[dict[str, Any], InputRecord]:
    """Catalogue the library of *provider_cls*: the document body and its inputs.

    Never raises for a faulty provider or library: a failure becomes the library's
    ``reason`` (unavailable) or one module's entry in ``failures``.
    """
    rec = InputRecord()
    _code_files(provider_cls, rec)
    rec.variable(NO_GPU_ENV)
    try:
        return _build(provider_cls, rec), rec
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # the provider itself is broken: say so, as unavailable
        return {
            "import_name": getattr(provider_cls, "import_name", None),
            "distribution": getattr(provider_cls, "distribution", None),
            "library_version": None,
            "reason": f"provider failed: {type(exc).__name__}: {exc}",
            "memory_type": None,
            "tags": [],
            "modules": [],
            "settings": {},
            "failures": {},
            "module_files": {},
            "module_tags": {},
            "functions": {},
            "details": {},
        }, rec


def _build(provider_cls: type[FunctionLibrary], rec: InputRecord) -> dict[str, Any]:
    provider = provider_cls()
    for variable in provider.environment_variables:
        rec.variable(variable)
    for path in provider.declared_paths():
        if os.path.isdir(path):
            rec.folder(path)
        else:
            rec.presence(path)
    top = provider.import_name
    tops = {top} if top else set()
    tops |= {m.partition(".")[0] for m in provider.modules}
    for name in sorted(tops):
        rec.import_candidates(name)
    version = _distribution(provider.distribution, rec)
    inputs = store.Inputs()
    try:
        with store.recording(inputs):
            reason = provider.unavailable_reason()
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        reason = f"availability check failed: {type(exc).__name__}: {exc}"
    # the library's own modules the check imported (a stand-in that lists devices, say)
    checked = [m for m in inputs.modules if m.partition(".")[0] in tops]
    functions: dict[str, str] = {}
    details: dict[str, list[Any]] = {}
    failures: dict[str, str] = {}
    read: list[str] = []
    if reason is None:
        functions, failures, read = _scan(provider, inputs, rec, details)
        if failures and len(failures) == len(provider.modules):
            reason = "no module could be imported: " + "; ".join(
                f"{m}: {e}" for m, e in failures.items()
            )
    names = list(dict.fromkeys([*checked, *read]))
    files = {}  # defining module -> file, once (not per function)
    for defined in read:
        if defined not in files:
            file = getattr(sys.modules.get(defined), "__file__", None)
            files[defined] = file if isinstance(file, str) else None
    rec.module_files(inputs, names)
    _stubs(rec, names)
    for modname in failures:  # what a failed import went through: fixing it counts
        for path in _failure_files(inputs, modname):
            rec.file(path, inputs.files.get(path))
    body = {
        "import_name": top,
        "distribution": provider.distribution,
        "library_version": version,
        "reason": reason,
        "memory_type": provider.memory_type,
        "tags": list(provider.tags),
        "modules": list(provider.modules),
        "settings": provider.scan_settings(),
        "failures": failures,
        "module_files": files,
        "module_tags": {m: provider.module_tags(m) for m in provider.modules},
        "functions": functions,
        "details": details,
    }
    return body


def _failure_files(inputs: store.Inputs, modname: str) -> list[str]:
    """Files of the library's own modules a failed import went through."""
    top = modname.partition(".")[0]
    return [
        file
        for name, file in inputs.modules.items()
        if file is not None and (name == top or name.startswith(top + "."))
    ]
