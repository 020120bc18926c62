"""Why a key is missing (:mod:`openhcs_registry._cold._explain`): the evidence ``why`` and ``doctor`` show a
plugin author (issue 15), and a plugin written from the docs giving no unexpected warning.

Each test breaks a real plugin (files and ``.dist-info`` on disk, see :class:`World`) one way
and checks what a stranger sees: the warning on stderr, ``doctor``'s verdict and ``why``'s
explanation, run as real ``openhcs-registry`` subprocesses.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from support import World, doctor_json, doctor_kinds, why_json, world_cli


def test_explain_blocked_in_process(world: World) -> None:
    from openhcs_registry._cold._explain import explain

    world.write_spec()
    world.install("good-plugin", f"good_{world.tag}", world.plugin_source(("Good", "good")))
    registry = world.registry()
    # blocked before the plugin module is ever imported (once imported, its classes are
    # noted at import time and overlaid in this process whatever the block says)
    registry.block(f"good_{world.tag}")
    result = explain(registry, "good")
    assert not result.found
    assert [c["cause"] for c in result.causes] == ["blocked"]
    assert "blocked by name" in result.causes[0]["detail"]
    registry.unblock(f"good_{world.tag}")
    assert explain(registry, "good").found


# -- a misspelt hookimpl name (issue 15, item 2) --------------------------------------------------
def test_misspelt_hookimpl_is_a_warning_a_doctor_problem_and_a_why_cause(world: World) -> None:
    world.write_spec()
    world.install("good-plugin", f"good_{world.tag}", world.plugin_source(("Good", "good")))
    source = world.plugin_source(("Typo", "typo"), hook=False)
    source += "@hookimpl\ndef provide_thing():\n    return [Typo]\n"
    world.install("typo-plugin", f"typo_{world.tag}", source)
    listed = world_cli(world, "list", world.name)
    assert listed.returncode == 0
    assert "hookimpl 'provide_thing' matches no hookspec" in listed.stderr
    assert "did you mean 'provide_things'?" in listed.stderr
    # the misspelt hook provides nothing: Typo, defined in the entry point's module, is out
    assert list(
        json.loads(world_cli(world, "list", world.name, "--json").stdout)[world.name]["items"]
    ) == ["good"]
    code, report = doctor_json(world)
    assert code == 1 and doctor_kinds(report, world.name) == ["unknown_hook"]
    assert any("unknown_hook" in p and f"typo_{world.tag}" in p for p in report["problems"])
    causes = why_json(world, "typo")["causes"]
    assert causes[0]["cause"] == "unknown hook name"
    assert "did you mean 'provide_things'" in causes[0]["detail"]
    assert "rename the hookimpl" in causes[0]["advice"]


def test_hooks_of_other_contracts_of_the_group_are_not_misspellings(world: World) -> None:
    """A hookimpl for another registry of the same group is known through its contracts
    entry point (``<group>.contracts``), even though that contract module is not imported."""
    world.write_spec()
    other = f"othercontract_{world.tag}"
    world.write(
        f"{other}.py",
        "from openhcs_registry import hookspec\n"
        "@hookspec\ndef provide_gadgets():\n    'Another registry of the same group.'\n",
    )
    world.add_dist_info(
        "other-contracts", "1.0", {"gadgets": other}, group=f"{world.group}.contracts"
    )
    source = world.plugin_source(("Good", "good"))
    source += "\n@hookimpl\ndef provide_gadgets():\n    return []\n"
    source += "\n@hookimpl\ndef provide_gadget():\n    return []\n"
    world.install("good-plugin", f"good_{world.tag}", source)
    code, report = doctor_json(world)
    failures = report["registries"][world.name]["failures"]
    assert [f["kind"] for f in failures] == ["unknown_hook"]
    assert "'provide_gadget'" in failures[0]["message"]
    assert "did you mean 'provide_gadgets'?" in failures[0]["message"]
    assert code == 1


# -- why, precise and crash-free (issue 15, item 5) -----------------------------------------------
def test_why_class_in_a_submodule_of_a_package_in_the_wrong_group(world: World) -> None:
    world.write_spec()
    pkg = f"wrongpkg_{world.tag}"
    world.write(f"{pkg}/__init__.py", "from .impl import Deep\n")
    world.write(f"{pkg}/impl.py", world.plugin_source(("Deep", "deep")))
    world.add_dist_info("wrongpkg", "1.0", {"wrongpkg": pkg}, group="some.other.group")
    proc = world_cli(world, "why", world.name, "deep", "--json")
    assert proc.returncode == 1, proc.stderr  # not a KeyError crash
    (cause,) = json.loads(proc.stdout)["causes"]
    assert cause["cause"] == "wrong entry-point group"
    assert cause["module"] == f"{pkg}.impl"
    assert f"wrongpkg = {pkg} in group 'some.other.group'" in cause["detail"]


def test_why_module_imported_by_discovery_is_not_outside_the_packages(world: World) -> None:
    world.write_spec()
    pkg = f"eppkg_{world.tag}"
    world.write(
        f"{pkg}/__init__.py",
        "from .helpers import Helper\n" + world.plugin_source(("Good", "good")),
    )
    world.write(f"{pkg}/helpers.py", "class Helper:\n    kind = 'helper'\n")
    world.add_dist_info("eppkg", "1.0", {"eppkg": pkg})
    causes = why_json(world, "helper")["causes"]
    assert [c["cause"] for c in causes] == ["not returned by the hook"]
    assert "imported by discovery" in causes[0]["detail"]
    assert "subclass of Thing" in causes[0]["advice"]


def test_why_abstract_names_the_abstract_methods(world: World) -> None:
    pkg = f"scan_{world.tag}"
    world.write_spec(packages=(pkg,))
    world.write(f"{pkg}/__init__.py", "")
    abstract = f"""
        import abc
        from {world.spec} import Thing
        class Half(Thing, abc.ABC):
            kind = "half"
            @abc.abstractmethod
            def run(self): ...
            @abc.abstractmethod
            def stop(self): ...
        """
    world.write(f"{pkg}/mod.py", abstract)
    world.install(
        "abs-plugin",
        f"abs_{world.tag}",
        world.plugin_source(("Abs", "abs"))
        .replace(
            "class Abs(Thing):",
            "class Abs(Thing, abc.ABC):\n    @abc.abstractmethod\n    def go(self): ...",
        )
        .replace("from openhcs_registry", "import abc\nfrom openhcs_registry"),
    )
    assert world_cli(world, "cache", "warm").returncode == 0  # explained from the cache, too
    half = why_json(world, "half")["causes"]
    assert [c["cause"] for c in half] == ["abstract class"]
    assert "abstract methods to implement: run, stop" in half[0]["detail"]
    returned = why_json(world, "abs")["causes"]
    assert [c["cause"] for c in returned] == ["abstract class"]
    assert "Abs is abstract (abstract methods to implement: go)" in returned[0]["detail"]


def test_why_key_of_the_wrong_type_names_the_type(world: World) -> None:
    pkg = f"scan_{world.tag}"
    world.write_spec(packages=(pkg,))
    world.write(f"{pkg}/__init__.py", "")
    world.write(
        f"{pkg}/mod.py", f"from {world.spec} import Thing\nclass Num(Thing):\n    kind = 42\n"
    )
    world.install(
        "num-plugin",
        f"num_{world.tag}",
        world.plugin_source(("Seven", "seven")).replace("kind = 'seven'", "kind = 7.0"),
    )
    (cause,) = why_json(world, "42")["causes"]
    assert cause["cause"] == "missing key attribute"
    assert "it is 42, an int; a key must be a non-empty str (write '42')" in cause["detail"]
    (returned,) = why_json(world, "7.0")["causes"]
    assert "it is 7.0, a float" in returned["detail"]


def test_why_suggests_close_keys_including_left_out_ones(world: World) -> None:
    world.write_spec()
    world.install(
        "good-plugin",
        f"good_{world.tag}",
        world.plugin_source(("Good", "goodness"), hook=False)
        + "\nfrom openhcs_registry import Unavailable\n"
        "@hookimpl\ndef provide_things():\n"
        "    return [Good, Unavailable('omero', 'needs the omero-py package', 'omero')]\n",
        ep_name="goodplugin",
    )
    data = why_json(world, "goodnes")
    assert data["suggestions"] == ["goodness"]
    assert "did you mean 'goodness'?" in data["causes"][-1]["advice"]
    assert why_json(world, "omeroo")["suggestions"] == ["omero"]  # unavailable keys count too
    text = world_cli(world, "why", world.name, "omeroo").stdout
    assert "did you mean 'omero'" in text


def test_why_entry_point_target_typo_is_not_a_missing_dependency(world: World) -> None:
    world.write_spec()
    real = f"realmod_{world.tag}"
    world.write(f"{real}.py", world.plugin_source(("Real", "real")))
    world.add_dist_info("typo-ep", "1.0", {"typo": f"realmdo_{world.tag}"})
    world.add_dist_info("attr-ep", "1.0", {"attrtypo": f"{real}:nothere"})
    world.install("needs-dep", f"needsdep_{world.tag}", "import libfoo_not_installed_anywhere\n")
    typo = why_json(world, "typo")["causes"]
    by_plugin = {c["plugin"]: c for c in typo}
    module_typo = by_plugin["typo"]
    assert module_typo["cause"] == "entry-point target does not exist"
    assert "install" not in module_typo["advice"].replace("reinstall", "")
    assert f"did you mean '{real}'?" in module_typo["advice"]
    attr = why_json(world, "attrtypo")["causes"][0]
    assert attr["cause"] == "entry-point target does not exist"
    assert "the part after ':'" in attr["advice"]
    dep = why_json(world, "needsdep")["causes"][0]
    assert dep["cause"] == "missing dependency"
    assert "install the package that provides 'libfoo_not_installed_anywhere'" in dep["advice"]
    assert dep["location"].endswith(f"needsdep_{world.tag}.py:1")


def test_why_in_process_from_a_fresh_discovery(world: World) -> None:
    """The same evidence without a cache: ``explain`` on a registry discovered in-process."""
    from openhcs_registry._cold._explain import explain

    world.write_spec()
    pkg = f"eppkg_{world.tag}"
    world.write(
        f"{pkg}/__init__.py",
        "from .helpers import Helper\n" + world.plugin_source(("Good", "good")),
    )
    world.write(f"{pkg}/helpers.py", "class Helper:\n    kind = 'helper'\n")
    world.add_dist_info("eppkg", "1.0", {"eppkg": pkg})
    registry = world.registry()
    assert sorted(registry) == ["good"] and registry.source == "fresh"
    result = explain(registry, "helper")
    assert [c["cause"] for c in result.causes] == ["not returned by the hook"]
    assert explain(registry, "god").suggestions == ["good"]
    assert os.environ["OPENHCS_CACHE_DIR"] == str(world.cache_dir)


# -- done when: a plugin written from the docs works first time, with only expected outcomes -----
def test_a_plugin_written_from_the_docs_works_with_no_unexpected_warning(world: World) -> None:
    world.write_spec()
    pkg = f"docsplugin_{world.tag}"
    world.write(
        f"{pkg}/__init__.py",
        f'''
        from openhcs_registry import hookimpl
        from openhcs_hookspecs.microscopes import MicroscopeHandler
        from openhcs_plugins.storage.memory import MemoryBackend

        class MyScopeHandler(MicroscopeHandler):
            _microscope_type = "myscope"
            metadata_handler = "{pkg}.meta:MyScopeMetadata"
            def parse_filename(self, filename): return None
            def construct_filename(self, **components): return ""

        class S3Backend(MemoryBackend):  # the storage methods, for the test's sake
            _backend_type = "s3"
            requires_modules = ("boto3_not_installed_here",)

        class CountingMemory(MemoryBackend):
            """A memory backend that counts its writes."""

        @hookimpl
        def provide_microscope_handlers():
            return [MyScopeHandler]

        @hookimpl(tryfirst=True)
        def provide_storage_backends():
            return [S3Backend, CountingMemory]
        ''',
    )
    world.write(
        f"{pkg}/meta.py",
        """
        from openhcs_hookspecs.microscopes import MetadataHandler

        class MyScopeMetadata(MetadataHandler):
            def find_metadata_file(self, plate_path): return None
            def parse_metadata(self, text): return {}
        """,
    )
    world.add_dist_info("my-openhcs-plugin", "1.0", {"myscope": pkg}, group="openhcs")
    cold = world_cli(world, "list", "--json")
    assert cold.returncode == 0 and cold.stderr == "", cold.stderr  # not one warning
    data = json.loads(cold.stdout)
    assert data["microscope_handler"]["items"]["myscope"]["distribution"] == "my-openhcs-plugin"
    assert data["metadata_handler"]["items"]["myscope"]["ref"] == f"{pkg}.meta:MyScopeMetadata"
    assert data["storage_backend"]["items"]["memory"]["ref"] == f"{pkg}:CountingMemory"
    assert "s3" not in data["storage_backend"]["items"]
    warm = world_cli(world, "list", "--all", "--json")
    assert warm.returncode == 0 and warm.stderr == ""
    absent = {(a["key"], a["kind"]) for a in json.loads(warm.stdout)["storage_backend"]["absent"]}
    assert {("s3", "unavailable"), ("memory", "overridden")} <= absent
    doctor = world_cli(world, "doctor")
    assert doctor.returncode == 0 and "no problems found" in doctor.stdout, doctor.stdout
    # the metadata module, never imported by discovery, is watched all the same
    assert (
        json.loads(world_cli(world, "list", "--json").stdout)["metadata_handler"]["source"]
        == "cache"
    )
    meta = world.site / pkg / "meta.py"
    meta.write_text(meta.read_text() + "\n# edited\n")
    edited = json.loads(world_cli(world, "list", "--json").stdout)
    assert edited["metadata_handler"]["source"] == "fresh"


def test_a_secondary_reference_into_a_missing_module_is_a_failure_not_a_corrupt_cache(
    world: World,
) -> None:
    world.write_spec()
    source = world.plugin_source(("Good", "good"), ("Other", "other"))
    source = source.replace(
        "    kind = 'good'", f"    kind = 'good'\n    partner = 'nowhere_{world.tag}.meta:Partner'"
    )
    world.install("good-plugin", f"good_{world.tag}", source)
    cold = world_cli(world, "list", "--json")
    warm = world_cli(world, "list", "--json")
    assert "corrupt" not in cold.stderr + warm.stderr, warm.stderr
    assert json.loads(warm.stdout)[world.name]["source"] == "cache"
    assert sorted(json.loads(warm.stdout)[world.name]["items"]) == ["good", "other"]
    proc = world_cli(world, "why", f"{world.name}_partner", "good", "--json")
    assert proc.returncode == 1
    causes = json.loads(proc.stdout)["causes"]
    assert causes[0]["cause"] == "secondary derivation failed"
    assert f"'nowhere_{world.tag}.meta', which cannot be found" in causes[0]["detail"]


PLUGIN_PYPROJECT = """
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "my-openhcs-plugin"
version = "0.1.0"

