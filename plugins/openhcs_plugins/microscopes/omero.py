"""OMERO: images addressed inside an OMERO server; needs the optional omero-py package.

Importing this module never imports ``omero``; the hookimpl offers the handler only when
``omero`` is findable and reports it as unavailable otherwise.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from openhcs_hookspecs.microscopes import MetadataHandler, MicroscopeHandler

from ._common import int_or, require

_PATTERN = re.compile(
    r"^omero_(?P<image_id>\d+)_(?P<well>[A-Z]+\d+)_s(?P<site>\d+)_w(?P<channel>\d+)"
    r"_z(?P<z_index>\d+)_t(?P<timepoint>\d+)(?P<extension>\.[A-Za-z0-9]+)?$"
)


class OMEROMetadataHandler(MetadataHandler):
    """Plate metadata comes from the server; a local export is a JSON file."""

    def find_metadata_file(self, plate_path: str | Path) -> Path | None:
        candidate = Path(plate_path) / "omero_plate.json"
        return candidate if candidate.is_file() else None

    def parse_metadata(self, text: str) -> dict[str, Any]:
        import json

        data = json.loads(text)
        return data if isinstance(data, dict) else {"value": data}


class OMEROHandler(MicroscopeHandler):
    """``omero_<image id>_A01_s1_w1_z1_t1``: planes of an OMERO image."""

    _microscope_type = "omero"
    requires_modules = ("omero",)
    metadata_handler = "openhcs_plugins.microscopes.omero:OMEROMetadataHandler"

    def parse_filename(self, filename: str) -> dict[str, Any] | None:
        m = _PATTERN.match(filename)
        if not m:
            return None
        out: dict[str, Any] = {
            k: int(v)
            for k, v in m.groupdict().items()
            if k not in ("well", "extension") and v is not None
        }
        out["well"] = m["well"]
        out["extension"] = m["extension"] or ""
        return out

    def construct_filename(self, **components: Any) -> str:
        require(components, "image_id", "well", "site", "channel")
        return (
            f"omero_{components['image_id']}_{components['well']}_s{components['site']}"
            f"_w{components['channel']}_z{int_or(components, 'z_index', 1)}"
            f"_t{int_or(components, 'timepoint', 1)}{components.get('extension') or ''}"
        )
