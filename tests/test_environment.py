"""The environment snapshot (:mod:`openhcs_registry._environment`): one look per burst of reads,
ended by ``forget()``, expiry, another ``sys.path`` or working directory, and ``reset()``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support import World, race, two_plugin_world


# -- the environment snapshot: one look per burst of reads ---------------------------------
def test_snapshot_is_shared_until_forgotten_expired_or_sys_path_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from openhcs_registry import _environment

    monkeypatch.setattr(_environment, "SNAPSHOT_SECONDS", 3600.0)  # no expiry mid-test
    module = tmp_path / "plugin_mod.py"
    module.write_text("x = 1\n")
    _environment.forget()
    first = _environment.snapshot().stat(str(module))
    fingerprint = _environment.environment_fingerprint()
    module.write_text("x = 'a longer body'\n")
    assert _environment.snapshot().stat(str(module)) == first  # same burst, same look
    assert _environment.environment_fingerprint() is fingerprint
    _environment.forget()
    st = module.stat()
    now = [st.st_mtime_ns, st.st_size, st.st_ctime_ns, st.st_ino]
    assert _environment.snapshot().stat(str(module)) == now != first

    snap = _environment.snapshot()
    monkeypatch.syspath_prepend(str(tmp_path))
    assert _environment.snapshot() is not snap  # another sys.path: another look
    snap = _environment.snapshot()
    monkeypatch.chdir(tmp_path)
    assert _environment.snapshot() is not snap  # another working directory too

    monkeypatch.setattr(_environment, "SNAPSHOT_SECONDS", 0.0)
    _environment.forget()
    snap = _environment.snapshot()
    assert _environment.snapshot() is not snap  # and the end of its lifetime


def test_writers_look_afresh_and_reset_ends_the_snapshot(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from openhcs_registry import _environment

    monkeypatch.setattr(_environment, "SNAPSHOT_SECONDS", 3600.0)
    two_plugin_world(world)
    reg = world.registry()
    list(reg)
    reg.reset()
    assert sorted(reg) == ["alpha", "beta"] and reg.source == "cache"  # the look is taken
    world.install("gamma-plugin", f"gamma_{world.tag}", world.plugin_source(("Gamma", "g")))
    looked = _environment.snapshot().stat(str(world.site))
    assert looked is not None and looked[0] != world.site.stat().st_mtime_ns  # the look is older
    reg.reset()  # reset() ends the look, whatever its lifetime
    assert sorted(reg) == ["alpha", "beta", "g"]
    assert reg.source == "fresh"
    doc = world.read_cache()  # the writer recorded what is there now, not the old look
    recorded = {r[0]: r[1] for r in doc["env"]["path"]}
    assert recorded[str(world.site)] == world.site.stat().st_mtime_ns
    reg.reset()
    assert sorted(reg) == ["alpha", "beta", "g"]
    assert reg.source == "cache"


# -- the listing checksum: one rule, fresh and within a look ---------------------------------
def test_listing_checksum_sees_module_changes_only_and_the_look_keeps_its_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a folder's listing checksum watches (modules added or removed, not caches or
    dot-files), a zip archive summed by its bytes, and the snapshot's value equal to the
    fresh one within its look and unchanged by later edits until the look ends."""
    import zipfile

    from openhcs_registry import _environment

    monkeypatch.setattr(_environment, "SNAPSHOT_SECONDS", 3600.0)
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "a.py").write_text("")
    base = _environment.listing_checksum(str(folder))
    assert base is not None
    (folder / "__pycache__").mkdir()
    (folder / ".editor-backup").write_text("")
    assert _environment.listing_checksum(str(folder)) == base  # not modules: no change
    _environment.forget()
    snap = _environment.snapshot()
    assert snap.checksum(str(folder)) == base
    (folder / "b.py").write_text("")
    added = _environment.listing_checksum(str(folder))
    assert added not in (None, base)
    assert snap.checksum(str(folder)) == base  # the look keeps what it saw
    _environment.forget()
    assert _environment.snapshot().checksum(str(folder)) == added

    archive = tmp_path / "plugins.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("p.py", "x = 1\n")
    first = _environment.listing_checksum(str(archive))
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("p.py", "x = 2\n")
    second = _environment.listing_checksum(str(archive))
    assert None not in (first, second) and first != second  # summed by its bytes
    assert _environment.snapshot().checksum(str(archive)) == second
    assert _environment.listing_checksum(str(tmp_path / "missing")) is None
    assert _environment.snapshot().checksum(str(tmp_path / "missing")) is None


