"""The engine's generic cached-enum factory (:mod:`openhcs_registry.enums`; its builders:
tests/test_enumcache.py).

Real files, real threads; the OpenHCS enums built on it are tested with their contracts
(tests/test_contracts_colormaps.py, tests/test_contracts_components.py).
"""

from __future__ import annotations

import importlib
import json
import os
import pickle
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from enum_support import DAY, _fresh_enums, describe, rewrite

from openhcs_registry import enums

__all__ = ["_fresh_enums"]


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


def test_isolated_hides_this_process_enums_and_brings_them_back(_isolated_cache: Path) -> None:
    """``enums.isolated()``: inside, an enum made before is unknown (its module attribute
    gone, the next creation reads the cache); after, the earlier class is back, published
    again, and the one made inside is forgotten."""
    before = make_color(Builds({"RED": "red"}), file_name=None)
    with enums.isolated():
        assert "Color" not in globals()  # unpublished: the owner's __getattr__ would run
        build = Builds({"RED": "red", "GREEN": "green"})
        inside = make_color(build, file_name=None)
        assert inside is not before and build.calls == 1
        assert describe(inside) == [["RED", "red"], ["GREEN", "green"]]
        assert make_color(build, file_name=None) is inside  # memoised inside
    assert globals()["Color"] is before
    assert make_color(Builds({"X": 1}), file_name=None) is before
    with enums.isolated():
        pass
    assert globals()["Color"] is before  # an empty scope changes nothing
    enums.forget(__name__, "Color")  # the attribute stays (old pickles resolve)
    with enums.isolated():
        assert globals()["Color"] is before  # not the memo's: left alone
        made = make_color(Builds({"BLUE": "blue"}), file_name=None)
        assert globals()["Color"] is made
    assert "Color" not in globals()  # made inside: forgotten, attribute and all


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


def test_hook_answers_list_load_and_call_plugins_as_discovery_does(world: Any) -> None:
    """``hook_answers`` (an enum built from plugins' answers) goes through discovery's own
    listing, loading and calling: built-in plugins first, each load and call isolated
    (``SystemExit`` at import included), failures reported under the enum's label with
    discovery's messages."""
    import subprocess

    world.write_spec()
    tag = world.tag
    good = world.plugin_source(("Alpha", "alpha"))
    world.install("alpha-plugin", f"alpha_{tag}", good, group="openhcs")
    world.install(
        "beta-plugin",
        f"beta_{tag}",
        world.plugin_source(hook=False)
        + "@hookimpl\ndef provide_things():\n    raise RuntimeError('no display')\n",
        group="openhcs",
    )
    world.install("gamma-plugin", f"gamma_{tag}", "raise SystemExit(3)\n", group="openhcs")
    code = f"""
        import json, sys
        import {world.spec} as spec
        from openhcs_registry.enums import hook_answers
        answers = hook_answers(spec, "provide_things", label="things_answers")
        print(json.dumps([[label, module, [c.__name__ for c in value]]
                          for label, module, value in answers]))
        """
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=world.env(),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=world.root,
    )
    assert proc.returncode == 0, proc.stderr
    answers = json.loads(proc.stdout.splitlines()[-1])
    assert answers == [[f"alpha_{tag}:provide_things", f"alpha_{tag}", ["Alpha"]]]
    warnings = proc.stderr
    assert "things_answers" in warnings
    assert f"beta_{tag}" in warnings and "RuntimeError: no display" in warnings
    assert f"gamma_{tag}" in warnings and "SystemExit" in warnings
