"""The writer's folder table: one row per folder, describing what every record that read it
read (openhcs_registry._cold._document._Tables).

A reused record brings its stored row (*carried*), a freshly loaded record the signature
and listing it took (*fresh*).  Both reading one folder, the row is the fresh state when it
agrees with each carried use, else a row no look finds unchanged.  Real folders; each row is
then judged by the warm check's own rule (``_cache._folder_unchanged``) and, for names,
by the reuse check's (``_reuse._Changes.name_changed``' delta).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openhcs_registry._cache import _folder_unchanged
from openhcs_registry._cold._document import _Tables
from openhcs_registry._cold._inputs import folder_sig, importable_names
from openhcs_registry._environment import file_stat


def _read(folder: Path) -> tuple[Any, list[str]]:
    """A fresh record's read of *folder*: its signature and importable names."""
    value, entries = folder_sig(str(folder))
    assert entries is not None
    return value, sorted(importable_names(entries))


def _stored(folder: Path) -> list[Any]:
    """The row a previous document stored for *folder* as it is now (with its names)."""
    value, names = _read(folder)
    return [str(folder), *value, names]


def _unchanged(row: list[Any]) -> bool:
    """The warm check's verdict on *row* now (the racy window left out: long past)."""
    return _folder_unchanged(row[0], row, file_stat(row[0]), racy_ns=2**62)


def _touch(folder: Path, name: str) -> None:
    (folder / name).write_text("")


def test_a_fresh_read_that_agrees_with_a_reused_name_look_gives_the_fresh_row(
    tmp_path: Path,
) -> None:
    """A reused record looked for ``b`` (absent); a module ``c`` appeared since (its folder
    changed, not for ``b``); a fresh record lists the folder: the row is the fresh state,
    with the names, so the next start finds the folder unchanged."""
    _touch(tmp_path, "a.py")
    old = _stored(tmp_path)
    _touch(tmp_path, "c.py")
    tables = _Tables()
    at = tables.carry_dir(old, "b")
    value, _names = _read(tmp_path)
    assert tables.dir_row(str(tmp_path), value) == at
    row = tables.dir_rows[at]
    assert row[1:6] == value and row[6] == ["a", "c"]
    assert _unchanged(row)


def test_the_fresh_read_first_and_the_reused_look_after_agree_the_same(tmp_path: Path) -> None:
    _touch(tmp_path, "a.py")
    old = _stored(tmp_path)
    _touch(tmp_path, "c.py")
    tables = _Tables()
    value, names = _read(tmp_path)
    at = tables.dir_row(str(tmp_path), value, names)
    assert tables.carry_dir(old, "b") == at
    assert tables.dir_rows[at] == [str(tmp_path), *value, ["a", "c"]]


def test_a_name_a_reused_record_looked_for_that_changed_unsettles_the_row(
    tmp_path: Path,
) -> None:
    """The reused record looked for ``b`` when it was absent; ``b.py`` is there for the
    fresh read (it appeared after the check that let the record be reused): neither state
    serves both, so the row matches nothing and the next start judges both again."""
    _touch(tmp_path, "a.py")
    old = _stored(tmp_path)
    _touch(tmp_path, "b.py")
    for fresh_first in (False, True):
        tables = _Tables()
        value, names = _read(tmp_path)
        if fresh_first:
            at = tables.dir_row(str(tmp_path), value, names)
            tables.carry_dir(old, "b")
        else:
            at = tables.carry_dir(old, "b")
            tables.dir_row(str(tmp_path), value, names)
        row = tables.dir_rows[at]
        assert row[1:6] == [-1, -1, -1, -1, None]
        assert not _unchanged(row)
        tables.dir_row(str(tmp_path), value)  # a later read leaves it unsettled
        assert tables.dir_rows[at] == row


def test_a_folder_a_reused_record_read_whole_takes_the_fresh_row_only_if_listed_alike(
    tmp_path: Path,
) -> None:
    _touch(tmp_path, "a.py")
    old = _stored(tmp_path)[:6]
    (tmp_path / "__pycache__").mkdir()  # the stat moves, the listing does not
    tables = _Tables()
    at = tables.carry_dir(old)
    value, _names = _read(tmp_path)
    assert value[:4] != old[1:5] and value[4] == old[5]
    tables.dir_row(str(tmp_path), value)
    assert tables.dir_rows[at] == [str(tmp_path), *value]

    _touch(tmp_path, "b.py")  # another listing: the whole folder was the old record's input
    tables = _Tables()
    at = tables.carry_dir(old)
    tables.dir_row(str(tmp_path), _read(tmp_path)[0])
    assert not _unchanged(tables.dir_rows[at])


def test_two_fresh_reads_of_other_listings_unsettle_the_row(tmp_path: Path) -> None:
    """Two fresh records read the folder before and after a module was added (during the
    discovery): the first one's row would hide the change from it."""
    _touch(tmp_path, "a.py")
    tables = _Tables()
    first, _ = _read(tmp_path)
    at = tables.dir_row(str(tmp_path), first)
    _touch(tmp_path, "b.py")
    tables.dir_row(str(tmp_path), _read(tmp_path)[0])
    assert not _unchanged(tables.dir_rows[at])


def test_rows_carried_without_their_uses_learn_them_from_the_previous_document(
    tmp_path: Path,
) -> None:
    """The install and removal writers carry the previous document's rows as they are; a
    fresh read of one of them asks the previous records how they read it."""
    _touch(tmp_path, "a.py")
    old = _stored(tmp_path)
    _touch(tmp_path, "c.py")
    value, names = _read(tmp_path)
    for uses, agrees in (({"names": [[0, "b"]]}, True), ({"dirs": [0]}, False)):
        previous = {"dirs": [old], "plugins": [{"name": "p", **uses}]}
        tables = _Tables(previous)
        tables.carry_rows([old])
        at = tables.dir_row(str(tmp_path), value, names)
        assert _unchanged(tables.dir_rows[at]) is agrees


def test_a_foreign_names_field_unsettles_instead_of_failing(tmp_path: Path) -> None:
    _touch(tmp_path, "a.py")
    old = [*_stored(tmp_path)[:6], 5]  # not a list of names
    _touch(tmp_path, "c.py")
    tables = _Tables()
    at = tables.carry_dir(old, "b")
    tables.dir_row(str(tmp_path), _read(tmp_path)[0])
    assert not _unchanged(tables.dir_rows[at])
    previous = {"dirs": [old], "plugins": [{"name": "p", "names": [[7, "b"]]}]}  # bad index
    tables = _Tables(previous)
    tables.carry_rows([old])
    at = tables.dir_row(str(tmp_path), _read(tmp_path)[0])
    assert not _unchanged(tables.dir_rows[at])  # uses unknown: as if read whole


def test_an_unsettled_row_is_changed_for_a_folder_present_or_gone(tmp_path: Path) -> None:
    folder = tmp_path / "f"
    folder.mkdir()
    _touch(folder, "a.py")
    old = _stored(folder)
    _touch(folder, "b.py")
    tables = _Tables()
    at = tables.carry_dir(old, "b")
    tables.dir_row(str(folder), _read(folder)[0])
    row = tables.dir_rows[at]
    assert not _unchanged(row)
    for child in folder.iterdir():
        child.unlink()
    folder.rmdir()
    assert not _unchanged(row)
