"""The colormap enum and its providers (:mod:`openhcs_hookspecs.colormaps`).

Real files, real subprocesses, real (temporary) distributions; matplotlib comes from the test
extra so the colormap cold path really imports it and the warm path really avoids it.  The
built-in provider plugin: tests/test_plugins_colormaps.py.
"""

from __future__ import annotations

import base64
import json
import os
import pickle
import time
from pathlib import Path
from typing import Any

import pytest
from enum_support import DAY, HAS_MATPLOTLIB, HEAVY, _fresh_enums, describe, rewrite, run
from openhcs_hookspecs import colormaps
from support import World, race

from openhcs_registry import enums

__all__ = ["_fresh_enums"]


MODULE = "openhcs_hookspecs.colormaps"


def test_32_threads_race_the_colormap_enum(_isolated_cache: Path) -> None:
    got = race(colormaps.create_colormap_enum)
    assert len(got) == 32 and all(g is got[0] for g in got)


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
    assert colormaps.sanitize_member_name(display) == member


def test_colormap_members_first_wins_and_unusable_names_are_left_out() -> None:
    members = colormaps.colormap_members(["gist-earth", "gist earth", "---", "", "x\u00b2", "ok"])
    assert members == {"GIST_EARTH": "gist-earth", "OK": "ok"}


def test_colormap_enum_fresh_equals_cached(_isolated_cache: Path) -> None:
    fresh = colormaps.create_colormap_enum()
    assert fresh.VIRIDIS.value == "viridis" and fresh.VIRIDIS.display_name == "viridis"
    assert [m.value for m in fresh][: len(colormaps.BASE_COLORMAPS)] == list(
        colormaps.BASE_COLORMAPS
    )
    if HAS_MATPLOTLIB:
        import matplotlib

        assert {colormaps.sanitize_member_name(n) for n in matplotlib.colormaps} <= set(
            fresh.__members__
        )
        assert fresh.SPECTRAL_R.display_name == "Spectral_r"
    assert colormaps.create_colormap_enum() is fresh and colormaps.ColormapEnum is fresh
    enums.forget(MODULE, "ColormapEnum")
    cached = colormaps.create_colormap_enum()
    assert cached is not fresh and describe(cached) == describe(fresh)
    assert cached.from_display_name("viridis") is cached.VIRIDIS
    with pytest.raises(ValueError):
        cached.from_display_name("no-such-map")
    doc = json.loads((_isolated_cache / "colormap_enum.json").read_text())
    assert set(doc["fingerprint"]) == {"environment", "settings", "libraries"}
    assert doc["fingerprint"]["libraries"]["matplotlib"]["found"] is HAS_MATPLOTLIB


@pytest.mark.skipif(not HAS_MATPLOTLIB, reason="needs matplotlib (test extra)")
def test_warm_colormap_enum_imports_no_provider(_isolated_cache: Path) -> None:
    code = f"""
        import json, sys
        from openhcs_hookspecs.colormaps import create_colormap_enum
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
        from openhcs_hookspecs.colormaps import create_colormap_enum
        L = create_colormap_enum(lazy=True)
        print(json.dumps({{"values": [m.value for m in L], "name": L.__qualname__,
                          "imported": [m for m in {HEAVY!r} if m in sys.modules]}}))
        """,
        _isolated_cache,
    )
    assert out == {
        "values": list(colormaps.BASE_COLORMAPS),
        "name": "LazyColormapEnum",
        "imported": [],
    }
    assert not path.exists()

    # a planted document that matches the fingerprint: enable_cache=False must not read it
    enums.cached_enum(
        "ColormapEnum",
        lambda: {"PLANTED": "planted"},
        module=MODULE,
        file_name="colormap_enum.json",
        fingerprint=colormaps.colormap_fingerprint,
    )
    planted = path.read_bytes()
    enums.forget(MODULE, "ColormapEnum")
    uncached = colormaps.create_colormap_enum(enable_cache=False)
    assert "VIRIDIS" in uncached.__members__ and "PLANTED" not in uncached.__members__
    assert path.read_bytes() == planted  # neither read nor written
    assert (
        colormaps.create_colormap_enum(enable_cache=False) is uncached
    )  # same members: same class
    enums.forget(MODULE, "ColormapEnum")
    assert "PLANTED" in colormaps.create_colormap_enum().__members__  # the file was valid


