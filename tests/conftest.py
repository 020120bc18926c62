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


# -- groups: one marker per unit, from the test file's name (tests/README.md) -----------------
GROUPS = {
    "engine": "tests of one engine module (openhcs_registry/*.py): tests/test_<module>.py",
    "cli": "tests of the command line (openhcs_registry/cli/): tests/test_cli*.py",
    "contracts": "tests of one contracts module (openhcs_hookspecs): tests/test_contracts_*.py",
    "plugins": "tests of the built-in plugins (openhcs_plugins): tests/test_plugins*.py",
    "system": "whole-system tests across units (layers, packaging, never-stale, workers, ...)",
}
#: Files that pin no single module: they check the units together.
SYSTEM_FILES = frozenset(
    {
        "test_benchmarks_smoke.py",
        "test_incremental.py",
        "test_layers.py",
        "test_never_stale.py",
        "test_never_stale_model.py",
        "test_packaging.py",
        "test_reliability_faults.py",
        "test_reliability_fuzz.py",
        "test_typing.py",
        "test_workers.py",
    }
)


def group_of(filename: str) -> str:
    """The unit a test file belongs to, by its name (``test_contracts.py`` is the engine's
    ``_contracts.py``; the contracts package's modules are ``test_contracts_<module>.py``)."""
    if filename in SYSTEM_FILES:
        return "system"
    if filename == "test_cli.py" or filename.startswith("test_cli_"):
        return "cli"
    if filename.startswith("test_contracts_"):
        return "contracts"
    if filename == "test_plugins.py" or filename.startswith("test_plugins_"):
        return "plugins"
    return "engine"


def pytest_configure(config: pytest.Config) -> None:
    for name, meaning in GROUPS.items():
        config.addinivalue_line("markers", f"{name}: {meaning}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(group_of(item.path.name))
