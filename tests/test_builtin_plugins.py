"""The built-in plugins: every registry's keys, and each plugin doing its real work."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import openhcs_hookspecs as hs
import pytest

from openhcs_registry import FailureKind

HAS_OMERO = importlib.util.find_spec("omero") is not None
HAS_ZARR = importlib.util.find_spec("zarr") is not None


def test_every_registry_lists_its_builtin_keys() -> None:
    regs = hs.load_all()
    expected = {
        "microscope_handler": {"imagexpress", "opera_phenix", "openhcsdata"}
        | ({"omero"} if HAS_OMERO else set()),
        "storage_backend": {"disk", "memory", "napari_stream", "fiji_stream", "omero_local"}
        | ({"zarr"} if HAS_ZARR else set()),
        "zmq_server": {"execution", "napari", "fiji"},
        "library_registry": {"openhcs", "skimage", "cupy", "pyclesperanto"},
        "microscope_format_registry": {"EDDU_CX5", "EDDU_metaxpress"},
    }
    assert {name: set(reg) for name, reg in regs.items()} == expected
    for reg in regs.values():
        for key in reg:
            info = reg.info(key)
            assert info["distribution"] == "openhcs-registry"
            assert info["ref"].startswith("openhcs_plugins.")


@pytest.mark.skipif(HAS_OMERO, reason="omero-py is installed here")
def test_missing_optional_dependencies_are_reported_unavailable() -> None:
    failures = {(f.key, f.kind, f.missing_module) for f in hs.MICROSCOPE_HANDLERS.failures}
    assert ("omero", FailureKind.UNAVAILABLE, "omero") in failures
    if not HAS_ZARR:
        failures = {(f.key, f.kind, f.missing_module) for f in hs.STORAGE_BACKENDS.failures}
        assert ("zarr", FailureKind.UNAVAILABLE, "zarr") in failures


def test_metadata_handlers_secondary_registry() -> None:
    assert set(hs.METADATA_HANDLERS) == set(hs.MICROSCOPE_HANDLERS)
    for key, handler in hs.MICROSCOPE_HANDLERS.items():
        meta = hs.METADATA_HANDLERS[key]
        assert issubclass(meta, hs.MetadataHandler)
        assert handler.metadata_handler == f"{meta.__module__}:{meta.__qualname__}"


@pytest.mark.parametrize(
    ("microscope", "filename", "expected"),
    [
        (
            "imagexpress",
            "A01_s1_w2_z3.tif",
            {
                "well": "A01",
                "site": 1,
                "channel": 2,
                "z_index": 3,
                "timepoint": None,
                "extension": ".tif",
            },
        ),
        (
            "imagexpress",
            "B12_s4_w1_z2_t5.TIF",
            {
                "well": "B12",
                "site": 4,
                "channel": 1,
                "z_index": 2,
                "timepoint": 5,
                "extension": ".TIF",
            },
        ),
        (
            "opera_phenix",
            "r01c01f01p01-ch1sk1fk1fl1.tiff",
            {
                "well": "A01",
                "site": 1,
                "channel": 1,
                "z_index": 1,
                "timepoint": 1,
                "extension": ".tiff",
            },
        ),
        (
            "opera_phenix",
            "r02c12f03p04-ch2sk3fk1fl1.tiff",
            {
                "well": "B12",
                "site": 3,
                "channel": 2,
                "z_index": 4,
                "timepoint": 3,
                "extension": ".tiff",
            },
        ),
        (
            "openhcsdata",
            "C03_s002_w3_z004_t001.tif",
            {
                "well": "C03",
                "site": 2,
                "channel": 3,
                "z_index": 4,
                "timepoint": 1,
                "extension": ".tif",
            },
        ),
    ],
)
def test_filename_parse_and_round_trip(
    microscope: str, filename: str, expected: dict[str, object]
) -> None:
    handler = hs.MICROSCOPE_HANDLERS[microscope]()
    parsed = handler.parse_filename(filename)
    assert parsed == expected
    assert handler.parse_filename(handler.construct_filename(**parsed)) == parsed


@pytest.mark.parametrize("microscope", ["imagexpress", "opera_phenix", "openhcsdata"])
def test_foreign_names_do_not_parse(microscope: str) -> None:
    handler = hs.MICROSCOPE_HANDLERS[microscope]()
    for name in ("notes.txt", "A01.tif", "r01c01-ch1.tiff", ""):
        assert handler.parse_filename(name) is None
    with pytest.raises(ValueError, match="missing"):
        handler.construct_filename(well="A01")


def test_opera_phenix_rows_beyond_z() -> None:
    handler = hs.MICROSCOPE_HANDLERS["opera_phenix"]()
    parsed = handler.parse_filename("r27c48f01p01-ch1sk1fk1fl1.tiff")
    assert parsed is not None and parsed["well"] == "AA48"
    assert handler.construct_filename(**parsed).startswith("r27c48")


def test_imagexpress_htd_metadata(tmp_path: Path) -> None:
    (tmp_path / "plate.HTD").write_text(
        '"HTSInfoFile", Version 1.0\n"XWells", 24\n"YWells", 16\n"XSites", 3\n"YSites", 2\n'
        '"NWavelengths", 2\n"WaveName1", "DAPI"\n"WaveName2", "GFP"\n"TimePoints", FALSE\n'
    )
    meta = hs.METADATA_HANDLERS["imagexpress"]()
    path = meta.find_metadata_file(tmp_path)
    assert path == tmp_path / "plate.HTD"
    parsed = meta.parse_metadata(path.read_text())
    assert parsed["grid"] == (3, 2) and parsed["plate"] == (24, 16)
    assert parsed["channels"] == {1: "DAPI", 2: "GFP"}
    assert parsed["raw"]["TimePoints"] is False


def test_opera_phenix_index_xml(tmp_path: Path) -> None:
    (tmp_path / "Index.idx.xml").write_text(
        '<?xml version="1.0"?><EvaluationInputData xmlns="http://www.perkinelmer.com/PEHH/HarmonyV5">'
        "<Plates><Plate><PlateRows>16</PlateRows><PlateColumns>24</PlateColumns></Plate></Plates>"
        '<Maps><Map><Entry ChannelID="1"><ChannelName>HOECHST 33342</ChannelName></Entry>'
        '<Entry ChannelID="2"><ChannelName>Alexa 488</ChannelName></Entry></Map></Maps>'
        "<Images><Image><FieldID>1</FieldID></Image><Image><FieldID>2</FieldID></Image></Images>"
        "</EvaluationInputData>"
    )
    meta = hs.METADATA_HANDLERS["opera_phenix"]()
    path = meta.find_metadata_file(tmp_path)
    assert path is not None
    parsed = meta.parse_metadata(path.read_text())
    assert parsed == {
        "plate": (24, 16),
        "channels": {1: "HOECHST 33342", 2: "Alexa 488"},
        "fields": [1, 2],
    }
    assert meta.find_metadata_file(tmp_path / "nowhere") is None


def test_openhcs_metadata_json(tmp_path: Path) -> None:
    (tmp_path / "openhcs_metadata.json").write_text('{"grid": [2, 2], "pixel_size": 0.65}')
    meta = hs.METADATA_HANDLERS["openhcsdata"]()
    path = meta.find_metadata_file(tmp_path)
    assert path is not None and meta.parse_metadata(path.read_text())["pixel_size"] == 0.65
    with pytest.raises(ValueError):
        meta.parse_metadata("[1, 2]")


@pytest.mark.parametrize("backend_key", ["disk", "memory"])
def test_storage_backends_save_load_list_delete(backend_key: str, tmp_path: Path) -> None:
    cls = hs.STORAGE_BACKENDS[backend_key]
    backend = cls(tmp_path) if backend_key == "disk" else cls()
    backend.save(b"\x00\x01pixels", "plate/A01/img.bin")
    backend.save("hello", "plate/A01/note.txt")
    backend.save({"wells": ["A01"]}, "plate/meta.json")
    assert backend.load("plate/A01/img.bin") == b"\x00\x01pixels"
    assert backend.load("plate/A01/note.txt") in ("hello", b"hello")
    assert backend.load("plate/meta.json") in ({"wells": ["A01"]}, b'{"wells": ["A01"]}')
    assert backend.list("plate/A01") == ["plate/A01/img.bin", "plate/A01/note.txt"]
    assert backend.list() == ["plate/A01/img.bin", "plate/A01/note.txt", "plate/meta.json"]
    assert backend.exists("plate/meta.json")
    backend.delete("plate/meta.json")
    assert not backend.exists("plate/meta.json")
    with pytest.raises(FileNotFoundError):
        backend.load("plate/meta.json")
    with pytest.raises(FileNotFoundError):
        backend.delete("plate/meta.json")
    for bad in ("", "/abs/path", "../escape", "a/../../b"):
        with pytest.raises(ValueError):
            backend.save(b"x", bad)


def test_memory_backend_stores_copies() -> None:
    backend = hs.STORAGE_BACKENDS["memory"]()
    data = {"values": [1, 2]}
    backend.save(data, "x")
    data["values"].append(3)
    assert backend.load("x") == {"values": [1, 2]}


def test_disk_backend_refuses_what_it_cannot_store(tmp_path: Path) -> None:
    backend = hs.STORAGE_BACKENDS["disk"](tmp_path)
    with pytest.raises(TypeError, match="cannot store"):
        backend.save(object(), "thing.bin")
    assert backend.list() == []


def test_streaming_backends_need_a_viewer_and_are_gpu_flagged() -> None:
    for key in ("napari_stream", "fiji_stream"):
        cls = hs.STORAGE_BACKENDS[key]
        assert cls.requires_gpu is True
        with pytest.raises(RuntimeError, match=r"no .* viewer connected"):
            cls().save(b"img", "a/b")
        got: list[tuple[str, object]] = []
        backend = cls(sink=lambda path, data: got.append((path, data)))
        backend.save(b"img", "a//b")
        assert got == [("a/b", b"img")] and backend.list() == ["a/b"]


def test_no_gpu_mode_drops_gpu_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENHCS_SUBPROCESS_NO_GPU", "1")
    for reg in hs.load_all().values():
        reg.reset()
    assert set(hs.ZMQ_SERVERS) == {"execution"}
    assert {"napari_stream", "fiji_stream"}.isdisjoint(hs.STORAGE_BACKENDS)
    assert set(hs.LIBRARY_REGISTRIES) == {"openhcs", "skimage"}
    skipped = {f.key for f in hs.ZMQ_SERVERS.failures if f.kind == FailureKind.GPU_SKIPPED}
    assert skipped == {"napari", "fiji"}


def test_zmq_servers_answer_messages() -> None:
    server = hs.ZMQ_SERVERS["execution"]()
    assert server.handle({"type": "ping"}) == {"type": "pong", "server": "execution", "port": 7777}
    accepted = server.handle({"type": "execute", "pipeline": "p"})
    assert accepted["type"] == "accepted"
    assert server.handle({"type": "job_status", "job": accepted["job"]})["state"] == "queued"
    assert server.handle({"type": "status"})["handled"] == 4
    assert server.handle({"type": "nope"})["type"] == "error"
    assert server.handle("garbage")["type"] == "error"  # type: ignore[arg-type]
    viewer = hs.ZMQ_SERVERS["napari"](port=6000)
    assert viewer.handle({"type": "show", "name": "nuclei"}) == {
        "type": "shown",
        "layer": "nuclei",
        "layers": 1,
    }
    assert viewer.handle({"type": "ping"})["port"] == 6000


def test_library_registries() -> None:
    openhcs = hs.LIBRARY_REGISTRIES["openhcs"]
    assert openhcs.is_available()
    funcs = openhcs().functions()
    assert funcs["normalize"]([2.0, 4.0, 6.0]) == [0.0, 0.5, 1.0]
    assert funcs["threshold"]([1.0, 5.0], 3.0) == [False, True]
    for key in ("skimage", "cupy", "pyclesperanto"):
        lib = hs.LIBRARY_REGISTRIES[key]
        assert lib.is_available() == (importlib.util.find_spec(lib.library_module) is not None)
        if not lib.is_available():
            with pytest.raises(ImportError, match="not installed"):
                lib().functions()


def test_microscope_formats() -> None:
    cx5 = hs.MICROSCOPE_FORMAT_REGISTRIES["EDDU_CX5"]()
    text = "[CX5 Export]\nPlate=P1\nWells=96\nChannels=DAPI, GFP\n; comment\n"
    assert cx5.matches(text)
    assert cx5.read(text) == {"Plate": "P1", "Wells": 96, "Channels": ["DAPI", "GFP"]}
    mx = hs.MICROSCOPE_FORMAT_REGISTRIES["EDDU_metaxpress"]()
    summary = "MetaXpress Plate Summary\nPlate Name\tP2\nSites\t4\n"
    assert mx.matches(summary) and not mx.matches(text) and not cx5.matches(summary)
    assert mx.read(summary) == {"Plate Name": "P2", "Sites": 4}
    with pytest.raises(ValueError):
        cx5.read(summary)
