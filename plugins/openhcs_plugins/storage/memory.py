"""In-memory backend: a dict per instance; what OpenHCS uses between pipeline steps."""

from __future__ import annotations

import copy
import threading
from typing import Any

from openhcs_hookspecs.storage import StorageBackend

from ._paths import normalise


class MemoryBackend(StorageBackend):
    """Stores deep copies, so callers mutating their data never change what was saved."""

    _backend_type = "memory"

    def __init__(self) -> None:
        self._data: dict[str, Any] = {}
        self._lock = threading.Lock()

    def save(self, data: Any, path: str) -> None:
        key = normalise(path)
        with self._lock:
            self._data[key] = copy.deepcopy(data)

    def load(self, path: str) -> Any:
        key = normalise(path)
        with self._lock:
            if key not in self._data:
                raise FileNotFoundError(f"memory: nothing stored at {key!r}")
            return copy.deepcopy(self._data[key])

    def exists(self, path: str) -> bool:
        with self._lock:
            return normalise(path) in self._data

    def list(self, prefix: str = "") -> list[str]:
        start = normalise(prefix) + "/" if prefix else ""
        with self._lock:
            return sorted(k for k in self._data if k.startswith(start))

    def delete(self, path: str) -> None:
        key = normalise(path)
        with self._lock:
            if self._data.pop(key, _MISSING) is _MISSING:
                raise FileNotFoundError(f"memory: nothing stored at {key!r}")


_MISSING = object()
