"""The microscope component enums (:mod:`openhcs_hookspecs.components`).

Real files and real subprocesses: cached equals fresh, a changed configuration rebuilds.
"""

from __future__ import annotations

import base64
import json
import pickle
import time
from pathlib import Path
from typing import Any

import pytest
from enum_support import DAY, _fresh_enums, rewrite, run
from openhcs_hookspecs import components
from support import race

from openhcs_registry import _fileio

__all__ = ["_fresh_enums"]


def test_32_threads_race_the_component_enums(_isolated_cache: Path) -> None:
    got = race(lambda: components.__getattr__("GroupBy"))
    assert len(got) == 32 and all(g is got[0] for g in got)


def test_component_enums_default_configuration(_isolated_cache: Path) -> None:
    from openhcs_hookspecs.components import (
        AllComponents,
        GroupBy,
        SequentialComponents,
        VariableComponents,
    )

    assert [m.value for m in AllComponents] == ["site", "channel", "z_index", "timepoint", "well"]
    assert [m.value for m in VariableComponents] == ["site", "channel", "z_index", "timepoint"]
    assert [m.value for m in SequentialComponents] == ["site", "channel", "z_index", "timepoint"]
    assert [m.name for m in GroupBy] == ["SITE", "CHANNEL", "Z_INDEX", "TIMEPOINT", "NONE"]
    assert GroupBy.NONE.value is None and GroupBy.NONE.component is None
    assert GroupBy.CHANNEL.component == "channel"
    assert GroupBy.CHANNEL == VariableComponents.CHANNEL and GroupBy.CHANNEL == "channel"
    assert VariableComponents.CHANNEL == GroupBy.CHANNEL
    assert GroupBy.SITE != GroupBy.CHANNEL and GroupBy.NONE != None  # noqa: E711
    assert hash(GroupBy.SITE) == hash("site") and {GroupBy.SITE: 1}["site"] == 1
    assert str(GroupBy.CHANNEL) == repr(GroupBy.CHANNEL) == "GroupBy.CHANNEL"
    assert "WELL" not in GroupBy.__members__
    assert AllComponents.from_value("well") is AllComponents.WELL
    assert AllComponents.from_value("plate") is None
    assert AllComponents.ordered_names() == ("site", "channel", "z_index", "timepoint", "well")
    assert AllComponents.WELL.is_multiprocessing_axis() and AllComponents.SITE.is_variable_axis()
    assert VariableComponents.SITE != "site"  # plain enums stay plain, as in OpenHCS
    doc = json.loads((_isolated_cache / "component_enums.json").read_text())
    assert set(doc) == {"cache_version", "version", "timestamp", "fingerprint", "items", "checksum"}
    assert list(doc["items"]) == ["enums"]
    assert doc["items"]["enums"]["group_by"] == {
        "SITE": "site",
        "CHANNEL": "channel",
        "Z_INDEX": "z_index",
        "TIMEPOINT": "timepoint",
        "NONE": None,
    }
    assert set(doc["items"]["enums"]) == set(components.CACHE_KEYS.values())


COMPONENT_PROBE = """
    import json, os, sys
    import openhcs_hookspecs.components as c
    created_on_import = [n for n in c.ENUM_NAMES if n in vars(c)]
    G, A = c.GroupBy, c.AllComponents
    out = {n: [[m.name, m.value] for m in getattr(c, n)] for n in c.ENUM_NAMES}
    out["behaviour"] = [
        G.CHANNEL.component, G.NONE.component, G.CHANNEL == "channel",
        G.CHANNEL == c.VariableComponents.CHANNEL, G.NONE == None, hash(G.SITE) == hash("site"),
        str(G.NONE), A.from_value("well").name, A.WELL.is_multiprocessing_axis(),
    ]
    out["created_on_import"] = created_on_import
    out["mtime"] = os.stat(os.path.join(os.environ["OPENHCS_CACHE_DIR"], "component_enums.json")).st_mtime_ns
    print(json.dumps(out))
"""


