"""The built-in storage backends (:mod:`openhcs_plugins.storage`), saving and loading real files.

Optional libraries (omero-py, zarr, numpy) adapt to what ``find_spec`` says is installed.
"""

from __future__ import annotations

import json
import queue
from pathlib import Path

import openhcs_hookspecs as hs
import pytest
from plugins_support import (
    HAS_NUMPY,
    HAS_OMERO,
    HAS_ZARR,
    _failures,
    _fresh_registries,
)

from openhcs_registry import FailureKind

__all__ = ["_fresh_registries"]


@pytest.mark.skipif(HAS_ZARR, reason="zarr is installed here")
def test_zarr_backend_is_reported_unavailable_without_zarr() -> None:
    assert "zarr" not in hs.STORAGE_BACKENDS
    unavailable = _failures(hs.STORAGE_BACKENDS, FailureKind.UNAVAILABLE)
    assert unavailable["zarr"].missing_module == "zarr"
    assert {f.kind for f in hs.STORAGE_BACKENDS.failures} == {FailureKind.UNAVAILABLE}


@pytest.mark.parametrize("backend_key", ["disk", "memory"])
def test_storage_backends_save_load_list_delete(backend_key: str, tmp_path: Path) -> None:
    cls = hs.STORAGE_BACKENDS[backend_key]
    backend = cls(tmp_path / "root") if backend_key == "disk" else cls()
    assert backend.list() == []
    backend.save(b"\x00\x01pixels", "plate/A01/img.bin")
    backend.save("hello", "plate/A01/note.txt")
    backend.save({"wells": ["A01"], "sites": 4}, "plate/meta.json")
    assert backend.load("plate/A01/img.bin") == b"\x00\x01pixels"
    assert backend.load("plate/A01/note.txt") == "hello"
    assert backend.load("plate/meta.json") == {"wells": ["A01"], "sites": 4}
    assert backend.list("plate/A01") == ["plate/A01/img.bin", "plate/A01/note.txt"]
    assert backend.list("plate/A01/") == backend.list("plate//A01")
    assert backend.list() == ["plate/A01/img.bin", "plate/A01/note.txt", "plate/meta.json"]
    assert backend.list("plate/A0") == []  # a prefix is a folder, not a string prefix
    backend.save(b"new", "plate/A01/img.bin")  # replaces
    assert backend.load("plate/A01/img.bin") == b"new"
    assert backend.exists("plate/meta.json") and not backend.exists("plate/other.json")
    backend.delete("plate/meta.json")
    assert not backend.exists("plate/meta.json")
    with pytest.raises(FileNotFoundError):
        backend.load("plate/meta.json")
    with pytest.raises(FileNotFoundError):
        backend.delete("plate/meta.json")
    for bad in ("", "/abs/path", "../escape", "a/../../b"):
        with pytest.raises(ValueError):
            backend.save(b"x", bad)


def test_disk_backend_writes_real_files_atomically(tmp_path: Path) -> None:
    backend = hs.STORAGE_BACKENDS["disk"](tmp_path)
    backend.save({"a": 1}, "x/meta.json")
    backend.save("text", "x/note.txt")
    assert json.loads((tmp_path / "x" / "meta.json").read_text()) == {"a": 1}
    assert (tmp_path / "x" / "note.txt").read_text() == "text"
    # no temporary files left behind, hidden files are not listed
    assert sorted(p.name for p in (tmp_path / "x").iterdir()) == ["meta.json", "note.txt"]
    (tmp_path / "x" / ".hidden").write_bytes(b"")
    assert backend.list() == ["x/meta.json", "x/note.txt"]
    # a file written by someone else is readable too
    (tmp_path / "x" / "raw.bin").write_bytes(b"\xff")
    assert backend.load("x/raw.bin") == b"\xff"


def test_disk_backend_refuses_what_it_cannot_store(tmp_path: Path) -> None:
    backend = hs.STORAGE_BACKENDS["disk"](tmp_path)
    with pytest.raises(TypeError, match="cannot store"):
        backend.save(object(), "thing.bin")
    with pytest.raises(TypeError, match="JSON"):
        backend.save({1, 2}, "thing.json")
    assert backend.list() == []
    assert list(tmp_path.iterdir()) == []  # not even a temp file


