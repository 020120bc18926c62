"""The entry-point scan (openhcs_registry/_cold/_entrypoints.py) agrees with importlib.metadata.

Discovery lists entry points from folder listings (name and version from the ``.dist-info``
folder name, ``entry_points.txt`` re-read only when its stat changed) instead of parsing every
distribution's METADATA.  These tests compare it with ``importlib.metadata`` on real layouts:
dist-info and egg-info folders, the same distribution on two ``sys.path`` entries (the first
wins), extras and attributes in a declaration, comments, other groups, a zip archive.
"""

from __future__ import annotations

import importlib.metadata
import os
import zipfile
from pathlib import Path
from typing import Any

from openhcs_registry._cold import _entrypoints


def _dist(site: Path, folder: str, text: str, metadata: str = "") -> Path:
    info = site / folder
    info.mkdir(parents=True)
    (info / ("PKG-INFO" if folder.endswith(".egg-info") else "METADATA")).write_text(
        metadata or f"Metadata-Version: 2.1\nName: {folder.split('-')[0]}\nVersion: 1.0\n"
    )
    (info / "entry_points.txt").write_text(text)
    return info


def _importlib(entries: list[str], group: str) -> list[tuple[str, str, str]]:
    eps = importlib.metadata.entry_points(group=group)
    found = []
    for ep in eps:
        dist = ep.dist
        assert dist is not None
        found.append((_entrypoints.canonical(dist.name), ep.name, ep.value))
    return sorted(found)


def test_scan_finds_what_importlib_metadata_finds(tmp_path: Path, monkeypatch: object) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    group = f"grp_{os.getpid()}"
    _dist(first, "alpha_dist-1.0.dist-info", f"[{group}]\na = alpha.mod:Cls [extra]\n# c\n")
    _dist(first, "beta-2.1.dist-info", f"[other]\nx = y\n\n[{group}]\n b = beta\n# c\n")
    _dist(second, "beta-3.0.dist-info", f"[{group}]\nshadowed = beta.other\n")  # first wins
    _dist(
        second,
        "Gamma_Thing-0.5-py3.11.egg-info",
        f"[{group}]\ng = gamma:provide\n",
        "Metadata-Version: 1.1\nName: Gamma-Thing\nVersion: 0.5\n",
    )
    archive = tmp_path / "zipped.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("zeta-4.0.dist-info/METADATA", "Name: zeta\nVersion: 4.0\n")
        zf.writestr("zeta-4.0.dist-info/entry_points.txt", f"[{group}]\nz = zeta\n")
    entries = [str(first), str(second), str(archive)]
    monkeypatch.setattr("sys.path", entries)  # type: ignore[attr-defined]
    found, record = _entrypoints.scan(entries, group)
    ours = sorted((ep.distribution, ep.name, ep.value) for ep in found)
    assert ours == _importlib(entries, group)
    by_name = {ep.name: ep for ep in found}
    assert by_name["a"].module == "alpha.mod" and by_name["a"].attr == "Cls"
    assert by_name["g"].version == "0.5" and by_name["b"].version == "2.1"
    # a rescan with the record re-reads nothing that did not change
    (first / "alpha_dist-1.0.dist-info" / "entry_points.txt").unlink()
    again, _ = _entrypoints.scan(entries, group, record)
    assert sorted(ep.name for ep in again) == sorted(n for n in by_name if n != "a")


def test_every_group_at_once_is_what_importlib_metadata_finds(
    tmp_path: Path, monkeypatch: object
) -> None:
    """``scan(entries, None)`` (``why``'s evidence: entry points in other groups) reads every
    section by the same rules: the first distribution of a name wins, each entry point
    carries its own group."""
    first, second = tmp_path / "first", tmp_path / "second"
    one, two = f"grp_{os.getpid()}", f"other_{os.getpid()}"
    _dist(first, "alpha_dist-1.0.dist-info", f"[{one}]\na = alpha.mod:Cls\n[{two}]\nb = beta\n")
    _dist(first, "beta-2.1.dist-info", f"[{two}]\nc = gamma:f\n\n[{one}]\n d = delta\n")
    _dist(second, "beta-3.0.dist-info", f"[{two}]\nshadowed = beta.other\n")  # first wins
    entries = [str(first), str(second)]
    monkeypatch.setattr("sys.path", entries)  # type: ignore[attr-defined]
    found, _ = _entrypoints.scan(entries, None)
    ours = sorted((ep.group, ep.distribution, ep.name, ep.value) for ep in found)
    theirs = sorted(
        (group, dist, name, value)
        for group in (one, two)
        for dist, name, value in _importlib(entries, group)
    )
    assert ours == theirs and len(ours) == 4
    assert sorted(
        (ep.group, ep.name) for ep in _entrypoints.all_entry_points() if ep.group in (one, two)
    ) == sorted((g, n) for g, _d, n, _v in ours)


