"""Path checks shared by the backends: keys are relative, '/'-separated, never escaping."""

from __future__ import annotations


def normalise(path: str) -> str:
    """``"a//b/"`` -> ``"a/b"``; refuses empty, absolute and ``..`` paths."""
    if not isinstance(path, str):
        raise TypeError(f"storage paths are strings, not {type(path).__name__}")
    parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or path.startswith("/") or ".." in parts:
        raise ValueError(f"invalid storage path {path!r}: relative, non-empty, no '..'")
    return "/".join(parts)
