"""ImageXpress file names: ``A01_s1_w2_z3.tif``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from openhcs_hookspecs.microscopes import MetadataHandler, MicroscopeHandler

_PATTERN = re.compile(
    r"^(?P<well>[A-Z]+\d+)_s(?P<site>\d+)_w(?P<channel>\d+)(?:_z(?P<z_index>\d+))?(?:_t(?P<timepoint>\d+))?(?P<extension>\.\w+)$"
)


class ImageXpressMetadataHandler(MetadataHandler):
    def find_metadata_file(self, plate_path: str | Path) -> Path | None:
        found = sorted(Path(plate_path).glob("*.HTD"))
        return found[0] if found else None

    def parse_metadata(self, text: str) -> dict[str, Any]:
        return {}


class ImageXpressHandler(MicroscopeHandler):
    _microscope_type = "imagexpress"
    metadata_handler = "openhcs_plugins.microscopes.imagexpress:ImageXpressMetadataHandler"

    def parse_filename(self, filename: str) -> dict[str, Any] | None:
        m = _PATTERN.match(filename)
        if not m:
            return None
        out: dict[str, Any] = {"well": m["well"], "extension": m["extension"]}
        for name in ("site", "channel", "z_index", "timepoint"):
            out[name] = int(m[name]) if m[name] is not None else None
        return out

    def construct_filename(self, **c: Any) -> str:
        name = f"{c['well']}_s{c['site']}_w{c['channel']}"
        if c.get("z_index") is not None:
            name += f"_z{c['z_index']}"
        return name + c.get("extension", ".tif")
