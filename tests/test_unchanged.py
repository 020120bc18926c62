"""The answer unchanged: an edit that changed no offer rewrites only the stats.

A plugin edited without changing what it offers or reads (a comment, a method body, a
helper module's body) is loaded and called again; its new record is the one it stored, so
the start writes the previous document with the new stats and installs its answer without
building the other plugins' records (:mod:`openhcs_registry._cold._unchanged`, which logs
"answer unchanged" at debug level when it does).  Each test compares, in new processes,
that start with a full discovery: the listing, and the document, row for row.  Edits that
change an offer, make the plugin fail, or make it read another module must take the
ordinary incremental path and give the same answer.
"""

from __future__ import annotations

from typing import Any

from _probes import LISTING_IMPORTS, observe_imports
from support import World, run_python
from test_incremental import (
    FIELDS,
    _written,
    by_path,
    discovery_package,
    many,
    plugin,
    prime,
    spec_without_typing,
)

#: The LISTING probe with the engine's debug records collected: did the start take the path?
_CAPTURE = """
import logging
SEEN = []
class _Seen(logging.Handler):
    def emit(self, record):
        SEEN.append(record.getMessage())
_log = logging.getLogger("openhcs_registry")
_log.addHandler(_Seen())
_log.setLevel(logging.DEBUG)
"""


def start(world: World, path: str = "unchanged", **env: str) -> dict[str, Any]:
    """The next start's listing (with the variables *env*), with *path* (``unchanged``,
    ``extended``, ``amended``): whether it took the answer-*path* path, and ``declined``:
    why not, as its debug line says (None if it did not say)."""
    code = _CAPTURE + LISTING_IMPORTS.format(spec=world.spec, prefix=f"p{world.tag}_").replace(
        "print(json.dumps({",
        f'print(json.dumps({{"{path}": any("answer {path} after" in m for m in SEEN), '
        f'"declined": next((m for m in SEEN if "answer {path} not" in m), None), '
        f'"said": next((m for m in SEEN if "answer {path} after" in m), None),',
    )
    result: dict[str, Any] = run_python(code, world.env(**env), cwd=world.root)
    return result


def next_start_equals_full(
    world: World,
    *,
    unchanged: bool,
    path: str = "unchanged",
    document: bool | str = True,
    **env: str,
) -> dict[str, Any]:
    """The next start (taking the answer-*path* path or not, as *unchanged* says) equals a
    full discovery: its listing, the document it writes (row for row; with *document*
    ``"paths"``, every file row named by its path, as two documents of one answer whose
    rows come in another order agree; not at all if false) and the start after it; all
    with the variables *env*."""
    got = start(world, path, **env)
    assert got["source"] == "fresh", got
    assert got[path] is unchanged, got
    written = _written(world)
    full = observe_imports(world, OPENHCS_DISABLE_REGISTRY_CACHE="1", **env)
    for field in FIELDS:
        assert got[field] == full[field], (field, got, full)
    after = observe_imports(world, **env)
    assert after["source"] == "cache" and after["imported"] == [], after
    for field in FIELDS:
        assert after[field] == full[field], (field, after, full)
    world.cache_file.unlink()
    assert observe_imports(world, **env)["source"] == "fresh"  # a full discovery writes it
    if document == "paths":
        assert by_path(written) == by_path(_written(world))
    elif document:
        assert written == _written(world)
    return got


def test_a_comment_edit_keeps_the_answer(world: World) -> None:
    many(world)
    prime(world)
    plugin(world, 2, "k2", extra="# a comment\n")
    got = next_start_equals_full(world, unchanged=True)
    assert got["keys"] == ["k0", "k1", "k2", "k3"]
    assert got["imported"] == [f"p{world.tag}_2"]
    # the edit's path over the cold part's sections: one record of five parsed (the
    # fifth is the <environment> record)
    assert "from the document's sections (1 of 5 records parsed)" in got["said"], got


def test_an_edit_of_a_plugin_importing_the_standard_library_keeps_the_answer(
    world: World,
) -> None:
    """A module of the standard library the plugin is the first to import has no file row
    (the interpreter stands for it) and so no place in the module table: the record read
    again is the one stored, and the edit takes the sections' path.  (Before, every such
    edit was declined; the engine importing ``typing`` itself hid it for the commonest
    one, a plugin's ``from typing import ...``.)"""
    many(world)
    plugin(world, 1, "k1", extra="import colorsys\n")
    prime(world)
    plugin(world, 1, "k1", extra="import colorsys\n# a comment\n")
    got = next_start_equals_full(world, unchanged=True)
    assert got["imported"] == [f"p{world.tag}_1"]
    assert "from the document's sections" in got["said"], got


