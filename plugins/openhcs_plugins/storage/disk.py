"""Disk backend: files under a root folder; bytes, text, JSON data and numpy arrays.

The format is chosen by value type on save and by suffix on load: ``.npy`` (numpy, only if
numpy is importable), ``.json`` (JSON-able data), ``.txt`` (str), anything else raw bytes.
Writes are atomic (temporary file + ``os.replace``).
"""

from __future__ import annotations

import os
from pathlib import Path

from openhcs_hookspecs.storage import StorageBackend

from ._paths import normalise

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class DiskBackend(StorageBackend):
    """Files below *root* (default: the current directory)."""

    _backend_type = "disk"

    def __init__(self, root: str | os.PathLike[str] = ".") -> None:
        self.root = Path(root)

    def _path(self, path: str) -> Path:
        return self.root / normalise(path)

    def save(self, data: Any, path: str) -> None:
        target = self._path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        payload: bytes
        if isinstance(data, (bytes, bytearray, memoryview)):
            payload = bytes(data)
        elif isinstance(data, str):
            payload = data.encode("utf-8")
        elif type(data).__module__ == "numpy" and target.suffix == ".npy":
            import io

            import numpy as np

            buf = io.BytesIO()
            np.save(buf, data, allow_pickle=False)
            payload = buf.getvalue()
        elif target.suffix == ".json":
            import json

            payload = json.dumps(data).encode("utf-8")
        else:
            raise TypeError(
                f"disk: cannot store {type(data).__name__} at {path!r} "
                "(bytes/str anywhere, JSON data at *.json, numpy arrays at *.npy)"
            )
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_bytes(payload)
        os.replace(tmp, target)

    def load(self, path: str) -> Any:
        target = self._path(path)
        if not target.is_file():
            raise FileNotFoundError(f"disk: nothing stored at {path!r} ({target})")
        raw = target.read_bytes()
        if target.suffix == ".npy":
            import io

            import numpy as np

            return np.load(io.BytesIO(raw), allow_pickle=False)
        if target.suffix == ".json":
            import json

            return json.loads(raw)
        if target.suffix == ".txt":
            return raw.decode("utf-8")
        return raw

    def exists(self, path: str) -> bool:
        return self._path(path).is_file()

    def list(self, prefix: str = "") -> list[str]:
        base = self._path(prefix) if prefix else self.root
        if not base.is_dir():
            return []
        return sorted(
            p.relative_to(self.root).as_posix()
            for p in base.rglob("*")
            if p.is_file() and not p.name.startswith(".")
        )

    def delete(self, path: str) -> None:
        target = self._path(path)
        if not target.is_file():
            raise FileNotFoundError(f"disk: nothing stored at {path!r}")
        target.unlink()
