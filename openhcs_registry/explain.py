"""Why is a key missing from a registry?  Answers built from what discovery recorded.

Each explanation names a cause the OpenHCS troubleshooting guide lists — not installed, wrong
entry-point group, import error (with the exception and the line), missing key attribute,
abstract class, outside the discovery packages, blocked, duplicate key lost, GPU-dependent
skipped, unavailable optional dependency, stale cache — and what to do about it.
"""

from __future__ import annotations

import sys

from .diagnostics import FailureKind, PluginFailure

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .lazy import LazyDiscoveryDict


class Explanation:
    """The verdict for one key: ``found`` or a list of causes, each with advice."""

    __slots__ = ("causes", "found", "key", "registry")

    def __init__(self, registry: str, key: str) -> None:
        self.registry = registry
        self.key = key
        self.found = False
        self.causes: list[dict[str, Any]] = []

    def add(self, cause: str, detail: str, advice: str, **extra: Any) -> None:
        self.causes.append({"cause": cause, "detail": detail, "advice": advice, **extra})

    def to_json(self) -> dict[str, Any]:
        return {
            "registry": self.registry,
            "key": self.key,
            "found": self.found,
            "causes": self.causes,
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
    FailureKind.GPU_SKIPPED: (
        "GPU-dependent, skipped",
        "unset OPENHCS_SUBPROCESS_NO_GPU where a GPU is available",
    ),
    FailureKind.UNAVAILABLE: ("optional dependency missing", "install the missing package"),
    FailureKind.BLOCKED: ("blocked", "unblock the plugin (registry.unblock(name))"),
    FailureKind.DERIVE_ERROR: ("secondary derivation failed", "fix the attribute/derive function"),
}


def _mentions(failure: PluginFailure, key: str) -> bool:
    low = key.lower()
    texts = (failure.plugin, failure.module or "", failure.distribution or "", failure.message)
    return failure.key == key or any(low in t.lower() for t in texts if t)


def _describe_failure(failure: PluginFailure) -> tuple[str, str, str]:
    cause, advice = _FAILURE_TEXT.get(failure.kind, (failure.kind, "see the message"))
    detail = failure.describe()
    if failure.exception:
        detail += f" [{failure.exception}]"
    if failure.location:
        detail += f" at {failure.location}"
    return cause, detail, advice


def _entry_point_mentions(key: str) -> list[tuple[str, str, str, str | None]]:
    """(group, name, value, distribution) of every entry point whose name or value names *key*."""
    from importlib.metadata import distributions

    low = key.lower()
    found: list[tuple[str, str, str, str | None]] = []
    try:  # per distribution: entry_points() without arguments differs across Pythons
        for dist in distributions():
            for ep in dist.entry_points:
                if low in ep.name.lower() or low in ep.value.lower():
                    found.append((ep.group, ep.name, ep.value, dist.metadata["Name"]))
    except Exception:
        return found
    return sorted(set(found), key=lambda m: (m[0], m[1], m[2], m[3] or ""))


def _defined_elsewhere(registry: LazyDiscoveryDict[Any], key: str) -> list[str]:
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
            found.append(f"{cls.__module__}.{cls.__qualname__}")
    return sorted(found)


def explain(registry: LazyDiscoveryDict[Any], key: str, *, check_fresh: bool = True) -> Explanation:
    """Explain why *key* is (or is not) in *registry*."""
    out = Explanation(registry.name, key)
    if key in registry:
        out.found = True
        out.add(
            "present", f"{key!r} is provided by plugin {registry.info(key).get('plugin')!r}", ""
        )
        return out
    cfg = registry.config

    if check_fresh and registry.source == "cache":
        from .discovery import run_discovery

        fresh = run_discovery(cfg, registry.blocked)
        if key in fresh.items:
            out.add(
                "stale cache",
                f"a fresh discovery finds {key!r} but the cache file does not have it",
                "run `openhcs-registry cache clear` (the cache should have noticed: please "
                "report how it was changed)",
            )
            return out

    for failure in registry.failures:
        if _mentions(failure, key):
            cause, detail, advice = _describe_failure(failure)
            out.add(cause, detail, advice, kind=failure.kind, plugin=failure.plugin)
    for skipped in registry.skipped:
        if skipped.key == key or key.lower() in skipped.plugin.lower():
            cause, _, advice = _describe_failure(skipped)
            out.add(cause, f"{skipped.plugin} (in {skipped.module}): {skipped.message}", advice)
    if key in registry.blocked:
        out.add("blocked", f"plugin {key!r} is blocked in this registry", "registry.unblock()")

    for module_class in _defined_elsewhere(registry, key):
        module = module_class.rsplit(".", 1)[0]
        if not any(module.startswith(p) for p in cfg.discovery_packages):
            out.add(
                "outside the discovery packages",
                f"{module_class} has key {key!r} but module {module!r} is neither in the "
                f"discovery packages {list(cfg.discovery_packages)} nor loaded by an entry point",
                f"declare an entry point in group {cfg.entry_point_group!r}, or move the module",
            )

    if not out.causes:
        mentions = _entry_point_mentions(key)
        wrong_group = [m for m in mentions if m[0] != cfg.entry_point_group]
        right_group = [m for m in mentions if m[0] == cfg.entry_point_group]
        for group, name, value, dist in wrong_group:
            out.add(
                "wrong entry-point group",
                f"distribution {dist!r} declares {name} = {value} in group {group!r}, "
                f"but registry {registry.name!r} reads group {cfg.entry_point_group!r}",
                f"move the entry point to [project.entry-points.{cfg.entry_point_group}]",
            )
        for _group, name, value, dist in right_group:
            out.add(
                "hook does not provide it",
                f"entry point {name} = {value} ({dist}) loads fine but its "
                f"{cfg.hook_name}() does not return a value with key {key!r}",
                f"return the class from {cfg.hook_name}() and check its key attribute",
            )
    if not out.causes:
        out.add(
            "not installed",
            f"no installed distribution declares a plugin providing {key!r} for registry "
            f"{registry.name!r}, and no discovery package defines it",
            "install the plugin package (pip install ...), or check the key's spelling; "
            f"known keys: {', '.join(sorted(registry)) or 'none'}",
        )
    return out


def modules_imported(prefixes: tuple[str, ...]) -> list[str]:
    """Modules in ``sys.modules`` under any of *prefixes* (for import-hygiene checks)."""
    return sorted(m for m in sys.modules if m.startswith(prefixes))
