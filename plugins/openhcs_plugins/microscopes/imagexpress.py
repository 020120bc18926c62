"""Molecular Devices ImageXpress: ``A01_s1_w2_z3_t4.tif`` and the plate's ``.HTD`` file.

Site and channel (wavelength) are 1-based and always present; ``_z`` and ``_t`` are optional.
The ``.HTD`` file is a list of ``"Key", value[, value...]`` lines (``"XWells", 24``,
``"WaveName1", "DAPI"``, ``"SiteSelection1", TRUE, FALSE``) ending with ``"EndFile"``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from openhcs_hookspecs.microscopes import MetadataHandler, MicroscopeHandler

from ._common import components_from_match, require

_PATTERN = re.compile(
    r"^(?P<well>[A-Z]+\d+)_s(?P<site>\d+)_w(?P<channel>\d+)"
    r"(?:_z(?P<z_index>\d+))?(?:_t(?P<timepoint>\d+))?(?P<extension>\.[A-Za-z0-9]+)$"
)
_HTD_LINE = re.compile(r'^\s*"(?P<key>[^"]+)"\s*,\s*(?P<value>.*?)\s*$')
# one value of a line: a quoted string (may hold commas) or a bare token
_HTD_VALUE = re.compile(r'\s*(?:"(?P<quoted>[^"]*)"|(?P<bare>[^,]*?))\s*(?:,|$)')


def _htd_value(token: str, quoted: bool) -> Any:
    if quoted:
        return token
    if token.upper() in ("TRUE", "FALSE"):
        return token.upper() == "TRUE"
    try:
        return int(token)
    except ValueError:
        pass
    try:
        return float(token)
    except ValueError:
        return token


def _htd_values(text: str) -> Any:
    """``24`` -> 24; ``"DAPI"`` -> "DAPI"; ``TRUE, FALSE`` -> [True, False]."""
    values: list[Any] = []
    pos = 0
    while pos < len(text):
        m = _HTD_VALUE.match(text, pos)
        if m is None or m.end() == pos:
            break
        if m["quoted"] is not None:
            values.append(_htd_value(m["quoted"], quoted=True))
        else:
            values.append(_htd_value(m["bare"], quoted=False))
        pos = m.end()
    if not values:
        return ""
    return values[0] if len(values) == 1 else values


class ImageXpressMetadataHandler(MetadataHandler):
    """Reads the ``.HTD`` plate description written next to the images."""

    def find_metadata_file(self, plate_path: str | Path) -> Path | None:
        folder = Path(plate_path)
        if not folder.is_dir():
            return None
        found = sorted(p for p in folder.iterdir() if p.suffix.upper() == ".HTD" and p.is_file())
        return found[0] if found else None

    def parse_metadata(self, text: str) -> dict[str, Any]:
        raw: dict[str, Any] = {}
        for line in text.splitlines():
            m = _HTD_LINE.match(line)
            if m:
                raw[m["key"]] = _htd_values(m["value"])
        channels = {
            int(k[len("WaveName") :]): v
            for k, v in raw.items()
            if k.startswith("WaveName") and k[len("WaveName") :].isdigit()
        }
        return {
            "grid": (raw.get("XSites", 1), raw.get("YSites", 1)),
            "plate": (raw.get("XWells"), raw.get("YWells")),
            "channels": dict(sorted(channels.items())),
            "z_steps": raw.get("ZSteps", 1) if raw.get("ZSeries") else 1,
            "raw": raw,
        }


class ImageXpressHandler(MicroscopeHandler):
    """``A01_s1_w2_z3_t4.tif``."""

    _microscope_type = "imagexpress"
    metadata_handler = "openhcs_plugins.microscopes.imagexpress:ImageXpressMetadataHandler"

    def parse_filename(self, filename: str) -> dict[str, Any] | None:
        m = _PATTERN.match(Path(filename).name)
        if not m:
            return None
        return components_from_match(m)

    def construct_filename(self, **components: Any) -> str:
        require(components, "well", "site", "channel")
        name = f"{components['well']}_s{components['site']}_w{components['channel']}"
        if components.get("z_index") is not None:
            name += f"_z{components['z_index']}"
        if components.get("timepoint") is not None:
            name += f"_t{components['timepoint']}"
        return name + str(components.get("extension") or ".tif")