def test_an_unchanged_declaration_is_taken_from_the_previous_scan(tmp_path: Path) -> None:
    site = tmp_path / "site"
    info = _dist(site, "one-1.0.dist-info", "[g]\none = one\n")
    _found, record = _entrypoints.scan([str(site)], "g")
    # same stat signature recorded: the previous entry points are reused (not re-read)
    record[str(site)][0][5] = [["renamed", "one"]]
    reused, _ = _entrypoints.scan([str(site)], "g", record)
    assert [ep.name for ep in reused] == ["renamed"]
    (info / "entry_points.txt").write_text("[g]\ntwo = one\n")  # changed: read again
    changed, _ = _entrypoints.scan([str(site)], "g", record)
    assert [ep.name for ep in changed] == ["two"]


# -- appeared(): the scan after folders were only added, against the full scan ---------------
def _listdir(entry: str) -> list[str] | None:
    try:
        return os.listdir(entry)
    except OSError:
        return None


def _appeared(entries: list[str], group: str, previous: dict[str, Any]) -> Any:
    """appeared() after new_distributions() on the previous scan's folders (None if either
    declines), as an install start calls them."""
    recorded = {entry: [row[0] for row in rows] for entry, rows in previous.items()}
    new = _entrypoints.new_distributions(recorded, _listdir)
    return None if new is None else _entrypoints.appeared(entries, group, previous, new)


def _world(tmp_path: Path, group: str) -> tuple[list[str], Path, Path]:
    first, second = tmp_path / "first", tmp_path / "second"
    _dist(first, "alpha-1.0.dist-info", f"[{group}]\na = alpha.mod\n")
    _dist(first, "mid_dist-2.0.dist-info", f"[{group}]\nm = mid\nm2 = mid.two:Cls\n")
    _dist(first, "plain-1.0.dist-info", "[console_scripts]\nx = y\n")
    _dist(second, "omega-3.0.dist-info", f"[{group}]\no = omega\n")
    (second / "not_metadata").mkdir()
    return [str(first), str(second), str(tmp_path / "missing")], first, second


def _appeared_agrees(
    entries: list[str], group: str, previous: dict[str, Any], old: list[Any]
) -> list[Any]:
    """appeared() gives the full scan's record and, of its entry points, those the scan
    that recorded *previous* (finding *old*) did not find."""
    got = _appeared(entries, group, previous)
    full, record = _entrypoints.declared(entries, group)
    assert got is not None
    new, got_record = got
    assert got_record == record
    assert new == [f for f in full if f not in old]
    assert [f for f in full if f in old] == old  # the old ones are all still found
    return new


def test_appeared_gives_the_new_entry_points_of_the_full_scan(tmp_path: Path) -> None:
    group = f"grp_{os.getpid()}"
    entries, first, second = _world(tmp_path, group)
    old, previous = _entrypoints.declared(entries, group)
    assert _appeared(entries, group, previous) == ([], previous)
    # a distribution sorting first, one in the middle, one last, one declaring nothing of
    # the group, and one in the second folder: all at once
    _dist(first, "aardvark-0.1.dist-info", f"[{group}]\naa = aardvark\n")
    _dist(first, "lion-1.0.dist-info", f"[{group}]\nl = lion\n")
    _dist(first, "zebra-9.dist-info", f"[{group}]\nz = zebra.z:make\n")
    _dist(first, "quiet-1.0.dist-info", "[other]\nq = quiet\n")
    _dist(second, "beta-1.0.dist-info", f"[{group}]\nb = beta\n")
    new = _appeared_agrees(entries, group, previous, old)
    assert [(d, n) for d, n, *_ in new] == [
        ("aardvark", "aa"),
        ("beta", "b"),
        ("lion", "l"),
        ("zebra", "z"),
    ]
    assert {v for _d, _n, _x, v, _g in new} == {"0.1", "1.0", "9"}


