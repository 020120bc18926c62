"""Every test gets its own cache folder and leaves the built-in registries as it found them."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from support import World

    from openhcs_registry import LazyDiscoveryDict

sys.path.insert(0, str(Path(__file__).parent))


def _builtin_registries() -> list[LazyDiscoveryDict[Any]]:
    """The built-in registries already defined in this process (defining none)."""
    from openhcs_registry import registries

    return list(registries().values())


@pytest.fixture(autouse=True)
def _isolated_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("openhcs-cache")
    monkeypatch.setenv("OPENHCS_CACHE_DIR", str(folder))
    monkeypatch.delenv("OPENHCS_DISABLE_REGISTRY_CACHE", raising=False)
    monkeypatch.delenv("OPENHCS_SUBPROCESS_NO_GPU", raising=False)
    from openhcs_registry import _environment

    _environment.forget()
    for registry in _builtin_registries():
        registry.reset()
    yield folder
    _environment.forget()
    for registry in _builtin_registries():
        registry.reset()


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    from support import World

    w = World(tmp_path)
    w.activate(monkeypatch)
    return w
