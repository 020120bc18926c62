"""Cached enums: colormaps and microscope components."""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import pickle
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from openhcs_registry import constants, enums
from openhcs_registry._fileio import encode_document

HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


@pytest.fixture(autouse=True)
def _fresh_enums() -> object:
    """Each test starts with no enum made in this process (the module state is restored)."""
    saved = dict(enums._made)
    config = constants.get_component_configuration()
    enums._made.clear()
    for name in constants.ENUM_NAMES:
        constants.__dict__.pop(name, None)
    enums.__dict__.pop("ColormapEnum", None)
    yield
    constants.set_component_configuration(config["components"], config["multiprocessing_axis"])
    enums._made.clear()
    enums._made.update(saved)


def run(code: str, cache_dir: Path) -> dict[str, object]:
    env = dict(os.environ, OPENHCS_CACHE_DIR=str(cache_dir))
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- the factory --------------------------------------------------------------------------------
def test_cached_enum_restores_methods_and_keeps_identity(_isolated_cache: Path) -> None:
    calls = []

    def build() -> dict[str, str]:
        calls.append(1)
        return {"RED": "red", "BLUE": "blue"}

    ns = {
        "shout": property(lambda self: self.value.upper()),
        "first": classmethod(lambda cls: next(iter(cls))),
    }
    a = enums.cached_enum("Color", build, module=__name__, file_name="color.json", namespace=ns)
    assert (
        enums.cached_enum("Color", build, module=__name__, file_name="color.json", namespace=ns)
        is a
    )
    assert calls == [1] and a.RED.shout == "RED" and a.first() is a.RED
    assert globals()["Color"] is a  # published: pickles by reference
    assert pickle.loads(pickle.dumps(a.BLUE)) is a.BLUE
    enums.forget(__name__, "Color")
    b = enums.cached_enum("Color", build, module=__name__, file_name="color.json", namespace=ns)
    assert calls == [1]  # second creation came from the file
    assert [m.name for m in b] == ["RED", "BLUE"] and b.BLUE.shout == "BLUE"
    doc = json.loads((_isolated_cache / "color.json").read_text())
    assert doc["items"] == {"members": {"RED": "red", "BLUE": "blue"}}
    assert oct((_isolated_cache / "color.json").stat().st_mode & 0o777) == "0o600"


def test_cached_enum_refuses_bad_members() -> None:
    with pytest.raises(ValueError, match="identifier"):
        enums.cached_enum("Bad", lambda: {"not valid": 1}, module=__name__, file_name=None)
    with pytest.raises(ValueError):
        enums.cached_enum("Bad2", lambda: {"X": object()}, module=__name__, file_name=None)


def test_32_threads_create_one_class(_isolated_cache: Path) -> None:
    barrier = threading.Barrier(32)
    got: list[object] = []

    def make() -> None:
        barrier.wait()
        got.append(constants.__getattr__("GroupBy"))

    threads = [threading.Thread(target=make) for _ in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(got) == 32 and all(g is got[0] for g in got)


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{",
        b"[]",
        b'{"cache_version": 1, "version": "0.1.0", "timestamp": 1e12, "items": 3}',
        None,
        "old",
        "items",
    ],
    ids=["empty", "truncated", "array", "future", "wrong-members", "old", "items-type"],
)
def test_corrupt_or_stale_enum_cache_rebuilds(_isolated_cache: Path, content: object) -> None:
    enums.cached_enum("Color", lambda: {"RED": "red"}, module=__name__, file_name="color.json")
    path = _isolated_cache / "color.json"
    doc = json.loads(path.read_text())
    if content is None:
        doc["items"]["members"] = {"_private": [1, 2]}
        data = json.dumps(doc).encode()
    elif content == "old":
        doc["timestamp"] -= 8 * 24 * 3600
        data = json.dumps(doc).encode()
    elif content == "items":
        doc["items"] = ["RED"]
        data = json.dumps(doc).encode()
    else:
        assert isinstance(content, bytes)
        data = content
    if content is None or content in ("old", "items"):
        data = encode_document(json.loads(data))  # a valid checksum: the reader's checks decide
    path.write_bytes(data)
    enums.forget(__name__, "Color")
    built = enums.cached_enum(
        "Color", lambda: {"GREEN": "green"}, module=__name__, file_name="color.json"
    )
    assert [m.name for m in built] == ["GREEN"]  # rebuilt, not read
    assert json.loads(path.read_text())["items"] == {"members": {"GREEN": "green"}}


