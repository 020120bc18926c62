"""Zarr backend: arrays in a zarr store; offered only when the zarr package is installed.

Each storage path is an array inside one zarr group (``"plate/A01/img"`` -> array ``img`` in
group ``plate/A01``).  Works with zarr 2 (``create_dataset``/``visititems``) and zarr 3
(``create_array``/``members``); zarr and numpy are imported only when the backend is used.
"""

from __future__ import annotations

import os
from typing import Any

from openhcs_hookspecs.storage import StorageBackend

from ._paths import normalise


class ZarrBackend(StorageBackend):
    """One zarr group at *root* (a folder); each path is an array in it."""

    _backend_type = "zarr"
    requires_modules = ("zarr",)

    def __init__(self, root: str | os.PathLike[str] = "openhcs.zarr") -> None:
        self.root = os.fspath(root)

    def _group(self) -> Any:
        try:
            import zarr
        except ImportError as exc:
            raise ImportError("the zarr backend needs the zarr package (pip install zarr)") from exc
        return zarr.open_group(self.root, mode="a")

    def _array(self, group: Any, key: str) -> Any | None:
        """The array at *key*, or None (missing, or a group)."""
        try:
            node = group[key]
        except KeyError:
            return None
        return node if hasattr(node, "shape") else None

    def save(self, data: Any, path: str) -> None:
        import numpy as np

        group = self._group()
        key = normalise(path)
        array = np.asarray(data)
        if key in group:
            if self._array(group, key) is None:
                raise IsADirectoryError(f"zarr: {key!r} is a group holding other arrays")
            del group[key]
        if hasattr(group, "create_array"):  # zarr 3
            group.create_array(key, data=array)
        else:  # zarr 2
            group.create_dataset(key, data=array)

    def load(self, path: str) -> Any:
        key = normalise(path)
        array = self._array(self._group(), key)
        if array is None:
            raise FileNotFoundError(f"zarr: nothing stored at {key!r}")
        return array[...]

    def exists(self, path: str) -> bool:
        return self._array(self._group(), normalise(path)) is not None

    def list(self, prefix: str = "") -> list[str]:
        group = self._group()
        found: list[str] = []
        if hasattr(group, "members"):  # zarr 3
            found = [name for name, node in group.members(max_depth=None) if hasattr(node, "shape")]
        else:  # zarr 2
            group.visititems(
                lambda name, node: found.append(name) if hasattr(node, "shape") else None
            )
        start = normalise(prefix) + "/" if prefix else ""
        return sorted(n for n in found if n.startswith(start))

    def delete(self, path: str) -> None:
        group = self._group()
        key = normalise(path)
        if self._array(group, key) is None:
            raise FileNotFoundError(f"zarr: nothing stored at {key!r}")
        del group[key]
