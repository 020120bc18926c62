"""The answer amended: an edit that changed only what a plugin offers.

A plugin edited to offer other classes or keys, reading what it read before, is loaded and
called again; when none of its old or new keys and references is named by another record,
the start writes the previous document with its record, items and derived secondaries
replaced (:mod:`openhcs_registry._cold._amended`, which logs "answer amended" at debug
level when it does).  Each test compares, in new processes, that start with a full
discovery: the listing (keys, values, the secondary registry, failures) and the document,
row for row.  Edits whose keys meet another plugin's (a conflict, a loser that would win
now, two edited plugins swapping keys) must take the general path and give the same
answer.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from _probes import observe_imports
from support import World, walk_seeds
from test_incremental import FIELDS, _written, by_path, many, plugin, prime
from test_unchanged import next_start_equals_full, start


def _classes(world: World, i: int, *keys: str) -> None:
    """Plugin ``p<tag>_<i>`` edited to offer one class per key in *keys* (each with a
    partner, the secondary derived from it), reading what it read before."""
    name = f"p{world.tag}_{i}"
    classes = [(f"C{i}_{n}", key) for n, key in enumerate(keys)]
    source = world.plugin_source(*classes)
    for cls, key in classes:
        source = source.replace(
            f"    kind = {key!r}", f"    kind = {key!r}\n    partner = '{name}:{cls}'"
        )
    world.write(f"{name}.py", source)


def test_a_key_renamed_amends_the_answer(world: World) -> None:
    many(world)
    prime(world)
    plugin(world, 2, "renamed")
    got = next_start_equals_full(world, unchanged=True, path="amended")
    assert got["keys"] == ["k0", "k1", "k3", "renamed"]
    assert got["imported"] == [f"p{world.tag}_2"]
    assert "(1 of 5 records parsed)" in got["said"], got


def test_a_class_added_then_taken_out_amends_the_answer(world: World) -> None:
    many(world)
    prime(world)
    _classes(world, 1, "k1", "extra")
    got = next_start_equals_full(world, unchanged=True, path="amended")
    assert got["keys"] == ["extra", "k0", "k1", "k2", "k3"]
    assert got["parts"] == {
        "extra": f"p{world.tag}_1:C1_1",
        "k0": f"p{world.tag}_0:C0",
        "k1": f"p{world.tag}_1:C1_0",
        "k2": f"p{world.tag}_2:C2",
        "k3": f"p{world.tag}_3:C3",
    }, got["parts"]
    _classes(world, 1, "k1")
    got = next_start_equals_full(world, unchanged=True, path="amended")
    assert got["keys"] == ["k0", "k1", "k2", "k3"]


def test_a_secondary_no_longer_derived_amends_the_answer(world: World) -> None:
    many(world)
    prime(world)
    world.write(f"p{world.tag}_3.py", world.plugin_source(("C3", "k3")))  # (no partner)
    got = next_start_equals_full(world, unchanged=True, path="amended")
    assert got["keys"] == ["k0", "k1", "k2", "k3"]
    assert "k3" not in got["parts"], got["parts"]


def test_two_plugins_edited_at_once_amend_the_answer(world: World) -> None:
    many(world)
    prime(world)
    plugin(world, 0, "first")
    _classes(world, 3, "k3", "last")
    got = next_start_equals_full(world, unchanged=True, path="amended")
    assert got["keys"] == ["first", "k1", "k2", "k3", "last"]
    assert sorted(got["imported"]) == [f"p{world.tag}_0", f"p{world.tag}_3"]


def test_a_key_another_plugin_offers_takes_the_general_path(world: World) -> None:
    """The edited plugin now offers a key plugin 1 offers: a conflict the merge judges."""
    many(world)
    prime(world)
    plugin(world, 2, "k1")
    got = next_start_equals_full(world, unchanged=False, path="amended")
    assert got["keys"] == ["k0", "k1", "k3"]
    assert any(kind == "duplicate_key" for _p, kind, _k in got["fails"]), got["fails"]
    assert "is named by another record" in got["declined"], got


def test_a_key_given_up_to_its_loser_takes_the_general_path(world: World) -> None:
    """Plugins 0 and 2 both offer ``shared`` (0 wins); plugin 0 edited to offer another
    key: the loser wins now, which only the merge over every record can say."""
    many(world)
    plugin(world, 0, "shared")
    plugin(world, 2, "shared")
    prime(world)
    plugin(world, 0, "k0")
    got = next_start_equals_full(world, unchanged=False, path="amended")
    assert got["keys"] == ["k0", "k1", "k3", "shared"]
    assert got["fails"] == []
    assert "is named by another record" in got["declined"], got


def test_two_edited_plugins_swapping_keys_take_the_general_path(world: World) -> None:
    many(world)
    prime(world)
    plugin(world, 1, "k2")
    plugin(world, 2, "k1")
    got = next_start_equals_full(world, unchanged=False, path="amended")
    assert got["keys"] == ["k0", "k1", "k2", "k3"]
    assert "offered by two plugins called again" in got["declined"], got


def test_an_offer_refused_now_takes_the_general_path(world: World) -> None:
    """A class offered without a key is refused: a failure the merge reports."""
    many(world)
    prime(world)
    world.write(
        f"p{world.tag}_1.py",
        world.plugin_source(("C1", "k1"))
        + "class Keyless(Thing):\n    pass\n"
        + "@hookimpl\ndef provide_things():\n    return [C1, Keyless]\n",
    )
    # (the listing only: reporting the failure imports ``logging`` while the plugin is
    # recorded in a process that had not imported it, which this probe has)
    got = next_start_equals_full(world, unchanged=False, path="amended", document=False)
    assert got["keys"] == ["k0", "k1", "k2", "k3"]
    assert [kind for _p, kind, _k in got["fails"]] == ["missing_key"], got
    assert "is refused" in got["declined"], got


# -- a variable plugins read: its readers called again, from the sections ----------------


def _reads_mode(world: World, *readers: int) -> str:
    """Plugins *readers* import a helper whose ``SUFFIX`` is variable ``MODE_<tag>``'s value
    (read at import), appended to their key; the variable's name."""
    mode = f"MODE_{world.tag.upper()}"
    helper = f"h{world.tag}"
    world.write(f"{helper}.py", f"import os\nSUFFIX = os.environ.get({mode!r}, '')\n")
    for i in readers:
        source = world.plugin_source((f"C{i}", f"k{i}")).replace(
            f"kind = 'k{i}'", f"kind = 'k{i}' + {helper}.SUFFIX"
        )
        world.write(f"p{world.tag}_{i}.py", f"import {helper}\n" + source)
    return mode


