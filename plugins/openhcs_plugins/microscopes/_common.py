"""Shared helpers for file-name conventions: wells and integer components."""

from __future__ import annotations

import re
import string
from typing import Any

COMPONENTS = ("well", "site", "channel", "z_index", "timepoint")


def well_name(row: int, column: int) -> str:
    """``(1, 1)`` -> ``"A01"``; rows past Z continue AA, AB, ... (1536-well plates)."""
    if row < 1 or column < 1:
        raise ValueError(f"row and column start at 1, got {row}, {column}")
    letters = ""
    n = row
    while n:
        n, rem = divmod(n - 1, 26)
        letters = string.ascii_uppercase[rem] + letters
    return f"{letters}{column:02d}"


def well_position(well: str) -> tuple[int, int]:
    """``"A01"`` -> ``(1, 1)``; inverse of :func:`well_name`."""
    letters = well.rstrip("0123456789")
    digits = well[len(letters) :]
    if not letters or not digits or not letters.isalpha() or not letters.isupper():
        raise ValueError(f"not a well name: {well!r}")
    row = 0
    for ch in letters:
        row = row * 26 + (ord(ch) - ord("A") + 1)
    return row, int(digits)


def as_int(value: str | None) -> int | None:
    """A matched optional digit group as an int (None when the group did not match)."""
    return int(value) if value is not None else None


def components_from_match(match: re.Match[str], well: str | None = None) -> dict[str, Any]:
    """The component dict of a file-name match with groups well/site/channel/z_index/
    timepoint/extension (optional ones may be absent: None); *well* overrides the group."""
    groups = match.groupdict()
    return {
        "well": well if well is not None else groups["well"],
        "site": as_int(groups.get("site")),
        "channel": as_int(groups.get("channel")),
        "z_index": as_int(groups.get("z_index")),
        "timepoint": as_int(groups.get("timepoint")),
        "extension": groups.get("extension"),
    }


def int_or(components: dict[str, Any], name: str, default: int) -> int:
    """Component *name* as an int, *default* only when absent (0 is a value, not absence)."""
    value = components.get(name)
    return default if value is None else int(value)


def require(components: dict[str, Any], *names: str) -> None:
    """Raise a ValueError naming every required component that is missing."""
    missing = [n for n in names if components.get(n) is None]
    if missing:
        raise ValueError(f"missing filename component(s): {', '.join(missing)}")
