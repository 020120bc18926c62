"""The built-in microscope formats (:mod:`openhcs_plugins.formats`)."""

from __future__ import annotations

import openhcs_hookspecs as hs
import pytest
from plugins_support import _fresh_registries

__all__ = ["_fresh_registries"]


def test_microscope_formats() -> None:
    cx5 = hs.MICROSCOPE_FORMAT_REGISTRIES["EDDU_CX5"]()
    text = "\ufeff\n[CX5 Export]\nPlate=P1\nWells=96\nPixelSize=0.65\nChannels=DAPI, GFP\n; c\n"
    assert cx5.matches(text)
    assert cx5.read(text) == {
        "Plate": "P1",
        "Wells": 96,
        "PixelSize": 0.65,
        "Channels": ["DAPI", "GFP"],
    }
    mx = hs.MICROSCOPE_FORMAT_REGISTRIES["EDDU_metaxpress"]()
    summary = "MetaXpress Plate Summary\nPlate Name\tP2\nSites\t4\nOffset\t-3\nnoise line\n"
    assert mx.matches(summary) and not mx.matches(text) and not cx5.matches(summary)
    assert mx.read(summary) == {"Plate Name": "P2", "Sites": 4, "Offset": -3}
    assert not cx5.matches("[CX5 Export] trailing") and not cx5.matches("")
    with pytest.raises(ValueError):
        cx5.read(summary)
    with pytest.raises(ValueError):
        mx.read(text)
