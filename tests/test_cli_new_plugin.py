"""``openhcs-registry new-plugin``: the project it writes validates, and passes its own tests.

The slow test does what a plugin author does on a fresh machine: one fresh venv, the
openhcs-registry wheel built from this tree (not an editable install), the generated project
installed into it with its test extra, then its own tests and ``validate`` run there.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from openhcs_hookspecs.microscopes import MicroscopeHandler
from openhcs_hookspecs.storage import StorageBackend
from support import REPO, copy_source_tree

BUILTIN = [
    "microscope_handler",
    "storage_backend",
    "zmq_server",
    "library_registry",
    "microscope_format_registry",
]


def cli(
    *args: str, cwd: Path | None = None, exe: str = sys.executable
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [exe, "-m", "openhcs_registry", *args],
        cwd=cwd,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,
    )


def generate(tmp_path: Path, name: str, *registries: str) -> Path:
    folder = tmp_path / name
    args = ["new-plugin", name, "--dir", str(folder)]
    for reg in registries:
        args += ["--registry", reg]
    proc = cli(*args)
    assert proc.returncode == 0, proc.stderr
    return folder


def test_every_builtin_registry_gives_a_project_that_validates(tmp_path: Path) -> None:
    folder = generate(tmp_path, "openhcs-everything", *BUILTIN)
    for path in folder.rglob("*.py"):
        ast.parse(path.read_text(), filename=str(path))  # every file is valid Python
    proc = cli("validate", str(folder), "--json")
    assert proc.returncode == 0, proc.stdout
    report = json.loads(proc.stdout)
    assert report["keys"] == {name: ["everything"] for name in BUILTIN}
    assert [f for f in report["findings"] if f["level"] != "note"] == []
    assert report["entry_points"] == [
        {"group": "openhcs", "name": "everything", "value": "openhcs_everything.plugin"}
    ]


def test_the_skeleton_implements_each_abstract_method_of_the_live_base(tmp_path: Path) -> None:
    folder = generate(tmp_path, "acme-scope", "MICROSCOPE_HANDLERS", "storage_backends")
    package = folder / "src" / "acme_scope"
    for module, base in (
        ("microscope_handler", MicroscopeHandler),
        ("storage_backend", StorageBackend),
    ):
        tree = ast.parse((package / f"{module}.py").read_text())
        (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef)]
        assert [ast.unparse(b) for b in cls.bases] == [base.__name__]
        methods = {n.name for n in cls.body if isinstance(n, ast.FunctionDef)}
        assert methods == set(base.__abstractmethods__)
    text = (package / "microscope_handler.py").read_text()
    assert '_microscope_type = "scope"' not in text and '_microscope_type = "acme_scope"' in text
    assert "def parse_filename(self, filename: str) -> dict[str, Any] | None:" in text
    assert "from typing import Any" in text
    # the secondary registry's attribute is shown, not set (it would need a class of its own)
    assert "# metadata_handler = " in text
    tests = (folder / "tests" / "test_acme_scope.py").read_text()
    assert "openhcs_cache_roundtrip" in tests and "openhcs_fresh_registries" in tests


def test_the_generated_code_is_lint_clean(tmp_path: Path) -> None:
    pytest.importorskip("ruff", reason="ruff is in the lint extra")
    folder = generate(tmp_path, "openhcs-lint", *BUILTIN)
    # the project's own ruff settings (pyproject.toml), ruff's default rules + isort
    for command in (["check", "--extend-select", "I"], ["format", "--check", "--diff"]):
        proc = subprocess.run(
            [sys.executable, "-m", "ruff", *command, "--no-cache", "."],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
def test_the_generated_package_is_typed(tmp_path: Path) -> None:
    pytest.importorskip("mypy", reason="mypy is in the lint extra")
    import openhcs_hookspecs

    import openhcs_registry

    folder = generate(tmp_path, "openhcs-typed", *BUILTIN)
    assert (folder / "src" / "openhcs_typed" / "py.typed").is_file()
    roots = {
        Path(m.__file__).resolve().parent.parent for m in (openhcs_hookspecs, openhcs_registry)
    }
    # a checkout: mypy reads the source roots; an installed copy is found through py.typed
    env = {
        **os.environ,
        "MYPYPATH": os.pathsep.join(str(r) for r in roots if "-packages" not in str(r)),
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            "--python-executable",
            sys.executable,
            "src",
        ],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_bad_usage_is_exit_2(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("x")
    cases = [
        (["new-plugin", "ok-name", "--dir", str(tmp_path / "taken")], "not empty"),
        (["new-plugin", "9lives", "--dir", str(tmp_path / "a")], "not a distribution name"),
        (
            ["new-plugin", "ok", "--dir", str(tmp_path / "b"), "--registry", "metadata_handler"],
            "derived from 'microscope_handler'",
        ),
        (
            ["new-plugin", "ok", "--dir", str(tmp_path / "c"), "--registry", "storage_backnd"],
            "did you mean 'storage_backend'?",
        ),
    ]
    for args, message in cases:
        proc = cli(*args)
        assert proc.returncode == 2, (args, proc.stdout)
        assert message in proc.stderr, (args, proc.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]  # nothing written


@pytest.mark.slow
@pytest.mark.skipif(
    not (REPO / "openhcs_registry" / "__init__.py").is_file(),
    reason="needs the source tree to build the wheel (this run tests an installed copy)",
)
def test_a_generated_project_passes_its_tests_in_a_fresh_venv(tmp_path: Path) -> None:
    pytest.importorskip("build", reason="the 'build' package is in the test extra")
    # the wheel users install, built from a copy of the tree (the checkout is left untouched)
    src = tmp_path / "src"
    copy_source_tree(src)
    run = lambda *cmd, **kw: subprocess.run(  # noqa: E731
        cmd, capture_output=True, text=True, timeout=600, **kw
    )
    built = run(
        sys.executable,
        "-m",
        "build",
        "--no-isolation",
        "--wheel",
        "--outdir",
        str(tmp_path / "dist"),
        str(src),
    )
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("*.whl")

    # a name as people write them (capitals, an underscore): the registries report the
    # normalised "openhcs-acme", and the generated tests must expect that
    folder = generate(tmp_path, "OpenHCS_Acme", "microscope_handler", "storage_backend")
    venv = tmp_path / "venv"
    made = run(sys.executable, "-m", "venv", str(venv))
    assert made.returncode == 0, made.stderr
    python = str(venv / ("Scripts" if os.name == "nt" else "bin") / "python")
    installed = run(python, "-m", "pip", "install", "-q", str(wheel), f"{folder}[test]")
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["OPENHCS_CACHE_DIR"] = str(tmp_path / "user-cache")  # the generated tests must not use it
    tests = run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=folder, env=env)
    assert tests.returncode == 0, tests.stdout[-4000:] + tests.stderr[-2000:]
    assert "7 passed" in tests.stdout, tests.stdout
    assert not (tmp_path / "user-cache").exists() or not any((tmp_path / "user-cache").iterdir())

    for target in (str(folder), "OpenHCS_Acme", "openhcs-acme"):
        checked = run(
            python,
            "-m",
            "openhcs_registry",
            "validate",
            target,
            "--import",
            "--json",
            cwd=tmp_path,
            env=env,
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
        report = json.loads(checked.stdout)
        assert report["import"]["keys"] == {
            "microscope_handler": ["acme"],
            "storage_backend": ["acme"],
        }