def test_component_enums_cached_equal_fresh_in_a_new_process(_isolated_cache: Path) -> None:
    cold = run(COMPONENT_PROBE, _isolated_cache)
    warm = run(COMPONENT_PROBE, _isolated_cache)
    assert warm.pop("mtime") == cold.pop("mtime")  # the warm process only read the file
    assert warm == cold
    assert cold["created_on_import"] == []  # PEP 562: made on first access only
    assert cold["behaviour"] == [
        "channel",
        None,
        True,
        True,
        False,
        True,
        "GroupBy.NONE",
        "WELL",
        True,
    ]


def test_changed_configuration_invalidates(_isolated_cache: Path) -> None:
    first = components.__getattr__("VariableComponents")
    components.set_component_configuration(
        ["site", "channel", "well", "plate"], multiprocessing_axis="plate"
    )
    second = components.__getattr__("VariableComponents")
    assert [m.value for m in first] == ["site", "channel", "z_index", "timepoint"]
    assert [m.value for m in second] == ["site", "channel", "well"]
    assert components.VariableComponents is second
    path = _isolated_cache / "component_enums.json"
    doc = json.loads(path.read_text())
    assert doc["fingerprint"]["config"]["multiprocessing_axis"] == "plate"
    # another process with the default configuration does not take the "plate" document
    out = run(COMPONENT_PROBE, _isolated_cache)
    assert [v for _, v in out["AllComponents"]] == list(components.DEFAULT_COMPONENTS)
    for bad in (["site"], ["site", "SITE"], ["none", "well"], ["_x", "well"]):
        with pytest.raises(ValueError):
            components.set_component_configuration(bad, multiprocessing_axis="well")


@pytest.mark.parametrize("damage", ["inconsistent", "old", "fresh-enough"])
def test_component_cache_checks(_isolated_cache: Path, damage: str) -> None:
    components.__getattr__("GroupBy")
    path = _isolated_cache / "component_enums.json"

    def change(doc: dict[str, Any]) -> None:
        enums_doc = doc["items"]["enums"]
        if damage == "inconsistent":  # a plausible edit: an extra group-by member
            enums_doc["group_by"]["PLATE"] = "plate"
        else:
            enums_doc["all_components"]["EXTRA"] = "extra"  # mark the document
            del enums_doc["all_components"]["WELL"]
            enums_doc["all_components"]["WELL"] = "well"
            enums_doc["variable_components"]["EXTRA"] = "extra"
            enums_doc["sequential_components"]["EXTRA"] = "extra"
            enums_doc["group_by"] = {**enums_doc["variable_components"], "NONE": None}
            doc["timestamp"] = time.time() - (8 if damage == "old" else 6) * DAY

    rewrite(path, change)
    for name in components.ENUM_NAMES:
        components.__dict__.pop(name, None)
    group_by = components.__getattr__("GroupBy")
    if damage == "fresh-enough":  # 6 days < 7: the document is used, behaviour restored
        assert group_by.EXTRA.component == "extra" and group_by.EXTRA == "extra"
    else:
        assert set(group_by.__members__) == {"SITE", "CHANNEL", "Z_INDEX", "TIMEPOINT", "NONE"}


def test_component_cache_unwritable_folder_still_works(tmp_path: Path, monkeypatch: Any) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("OPENHCS_CACHE_DIR", str(blocker / "cache"))
    _fileio._warned.clear()
    assert components.__getattr__("GroupBy").CHANNEL.component == "channel"


def test_pickling_round_trip_across_a_subprocess(_isolated_cache: Path) -> None:
    from openhcs_hookspecs.components import AllComponents, GroupBy

    sent = [GroupBy.CHANNEL, GroupBy.NONE, AllComponents.WELL]
    payload = base64.b64encode(pickle.dumps(sent)).decode()
    out = run(
        f"""
        import base64, pickle, json
        items = pickle.loads(base64.b64decode({payload!r}))
        from openhcs_hookspecs.components import AllComponents, GroupBy
        ok = [items[0] is GroupBy.CHANNEL, items[1] is GroupBy.NONE,
              items[2] is AllComponents.WELL, items[0].component, str(items[1])]
        back = base64.b64encode(pickle.dumps(items)).decode()
        print(json.dumps({{"ok": ok, "back": back}}))
        """,
        _isolated_cache,
    )
    assert out["ok"] == [True, True, True, "channel", "GroupBy.NONE"]
    again = pickle.loads(base64.b64decode(out["back"]))
    assert again == sent and all(a is b for a, b in zip(again, sent, strict=True))
