"""Plugin-facing API of the synthetic benchmark host: the base class and the hookspec.

Plugins import only this module (not the registry engine's lazy machinery), exactly as a
third-party plugin imports its host's contracts; the same plugin set then serves openhcs-registry,
plain pluggy and stevedore.  The markers are openhcs-registry's, which pluggy accepts unchanged
(project ``"openhcs"``).
"""

from __future__ import annotations

from openhcs_registry import hookimpl, hookspec

__all__ = ["BenchPlugin", "hookimpl", "provide_bench_plugins"]


class BenchPlugin:
    """Base class of the synthetic plugins; ``key`` is the registry key."""

    key: str | None = None


@hookspec
def provide_bench_plugins() -> list[type[BenchPlugin]]:  # type: ignore[empty-body]
    """Return BenchPlugin subclasses."""