def test_an_edit_read_again_by_a_process_that_had_not_imported_typing(world: World) -> None:
    """The document written by a process that imported ``typing`` before the registry (an
    application, pytest) and an edit read again by one that had not (a bare script): the
    plugin's record names the same modules either way (the import recorder imports
    ``typing`` before any plugin), so the edit takes the sections' path."""
    many(world)
    spec_without_typing(world)
    plugin(world, 1, "k1", extra="from typing import Any\nVALUE: Any = 1\n")
    code = "import typing\n" + LISTING_IMPORTS.format(spec=world.spec, prefix=f"p{world.tag}_")
    for _ in range(2):  # written, then read, by processes that imported typing first
        got = run_python(code, world.env(), cwd=world.root)
    assert got["source"] == "cache", got
    plugin(world, 1, "k1", extra="from typing import Any\nVALUE: Any = 2\n")
    probe = start(world).get("said")  # (a bare process: typing not imported before)
    assert probe is not None and "from the document's sections" in probe, probe
    full = observe_imports(world, OPENHCS_DISABLE_REGISTRY_CACHE="1")
    after = observe_imports(world)
    assert after["source"] == "cache"
    for field in FIELDS:
        assert after[field] == full[field], (field, after, full)


def test_a_body_edit_keeps_the_answer(world: World) -> None:
    many(world)
    plugin(world, 1, "k1", extra="def helper():\n    return 1\n")
    prime(world)
    plugin(world, 1, "k1", extra="def helper():\n    return 2 + 2\n")
    got = next_start_equals_full(world, unchanged=True)
    assert got["imported"] == [f"p{world.tag}_1"]
    assert "from the document's sections" in got["said"], got
    # and again, from the document the path wrote
    plugin(world, 1, "k1", extra="def helper():\n    return 3 * 3\n")
    got = next_start_equals_full(world, unchanged=True)
    assert "from the document's sections" in got["said"], got


def test_a_helper_module_read_by_two_plugins_edited(world: World) -> None:
    """The shared file row gets its new stats once, for both plugins called again."""
    helper = f"h{world.tag}_shared"
    world.write(f"{helper}.py", "VALUE = 1\n")
    many(world)
    for i in (0, 2):
        plugin(world, i, f"k{i}", extra=f"import {helper}\n")
    prime(world)
    world.write(f"{helper}.py", "VALUE = 2  # edited\n")
    got = next_start_equals_full(world, unchanged=True)
    assert got["imported"] == [f"p{world.tag}_0", f"p{world.tag}_2"]
    assert "(2 of 5 records parsed)" in got["said"], got


def test_a_discovery_module_edited_keeps_the_answer(world: World) -> None:
    pkg = discovery_package(world, "a", "b")
    prime(world)
    world.write(
        f"{pkg}/b.py",
        f"from {world.spec} import Thing\nclass B(Thing):\n    kind = 'b'  # same key\n",
    )
    got = next_start_equals_full(world, unchanged=True)
    assert got["keys"] == ["a", "b", "k0", "k1"]
    # the package's listing record reads its folder: taken as it is from the sections,
    # its folder row counted where the writer puts the module's rows
    assert "from the document's sections" in got["said"], got


def test_an_edit_that_changes_a_key_is_not_unchanged(world: World) -> None:
    """(The answer is amended instead: tests/test_amended.py.)"""
    many(world)
    prime(world)
    plugin(world, 2, "changed")
    got = next_start_equals_full(world, unchanged=False)
    assert got["keys"] == ["changed", "k0", "k1", "k3"]
    assert got["imported"] == [f"p{world.tag}_2"]
    assert "not proven: offers changed" in got["declined"], got


def test_an_edit_that_makes_the_plugin_fail_takes_the_general_path(world: World) -> None:
    many(world)
    prime(world)
    plugin(world, 1, "k1", extra="raise RuntimeError('broken now')\n")
    got = next_start_equals_full(world, unchanged=False)
    assert got["keys"] == ["k0", "k2", "k3"]
    assert any(kind == "import_error" for _p, kind, _k in got["fails"])


def test_an_edit_that_imports_another_module_takes_the_general_path(world: World) -> None:
    extra = f"h{world.tag}_more"
    world.write(f"{extra}.py", "VALUE = 1\n")
    many(world)
    prime(world)
    plugin(world, 3, "k3", extra=f"import {extra}\n")
    got = next_start_equals_full(world, unchanged=False)
    assert got["keys"] == ["k0", "k1", "k2", "k3"]


