"""The documented imports are typed for mypy, while ``import openhcs_hookspecs`` stays lazy."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import openhcs_hookspecs
import pytest
from support import REPO, copy_source_tree


def _type_checking_names() -> set[str]:
    """Names imported inside ``if TYPE_CHECKING:`` of ``openhcs_hookspecs/__init__.py``."""
    tree = ast.parse(Path(openhcs_hookspecs.__file__).read_text())
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for stmt in ast.walk(node):
                if isinstance(stmt, ast.ImportFrom) and stmt.level == 1:
                    names |= {alias.asname or alias.name for alias in stmt.names}
    return names


def test_type_checking_imports_match_the_lazy_names() -> None:
    # every lazily served name is visible to type checkers, and nothing else is
    assert _type_checking_names() == set(openhcs_hookspecs._NAMES)


def _mypy(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    pytest.importorskip("mypy", reason="mypy is in the lint extra")
    (tmp_path / "user_code.py").write_text(source)
    env = dict(os.environ)
    roots = {
        str(Path(mod.__file__).resolve().parent.parent)  # type: ignore[arg-type]
        for mod in (openhcs_hookspecs, sys.modules["openhcs_registry"])
    }
    # a checkout (editable install): point mypy at the source roots; an installed wheel is
    # found in site-packages through its py.typed markers (mypy refuses site-packages here)
    env["MYPYPATH"] = os.pathsep.join(sorted(r for r in roots if "-packages" not in r))
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            "--python-executable",
            sys.executable,
            "user_code.py",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_registry_constants_are_typed_through_the_package_import(tmp_path: Path) -> None:
    proc = _mypy(
        tmp_path,
        "from openhcs_hookspecs import METADATA_HANDLERS, MICROSCOPE_HANDLERS, STORAGE_BACKENDS\n"
        "from openhcs_hookspecs import MicroscopeHandler\n"
        'reveal_type(MICROSCOPE_HANDLERS["x"])\n'
        'reveal_type(METADATA_HANDLERS["x"])\n'
        'reveal_type(STORAGE_BACKENDS["x"])\n'
        "handler: MicroscopeHandler = MICROSCOPE_HANDLERS['x']()\n"
        "wrong: int = STORAGE_BACKENDS['x']\n",
    )
    out = proc.stdout
    assert 'Revealed type is "type[openhcs_hookspecs.microscopes.MicroscopeHandler]"' in out, out
    assert 'Revealed type is "type[openhcs_hookspecs.microscopes.MetadataHandler]"' in out, out
    revealed = [line for line in out.splitlines() if "Revealed type" in line]
    assert len(revealed) == 3 and not any('"Any"' in line for line in revealed), out
    # the types are real: a wrong use is an error (the run fails on exactly that line)
    assert proc.returncode == 1, out
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert len(errors) == 1 and "user_code.py:7:" in errors[0], out


def test_package_import_stays_lazy() -> None:
    code = (
        "import sys, json\n"
        "import openhcs_hookspecs\n"
        "first = sorted(m for m in sys.modules if m.startswith('openhcs_hookspecs.'))\n"
        "from openhcs_hookspecs import STORAGE_BACKENDS\n"
        "second = sorted(m for m in sys.modules if m.startswith('openhcs_hookspecs.'))\n"
        "print(json.dumps([first, second]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    import json

    first, second = json.loads(proc.stdout)
    assert first == []
    assert second == ["openhcs_hookspecs.storage"]


@pytest.mark.slow
@pytest.mark.skipif(
    not (REPO / "openhcs_registry" / "__init__.py").is_file(),
    reason="needs the source tree (this run tests an installed copy)",
)
def test_the_documented_editable_mode_is_readable_by_mypy(tmp_path: Path) -> None:
    # docs: `pip install -e . --config-settings editable_mode=strict`; setuptools' default
    # editable mode (an import hook) is invisible to mypy: the control below shows it
    pytest.importorskip("mypy", reason="mypy is in the lint extra")
    src = tmp_path / "src"
    copy_source_tree(src)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = str(venv / "bin" / "python")
    (tmp_path / "user_code.py").write_text(
        'from openhcs_hookspecs import MICROSCOPE_HANDLERS\nreveal_type(MICROSCOPE_HANDLERS["x"])\n'
    )
    env = {k: v for k, v in os.environ.items() if k not in ("MYPYPATH", "PYTHONPATH")}

    def install_and_check(*mode: str) -> str:
        proc = subprocess.run(
            [python, "-m", "pip", "install", "-q", "-e", str(src), *mode],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        checked = subprocess.run(
            [
                sys.executable,
                "-m",
                "mypy",
                "--no-incremental",
                "--python-executable",
                python,
                "user_code.py",
            ],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        return checked.stdout

    default = install_and_check()
    assert 'Revealed type is "Any"' in default, default
    strict = install_and_check("--config-settings", "editable_mode=strict")
    assert 'Revealed type is "type[openhcs_hookspecs.microscopes.MicroscopeHandler]"' in strict, (
        strict
    )
