"""What users install: the built wheel and sdist hold every package of the source tree.

A wheel once shipped without ``openhcs_plugins.microscopes`` and ``openhcs_plugins.storage``
(pyproject listed top-level packages only) while every test passed against the editable
install.  These tests build the real artifacts from a copy of the source tree and compare
their file lists with the tree itself; CI additionally installs the wheel into a fresh venv
and runs the whole suite against that installed copy (``.ci/run``).
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from support import REPO, copy_source_tree

#: Source root -> the import package it holds (hookspecs/ and plugins/ act like src/).
ROOTS = {
    "openhcs_registry": REPO,
    "openhcs_hookspecs": REPO / "hookspecs",
    "openhcs_plugins": REPO / "plugins",
}


def _source_files() -> set[str]:
    """Every file a user must get, as its path inside the wheel (``pkg/sub/mod.py``)."""
    out: set[str] = set()
    for package, root in ROOTS.items():
        for path in (root / package).rglob("*"):
            if "__pycache__" in path.parts or not path.is_file():
                continue
            if path.suffix in (".py", ".typed"):
                out.add(path.relative_to(root).as_posix())
    return out


#: CI's second run tests the installed wheel from a folder holding only tests/ and benchmarks/.
pytestmark = pytest.mark.skipif(
    not (REPO / "openhcs_registry" / "__init__.py").is_file(),
    reason="needs the source tree (this run tests an installed copy)",
)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A wheel and an sdist built from a copy of the tree (the checkout is left untouched)."""
    try:
        import build  # noqa: F401
    except ImportError:
        pytest.skip("the 'build' package is not installed (it is in the test extra)")
    work = tmp_path_factory.mktemp("pkg")
    src = work / "src"
    copy_source_tree(src)
    out = work / "dist"
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    return wheel, sdist


def test_the_source_tree_has_the_known_subpackages() -> None:
    # guards the comparison below against an empty or wrong source listing
    files = _source_files()
    assert "openhcs_plugins/microscopes/__init__.py" in files
    assert "openhcs_plugins/storage/__init__.py" in files
    assert "openhcs_hookspecs/py.typed" in files


@pytest.mark.slow
def test_wheel_holds_every_source_file(artifacts: tuple[Path, Path]) -> None:
    wheel, _ = artifacts
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = sorted(_source_files() - names)
    assert missing == []
    stray = sorted(n for n in names if n.startswith(("tests/", "benchmarks/", "hookspecs/")))
    assert stray == []


@pytest.mark.slow
def test_wheel_declares_the_builtin_entry_points(artifacts: tuple[Path, Path]) -> None:
    wheel, _ = artifacts
    with zipfile.ZipFile(wheel) as zf:
        (ep_name,) = [n for n in zf.namelist() if n.endswith(".dist-info/entry_points.txt")]
        text = zf.read(ep_name).decode()
    for target in ("openhcs_plugins.microscopes", "openhcs_plugins.storage"):
        assert f"= {target}\n" in text


@pytest.mark.slow
def test_sdist_holds_every_source_file(artifacts: tuple[Path, Path]) -> None:
    _, sdist = artifacts
    with tarfile.open(sdist) as tf:
        top = tf.getnames()[0].split("/")[0]
        names = {n[len(top) + 1 :] for n in tf.getnames()}
    expected = set()
    for package, root in ROOTS.items():
        prefix = root.relative_to(REPO).as_posix()
        for rel in _source_files():
            if rel.startswith(package + "/"):
                expected.add(rel if prefix == "." else f"{prefix}/{rel}")
    assert sorted(expected - names) == []
    assert "pyproject.toml" in names and "README.md" in names
