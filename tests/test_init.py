"""The package (:mod:`openhcs_registry`, ``__init__``): importing it and the contracts is light."""

from __future__ import annotations

from support import run_python


def test_import_openhcs_registry_is_light() -> None:
    out = run_python(
        """
        import json, sys
        import openhcs_registry, openhcs_hookspecs
        from openhcs_hookspecs import MICROSCOPE_HANDLERS
        heavy = ["pluggy", "importlib.metadata", "openhcs_plugins", "platformdirs"]
        print(json.dumps([m for m in heavy if m in sys.modules]))
        """,
        env=dict(__import__("os").environ),
    )
    assert out == []
