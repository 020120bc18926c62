"""Cached enums: the factory, the colormap enum and the microscope component enums.

Real files, real subprocesses, real (temporary) distributions; matplotlib comes from the test
extra so the colormap cold path really imports it and the warm path really avoids it.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import pickle
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from support import World

from openhcs_registry import _fileio, constants, enums
from openhcs_registry._fileio import encode_document

HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None
HEAVY = ("matplotlib", "napari", "pluggy", "importlib.metadata")
DAY = 24 * 3600


@pytest.fixture(autouse=True)
def _fresh_enums() -> Any:
    """Each test starts with no enum made in this process; the module state is restored."""
    saved = dict(enums._memo.made)
    saved_attrs = {n: enums.__dict__.get(n) for n in ("ColormapEnum", "LazyColormapEnum")}
    config = constants.get_component_configuration()
    enums._memo.made.clear()
    for name in constants.ENUM_NAMES:
        constants.__dict__.pop(name, None)
    for name in saved_attrs:
        enums.__dict__.pop(name, None)
    yield
    constants.set_component_configuration(config["components"], config["multiprocessing_axis"])
    enums._memo.made.clear()
    enums._memo.made.update(saved)
    for name, value in saved_attrs.items():
        if value is not None:
            setattr(enums, name, value)
        else:
            enums.__dict__.pop(name, None)


def run(code: str, cache_dir: Path, **env: str) -> Any:
    """Run *code* in a fresh interpreter; it prints one JSON document last."""
    full_env = dict(os.environ, OPENHCS_CACHE_DIR=str(cache_dir), **env)
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def rewrite(path: Path, change: Any) -> None:
    """Edit a cache document and store it with a valid checksum: the reader's checks decide."""
    doc = json.loads(path.read_text())
    change(doc)
    path.write_bytes(encode_document(doc))
    os.chmod(path, 0o600)


def describe(cls: Any) -> list[list[Any]]:
    return [[m.name, m.value] for m in cls]


# -- the factory --------------------------------------------------------------------------------
NS = {
    "shout": property(lambda self: str(self.value).upper()),
    "first": classmethod(lambda cls: next(iter(cls))),
}


def make_color(build: Any, **kw: Any) -> Any:
    kw.setdefault("file_name", "color.json")
    return enums.cached_enum("Color", build, module=__name__, namespace=NS, **kw)


class Builds:
    """A builder that counts its calls."""

    def __init__(self, members: dict[str, Any]) -> None:
        self.members = members
        self.calls = 0

    def __call__(self) -> dict[str, Any]:
        self.calls += 1
        return dict(self.members)


def test_cached_enum_restores_methods_and_keeps_identity(_isolated_cache: Path) -> None:
    build = Builds({"RED": "red", "BLUE": "blue"})
    a = make_color(build)
    assert make_color(build) is a and build.calls == 1
    assert a.RED.shout == "RED" and a.first() is a.RED
    assert globals()["Color"] is a  # published under module.qualname: pickles by reference
    assert (a.__module__, a.__qualname__) == (__name__, "Color")
    assert pickle.loads(pickle.dumps(a.BLUE)) is a.BLUE

    enums.forget(__name__, "Color")
    b = make_color(build)
    assert build.calls == 1  # the second creation came from the file
    assert b is not a and describe(b) == describe(a)
    assert b.BLUE.shout == "BLUE" and b.first() is b.RED  # behaviour restored after loading
    path = _isolated_cache / "color.json"
    doc = json.loads(path.read_text())
    assert set(doc) == {"cache_version", "version", "timestamp", "fingerprint", "items", "checksum"}
    assert doc["items"] == {"members": {"RED": "red", "BLUE": "blue"}}
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_cached_enum_refuses_bad_members() -> None:
    for bad in ({"not valid": 1}, {"_private": 1}, {"X": object()}, {"X": [1]}, {}):
        with pytest.raises(ValueError, match="identifier"):
            enums.cached_enum("Bad", lambda b=bad: b, module=__name__)
    with pytest.raises(ValueError, match="plain file name"):
        enums.cached_enum("Bad", lambda: {"X": 1}, module=__name__, file_name="../escape.json")


