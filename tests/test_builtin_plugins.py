"""The built-in plugins: every registry's keys, and each plugin doing its real work.

Real files in temp folders, a real subprocess for the import-cost check; no mocks.  Optional
libraries (omero-py, zarr, scikit-image, cupy, pyclesperanto) are expected to be missing here:
tests that depend on them adapt to what ``find_spec`` says is installed.
"""

from __future__ import annotations

import importlib.util
import json
import queue
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openhcs_hookspecs as hs
import pytest

from openhcs_registry import FailureKind

HAS_OMERO = importlib.util.find_spec("omero") is not None
HAS_ZARR = importlib.util.find_spec("zarr") is not None
HAS_NUMPY = importlib.util.find_spec("numpy") is not None

EXPECTED_KEYS = {
    "microscope_handler": {"imagexpress", "opera_phenix", "openhcsdata"}
    | ({"omero"} if HAS_OMERO else set()),
    "storage_backend": {"disk", "memory", "napari_stream", "fiji_stream", "omero_local"}
    | ({"zarr"} if HAS_ZARR else set()),
    "zmq_server": {"execution", "napari", "fiji"},
    "library_registry": {"openhcs", "skimage", "cupy", "pyclesperanto"},
    "microscope_format_registry": {"EDDU_CX5", "EDDU_metaxpress"},
}
GPU_KEYS = {
    "storage_backend": {"napari_stream", "fiji_stream"},
    "zmq_server": {"napari", "fiji"},
    "library_registry": {"cupy", "pyclesperanto"},
}


def _reset_all() -> None:
    for registry in hs.load_all().values():
        registry.reset()


