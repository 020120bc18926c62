"""Function catalogues (:mod:`openhcs_hookspecs.functions`, its scan and its ``functions`` command):
real libraries (scikit-image, a small library built here as a distribution in a temp site
folder), real fresh processes, warm catalogues compared with fresh builds after every change.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import support
from openhcs_hookspecs import functions as fn
from support import run_python

HAS_SKIMAGE = importlib.util.find_spec("skimage") is not None


needs_skimage = pytest.mark.skipif(not HAS_SKIMAGE, reason="scikit-image not installed")


#: Prints, as JSON, every entry of a library's catalogue as a fresh process sees it.
EXPORT = """
import json, sys
from openhcs_hookspecs import functions as fn
cat = fn.catalogue({library!r})
entries = {{k: {{f: v for f, v in cat.info(k).items() if f != "source"}} for k in cat}}
summary = {{k: v for k, v in cat.summary().items() if k not in ("source", "built", "cache_file")}}
print(json.dumps({{"source": cat.source, "summary": summary, "entries": entries}}))
"""


def run(code: str, env: dict[str, str], timeout: float = 180) -> Any:
    return run_python(code, env, timeout)


def environ(cache: Path, site: Path | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENHCS_")}
    env["OPENHCS_CACHE_DIR"] = str(cache)
    if site is not None:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), env.get("PYTHONPATH")) if p)
    env.update(extra)
    return env


def export(library: str, env: dict[str, str]) -> Any:
    return run(EXPORT.format(library=library), env)


@pytest.fixture(scope="module")
def skimage_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache folder holding the scikit-image catalogue, built once by a fresh process."""
    if not HAS_SKIMAGE:
        pytest.skip("scikit-image not installed")
    folder = tmp_path_factory.mktemp("skimage-cache")
    assert export("skimage", environ(folder))["source"] == "fresh"
    return folder


# -- scikit-image, the real thing ---------------------------------------------------------


@needs_skimage
def test_skimage_listed_searched_and_checked_without_importing_it(skimage_cache: Path) -> None:
    out = run(
        """
        import json, sys
        from openhcs_hookspecs import functions as fn
        cat = fn.catalogue("skimage")
        keys = list(cat)
        info = cat.info("skimage.filters.gaussian")
        checks = []
        for args, kwargs in [((1,), {"sigma": 2}), ((), {}), ((1,), {"bogus": 1})]:
            try:
                cat.check("skimage.filters.gaussian", *args, **kwargs)
                checks.append(None)
            except fn.CallCheckError as exc:
                checks.append(str(exc))
        heavy = [m for m in sys.modules if m.split(".")[0] in
                 ("skimage", "numpy", "scipy", "pluggy", "lazy_loader")]
        heavy += [m for m in ("importlib.metadata", "openhcs_plugins.functions",
                              "openhcs_hookspecs._function_scan",
                              "openhcs_hookspecs._function_probe", "typing", "logging")
                  if m in sys.modules]
        docs = {k: cat.info(k)["doc"] for k in keys}
        print(json.dumps({"source": cat.source, "n": len(keys), "keys": keys, "info": info,
                          "docs": docs,
                          "search": cat.search("gauss", tag="filters"),
                          "name": fn.search(name="threshold_otsu"),
                          "checks": checks, "heavy": heavy}))
        """,
        environ(skimage_cache),
    )
    assert out["source"] == "cache" and out["heavy"] == []
    assert out["n"] > 300 and "skimage.filters.sobel" in out["keys"]
    assert all(k.startswith("skimage.") for k in out["keys"])
    info = out["info"]
    import skimage
    import skimage.filters

    real = inspect.signature(skimage.filters.gaussian)
    assert info["signature"] == str(real)
    assert info["params"] == [
        [
            p.name,
            p.kind.name,
            None if p.default is p.empty else repr(p.default),
            None if p.annotation is p.empty else str(p.annotation),
        ]
        for p in real.parameters.values()
    ]
    assert info["doc"] == inspect.getdoc(skimage.filters.gaussian).splitlines()[0]
    assert info["defined_in"] == skimage.filters.gaussian.__module__
    assert info["file"] == sys.modules[skimage.filters.gaussian.__module__].__file__
    assert info["version"] == skimage.__version__ and info["distribution"] == "scikit-image"
    assert info["available"] is True and info["memory_type"] == "numpy"
    assert "filters" in info["tags"]
    assert out["search"] == [
        k
        for k in out["keys"]
        if k.startswith("skimage.filters.")
        and ("gauss" in k.lower() or "gauss" in out["docs"][k].lower())
    ]
    assert {"skimage.filters.gaussian", "skimage.filters.difference_of_gaussians"} <= set(
        out["search"]
    )
    assert {h["key"] for h in out["name"]} >= {"skimage.filters.threshold_otsu"}
    assert out["checks"][0] is None
    assert "missing required" in out["checks"][1] and "bogus" in out["checks"][2]