def test_appeared_declines_what_only_the_full_scan_can_tell(tmp_path: Path) -> None:
    group = f"grp_{os.getpid()}"
    entries, first, second = _world(tmp_path, group)
    previous = _entrypoints.declared(entries, group)[1]

    def declines() -> None:
        assert _appeared(entries, group, previous) is None

    # a new folder of a distribution already scanned (it shadows or is shadowed)
    shadow = _dist(second, "Alpha-2.0.dist-info", f"[{group}]\na = alpha.other\n")
    declines()
    for f in shadow.iterdir():
        f.unlink()
    shadow.rmdir()
    # a scanned folder gone (an uninstall next to the install)
    gone = first / "plain-1.0.dist-info"
    _dist(first, "new-1.0.dist-info", f"[{group}]\nn = new\n")
    for f in gone.iterdir():
        f.unlink()
    gone.rmdir()
    declines()
    _dist(first, "plain-1.0.dist-info", "[console_scripts]\nx = y\n")
    assert _appeared(entries, group, previous) is not None
    # another sys.path than scanned
    assert _entrypoints.appeared(entries[:2], group, previous, {e: [] for e in entries[:2]}) is None
    # a declaring folder whose version is read from its metadata on every full scan
    _dist(second, "eggy.egg-info", f"[{group}]\ne = eggy\n", "Name: eggy\nVersion: 7\n")
    with_egg = _entrypoints.declared(entries, group)[1]
    _dist(first, "newer-1.0.dist-info", f"[{group}]\nnn = newer\n")
    assert _appeared(entries, group, with_egg) is None


def test_new_distributions_only_when_folders_were_only_added(tmp_path: Path) -> None:
    """new_distributions(): the metadata folders added per entry; None when a recorded one
    is gone, a new one may be of a recorded distribution (or of another new one), or an
    entry is an archive (its content is not listed)."""
    group = f"grp_{os.getpid()}"
    entries, first, second = _world(tmp_path, group)
    recorded = {
        e: [r[0] for r in rows] for e, rows in _entrypoints.declared(entries, group)[1].items()
    }
    assert _entrypoints.new_distributions(recorded, _listdir) == {e: [] for e in entries}
    _dist(first, "newcomer-1.0.dist-info", f"[{group}]\nn = new\n")
    (first / "newcomer.py").write_text("")  # (not metadata: not counted)
    assert _entrypoints.new_distributions(recorded, _listdir) == {
        entries[0]: ["newcomer-1.0.dist-info"],
        entries[1]: [],
        entries[2]: [],
    }
    # a second folder of the same new distribution elsewhere on sys.path: one shadows the other
    twin = _dist(second, "Newcomer-2.0.dist-info", f"[{group}]\nn = other\n")
    assert _entrypoints.new_distributions(recorded, _listdir) is None
    for f in twin.iterdir():
        f.unlink()
    twin.rmdir()
    # a name that normalises to a recorded one's (first of a name wins)
    odd = _dist(second, "Mid.Dist-3.0.dist-info", "[x]\ny = z\n")
    assert _entrypoints.new_distributions(recorded, _listdir) is None
    for f in odd.iterdir():
        f.unlink()
    odd.rmdir()
    assert _entrypoints.new_distributions(recorded, _listdir) is not None
    # a recorded folder gone
    gone = first / "plain-1.0.dist-info"
    for f in gone.iterdir():
        f.unlink()
    gone.rmdir()
    assert _entrypoints.new_distributions(recorded, _listdir) is None
    # an archive on sys.path
    archive = tmp_path / "zipped.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("zeta-4.0.dist-info/entry_points.txt", f"[{group}]\nz = zeta\n")
    assert _entrypoints.new_distributions({str(archive): []}, _listdir) is None


