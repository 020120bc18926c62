"""Streaming backends: send images to a running viewer (napari or Fiji) instead of storing.

They need a viewer, hence a display/GPU (``requires_gpu = True``: skipped when
``OPENHCS_SUBPROCESS_NO_GPU=1``).  A viewer connection is any callable ``sink(path, data)``,
e.g. one that sends over ZMQ; without one, saving raises a clear error.  Streams cannot be
read back.
"""

from __future__ import annotations

from openhcs_hookspecs.storage import StorageBackend

from ._paths import normalise

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


class _StreamBackend(StorageBackend):
    viewer = "viewer"
    requires_gpu = True

    def __init__(self, sink: Callable[[str, Any], None] | None = None) -> None:
        self.sink = sink
        self.sent: list[str] = []

    def save(self, data: Any, path: str) -> None:
        key = normalise(path)
        if self.sink is None:
            raise RuntimeError(
                f"{self._backend_type}: no {self.viewer} viewer connected; "
                f"create the backend with sink=<callable(path, data)>"
            )
        self.sink(key, data)
        self.sent.append(key)

    def load(self, path: str) -> Any:
        raise NotImplementedError(f"{self._backend_type} streams to {self.viewer}; it cannot load")

    def exists(self, path: str) -> bool:
        return normalise(path) in self.sent

    def list(self, prefix: str = "") -> list[str]:
        start = normalise(prefix) + "/" if prefix else ""
        return sorted({k for k in self.sent if k.startswith(start)})

    def delete(self, path: str) -> None:
        raise NotImplementedError(f"{self._backend_type}: a viewer stream keeps nothing to delete")


class NapariStreamBackend(_StreamBackend):
    """Streams to a napari viewer process."""

    _backend_type = "napari_stream"
    viewer = "napari"


class FijiStreamBackend(_StreamBackend):
    """Streams to a Fiji (ImageJ) viewer process."""

    _backend_type = "fiji_stream"
    viewer = "Fiji"
