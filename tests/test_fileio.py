"""Reading and writing cache documents (:mod:`openhcs_registry._fileio`): private files, atomic
writes, the checksum, and hostile files (a FIFO) refused without blocking.
"""

from __future__ import annotations

import logging
import os
import stat
import sys

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
    then as the bytes encode_parts handed out, its sum verified on parse)."""
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
    chunks, cold, coldsum = encode_parts(doc)
    assert len(chunks) > 1 and b"".join(chunks) == data
    assert cold is not None and bytes(cold) in data
    whole = read_document(path)
    assert whole is not None and whole["cold"] == doc["cold"] and whole["items"] == doc["items"]
    lazy = read_document(path, lazy=True)
    assert lazy is not None and bytes(lazy["cold"]) == bytes(cold)
    assert lazy["coldsum"] == coldsum and parse_cold(lazy) == doc["cold"]