def test_fingerprint_age_and_library_version_invalidate(_isolated_cache: Path) -> None:
    build = Builds({"RED": "red"})
    make_color(build, fingerprint={"palette": 1}, max_age=10 * DAY)
    path = _isolated_cache / "color.json"

    def again(**kw: Any) -> Any:
        enums.forget(__name__, "Color")
        return make_color(build, **kw)

    again(fingerprint=lambda: {"palette": 1}, max_age=10 * DAY)  # a callable fingerprint
    assert build.calls == 1
    again(fingerprint={"palette": 2}, max_age=10 * DAY)
    assert build.calls == 2  # another fingerprint
    assert json.loads(path.read_text())["fingerprint"] == {"palette": 2}
    rewrite(path, lambda d: d.update(timestamp=time.time() - 9 * DAY))
    again(fingerprint={"palette": 2}, max_age=10 * DAY)
    assert build.calls == 2  # 9 days < 10
    rewrite(path, lambda d: d.update(timestamp=time.time() - 11 * DAY))
    again(fingerprint={"palette": 2}, max_age=10 * DAY)
    assert build.calls == 3  # too old
    rewrite(path, lambda d: d.update(timestamp=time.time() + 3600))
    again(fingerprint={"palette": 2}, max_age=10 * DAY)
    assert build.calls == 4  # dated in the future
    rewrite(path, lambda d: d.update(version="0.0.0-other"))
    again(fingerprint={"palette": 2}, max_age=10 * DAY)
    assert build.calls == 5  # written by another library version


@pytest.mark.parametrize(
    "damage",
    [
        b"",
        b"{",
        b"[]",
        b'{"cache_version": 2, "version": "0.1.0", "timestamp": 1e12, "items": 3}',
        "private-member",
        "method-clash",
        "items-type",
        "old-format",
    ],
)
def test_corrupt_or_hostile_enum_cache_rebuilds(_isolated_cache: Path, damage: Any) -> None:
    make_color(lambda: {"RED": "red"})
    path = _isolated_cache / "color.json"
    if isinstance(damage, bytes):
        path.write_bytes(damage)
    elif damage == "private-member":
        rewrite(path, lambda d: d["items"].update(members={"_private": [1, 2]}))
    elif damage == "method-clash":  # a plausible name that would shadow a method
        rewrite(path, lambda d: d["items"].update(members={"shout": "x"}))
    elif damage == "items-type":
        rewrite(path, lambda d: d.update(items=["RED"]))
    else:
        doc = json.loads(path.read_text())
        doc.update(cache_version=1)
        doc.pop("checksum")
        path.write_text(json.dumps(doc))
    enums.forget(__name__, "Color")
    built = make_color(lambda: {"GREEN": "green"})
    assert describe(built) == [["GREEN", "green"]]  # rebuilt, not read
    assert json.loads(path.read_text())["items"] == {"members": {"GREEN": "green"}}


def test_refresh_keeps_identity_unless_members_change(_isolated_cache: Path) -> None:
    first = make_color(lambda: {"RED": "red"})
    assert make_color(lambda: {"RED": "red"}, refresh=True) is first
    second = make_color(lambda: {"RED": "red", "TEAL": "teal"}, refresh=True)
    assert second is not first and globals()["Color"] is second
    assert make_color(lambda: {"NEVER": "called"}) is second
    assert json.loads((_isolated_cache / "color.json").read_text())["items"]["members"] == {
        "RED": "red",
        "TEAL": "teal",
    }