def test_the_look_takes_each_path_once_and_answers_rows_without_turning_takes_into_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hot loops' ``take()`` stats a path once per look: a later take (the next registry
    of a burst) answers it from the first, as if read at the same instant, and stats only
    the paths no take saw.  ``stat()`` answers a path the look holds as a row without
    turning what was taken into rows; a path only a take saw is answered from it."""
    from openhcs_registry import _environment
    from openhcs_registry._environment import signature

    monkeypatch.setattr(_environment, "SNAPSHOT_SECONDS", 3600.0)
    folder, kept, other = tmp_path / "site", tmp_path / "kept.py", tmp_path / "other.py"
    gone, declared = str(tmp_path / "gone.py"), str(tmp_path / "entry_points.txt")
    folder.mkdir()
    kept.write_text("x = 1\n")
    other.write_text("y = 1\n")
    _environment.forget()
    snap = _environment.snapshot()
    row = snap.stat(str(folder))
    snap.keep([declared], [(1, 2, 3, 4)])  # (a declaration a fold took itself)
    first = snap.take([str(kept), str(folder), gone])
    assert first == [signature(str(kept)), signature(str(folder)), -1]
    assert snap.stat(str(folder)) == row  # from the rows: what was taken left alone
    assert str(kept) not in snap.stats
    kept.write_text("x = 'a longer body'\n")
    now = signature(str(other))
    assert snap.take([str(other), gone, str(kept)]) == [now, -1, first[0]]  # kept: not again
    assert snap.take([declared]) == [(1, 2, 3, 4)] and snap.stat(declared) == [1, 2, 3, 4]
    assert snap.stat(str(kept)) == list(first[0]) != list(signature(str(kept)))
    other.write_text("y = 'a longer body'\n")
    assert snap.stat(str(other)) == list(now) and snap.stat(gone) is None
    assert snap.stats[str(folder)] == row  # a row taken before stands
    _environment.forget()
    assert _environment.snapshot().take([str(kept)]) == [signature(str(kept))]  # a new look


def test_a_burst_of_the_built_in_registries_stats_each_recorded_file_once(tmp_path: Path) -> None:
    """The five built-in registries record mostly the same plugin files; a warm start of all
    of them in one burst stats each recorded file once (a later registry's fold answers
    the files an earlier one took from its signatures), and answers from the cache."""
    import os

    from support import run_python

    env = dict(os.environ, OPENHCS_CACHE_DIR=str(tmp_path / "cache"))
    code = """
        import collections, json, os
        from openhcs_hookspecs import load_all
        from openhcs_registry import _environment
        _environment.SNAPSHOT_SECONDS = 3600.0  # (one look, however slow the machine)
        registries = list(load_all().values())
        seen = []
        real = os.stat
        def counted(path, *args, **kwargs):
            seen.append(path)
            return real(path, *args, **kwargs)
        os.stat = counted
        keys = {r.config.name: sorted(r) for r in registries}
        os.stat = real
        files = collections.Counter(p for p in seen if str(p).endswith(".py"))
        print(json.dumps([sorted({r.source for r in registries}), len(files),
                          max(files.values()), keys]))
        """
    first = run_python(code, env)  # (discovers and writes the documents)
    second = run_python(code, env)
    third = run_python(code, env)
    assert first[3] == second[3] == third[3]
    assert third[0] == ["cache"]
    assert third[1] > 10 and third[2] == 1  # every recorded file, once


def test_threads_sharing_a_look_get_the_signatures_of_one_instant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Registries of one burst loaded by several threads share the look: a thread switch
    between a check of how much of it was read and the read itself (forced here: the list
    of kept signatures pauses when its length is asked) never makes a thread read past the
    end, and every thread gets each file's one signature, from takes and row checks."""
    import time

    from openhcs_registry import _environment
    from openhcs_registry._environment import signature

    class Pausing(list[tuple[list[str], list[object]]]):
        def __len__(self) -> int:
            size = super().__len__()
            time.sleep(0.005)  # (another thread runs meanwhile)
            return size

    monkeypatch.setattr(_environment, "SNAPSHOT_SECONDS", 3600.0)
    files = []
    for i in range(40):
        path = tmp_path / f"m{i}.py"
        path.write_text("x" * i)
        files.append(str(path))
    truth = {path: signature(path) for path in files}
    _environment.forget()
    snap = _environment.snapshot()
    snap.kept = Pausing()
    snap.keep(files[:20], [truth[p] for p in files[:20]])
    assert snap.take(files[10:30]) == [truth[p] for p in files[10:30]]  # (the first take)
    snap.keep(files[30:], [truth[p] for p in files[30:]])

    def work() -> object:
        try:
            return [snap.stat(p) for p in files] == [list(truth[p]) for p in files] and (
                snap.take(files) == [truth[p] for p in files]
            )
        except Exception as exc:  # (what the race raised, to be reported)
            return exc

    assert race(work) == [True] * 32


def test_interpreter_identity_follows_links_and_tells_binaries_apart(tmp_path: Path) -> None:
    """The interpreter is named by the file at the end of its links: reached through any
    chain of links it is one, as ``os.path.realpath`` would say; a copy of the binary (an
    interpreter reinstalled elsewhere, or rebuilt in place) is another; a missing one or
    none (an embedded interpreter) is None."""
    import shutil
    import sys

    from openhcs_registry._environment import interpreter_identity

    real = os.path.realpath(sys.executable)
    first = tmp_path / "python"
    first.symlink_to(sys.executable)
    second = tmp_path / "python3"
    second.symlink_to(first)
    here = interpreter_identity(sys.executable)
    assert here is not None and len(here) == 3
    assert interpreter_identity(str(first)) == interpreter_identity(str(second)) == here
    assert interpreter_identity(real) == here  # (differential: realpath's answer, named)
    copy = tmp_path / "copy"
    shutil.copy2(real, copy)  # (same bytes and mtime: another file)
    assert interpreter_identity(str(copy)) not in (None, here)
    assert interpreter_identity(str(tmp_path / "missing")) is None
    assert interpreter_identity("") is None
