"""The library version (:mod:`openhcs_registry._version`): one source, the one pip installed."""

from __future__ import annotations

import importlib.metadata

import openhcs_registry
from openhcs_registry._version import __version__


def test_the_package_version_is_the_installed_distributions() -> None:
    assert openhcs_registry.__version__ == __version__
    assert importlib.metadata.version("openhcs-registry") == __version__
