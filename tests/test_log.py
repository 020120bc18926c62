"""The loggers (:mod:`openhcs_registry._log`): warnings reach stderr, logging is not imported early."""

from __future__ import annotations

import sys

from support import World


def test_warnings_reach_stderr_without_logging_configured(world: World) -> None:
    """The lazy logger drops nothing that logging's last-resort handler would print."""
    import subprocess

    world.write_spec()
    world.install("broken-plugin", f"broken_{world.tag}", "raise RuntimeError('kaput')\n")
    code = f"from {world.spec} import REGISTRY; import sys; print(sorted(REGISTRY)); print('logging' in sys.modules)"
    proc = subprocess.run(
        [sys.executable, "-c", code], env=world.env(), capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert "kaput" in proc.stderr and f"broken_{world.tag}" in proc.stderr
    assert "broken-plugin" in proc.stderr
    # a warm start with nothing to say never imports logging at all
    warm = subprocess.run(
        [sys.executable, "-c", code], env=world.env(), capture_output=True, text=True, timeout=60
    )
    assert warm.stdout.split("\n")[:2] == ["[]", "False"], warm.stderr
