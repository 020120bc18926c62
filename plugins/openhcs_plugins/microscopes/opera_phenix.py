"""PerkinElmer Opera Phenix: ``r01c01f01p01-ch1sk1fk1fl1.tiff`` and ``Index.xml``.

Row/column give the well (``r02c03`` is ``B03``), ``f`` the field (site), ``p`` the plane
(z index), ``ch`` the channel and ``sk`` the timepoint.  ``Index.xml`` (or ``Index.idx.xml``)
holds the plate and channel description.
"""

from __future__ import annotations

import re
from pathlib import Path

from openhcs_hookspecs.microscopes import MetadataHandler, MicroscopeHandler

from ._common import require, well_name, well_position

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_PATTERN = re.compile(
    r"^r(?P<row>\d{2})c(?P<col>\d{2})f(?P<site>\d+)p(?P<z_index>\d+)"
    r"-ch(?P<channel>\d+)sk(?P<timepoint>\d+)fk\d+fl\d+(?P<extension>\.[A-Za-z0-9]+)$"
)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


class OperaPhenixMetadataHandler(MetadataHandler):
    """Reads plate size, fields and channel names from ``Index.xml``."""

    def find_metadata_file(self, plate_path: str | Path) -> Path | None:
        for name in ("Index.xml", "Index.idx.xml"):
            candidate = Path(plate_path) / name
            if candidate.is_file():
                return candidate
        return None

    def parse_metadata(self, text: str) -> dict[str, Any]:
        import xml.etree.ElementTree as ET

        root = ET.fromstring(text)  # noqa: S314
        plate: dict[str, Any] = {}
        channels: dict[int, str] = {}
        fields: set[int] = set()
        for el in root.iter():
            tag = _local(el.tag)
            if tag in ("PlateRows", "PlateColumns") and el.text:
                plate[tag] = int(el.text)
            elif tag == "Entry" and el.get("ChannelID"):
                name = next((c.text for c in el if _local(c.tag) == "ChannelName"), None)
                channels[int(el.get("ChannelID", "0"))] = name or ""
            elif tag == "FieldID" and el.text and el.text.isdigit():
                fields.add(int(el.text))
        return {
            "plate": (plate.get("PlateColumns"), plate.get("PlateRows")),
            "channels": dict(sorted(channels.items())),
            "fields": sorted(fields),
        }


class OperaPhenixHandler(MicroscopeHandler):
    """``r01c01f01p01-ch1sk1fk1fl1.tiff``."""

    _microscope_type = "opera_phenix"
    metadata_handler = "openhcs_plugins.microscopes.opera_phenix:OperaPhenixMetadataHandler"

    def parse_filename(self, filename: str) -> dict[str, Any] | None:
        m = _PATTERN.match(Path(filename).name)
        if not m:
            return None
        return {
            "well": well_name(int(m["row"]), int(m["col"])),
            "site": int(m["site"]),
            "channel": int(m["channel"]),
            "z_index": int(m["z_index"]),
            "timepoint": int(m["timepoint"]),
            "extension": m["extension"],
        }

    def construct_filename(self, **components: Any) -> str:
        require(components, "well", "site", "channel")
        row, col = well_position(str(components["well"]))
        z = components.get("z_index") or 1
        t = components.get("timepoint") or 1
        ext = components.get("extension") or ".tiff"
        return (
            f"r{row:02d}c{col:02d}f{int(components['site']):02d}p{int(z):02d}"
            f"-ch{components['channel']}sk{t}fk1fl1{ext}"
        )