@pytest.fixture(autouse=True)
def _fresh_registries(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Own cache folder, no inherited switches, and registries discovered anew in each test.

    The cache gets a folder of its own so a test's ``tmp_path`` holds only the test's files.
    """
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("OPENHCS_CACHE_DIR", str(cache))
    for name in (
        "OPENHCS_SUBPROCESS_NO_GPU",
        "OPENHCS_DISABLE_REGISTRY_CACHE",
        "OPENHCS_DISABLE_ENTRY_POINTS",
    ):
        monkeypatch.delenv(name, raising=False)
    _reset_all()
    yield cache
    _reset_all()


def _failures(registry: Any, kind: str) -> dict[str, Any]:
    return {f.key: f for f in registry.failures if f.kind == kind}


# -- the registries -------------------------------------------------------------------------


def test_every_registry_lists_exactly_its_builtin_keys() -> None:
    regs = hs.load_all()
    assert {name: set(reg) for name, reg in regs.items() if name in EXPECTED_KEYS} == EXPECTED_KEYS
    for name in EXPECTED_KEYS:
        reg = regs[name]
        for key in reg:
            info = reg.info(key)
            assert info["distribution"] == "openhcs-registry"
            assert info["ref"].startswith("openhcs_plugins.")
            value = reg[key]
            assert issubclass(value, reg.config.base_class)
            assert getattr(value, reg.config.key_attribute) == key


@pytest.mark.skipif(HAS_OMERO, reason="omero-py is installed here")
def test_omero_handler_is_reported_unavailable_without_omero_py() -> None:
    assert "omero" not in hs.MICROSCOPE_HANDLERS
    unavailable = [
        f
        for f in hs.MICROSCOPE_HANDLERS.failures
        if f.key == "omero" and f.kind == FailureKind.UNAVAILABLE
    ]
    assert unavailable and all(f.missing_module == "omero" for f in unavailable)
    # the hookimpl's own Unavailable, naming the package to install
    assert any(f.message == "needs the omero-py package" for f in unavailable)
    assert "omero" not in hs.METADATA_HANDLERS
    # only optional dependencies fail here: no import error, hook error, duplicate, ...
    assert {f.kind for f in hs.MICROSCOPE_HANDLERS.failures} == {FailureKind.UNAVAILABLE}


@pytest.mark.skipif(HAS_ZARR, reason="zarr is installed here")
def test_zarr_backend_is_reported_unavailable_without_zarr() -> None:
    assert "zarr" not in hs.STORAGE_BACKENDS
    unavailable = _failures(hs.STORAGE_BACKENDS, FailureKind.UNAVAILABLE)
    assert unavailable["zarr"].missing_module == "zarr"
    assert {f.kind for f in hs.STORAGE_BACKENDS.failures} == {FailureKind.UNAVAILABLE}


def test_no_failures_in_the_other_registries() -> None:
    for reg in (hs.ZMQ_SERVERS, hs.LIBRARY_REGISTRIES, hs.MICROSCOPE_FORMAT_REGISTRIES):
        assert list(reg) and reg.failures == []


def test_metadata_handlers_map_each_microscope_to_its_handler() -> None:
    expected = {
        "imagexpress": "ImageXpressMetadataHandler",
        "opera_phenix": "OperaPhenixMetadataHandler",
        "openhcsdata": "OpenHCSMetadataHandler",
    } | ({"omero": "OMEROMetadataHandler"} if HAS_OMERO else {})
    assert {key: hs.METADATA_HANDLERS[key].__qualname__ for key in hs.METADATA_HANDLERS} == (
        expected
    )
    for key, handler in hs.MICROSCOPE_HANDLERS.items():
        meta = hs.METADATA_HANDLERS[key]
        assert issubclass(meta, hs.MetadataHandler)
        assert handler.metadata_handler == f"{meta.__module__}:{meta.__qualname__}"


def test_warm_start_replays_the_same_plugins(_fresh_registries: Path) -> None:
    regs = hs.load_all()
    fresh = {name: dict(regs[name]) for name in EXPECTED_KEYS}
    fresh_meta = dict(hs.METADATA_HANDLERS)
    fresh_failures = {(f.key, f.kind) for f in hs.MICROSCOPE_HANDLERS.failures}
    assert all(regs[name].source == "fresh" for name in EXPECTED_KEYS)
    assert (_fresh_registries / "microscope_handler_registry.json").is_file()

    _reset_all()
    assert {name: dict(regs[name]) for name in EXPECTED_KEYS} == fresh
    assert all(regs[name].source == "cache" for name in EXPECTED_KEYS)
    assert dict(hs.METADATA_HANDLERS) == fresh_meta
    # a warm start still explains why omero is missing
    assert {(f.key, f.kind) for f in hs.MICROSCOPE_HANDLERS.failures} == fresh_failures


def test_no_gpu_mode_drops_gpu_plugins_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENHCS_SUBPROCESS_NO_GPU", "1")
    _reset_all()
    regs = hs.load_all()
    for name, gpu_keys in GPU_KEYS.items():
        assert set(regs[name]) == EXPECTED_KEYS[name] - gpu_keys
        assert set(_failures(regs[name], FailureKind.SKIPPED)) == gpu_keys
    # plugins that need no GPU are untouched
    assert set(hs.MICROSCOPE_HANDLERS) == EXPECTED_KEYS["microscope_handler"]
    assert _failures(hs.MICROSCOPE_HANDLERS, FailureKind.SKIPPED) == {}

    monkeypatch.delenv("OPENHCS_SUBPROCESS_NO_GPU")
    _reset_all()  # the switch is part of the cache's validity: GPU plugins come back
    for name, gpu_keys in GPU_KEYS.items():
        assert gpu_keys <= set(regs[name])


def test_plugin_packages_import_cheaply() -> None:
    """The package scan imports every module: none may pull in an optional/heavy library."""
    code = (
        "import sys, pkgutil, importlib\n"
        "for pkg in ('openhcs_plugins.microscopes', 'openhcs_plugins.storage'):\n"
        "    p = importlib.import_module(pkg)\n"
        "    for m in pkgutil.iter_modules(p.__path__):\n"
        "        importlib.import_module(pkg + '.' + m.name)\n"
        "for m in ('openhcs_plugins.zmq_servers', 'openhcs_plugins.libraries',"
        " 'openhcs_plugins.formats'):\n"
        "    importlib.import_module(m)\n"
        "heavy = ['numpy', 'zarr', 'omero', 'zmq', 'napari', 'skimage', 'cupy',"
        " 'pyclesperanto', 'xml.etree.ElementTree', 'pluggy', 'importlib.metadata']\n"
        "print(','.join(h for h in heavy if h in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == ""


# -- microscope handlers ------------------------------------------------------------------


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
            "imagexpress",
            "plate1/TimePoint_1/P24_s9_w4.tif",
            {
                "well": "P24",
                "site": 9,
                "channel": 4,
                "z_index": None,
                "timepoint": None,
                "extension": ".tif",
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
        (
            "openhcsdata",
            "H12_s010_w2_z000_t000.tif",  # 0 is a value, not "missing"
            {
                "well": "H12",
                "site": 10,
                "channel": 2,
                "z_index": 0,
                "timepoint": 0,
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
    rebuilt = handler.construct_filename(**parsed)
    assert rebuilt == Path(filename).name
    assert handler.parse_filename(rebuilt) == parsed


@pytest.mark.parametrize(
    ("microscope", "components", "filename"),
    [
        ("imagexpress", {"well": "A01", "site": 1, "channel": 1}, "A01_s1_w1.tif"),
        (
            "opera_phenix",
            {"well": "C05", "site": 2, "channel": 3},
            "r03c05f02p01-ch3sk1fk1fl1.tiff",
        ),
        ("openhcsdata", {"well": "A01", "site": 1, "channel": 1}, "A01_s001_w1_z001_t001.tif"),
    ],
)
def test_construct_fills_defaults(
    microscope: str, components: dict[str, object], filename: str
) -> None:
    handler = hs.MICROSCOPE_HANDLERS[microscope]()
    assert handler.construct_filename(**components) == filename
    parsed = handler.parse_filename(filename)
    assert parsed is not None
    assert {k: parsed[k] for k in components} == components


@pytest.mark.parametrize("microscope", ["imagexpress", "opera_phenix", "openhcsdata"])
def test_foreign_names_do_not_parse(microscope: str) -> None:
    handler = hs.MICROSCOPE_HANDLERS[microscope]()
    for name in ("notes.txt", "A01.tif", "r01c01-ch1.tiff", "", "a01_s1_w1.tif", "A01_s1_w1"):
        assert handler.parse_filename(name) is None, name
    with pytest.raises(ValueError, match="missing"):
        handler.construct_filename(well="A01")


def test_each_microscope_rejects_the_others_names() -> None:
    samples = {
        "imagexpress": "A01_s1_w2_z3.tif",
        "opera_phenix": "r01c01f01p01-ch1sk1fk1fl1.tiff",
    }
    for microscope, name in samples.items():
        for other in EXPECTED_KEYS["microscope_handler"] - {microscope}:
            assert hs.MICROSCOPE_HANDLERS[other]().parse_filename(name) is None, (other, name)


def test_opera_phenix_rows_beyond_z() -> None:
    handler = hs.MICROSCOPE_HANDLERS["opera_phenix"]()
    parsed = handler.parse_filename("r27c48f01p01-ch1sk1fk1fl1.tiff")
    assert parsed is not None and parsed["well"] == "AA48"
    assert handler.construct_filename(**parsed) == "r27c48f01p01-ch1sk1fk1fl1.tiff"
    with pytest.raises(ValueError, match="not a well"):
        handler.construct_filename(well="1A", site=1, channel=1)


def test_omero_handler_names_work_without_omero_py() -> None:
    """The class is importable (and its names usable) even where the registry leaves it out."""
    from openhcs_plugins.microscopes.omero import OMEROHandler

    handler = OMEROHandler()
    name = handler.construct_filename(image_id=42, well="B03", site=2, channel=1, z_index=0)
    assert name == "omero_42_B03_s2_w1_z0_t1"
    assert handler.parse_filename(name) == {
        "image_id": 42,
        "well": "B03",
        "site": 2,
        "channel": 1,
        "z_index": 0,
        "timepoint": 1,
        "extension": "",
    }
    assert handler.parse_filename("A01_s1_w1.tif") is None


# -- metadata handlers --------------------------------------------------------------------

HTD = """\
"HTSInfoFile", Version 1.0
"Description", "Cell painting, plate 3"
"PlateType", 6
"TimePoints", 1
"ZSeries", TRUE
"ZSteps", 5
"XWells", 24
"YWells", 16
"WellsSelection1", FALSE, TRUE, TRUE
"Sites", TRUE
"XSites", 3
"YSites", 2
"SiteSelection1", TRUE, TRUE, TRUE
"Waves", TRUE
"NWavelengths", 2
"WaveName1", "DAPI"
"WaveName2", "FITC"
"EndFile"
"""


def test_imagexpress_htd_metadata(tmp_path: Path) -> None:
    (tmp_path / "plate3.HTD").write_text(HTD)
    (tmp_path / "A01_s1_w1.tif").write_bytes(b"")
    meta = hs.METADATA_HANDLERS["imagexpress"]()
    path = meta.find_metadata_file(tmp_path)
    assert path == tmp_path / "plate3.HTD"
    parsed = meta.parse_metadata(path.read_text())
    assert parsed["grid"] == (3, 2)
    assert parsed["plate"] == (24, 16)
    assert parsed["channels"] == {1: "DAPI", 2: "FITC"}
    assert parsed["z_steps"] == 5
    raw = parsed["raw"]
    assert raw["Description"] == "Cell painting, plate 3"  # commas inside quotes kept
    assert raw["WellsSelection1"] == [False, True, True]
    assert raw["HTSInfoFile"] == "Version 1.0"
    assert "EndFile" not in raw
    assert meta.find_metadata_file(tmp_path / "missing") is None
    (tmp_path / "plate3.HTD").unlink()
    assert meta.find_metadata_file(tmp_path) is None


INDEX_XML = """\
<?xml version="1.0" encoding="utf-8"?>
<EvaluationInputData xmlns="http://www.perkinelmer.com/PEHH/HarmonyV5" Version="2">
  <Plates><Plate><PlateID>P1</PlateID><PlateRows>16</PlateRows><PlateColumns>24</PlateColumns>
  </Plate></Plates>
  <Maps><Map>
    <Entry ChannelID="1"><ChannelName>HOECHST 33342</ChannelName>
      <ImageResolutionX Unit="m">6.5E-07</ImageResolutionX></Entry>
    <Entry ChannelID="2"><ChannelName>Alexa 488</ChannelName>
      <ImageResolutionX Unit="m">6.5E-07</ImageResolutionX></Entry>
  </Map></Maps>
  <Images>
{images}
  </Images>
</EvaluationInputData>
"""


def _phenix_images() -> str:
    """2 x 2 fields, 2 planes, 1 channel of well r01c01."""
    out = []
    for field, (x, y) in enumerate([(0, 0), (1, 0), (0, 1), (1, 1)], start=1):
        for plane in (1, 2):
            out.append(
                f"<Image><URL>r01c01f{field:02d}p{plane:02d}-ch1sk1fk1fl1.tiff</URL>"
                f"<Row>1</Row><Col>1</Col><FieldID>{field}</FieldID><PlaneID>{plane}</PlaneID>"
                f'<ChannelID>1</ChannelID><PositionX Unit="m">{x * 4.2e-4}</PositionX>'
                f'<PositionY Unit="m">{y * 4.2e-4}</PositionY></Image>'
            )
    return "\n".join(out)


@pytest.mark.parametrize("filename", ["Index.xml", "Index.idx.xml"])
def test_opera_phenix_index_xml(tmp_path: Path, filename: str) -> None:
    (tmp_path / filename).write_text(INDEX_XML.replace("{images}", _phenix_images()))
    meta = hs.METADATA_HANDLERS["opera_phenix"]()
    path = meta.find_metadata_file(tmp_path)
    assert path == tmp_path / filename
    assert meta.parse_metadata(path.read_text()) == {
        "plate": (24, 16),
        "channels": {1: "HOECHST 33342", 2: "Alexa 488"},
        "fields": [1, 2, 3, 4],
        "planes": [1, 2],
        "grid": (2, 2),
        "pixel_size_um": 0.65,
    }
    assert meta.find_metadata_file(tmp_path / "nowhere") is None


def test_opera_phenix_index_xml_minimal_and_broken() -> None:
    meta = hs.METADATA_HANDLERS["opera_phenix"]()
    parsed = meta.parse_metadata("<EvaluationInputData/>")
    assert parsed["channels"] == {} and parsed["grid"] is None and parsed["plate"] == (None, None)
    with pytest.raises(SyntaxError):  # xml.etree.ElementTree.ParseError
        meta.parse_metadata("<not xml")


def test_openhcs_metadata_json(tmp_path: Path) -> None:
    document = {
        "subdirectories": {
            "raw": {"main": False, "grid_dimensions": [1, 1]},
            "images": {
                "main": True,
                "microscope_handler_name": "imagexpress",
                "grid_dimensions": [3, 2],
                "pixel_size": 0.65,
                "channels": {"1": "DAPI"},
            },
        }
    }
    (tmp_path / "openhcs_metadata.json").write_text(json.dumps(document))
    meta = hs.METADATA_HANDLERS["openhcsdata"]()
    path = meta.find_metadata_file(tmp_path)
    assert path == tmp_path / "openhcs_metadata.json"
    parsed = meta.parse_metadata(path.read_text())
    assert parsed["grid_dimensions"] == [3, 2]
    assert parsed["pixel_size"] == 0.65
    assert parsed["channels"] == {"1": "DAPI"}
    assert parsed["subdirectories"] == document["subdirectories"]
    assert meta.parse_metadata('{"pixel_size": 1.3}') == {"pixel_size": 1.3}
    with pytest.raises(ValueError):
        meta.parse_metadata("[1, 2]")
    assert meta.find_metadata_file(tmp_path / "nowhere") is None


# -- storage backends ---------------------------------------------------------------------


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


# -- ZMQ servers, libraries, formats ------------------------------------------------------


def test_zmq_servers_answer_messages() -> None:
    server = hs.ZMQ_SERVERS["execution"]()
    assert server.requires_gpu is False
    assert server.handle({"type": "ping"}) == {"type": "pong", "server": "execution", "port": 7777}
    accepted = server.handle({"type": "execute", "pipeline": "p"})
    assert accepted["type"] == "accepted"
    assert server.handle({"type": "job_status", "job": accepted["job"]})["state"] == "queued"
    assert server.handle({"type": "job_status", "job": "nope"})["type"] == "error"
    status = server.handle({"type": "status"})
    assert status["type"] == "status" and status["server"] == "execution"
    assert status["handled"] == 5 and status["uptime"] >= 0
    assert server.handle({"type": "nope"})["type"] == "error"
    assert server.handle("garbage")["type"] == "error"
    assert server.handle({"no": "type"})["type"] == "error"


@pytest.mark.parametrize("key", ["napari", "fiji"])
def test_viewer_servers(key: str) -> None:
    cls = hs.ZMQ_SERVERS[key]
    assert cls.requires_gpu is True
    viewer = cls(port=6000)
    assert viewer.handle({"type": "ping"}) == {"type": "pong", "server": key, "port": 6000}
    assert viewer.handle({"type": "show", "name": "nuclei"}) == {
        "type": "shown",
        "layer": "nuclei",
        "layers": 1,
    }
    assert cls().port == cls.default_port


def test_zmq_servers_speak_json_bytes() -> None:
    server = hs.ZMQ_SERVERS["execution"]()
    assert json.loads(server.handle_bytes(b'{"type": "ping"}'))["type"] == "pong"
    assert json.loads(server.handle_bytes(b"\xff not json"))["type"] == "error"
    assert json.loads(server.handle_bytes(b"[1]"))["type"] == "error"


def test_library_registries() -> None:
    openhcs = hs.LIBRARY_REGISTRIES["openhcs"]
    assert openhcs.is_available() and openhcs.requires_gpu is False
    funcs = openhcs().functions()
    assert funcs["normalize"]([2.0, 4.0, 6.0]) == [0.0, 0.5, 1.0]
    assert funcs["normalize"]([3.0, 3.0]) == [0.0, 0.0] and funcs["normalize"]([]) == []
    assert funcs["threshold"]([1.0, 5.0], 3.0) == [False, True]
    assert funcs["mean"]([1.0, 2.0, 6.0]) == 3.0
    assert {
        k: hs.LIBRARY_REGISTRIES[k].requires_gpu for k in ("skimage", "cupy", "pyclesperanto")
    } == {
        "skimage": False,
        "cupy": True,
        "pyclesperanto": True,
    }
    for key in ("skimage", "cupy", "pyclesperanto"):
        lib = hs.LIBRARY_REGISTRIES[key]
        assert lib.library_module == key
        assert lib.is_available() == (importlib.util.find_spec(key) is not None)
        if lib.is_available():
            assert all(callable(f) for f in lib().functions().values())
        else:
            with pytest.raises(ImportError, match=rf"{key!r} is not installed \(pip install"):
                lib().functions()


def test_microscope_formats() -> None:
    cx5 = hs.MICROSCOPE_FORMAT_REGISTRIES["EDDU_CX5"]()
    text = "\ufeff\n[CX5 Export]\nPlate=P1\nWells=96\nPixelSize=0.65\nChannels=DAPI, GFP\n; c\n"
    assert cx5.matches(text)
    assert cx5.read(text) == {
        "Plate": "P1",
        "Wells": 96,
        "PixelSize": 0.65,
        "Channels": ["DAPI", "GFP"],
    }
    mx = hs.MICROSCOPE_FORMAT_REGISTRIES["EDDU_metaxpress"]()
    summary = "MetaXpress Plate Summary\nPlate Name\tP2\nSites\t4\nOffset\t-3\nnoise line\n"
    assert mx.matches(summary) and not mx.matches(text) and not cx5.matches(summary)
    assert mx.read(summary) == {"Plate Name": "P2", "Sites": 4, "Offset": -3}
    assert not cx5.matches("[CX5 Export] trailing") and not cx5.matches("")
    with pytest.raises(ValueError):
        cx5.read(summary)
    with pytest.raises(ValueError):
        mx.read(text)
