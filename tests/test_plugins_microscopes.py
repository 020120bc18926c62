"""The built-in microscope and metadata handlers (:mod:`openhcs_plugins.microscopes`).

Real files in temp folders; no mocks.  omero-py is expected to be missing here: the tests that
depend on it adapt to what ``find_spec`` says is installed.
"""

from __future__ import annotations

import json
from pathlib import Path

import openhcs_hookspecs as hs
import pytest
from plugins_support import (
    EXPECTED_KEYS,
    HAS_OMERO,
    _fresh_registries,
)

from openhcs_registry import FailureKind

__all__ = ["_fresh_registries"]


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
