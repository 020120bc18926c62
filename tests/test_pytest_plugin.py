"""The pytest plugin, tested the way its users run it: through pytester in a subprocess."""

from __future__ import annotations

import os

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
        "openhcs_fresh_enums",
        "openhcs_no_entry_points",
        "openhcs_block",
        "openhcs_assert_not_imported",
        "openhcs_run_in_subprocess",
        "openhcs_cache_roundtrip",
        "openhcs_assert_lazy",
        "openhcs_tmp_plugin",
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


def test_fresh_enums_hides_the_process_enums_for_one_test(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        from openhcs_registry import enums

        def make(members):
            return enums.cached_enum("Mood", lambda: members, module=__name__, file_name=None)

        BEFORE = make({"CALM": "calm"})

        def test_inside(openhcs_fresh_enums):
            assert "Mood" not in globals()  # unknown: the next creation builds
            inside = make({"CALM": "calm", "ANGRY": "angry"})
            assert inside is not BEFORE and [m.name for m in inside] == ["CALM", "ANGRY"]
            assert globals()["Mood"] is inside

        def test_after():
            assert make({"OTHER": "other"}) is BEFORE and globals()["Mood"] is BEFORE
    """,
    )
    result.assert_outcomes(passed=2)


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
            assert "openhcs_registry._lazy" not in sys.modules
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


# -- isolation: from the user's cache, and from earlier tests (issue 15, item 8) -------------------
def test_no_fixture_writes_into_the_users_cache(pytester: pytest.Pytester) -> None:
    user_cache = pytester.path / "users-own-cache"
    user_cache.mkdir()
    pytester.makepyfile(
        helper_keys="""
        def keys():
            from openhcs_hookspecs import ZMQ_SERVERS
            return sorted(ZMQ_SERVERS)
    """
    )
    pytester.makepyfile(
        test_user="""
        import os, sys
        sys.path.insert(0, os.path.dirname(__file__))
        import helper_keys
        def test_subprocess(openhcs_run_in_subprocess):
            assert openhcs_run_in_subprocess(helper_keys.keys) == ["execution", "fiji", "napari"]
        def test_not_imported(openhcs_assert_not_imported):
            from openhcs_hookspecs import ZMQ_SERVERS
            sorted(ZMQ_SERVERS)
            openhcs_assert_not_imported("no_such_module_at_all")
        def test_roundtrip(openhcs_cache_roundtrip):
            from openhcs_hookspecs import ZMQ_SERVERS
            assert openhcs_cache_roundtrip(ZMQ_SERVERS)
        def test_lazy(openhcs_assert_lazy):
            from openhcs_hookspecs import ZMQ_SERVERS
            openhcs_assert_lazy(registries=[ZMQ_SERVERS])
    """
    )
    old = os.environ.get("OPENHCS_CACHE_DIR")
    os.environ["OPENHCS_CACHE_DIR"] = str(user_cache)
    try:
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    finally:
        if old is None:
            del os.environ["OPENHCS_CACHE_DIR"]
        else:
            os.environ["OPENHCS_CACHE_DIR"] = old
    result.assert_outcomes(passed=4)
    assert list(user_cache.iterdir()) == []  # every fixture used its own folder


ORDER_TESTS = {
    "roundtrip": """
def test_roundtrip(openhcs_cache_roundtrip):
    from openhcs_hookspecs import ZMQ_SERVERS
    assert sorted(openhcs_cache_roundtrip(ZMQ_SERVERS)) == ["execution", "fiji", "napari"]
""",
    "no_entry_points": """
def test_no_entry_points(openhcs_no_entry_points):
    from openhcs_hookspecs import ZMQ_SERVERS
    # a fresh process without entry points finds no server: neither must this one, whatever
    # an earlier test imported
    assert sorted(ZMQ_SERVERS) == []
""",
    "plain_import": """
def test_plain_import(openhcs_no_entry_points):
    from openhcs_hookspecs import ZMQ_SERVERS
    import openhcs_plugins.zmq_servers  # "import my_plugin is enough", in this process
    assert "execution" in ZMQ_SERVERS
""",
}


@pytest.mark.parametrize(
    "order",
    [
        ("roundtrip", "no_entry_points", "plain_import"),
        ("no_entry_points", "roundtrip", "plain_import"),
        ("plain_import", "no_entry_points", "roundtrip"),
    ],
)
def test_results_do_not_depend_on_test_order(
    pytester: pytest.Pytester, order: tuple[str, ...]
) -> None:
    result = run(pytester, "\n".join(ORDER_TESTS[name] for name in order), "-p", "no:randomly")
    result.assert_outcomes(passed=3)


def test_register_leaves_the_import_state_consistent(pytester: pytest.Pytester) -> None:
    """A module first imported in a test is imported afresh by the next one (its classes
    registered again), not left imported with its classes forgotten."""
    pytester.makepyfile(
        my_scope="""
        from openhcs_hookspecs.microscopes import MicroscopeHandler
        class MyScope(MicroscopeHandler):
            _microscope_type = "myscope"
            def parse_filename(self, f): return None
            def construct_filename(self, **c): return ""
    """
    )
    result = run(
        pytester,
        """
        import os, sys
        sys.path.insert(0, os.path.dirname(__file__))
        from openhcs_hookspecs import MICROSCOPE_HANDLERS
        def test_first(openhcs_fresh_registries):
            import my_scope
            assert "myscope" in MICROSCOPE_HANDLERS
        def test_second(openhcs_fresh_registries):
            assert "myscope" not in MICROSCOPE_HANDLERS  # the first test's import is undone
            import my_scope
            assert "myscope" in MICROSCOPE_HANDLERS      # and importing it again works
    """,
    )
    result.assert_outcomes(passed=2)


# -- a warm listing imports nothing, proven in fresh interpreters --------------------------------
def test_assert_lazy_holds_even_after_this_process_discovered(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        import sys
        from openhcs_hookspecs import STORAGE_BACKENDS, ZMQ_SERVERS
        def test_lazy(openhcs_assert_lazy):
            STORAGE_BACKENDS["memory"]  # this process imports plugins...
            assert "openhcs_plugins.storage.memory" in sys.modules
            report = openhcs_assert_lazy("openhcs_plugins", "pluggy")  # ...a warm start does not
            assert report["registries"]["storage_backend"]["source"] == "cache"
            default = openhcs_assert_lazy(registries=[STORAGE_BACKENDS, ZMQ_SERVERS])
            assert "openhcs_plugins.storage.memory" in default["checked"]
        def test_eager(openhcs_assert_lazy):
            openhcs_assert_lazy("openhcs_registry._lazy")  # every listing imports the engine
    """,
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*a warm listing imported: openhcs_registry._lazy*"])


# -- a decorator-style temporary plugin -----------------------------------------------------------
def test_tmp_plugin(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        from openhcs_hookspecs import STORAGE_BACKENDS, ZMQ_SERVERS
        from openhcs_plugins.storage.memory import MemoryBackend

        def test_provides(openhcs_tmp_plugin):
            @openhcs_tmp_plugin.provides(STORAGE_BACKENDS)
            class Scratch(MemoryBackend):
                "A scratch backend."
                _backend_type = "scratch"
            assert STORAGE_BACKENDS["scratch"] is Scratch
            assert STORAGE_BACKENDS.info("scratch")["plugin"] == openhcs_tmp_plugin.name
            assert "memory" in STORAGE_BACKENDS  # the installed plugins still count

        def test_hookimpl_override(openhcs_tmp_plugin):
            class Louder(MemoryBackend):
                _backend_type = "memory"
            @openhcs_tmp_plugin.hookimpl(tryfirst=True)
            def provide_storage_backends():
                return [Louder]
            assert STORAGE_BACKENDS["memory"] is Louder
            kinds = [f.kind for f in STORAGE_BACKENDS.failures if f.key == "memory"]
            assert kinds == ["overridden"]

        def test_app_hook(openhcs_tmp_plugin):
            from openhcs_registry import hookspec
            class Specs:
                @hookspec(firstresult=True)
                def reader_for(self, path): ...
            @openhcs_tmp_plugin.hookimpl
            def reader_for(path):
                return "tmp" if path.endswith(".tmp") else None
            openhcs_tmp_plugin.join(ZMQ_SERVERS)
            pm = ZMQ_SERVERS.plugin_manager
            pm.add_hookspecs(Specs)
            assert pm.hook.reader_for(path="a.tmp") == "tmp"

        def test_gone(openhcs_fresh_registries):
            assert "scratch" not in STORAGE_BACKENDS
            assert STORAGE_BACKENDS["memory"] is MemoryBackend
            assert not [f for f in STORAGE_BACKENDS.failures if f.key == "memory"]
    """,
    )
    result.assert_outcomes(passed=4)
