"""One ``admit()``: every rule that decides whether a value may enter a registry.

A value is judged on its own — its type, whether it is abstract, its key, the registry's skip
rule, its ``requires_modules`` — never against other plugins (conflicts are the merge's
business, see :mod:`._discovery`).  Discovery calls it for every value a hook returns; the
registry's overlay for classes noted at import time and for run-time registrations, and
value resolution for a value read back by its cached reference (the explicit form: type and
key).  Being a pure function of the value and the settings is what lets a plugin's judged
values be recorded and reused by incremental rediscovery.

On the warm path (the overlay and resolution import it): no ``typing`` or ``inspect`` at run
time (``inspect`` only when a class is judged for being abstract, which discovery does).
"""

from __future__ import annotations

from ._diagnostics import FailureKind, abstract_text, bad_key_text, missing_requirements

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ._config import RegistryConfig, SecondaryRegistryConfig


class Unavailable:
    """Returned by a hook in place of a value whose optional dependency is missing.

    ``Unavailable("omero", "needs the omero-py package", missing_module="omero")`` makes the
    registry report the key as unavailable (CLI ``why``/``doctor``) instead of crashing, and
    the cache is invalidated as soon as *missing_module* becomes importable.
    """

    def __init__(self, key: str, reason: str, missing_module: str | None = None) -> None:
        self.key = key
        self.reason = reason
        self.missing_module = missing_module

    def __repr__(self) -> str:
        return f"Unavailable({self.key!r}, {self.reason!r})"


class Refusal:
    """Why :func:`admit` refused a value: a failure kind, a message, the key if known."""

    __slots__ = ("key", "kind", "message", "missing_module")

    def __init__(
        self, kind: str, message: str, key: str | None = None, missing_module: str | None = None
    ) -> None:
        self.kind = kind
        self.message = message
        self.key = key
        self.missing_module = missing_module


def admit(
    config: RegistryConfig, value: Any, given_key: Any, *, explicit: bool = False
) -> Refusal | None:
    """None if *value* (offered under *given_key*, or under its own key) may enter.

    ``explicit=True`` judges a value a caller put in by hand (``registry.register``) or one
    read back by its reference: only its type and its key are the registry's business; being
    abstract, skipped or missing a requirement is the caller's decision (or was judged when
    the reference was recorded).  That path imports nothing.

    The ``requires_modules`` look-up is the only thing it reads from the environment; a
    caller recording inputs records it (a required submodule appearing inside an installed
    package changes only that package's folder).
    """
    if isinstance(value, Unavailable):
        return Refusal(FailureKind.UNAVAILABLE, value.reason, value.key, value.missing_module)
    label = getattr(value, "__qualname__", None) or repr(value)[:80]
    base = config.base_class
    if base is not None and not is_instance_or_subclass(value, base):
        return Refusal(
            FailureKind.WRONG_TYPE,
            f"{label} is not a {base.__qualname__} (subclass or instance)",
            given_key if isinstance(given_key, str) else None,
        )
    if not explicit and isinstance(value, type):
        import inspect

        if inspect.isabstract(value):
            return Refusal(FailureKind.ABSTRACT, abstract_text(value))
    key = given_key
    if key is None:
        try:
            key = config.key_of(value)
        except Exception:
            key = None
    if not isinstance(key, str) or not key:
        return Refusal(FailureKind.MISSING_KEY, bad_key_text(label, key, config.key_attribute))
    if explicit:
        return None
    skipped = config.skip_reason(value)  # the registry's skip rule (the contracts' GPU rule)
    if skipped is not None:
        return Refusal(FailureKind.SKIPPED, skipped, key)
    missing = missing_requirements(value)
    if missing:
        return Refusal(
            FailureKind.UNAVAILABLE, requires_message(missing), key, missing_module=missing
        )
    return None


def derive(sec: SecondaryRegistryConfig, key: str, value: Any) -> Any:
    """Secondary *sec*'s entry for the primary *value* under *key* (None: it has none).

    Its derive function, or else its attribute of the value; may raise (the caller reports
    that as a derivation failure).  Discovery derives the values of every accepted offer, the
    overlay those of values registered at run time.
    """
    if sec.derive is not None:
        return sec.derive(key, value)
    return getattr(value, sec.attribute or "", None)


def requires_message(missing: str | None) -> str:
    """The message of a value refused for a missing ``requires_modules`` entry."""
    return f"needs the {missing!r} module, which is not installed"


def is_instance_or_subclass(value: Any, base: type) -> bool:
    if isinstance(value, type):
        return issubclass(value, base)
    return isinstance(value, base)