def test_declares_switches_reads_only_the_new_folders(tmp_path: Path) -> None:
    site = tmp_path / "site"
    _dist(site, "quiet-1.0.dist-info", "[openhcs]\nc = contracts\n")
    _dist(site, "loud-1.0.dist-info", "[openhcs.settings]\nMY_SWITCH = contracts\n")
    entry = str(site)
    assert not _entrypoints.declares_switches({entry: ["quiet-1.0.dist-info"]})
    assert _entrypoints.declares_switches({entry: ["quiet-1.0.dist-info", "loud-1.0.dist-info"]})
    assert not _entrypoints.declares_switches({entry: []})


def test_switches_kept_after_removals_and_upgrades(tmp_path: Path) -> None:
    """What an uninstall or an upgrade start tells from the recorded scan and the recorded
    declarers of switches: the switches hold only when no declarer vanished, no other
    declaration changed, no vanished name is found again elsewhere, and what appeared
    declares no switch and shadows nothing."""
    from openhcs_registry._environment import file_stat

    first, second = tmp_path / "first", tmp_path / "second"
    for folder in ("keep-1.0.dist-info", "gone-1.0.dist-info", "loud-1.0.dist-info"):
        _dist(first, folder, "[openhcs.things]\nx = x\n")
    second.mkdir()

    def scan() -> dict[str, list[Any]]:
        return {
            str(entry): [
                [f, *(file_stat(str(entry / f / "entry_points.txt")) or [None] * 4)]
                for f in sorted(os.listdir(entry))
            ]
            for entry in (first, second)
        }

    def kept(recorded: dict[str, list[Any]]) -> bool:
        return _entrypoints.switches_kept(recorded, ["loud"], _listdir, file_stat)

    def remove(folder: Path) -> None:
        for f in folder.iterdir():
            f.unlink()
        folder.rmdir()

    recorded = scan()
    assert kept(recorded)  # nothing changed
    remove(first / "gone-1.0.dist-info")
    assert kept(recorded)  # a removal of no declarer
    _dist(first, "gone-2.0.dist-info", "[openhcs.things]\nx = x\n")
    assert kept(recorded)  # an upgrade that declares no switch
    (first / "gone-2.0.dist-info" / "entry_points.txt").write_text(
        "[openhcs.settings]\nMY_SWITCH = x\n"
    )
    assert not kept(recorded)  # an upgrade that declares one
    remove(first / "gone-2.0.dist-info")
    remove(first / "loud-1.0.dist-info")
    assert not kept(recorded)  # the declarer removed
    recorded = scan()
    (first / "keep-1.0.dist-info" / "entry_points.txt").write_text(
        "[openhcs.settings]\nOTHER = x\n"
    )
    _dist(second, "late-1.0.dist-info", "")
    assert not kept(recorded)  # a declaration rewritten in place (and one added)
    _dist(second, "keep-0.9.dist-info", "[openhcs.settings]\nOLD = x\n")
    recorded = scan()
    remove(first / "keep-1.0.dist-info")
    assert not kept(recorded)  # the shadowed folder of a removed name is found instead
    _dist(first, "late-2.0.dist-info", "")
    recorded = scan()
    assert kept(recorded)  # (recorded again: nothing changed since)
    _dist(first, "keep-3.0.dist-info", "")
    assert not kept(recorded)  # a new folder of a name already there shadows it


def test_named_gives_a_later_entry_point_of_a_taken_name_its_distributions() -> None:
    """The record names of declared entry points: the first of a name keeps it, a later one
    is ``dist:name``, in order; what discovery and the install start both name records by."""
    from openhcs_registry._cold._entrypoints import named

    found = [
        ("a-dist", "scope", "a.mod", "1.0", "grp"),
        ("b-dist", "other", "b.mod", None, "grp"),
        ("c-dist", "scope", "c.mod", "2.0", "grp"),
    ]
    assert [row[0] for row in named(found)] == ["scope", "other", "c-dist:scope"]
    assert [row[1:] for row in named(found)] == found
