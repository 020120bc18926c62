"""``openhcs-registry validate``: a static check of plugin projects, broken one thing at a time.

Each test writes a real plugin project folder and runs the real command in a subprocess; the
base project is valid (exit 0) so every error below is caused by the one change made.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PYPROJECT = """\
[project]
name = "{name}"
version = "1.0"

[project.entry-points.{group}]
scope = "{target}"
"""

HANDLER = """\
from openhcs_hookspecs.microscopes import MicroscopeHandler


class AcmeHandler(MicroscopeHandler):
    _microscope_type = {key}
    metadata_handler = "acme_scope.meta:AcmeMeta"

    def parse_filename(self, filename):
        return None

    def construct_filename(self, **components):
        return ""
"""

PLUGIN = """\
from openhcs_registry import hookimpl

from .handlers import AcmeHandler


@hookimpl
def provide_microscope_handlers():
    return [AcmeHandler]
"""

META = """\
from openhcs_hookspecs.microscopes import MetadataHandler


class AcmeMeta(MetadataHandler):
    def find_metadata_file(self, plate_path):
        return None

    def parse_metadata(self, text):
        return {}
"""


def project(
    root: Path,
    *,
    plugin: str = PLUGIN,
    handlers: str | None = None,
    key: str = '"acme"',
    target: str = "acme_scope.plugin",
    group: str = "openhcs",
    name: str = "acme-scope",
    extra: dict[str, str] | None = None,
) -> Path:
    files = {
        "pyproject.toml": PYPROJECT.format(name=name, group=group, target=target),
        "src/acme_scope/__init__.py": "",
        "src/acme_scope/plugin.py": plugin,
        "src/acme_scope/handlers.py": handlers if handlers is not None else HANDLER.format(key=key),
        "src/acme_scope/meta.py": META,
        **(extra or {}),
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def validate(*args: str) -> tuple[int, dict]:
    proc = subprocess.run(
        [sys.executable, "-m", "openhcs_registry", "validate", "--json", *args],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def errors(report: dict) -> list[str]:
    return [f["message"] for f in report["findings"] if f["level"] == "error"]


def test_a_valid_project_passes_and_its_keys_are_listed(tmp_path: Path) -> None:
    code, report = validate(str(project(tmp_path)))
    assert code == 0, report
    assert report["ok"] is True and errors(report) == []
    assert report["keys"] == {"microscope_handler": ["acme"]}
    assert report["distribution"] == "acme-scope"
    assert report["entry_points"] == [
        {"group": "openhcs", "name": "scope", "value": "acme_scope.plugin"}
    ]


def test_the_text_report(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "openhcs_registry", "validate", str(project(tmp_path))],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "provides microscope_handler: acme" in proc.stdout
    assert proc.stdout.strip().endswith("0 error(s), 0 warning(s): OK")


def test_the_plugin_is_never_imported(tmp_path: Path) -> None:
    # a module that kills its importer: the static check reads it, it does not run it
    poisoned = "raise SystemExit('imported!')\n" + PLUGIN
    code, report = validate(str(project(tmp_path, plugin=poisoned)))
    assert code == 0, report
    assert report["keys"] == {"microscope_handler": ["acme"]}


def test_misspelt_hookimpl_name_suggests_the_hookspec(tmp_path: Path) -> None:
    plugin = PLUGIN.replace("def provide_microscope_handlers", "def provide_microscope_handler")
    code, report = validate(str(project(tmp_path, plugin=plugin)))
    assert code == 1
    (error,) = [e for e in errors(report) if "matches no hookspec" in e]
    assert "provide_microscope_handler()" in error
    assert "did you mean 'provide_microscope_handlers'?" in error


def test_specname_is_the_hook_name(tmp_path: Path) -> None:
    plugin = PLUGIN.replace(
        "@hookimpl\ndef provide_microscope_handlers",
        '@hookimpl(specname="provide_microscope_handlers")\ndef handlers',
    )
    assert "specname" in plugin
    code, report = validate(str(project(tmp_path, plugin=plugin)))
    assert code == 0, report
    assert report["keys"] == {"microscope_handler": ["acme"]}


def test_a_hookimpl_re_exported_by_the_entry_point_package(tmp_path: Path) -> None:
    # pluggy sees the functions a module imports: ``acme_scope`` offers plugin's hookimpl
    init = "from .plugin import provide_microscope_handlers\n"
    plugin = PLUGIN.replace("from .handlers import AcmeHandler", "from .handlers import *")
    root = project(
        tmp_path, target="acme_scope", plugin=plugin, extra={"src/acme_scope/__init__.py": init}
    )
    code, report = validate(str(root))
    assert code == 0, report
    assert report["keys"] == {"microscope_handler": ["acme"]}
    # and a misspelling in the re-exported function is still found, in its own file
    (root / "src/acme_scope/plugin.py").write_text(plugin.replace("handlers():", "handler():"))
    (root / "src/acme_scope/__init__.py").write_text(init.replace("handlers", "handler"))
    code, report = validate(str(root))
    assert code == 1
    finding = next(f for f in report["findings"] if "matches no hookspec" in f["message"])
    assert finding["file"].endswith("plugin.py")


def test_a_hook_function_without_the_decorator(tmp_path: Path) -> None:
    plugin = PLUGIN.replace("@hookimpl\n", "")
    code, report = validate(str(project(tmp_path, plugin=plugin)))
    assert code == 1
    messages = errors(report)
    assert any("not decorated with @hookimpl" in e for e in messages)
    assert any("has no @hookimpl function" in e for e in messages)


def test_hookimpl_argument_the_hookspec_does_not_give(tmp_path: Path) -> None:
    plugin = PLUGIN.replace(
        "def provide_microscope_handlers()", "def provide_microscope_handlers(config)"
    )
    code, report = validate(str(project(tmp_path, plugin=plugin)))
    assert code == 1
    assert any("takes config" in e for e in errors(report))


def test_entry_point_module_missing_suggests_the_real_one(tmp_path: Path) -> None:
    code, report = validate(str(project(tmp_path, target="acme_scope.plugn")))
    assert code == 1
    (error,) = errors(report)
    assert "module 'acme_scope.plugn' not found" in error
    assert "did you mean 'acme_scope.plugin'?" in error


def test_entry_point_attribute_missing(tmp_path: Path) -> None:
    code, report = validate(str(project(tmp_path, target="acme_scope.plugin:nothing")))
    assert code == 1
    assert any("has no attribute 'nothing'" in e for e in errors(report))


def test_no_entry_point_in_a_group_discovery_reads(tmp_path: Path) -> None:
    code, report = validate(str(project(tmp_path, group="openhc")))
    assert code == 1
    (error,) = errors(report)
    assert "discovery will never load this plugin" in error
    assert "did you mean 'openhcs'?" in error


def test_a_class_that_is_not_a_subclass_of_the_base(tmp_path: Path) -> None:
    handlers = (
        HANDLER.format(key='"acme"')
        .replace("(MicroscopeHandler)", "")
        .replace("from openhcs_hookspecs.microscopes import MicroscopeHandler", "")
    )
    code, report = validate(str(project(tmp_path, handlers=handlers)))
    assert code == 1
    assert any(
        "AcmeHandler is not a subclass of openhcs_hookspecs.microscopes.MicroscopeHandler" in e
        for e in errors(report)
    )


def test_an_abstract_class_names_the_methods_to_implement(tmp_path: Path) -> None:
    handlers = HANDLER.format(key='"acme"').replace("def parse_filename", "def parse_file_name")
    code, report = validate(str(project(tmp_path, handlers=handlers)))
    assert code == 1
    (error,) = errors(report)
    assert "AcmeHandler is abstract: implement" in error
    assert "def parse_filename(self, filename: str) -> dict[str, Any] | None" in error
    assert "construct_filename" not in error
    finding = next(f for f in report["findings"] if f["level"] == "error")
    assert finding["file"].endswith("handlers.py") and finding["line"] == 4


def test_methods_implemented_in_a_project_base_class_count(tmp_path: Path) -> None:
    handlers = textwrap.dedent(
        """
        from openhcs_hookspecs.microscopes import MicroscopeHandler
        from ._base import Parsing

        class AcmeHandler(Parsing, MicroscopeHandler):
            _microscope_type = "acme"

            def construct_filename(self, **components):
                return ""
        """
    )
    base = "class Parsing:\n    def parse_filename(self, filename):\n        return None\n"
    root = project(tmp_path, handlers=handlers, extra={"src/acme_scope/_base.py": base})
    code, report = validate(str(root))
    assert code == 0, report


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("42", "AcmeHandler._microscope_type = 42 is int, not a non-empty str"),
        ("None", "is None, not a non-empty str"),
        ('""', "= '' is str, not a non-empty str"),
    ],
)
def test_keys_that_are_not_strings(tmp_path: Path, key: str, expected: str) -> None:
    code, report = validate(str(project(tmp_path, key=key)))
    assert code == 1
    assert any(expected in e for e in errors(report)), errors(report)


def test_a_class_without_a_key(tmp_path: Path) -> None:
    handlers = HANDLER.format(key='"acme"').replace('    _microscope_type = "acme"\n', "")
    code, report = validate(str(project(tmp_path, handlers=handlers)))
    assert code == 1
    assert any("AcmeHandler sets no _microscope_type" in e for e in errors(report))


def test_a_key_inherited_from_a_builtin_plugin_is_a_duplicate(tmp_path: Path) -> None:
    handlers = (
        "from openhcs_plugins.storage.memory import MemoryBackend\n\n"
        "class FancyMemory(MemoryBackend):\n    pass\n"
    )
    plugin = (
        "from openhcs_registry import hookimpl\nfrom .handlers import FancyMemory\n\n"
        "@hookimpl\ndef provide_storage_backends():\n    return [FancyMemory]\n"
    )
    code, report = validate(str(project(tmp_path, handlers=handlers, plugin=plugin)))
    assert code == 1
    assert any(
        "FancyMemory inherits key 'memory' from MemoryBackend" in e for e in errors(report)
    ), errors(report)


def test_a_mapping_result_with_a_non_string_key(tmp_path: Path) -> None:
    plugin = PLUGIN.replace("return [AcmeHandler]", "return {7: AcmeHandler}")
    code, report = validate(str(project(tmp_path, plugin=plugin)))
    assert code == 1
    assert any("returned under key 7 (int)" in e for e in errors(report))


def test_a_secondary_reference_that_points_nowhere(tmp_path: Path) -> None:
    handlers = HANDLER.format(key='"acme"').replace(
        "acme_scope.meta:AcmeMeta", "acme_scope.meta:Nope"
    )
    code, report = validate(str(project(tmp_path, handlers=handlers)))
    assert code == 1
    assert any(
        "metadata_handler = 'acme_scope.meta:Nope' points nowhere" in e for e in errors(report)
    )


def test_a_registry_class_the_hook_does_not_return_is_a_warning(tmp_path: Path) -> None:
    # a concrete, keyed handler defined in the entry-point module but left out by its hook
    other = HANDLER.format(key='"other"').replace("AcmeHandler", "OtherHandler")
    plugin = PLUGIN.replace("from .handlers import AcmeHandler\n", "").replace(
        "return [AcmeHandler]", "return []"
    )
    code, report = validate(str(project(tmp_path, plugin=plugin + "\n" + other)))
    assert code == 0, report
    warnings = [f["message"] for f in report["findings"] if f["level"] == "warning"]
    assert any(
        "OtherHandler subclasses MicroscopeHandler but the hook does not" in w for w in warnings
    ), warnings


def test_unavailable_values_and_computed_results_are_notes(tmp_path: Path) -> None:
    plugin = textwrap.dedent(
        """
        from openhcs_registry import Unavailable, hookimpl

        @hookimpl
        def provide_microscope_handlers():
            try:
                import numpy_that_is_not_there
            except ImportError:
                return [Unavailable("acme", "needs numpy_that_is_not_there")]
            return list(numpy_that_is_not_there.handlers())
        """
    )
    code, report = validate(str(project(tmp_path, plugin=plugin)))
    assert code == 0, report
    notes = [f["message"] for f in report["findings"] if f["level"] == "note"]
    assert any("'acme' may be reported unavailable" in n for n in notes)
    assert any("not followed statically" in n for n in notes)


def test_an_unreadable_pyproject_is_a_problem_not_bad_usage(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "pyproject.toml").write_text("[project\nname=")
    code, report = validate(str(root))
    assert code == 1 and "cannot be read" in errors(report)[0]


def test_bad_usage_exit_2(tmp_path: Path) -> None:
    for target in (str(tmp_path), "openhcs-registri"):
        proc = subprocess.run(
            [sys.executable, "-m", "openhcs_registry", "validate", target],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 2, proc.stdout
    assert "did you mean openhcs-registry?" in proc.stderr


def test_an_installed_distribution(tmp_path: Path) -> None:
    # the built-in plugins, read from the installed distribution's entry points and files
    code, report = validate("openhcs-registry")
    assert code == 0, errors(report)
    assert {"zmq_server", "library_registry"} <= set(report["keys"])
    assert "execution" in report["keys"]["zmq_server"]


@pytest.mark.slow
def test_import_runs_the_real_discovery_on_a_project_folder(tmp_path: Path) -> None:
    code, report = validate(str(project(tmp_path)), "--import")
    assert code == 0, report
    assert report["import"]["keys"] == {
        "microscope_handler": ["acme"],
        "metadata_handler": ["acme"],
    }
    assert report["import"]["failures"] == []


@pytest.mark.slow
def test_import_finds_what_only_running_shows(tmp_path: Path) -> None:
    # statically fine, but the hook raises when called: only --import can tell
    plugin = PLUGIN.replace("return [AcmeHandler]", "raise RuntimeError('boom')")
    root = project(tmp_path, plugin=plugin)
    code, report = validate(str(root))
    assert code == 0, report  # a function that only raises returns nothing to check
    code, report = validate(str(root), "--import")
    assert code == 1
    (error,) = [e for e in errors(report) if e.startswith("--import:")]
    assert "hook_error" in error and "boom" in error


def test_hookspecs_of_the_projects_own_contracts_are_known(tmp_path: Path) -> None:
    # an application declaring its own hook (read from its source, not imported) and
    # implementing it in its plugin module
    contracts = (
        "from openhcs_registry import hookspec\n\n"
        '@hookspec\ndef provide_exporters(limit):\n    """Exporters."""\n'
    )
    plugin = PLUGIN + "\n\n@hookimpl\ndef provide_exporters(limit):\n    return []\n"
    root = project(tmp_path, plugin=plugin, extra={"src/acme_scope/contracts.py": contracts})
    pyproject = root / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text()
        + '\n[project.entry-points."openhcs.contracts"]\nacme = "acme_scope.contracts"\n'
    )
    code, report = validate(str(root))
    assert code == 0, report
    wrong = plugin.replace("provide_exporters(limit)", "provide_exporters(lmit)")
    (root / "src/acme_scope/plugin.py").write_text(wrong)
    code, report = validate(str(root))
    assert code == 1 and any("takes lmit" in e for e in errors(report)), errors(report)
    misspelt = plugin.replace("def provide_exporters", "def provide_exporter")
    (root / "src/acme_scope/plugin.py").write_text(misspelt)
    code, report = validate(str(root))
    assert any("did you mean 'provide_exporters'?" in e for e in errors(report)), errors(report)


@pytest.mark.slow
def test_a_third_party_registry_given_with_module(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "acme_contracts.py").write_text(
        textwrap.dedent(
            """
            from abc import ABC, abstractmethod
            from openhcs_registry import LazyDiscoveryDict, RegistryConfig, hookspec

            class Exporter(ABC):
                fmt = None

                @abstractmethod
                def write(self, data): ...

            @hookspec
            def provide_exporters():
                "Return Exporter subclasses."

            EXPORTERS = LazyDiscoveryDict(RegistryConfig(
                name="exporter", hookspec=provide_exporters, base_class=Exporter,
                key_attribute="fmt",
            ))
            """
        )
    )
    plugin = textwrap.dedent(
        """
        from acme_contracts import Exporter
        from openhcs_registry import hookimpl

        class Csv(Exporter):
            fmt = "csv"

            def write(self, data):
                return None

        @hookimpl
        def provide_exporters():
            return [Csv]
        """
    )
    root = project(tmp_path / "proj", plugin=plugin)
    env = {**os.environ, "PYTHONPATH": str(lib)}
    args = [sys.executable, "-m", "openhcs_registry", "validate", str(root), "--json"]
    proc = subprocess.run(
        [*args, "--module", "acme_contracts", "--import"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(proc.stdout)
    assert proc.returncode == 0, report
    assert report["keys"] == {"exporter": ["csv"]}
    assert report["import"]["keys"] == {"exporter": ["csv"]}
    # without the contracts the hook is unknown: a problem, with the exit code for it
    bare = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert bare.returncode == 1
    assert any(
        "provide_exporters() matches no hookspec" in e for e in errors(json.loads(bare.stdout))
    )
