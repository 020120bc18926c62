"""What a plugin read (:mod:`openhcs_registry._inputs`): the import recorder notes every module
file found, every name looked for and not found, and the files of code that failed.

Real modules written to a temporary folder on ``sys.path`` and really imported.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from openhcs_registry._inputs import Inputs, import_module, sig


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, str]]:
    """A folder on ``sys.path`` and a tag for unique module names; the modules are forgotten."""
    tag = uuid.uuid4().hex[:8]
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path, tag
    for name in [m for m in sys.modules if tag in m]:
        del sys.modules[name]


def test_imported_files_and_missing_names_are_recorded(site: tuple[Path, str]) -> None:
    folder, tag = site
    (folder / f"helper_{tag}.py").write_text("VALUE = 1\n")
    (folder / f"plug_{tag}.py").write_text(
        f"import helper_{tag}\nimport colorsys\n"
        f"try:\n    import optional_{tag}\nexcept ImportError:\n    optional = None\n"
    )
    inputs = Inputs()
    module = import_module(f"plug_{tag}", inputs)
    assert module.__name__ == f"plug_{tag}"
    plug, helper = str(folder / f"plug_{tag}.py"), str(folder / f"helper_{tag}.py")
    assert inputs.modules[f"plug_{tag}"] == plug and inputs.modules[f"helper_{tag}"] == helper
    assert inputs.files[plug] == sig(plug) and inputs.files[helper] == sig(helper)
    assert f"optional_{tag}" in inputs.missing  # looked for, not found: watched
    assert not any("colorsys" in path for path in inputs.files)  # the stdlib: not recorded
    assert {f"plug_{tag}", f"helper_{tag}", f"optional_{tag}"} <= inputs.tops

    again = Inputs()  # imported already: the record of the first load, not an empty one
    import_module(f"plug_{tag}", again)
    assert plug in again.files and helper in again.files and f"optional_{tag}" in again.missing


def test_a_missing_submodule_watches_only_its_name_in_the_package_folder(
    site: tuple[Path, str],
) -> None:
    folder, tag = site
    package = folder / f"pkg_{tag}"
    package.mkdir()
    (package / "__init__.py").write_text(
        "try:\n    from . import extra\nexcept ImportError:\n    extra = None\n"
    )
    inputs = Inputs()
    import_module(f"pkg_{tag}", inputs)
    assert f"pkg_{tag}.extra" in inputs.missing
    _stat, listed, searched = inputs.names[os.path.abspath(package)]
    assert searched == {"extra"} and listed == ["__init__"]  # the importable names there


def test_code_that_fails_at_import_is_recorded_before_the_error_goes_on(
    site: tuple[Path, str],
) -> None:
    folder, tag = site
    (folder / f"broken_{tag}.py").write_text(f"import helper2_{tag}\nraise SystemExit(3)\n")
    (folder / f"helper2_{tag}.py").write_text("X = 1\n")
    inputs = Inputs()
    with pytest.raises(SystemExit):
        import_module(f"broken_{tag}", inputs)
    assert str(folder / f"broken_{tag}.py") in inputs.files  # fixing it will be seen
    assert str(folder / f"helper2_{tag}.py") in inputs.files
