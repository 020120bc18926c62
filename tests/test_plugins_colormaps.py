"""The built-in colormap provider (:mod:`openhcs_plugins.colormaps`)."""

from __future__ import annotations

from pathlib import Path

from enum_support import HEAVY, _fresh_enums, run

__all__ = ["_fresh_enums"]


def test_builtin_plugin_imports_cheaply(_isolated_cache: Path) -> None:
    out = run(
        f"""
        import json, sys
        import openhcs_plugins.colormaps
        print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))
        """,
        _isolated_cache,
    )
    assert out == []