def test_an_edit_racing_the_start_is_seen_by_the_next(world: World) -> None:
    """A file changed after the start read it (here by the plugin's own import) is
    recorded with the stats taken before reading: the next start sees the change, and
    its answer (a new key: not the path) is a full discovery's."""
    many(world)
    prime(world)
    marker = world.root / "race-once"
    marker.write_text("")
    name = f"p{world.tag}_2"
    raced = world.plugin_source(("C2", "raced")).replace(
        "    kind = 'raced'", f"    kind = 'raced'\n    partner = '{name}:C2'"
    )
    plugin(
        world,
        2,
        "k2",
        extra=(
            # (os only: a module imported before plugins load in every process, so the
            # edit imports nothing new - pathlib is not, with a regular install; and
            # unlink, not exists: a path a plugin tests is an input, which would change
            # its record)
            "import os as _os\n"
            "try:\n"
            f"    _os.unlink({str(marker)!r})\n"
            "except FileNotFoundError:\n"
            "    pass\n"
            "else:\n"
            f"    with open(__file__, 'w') as _fh:\n"
            f"        _fh.write({raced!r})\n"
        ),
    )
    got = start(world)
    assert got["unchanged"] is True and got["keys"] == ["k0", "k1", "k2", "k3"], got
    assert not marker.exists()
    got = next_start_equals_full(world, unchanged=False)
    assert got["keys"] == ["k0", "k1", "k3", "raced"]


def test_an_edit_that_defines_a_class_it_does_not_return_takes_the_general_path(
    world: World,
) -> None:
    """A class noted at import time that the hook does not return is the merge's to judge
    (a not-returned skip, the plugin pinned as not reusable): the plugin, loaded once, is
    handed to the incremental discovery with what it noted."""
    many(world)
    prime(world)
    plugin(world, 1, "k1", extra="class Extra(Thing):\n    kind = 'extra'\n")
    got = next_start_equals_full(world, unchanged=False)
    assert got["keys"] == ["k0", "k1", "k2", "k3"]
    # not reused blind afterwards: the next edit of another plugin reloads it too
    plugin(world, 3, "k3", extra="# a comment\n")
    got = next_start_equals_full(world, unchanged=False)
    assert f"p{world.tag}_1" in got["imported"]
    assert "not tried" in got["declined"] and "pinned not reusable" in got["declined"]


#: After a start: how many parsed file rows of a cache document (``[path, mtime, size,
#: ctime, inode]`` lists, in its cold part) are alive, then each key's provenance.
_AFTERMATH = """
import gc, json
from {spec} import REGISTRY
keys = sorted(REGISTRY)
gc.collect()
rows = sum(  # (file rows of the world's plugins: the start-up files' rows are the look's)
    1 for o in gc.get_objects()
    if type(o) is list and len(o) >= 5 and type(o[0]) is str and o[0].endswith(".py")
    and type(o[1]) is int and o[0].startswith({root!r})
)
infos = {{key: REGISTRY.info(key) for key in keys}}  # (parses the cold part: after the count)
print(json.dumps({{"source": REGISTRY.source, "infos": infos, "rows": rows}}))
"""


def test_the_path_keeps_no_parsed_document_and_provenance_reads_as_fresh(world: World) -> None:
    """The answer the path installs keeps the cold part as bytes, as a warm start's does:
    the previous document's parsed rows and records are freed, not carried to exit (where
    the collector tearing the modules down traverses all that is alive), and provenance,
    read from those bytes, is a full discovery's."""
    many(world)
    prime(world)
    plugin(world, 0, "k0", extra="# edited\n")
    code = _CAPTURE + _AFTERMATH.format(spec=world.spec, root=str(world.root)).replace(
        '"rows": rows',
        '"rows": rows, "unchanged": any("answer unchanged after" in m for m in SEEN)',
    )
    got = run_python(code, world.env(), cwd=world.root)
    assert got["source"] == "fresh" and got["unchanged"] is True, got
    assert got["rows"] == 0, got
    full = run_python(
        _AFTERMATH.format(spec=world.spec, root=str(world.root)),
        world.env(OPENHCS_DISABLE_REGISTRY_CACHE="1"),
    )
    assert full["source"] == "fresh"
    # (the source aside: "cache" for an answer read from a document, "fresh" for a discovery)
    for infos in (got["infos"], full["infos"]):
        for info in infos.values():
            info.pop("source")
    assert got["infos"] == full["infos"]
    assert got["infos"]["k0"]["module"] == f"p{world.tag}_0", got["infos"]["k0"]


