"""OMERO local backend: reads planes from an OMERO server's local binary repository.

Always listed (the repository is plain files); operations that need OMERO's API raise a clear
error when omero-py is not installed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from openhcs_hookspecs.storage import StorageBackend

from ._paths import normalise


class OMEROLocalBackend(StorageBackend):
    """Read-only access to ``<repository>/<path>``; writes go through the OMERO API."""

    _backend_type = "omero_local"

    def __init__(self, repository: str | os.PathLike[str] = "/OMERO/ManagedRepository") -> None:
        self.repository = Path(repository)

    def _need_omero(self, what: str) -> None:
        from importlib.util import find_spec

        if find_spec("omero") is None:
            raise RuntimeError(
                f"omero_local: {what} needs the omero-py package (pip install omero-py)"
            )

    def save(self, data: Any, path: str) -> None:
        self._need_omero("saving")
        raise NotImplementedError("omero_local: import images with OMERO's importer")

    def load(self, path: str) -> Any:
        target = self.repository / normalise(path)
        if not target.is_file():
            raise FileNotFoundError(f"omero_local: no file {target}")
        return target.read_bytes()

    def exists(self, path: str) -> bool:
        return (self.repository / normalise(path)).is_file()

    def list(self, prefix: str = "") -> list[str]:
        base = self.repository / normalise(prefix) if prefix else self.repository
        if not base.is_dir():
            return []
        return sorted(
            p.relative_to(self.repository).as_posix() for p in base.rglob("*") if p.is_file()
        )

    def delete(self, path: str) -> None:
        self._need_omero("deleting")
        raise NotImplementedError("omero_local: delete images through the OMERO API")