def test_a_variable_that_picks_the_keys_amends_the_answer(world: World) -> None:
    """Another value of a variable two plugins read (the second through the helper the
    first imported, from ``sys.modules``): only they are called again, and their new keys
    amend the answer; the variable unset again, back."""
    many(world)
    mode = _reads_mode(world, 1, 2)
    prime(world)
    got = next_start_equals_full(world, unchanged=True, path="amended", **{mode: "x"})
    assert got["keys"] == ["k0", "k1x", "k2x", "k3"]
    assert got["imported"] == [f"p{world.tag}_1", f"p{world.tag}_2"]
    assert "(2 of 5 records parsed)" in got["said"], got
    got = next_start_equals_full(world, unchanged=True, path="amended")
    assert got["keys"] == ["k0", "k1", "k2", "k3"]


def test_a_variable_that_keeps_the_keys_keeps_the_answer(world: World) -> None:
    """A variable a plugin reads without it changing the keys: called again alone, the
    answer unchanged (its row in the environment section takes the new value)."""
    many(world)
    mode = f"MODE_{world.tag.upper()}"
    plugin(world, 3, "k3", extra=f"import os\nFLAVOUR = os.environ.get({mode!r})\n")
    prime(world)
    got = next_start_equals_full(world, unchanged=True, **{mode: "plain"})
    assert got["keys"] == ["k0", "k1", "k2", "k3"]
    assert got["imported"] == [f"p{world.tag}_3"]
    assert "from the document's sections (1 of 5 records parsed)" in got["said"], got


def test_a_variable_and_a_file_changed_together_call_both_plugins(world: World) -> None:
    many(world)
    mode = _reads_mode(world, 1)
    prime(world)
    plugin(world, 3, "k3", extra="# edited\n")
    got = next_start_equals_full(world, unchanged=True, path="amended", **{mode: "z"})
    assert got["keys"] == ["k0", "k1z", "k2", "k3"]
    assert got["imported"] == [f"p{world.tag}_1", f"p{world.tag}_3"]


def test_a_variable_and_a_folder_changed_together_take_the_general_path(world: World) -> None:
    """More than variables and recorded files changed (a distribution installed): the
    variable's readers are called again by the general path, as before."""
    many(world)
    mode = _reads_mode(world, 1)
    prime(world)
    plugin(world, 7, "k7")
    got = next_start_equals_full(
        world, unchanged=False, path="amended", document="paths", **{mode: "w"}
    )
    assert got["keys"] == ["k0", "k1w", "k2", "k3", "k7"]


# -- a seeded random walk of offers changed, each start against a full discovery ---------

#: keys the walk draws from: each plugin's own (``own<i>``) and a few shared ones, so that
#: some changes meet another plugin's key (a conflict: the general path) and most do not
_SHARED = ("shared_a", "shared_b")


def _offers_source(world: World, i: int, rng: random.Random) -> str:
    """Plugin ``p<tag>_<i>`` offering one to three classes under keys drawn from its own
    and the shared ones, each with a partner or not, returned as a list or (keys given)
    as a mapping; it reads what it always read."""
    name = f"p{world.tag}_{i}"
    count = rng.randint(1, 3)
    own = rng.sample([f"own{i}_{n}" for n in range(4)], count)
    keys = [key if rng.random() < 0.85 else rng.choice(_SHARED) for key in own]
    if rng.random() < 0.05:
        keys = [f"own{i}_0"] * 2  # (one key offered twice by the plugin: a conflict)
    classes = [(f"C{i}_{rng.randrange(3)}{n}", key) for n, key in enumerate(keys)]
    lines = ["from openhcs_registry import hookimpl", f"from {world.spec} import Thing", ""]
    for cls, key in classes:
        lines += [f"class {cls}(Thing):", f"    kind = {key!r}"]
        if rng.random() < 0.5:
            lines.append(f"    partner = '{name}:{cls}'")
        lines.append("")
    if rng.random() < 0.3 and len(set(keys)) == len(keys):  # (every class returned)
        body = "{" + ", ".join(f"{key!r}: {cls}" for cls, key in classes) + "}"
    else:
        body = "[" + ", ".join(cls for cls, _key in classes) + "]"
    lines += ["@hookimpl", "def provide_things():", f"    return {body}", ""]
    return "\n".join(lines)


