"""Failure records (:mod:`openhcs_registry._diagnostics`): kept on every registry, warned once."""

from __future__ import annotations

import logging

import pytest
from support import World

from openhcs_registry import FailureKind


def test_a_broken_plugin_is_reported_in_every_registry_but_warned_once(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from pathlib import Path

    first, second = World(Path(str(tmp_path)) / "one"), World(Path(str(tmp_path)) / "two")
    second.group = first.group  # two registries reading one entry-point group
    for w in (first, second):
        w.write_spec()
    first.activate(monkeypatch)
    monkeypatch.syspath_prepend(str(second.site))
    first.install(
        "broken-plugin", f"broken_{first.tag}", "raise RuntimeError('broken at import')\n"
    )
    with caplog.at_level(logging.WARNING, logger="openhcs_registry"):
        assert list(first.registry()) == [] and list(second.registry()) == []
    assert [f.kind for f in first.registry().failures] == [FailureKind.IMPORT_ERROR]
    assert [f.kind for f in second.registry().failures] == [FailureKind.IMPORT_ERROR]
    assert len([r for r in caplog.records if "broken at import" in r.getMessage()]) == 1
