"""The entry-point index reads declarations fast and still agrees with importlib.metadata.

``_contracts.build_index`` runs again whenever a distribution is installed, over every
distribution of the environment.  It reads each ``entry_points.txt`` as bytes and parses only
the files that mention the ``openhcs`` group family at all, and it tests for a folder only
when a declaration is missing.  These tests compare its answer with ``importlib.metadata`` on
layouts where those shortcuts could go wrong: CRLF and CR line ends, a byte-order mark,
invalid UTF-8 next to a section header, spaces inside the header brackets, a file-style
``.egg-info`` and a folder without a declaration shadowing a later one of the same name, and
look-alike groups (``openhcs_bench``, ``OPENHCS``) that are not of the family.
"""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson  # noqa: F401  (imported before sys.path is narrowed: the index is written)
import pytest

from openhcs_registry import _contracts, _environment, settings
from openhcs_registry._cold import _entrypoints


def _dist(site: Path, folder: str, raw: bytes | None, *, as_file: bool = False) -> None:
    name = folder.split("-")[0]
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n"
    if as_file:  # a PKG-INFO-style egg-info file, not a folder
        (site / folder).write_text(meta)
        return
    info = site / folder
    info.mkdir(parents=True)
    (info / ("PKG-INFO" if folder.endswith(".egg-info") else "METADATA")).write_text(meta)
    if raw is not None:
        (info / "entry_points.txt").write_bytes(raw)


def _site(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plain: int, family: tuple[str, ...]
) -> Path:
    """A site folder alone on ``sys.path``: *plain* distributions declaring only console
    scripts, and one declaring ``[openhcs] name = name_mod`` per name of *family*."""
    site = tmp_path / "site"
    site.mkdir()
    for i in range(plain):
        _dist(site, f"plain{i}-1.0.dist-info", f"[console_scripts]\np{i} = m{i}:main\n".encode())
    for name in family:
        _dist(site, f"{name}-1.0.dist-info", f"[openhcs]\n{name} = {name}_mod\n".encode())
    monkeypatch.setattr("sys.path", [str(site)])
    return site


