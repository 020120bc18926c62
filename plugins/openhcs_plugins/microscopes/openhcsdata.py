"""OpenHCS's own layout: ``A01_s001_w1_z001_t001.tif`` and ``openhcs_metadata.json``.

Every component is present and zero-padded to three digits, so names sort naturally.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from openhcs_hookspecs.microscopes import MetadataHandler, MicroscopeHandler

from ._common import components_from_match, int_or, require

_PATTERN = re.compile(
    r"^(?P<well>[A-Z]+\d+)_s(?P<site>\d{3,})_w(?P<channel>\d+)_z(?P<z_index>\d{3,})"
    r"_t(?P<timepoint>\d{3,})(?P<extension>\.[A-Za-z0-9]+)$"
)
METADATA_FILE = "openhcs_metadata.json"


class OpenHCSMetadataHandler(MetadataHandler):
    """Reads ``openhcs_metadata.json`` (written by OpenHCS when it converts a plate)."""

    def find_metadata_file(self, plate_path: str | Path) -> Path | None:
        candidate = Path(plate_path) / METADATA_FILE
        return candidate if candidate.is_file() else None

    def parse_metadata(self, text: str) -> dict[str, Any]:
        """The JSON object, with the main subdirectory's grid/pixel size/channels lifted up.

        OpenHCS writes ``{"subdirectories": {"images": {"main": true, "grid_dimensions":
        [3, 3], "pixel_size": 0.65, "channels": {"1": "DAPI"}, ...}}}``; a flat object
        (``{"grid_dimensions": ...}``) is read as it is.
        """
        import json

        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError(f"{METADATA_FILE} must hold a JSON object")
        subdirs = data.get("subdirectories")
        main: dict[str, Any] = data
        if isinstance(subdirs, dict):
            entries = [v for _, v in sorted(subdirs.items()) if isinstance(v, dict)]
            main = next((v for v in entries if v.get("main")), entries[0] if entries else {})
        out = dict(data)
        for key in ("grid_dimensions", "pixel_size", "channels", "microscope_handler_name"):
            if key in main:
                out.setdefault(key, main[key])
        return out


class OpenHCSDataHandler(MicroscopeHandler):
    """``A01_s001_w1_z001_t001.tif``."""

    _microscope_type = "openhcsdata"
    metadata_handler = "openhcs_plugins.microscopes.openhcsdata:OpenHCSMetadataHandler"

    def parse_filename(self, filename: str) -> dict[str, Any] | None:
        m = _PATTERN.match(Path(filename).name)
        if not m:
            return None
        return components_from_match(m)

    def construct_filename(self, **components: Any) -> str:
        require(components, "well", "site", "channel")
        z = int_or(components, "z_index", 1)
        t = int_or(components, "timepoint", 1)
        return (
            f"{components['well']}_s{int(components['site']):03d}_w{components['channel']}"
            f"_z{z:03d}_t{t:03d}{components.get('extension') or '.tif'}"
        )
