"""``openhcs-registry contracts`` and registry names in either spelling, as real subprocesses."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from openhcs_hookspecs.microscopes import MicroscopeHandler
from openhcs_hookspecs.storage import StorageBackend
from support import cli, modules_after_main


def test_contracts_json_describes_every_builtin_registry_from_the_live_classes() -> None:
    proc = cli("contracts", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    regs = data["registries"]
    assert set(regs) >= {
        "microscope_handler",
        "storage_backend",
        "zmq_server",
        "library_registry",
        "microscope_format_registry",
    }
    scope = regs["microscope_handler"]
    assert scope["hookspec"]["name"] == "provide_microscope_handlers"
    assert scope["hookspec"]["signature"] == "provide_microscope_handlers() -> Any"
    assert "microscope handler classes" in scope["hookspec"]["doc"]
    assert scope["base_class"] == "openhcs_hookspecs.microscopes.MicroscopeHandler"
    assert scope["key_attribute"] == "_microscope_type"
    assert scope["entry_point_group"] == "openhcs"
    assert scope["import"] == ["openhcs_hookspecs.microscopes.MICROSCOPE_HANDLERS"]
    assert set(scope["abstract_methods"]) == set(MicroscopeHandler.__abstractmethods__)
    assert scope["abstract_methods"]["parse_filename"]["signature"] == (
        "parse_filename(self, filename: str) -> dict[str, Any] | None"
    )
    assert [s["name"] for s in scope["secondaries"]] == ["metadata_handler"]
    assert scope["secondaries"][0]["attribute"] == "metadata_handler"
    assert "requires_modules" in scope["class_attributes"]
    store = regs["storage_backend"]
    assert set(store["abstract_methods"]) == set(StorageBackend.__abstractmethods__)
    assert store["abstract_methods"]["list"]["signature"] == (
        'list(self, prefix: str = "") -> list[str]'
    )
    # hookspecs that feed no registry are contracts too
    assert data["hooks"]["provide_colormaps"]["module"] == "openhcs_hookspecs.colormaps"


def test_contracts_text_shows_what_to_write() -> None:
    proc = cli("contracts", "storage_backend")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "hookspec:     openhcs_hookspecs.storage.provide_storage_backends() -> Any" in out
    assert "base class:   openhcs_hookspecs.storage.StorageBackend" in out
    assert "key:          class attribute '_backend_type'" in out
    assert "def save(self, data: Any, path: str) -> None" in out
    assert "[project.entry-points.openhcs]" in out
    assert "microscope_handler" not in out


def test_contracts_of_a_third_party_registry(tmp_path: Path) -> None:
    (tmp_path / "acme_contracts.py").write_text(
        textwrap.dedent(
            '''
            from abc import ABC, abstractmethod
            from openhcs_registry import LazyDiscoveryDict, RegistryConfig, hookspec

            class Exporter(ABC):
                """Writes results somewhere."""
                fmt: "str | None" = None

                @classmethod
                @abstractmethod
                def open(cls, target: str, *, mode: int = 1) -> "Exporter":
                    """Open *target*."""

            @hookspec(firstresult=True)
            def provide_exporters(limit: int) -> list:
                """Return Exporter subclasses."""

            @hookspec
            def provide_nothing_else() -> None:
                """A hook of its own."""

            EXPORTERS = LazyDiscoveryDict(RegistryConfig(
                name="exporter", hookspec=provide_exporters, base_class=Exporter,
                key_attribute="fmt", entry_point_group="acme.plugins",
            ))
            '''
        )
    )
    proc = cli(
        "contracts",
        "EXPORTERS",
        "--json",
        "--module",
        "acme_contracts",
        cwd=tmp_path,
        PYTHONPATH=str(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)["registries"]["exporter"]
    assert data["entry_point_group"] == "acme.plugins"
    assert data["hookspec"]["signature"] == "provide_exporters(limit: int) -> list"
    assert data["hookspec"]["firstresult"] is True
    assert data["abstract_methods"]["open"]["kind"] == "classmethod"
    assert data["abstract_methods"]["open"]["signature"] == (
        "open(cls, target: str, *, mode: int = 1) -> Exporter"
    )
    assert data["class_attributes"]["fmt"]["type"] == "str | None"
    text = cli("contracts", "--module", "acme_contracts", cwd=tmp_path, PYTHONPATH=str(tmp_path))
    assert '[project.entry-points."acme.plugins"]' in text.stdout
    assert "hook provide_nothing_else" in text.stdout
    assert "@classmethod def open(cls, target: str" in text.stdout


def test_contracts_imports_no_plugin_module() -> None:
    rc, modules = modules_after_main(["contracts", "--json"])
    assert [rc, [m for m in modules if m.startswith("openhcs_plugins")]] == [0, []]


def test_registry_names_in_either_spelling() -> None:
    canonical = json.loads(cli("contracts", "microscope_handler", "--json").stdout)
    for spelling in ("MICROSCOPE_HANDLERS", "microscope_handlers", "Microscope-Handler"):
        proc = cli("contracts", spelling, "--json")
        assert proc.returncode == 0, (spelling, proc.stderr)
        assert json.loads(proc.stdout) == canonical
    for spelling, name in (
        ("METADATA_HANDLERS", "metadata_handler"),
        ("microscope_format_registries", "microscope_format_registry"),
        ("STORAGE_BACKENDS", "storage_backend"),
    ):
        proc = cli("list", spelling, "--json")
        assert proc.returncode == 0, proc.stderr
        assert list(json.loads(proc.stdout)) == [name]


def test_unknown_registry_suggests_close_matches() -> None:
    proc = cli("list", "storage_backnd")
    assert proc.returncode == 2
    assert "did you mean 'storage_backend'?" in proc.stderr
    assert "known: " in proc.stderr
    far = cli("show", "zzzz", "k")
    assert far.returncode == 2 and "did you mean" not in far.stderr and "known: " in far.stderr
    derived = cli("contracts", "metadata_handlers")
    assert derived.returncode == 2 and "contracts microscope_handler" in derived.stderr
