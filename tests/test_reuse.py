"""The ``reads`` section: judged per stored record, or carried over by a writer.

``plain_reads`` says per record whether it may be taken as it is while its inputs are
unchanged (reusable as stored, every reference into a checked module), with its file rows
and its highest folder row.  A writer that carries records over with their rows moved (an
install's, an uninstall's) carries that judgment with them (``carried=``) and takes the
rows from the record as written; the end-to-end tests (tests/test_extended.py,
tests/test_reduced.py) compare every such document, ``reads`` included, with a full
discovery's.  These pin the rules themselves on small stored records.
"""

from __future__ import annotations

from typing import Any

from openhcs_registry._cold._reuse import carried_reads, plain_reads, stored_reads


def _files(count: int) -> list[list[Any]]:
    return [[f"/site/f{i}.py", 1, 2, 3, 4] for i in range(count)]


def _records() -> list[dict[str, Any]]:
    return [
        {  # its module's file among its rows, its reference into a checked module
            "name": "a",
            "origin": "entry_point",
            "module": "ma",
            "files": [0, 1],
            "offers": [["ka", "ma:A", False]],
        },
        {  # a reference into a module no row checks: not to be taken as it is
            "name": "b",
            "origin": "entry_point",
            "module": "mb",
            "files": [2],
            "dirs": [0],
            "offers": [["kb", "elsewhere:B", False]],
        },
        {"name": "<environment>", "origin": "listing", "module": None, "files": [1]},
    ]


MODULES = {"ma": 0, "mb": 2}


def test_each_record_is_judged_by_the_reuse_rules() -> None:
    assert plain_reads(_records(), MODULES, _files(3)) == [[[0, 1], None, [1]], [-1, 0, -1]]


def test_a_module_whose_file_is_missing_is_not_checked() -> None:
    files = _files(3)
    files[0][1:5] = [None, None, None, None]  # ma's file recorded as missing
    assert plain_reads(_records(), MODULES, files)[0][0] is None


def test_a_carried_record_keeps_its_judgment_and_takes_its_rows_as_written() -> None:
    """Moved rows come from the record; the judgment is not made again (the same record
    judged afresh here would be taken: carried as not, it is not); the highest folder
    row is carried, or found again (-2) when the folder rows may have moved."""
    stored = _records()
    moved = {**stored[0], "files": [3, 4], "dirs": [2]}
    records = [moved, stored[1], stored[2]]
    carried: list[tuple[bool, int] | None] = [(False, -2), (True, 7), None]
    rows, folders = plain_reads(records, MODULES, _files(5), carried)
    assert rows == [None, [2], [1]]
    assert folders == [2, 7, -1]


def test_carried_reads_maps_a_writers_records_to_the_stored_ones() -> None:
    stored = _records()
    reads = plain_reads(stored, MODULES, _files(3))
    moved = {**stored[0], "files": [5, 6]}
    fresh = {"name": "new", "origin": "entry_point", "module": "mn", "files": [3, 4]}
    records = [fresh, moved, stored[1], stored[2]]
    assert carried_reads(reads, records, [-1, 0, 1, -1], stored) == [
        None,
        (True, -2),  # another dict than the stored record: its folder row found again
        (False, 0),  # the stored record itself: its highest folder row carried
        None,
    ]
    assert carried_reads(None, records, [-1, 0, 1, -1], stored) is None


def test_stored_reads_of_another_shape_is_none() -> None:
    records = _records()
    reads = plain_reads(records, MODULES, _files(3))
    assert stored_reads({"plugins": records, "reads": reads}) == reads
    for bad in (None, [], [reads[0]], [reads[0][:2], reads[1]], [reads[0], "x"]):
        assert stored_reads({"plugins": records, "reads": bad}) is None