@contextmanager
def _opened_declarations(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The paths of the ``entry_points.txt`` files ``os.open`` opens inside the block."""
    opened: list[str] = []
    real_open = os.open

    def spy(path: str, *args: object, **kwargs: object) -> int:
        if str(path).endswith("entry_points.txt"):
            opened.append(str(path))
        return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", spy)
    try:
        yield opened
    finally:
        monkeypatch.setattr(os, "open", real_open)


def _folders(paths: list[str]) -> list[str]:
    """The metadata folder of each declaration path."""
    return [os.path.basename(os.path.dirname(path)) for path in paths]


def _family(group: str) -> bool:
    return group == settings.INDEXED_GROUPS or group.startswith(settings.INDEXED_GROUPS + ".")


def _importlib_view() -> list[tuple[str, str, str, str]]:
    out = []
    groups = ("openhcs", "openhcs.settings", "openhcs.commands", "OPENHCS", "openhcs_bench")
    for ep in (ep for g in groups for ep in importlib.metadata.entry_points(group=g)):
        if _family(ep.group):
            assert ep.dist is not None
            out.append((ep.group, _entrypoints.canonical(ep.dist.name), ep.name, ep.value))
    return sorted(out)


def _index_view(index: dict[str, list[list[str]]]) -> list[tuple[str, str, str, str]]:
    return sorted(
        (group, _entrypoints.canonical(dist), name, value)
        for group, rows in index.items()
        for dist, name, value in rows
    )


def test_index_agrees_with_importlib_metadata(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    _dist(first, "crlf_dist-1.0.dist-info", b"[openhcs]\r\ncrlf = crlf_mod\r\n")
    _dist(first, "cr_dist-1.0.dist-info", b"[openhcs.settings]\rcr = cr_mod:S\r")
    _dist(first, "bom_dist-1.0.dist-info", b"\xef\xbb\xbf[other]\nx = y\n[openhcs]\nbom = bom_m\n")
    _dist(first, "lookalike-1.0.dist-info", b"[openhcs_bench]\nx = a\n[OPENHCS]\ny = b\n")
    _dist(first, "plain-1.0.dist-info", b"[console_scripts]\nplain = plain:main\n")
    _dist(first, "nodecl-1.0.dist-info", None)  # no declaration: shadows the later one
    _dist(second, "nodecl-2.0.dist-info", b"[openhcs]\nhidden = hidden_mod\n")
    _dist(second, "crlf_dist-3.0.dist-info", b"[openhcs]\nshadowed = other\n")  # first wins
    monkeypatch.setattr("sys.path", [str(first), str(second)])
    _environment.forget()
    expected = _importlib_view()
    ours = _index_view(_contracts.build_index())
    assert ours == expected
    # what a look-alike or plain file declares is not indexed; what the family declares is
    names = {row[2] for row in ours}
    assert {"crlf", "cr", "bom"} <= names
    assert not names & {"x", "y", "plain", "shadowed"}
    # the written index document is read back to the same answer in a later look
    _environment.forget()
    settings.forget_entry_points()
    assert _index_view(
        {g: [list(r) for r in settings.declared(g)] for g in {row[0] for row in ours}}
    ) == sorted(row for row in ours)


def _reference_index() -> list[tuple[str, str, str, str]]:
    """The index as the loop before the fast read built it (folder test first, text read)."""
    out = []
    seen: set[str] = set()
    for folder in _environment.search_path():
        for item in sorted(os.listdir(folder)):
            if not item.endswith((".dist-info", ".egg-info")):
                continue
            dist = item.rsplit(".", 1)[0].split("-", 1)[0]
            canonical = dist.lower().replace("_", "-").replace(".", "-")
            meta = os.path.join(folder, item)
            if not dist or canonical in seen or not os.path.isdir(meta):
                continue
            seen.add(canonical)
            text_path = os.path.join(meta, "entry_points.txt")
            if not os.path.exists(text_path):
                continue
            with open(text_path, encoding="utf-8", errors="replace") as handle:
                found = _contracts.parse_entry_points(handle.read())
            out += [(g, _entrypoints.canonical(dist), n, v) for g, n, v in found]
    return sorted(out)


def test_index_agrees_with_the_text_reading_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where importlib.metadata differs or fails (a file-style egg-info, spaces inside the
    brackets, invalid UTF-8), the index still answers as the text-reading loop did."""
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    _dist(first, "spaced-1.0.dist-info", b"[misc]\nk = v\n[ openhcs.commands ]\nsp = sp_mod:run\n")
    _dist(first, "flat-1.0.egg-info", None, as_file=True)  # a file, not a folder
    _dist(second, "flat-2.0.dist-info", b"[openhcs]\nflat = flat_mod\n")
    _dist(first, "nodecl-1.0.dist-info", None)
    _dist(second, "nodecl-2.0.dist-info", b"[openhcs]\nhidden = hidden_mod\n")
    raw = b"[misc]\nk = \xe2\x28\xa1\n[openhcs.commands]\nbad = bad_mod:run\xff\nok = m\r\n"
    _dist(first, "bad_utf8-1.0.dist-info", raw)
    _dist(first, "lookalike-1.0.dist-info", b"[openhcs_bench]\nx = a\n[OPENHCS]\ny = b\n")
    monkeypatch.setattr("sys.path", [str(first), str(second)])
    _environment.forget()
    expected = _reference_index()
    assert {row[2] for row in expected} == {"sp", "flat", "bad", "ok"}
    assert _index_view(_contracts.build_index()) == expected


def test_index_skips_unreadable_declarations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if hasattr(os, "getuid") and os.getuid() == 0:
        pytest.skip("root reads files whatever their mode")
    site = tmp_path / "site"
    site.mkdir()
    _dist(site, "locked-1.0.dist-info", b"[openhcs]\nlocked = locked_mod\n")
    _dist(site, "open_dist-1.0.dist-info", b"[openhcs]\nopen = open_mod\n")
    (site / "locked-1.0.dist-info" / "entry_points.txt").chmod(0)
    monkeypatch.setattr("sys.path", [str(site)])
    _environment.forget()
    assert [row[2] for row in _index_view(_contracts.build_index())] == ["open"]


@pytest.mark.parametrize(
    "raw",
    [
        b"[grp]\r\na = mod_a:obj\r\n",
        b"[grp]\ra = mod_a\r b = mod_b [extra]\r",
        b"\xef\xbb\xbf[other]\nx = y\n[grp]\na = mod_a\n",
        b"[grp]\na = mod_a\xff\nb = \xe2\x28\xa1mod\n\x0c[grp]\nc = mod_c\n",
        b"",
    ],
)
def test_scan_reads_declarations_as_a_text_read_would(tmp_path: Path, raw: bytes) -> None:
    """The discovery scan reads ``entry_points.txt`` as bytes (no text-mode file object):
    the entry points are those a text-mode read with replaced bad bytes gives."""
    site = tmp_path / "site"
    _dist(site, "some_dist-1.0.dist-info", raw)
    path = site / "some_dist-1.0.dist-info" / "entry_points.txt"
    with open(path, encoding="utf-8", errors="replace") as fh:
        text = fh.read()
    assert _entrypoints._read(str(path)) is not None
    expected = _entrypoints.parse_entry_points(text, "grp")
    found, _record = _entrypoints.scan([str(site)], "grp")
    assert [[ep.name, ep.value] for ep in found] == expected
    assert _entrypoints._read(str(site / "some_dist-1.0.dist-info")) is None  # a folder
    assert _entrypoints._read(str(site / "missing")) is None


def test_rebuild_reads_only_declarations_that_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rebuild (after any install) does not read again the declarations the previous index
    read, while their stat signature is unchanged: a plain one stays plain, a family one
    keeps its entries (from the previous index).  One edited in place to gain a family
    entry, a family one edited in place, and a new one are read and indexed."""
    site = _site(tmp_path, monkeypatch, 5, ("fam", "famed"))
    _environment.forget()
    assert [row[2] for row in _index_view(_contracts.build_index())] == ["fam", "famed"]

    # an in-place edit giving a plain declaration its first family entry, and an install
    edited = site / "plain2-1.0.dist-info" / "entry_points.txt"
    edited.write_bytes(edited.read_bytes() + b"[openhcs.settings]\nedited = ed_mod\n")
    _dist(site, "newdist-1.0.dist-info", b"[openhcs]\nnew = new_mod\n")
    famed = site / "famed-1.0.dist-info" / "entry_points.txt"
    famed.write_bytes(b"[openhcs]\nrenamed = famed_mod\n")  # a family declaration edited
    _environment.forget()
    with _opened_declarations(monkeypatch) as opened:
        rebuilt = _index_view(_contracts.build_index())
    assert sorted(_folders(opened)) == [
        "famed-1.0.dist-info",
        "newdist-1.0.dist-info",
        "plain2-1.0.dist-info",
    ]
    _environment.forget()
    assert rebuilt == _reference_index()
    assert {row[2] for row in rebuilt} == {"fam", "renamed", "edited", "new"}


def test_rebuild_with_the_caches_off_reads_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh discovery (caches off) takes nothing from an earlier index document."""
    site = tmp_path / "site"
    site.mkdir()
    _dist(site, "plain0-1.0.dist-info", b"[console_scripts]\np = m:main\n")
    monkeypatch.setattr("sys.path", [str(site)])
    _environment.forget()
    _contracts.build_index()
    monkeypatch.setenv("OPENHCS_DISABLE_REGISTRY_CACHE", "1")
    _environment.forget()
    with _opened_declarations(monkeypatch) as opened:
        _contracts.build_index()
    assert opened == [str(site / "plain0-1.0.dist-info" / "entry_points.txt")]


def test_previous_index_rows_of_the_wrong_shape_are_read_again() -> None:
    """A previous index's family rows are taken only when well-formed; any other row is left
    out (its declaration is then read again), never trusted or crashed on."""
    good = ["/site/a-1.0.dist-info/entry_points.txt", [1, 2, 3, 4], "a", [["openhcs", "a", "a"]]]
    bad_rows: list[object] = [
        "not a row",
        ["/p", [1, 2, 3], "d", []],  # a signature of the wrong length
        ["/p2", [1, 2, 3, 4], "d", [["openhcs", "x"]]],  # an entry of the wrong length
        ["/p3", [1, 2, 3, 4], "d", [["openhcs", "x", 7]]],  # a value that is not a string
        [42, [1, 2, 3, 4], "d", []],
    ]
    found = _contracts._family_declarations([good, *bad_rows])
    assert found == {good[0]: ([1, 2, 3, 4], [("openhcs", "a", "a")])}  # type: ignore[index]
    assert _contracts._family_declarations({"not": "a list"}) == {}


def test_a_cold_start_reads_each_declaration_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The discovery scan reads every ``entry_points.txt``; the index built next in the same
    process takes the bytes the scan read with the same stat signature instead of reading
    them again, and reads a declaration whose signature moved since."""
    site = _site(tmp_path, monkeypatch, 4, ("fam", "moved"))
    monkeypatch.setenv("OPENHCS_DISABLE_REGISTRY_CACHE", "1")  # no previous index to reuse
    _environment.forget()
    with _opened_declarations(monkeypatch) as opened:
        found, _record = _entrypoints.scan([str(site)], "openhcs")
        assert sorted(ep.name for ep in found) == ["fam", "moved"]
        assert len(opened) == 6
        moved = site / "moved-1.0.dist-info" / "entry_points.txt"
        moved.write_bytes(b"[openhcs]\nrenamed = moved_mod\n")  # changed after the scan read it
        _environment.forget()
        index = _contracts.build_index()
    assert _folders(opened[6:]) == ["moved-1.0.dist-info"]  # only the one whose signature moved
    assert _index_view(index) == _reference_index()
    assert {row[2] for row in _index_view(index)} == {"fam", "renamed"}