def start_equals_full(world: World, path: str = "amended", paths: bool = False) -> dict[str, Any]:
    """The next start (whether it took the answer-*path* path: see
    :func:`test_unchanged.start`), then a full discovery: the same listing, the same
    document row for row (with *paths*, every row named by its path: a row a plugin no
    longer reads comes forward to the next reader), whichever path the start took, and
    the start after them from the cache."""
    got = start(world, path)
    written = _written(world)
    full = observe_imports(world, OPENHCS_DISABLE_REGISTRY_CACHE="1")
    for field in FIELDS:
        assert got[field] == full[field], (field, got, full)
    world.cache_file.unlink()
    assert observe_imports(world)["source"] == "fresh"  # a full discovery writes it
    if paths:
        assert by_path(written) == by_path(_written(world)), got
    else:
        assert written == _written(world), got
    after = observe_imports(world)
    assert after["source"] == "cache" and after["imported"] == [], after
    return got


@pytest.mark.parametrize("seed", walk_seeds("OPENHCS_AMENDED_SEEDS"))
def test_random_offer_changes_agree_with_a_full_discovery(world: World, seed: int) -> None:
    """Six plugins; eight times, one or two of them rewritten to offer other classes and
    keys (theirs, or shared ones another plugin may offer), given or not, with partners
    or not.  Every start equals a full discovery, document row for row; most are amended
    (``OPENHCS_AMENDED_SEEDS=1-50`` runs a longer walk)."""
    rng = random.Random(seed)
    many(world, 6)
    prime(world)
    amended = 0
    for _step in range(8):
        for i in rng.sample(range(6), rng.choice((1, 1, 2))):
            path = world.site / f"p{world.tag}_{i}.py"
            source = _offers_source(world, i, rng)
            if len(source) == path.stat().st_size:  # (else Python may run the old bytecode)
                source += "\n"
            world.write(path.name, source)
        got = start_equals_full(world)
        amended += got["amended"]
    assert amended, "no change was amended: the walk did not exercise the path"


# -- the sections written, against the writer's own encoding ------------------------------


def test_records_spliced_are_the_bytes_the_writer_encodes() -> None:
    """The records section with some records replaced, and its offsets, equal what the
    writer encodes for the new list as a whole (``_fileio._records_encoded``): shorter,
    longer, first and last records among them."""
    import orjson

    from openhcs_registry import _fileio
    from openhcs_registry._cold._amended import _records_section
    from openhcs_registry._cold._unchanged import _Edit

    rng = random.Random(7)
    records = [
        {
            "name": f"p{i}",
            "origin": "entry_point",
            "module": f"m{i}",
            "offers": [[f"k{i}", "x", False]],
        }
        for i in range(7)
    ]
    data, offsets = _fileio._records_encoded(records)
    for rerun in ([0], [6], [2, 3], [0, 3, 6], list(range(7))):
        stored = [
            {
                **records[at],
                "offers": [
                    [f"k{at}_{n}", "y" * rng.randrange(9), True] for n in range(rng.randrange(4))
                ],
            }
            for at in rerun
        ]
        plan = _Edit(
            rerun,
            [records[at] for at in rerun],
            [],
            ([], [], {}),
            _fileio.Encoded(data, 0),
            offsets,
        )
        got = _records_section(data, plan, stored)
        now = list(records)
        for at, raw in zip(rerun, stored, strict=True):
            now[at] = raw
        want, want_offsets = _fileio._records_encoded(now)
        assert bytes(got["plugins"].data) == want
        assert orjson.loads(got[_fileio.RECORD_OFFSETS].data) == want_offsets
        assert got["plugins"].sum == _fileio.cold_checksum(want)


def test_a_string_is_named_elsewhere_only_outside_the_spans() -> None:
    from openhcs_registry._cold._amended import _named_elsewhere
    from openhcs_registry._cold._unchanged import _record_at

    data = b'[{"name":"a","k":"x"},{"name":"b","k":"x"}]'
    offsets = [1, 22, len(data)]
    assert _record_at(offsets, 0) == 0 and _record_at(offsets, 21) == 0
    assert _record_at(offsets, 22) == 1 and _record_at(offsets, len(data) - 1) == 1
    assert _named_elsewhere(data, b'"x"', [(1, 22)])  # (the second record names it too)
    assert not _named_elsewhere(data, b'"x"', [(1, 22), (22, len(data))])
    assert not _named_elsewhere(data, b'"y"', [])