@needs_skimage
def test_skimage_warm_catalogue_equals_a_fresh_build(skimage_cache: Path, tmp_path: Path) -> None:
    warm = export("skimage", environ(skimage_cache))
    fresh = export("skimage", environ(tmp_path / "fresh"))
    assert (warm["source"], fresh["source"]) == ("cache", "fresh")
    assert warm["summary"] == fresh["summary"] and warm["entries"] == fresh["entries"]


@needs_skimage
def test_skimage_catalogue_has_every_public_function_of_its_modules(skimage_cache: Path) -> None:
    """Differential against a direct scan in this process."""
    import importlib

    from openhcs_plugins.functions import SkimageFunctions

    expected = set()
    for name in SkimageFunctions.modules:
        module = importlib.import_module(name)
        expected |= {
            f"{name}.{n}" for n in module.__all__ if inspect.isfunction(getattr(module, n, None))
        }
    keys = export("skimage", environ(skimage_cache))["entries"]
    assert set(keys) == expected


@needs_skimage
def test_resolving_one_function_imports_only_its_submodule(skimage_cache: Path) -> None:
    probe = """
        import json, sys
        before = set(sys.modules)
        {action}
        print(json.dumps(sorted(m for m in set(sys.modules) - before
                                if m.split(".")[0] in ("skimage", "numpy", "scipy"))))
    """
    env = environ(skimage_cache)
    ours = run(
        probe.format(
            action="from openhcs_hookspecs import functions as fn\n"
            "        import skimage.filters as real\n"  # same modules, and the same object?
            "        assert fn.catalogue('skimage')['skimage.filters.gaussian'] is real.gaussian"
        ),
        env,
    )
    resolved = run(
        probe.format(
            action="from openhcs_hookspecs import functions as fn\n"
            "        f = fn.catalogue('skimage')['skimage.filters.gaussian']\n"
            "        assert f.__name__ == 'gaussian'"
        ),
        env,
    )
    # scikit-image loads lazily: the plain way is the import plus the attribute access
    plain = run(probe.format(action="import skimage.filters as m; m.gaussian"), env)
    assert resolved == plain == ours
    scanned = {f"skimage.{m}" for m in ("segmentation", "morphology", "registration", "draw")}
    assert not scanned & set(resolved)  # the other scanned submodules stay unimported


# -- a small library of our own, installed as a distribution in a temp site folder --------


PROVIDER = """
from openhcs_hookspecs.functions import FunctionLibrary
from openhcs_registry import hookimpl


class FakeFunctions(FunctionLibrary):
    library_name = "fake"
    import_name = "fakelib"
    distribution = "fakelib"
    modules = {modules!r}
    tags = ("fake",)
    environment_variables = ("FAKELIB_MODE",)
{extra}


@hookimpl
def provide_function_libraries():
    return [FakeFunctions]
"""


FILTERS_V1 = '''
from fakelib._impl import smooth


def sharpen(image, amount=1.0):
    """Sharpen an image."""
    return image
'''


IMPL_V1 = '''
def smooth(image, sigma=1.0):
    """Smooth an image."""
    return image
'''


