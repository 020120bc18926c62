"""Disk backend: files under a root folder; bytes, text, JSON data and numpy arrays.

The suffix chooses the format: ``.json`` holds JSON-able data, ``.npy`` numpy arrays (only
if numpy is importable; never pickled), ``.txt`` text; bytes may go anywhere and are stored
as they are.  So ``load(save(x, p))`` gives back ``x`` for bytes, for str at ``*.txt``, JSON
data at ``*.json`` and arrays at ``*.npy`` (a str saved elsewhere comes back as UTF-8 bytes).
Writes are atomic (hidden temporary file + ``os.replace``); hidden files are not listed.
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path
from typing import Any

from openhcs_hookspecs.storage import StorageBackend

from ._paths import normalise


class DiskBackend(StorageBackend):
    """Files below *root* (default: the current directory)."""

    _backend_type = "disk"

    def __init__(self, root: str | os.PathLike[str] = ".") -> None:
        self.root = Path(root)

    def _path(self, path: str) -> Path:
        return self.root / normalise(path)

    def save(self, data: Any, path: str) -> None:
        target = self._path(path)
        payload = self._encode(data, target.suffix, path)
        target.parent.mkdir(parents=True, exist_ok=True)
        # a unique hidden temp file in the same folder, then an atomic rename: readers never
        # see half a file, and concurrent writers (threads or processes) never share a temp
        # (created 0666 minus the umask, like any file the user writes; not mkstemp's 0600)
        tmp = target.with_name(f".{target.name}.{os.urandom(6).hex()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(payload)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    @staticmethod
    def _encode(data: Any, suffix: str, path: str) -> bytes:
        if isinstance(data, (bytes, bytearray, memoryview)):
            return bytes(data)
        if suffix == ".json":
            import json

            try:
                return json.dumps(data).encode("utf-8")
            except (TypeError, ValueError) as exc:
                raise TypeError(f"disk: {path!r} needs JSON-able data: {exc}") from exc
        if suffix == ".npy":
            try:
                import numpy as np
            except ImportError as exc:
                raise TypeError(f"disk: storing arrays at {path!r} needs numpy") from exc
            buf = io.BytesIO()
            np.save(buf, np.asarray(data), allow_pickle=False)
            return buf.getvalue()
        if isinstance(data, str):
            return data.encode("utf-8")
        raise TypeError(
            f"disk: cannot store {type(data).__name__} at {path!r} "
            "(bytes/str anywhere, JSON data at *.json, numpy arrays at *.npy)"
        )

    def load(self, path: str) -> Any:
        target = self._path(path)
        if not target.is_file():
            raise FileNotFoundError(f"disk: nothing stored at {path!r} ({target})")
        raw = target.read_bytes()
        if target.suffix == ".npy":
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