def test_colormap_cache_lasts_30_days(_isolated_cache: Path) -> None:
    colormaps.create_colormap_enum()
    path = _isolated_cache / "colormap_enum.json"

    def plant(age_days: float) -> Any:
        def change(doc: dict[str, Any]) -> None:
            doc["timestamp"] = time.time() - age_days * DAY
            doc["items"]["members"] = {"PLANTED": "planted"}

        rewrite(path, change)
        enums.forget(MODULE, "ColormapEnum")
        return colormaps.create_colormap_enum()

    assert "PLANTED" in plant(29).__members__
    assert "PLANTED" not in plant(31).__members__


def test_colormap_cache_follows_discovery_settings(
    _isolated_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = colormaps.create_colormap_enum()
    monkeypatch.setenv("OPENHCS_DISABLE_ENTRY_POINTS", "1")
    enums.forget(MODULE, "ColormapEnum")
    base = colormaps.create_colormap_enum()
    assert [m.value for m in base] == list(colormaps.BASE_COLORMAPS)  # always present
    monkeypatch.delenv("OPENHCS_DISABLE_ENTRY_POINTS")
    enums.forget(MODULE, "ColormapEnum")
    assert describe(colormaps.create_colormap_enum()) == describe(full)


FAKE_NAPARI = {
    "napari/__init__.py": "",
    "napari/utils/__init__.py": "",
    "napari/utils/colormaps.py": "AVAILABLE_COLORMAPS = {{'gray': 0, 'napari special': 1, {extra!r}: 2}}\n",
}


COLORMAP_PROBE = f"""
    import json, sys
    from openhcs_hookspecs.colormaps import create_colormap_enum, provider_libraries
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
        from openhcs_registry import hookimpl

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
        from openhcs_registry import hookimpl

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
        from openhcs_registry import hookimpl

        @hookimpl
        def provide_colormaps():
            return ["odd one", 42]
        """,
        group="openhcs",
    )
    out = world.run(
        """
        import json
        from openhcs_hookspecs.colormaps import create_colormap_enum
        E = create_colormap_enum()
        print(json.dumps({"members": sorted(E.__members__),
                          "special": E.MY_SPECIAL_MAP.display_name}))
        """
    )
    assert {"MY_SPECIAL_MAP", "ODD_ONE", "VIRIDIS", "GRAY"} <= set(out["members"])
    assert out["special"] == "my.special-map"
    if HAS_MATPLOTLIB:
        assert "SPECTRAL_R" in out["members"]  # the built-in providers still count


def test_pickling_round_trip_across_a_subprocess(_isolated_cache: Path) -> None:
    colormap = colormaps.create_colormap_enum()
    lazy = colormaps.create_colormap_enum(lazy=True)
    sent = [colormap.VIRIDIS, lazy.GRAY]
    payload = base64.b64encode(pickle.dumps(sent)).decode()
    out = run(
        f"""
        import base64, pickle, json
        items = pickle.loads(base64.b64decode({payload!r}))
        from openhcs_hookspecs.colormaps import ColormapEnum, LazyColormapEnum
        ok = [items[0] is ColormapEnum.VIRIDIS, items[1] is LazyColormapEnum.GRAY]
        back = base64.b64encode(pickle.dumps(items)).decode()
        print(json.dumps({{"ok": ok, "back": back}}))
        """,
        _isolated_cache,
    )
    assert out["ok"] == [True, True]
    again = pickle.loads(base64.b64decode(out["back"]))
    assert again == sent and all(a is b for a, b in zip(again, sent, strict=True))