class FakeSite:
    """``fakelib`` (a package, its ``.dist-info``) and its provider ``fakeprov`` (a module with
    an ``openhcs`` entry point), laid out as pip leaves them."""

    def __init__(self, root: Path) -> None:
        self.site = root / "site"
        self.site.mkdir(parents=True)
        self.cache = root / "cache"
        self.root = root
        self.fresh_count = 0
        self.write("fakelib/__init__.py", "")
        self.write("fakelib/filters.py", FILTERS_V1)
        self.write("fakelib/_impl.py", IMPL_V1)
        self.write("fakelib/measure.py", "def area(mask):\n    'Count pixels.'\n    return 0\n")
        self.dist("fakelib", "1.0")
        self.provider(("fakelib.filters", "fakelib.measure"))
        info = self.dist("fakeprov", "1.0")
        (info / "entry_points.txt").write_text("[openhcs]\nfakeprov = fakeprov\n")

    def write(self, rel: str, text: str) -> None:
        path = self.site / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())

    def provider(self, modules: tuple[str, ...], extra: str = "") -> None:
        self.write("fakeprov.py", PROVIDER.format(modules=modules, extra=extra))

    def dist(self, name: str, version: str) -> Path:
        info = self.site / f"{name}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        (info / "top_level.txt").write_text(f"{name}\n")
        return info

    def remove_dist(self, name: str, version: str) -> None:
        shutil.rmtree(self.site / f"{name}-{version}.dist-info")

    def env(self, cache: Path | None = None, **extra: str) -> dict[str, str]:
        return environ(cache or self.cache, self.site, **extra)

    def warm(self, **extra: str) -> Any:
        return export("fake", self.env(**extra))

    def fresh(self, **extra: str) -> Any:
        self.fresh_count += 1
        return export("fake", self.env(self.root / f"fresh{self.fresh_count}", **extra))

    def check(self, **extra: str) -> Any:
        """Warm == fresh; a second warm read uses the cache (no blind rebuild)."""
        warm = self.warm(**extra)
        fresh = self.fresh(**extra)
        assert fresh["source"] == "fresh"
        assert (warm["summary"], warm["entries"]) == (fresh["summary"], fresh["entries"])
        again = self.warm(**extra)
        assert again["source"] == "cache" and again["entries"] == warm["entries"]
        return warm


