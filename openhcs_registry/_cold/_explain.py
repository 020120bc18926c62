"""Why is a key missing from a registry? The logic behind ``openhcs-registry why``.

The evidence, cheapest first:

- the registry's recorded failures and skipped classes (kept in the cache, so a warm start
  can explain a plugin without importing it);
- a fresh discovery compared with the cache (a key only the fresh one finds: stale cache);
- the source files of the places discovery looks (the discovery packages' top-level packages,
  the packages of the registry's entry points) and of entry points of *other* groups, read as
  text and parsed with :mod:`ast` — never imported — for a class that assigns the key to the
  key attribute; where such a class lives says what went wrong (a module never scanned, a
  module whose hook does not return it, an entry point in the wrong group, a module that
  failed to import, an abstract class);
- classes with the key already imported into this process but not in the registry;
- the entry points of every group (``importlib.metadata``, imported only here).

Causes: not installed, wrong entry-point group, import error (exception and ``file:line``),
hook error, missing key attribute, abstract class, wrong type, outside the discovery packages,
not returned by the hook, blocked, duplicate key lost, skipped by the registry's rule, optional
dependency missing, stale cache — each with what to do about it.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from .._diagnostics import FailureKind, PluginFailure
from .._lazy import LazyDiscoveryDict
from .._snapshot import Snapshot

#: Limits of the source search: it must stay quick even when a plugin lives in a big package.
_MAX_FILES = 4000
_MAX_BYTES = 1_000_000


class Explanation:
    """The verdict for one key: ``found`` (with notes) or a list of causes, each with advice."""

    __slots__ = ("causes", "found", "key", "registry", "suggestions")

    def __init__(self, registry: str, key: str) -> None:
        self.registry = registry
        self.key = key
        self.found = False
        self.causes: list[dict[str, Any]] = []
        #: known keys spelt like the one asked for ("did you mean")
        self.suggestions: list[str] = []

    def add(self, cause: str, detail: str, advice: str, **extra: Any) -> None:
        entry = {"cause": cause, "detail": detail, "advice": advice, **extra}
        if entry not in self.causes:
            self.causes.append(entry)

    def to_json(self) -> dict[str, Any]:
        return {
            "registry": self.registry,
            "key": self.key,
            "found": self.found,
            "causes": self.causes,
            "suggestions": self.suggestions,
        }


_FAILURE_TEXT = {
    FailureKind.IMPORT_ERROR: ("import error", "fix the import error (install the dependency)"),
    FailureKind.HOOK_ERROR: ("hook raised", "fix the plugin's hook implementation"),
    FailureKind.INVALID_PLUGIN: ("invalid hookimpl", "match the hookspec's signature"),
    FailureKind.BAD_RETURN: ("bad return value", "return a list of classes or a dict"),
    FailureKind.WRONG_TYPE: ("wrong type", "subclass the registry's base class"),
    FailureKind.MISSING_KEY: ("missing key attribute", "set the key attribute on the class"),
    FailureKind.ABSTRACT: ("abstract class", "implement every abstract method"),
    FailureKind.DUPLICATE_KEY: (
        "duplicate key lost",
        "rename the key, or mark the hookimpl tryfirst=True to win deliberately",
    ),
    FailureKind.SKIPPED: (
        "skipped by the registry's rule",
        "run it where the rule's requirement is met (the reason names the switch)",
    ),
    FailureKind.UNAVAILABLE: ("optional dependency missing", "install the missing package"),
    FailureKind.BLOCKED: ("blocked", "unblock the plugin (registry.unblock(name))"),
    FailureKind.DERIVE_ERROR: ("secondary derivation failed", "fix the attribute/derive function"),
    FailureKind.UNKNOWN_HOOK: (
        "unknown hook name",
        "rename the hookimpl to the hookspec's name (pluggy ignores a name it does not know)",
    ),
    FailureKind.NOT_RETURNED: (
        "not returned by the hook",
        "return the class from the entry point's hook: for the modules an entry point loads, "
        "its hook decides what they provide",
    ),
    FailureKind.OVERRIDDEN: (
        "overridden",
        "nothing, if intended (a tryfirst hookimpl took the key); otherwise rename one key",
    ),
}


def _describe_failure(failure: PluginFailure) -> tuple[str, str, str]:
    cause, advice = _FAILURE_TEXT.get(failure.kind, (failure.kind, "see the message"))
    detail = failure.describe()
    if failure.exception and failure.exception not in detail:
        detail += f" [{failure.exception}]"
    if failure.location:
        detail += f" at {failure.location}"
    if failure.kind == FailureKind.UNAVAILABLE and failure.missing_module:
        advice = f"install the package that provides {failure.missing_module!r}"
    if failure.kind == FailureKind.IMPORT_ERROR:
        cause, advice = _import_error_text(failure)
    return cause, detail, advice


def _import_error_text(failure: PluginFailure) -> tuple[str, str]:
    """Tell a mistyped entry-point target apart from a missing dependency or a broken module.

    Only "a module the plugin imports is not installed" is fixed by installing something;
    an entry point naming a module or attribute that does not exist is fixed in the
    plugin's own metadata (``[project.entry-points...]``), and anything else in its code.
    """
    target = failure.module
    missing = failure.missing_module
    is_entry_point = failure.message.startswith("cannot import entry point")
    names_itself = bool(target and missing) and (
        target == missing or str(target).startswith(f"{missing}.")
    )
    if target and names_itself and locate(target)[0] is None and not locate(target)[1]:
        parent, _, leaf = target.rpartition(".")
        close = _close_module_names(parent, leaf)
        hint = f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""
        what = "entry-point target" if is_entry_point else "module"
        return (
            f"{what} does not exist",
            f"module {target!r} cannot be found{hint}: fix the "
            + (
                "entry point's value in the plugin's pyproject.toml and reinstall it"
                if is_entry_point
                else "module name"
            ),
        )
    if is_entry_point and failure.exception == "AttributeError":
        return (
            "entry-point target does not exist",
            f"the entry point names an attribute that module {target!r} does not define: fix "
            "the part after ':' in the plugin's pyproject.toml and reinstall it",
        )
    if missing:
        return (
            "missing dependency",
            f"install the package that provides {missing!r} (the plugin imports it)",
        )
    where = f" at {failure.location}" if failure.location else ""
    return "import error", f"fix the error in the plugin's code{where}"


def _close_module_names(parent: str, leaf: str) -> list[str]:
    """Importable module names next to *parent*.*leaf* that look like *leaf* (no import)."""
    import difflib
    import pkgutil

    if parent:
        folders = locate(parent)[1]
        if not folders:
            return []
        names = [info.name for info in pkgutil.iter_modules(folders)]
        prefix = parent + "."
    else:
        names = [info.name for info in pkgutil.iter_modules()]
        prefix = ""
    return [prefix + n for n in difflib.get_close_matches(leaf, names, n=2, cutoff=0.75)]


def _failure_extra(failure: PluginFailure) -> dict[str, Any]:
    extra: dict[str, Any] = {"kind": failure.kind, "plugin": failure.plugin}
    for name in ("module", "distribution", "exception", "location", "missing_module"):
        value = getattr(failure, name)
        if value is not None:
            extra[name] = value
    return extra


# -- static source search (nothing imported) ----------------------------------------------------
class Definition:
    """A class whose source assigns *key* to the key attribute."""

    __slots__ = ("cls", "entry_point", "file", "line", "module", "value", "via")

    def __init__(
        self, module: str, cls: str, file: str, line: int, via: str, value: object = None
    ) -> None:
        self.module = module
        self.cls = cls
        self.file = file
        self.line = line
        self.via = via  # "searched" | "group:<group>"
        #: the constant the source assigns (a str, or e.g. the int 42 for key "42")
        self.value = value
        #: (group, name, value, distribution) of the entry point whose module led here
        self.entry_point: tuple[str, str, str, str | None] | None = None

    @property
    def label(self) -> str:
        return f"{self.module}.{self.cls}"

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def locate(module: str) -> tuple[str | None, list[str]]:
    """(file, package folders) of *module*, found without importing it or its parents."""
    mod = sys.modules.get(module)
    if mod is not None:
        file = getattr(mod, "__file__", None)
        paths = list(getattr(mod, "__path__", None) or [])
        return (file if isinstance(file, str) else None), [str(p) for p in paths]
    from importlib.machinery import PathFinder

    parts = module.split(".")
    try:
        spec = PathFinder.find_spec(parts[0])
        for depth in range(1, len(parts)):
            if spec is None or not spec.submodule_search_locations:
                return None, []
            spec = PathFinder.find_spec(
                ".".join(parts[: depth + 1]), list(spec.submodule_search_locations)
            )
    except Exception:  # e.g. a namespace portion whose parent is not imported: not findable
        return None, []
    if spec is None:
        return None, []
    origin = spec.origin if spec.has_location else None
    try:
        folders = [str(p) for p in spec.submodule_search_locations or []]
    except Exception:
        folders = []
    return origin, folders


def _module_files(module: str, recursive: bool) -> list[tuple[str, str]]:
    """(module name, file) of *module* and, if it is a package, of the modules below it."""
    file, folders = locate(module)
    out: list[tuple[str, str]] = []
    if file and file.endswith(".py"):
        out.append((module, file))
    for folder in folders:
        for root, dirs, files in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if d.isidentifier())
            rel = os.path.relpath(root, folder)
            prefix = module if rel == os.curdir else f"{module}.{rel.replace(os.sep, '.')}"
            for name in sorted(files):
                if not name.endswith(".py") or not name[:-3].isidentifier():
                    continue
                modname = prefix if name == "__init__.py" else f"{prefix}.{name[:-3]}"
                out.append((modname, os.path.join(root, name)))
                if len(out) >= _MAX_FILES:
                    return out
            if not recursive:
                break
    return out


def find_definitions(
    files: list[tuple[str, str]], attribute: str, key: str, via: str
) -> list[Definition]:
    """Classes in *files* whose body assigns the string *key* to *attribute* (ast, no import)."""
    import ast

    found: list[Definition] = []
    seen: set[str] = set()
    for module, path in files:
        if path in seen:
            continue
        seen.add(path)
        try:
            if os.path.getsize(path) > _MAX_BYTES:
                continue
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError:
            continue
        if attribute.encode() not in data or key.encode() not in data:
            continue  # the cheap filter: most files are never parsed
        try:
            tree = ast.parse(data, filename=path)
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef):
                continue
            for stmt in node.body:
                targets: list[ast.expr] = []
                value: ast.expr | None = None
                if isinstance(stmt, ast.Assign):
                    targets, value = list(stmt.targets), stmt.value
                elif isinstance(stmt, ast.AnnAssign):
                    targets, value = [stmt.target], stmt.value
                if (
                    isinstance(value, ast.Constant)
                    # 42 for key "42": found, so that the wrong type can be named
                    and (value.value == key or str(value.value) == key)
                    and any(isinstance(t, ast.Name) and t.id == attribute for t in targets)
                ):
                    found.append(Definition(module, node.name, path, stmt.lineno, via, value.value))
    return found


# -- helpers ------------------------------------------------------------------------------------
def _recorded_modules(registry: LazyDiscoveryDict[Any]) -> frozenset[str]:
    """Modules the current discovery (or its cache) imported or recorded."""
    return registry.recorded_modules


def _entry_points() -> list[tuple[str, str, str, str | None]]:
    """(group, name, value, distribution) of every installed entry point.

    Read by the one entry-point reader discovery uses (:mod:`._entrypoints`), so the
    evidence names the distributions discovery sees, by the same rules.
    """
    from ._entrypoints import all_entry_points

    try:
        found = {(ep.group or "", ep.name, ep.value, ep.distribution) for ep in all_entry_points()}
    except Exception:  # an unreadable folder or archive on sys.path: no evidence from here
        return []
    return sorted(found, key=lambda m: (m[0], m[1], m[2], m[3] or ""))


def _ep_module(value: str) -> str:
    return value.split(":")[0].strip()


def _names_key(key: str, *texts: str | None) -> bool:
    """Whether a plugin/module/distribution name names the key (``s3`` in ``openhcs_s3``).

    Compared word by word (split at ``.``, ``_``, ``-``, ``:``): the key's words appear in a
    row in the name, and a one-word key may also begin or end a word (``zarr`` in
    ``zarrplugin``) unless it is all digits: ``42`` is not named by ``scan_a42b1c3d``.
    """
    import re

    def words(text: str) -> list[str]:
        return [w for w in re.split(r"[._:\-]+", text.lower()) if w]

    wanted = words(key)
    if not wanted or len(key) < 2:
        return False
    for text in texts:
        have = words(text or "")
        for start in range(len(have) - len(wanted) + 1):
            if have[start : start + len(wanted)] == wanted:
                return True
        one = wanted[0] if len(wanted) == 1 and not wanted[0].isdigit() else None
        if one is not None and any(w.startswith(one) or w.endswith(one) for w in have):
            return True
    return False


def _defined_in_process(registry: LazyDiscoveryDict[Any], key: str) -> list[type]:
    """Classes already imported in this process that carry *key* but are not in the registry."""
    cfg = registry.config
    base = cfg.base_class
    if base is None:
        return []
    found = []
    seen: set[int] = set()
    stack: list[type] = list(type.__subclasses__(base))
    while stack:
        cls = stack.pop()
        if id(cls) in seen:
            continue
        seen.add(id(cls))
        stack.extend(type.__subclasses__(cls))
        try:
            matches = cfg.key_of(cls) == key
        except Exception:  # a broken key extractor is reported by discovery, not here
            matches = False
        if matches:
            found.append(cls)
    return sorted(found, key=lambda c: (c.__module__, c.__qualname__))


# -- the verdict --------------------------------------------------------------------------------
def _imported_by_discovery(result: Snapshot | None) -> set[str]:
    """Every module a discovery imported or found imported (not only the plugin modules)."""
    if result is None:
        return set()
    return set(result.modules) | result.imports()


def _type_name(value: object) -> str:
    name = type(value).__name__
    return f"an {name}" if name[:1] in "aeiou" else f"a {name}"


def explain(
    registry: LazyDiscoveryDict[Any],
    key: str,
    *,
    check_fresh: bool = True,
    secondary: str | None = None,
) -> Explanation:
    """Explain why *key* is (or is not) in *registry* (or in its secondary *secondary*).

    ``check_fresh`` runs a fresh discovery when the registry came from its cache, to tell a
    stale cache apart from a plugin problem (it imports the plugins, as discovery does).

    The verdict is a list of small evidence functions, each adding what it finds; the later
    ones speak only when the earlier ones found no cause.
    """
    out = Explanation(secondary or registry.name, key)
    if key in registry:
        _present(out, registry, key, secondary)
        return out
    case = _gather(out, registry, key, check_fresh)
    if case is None:
        return out  # a stale cache: nothing else to say
    for evidence in (_recorded_failures, _quiet_skips, _blocked, _static_definitions):
        evidence(case)
    _classes_in_process(case)
    if not out.causes:
        _entry_point_names(case)
    if not out.causes:
        _possibly_related(case)
    out.suggestions = _close_keys(key, registry, case.failures)
    if not out.causes:
        _not_installed(case)
    return out


class _Case:
    """What the evidence functions share: the registry, the key and what was found."""

    def __init__(
        self,
        out: Explanation,
        registry: LazyDiscoveryDict[Any],
        key: str,
        failures: list[PluginFailure],
        skipped: list[PluginFailure],
        imported: set[str],
    ) -> None:
        self.out = out
        self.registry = registry
        self.cfg = registry.config
        self.key = key
        self.failures = failures
        self.skipped = skipped
        self.imported = imported  # every module discovery imported
        self.definitions = _definitions(self.cfg, key, failures)
        self.explained: set[str] = set()  # modules (and labels) a failure accounts for

    def add_failure(self, failure: PluginFailure) -> None:
        cause, detail, advice = _describe_failure(failure)
        self.out.add(cause, detail, advice, **_failure_extra(failure))


def _present(
    out: Explanation, registry: LazyDiscoveryDict[Any], key: str, secondary: str | None
) -> None:
    """*key* is in the registry: where from, what it beat, or why its secondary is missing."""
    cfg = registry.config
    info = registry.info(key)
    if secondary is not None and key not in registry.secondary(secondary):
        sec = next(s for s in cfg.secondary_registries if s.name == secondary)
        derive_errors = [
            f
            for f in registry.failures
            if f.kind == FailureKind.DERIVE_ERROR and f.key == key and secondary in f.message
        ]
        for failure in derive_errors:  # the value was there, but unusable
            cause, detail, advice = _describe_failure(failure)
            out.add(cause, detail, advice, **_failure_extra(failure))
        if derive_errors:
            return
        how = f"its {sec.attribute!r} attribute" if sec.attribute else "its derive function"
        out.add(
            "no secondary value",
            f"{key!r} is in {registry.name} (plugin {info.get('plugin')!r}) but {how} "
            f"gives no {secondary} entry",
            f"set {sec.attribute!r} on the class" if sec.attribute else "fix the derivation",
        )
        return
    out.found = True
    origin = f"plugin {info.get('plugin')!r}"
    if info.get("distribution"):
        origin += f" of {info['distribution']} {info.get('version') or ''}".rstrip()
    if info.get("ref"):
        origin += f", as {info['ref']}"
    out.add("present", f"{key!r} is provided by {origin} (source: {info.get('source')})", "")
    for failure in registry.failures:
        if failure.key == key and failure.kind in (
            FailureKind.DUPLICATE_KEY,
            FailureKind.OVERRIDDEN,
        ):
            cause, detail, advice = _describe_failure(failure)
            out.add(cause, detail, advice, **_failure_extra(failure))


def _gather(
    out: Explanation, registry: LazyDiscoveryDict[Any], key: str, check_fresh: bool
) -> _Case | None:
    """Failures, skips and imported modules, of the cache and of a fresh discovery.

    None when the fresh discovery finds the key: the cache is stale (said in *out*).
    """
    failures = list(registry.failures)
    skipped = list(registry.skipped)
    modules = set(_recorded_modules(registry))
    fresh: Snapshot | None = None
    if check_fresh and registry.source == "cache":
        from .._diagnostics import quiet
        from ._discovery import run_discovery

        with quiet():  # what it finds is told below, not logged a second time
            fresh = run_discovery(registry.config, registry.blocked)
        if key in fresh.items:
            out.add(
                "stale cache",
                f"a fresh discovery finds {key!r} (plugin {fresh.items[key].plugin!r}) but the "
                f"cache file {registry.cache.path} does not have it",
                "run `openhcs-registry cache clear` (the cache should have noticed the change: "
                "please report how it happened)",
            )
            return None
        failures += [f for f in fresh.failures if f not in failures]
        skipped += [f for f in fresh.skipped if f not in skipped]
        modules |= fresh.modules
    if fresh is None:
        state = getattr(registry, "_state", None)  # the installed snapshot, if fresh
        fresh = state if state is not None and state.source == "fresh" else None
    imported = modules | _imported_by_discovery(fresh)
    return _Case(out, registry, key, failures, skipped, imported)


def _definitions(cfg: Any, key: str, failures: list[PluginFailure]) -> list[Definition]:
    """Static evidence: classes whose source gives the key (plugin packages, other groups)."""
    if not cfg.key_attribute:
        return []
    entry_points = _entry_points()
    group_modules = {_ep_module(v) for g, _n, v, _d in entry_points if g == cfg.entry_point_group}
    group_modules |= {f.module for f in failures if f.module}
    tops = sorted(
        {p.split(".")[0] for p in cfg.discovery_packages} | {m.split(".")[0] for m in group_modules}
    )
    files: list[tuple[str, str]] = []
    for top in tops:
        files += _module_files(top, recursive=True)
    definitions = find_definitions(files, cfg.key_attribute, key, "searched")
    for group, name, value, dist in entry_points:
        if group == cfg.entry_point_group:
            continue
        module = _ep_module(value)
        if module.split(".")[0] in tops:
            continue
        defs = find_definitions(
            _module_files(module, recursive=False), cfg.key_attribute, key, f"group:{group}"
        )
        for d in defs:  # a submodule of the entry point's package included
            d.entry_point = (group, name, value, dist)
        definitions += defs
    return definitions


def _recorded_failures(case: _Case) -> None:
    """Recorded failures about this key, its plugin, or a module that defines it."""
    key = case.key
    defined_modules = {d.module for d in case.definitions}
    for failure in case.failures:
        relevant = (
            failure.key == key
            or f"{key!r}" in failure.message
            or (failure.module is not None and failure.module in defined_modules)
            or _names_key(key, failure.plugin, failure.module, failure.distribution)
        )
        if failure.key is not None and failure.key != key:
            relevant = False  # about another key of the same plugin
        if relevant:
            case.add_failure(failure)
            if failure.module:
                case.explained.add(failure.module)


def _quiet_skips(case: _Case) -> None:
    """Classes a package scan passed over (abstract, keyless) that look like this key."""
    key = case.key
    for skip in case.skipped:
        label_hit = any(d.label == skip.plugin for d in case.definitions)
        if label_hit or skip.key == key or _names_key(key, skip.plugin.rsplit(".", 1)[-1]):
            cause, _, advice = _describe_failure(skip)
            case.out.add(
                cause,
                f"{skip.plugin} (in module {skip.module}): {skip.message}",
                advice,
                kind=skip.kind,
                plugin=skip.plugin,
            )
            case.explained.add(skip.plugin)


def _blocked(case: _Case) -> None:
    key = case.key
    if key in case.registry.blocked:
        case.out.add(
            "blocked",
            f"plugin {key!r} is blocked in this registry",
            f"registry.unblock({key!r})",
            kind=FailureKind.BLOCKED,
        )


def _static_definitions(case: _Case) -> None:
    """Each definition of the key that no failure explains: why discovery missed it."""
    cfg, key = case.cfg, case.key
    for d in case.definitions:
        if d.module in case.explained or d.label in case.explained:
            continue
        where = {"module": d.module, "file": d.file, "line": d.line}
        if not isinstance(d.value, str):
            case.out.add(
                "key is not a string",
                f"{d.label} ({d.where}) sets {cfg.key_attribute} = {d.value!r}, "
                f"{_type_name(d.value)}; a key must be a non-empty str",
                f"write {cfg.key_attribute} = {str(d.value)!r}",
                **where,
            )
        elif d.entry_point is not None:
            group, name, value, dist = d.entry_point
            case.out.add(
                "wrong entry-point group",
                f"{d.label} ({d.where}) has key {key!r}; distribution {dist!r} declares "
                f"entry point {name} = {value} in group {group!r}, but registry "
                f"{case.registry.name!r} reads group {cfg.entry_point_group!r}",
                f"move the entry point to [project.entry-points.{cfg.entry_point_group}]",
                **where,
            )
        elif d.module in case.imported:
            base = (
                f" and make it a subclass of {cfg.base_class.__qualname__}"
                if cfg.base_class
                else ""
            )
            case.out.add(
                "not returned by the hook",
                f"{d.label} ({d.where}) has key {key!r} and its module was imported by "
                f"discovery, but no {cfg.hook_name}() returned it and no package scan "
                "collected it",
                f"return it from {cfg.hook_name}()" + base,
                **where,
            )
        else:
            case.out.add(
                "outside the discovery packages",
                f"{d.label} ({d.where}) has key {key!r}, but discovery never imported "
                f"{d.module!r}: {_why_not_scanned(cfg, d.module)}",
                "move the module into a discovery package, or import it from your entry-point "
                f"module and return the class from {cfg.hook_name}()",
                **where,
            )


def _why_not_scanned(cfg: Any, module: str) -> str:
    packages = list(cfg.discovery_packages)
    inside = [p for p in packages if module.startswith(p + ".")]
    if inside:
        return (
            f"it lies inside discovery package {inside[0]!r} but was never scanned (a "
            "folder without __init__.py, or a subpackage of a non-recursive scan?)"
        )
    return (
        f"its module is not in the discovery packages {packages} and no entry "
        f"point of group {cfg.entry_point_group!r} imports it"
    )


def _classes_in_process(case: _Case) -> None:
    """Classes with the key defined in this process that discovery did not take."""
    cfg, key = case.cfg, case.key
    packages = list(cfg.discovery_packages)
    for cls in _defined_in_process(case.registry, key):
        label = f"{cls.__module__}.{cls.__qualname__}"
        if cls.__module__ in case.explained or label in case.explained:
            continue
        if any(d.label == label for d in case.definitions):
            continue
        if cls.__module__ in case.imported:
            case.out.add(
                "not returned by the hook",
                f"{label} has key {key!r} and discovery imported its module "
                f"{cls.__module__!r}, but no {cfg.hook_name}() returned it",
                f"return it from {cfg.hook_name}()",
                module=cls.__module__,
            )
            continue
        case.out.add(
            "outside the discovery packages",
            f"{label} has key {key!r} and is imported in this process, but module "
            f"{cls.__module__!r} is neither in the discovery packages {packages} nor "
            "loaded by an entry point (a class defined in a function or in __main__ is "
            "never cached)",
            f"declare an entry point in group {cfg.entry_point_group!r}, move the module into "
            "a discovery package, or registry.register() it at run time",
            module=cls.__module__,
        )


def _entry_point_names(case: _Case) -> None:
    """Entry points named like the key: in another group, or not returning it."""
    cfg, key = case.cfg, case.key
    for group, name, value, dist in _entry_points():
        if not _names_key(key, name, value):
            continue
        if group != cfg.entry_point_group:
            case.out.add(
                "wrong entry-point group",
                f"distribution {dist!r} declares {name} = {value} in group {group!r}, "
                f"but registry {case.registry.name!r} reads group {cfg.entry_point_group!r}",
                f"move the entry point to [project.entry-points.{cfg.entry_point_group}]",
            )
        else:
            case.out.add(
                "not returned by the hook",
                f"entry point {name} = {value} ({dist}) loads fine but its "
                f"{cfg.hook_name}() does not return a value with key {key!r}",
                f"return the class from {cfg.hook_name}() and check its key attribute",
            )


def _possibly_related(case: _Case) -> None:
    """Plugins that failed to import: the key may be defined in one of them."""
    for failure in case.failures:
        if failure.kind != FailureKind.IMPORT_ERROR:
            continue
        cause, detail, advice = _describe_failure(failure)
        case.out.add(
            f"{cause} (possibly related)",
            detail,
            advice + "; the key may be defined in the module that failed",
            **_failure_extra(failure),
        )


def _not_installed(case: _Case) -> None:
    cfg, registry, close = case.cfg, case.registry, case.out.suggestions
    case.out.add(
        "not installed",
        f"no installed distribution declares a plugin providing {case.key!r} for registry "
        f"{registry.name!r} (entry-point group {cfg.entry_point_group!r}), and no "
        "discovery package defines it",
        "install the plugin package (pip install ...), or check the key's spelling"
        + (f" (did you mean {' or '.join(map(repr, close))}?)" if close else "")
        + f"; known keys: {', '.join(sorted(registry)) or 'none'}",
    )


def _close_keys(
    key: str, registry: LazyDiscoveryDict[Any], failures: list[PluginFailure]
) -> list[str]:
    """Known keys (present, or left out with a recorded reason) spelt like *key*."""
    import difflib

    known = set(registry) | {f.key for f in failures if f.key}
    known.discard(key)
    return difflib.get_close_matches(key, sorted(known), n=3)


def modules_imported(prefixes: tuple[str, ...]) -> list[str]:
    """Modules in ``sys.modules`` under any of *prefixes* (for import-hygiene checks)."""
    return sorted(m for m in sys.modules if m.startswith(prefixes))