def test_a_keyless_or_abstract_class_not_returned_pins_nothing(world: World) -> None:
    """A private base class without a key, or an abstract one, noted while a plugin loads
    and not returned by its hook, is left out by the merge (nothing at import time to
    lose): the plugin's record stays reusable, so an edit of another plugin takes the path
    without loading it, and an edit of the plugin itself takes the path too.  (A keyed
    class not returned pins the record: the test above.)"""
    bases = (
        "import abc\n"
        "class _Base(Thing):\n"
        "    pass\n"
        "class _Abstract(Thing, abc.ABC):\n"
        "    kind = 'abstract'\n"
        "    @abc.abstractmethod\n"
        "    def run(self): ...\n"
    )
    many(world)
    plugin(world, 1, "k1", extra=bases)
    prime(world)
    plugin(world, 3, "k3", extra="# a comment\n")
    got = next_start_equals_full(world, unchanged=True)
    assert got["imported"] == [f"p{world.tag}_3"], got
    assert got["keys"] == ["k0", "k1", "k2", "k3"]
    plugin(world, 1, "k1", extra=bases + "# edited\n")
    got = next_start_equals_full(world, unchanged=True)
    assert got["imported"] == [f"p{world.tag}_1"], got


# -- an upgrade: the entry points declared as before but for versions ---------------------


def upgrade(world: World, i: int, key: str, old: str, new: str, extra: str = "") -> None:
    """Distribution ``dist<i>`` upgraded from *old* to *new* as pip does: the new metadata
    folder written, the old one removed, the module written again (offering *key*)."""
    world.uninstall(f"dist{i}", old)
    (world.site / f"p{world.tag}_{i}.py").unlink()
    plugin(world, i, key, version=new, extra=extra)


def test_an_upgrade_that_keeps_the_offers_keeps_the_answer(world: World) -> None:
    """The upgraded plugin alone is loaded again; the document (its record's version, the
    distributions and sys.path rows) is a full discovery's, row for row."""
    many(world)
    prime(world)
    upgrade(world, 1, "k1", "1.0", "2.0", extra="# new code\n")
    got = next_start_equals_full(world, unchanged=True)
    assert got["keys"] == ["k0", "k1", "k2", "k3"]
    assert got["imported"] == [f"p{world.tag}_1"]
    assert "1 upgraded" in got["said"], got
    (record,) = [r for r in world.read_cache()["cold"]["plugins"] if r["name"] == f"p{world.tag}_1"]
    assert record["version"] == "2.0"
    # and a downgrade, from the document the path wrote
    upgrade(world, 1, "k1", "2.0", "1.5")
    got = next_start_equals_full(world, unchanged=True)
    assert got["imported"] == [f"p{world.tag}_1"]


def test_a_new_version_with_the_same_files_calls_the_plugin_again(world: World) -> None:
    """Only the metadata folder changed (the module is the same file): the record must
    carry the new version, so its plugin is called again all the same."""
    many(world)
    prime(world)
    info = world.site / "dist2-1.0.dist-info"
    info.rename(world.site / "dist2-3.0.dist-info")
    metadata = world.site / "dist2-3.0.dist-info" / "METADATA"
    metadata.write_text(metadata.read_text().replace("Version: 1.0", "Version: 3.0"))
    got = next_start_equals_full(world, unchanged=True)
    assert got["imported"] == [f"p{world.tag}_2"]


def test_an_upgrade_that_changes_a_key_amends_the_answer(world: World) -> None:
    """The path over the whole document amends the answer as the sections' path does
    (tests/test_amended.py): the upgraded plugin's offers replaced."""
    many(world)
    prime(world)
    upgrade(world, 2, "renamed", "1.0", "2.0")
    got = next_start_equals_full(world, unchanged=True, path="amended")
    assert got["keys"] == ["k0", "k1", "k3", "renamed"]
    assert got["imported"] == [f"p{world.tag}_2"]
    assert "(1 upgraded)" in got["said"], got


def test_an_upgrade_that_takes_another_plugins_key_takes_the_general_path(
    world: World,
) -> None:
    many(world)
    prime(world)
    upgrade(world, 2, "k1", "1.0", "2.0")
    got = next_start_equals_full(world, unchanged=False, path="amended")
    assert got["keys"] == ["k0", "k1", "k3"]
    assert "offers a key or object of theirs" in got["declined"], got


def test_an_upgrade_with_a_removal_takes_the_general_path(world: World) -> None:
    many(world)
    prime(world)
    upgrade(world, 1, "k1", "1.0", "2.0")
    world.uninstall("dist3")
    (world.site / f"p{world.tag}_3.py").unlink()
    got = next_start_equals_full(world, unchanged=False)
    assert got["keys"] == ["k0", "k1", "k2"]
    assert "entry points were added or removed" in got["declined"], got


def test_an_upgrade_that_declares_another_module_takes_the_general_path(world: World) -> None:
    many(world)
    prime(world)
    world.uninstall("dist0")
    world.write(f"p{world.tag}_0b.py", world.plugin_source(("C0", "k0")))
    world.add_dist_info("dist0", "2.0", {f"p{world.tag}_0": f"p{world.tag}_0b"})
    got = next_start_equals_full(world, unchanged=False, document=False)
    assert got["keys"] == ["k0", "k1", "k2", "k3"]
    assert "declared otherwise" in got["declined"], got