def _sig(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return (st.st_mtime_ns, st.st_ino, st.st_size)


@pytest.mark.slow
def test_fake_library_warm_equals_fresh_through_changes(tmp_path: Path) -> None:
    lib = FakeSite(tmp_path)
    first = lib.check()
    assert set(first["entries"]) == {
        "fakelib.filters.smooth",
        "fakelib.filters.sharpen",
        "fakelib.measure.area",
    }
    assert first["summary"]["version"] == "1.0"
    smooth = first["entries"]["fakelib.filters.smooth"]
    assert (smooth["defined_in"], smooth["signature"]) == ("fakelib._impl", "(image, sigma=1.0)")
    # a neighbour library's document must not be rewritten by any of the changes below
    run(
        "from openhcs_hookspecs import functions as fn; fn.catalogue('openhcs'); print(1)",
        lib.env(),
    )
    neighbour = lib.cache / "function_catalogue_openhcs.json"
    before = _sig(neighbour)

    # 1. edit the defining module (not the scanned one): the signature changes
    lib.write("fakelib/_impl.py", IMPL_V1.replace("sigma=1.0", "sigma=2.0, *, mode='edge'"))
    step = lib.check()
    assert step["entries"]["fakelib.filters.smooth"]["signature"] == (
        "(image, sigma=2.0, *, mode='edge')"
    )

    # 2. add a function to a scanned module
    lib.write(
        "fakelib/measure.py",
        "def area(mask):\n    return 0\n\ndef perimeter(mask):\n"
        "    'Boundary length.'\n    return 0\n",
    )
    step = lib.check()
    assert "fakelib.measure.perimeter" in step["entries"]
    assert step["entries"]["fakelib.measure.area"]["doc"] == ""

    # 3. upgrade the distribution (new .dist-info, new code)
    lib.remove_dist("fakelib", "1.0")
    lib.dist("fakelib", "2.0")
    lib.write("fakelib/filters.py", FILTERS_V1 + "\n\ndef denoise(image, *, weight):\n    pass\n")
    step = lib.check()
    assert step["summary"]["version"] == "2.0"
    assert step["entries"]["fakelib.filters.denoise"]["params"] == [
        ["image", "POSITIONAL_OR_KEYWORD", None, None],
        ["weight", "KEYWORD_ONLY", None, None],
    ]

    # 4. downgrade: the old .dist-info and code come back
    lib.remove_dist("fakelib", "2.0")
    lib.dist("fakelib", "1.0")
    lib.write("fakelib/filters.py", FILTERS_V1)
    step = lib.check()
    assert step["summary"]["version"] == "1.0" and "fakelib.filters.denoise" not in step["entries"]

    # 5. the provider's own code changes what is scanned
    lib.provider(("fakelib.filters",))
    step = lib.check()
    assert set(step["entries"]) == {"fakelib.filters.smooth", "fakelib.filters.sharpen"}

    # 6. a declared environment variable changes: rebuilt (and cached per value)
    warm = lib.warm(FAKELIB_MODE="x")
    assert warm["source"] == "fresh"
    lib.check(FAKELIB_MODE="x")

    # 7. a scanned module that fails at import (SystemExit included) is one failure
    lib.provider(("fakelib.filters", "fakelib.broken"))
    lib.write("fakelib/broken.py", "raise SystemExit(3)\n")
    step = lib.check()
    assert set(step["summary"]["failures"]) == {"fakelib.broken"}
    assert "fakelib.filters.smooth" in step["entries"] and step["summary"]["available"]
    lib.write("fakelib/broken.py", "def mend(x):\n    return x\n")  # fixing it is seen
    step = lib.check()
    assert step["summary"]["failures"] == {} and "fakelib.broken.mend" in step["entries"]

    # 8. a scanned module missing, then appearing
    lib.provider(("fakelib.filters", "fakelib.later"))
    step = lib.check()
    assert "fakelib.later" in step["summary"]["failures"]
    lib.write("fakelib/later.py", "def arrive(x):\n    return x\n")
    step = lib.check()
    assert "fakelib.later.arrive" in step["entries"]

    assert _sig(neighbour) == before  # rebuilt one library, not all


@pytest.mark.slow
def test_library_installed_later_and_device_presence(tmp_path: Path) -> None:
    """pyclesperanto (a stand-in package here): not installed -> installed without an OpenCL
    platform -> with a device; each step seen by a warm process, each equal to a fresh one."""
    if importlib.util.find_spec("pyclesperanto") is not None:
        pytest.skip("the real pyclesperanto is installed")
    site = tmp_path / "site"
    site.mkdir()
    vendors = tmp_path / "vendors"
    cache = tmp_path / "cache"
    env = environ(cache, site, OCL_ICD_VENDORS=str(vendors))

    def both(n: int) -> Any:
        warm = export("pyclesperanto", env)
        fresh = export("pyclesperanto", {**env, "OPENHCS_CACHE_DIR": str(tmp_path / f"f{n}")})
        assert warm["summary"] == fresh["summary"] and warm["entries"] == fresh["entries"]
        return warm

    assert both(1)["summary"]["reason"] == "not installed (pip install pyclesperanto)"
    package = site / "pyclesperanto"
    package.mkdir()
    (package / "__init__.py").write_text(
        "import os\n"
        "def list_available_devices():\n"
        "    return os.listdir(os.environ['OCL_ICD_VENDORS'])\n"
        "def gaussian_blur(src, dst=None, sigma_x=0.0):\n    'Blur.'\n    return src\n"
    )
    vendors.mkdir()
    summary = both(2)["summary"]
    assert summary["reason"] == "no OpenCL platform (no device found)"
    assert summary["available"] is False and summary["functions"] == 0
    (vendors / "gpu0.icd").write_text("")  # a device appears (the stand-in lists a folder)
    out = both(3)
    assert out["summary"]["available"] is True
    assert "pyclesperanto.gaussian_blur" in out["entries"]
    gpu_off = export("pyclesperanto", {**env, "OPENHCS_SUBPROCESS_NO_GPU": "1"})
    assert gpu_off["summary"]["reason"] == "GPU libraries disabled (OPENHCS_SUBPROCESS_NO_GPU=1)"


PROBED = """
import os, sys, time


def fine(image):
    'Fine.'
    return image


def loud(image):
    print("noise on stdout")
    return image


def picky(image):
    raise ValueError("needs 3-D")


def sleeper(image):
    time.sleep(60)


def crasher(image):
    os._exit(7)
"""


@pytest.mark.slow
def test_probing_is_opt_in_isolated_per_function_and_cached(tmp_path: Path) -> None:
    lib = FakeSite(tmp_path)
    lib.write("fakelib/probed.py", PROBED)
    lib.provider(
        ("fakelib.probed",),
        extra="    def probe_samples(self):\n        return {'2d': [[1.0, 2.0]]}\n",
    )
    code = """
        import json, sys
        from openhcs_hookspecs import functions as fn
        first = fn.probe("fake", timeout=1.5)
        again = fn.probe("fake", timeout=1.5)
        print(json.dumps({"first": first, "source": [first.source, again.source],
                          "same": dict(first) == dict(again)}))
    """
    out = run(code, lib.env())
    res = out["first"]
    assert out["source"] == ["fresh", "cache"] and out["same"]
    assert res["fakelib.probed.fine"] == {"2d": "ok: list"}
    assert res["fakelib.probed.loud"] == {"2d": "ok: list"}  # its print did not break the protocol
    assert res["fakelib.probed.picky"] == {"2d": "error: ValueError: needs 3-D"}
    assert res["fakelib.probed.sleeper"]["probe"].startswith("timeout")
    assert res["fakelib.probed.crasher"]["probe"].startswith("crashed")
    assert (lib.cache / "function_probes_fake.json").is_file()
    # a catalogue read never probes, and a source change makes the cached probes stale
    lib.write("fakelib/probed.py", PROBED.replace("raise ValueError", "return image  #"))
    out = run(code, lib.env())
    assert out["source"] == ["fresh", "cache"]
    assert out["first"]["fakelib.probed.picky"] == {"2d": "ok: list"}


def test_corrupt_or_foreign_documents_are_rebuilt(tmp_path: Path) -> None:
    from openhcs_registry import catalogue as store

    cat = fn.catalogue("openhcs")
    path = store.catalogue_file(fn.KIND, "openhcs")
    assert path.exists() and fn.why_stale("openhcs") == "valid"
    good = path.read_bytes()
    for damage in (b"", b"{not json", good[:-10], good.replace(b"normalize", b"normalise")):
        path.write_bytes(damage)
        fn.forget()
        assert fn.why_stale("openhcs") != "valid"
        again = fn.catalogue("openhcs")
        assert again.source == "fresh" and list(again) == list(cat)
    # a well-formed document of the wrong shape (written with a valid checksum) is rebuilt too
    from openhcs_registry._fileio import encode_document

    doc = json.loads(path.read_bytes()[: path.read_bytes().rfind(b',"checksum"')] + b"}")
    doc["functions"] = {"openhcs_plugins.processing.intensity.normalize": {"module": "os"}}
    path.write_bytes(encode_document(doc))
    fn.forget()
    again = fn.catalogue("openhcs")
    assert again.source == "fresh" and list(again) == list(cat)
    # a key in a module the scan did not read never gets that module imported
    doc = json.loads(path.read_bytes()[: path.read_bytes().rfind(b',"checksum"')] + b"}")
    doc["functions"]["antigravity.fly"] = "Fly."
    path.write_bytes(encode_document(doc))
    fn.forget()
    hostile = fn.catalogue("openhcs")
    assert hostile.source == "cache" and "antigravity.fly" in hostile
    with pytest.raises(KeyError):
        hostile["antigravity.fly"]
    assert "antigravity" not in sys.modules
    # a details document of another build is never paired with the catalogue: rebuilt
    details = store.catalogue_file(fn.DETAILS_KIND, "openhcs")
    fn.forget()
    fn.catalogue("openhcs", rebuild=True)
    good_details = details.read_bytes()
    doc = json.loads(good_details[: good_details.rfind(b',"checksum"')] + b"}")
    doc["checksum_of_details"] += 1
    details.write_bytes(encode_document(doc))
    fn.forget()
    cached = fn.catalogue("openhcs")
    assert cached.source == "cache"
    key = "openhcs_plugins.processing.intensity.rescale"
    assert cached.signature(key) == str(inspect.signature(cached[key]))
    assert fn.catalogue("openhcs").source == "fresh"  # the pair was rebuilt


def test_a_broken_provider_or_module_breaks_only_itself() -> None:
    """Providers defined at run time (overlaid on the registry in this process)."""

    class HalfBroken(fn.FunctionLibrary):
        library_name = "half_broken"
        modules = ("json", "os.path", "no_such_module_here")

        def is_function(self, obj: Any) -> bool:
            if getattr(obj, "__name__", "") == "dumps":
                raise RuntimeError("boom")
            return inspect.isfunction(obj)

    class Broken(fn.FunctionLibrary):
        library_name = "broken_provider"

        def __init__(self) -> None:
            raise RuntimeError("cannot even start")

    try:
        half = fn.catalogue("half_broken")
        assert half.available and "os.path.join" in half and "json.loads" not in half
        failures = half.summary()["failures"]
        assert failures["json"] == "scan failed: RuntimeError: boom"
        assert failures["no_such_module_here"].startswith("ModuleNotFoundError")
        assert half.info("os.path.join")["signature"] == str(inspect.signature(os.path.join))
        broken = fn.catalogue("broken_provider")
        assert not broken.available and len(broken) == 0
        assert broken.reason == "provider failed: RuntimeError: cannot even start"
        assert fn.catalogue("openhcs").available  # the others are unaffected
    finally:
        from openhcs_registry import _autoregister as autoregister

        autoregister.forget("function_library", HalfBroken)
        autoregister.forget("function_library", Broken)
        fn.FUNCTION_LIBRARIES.reset()
    assert "half_broken" not in fn.FUNCTION_LIBRARIES


def test_threads_asking_at_once_build_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from openhcs_hookspecs import _function_scan

    builds = []
    real_build = _function_scan.build

    def counting_build(provider: Any) -> Any:
        builds.append(provider)
        return real_build(provider)

    monkeypatch.setattr(_function_scan, "build", counting_build)
    fn.forget()
    start = threading.Barrier(8)
    got: list[Any] = []

    errors: list[BaseException] = []

    def ask() -> None:
        start.wait()
        try:
            got.append(fn.catalogue("openhcs"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(got) == 8 and all(c is got[0] for c in got)
    assert len(builds) == 1, [fn.why_stale("openhcs")]


def test_threads_reading_one_valid_document_share_one_catalogue() -> None:
    import threading

    first = fn.catalogue("openhcs")  # built, and its document written
    fn.forget()  # as in a process that has not read the document yet
    start = threading.Barrier(8)
    got: list[Any] = []

    def ask() -> None:
        start.wait()
        got.append(fn.catalogue("openhcs"))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 8 and all(c is got[0] for c in got), {id(c) for c in got}
    assert got[0].source == "cache" and got[0] is not first


def test_forget_drops_this_process_catalogues_only_of_that_library() -> None:
    """``fn.forget(library)``: the next ``catalogue()`` reads the document again, as a fresh
    process would; another library's catalogue, and objects handed out, are kept."""
    held = fn.catalogue("openhcs")
    assert fn.catalogue("openhcs") is held  # kept while its inputs hold
    fn.forget("skimage")
    assert fn.catalogue("openhcs") is held
    fn.forget("openhcs")
    again = fn.catalogue("openhcs")
    assert again is not held and again.source == "cache" and list(again) == list(held)
    fn.forget()
    assert fn.catalogue("openhcs") is not again


def test_unknown_library_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="unknown function library 'nope'"):
        fn.catalogue("nope")


def test_cache_disabled_builds_without_writing(
    monkeypatch: pytest.MonkeyPatch, _isolated_cache: Path
) -> None:
    monkeypatch.setenv("OPENHCS_DISABLE_REGISTRY_CACHE", "1")
    fn.forget()
    cat = fn.catalogue("openhcs")
    assert cat.source == "fresh" and len(cat) == 10
    assert not list(_isolated_cache.glob("function_catalogue_*"))


# -- the CLI ------------------------------------------------------------------------------


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return support.cli(*args, env=env, timeout=180)


def test_cli_functions(tmp_path: Path) -> None:
    env = environ(tmp_path)
    proc = cli("functions", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    libraries = {row["library"]: row for row in json.loads(proc.stdout)}
    assert set(libraries) >= {"openhcs", "skimage", "cupy", "pyclesperanto"}
    assert libraries["openhcs"]["functions"] == 10 and libraries["openhcs"]["available"]
    for name in ("cupy", "pyclesperanto"):
        if not libraries[name]["available"]:
            assert libraries[name]["reason"]
    text = cli("functions", env=env)
    assert text.returncode == 0 and "openhcs" in text.stdout and "cache" in text.stdout

    proc = cli("functions", "openhcs", "--search", "THRESHOLD", "--json", env=env)
    keys = [row["key"] for row in json.loads(proc.stdout)]
    assert keys == [
        "openhcs_plugins.processing.threshold.threshold",
        "openhcs_plugins.processing.threshold.threshold_mean",
        "openhcs_plugins.processing.threshold.threshold_otsu",
    ]
    proc = cli("functions", "--tag", "measure", "--name", "area", "--json", env=env)
    assert [row["key"] for row in json.loads(proc.stdout)] == [
        "openhcs_plugins.processing.measure.area"
    ]

    key = "openhcs_plugins.processing.intensity.rescale"
    proc = cli("functions", key, "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)
    assert (
        shown["signature"] == "(image: 'Image', low: 'float' = 0.0, high: 'float' = 1.0) -> 'Image'"
    )
    assert shown["defined_in"] == "openhcs_plugins.processing.intensity"
    assert shown["file"].endswith(os.path.join("processing", "intensity.py"))
    proc = cli("functions", key, "--show", env=env)
    assert proc.returncode == 0 and "rescale(image" in proc.stdout and "low" in proc.stdout

    for bad in (["functions", "nope"], ["functions", "openhcs_plugins.nope.x"]):
        proc = cli(*bad, env=env)
        assert proc.returncode == 2 and "error" in proc.stderr


class LibraryModel:
    """What ``fakelib`` holds: per module, function name -> default; its version; what the
    provider scans.  Written to disk in full after every step, compared with the catalogue."""

    def __init__(self, lib: FakeSite) -> None:
        self.lib = lib
        self.version = 1
        self.modules: dict[str, dict[str, int]] = {"filters": {"blur": 1}, "measure": {"size": 2}}
        self.scanned = ["filters", "measure"]
        self.mode = ""
        self.counter = 0
        self.write_all()

    def write_all(self) -> None:
        """Rewrite what changed only: an upgrade alone must be seen through its .dist-info."""
        for module, funcs in self.modules.items():
            source = "".join(
                f"def {name}(image, k={default}):\n    '{name} doc.'\n    return image\n\n"
                for name, default in funcs.items()
            )
            self._write(f"fakelib/{module}.py", source or "VALUE = 1\n")
        self._write(
            "fakeprov.py",
            PROVIDER.format(modules=tuple(f"fakelib.{m}" for m in self.scanned), extra=""),
        )

    def _write(self, rel: str, text: str) -> None:
        path = self.lib.site / rel
        if not path.exists() or path.read_text() != textwrap.dedent(text).lstrip():
            self.lib.write(rel, text)

    def expected(self) -> dict[str, str]:
        return {
            f"fakelib.{m}.{name}": f"(image, k={default})"
            for m in self.scanned
            for name, default in self.modules[m].items()
        }

    # -- steps -----------------------------------------------------------------------------
    def edit(self, rng: Any) -> None:
        module = rng.choice(sorted(self.modules))
        if self.modules[module]:
            name = rng.choice(sorted(self.modules[module]))
            self.modules[module][name] += 1 + rng.randrange(100)

    def add(self, rng: Any) -> None:
        self.counter += 1
        self.modules[rng.choice(sorted(self.modules))][f"fn{self.counter}"] = rng.randrange(9)

    def remove(self, rng: Any) -> None:
        module = rng.choice(sorted(self.modules))
        if self.modules[module]:
            del self.modules[module][rng.choice(sorted(self.modules[module]))]

    def upgrade(self, rng: Any) -> None:
        self.lib.remove_dist("fakelib", f"{self.version}.0")
        self.version += 1
        self.lib.dist("fakelib", f"{self.version}.0")

    def downgrade(self, rng: Any) -> None:
        if self.version > 1:
            self.lib.remove_dist("fakelib", f"{self.version}.0")
            self.version -= 1
            self.lib.dist("fakelib", f"{self.version}.0")

    def rescan(self, rng: Any) -> None:
        self.scanned = ["filters"] if len(self.scanned) == 2 else ["filters", "measure"]

    def switch_mode(self, rng: Any) -> None:
        self.mode = "" if self.mode else "x"


@pytest.mark.slow
@pytest.mark.parametrize("seed", [11, 23])
def test_random_library_changes_warm_equals_fresh_equals_model(tmp_path: Path, seed: int) -> None:
    """Model-based: random edits, added and removed functions, upgrades and downgrades of the
    distribution, provider changes and variable switches; after each, a warm fresh process
    equals a fresh build, both equal the model, and a second warm read uses the cache."""
    import random

    rng = random.Random(seed)
    lib = FakeSite(tmp_path)
    model = LibraryModel(lib)
    steps = ["edit", "add", "remove", "upgrade", "downgrade", "rescan", "switch_mode"]
    order = rng.sample(steps, len(steps)) + [rng.choice(steps) for _ in range(2)]
    if order.index("downgrade") < order.index("upgrade"):  # a downgrade that does something
        order.append("downgrade")
    for step in order:  # every kind of step, in a random order, then a few more
        getattr(model, step)(rng)
        model.write_all()
        extra = {"FAKELIB_MODE": model.mode} if model.mode else {}
        warm = lib.check(**extra)
        got = {k: v["signature"] for k, v in warm["entries"].items()}
        assert got == model.expected(), step
        assert warm["summary"]["version"] == f"{model.version}.0", step
        assert all(v["doc"] == f"{k.rpartition('.')[2]} doc." for k, v in warm["entries"].items())


def test_inputs_saved_just_before_the_write_are_also_checked_by_content(tmp_path: Path) -> None:
    """A file modified within the racy window gets a content checksum: a same-tick edit
    (same signature, other bytes) is still a change.  Such an edit cannot be staged from
    user space (ctime moves), so the recorded checksum stands in for the old content."""
    from openhcs_registry import catalogue as store

    fresh = tmp_path / "fresh.py"
    fresh.write_text("A = 1\n")
    old = tmp_path / "old.py"
    old.write_text("B = 2\n")
    os.utime(old, ns=(1_000_000_000, 1_000_000_000))
    rec = store.InputRecord()
    rec.file(str(fresh))
    rec.file(str(old))
    inputs = rec.as_document()
    assert set(inputs["digests"]) == {str(fresh)}  # only the racy one
    assert store.changed_input(inputs) is None
    inputs["digests"][str(fresh)] += 1
    assert store.changed_input(inputs) == f"{fresh} changed (same signature, other content)"
    old.write_text("B = 3\n")
    inputs["digests"][str(fresh)] -= 1
    assert store.changed_input(inputs) == f"{old} changed"


@needs_skimage
def test_cli_on_a_warm_catalogue_imports_no_library(skimage_cache: Path) -> None:
    code = """
        import contextlib, io, json, sys
        from openhcs_registry.cli import main
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            codes = [main(["functions", "skimage", "--search", "gauss", "--json"]),
                     main(["functions", "skimage.filters.gaussian", "--json"]),
                     main(["functions"])]
        hits = json.loads(out.getvalue().split("\\n]\\n")[0] + "\\n]")
        heavy = [m for m in sys.modules if m.split(".")[0] in ("skimage", "numpy", "scipy")]
        print(json.dumps({"codes": codes, "hits": [h["key"] for h in hits], "heavy": heavy}))
    """
    out = run(code, environ(skimage_cache))
    assert out["codes"] == [0, 0, 0] and out["heavy"] == []
    assert "skimage.filters.gaussian" in out["hits"]
