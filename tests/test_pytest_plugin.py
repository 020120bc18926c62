"""The pytest plugin, tested the way its users run it: through pytester in a subprocess."""

from __future__ import annotations

import pytest

pytest_plugins = ("pytester",)


def run(pytester: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_user=source)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)


def test_fixtures_are_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--fixtures")
    for name in (
        "openhcs_cache_dir",
        "openhcs_fresh_registries",
        "openhcs_register",
        "openhcs_no_entry_points",
        "openhcs_block",
        "openhcs_assert_not_imported",
        "openhcs_run_in_subprocess",
        "openhcs_cache_roundtrip",
    ):
        result.stdout.fnmatch_lines([f"{name}*"])


def test_cache_dir_is_private_per_test(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        import os
        from openhcs_registry import get_openhcs_cache_dir
        SEEN = []
        def test_one(openhcs_cache_dir):
            assert get_openhcs_cache_dir() == openhcs_cache_dir
            SEEN.append(openhcs_cache_dir)
            from openhcs_hookspecs import ZMQ_SERVERS
            assert sorted(ZMQ_SERVERS) == ["execution", "fiji", "napari"]
            assert (openhcs_cache_dir / "zmq_server_registry.json").exists()
        def test_two(openhcs_cache_dir):
            assert openhcs_cache_dir not in SEEN
            assert list(openhcs_cache_dir.iterdir()) == []
    """,
    )
    result.assert_outcomes(passed=2)


def test_register_does_not_leak_between_tests(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        from openhcs_hookspecs import MICROSCOPE_HANDLERS, STORAGE_BACKENDS
        from openhcs_hookspecs.microscopes import MicroscopeHandler
        from openhcs_registry import hookimpl

        def test_register_class(openhcs_register):
            class Fake(MicroscopeHandler):
                _microscope_type = "fake"
                def parse_filename(self, f): return None
                def construct_filename(self, **c): return ""
            assert openhcs_register(MICROSCOPE_HANDLERS, Fake) == "fake"
            assert MICROSCOPE_HANDLERS["fake"] is Fake

        def test_register_plugin_object(openhcs_register):
            from openhcs_hookspecs.storage import StorageBackend
            class Plugin:
                @hookimpl
                def provide_storage_backends(self):
                    from openhcs_plugins.storage.memory import MemoryBackend
                    return {"scratch": MemoryBackend}
            openhcs_register(STORAGE_BACKENDS, Plugin())
            assert "scratch" in STORAGE_BACKENDS and "memory" in STORAGE_BACKENDS

        def test_nothing_leaked(openhcs_fresh_registries):
            assert "fake" not in MICROSCOPE_HANDLERS
            assert "scratch" not in STORAGE_BACKENDS
    """,
    )
    result.assert_outcomes(passed=3)


def test_no_entry_points(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        from openhcs_hookspecs import ZMQ_SERVERS
        def test_blocked(openhcs_no_entry_points):
            assert list(ZMQ_SERVERS) == []
        def test_back(openhcs_fresh_registries):
            assert "execution" in ZMQ_SERVERS
    """,
    )
    result.assert_outcomes(passed=2)


def test_assert_not_imported(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        def test_lazy(openhcs_assert_not_imported):
            from openhcs_hookspecs import MICROSCOPE_HANDLERS
            openhcs_assert_not_imported("openhcs_plugins", "pluggy_nonexistent")
        def test_imported(openhcs_assert_not_imported):
            import json.decoder
            openhcs_assert_not_imported("json")
    """,
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*imported, but should not be: json*"])


def test_run_in_subprocess(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        helper_mod="""
        import os
        def keys_and_pid():
            from openhcs_hookspecs import METADATA_HANDLERS, MICROSCOPE_HANDLERS
            return os.getpid(), sorted(METADATA_HANDLERS), MICROSCOPE_HANDLERS.is_discovered
    """
    )
    result = run(
        pytester,
        """
        import os, sys
        sys.path.insert(0, os.path.dirname(__file__))
        import helper_mod
        def test_spawned(openhcs_run_in_subprocess, openhcs_cache_dir):
            pid, keys, discovered = openhcs_run_in_subprocess(helper_mod.keys_and_pid)
            assert pid != os.getpid()
            assert "imagexpress" in keys and discovered
            assert (openhcs_cache_dir / "microscope_handler_registry.json").exists()
    """,
    )
    result.assert_outcomes(passed=1)


def test_cache_roundtrip(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        import pytest
        from openhcs_hookspecs import load_all
        @pytest.mark.parametrize("name", sorted(load_all()))
        def test_roundtrip(openhcs_cache_roundtrip, name):
            mapping = openhcs_cache_roundtrip(load_all()[name])
            assert mapping
    """,
    )
    result.assert_outcomes(passed=5)


def test_plugin_import_is_light(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        import sys
        def test_light():
            # loading the plugin defined no registry and imported no plugin module
            assert "openhcs_registry.pytest_plugin" in sys.modules
            assert "openhcs_hookspecs" not in sys.modules and "openhcs_plugins" not in sys.modules
            assert "openhcs_registry.lazy" not in sys.modules
    """,
    )
    result.assert_outcomes(passed=1)


def test_block_one_plugin_for_one_test(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        from openhcs_hookspecs import ZMQ_SERVERS
        def test_blocked(openhcs_block, openhcs_cache_dir):
            openhcs_block(ZMQ_SERVERS, "zmq_servers")
            assert "execution" not in ZMQ_SERVERS
            assert [f.kind for f in ZMQ_SERVERS.failures if f.plugin == "zmq_servers"] == ["blocked"]
        def test_back(openhcs_fresh_registries):
            assert "execution" in ZMQ_SERVERS and not ZMQ_SERVERS.blocked
    """,
    )
    result.assert_outcomes(passed=2)


def test_subprocess_errors_come_back(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        helper_err="""
        def boom(x):
            raise LookupError(f"no {x} here")
    """
    )
    result = run(
        pytester,
        """
        import os, sys
        import pytest
        sys.path.insert(0, os.path.dirname(__file__))
        import helper_err
        def test_raises(openhcs_run_in_subprocess):
            with pytest.raises(LookupError, match="no plate here"):
                openhcs_run_in_subprocess(helper_err.boom, "plate")
    """,
    )
    result.assert_outcomes(passed=1)
