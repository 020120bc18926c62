"""Reading and writing cache documents (:mod:`openhcs_registry._fileio`): private files, atomic
writes, the checksum, and hostile files (a FIFO) refused without blocking.
"""

from __future__ import annotations

import logging
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from support import World, two_plugin_world

from openhcs_registry._cache import CACHE_VERSION
from openhcs_registry._fileio import encode_document


# -- safety ----------------------------------------------------------------------------------
def test_files_private_and_written_atomically(world: World) -> None:
    two_plugin_world(world)
    list(world.registry())
    assert stat.S_IMODE(world.cache_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(world.cache_file.stat().st_mode) == 0o600
    left = sorted(p.name for p in world.cache_dir.iterdir())
    assert left == [
        "entry_points_index.json",
        world.cache_file.name,
    ]  # no temp left (the index is ours too)


def test_a_fifo_in_place_of_the_cache_file_is_refused_without_blocking(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    two_plugin_world(world)
    reg = world.registry()
    list(reg)
    world.cache_file.unlink()
    os.mkfifo(world.cache_file, 0o600)  # opening it for reading would wait for a writer
    reg.reset()
    with caplog.at_level(logging.WARNING, logger="openhcs_registry"):
        assert sorted(reg) == ["alpha", "beta"]
    assert reg.source == "fresh"
    assert any("not a regular file" in r.getMessage() for r in caplog.records)


def test_checksum_is_the_documented_int_hash_and_catches_every_short_burst() -> None:
    from openhcs_registry._fileio import checksum

    data = encode_document({"cache_version": CACHE_VERSION, "items": {"a": "b" * 300}})
    modulus = sys.hash_info.modulus
    assert checksum(data) == int.from_bytes(data, "little") % modulus
    for bit in range(0, len(data) * 8, 7):  # every flipped bit changes it
        flipped = bytearray(data)
        flipped[bit // 8] ^= 1 << (bit % 8)
        assert checksum(bytes(flipped)) != checksum(data)
    for cut in range(1, len(data)):  # so does every truncation
        assert checksum(data[:cut]) != checksum(data)


def test_a_document_written_in_parts_is_the_encoded_document(tmp_path: object) -> None:
    """write_document writes the buffers encode_parts gives one after the other: the file
    is byte for byte encode_document's result, reads back whole and lazily (the cold part
    then unread, read on parse as the bytes encode_parts handed out, its sums verified)."""
    from pathlib import Path

    from openhcs_registry._fileio import encode_parts, parse_cold, read_document, write_document

    doc = {
        "cache_version": CACHE_VERSION,
        "env": {"settings": {"X": ""}, "dists": {"/site": ["a-1.dist-info"]}},
        "items": {"k": {"ref": "m:C", "p": 0}},
        "cold": {"plugins": [{"name": "p", "files": [0]}], "files": [["/m.py", 1, 2, 3, 4]]},
    }
    path = Path(str(tmp_path)) / "doc.json"
    assert write_document(path, doc)
    data = path.read_bytes()
    assert data == encode_document(doc)
    chunks, cold, table = encode_parts(doc)
    assert len(chunks) > 1 and b"".join(chunks) == data
    assert cold is not None and bytes(cold) in data
    expected = {**doc["cold"], "recat": [1, len(b'[{"name":"p","files":[0]}]')]}
    whole = read_document(path)
    assert whole is not None and whole["cold"] == expected and whole["items"] == doc["items"]
    lazy = read_document(path, lazy=True)
    assert lazy is not None and bytes(lazy["cold"].read()) == bytes(cold)
    assert lazy["coldat"] == table and parse_cold(lazy) == expected


def test_each_cold_section_is_read_alone_and_written_again_as_it_is(tmp_path: Path) -> None:
    """The cold part is written section by section, each with its own sum: one section
    parses alone (the records one by one, where the record offsets say), a damaged
    section is found when it is read and only then, a section carried over as bytes is
    written again byte for byte, and a table that does not tile the part is refused."""
    import orjson

    from openhcs_registry._fileio import (
        Encoded,
        encode_parts,
        parse_cold,
        parse_section,
        read_document,
        section_bytes,
        write_document,
    )

    records = [{"name": f"p{i}", "files": [i], "note": "é" * i} for i in range(4)]
    doc = {
        "cache_version": CACHE_VERSION,
        "env": {"settings": {}},
        "items": {"k": {"ref": "m:C", "p": 0}},
        "cold": {"files": [[1, 2], [3, 4], [5, 6], [7, 8], []], "plugins": records, "h": [3]},
    }
    path = tmp_path / "doc.json"
    assert write_document(path, doc)
    lazy = read_document(path, lazy=True)
    assert lazy is not None and list(lazy["coldat"]) == ["files", "plugins", "h", "recat"]
    assert parse_section(lazy, "files") == doc["cold"]["files"]
    offsets = parse_section(lazy, "recat")
    data = bytes(section_bytes(lazy, "plugins").data)
    assert len(offsets) == len(records) + 1 and offsets[-1] == len(data)
    for i, record in enumerate(records):
        assert orjson.loads(data[offsets[i] : offsets[i + 1] - 1]) == record
    with pytest.raises(KeyError):
        parse_section(lazy, "nothing")

    # carried over: the sections of the document read, one of them new
    again = {
        **doc,
        "cold": {
            "files": [[0, 0], [1, 1], [2, 2], [3, 3], []],
            "plugins": section_bytes(lazy, "plugins"),
            "h": section_bytes(lazy, "h"),
            "recat": section_bytes(lazy, "recat"),
        },
    }
    carried = b"".join(encode_parts(again)[0])
    fresh = b"".join(
        encode_parts({**doc, "cold": {**doc["cold"], "files": again["cold"]["files"]}})[0]
    )
    assert carried == fresh
    assert type(again["cold"]["plugins"]) is Encoded

    # one damaged byte in the records: the files section still reads, the records do not
    written = path.read_bytes()
    at = written.index(b'"p2"')
    path.write_bytes(written[:at] + b'"q2"' + written[at + 4 :])
    os.chmod(path, 0o600)
    lazy = read_document(path, lazy=True)
    assert lazy is not None
    assert parse_section(lazy, "files") == doc["cold"]["files"]
    with pytest.raises(ValueError, match="checksum"):
        parse_section(lazy, "plugins")
    with pytest.raises(ValueError, match="checksum"):
        parse_cold(lazy)

    # a table that leaves bytes out (or names them otherwise) is refused
    assert write_document(path, doc)
    lazy = read_document(path, lazy=True)
    assert lazy is not None
    table = lazy["coldat"]
    for bad in (
        {**table, "files": [table["files"][0] + 1, *table["files"][1:]]},
        {"plugins" if k == "files" else k: v for k, v in table.items()},
        {k: v for k, v in table.items() if k != "h"},
    ):
        lazy["coldat"] = bad
        with pytest.raises(ValueError, match=r"sections|table"):
            parse_cold(lazy)


@pytest.mark.parametrize(
    "records",
    [
        [{"name": f"p{i}", "files": [i], "note": '},{"name":' * i} for i in range(5)],
        # a nested object that looks like the next record: one marker too many
        [
            {"name": "a", "offers": [["k", "m:C", False, {"kind": "x"}, {"name": "s"}]]},
            {"name": "b"},
        ],
        [{"origin": "x", "name": "first key is not the name"}, {"name": "b"}],
        [{"name": "only"}],
        [],
    ],
    ids=["plain", "nested-lookalike", "name-not-first", "one", "none"],
)
def test_each_record_is_found_at_its_offset(records: list[dict[str, Any]]) -> None:
    """The records are dumped as one list; the offsets are taken from where one record
    follows another when that provably finds each one, else each record is dumped alone:
    either way every offset slices out exactly its record, and the list is valid JSON."""
    import orjson

    from openhcs_registry._fileio import _records_encoded

    data, offsets = _records_encoded(records)
    assert orjson.loads(data) == records
    assert len(offsets) == len(records) + 1 and offsets[-1] == len(data)
    for i, record in enumerate(records):
        assert orjson.loads(data[offsets[i] : offsets[i + 1] - 1]) == record


def _registry_doc(size: int = 3) -> dict[str, Any]:
    return {
        "cache_version": CACHE_VERSION,
        "env": {"settings": {"X": ""}, "dists": {"/site": ["a-1.dist-info"]}},
        "items": {f"k{i}": {"ref": f"m{i}:C", "p": i} for i in range(size)},
        "cold": {"plugins": [{"name": f"p{i}", "files": [i]} for i in range(size)]},
    }


@pytest.mark.parametrize("size", [5000, 20])
def test_a_lazy_read_reads_the_warm_part_alone(tmp_path: Path, size: int) -> None:
    """The head says where the warm part ends: a lazy read checks and parses those bytes
    only, whatever the cold part holds; the cold part is read, and its own sum checked,
    when it is parsed, and a large document replaced meanwhile is refused as replaced (a
    small one is read whole at once: its cold part is the one read with it)."""
    from openhcs_registry._fileio import (
        ColdPart,
        DocumentReplaced,
        parse_cold,
        read_document,
        write_document,
    )

    doc = _registry_doc(size)
    path = tmp_path / "doc.json"
    assert write_document(path, doc)
    data = path.read_bytes()
    at = data.index(b',"cold":')
    damaged = data[: at + 40] + b"#" + data[at + 41 :]  # one byte of the cold part
    path.write_bytes(damaged)
    os.chmod(path, 0o600)
    lazy = read_document(path, lazy=True)
    assert lazy is not None and lazy["items"] == doc["items"]
    assert type(lazy["cold"]) is ColdPart and lazy["cold"].start == at
    with pytest.raises(ValueError, match="checksum"):
        parse_cold(lazy)
    with pytest.raises(ValueError):
        read_document(path)  # a whole read parses the cold part too
    assert write_document(path, doc)
    lazy = read_document(path, lazy=True)
    assert lazy is not None
    assert (len(path.read_bytes()) > 1 << 16) == (size == 5000)
    assert write_document(path, _registry_doc(5))  # replaced before its cold part is read
    if size == 5000:
        with pytest.raises(DocumentReplaced):
            parse_cold(lazy)
    else:
        assert parse_cold(lazy)["plugins"] == doc["cold"]["plugins"]


@pytest.mark.parametrize("power", [4, 5])
def test_a_warm_part_whose_length_crosses_a_power_of_ten_reads_back(
    tmp_path: Path, power: int
) -> None:
    """The head names the warm part's length, its own digits included: documents whose
    warm part ends near 10**power bytes (the head's length gaining a digit as it is
    worked out) read back, lazily and whole, with their items (once, 10000 was written
    for 10001 bytes: every start found a checksum mismatch and rebuilt the document)."""
    from openhcs_registry._fileio import _warm_head, read_document, write_document

    path = tmp_path / "doc.json"
    lengths = set()
    base = _registry_doc(1)
    for pad in range(10**power - 260, 10**power - 120):
        doc = {**base, "items": {"k": {"ref": "m:C", "p": 0, "pad": "x" * pad}}}
        assert write_document(path, doc)
        lengths.add(_warm_head(path.read_bytes()[:64])[1])  # type: ignore[index]
        for lazy in (True, False):
            read = read_document(path, lazy=lazy)
            assert read is not None and read["items"] == doc["items"], (pad, lazy)
    assert min(lengths) < 10**power <= max(lengths)  # (the range crossed the boundary)


def test_a_large_warm_part_parsed_in_place_is_the_one_a_copy_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large document's warm part is parsed where it was read (the fields after the
    environment section made one JSON object by two braces, no copy): the fields a copy
    gives where ``os.readv`` is missing, and a whole read's; the buffer is left as read."""
    from openhcs_registry._fileio import (
        _parse_in_place,
        _warm_head,
        parse_env,
        read_document,
        write_document,
    )

    path = tmp_path / "doc.json"
    assert write_document(path, _registry_doc(5000))
    data = path.read_bytes()
    found = _warm_head(data[:96])
    assert found is not None
    buffer = bytearray(data[: found[1] + 1])
    direct = _parse_in_place(buffer, found[1])
    assert direct is not None and buffer == data[: found[1] + 1]  # (the in-place path ran)
    in_place = read_document(path, lazy=True)
    whole = read_document(path)
    monkeypatch.delattr(os, "readv", raising=False)
    copied = read_document(path, lazy=True)
    assert in_place is not None and copied is not None and whole is not None
    del in_place["cold"], copied["cold"]  # (where each would read its cold part)
    assert in_place == copied == direct
    assert in_place["cache_version"] == CACHE_VERSION and in_place["items"] == whole["items"]
    assert parse_env(in_place) == whole["env"]
    dangling = bytearray(b'{"cache_version":10,"envlen":2,"env":{},,')  # no field after it
    assert _parse_in_place(dangling, len(dangling) - 1) is None  # (a copy refuses it too)


@pytest.mark.parametrize("where", ["length", "sum", "body"])
def test_a_damaged_head_or_warm_part_is_refused(tmp_path: Path, where: str) -> None:
    """A changed digit of the head's length or sum, or a changed byte of the warm part, is
    a refused document (ValueError), never another answer."""
    from openhcs_registry._fileio import read_document, write_document

    path = tmp_path / "doc.json"
    assert write_document(path, _registry_doc(50))
    data = bytearray(path.read_bytes())
    head = data.index(b',"warm":[') + len(b',"warm":[')
    if where == "length":
        at = head
    elif where == "sum":
        at = data.index(b",", head) + 2
    else:
        at = data.index(b'"k7"') + 2
    data[at] = ord("9") if data[at] != ord("9") else ord("1")
    path.write_bytes(bytes(data))
    os.chmod(path, 0o600)
    with pytest.raises(ValueError):
        read_document(path, lazy=True)
    with pytest.raises(ValueError):
        read_document(path)


def test_warm_checksum_counts_the_length() -> None:
    """Trailing zero bytes (which an integer of the bytes would not see) change the sum,
    as does a byte moved across a chunk boundary."""
    from openhcs_registry._fileio import warm_checksum

    base = b"x" * 40000
    assert warm_checksum(base) != warm_checksum(base + b"\0")
    assert warm_checksum(base + b"\0") != warm_checksum(base + b"\0\0")
    moved = base[:16383] + b"y" + base[16384:]
    assert warm_checksum(moved) != warm_checksum(base[:16384] + b"y" + base[16385:])
    assert warm_checksum(base) == warm_checksum(memoryview(base))