# -- colormaps ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("display", "member"),
    [
        ("viridis", "VIRIDIS"),
        ("Spectral_r", "SPECTRAL_R"),
        ("gist earth", "GIST_EARTH"),
        ("tab-10", "TAB_10"),
        ("cet.fire", "CET_FIRE"),
        ("2d-hot", "CMAP_2D_HOT"),
        ("a+b", "A_B"),
    ],
)
def test_colormap_name_sanitising(display: str, member: str) -> None:
    assert enums.sanitize_member_name(display) == member


def test_colormap_enum_fresh_equals_cached(_isolated_cache: Path) -> None:
    fresh = enums.create_colormap_enum()
    assert fresh.VIRIDIS.value == "viridis" and fresh.VIRIDIS.display_name == "viridis"
    assert set(enums.BASE_COLORMAPS) <= {m.value for m in fresh}
    if HAS_MATPLOTLIB:
        import matplotlib

        assert {enums.sanitize_member_name(n) for n in matplotlib.colormaps} <= set(
            fresh.__members__
        )
    assert enums.create_colormap_enum() is fresh
    enums.forget("openhcs_registry.enums", "ColormapEnum")
    cached = enums.create_colormap_enum()
    assert cached is not fresh
    assert [(m.name, m.value) for m in cached] == [(m.name, m.value) for m in fresh]
    assert cached.from_display_name("viridis") is cached.VIRIDIS
    with pytest.raises(ValueError):
        cached.from_display_name("no-such-map")


def test_colormap_lazy_and_uncached(_isolated_cache: Path) -> None:
    lazy = enums.create_colormap_enum(lazy=True)
    assert [m.value for m in lazy] == list(enums.BASE_COLORMAPS)
    assert not (_isolated_cache / "colormap_enum.json").exists()
    uncached = enums.create_colormap_enum(enable_cache=False)
    assert "VIRIDIS" in uncached.__members__
    assert not (_isolated_cache / "colormap_enum.json").exists()


@pytest.mark.skipif(not HAS_MATPLOTLIB, reason="needs matplotlib (test extra)")
def test_warm_colormap_enum_imports_no_provider(_isolated_cache: Path) -> None:
    code = (
        "import json, sys\nfrom openhcs_registry.enums import create_colormap_enum\n"
        "E = create_colormap_enum()\n"
        "print(json.dumps({'n': len(E), 'imported': sorted(m for m in ('matplotlib', 'napari', "
        "'pluggy', 'importlib.metadata') if m in sys.modules)}))"
    )
    cold = run(code, _isolated_cache)
    warm = run(code, _isolated_cache)
    assert "matplotlib" in cold["imported"]  # the check can fail: the cold path imports it
    assert warm["imported"] == [] and warm["n"] == cold["n"]


def test_colormap_cache_invalidated_by_provider_change(_isolated_cache: Path) -> None:
    enums.create_colormap_enum()
    path = _isolated_cache / "colormap_enum.json"
    doc = json.loads(path.read_text())
    assert doc["fingerprint"]["environment"]["path"]
    # a provider installed or upgraded changes a sys.path folder's mtime
    doc["fingerprint"]["environment"]["path"][0][1] = 12345
    doc["items"]["members"] = {"ONLY_OLD": "only-old"}
    path.write_bytes(encode_document(doc))
    os.chmod(path, 0o600)
    enums.forget("openhcs_registry.enums", "ColormapEnum")
    assert "ONLY_OLD" not in enums.create_colormap_enum().__members__


