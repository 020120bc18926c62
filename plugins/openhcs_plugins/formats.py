"""Built-in microscope export formats (EDDU = an instrument facility's export conventions).

``EDDU_CX5``: Thermo CellInsight CX5 exports, an INI-like text whose first line is
``[CX5 Export]`` followed by ``key=value`` lines (``Plate=...``, ``Wells=96``,
``Channels=DAPI,GFP``).
``EDDU_metaxpress``: MetaXpress plate summaries, tab-separated ``Key<TAB>Value`` lines whose
first line is ``MetaXpress Plate Summary``.
"""

from __future__ import annotations

from openhcs_hookspecs.formats import MicroscopeFormatRegistry

from openhcs_registry.markers import hookimpl

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _convert(value: str) -> Any:
    value = value.strip()
    if value.isdigit():
        return int(value)
    if "," in value:
        return [v.strip() for v in value.split(",") if v.strip()]
    return value


class CX5Format(MicroscopeFormatRegistry):
    """``[CX5 Export]`` + ``key=value`` lines."""

    FORMAT_NAME = "EDDU_CX5"

    def matches(self, text: str) -> bool:
        return text.lstrip().startswith("[CX5 Export]")

    def read(self, text: str) -> dict[str, Any]:
        if not self.matches(text):
            raise ValueError("not a CX5 export (first line must be '[CX5 Export]')")
        out: dict[str, Any] = {}
        for line in text.strip().splitlines()[1:]:
            if "=" in line and not line.lstrip().startswith((";", "#")):
                key, value = line.split("=", 1)
                out[key.strip()] = _convert(value)
        return out


class MetaXpressFormat(MicroscopeFormatRegistry):
    """``MetaXpress Plate Summary`` + tab-separated key/value lines."""

    FORMAT_NAME = "EDDU_metaxpress"

    def matches(self, text: str) -> bool:
        return text.lstrip().startswith("MetaXpress Plate Summary")

    def read(self, text: str) -> dict[str, Any]:
        if not self.matches(text):
            raise ValueError("not a MetaXpress plate summary")
        out: dict[str, Any] = {}
        for line in text.strip().splitlines()[1:]:
            if "\t" in line:
                key, value = line.split("\t", 1)
                out[key.strip()] = _convert(value)
        return out


@hookimpl
def provide_microscope_formats() -> list[Any]:
    return [CX5Format, MetaXpressFormat]
