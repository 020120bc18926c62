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
