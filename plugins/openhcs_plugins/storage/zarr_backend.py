"""Zarr backend: arrays in a zarr store; offered only when the zarr package is installed."""

from __future__ import annotations

import os

from openhcs_hookspecs.storage import StorageBackend

from ._paths import normalise

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class ZarrBackend(StorageBackend):
    """One zarr group at *root*; each path is an array in it."""

    _backend_type = "zarr"
    requires_modules = ("zarr",)

    def __init__(self, root: str | os.PathLike[str] = "openhcs.zarr") -> None:
        self.root = os.fspath(root)

    def _group(self) -> Any:
        import zarr

        return zarr.open_group(self.root, mode="a")

    def save(self, data: Any, path: str) -> None:
        import numpy as np

        group = self._group()
        key = normalise(path)
        if key in group:
            del group[key]
        group.create_dataset(key, data=np.asarray(data))

    def load(self, path: str) -> Any:
        group = self._group()
        key = normalise(path)
        if key not in group:
            raise FileNotFoundError(f"zarr: nothing stored at {key!r}")
        return group[key][...]

    def exists(self, path: str) -> bool:
        return normalise(path) in self._group()

    def list(self, prefix: str = "") -> list[str]:
        found: list[str] = []
        self._group().visititems(
            lambda name, obj: found.append(name) if hasattr(obj, "shape") else None
        )
        start = normalise(prefix) + "/" if prefix else ""
        return sorted(n for n in found if n.startswith(start))

    def delete(self, path: str) -> None:
        group = self._group()
        key = normalise(path)
        if key not in group:
            raise FileNotFoundError(f"zarr: nothing stored at {key!r}")
        del group[key]
