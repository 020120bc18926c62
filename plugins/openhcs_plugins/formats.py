"""Built-in microscope export formats (EDDU = an instrument facility's export conventions).

``EDDU_CX5`` -- Thermo CellInsight CX5 exports, INI-like text::

    [CX5 Export]
    Plate=P1
    Wells=96
    Channels=DAPI, GFP
    ; comment (also '#')

The first non-blank line is ``[CX5 Export]``; then ``key=value`` lines (split at the first
``=``; blank lines, comments and lines without ``=`` are ignored).

``EDDU_metaxpress`` -- MetaXpress plate summaries, tab-separated::

    MetaXpress Plate Summary
    Plate Name<TAB>P2
    Sites<TAB>4

The first non-blank line is ``MetaXpress Plate Summary``; then ``Key<TAB>Value`` lines (split
at the first tab; other lines are ignored).

In both, values are converted the same way: integers (``96``) and decimals (``0.65``) become
numbers, comma-separated values become lists of strings, anything else stays text.  A later
duplicate key wins.
"""

from __future__ import annotations

import re
from typing import Any

from openhcs_hookspecs.formats import MicroscopeFormatRegistry

from openhcs_registry import hookimpl

_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?")


def _convert(value: str) -> Any:
    """``"96"`` -> 96, ``"0.65"`` -> 0.65, ``"DAPI, GFP"`` -> ["DAPI", "GFP"], else the text."""
    value = value.strip()
    if "," in value:
        return [v.strip() for v in value.split(",") if v.strip()]
    if _INT.fullmatch(value):
        return int(value)
    if _FLOAT.fullmatch(value):
        return float(value)
    return value


def _split(text: str) -> tuple[str, list[str]]:
    """The first non-blank line (stripped; a leading BOM ignored) and the lines after it."""
    lines = text.lstrip("\ufeff").splitlines()
    for index, line in enumerate(lines):
        if line.strip():
            return line.strip(), lines[index + 1 :]
    return "", []


def _first_line(text: str) -> str:
    return _split(text)[0]


class CX5Format(MicroscopeFormatRegistry):
    """``[CX5 Export]`` + ``key=value`` lines."""

    FORMAT_NAME = "EDDU_CX5"

    def matches(self, text: str) -> bool:
        return _first_line(text) == "[CX5 Export]"

    def read(self, text: str) -> dict[str, Any]:
        if not self.matches(text):
            raise ValueError("not a CX5 export (first line must be '[CX5 Export]')")
        out: dict[str, Any] = {}
        for line in _split(text)[1]:
            if "=" in line and not line.lstrip().startswith((";", "#")):
                key, value = line.split("=", 1)
                out[key.strip()] = _convert(value)
        return out


class MetaXpressFormat(MicroscopeFormatRegistry):
    """``MetaXpress Plate Summary`` + tab-separated key/value lines."""

    FORMAT_NAME = "EDDU_metaxpress"

    def matches(self, text: str) -> bool:
        return _first_line(text) == "MetaXpress Plate Summary"

    def read(self, text: str) -> dict[str, Any]:
        if not self.matches(text):
            raise ValueError("not a MetaXpress plate summary")
        out: dict[str, Any] = {}
        for line in _split(text)[1]:
            if "\t" in line:
                key, value = line.split("\t", 1)
                out[key.strip()] = _convert(value)
        return out


@hookimpl
def provide_microscope_formats() -> list[Any]:
    return [CX5Format, MetaXpressFormat]