[project.entry-points.openhcs]
myscope = "my_openhcs_plugin"

[tool.setuptools]
packages = ["my_openhcs_plugin"]
"""


PLUGIN_INIT = '''
from openhcs_registry import hookimpl
from openhcs_hookspecs.microscopes import MicroscopeHandler
from openhcs_plugins.storage.memory import MemoryBackend


class MyScopeHandler(MicroscopeHandler):
    _microscope_type = "myscope"
    metadata_handler = "my_openhcs_plugin.meta:MyScopeMetadata"   # feeds METADATA_HANDLERS lazily

    def parse_filename(self, filename):
        return None

    def construct_filename(self, **components):
        return ""


class S3Backend(MemoryBackend):
    _backend_type = "s3"
    requires_modules = ("boto3_is_not_installed",)   # reported "unavailable"


class CountingMemory(MemoryBackend):
    """A memory backend that counts its writes."""


@hookimpl
def provide_microscope_handlers():
    return [MyScopeHandler]


@hookimpl(tryfirst=True)
def provide_storage_backends():
    return [S3Backend, CountingMemory]
'''


PLUGIN_META = """
from openhcs_hookspecs.microscopes import MetadataHandler


class MyScopeMetadata(MetadataHandler):
    def find_metadata_file(self, plate_path):
        return None

    def parse_metadata(self, text):
        return {}