# -- components ---------------------------------------------------------------------------------
def test_component_enums_default_configuration(_isolated_cache: Path) -> None:
    from openhcs_registry.constants import (
        AllComponents,
        GroupBy,
        SequentialComponents,
        VariableComponents,
    )

    assert [m.value for m in AllComponents] == ["site", "channel", "z_index", "timepoint", "well"]
    assert [m.value for m in VariableComponents] == ["site", "channel", "z_index", "timepoint"]
    assert [m.value for m in SequentialComponents] == ["site", "channel", "z_index", "timepoint"]
    assert GroupBy.NONE.value is None and GroupBy.NONE.component is None
    assert GroupBy.CHANNEL.component is AllComponents.CHANNEL
    assert GroupBy.CHANNEL == VariableComponents.CHANNEL == "channel"
    assert GroupBy.SITE != GroupBy.CHANNEL and hash(GroupBy.SITE) == hash("site")
    assert "WELL" not in GroupBy.__members__
    doc = json.loads((_isolated_cache / "component_enums.json").read_text())
    assert set(doc) >= {"cache_version", "version", "timestamp", "items"}
    assert set(doc["items"]["enums"]) == set(constants.ENUM_NAMES)


def test_component_enums_cached_equal_fresh_in_a_new_process(_isolated_cache: Path) -> None:
    code = (
        "import json\nfrom openhcs_registry import constants as c\n"
        "G = c.GroupBy\nout = {n: [[m.name, m.value] for m in getattr(c, n)] for n in c.ENUM_NAMES}\n"
        "out['behaviour'] = [G.CHANNEL.component.name, G.CHANNEL == 'channel', G.NONE.component is None]\n"
        "out['mtime'] = __import__('os').stat(c._enums.get_openhcs_cache_dir() / 'component_enums.json').st_mtime_ns\n"
        "print(json.dumps(out))"
    )
    cold = run(code, _isolated_cache)
    warm = run(code, _isolated_cache)
    assert warm.pop("mtime") == cold.pop("mtime")  # the warm process only read the file
    assert warm == cold
    assert cold["behaviour"] == ["CHANNEL", True, True]


def test_changed_configuration_invalidates(_isolated_cache: Path) -> None:
    first = constants.__getattr__("VariableComponents")
    constants.set_component_configuration(
        ["site", "channel", "well", "plate"], multiprocessing_axis="plate"
    )
    second = constants.__getattr__("VariableComponents")
    assert [m.value for m in first] == ["site", "channel", "z_index", "timepoint"]
    assert [m.value for m in second] == ["site", "channel", "well"]
    doc = json.loads((_isolated_cache / "component_enums.json").read_text())
    assert doc["fingerprint"]["config"]["multiprocessing_axis"] == "plate"
    with pytest.raises(ValueError):
        constants.set_component_configuration(["site"], multiprocessing_axis="well")


def test_pickling_round_trip_across_a_subprocess(_isolated_cache: Path) -> None:
    from openhcs_registry.constants import GroupBy

    colormap = enums.create_colormap_enum()
    payload = base64.b64encode(
        pickle.dumps([GroupBy.CHANNEL, GroupBy.NONE, colormap.VIRIDIS])
    ).decode()
    code = (
        "import base64, pickle, json\n"
        f"items = pickle.loads(base64.b64decode({payload!r}))\n"
        "from openhcs_registry.constants import GroupBy\n"
        "from openhcs_registry.enums import ColormapEnum\n"
        "ok = [items[0] is GroupBy.CHANNEL, items[1] is GroupBy.NONE, items[2] is ColormapEnum.VIRIDIS]\n"
        "back = base64.b64encode(pickle.dumps(items)).decode()\n"
        "print(json.dumps({'ok': ok, 'back': back}))"
    )
    out = run(code, _isolated_cache)
    assert out["ok"] == [True, True, True]
    again = pickle.loads(base64.b64decode(out["back"]))  # type: ignore[arg-type]
    assert again[0] is GroupBy.CHANNEL and again[2] is colormap.VIRIDIS