@pytest.mark.skipif(not HAS_NUMPY, reason="numpy is not installed")
def test_disk_backend_numpy_arrays(tmp_path: Path) -> None:
    import numpy as np

    backend = hs.STORAGE_BACKENDS["disk"](tmp_path)
    image = np.arange(12, dtype=np.uint16).reshape(3, 4)
    backend.save(image, "A01/img.npy")
    loaded = backend.load("A01/img.npy")
    assert loaded.dtype == np.uint16 and np.array_equal(loaded, image)
    assert np.array_equal(np.load(tmp_path / "A01" / "img.npy"), image)  # a real .npy file
    with pytest.raises(ValueError):  # object arrays would need pickle: refused
        backend.save(np.array([object()]), "bad.npy")


def test_memory_backend_stores_copies() -> None:
    backend = hs.STORAGE_BACKENDS["memory"]()
    data = {"values": [1, 2]}
    backend.save(data, "x")
    data["values"].append(3)
    loaded = backend.load("x")
    assert loaded == {"values": [1, 2]}
    loaded["values"].append(4)
    assert backend.load("x") == {"values": [1, 2]}
    assert hs.STORAGE_BACKENDS["memory"]().list() == []  # one store per instance


def test_streaming_backends_need_a_viewer_and_are_gpu_flagged() -> None:
    for key in ("napari_stream", "fiji_stream"):
        cls = hs.STORAGE_BACKENDS[key]
        assert cls.requires_gpu is True
        with pytest.raises(RuntimeError, match=r"no .* viewer connected"):
            cls().save(b"img", "a/b")
        got: list[tuple[str, object]] = []
        backend = cls(sink=lambda path, data, got=got: got.append((path, data)))
        backend.save(b"img", "a//b")
        assert got == [("a/b", b"img")]
        assert backend.list() == ["a/b"] and backend.exists("a/b")
        with pytest.raises(NotImplementedError):
            backend.load("a/b")

        q: queue.Queue[tuple[str, object]] = queue.Queue()
        streamed = cls()
        streamed.connect(q)
        streamed.save([1, 2], "plate/A01")
        assert q.get_nowait() == ("plate/A01", [1, 2])
        with pytest.raises(TypeError, match="sink"):
            cls(sink=42)


def test_omero_local_backend_reads_the_repository(tmp_path: Path) -> None:
    backend = hs.STORAGE_BACKENDS["omero_local"](tmp_path)
    (tmp_path / "user_0" / "plate").mkdir(parents=True)
    (tmp_path / "user_0" / "plate" / "img.tif").write_bytes(b"II*\x00")
    assert backend.list() == ["user_0/plate/img.tif"]
    assert backend.exists("user_0/plate/img.tif")
    assert backend.load("user_0/plate/img.tif") == b"II*\x00"
    with pytest.raises(FileNotFoundError):
        backend.load("user_0/other.tif")
    if not HAS_OMERO:
        with pytest.raises(RuntimeError, match="omero-py"):
            backend.save(b"x", "user_0/new.tif")
        with pytest.raises(RuntimeError, match="omero-py"):
            backend.delete("user_0/plate/img.tif")
    assert backend.exists("user_0/plate/img.tif")


@pytest.mark.skipif(HAS_ZARR, reason="zarr is installed here")
def test_zarr_backend_says_what_to_install(tmp_path: Path) -> None:
    from openhcs_plugins.storage.zarr_backend import ZarrBackend

    with pytest.raises(ImportError, match="pip install zarr"):
        ZarrBackend(tmp_path / "x.zarr").list()


@pytest.mark.skipif(not HAS_ZARR, reason="zarr is not installed")
def test_zarr_backend_round_trip(tmp_path: Path) -> None:
    import numpy as np

    backend = hs.STORAGE_BACKENDS["zarr"](tmp_path / "plate.zarr")
    backend.save(np.arange(6).reshape(2, 3), "A01/img")
    backend.save([1, 2, 3], "A02/img")
    assert np.array_equal(backend.load("A01/img"), np.arange(6).reshape(2, 3))
    assert backend.list() == ["A01/img", "A02/img"] and backend.list("A01") == ["A01/img"]
    assert backend.exists("A01/img") and not backend.exists("A01")
    with pytest.raises(IsADirectoryError):
        backend.save([0], "A01")
    backend.delete("A01/img")
    assert backend.list() == ["A02/img"]
    with pytest.raises(FileNotFoundError):
        backend.load("A01/img")
