"""Catalogue documents (:mod:`openhcs_registry.catalogue`): valid while every recorded input is,
and never an error when they are not, only a reason to rebuild.

Real files and folders in a temporary folder; each change of one input makes the document
stale, naming that input.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from openhcs_registry import _environment, catalogue


def _reload(path: Path) -> tuple[object, str]:
    _environment.forget()  # a new burst of reads: look at the files afresh
    return catalogue.load(path, "demo", "one")


@pytest.fixture
def saved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, Path, Path]:
    """A document recording one file, one folder's listing, one path's presence, one variable."""
    source = tmp_path / "source.py"
    source.write_text("def f(): ...\n")
    folder = tmp_path / "icd"
    folder.mkdir()
    (folder / "a.icd").write_text("")
    device = tmp_path / "device"
    monkeypatch.setenv("DEMO_CATALOGUE_SWITCH", "on")
    record = catalogue.InputRecord()
    record.file(str(source))
    record.folder(str(folder))
    record.presence(str(device))
    record.variable("DEMO_CATALOGUE_SWITCH")
    path = catalogue.catalogue_file("demo", "one")
    assert catalogue.save(path, "demo", "one", {"entries": {"f": "def f()"}}, record)
    return path, source, folder, device


def test_a_saved_document_is_valid_until_an_input_changes(
    saved: tuple[Path, Path, Path, Path],
) -> None:
    path, source, _, _ = saved
    assert path.parent == catalogue.catalogue_file("other", "two").parent  # the cache folder
    doc, why = _reload(path)
    assert why == "valid" and doc is not None and doc["entries"] == {"f": "def f()"}  # type: ignore[index]
    assert catalogue.load(path, "demo", "another") == (None, "not this catalogue")

    source.write_text("def f(): ...\ndef g(): ...\n")
    assert _reload(path) == (None, f"stale: {source} changed")


@pytest.mark.parametrize("change", ["folder", "presence", "variable"])
def test_each_kind_of_input_is_watched(
    saved: tuple[Path, Path, Path, Path], monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    path, _, folder, device = saved
    assert _reload(path)[1] == "valid"
    if change == "folder":
        (folder / "b.icd").write_text("")
        expected = f"stale: contents of {folder} changed"
    elif change == "presence":
        device.write_text("")
        expected = f"stale: {device} appeared"
    else:
        monkeypatch.setenv("DEMO_CATALOGUE_SWITCH", "off")
        expected = "stale: environment variable DEMO_CATALOGUE_SWITCH changed"
    assert _reload(path) == (None, expected)


def test_missing_damaged_or_foreign_documents_are_reasons_not_errors(
    saved: tuple[Path, Path, Path, Path],
) -> None:
    path, _, _, _ = saved
    assert catalogue.load(path.with_name("nothing.json"), "demo", "one") == (None, "missing")
    path.write_bytes(b'{"cache_version": 1, "kind": "demo"')  # cut short: the checksum fails
    os.chmod(path, 0o600)
    doc, why = _reload(path)
    assert doc is None and why.startswith("unusable")
    assert catalogue.changed_input(None) == "no inputs recorded"
    assert catalogue.changed_input({"environment": catalogue.environment_header()}) == (
        "malformed inputs"
    )


def test_nothing_is_written_when_caching_is_disabled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENHCS_DISABLE_REGISTRY_CACHE", "1")
    path = catalogue.catalogue_file("demo", "off")
    assert catalogue.save(path, "demo", "off", {}, catalogue.InputRecord()) is False
    assert not path.exists()