"""


PLUGIN_TESTS = """
from openhcs_hookspecs import METADATA_HANDLERS, MICROSCOPE_HANDLERS, STORAGE_BACKENDS


def test_roundtrip(openhcs_cache_roundtrip):
    assert "myscope" in openhcs_cache_roundtrip(MICROSCOPE_HANDLERS)


def test_lazy(openhcs_assert_lazy):
    openhcs_assert_lazy("my_openhcs_plugin", registries=[MICROSCOPE_HANDLERS, STORAGE_BACKENDS])


def test_override_and_unavailable(openhcs_fresh_registries):
    assert STORAGE_BACKENDS["memory"].__name__ == "CountingMemory"
    assert METADATA_HANDLERS["myscope"].__name__ == "MyScopeMetadata"
    try:
        STORAGE_BACKENDS["s3"]
    except KeyError as exc:
        assert "unavailable" in str(exc)
"""


def test_a_plugin_from_the_docs_installed_from_a_wheel(tmp_path: Any) -> None:
    """Built by pip into a wheel, installed (not editable), used from the shell and pytest."""
    project = tmp_path / "project"
    (project / "my_openhcs_plugin").mkdir(parents=True)
    (project / "pyproject.toml").write_text(PLUGIN_PYPROJECT)
    (project / "my_openhcs_plugin" / "__init__.py").write_text(PLUGIN_INIT)
    (project / "my_openhcs_plugin" / "meta.py").write_text(PLUGIN_META)
    (project / "tests").mkdir()
    (project / "tests" / "test_plugin.py").write_text(PLUGIN_TESTS)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    offline = ["--no-index", "--no-build-isolation", "--no-deps"]
    built = subprocess.run(
        [*pip, "wheel", *offline, "-w", str(tmp_path / "dist"), str(project)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if built.returncode != 0:
        pytest.skip(f"cannot build a wheel offline here: {built.stderr[-500:]}")
    (wheel,) = (tmp_path / "dist").glob("my_openhcs_plugin-0.1.0-*.whl")
    site = tmp_path / "site"
    installed = subprocess.run(
        [*pip, "install", *offline, "--target", str(site), str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stderr
    env = dict(os.environ, PYTHONPATH=str(site), OPENHCS_CACHE_DIR=str(tmp_path / "cache"))

    def shell(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "openhcs_registry", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
        )

    first = shell("list", "--json")
    assert first.returncode == 0 and first.stderr == "", first.stderr  # first time, no warning
    data = json.loads(first.stdout)
    assert data["microscope_handler"]["items"]["myscope"]["distribution"] == "my-openhcs-plugin"
    assert "myscope" in data["metadata_handler"]["items"]
    assert data["storage_backend"]["items"]["memory"]["plugin"] == "myscope"
    again = shell("list", "--json")
    assert again.stderr == "" and json.loads(again.stdout)["storage_backend"]["source"] == "cache"
    doctor = shell("doctor")
    assert doctor.returncode == 0, doctor.stdout
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(project / "tests")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=project / "tests",
    )
    assert tests.returncode == 0, tests.stdout[-3000:]
    assert "3 passed" in tests.stdout


def test_names_name_a_key_word_by_word() -> None:
    """Which failures ``why`` relates to a key by name: no accidental substring hits (the
    key ``42`` once matched a module ``scan_a42b1c3d`` of a random test world)."""
    from openhcs_registry._cold._explain import _names_key

    assert _names_key("s3", "openhcs_s3") and _names_key("zarr", "zarrplugin")
    assert _names_key("fiji_stream", "openhcs_plugins.fiji_stream")
    assert _names_key("42", "plugin_42") and not _names_key("42", "scan_a42b1c3d")
    assert not _names_key("omero", "homeroom") and not _names_key("x", "x")
