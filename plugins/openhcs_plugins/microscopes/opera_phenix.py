"""PerkinElmer Opera Phenix: ``r01c01f01p01-ch1sk1fk1fl1.tiff`` and ``Index.xml``.

Row/column give the well (``r02c03`` is ``B03``), ``f`` the field (site), ``p`` the plane
(z index), ``ch`` the channel and ``sk`` the timepoint.  ``Index.xml`` (or ``Index.idx.xml``)
holds the plate and channel description.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from openhcs_hookspecs.microscopes import MetadataHandler, MicroscopeHandler

from ._common import components_from_match, int_or, require, well_name, well_position

_PATTERN = re.compile(
    r"^r(?P<row>\d{2})c(?P<col>\d{2})f(?P<site>\d+)p(?P<z_index>\d+)"
    r"-ch(?P<channel>\d+)sk(?P<timepoint>\d+)fk\d+fl\d+(?P<extension>\.[A-Za-z0-9]+)$"
)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


class OperaPhenixMetadataHandler(MetadataHandler):
    """Reads plate size, channels, fields, planes and the field grid from ``Index.xml``.

    The grid is not written down in Harmony exports: it is the number of distinct
    ``PositionX`` and ``PositionY`` values among the images (fields of one well share them).
    """

    def find_metadata_file(self, plate_path: str | Path) -> Path | None:
        for name in ("Index.xml", "Index.idx.xml"):
            candidate = Path(plate_path) / name
            if candidate.is_file():
                return candidate
        return None

    def parse_metadata(self, text: str) -> dict[str, Any]:
        import xml.etree.ElementTree as ET  # only when metadata is read

        # expat (>= 2.4.1, bundled with CPython 3.10+) refuses entity-expansion bombs
        root = ET.fromstring(text)  # noqa: S314
        plate: dict[str, int] = {}
        channels: dict[int, str] = {}
        pixel_size: float | None = None
        fields: set[int] = set()
        planes: set[int] = set()
        xs: set[str] = set()
        ys: set[str] = set()
        for el in root.iter():
            tag = _local(el.tag)
            if tag in ("PlateRows", "PlateColumns") and el.text and el.text.strip().isdigit():
                plate[tag] = int(el.text)
            elif tag == "Entry" and el.get("ChannelID", "").isdigit():
                children = {_local(c.tag): c for c in el}
                name = children.get("ChannelName")
                channels[int(el.get("ChannelID", "0"))] = (
                    (name.text or "") if name is not None else ""
                )
                res = children.get("ImageResolutionX")
                if pixel_size is None and res is not None and res.text:
                    pixel_size = _micrometres(res.text, res.get("Unit", "m"))
            elif tag == "Image":
                texts = {_local(c.tag): (c.text or "").strip() for c in el}
                if texts.get("FieldID", "").isdigit():
                    fields.add(int(texts["FieldID"]))
                if texts.get("PlaneID", "").isdigit():
                    planes.add(int(texts["PlaneID"]))
                if texts.get("PositionX"):
                    xs.add(texts["PositionX"])
                if texts.get("PositionY"):
                    ys.add(texts["PositionY"])
        return {
            "plate": (plate.get("PlateColumns"), plate.get("PlateRows")),
            "channels": dict(sorted(channels.items())),
            "fields": sorted(fields),
            "planes": sorted(planes),
            "grid": (len(xs), len(ys)) if xs and ys else None,
            "pixel_size_um": pixel_size,
        }


def _micrometres(text: str, unit: str) -> float | None:
    """A length in micrometres (Harmony writes metres: ``6.5E-07``)."""
    scale = {"m": 1e6, "mm": 1e3, "um": 1.0, "µm": 1.0, "nm": 1e-3}.get(unit.strip())
    try:
        return None if scale is None else round(float(text) * scale, 9)
    except ValueError:
        return None


class OperaPhenixHandler(MicroscopeHandler):
    """``r01c01f01p01-ch1sk1fk1fl1.tiff``."""

    _microscope_type = "opera_phenix"
    metadata_handler = "openhcs_plugins.microscopes.opera_phenix:OperaPhenixMetadataHandler"

    def parse_filename(self, filename: str) -> dict[str, Any] | None:
        m = _PATTERN.match(Path(filename).name)
        if not m:
            return None
        return components_from_match(m, well=well_name(int(m["row"]), int(m["col"])))

    def construct_filename(self, **components: Any) -> str:
        require(components, "well", "site", "channel")
        row, col = well_position(str(components["well"]))
        z = int_or(components, "z_index", 1)
        t = int_or(components, "timepoint", 1)
        ext = components.get("extension") or ".tiff"
        return (
            f"r{row:02d}c{col:02d}f{int(components['site']):02d}p{z:02d}"
            f"-ch{components['channel']}sk{t}fk1fl1{ext}"
        )
