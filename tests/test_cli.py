"""The ``openhcs-registry`` command as a whole (:mod:`openhcs_registry.cli`): entry styles, usage
errors, common options before or after the command, registry modules from the environment.

Each command's own module is pinned by ``tests/test_cli_<command>.py``; all run real subprocesses.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from support import cli


def test_usage_errors_exit_2_with_a_clear_message() -> None:
    for args in (("list", "nope"), ("show", "storage_backend", "nope"), ("show", "nope", "x")):
        proc = cli(*args)
        assert proc.returncode == 2
        assert "Traceback" not in proc.stderr
        assert "known" in proc.stderr
    assert cli("frobnicate").returncode == 2


def test_verbose_turns_on_discovery_logging() -> None:
    quiet = cli("cache", "warm", "zmq_server")
    loud = cli("cache", "warm", "zmq_server", "-vv")
    assert quiet.returncode == loud.returncode == 0
    assert "fresh discovery" not in quiet.stderr
    assert "fresh discovery" in loud.stderr and "DEBUG" in loud.stderr


@pytest.mark.parametrize(
    "argv0",
    [
        ["-m", "openhcs_registry"],
        ["-c", "from openhcs_registry.cli import main; raise SystemExit(main())"],
    ],
)
def test_entry_styles(argv0: list[str]) -> None:
    proc = subprocess.run(
        [sys.executable, *argv0, "--help"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0 and "why" in proc.stdout and "doctor" in proc.stdout


# -- options before or after the command, registry modules from the environment ---------------
def test_common_options_before_the_command_are_kept() -> None:
    proc = cli("-vv", "--json", "cache", "warm", "zmq_server")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["zmq_server"]["written"] is True
    assert "DEBUG" in proc.stderr and "fresh discovery" in proc.stderr
    listed = cli("--json", "list", "zmq_server")
    assert json.loads(listed.stdout)["zmq_server"]["source"] == "cache"