def test_32_threads_race_one_build_one_class(_isolated_cache: Path) -> None:
    barrier = threading.Barrier(32)
    started = threading.Event()
    build = Builds({"RED": "red"})

    def slow_build() -> dict[str, Any]:
        started.set()
        time.sleep(0.05)  # keep the others waiting on this build (not a timed assertion)
        return build()

    got: list[Any] = []

    def make() -> None:
        barrier.wait()
        got.append(make_color(slow_build))

    threads = [threading.Thread(target=make) for _ in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(got) == 32 and all(g is got[0] for g in got)
    assert build.calls == 1  # single-flight: the others waited for the one build


@pytest.mark.parametrize("which", ["colormap", "components"])
def test_32_threads_race_builtin_enums(_isolated_cache: Path, which: str) -> None:
    barrier = threading.Barrier(32)
    got: list[Any] = []

    def make() -> None:
        barrier.wait()
        if which == "colormap":
            got.append(enums.create_colormap_enum())
        else:
            got.append(constants.__getattr__("GroupBy"))

    threads = [threading.Thread(target=make) for _ in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(got) == 32 and all(g is got[0] for g in got)


def test_reentrant_creation_in_the_same_thread(_isolated_cache: Path) -> None:
    """A builder that (like a plugin importing a config module) asks for the same enum."""
    inner: list[Any] = []

    def build() -> dict[str, Any]:
        if not inner:
            inner.append(None)
            inner.append(make_color(lambda: {"RED": "red"}))
        return {"RED": "red"}

    outer = make_color(build)
    assert outer is inner[1]  # the first class published wins; no deadlock, no second class


def test_waiting_while_importing_does_not_deadlock(tmp_path: Path, monkeypatch: Any) -> None:
    """Thread B imports a module that wants the enum while A's build imports that module.

    Waiting for A would deadlock (A needs B's module import lock), so B builds on its own;
    both end with the one published class.
    """
    name = f"racy_{os.getpid()}_{threading.get_ident()}"
    (tmp_path / f"{name}.py").write_text(
        textwrap.dedent(
            """
            import threading, test_enums
            test_enums.SIGNALS["b_importing"].set()
            test_enums.SIGNALS["a_building"].wait(60)
            E = test_enums.make_color(lambda: {"RED": "red"})
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    SIGNALS.update(b_importing=threading.Event(), a_building=threading.Event())
    results: dict[str, Any] = {}

    def thread_b() -> None:
        results["b"] = importlib.import_module(name).E

    def a_build() -> dict[str, Any]:
        SIGNALS["a_building"].set()
        importlib.import_module(name)  # blocks until B's import is done
        return {"RED": "red"}

    def thread_a() -> None:
        SIGNALS["b_importing"].wait(60)
        results["a"] = make_color(a_build)

    threads = [threading.Thread(target=thread_b), threading.Thread(target=thread_a)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "deadlock"
    assert results["a"] is results["b"]
    sys.modules.pop(name, None)


SIGNALS: dict[str, threading.Event] = {}


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
        ("_private", "PRIVATE"),
    ],
)
def test_colormap_name_sanitising(display: str, member: str) -> None:
    assert enums.sanitize_member_name(display) == member


def test_colormap_members_first_wins_and_unusable_names_are_left_out() -> None:
    members = enums.colormap_members(["gist-earth", "gist earth", "---", "", "x\u00b2", "ok"])
    assert members == {"GIST_EARTH": "gist-earth", "OK": "ok"}


def test_colormap_enum_fresh_equals_cached(_isolated_cache: Path) -> None:
    fresh = enums.create_colormap_enum()
    assert fresh.VIRIDIS.value == "viridis" and fresh.VIRIDIS.display_name == "viridis"
    assert [m.value for m in fresh][: len(enums.BASE_COLORMAPS)] == list(enums.BASE_COLORMAPS)
    if HAS_MATPLOTLIB:
        import matplotlib

        assert {enums.sanitize_member_name(n) for n in matplotlib.colormaps} <= set(
            fresh.__members__
        )
        assert fresh.SPECTRAL_R.display_name == "Spectral_r"
    assert enums.create_colormap_enum() is fresh and enums.ColormapEnum is fresh
    enums.forget("openhcs_registry.enums", "ColormapEnum")
    cached = enums.create_colormap_enum()
    assert cached is not fresh and describe(cached) == describe(fresh)
    assert cached.from_display_name("viridis") is cached.VIRIDIS
    with pytest.raises(ValueError):
        cached.from_display_name("no-such-map")
    doc = json.loads((_isolated_cache / "colormap_enum.json").read_text())
    assert set(doc["fingerprint"]) == {"environment", "settings", "providers"}
    assert doc["fingerprint"]["providers"]["matplotlib"]["found"] is HAS_MATPLOTLIB


@pytest.mark.skipif(not HAS_MATPLOTLIB, reason="needs matplotlib (test extra)")
def test_warm_colormap_enum_imports_no_provider(_isolated_cache: Path) -> None:
    code = f"""
        import json, sys
        from openhcs_registry.enums import create_colormap_enum
        E = create_colormap_enum()
        print(json.dumps({{
            "members": [[m.name, m.value] for m in E],
            "display": E.SPECTRAL_R.display_name,
            "imported": [m for m in {HEAVY!r} if m in sys.modules],
        }}))
    """
    cold = run(code, _isolated_cache)
    warm = run(code, _isolated_cache)
    assert "matplotlib" in cold["imported"]  # the check can fail: the cold path imports it
    assert warm["imported"] == []
    assert warm["members"] == cold["members"] and warm["display"] == cold["display"]


def test_lazy_and_uncached_colormap_enums(_isolated_cache: Path) -> None:
    path = _isolated_cache / "colormap_enum.json"
    out = run(
        f"""
        import json, sys
        from openhcs_registry.enums import create_colormap_enum
        L = create_colormap_enum(lazy=True)
        print(json.dumps({{"values": [m.value for m in L], "name": L.__qualname__,
                          "imported": [m for m in {HEAVY!r} if m in sys.modules]}}))
        """,
        _isolated_cache,
    )
    assert out == {"values": list(enums.BASE_COLORMAPS), "name": "LazyColormapEnum", "imported": []}
    assert not path.exists()

    # a planted document that matches the fingerprint: enable_cache=False must not read it
    enums.cached_enum(
        "ColormapEnum",
        lambda: {"PLANTED": "planted"},
        module="openhcs_registry.enums",
        file_name="colormap_enum.json",
        fingerprint=enums.colormap_fingerprint,
    )
    planted = path.read_bytes()
    enums.forget("openhcs_registry.enums", "ColormapEnum")
    uncached = enums.create_colormap_enum(enable_cache=False)
    assert "VIRIDIS" in uncached.__members__ and "PLANTED" not in uncached.__members__
    assert path.read_bytes() == planted  # neither read nor written
    assert enums.create_colormap_enum(enable_cache=False) is uncached  # same members: same class
    enums.forget("openhcs_registry.enums", "ColormapEnum")
    assert "PLANTED" in enums.create_colormap_enum().__members__  # the file was valid


def test_colormap_cache_lasts_30_days(_isolated_cache: Path) -> None:
    enums.create_colormap_enum()
    path = _isolated_cache / "colormap_enum.json"

    def plant(age_days: float) -> Any:
        def change(doc: dict[str, Any]) -> None:
            doc["timestamp"] = time.time() - age_days * DAY
            doc["items"]["members"] = {"PLANTED": "planted"}

        rewrite(path, change)
        enums.forget("openhcs_registry.enums", "ColormapEnum")
        return enums.create_colormap_enum()

    assert "PLANTED" in plant(29).__members__
    assert "PLANTED" not in plant(31).__members__


def test_colormap_cache_follows_discovery_settings(
    _isolated_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = enums.create_colormap_enum()
    monkeypatch.setenv("OPENHCS_DISABLE_ENTRY_POINTS", "1")
    enums.forget("openhcs_registry.enums", "ColormapEnum")
    base = enums.create_colormap_enum()
    assert [m.value for m in base] == list(enums.BASE_COLORMAPS)  # always present
    monkeypatch.delenv("OPENHCS_DISABLE_ENTRY_POINTS")
    enums.forget("openhcs_registry.enums", "ColormapEnum")
    assert describe(enums.create_colormap_enum()) == describe(full)


FAKE_NAPARI = {
    "napari/__init__.py": "",
    "napari/utils/__init__.py": "",
    "napari/utils/colormaps.py": "AVAILABLE_COLORMAPS = {{'gray': 0, 'napari special': 1, {extra!r}: 2}}\n",
}

COLORMAP_PROBE = f"""
    import json, sys
    from openhcs_registry.enums import create_colormap_enum, provider_libraries
    E = create_colormap_enum()
    print(json.dumps({{"members": sorted(E.__members__),
                      "imported": [m for m in {HEAVY!r} if m in sys.modules],
                      "providers": provider_libraries()}}))
"""


def install_fake_napari(world: World, version: str, extra: str) -> None:
    for rel, text in FAKE_NAPARI.items():
        world.write(rel, text.format(extra=extra))
    info = world.site / f"napari-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: napari\nVersion: {version}\n")


def test_colormap_cache_follows_provider_libraries(world: World) -> None:
    """Installing napari, then upgrading it, rebuilds the enum - even if no mtime moved."""
    before = world.run(COLORMAP_PROBE)
    assert before["providers"]["napari"] == {"found": False, "version": None}
    assert "NAPARI_SPECIAL" not in before["members"]
    assert world.run(COLORMAP_PROBE)["imported"] == []  # warm

    install_fake_napari(world, "0.0.1", "first extra")
    after = world.run(COLORMAP_PROBE)
    assert after["providers"]["napari"] == {"found": True, "version": "0.0.1"}
    assert {"NAPARI_SPECIAL", "FIRST_EXTRA"} <= set(after["members"])
    assert "napari" in after["imported"]  # cold: the napari hook ran
    assert world.run(COLORMAP_PROBE)["imported"] == []  # warm again

    # upgrade in place, then put every folder's mtime back: only the version tells
    site_mtime = world.site.stat().st_mtime_ns
    (world.site / "napari-0.0.1.dist-info").rename(world.site / "napari-0.0.2.dist-info")
    world.write(
        "napari/utils/colormaps.py",
        FAKE_NAPARI["napari/utils/colormaps.py"].format(extra="second extra"),
    )
    os.utime(world.site, ns=(site_mtime, site_mtime))
    upgraded = world.run(COLORMAP_PROBE)
    assert upgraded["providers"]["napari"]["version"] == "0.0.2"
    assert "SECOND_EXTRA" in upgraded["members"] and "FIRST_EXTRA" not in upgraded["members"]


def test_third_party_providers_and_broken_ones(world: World) -> None:
    world.install(
        "my-cmaps",
        "my_cmaps",
        """
        from openhcs_registry.markers import hookimpl

        @hookimpl
        def provide_colormaps():
            return {"my.special-map": "my-cmaps 1.0", "viridis": "my-cmaps 1.0"}
        """,
        group="openhcs",
    )
    world.install(
        "raising-cmaps",
        "raising_cmaps",
        """
        from openhcs_registry.markers import hookimpl

        @hookimpl
        def provide_colormaps():
            raise RuntimeError("no display")
        """,
        group="openhcs",
    )
    world.install(
        "broken-cmaps", "broken_cmaps", "import not_installed_anywhere\n", group="openhcs"
    )
    world.install(
        "odd-cmaps",
        "odd_cmaps",
        """
        from openhcs_registry.markers import hookimpl

        @hookimpl
        def provide_colormaps():
            return ["odd one", 42]
        """,
        group="openhcs",
    )
    out = world.run(
        """
        import json
        from openhcs_registry.enums import create_colormap_enum
        E = create_colormap_enum()
        print(json.dumps({"members": sorted(E.__members__),
                          "special": E.MY_SPECIAL_MAP.display_name}))
        """
    )
    assert {"MY_SPECIAL_MAP", "ODD_ONE", "VIRIDIS", "GRAY"} <= set(out["members"])
    assert out["special"] == "my.special-map"
    if HAS_MATPLOTLIB:
        assert "SPECTRAL_R" in out["members"]  # the built-in providers still count


def test_builtin_plugin_imports_cheaply(_isolated_cache: Path) -> None:
    out = run(
        f"""
        import json, sys
        import openhcs_plugins.colormaps
        print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))
        """,
        _isolated_cache,
    )
    assert out == []


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
    assert set(doc["items"]["enums"]) == set(constants.CACHE_KEYS.values())


COMPONENT_PROBE = """
    import json, os, sys
    import openhcs_registry.constants as c
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
    first = constants.__getattr__("VariableComponents")
    constants.set_component_configuration(
        ["site", "channel", "well", "plate"], multiprocessing_axis="plate"
    )
    second = constants.__getattr__("VariableComponents")
    assert [m.value for m in first] == ["site", "channel", "z_index", "timepoint"]
    assert [m.value for m in second] == ["site", "channel", "well"]
    assert constants.VariableComponents is second
    path = _isolated_cache / "component_enums.json"
    doc = json.loads(path.read_text())
    assert doc["fingerprint"]["config"]["multiprocessing_axis"] == "plate"
    # another process with the default configuration does not take the "plate" document
    out = run(COMPONENT_PROBE, _isolated_cache)
    assert [v for _, v in out["AllComponents"]] == list(constants.DEFAULT_COMPONENTS)
    for bad in (["site"], ["site", "SITE"], ["none", "well"], ["_x", "well"]):
        with pytest.raises(ValueError):
            constants.set_component_configuration(bad, multiprocessing_axis="well")


@pytest.mark.parametrize("damage", ["inconsistent", "old", "fresh-enough"])
def test_component_cache_checks(_isolated_cache: Path, damage: str) -> None:
    constants.__getattr__("GroupBy")
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
    for name in constants.ENUM_NAMES:
        constants.__dict__.pop(name, None)
    group_by = constants.__getattr__("GroupBy")
    if damage == "fresh-enough":  # 6 days < 7: the document is used, behaviour restored
        assert group_by.EXTRA.component == "extra" and group_by.EXTRA == "extra"
    else:
        assert set(group_by.__members__) == {"SITE", "CHANNEL", "Z_INDEX", "TIMEPOINT", "NONE"}


def test_component_cache_unwritable_folder_still_works(tmp_path: Path, monkeypatch: Any) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("OPENHCS_CACHE_DIR", str(blocker / "cache"))
    _fileio._warned.clear()
    assert constants.__getattr__("GroupBy").CHANNEL.component == "channel"


# -- pickling -----------------------------------------------------------------------------------
def test_pickling_round_trip_across_a_subprocess(_isolated_cache: Path) -> None:
    from openhcs_registry.constants import AllComponents, GroupBy

    colormap = enums.create_colormap_enum()
    lazy = enums.create_colormap_enum(lazy=True)
    sent = [GroupBy.CHANNEL, GroupBy.NONE, AllComponents.WELL, colormap.VIRIDIS, lazy.GRAY]
    payload = base64.b64encode(pickle.dumps(sent)).decode()
    out = run(
        f"""
        import base64, pickle, json
        items = pickle.loads(base64.b64decode({payload!r}))
        from openhcs_registry.constants import AllComponents, GroupBy
        from openhcs_registry.enums import ColormapEnum, LazyColormapEnum
        ok = [items[0] is GroupBy.CHANNEL, items[1] is GroupBy.NONE,
              items[2] is AllComponents.WELL, items[3] is ColormapEnum.VIRIDIS,
              items[4] is LazyColormapEnum.GRAY, items[0].component, str(items[1])]
        back = base64.b64encode(pickle.dumps(items)).decode()
        print(json.dumps({{"ok": ok, "back": back}}))
        """,
        _isolated_cache,
    )
    assert out["ok"] == [True, True, True, True, True, "channel", "GroupBy.NONE"]
    again = pickle.loads(base64.b64decode(out["back"]))
    assert again == sent and all(a is b for a, b in zip(again, sent))


# -- the two builders ----------------------------------------------------------------------
def _features(cls: Any) -> dict[str, Any]:
    """Everything a user can observe of an enum class, as plain data."""
    import copy
    import enum

    grey = cls("gray")
    return {
        "members": [(m.name, m.value) for m in cls],
        "all names": list(cls.__members__),
        "aliases": {n: m.name for n, m in cls.__members__.items()},
        "len": len(cls),
        "by value": grey.name,
        "by name": cls["VIRIDIS"].value,
        "alias is member": cls.GREY is cls.GRAY,
        "name/value members": (cls.NAME.name, cls.NAME.value, cls.VALUE.value),
        "repr": repr(cls.VIRIDIS),
        "str": str(cls.VIRIDIS),
        "format": f"{cls.FLAG}",
        "doc": cls.__doc__,
        "module": (cls.__module__, cls.__qualname__, cls.__name__),
        "metaclass": type(cls),
        "is Enum": isinstance(cls.VIRIDIS, enum.Enum) and issubclass(cls, enum.Enum),
        "display_name": [m.display_name for m in cls],
        "from_display_name": cls.from_display_name("VIRIDIS!").name,
        "unknown value": _raises(lambda: cls("nope")),
        "unknown name": _raises(lambda: cls["NOPE"]),
        "reassign": _raises(lambda: setattr(cls, "VIRIDIS", 1)),
        "contains": cls.GRAY in cls,
        "copies": copy.copy(cls.GRAY) is cls.GRAY and copy.deepcopy(cls.GRAY) is cls.GRAY,
        "hash": hash(cls.GRAY) == hash(cls.GRAY) and cls.GRAY == cls.GRAY,
        "dir": {"VIRIDIS", "GRAY", "display_name"} <= set(dir(cls)),
        "pickle": pickle.loads(pickle.dumps(cls.VIRIDIS)) is cls.VIRIDIS,
    }


def _raises(func: Any) -> str | None:
    try:
        func()
    except Exception as exc:
        return type(exc).__name__
    return None


def test_fast_builder_makes_the_same_enum_as_enummeta(monkeypatch: pytest.MonkeyPatch) -> None:
    from openhcs_registry import _enumcache

    members = {
        "VIRIDIS": "viridis",
        "GRAY": "gray",
        "GREY": "gray",  # an alias
        "NAME": "name",  # members named like Enum's own properties
        "VALUE": 3,
        "FLAG": True,
        "NOTHING": None,
    }
    namespace = {
        "display_name": property(lambda self: f"{self.name}!"),
        "from_display_name": classmethod(lambda cls, text: cls[text.rstrip("!")]),
        "__doc__": "Demo colormaps.",
        "__str__": lambda self: f"<{self.name}>",
    }
    built = []
    real = _enumcache._make_simple

    def counting(*args: Any) -> Any:
        built.append("fast")
        return real(*args)

    monkeypatch.setattr(_enumcache, "_make_simple", counting)
    fast = _enumcache.make_enum("Demo", members, module=__name__, namespace=namespace)
    monkeypatch.setattr(sys.modules[__name__], "Demo", fast, raising=False)
    fast_features = _features(fast)
    monkeypatch.setattr(_enumcache, "_FAST", False)
    slow = _enumcache.make_enum("Demo", members, module=__name__, namespace=namespace)
    monkeypatch.setattr(sys.modules[__name__], "Demo", slow)
    assert _features(slow) == fast_features
    assert fast_features["members"] == [
        ("VIRIDIS", "viridis"), ("GRAY", "gray"), ("NAME", "name"), ("VALUE", 3),
        ("FLAG", True), ("NOTHING", None),
    ]  # fmt: skip
    assert built == ["fast"]  # the fast path did run (and fell back on 3.10, where it raises)


def test_a_member_clashing_with_the_namespace_is_refused_by_both_builders(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from openhcs_registry import _enumcache

    for fast in (True, False):
        monkeypatch.setattr(_enumcache, "_FAST", fast)
        with pytest.raises(TypeError):
            _enumcache.make_enum(
                "Clash", {"display_name": "x"}, module=__name__, namespace={"display_name": 1}
            )
