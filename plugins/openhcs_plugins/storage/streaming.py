"""Streaming backends: send images to a running viewer (napari or Fiji) instead of storing.

They need a viewer, hence a display/GPU (``requires_gpu = True``: skipped when
``OPENHCS_SUBPROCESS_NO_GPU=1``).  The viewer connection (*sink*) is either a callable
``sink(path, data)`` (e.g. one sending over ZMQ) or a queue-like object with ``put`` (e.g. a
``multiprocessing.Queue`` read by the viewer process), which receives ``(path, data)``
tuples.  Without one, saving raises a clear error.  Streams cannot be read back; ``list`` and
``exists`` report what was sent.  Nothing here imports napari or Fiji.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from openhcs_hookspecs.storage import StorageBackend

from ._paths import normalise


class _Queue(Protocol):
    def put(self, item: tuple[str, Any], /) -> Any: ...


class _StreamBackend(StorageBackend):
    viewer = "viewer"
    requires_gpu = True

    def __init__(self, sink: Callable[[str, Any], None] | _Queue | None = None) -> None:
        self.sink: Callable[[str, Any], None] | _Queue | None = None
        self.sent: set[str] = set()
        if sink is not None:
            self.connect(sink)

    def connect(self, sink: Callable[[str, Any], None] | _Queue) -> None:
        """Attach (or replace) the viewer connection."""
        if not callable(sink) and not callable(getattr(sink, "put", None)):
            raise TypeError(f"{self._backend_type}: sink must be a callable or have put()")
        self.sink = sink

    def save(self, data: Any, path: str) -> None:
        key = normalise(path)
        if self.sink is None:
            raise RuntimeError(
                f"{self._backend_type}: no {self.viewer} viewer connected; "
                "pass sink=<callable(path, data) or queue> or call connect(sink)"
            )
        put = getattr(self.sink, "put", None)
        if callable(put):
            put((key, data))
        else:
            self.sink(key, data)  # type: ignore[operator]
        self.sent.add(key)

    def load(self, path: str) -> Any:
        raise NotImplementedError(f"{self._backend_type} streams to {self.viewer}; it cannot load")

    def exists(self, path: str) -> bool:
        return normalise(path) in self.sent

    def list(self, prefix: str = "") -> list[str]:
        start = normalise(prefix) + "/" if prefix else ""
        return sorted(k for k in self.sent if k.startswith(start))

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
