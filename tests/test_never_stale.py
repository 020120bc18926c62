"""Never stale: after each change of the world, a warm start equals a fresh discovery.

One test per way a warm start was once found to differ from a fresh discovery
(issue "Never stale", items 1-21).  Every comparison runs in new processes: a warm listing
(cache enabled) and a fresh one (``OPENHCS_DISABLE_REGISTRY_CACHE=1``) must agree on keys,
the ``module:qualname`` of every resolved value, secondaries and failures.  The model-based
test (tests/test_never_stale_model.py) drives random sequences of such changes; these pin
each known cause.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path
from typing import Any

import pytest
from _probes import LISTING, observe
from support import World, run_python


def warm_equals_fresh(world: World, cwd: Path | None = None, **env: str) -> dict[str, Any]:
    """A warm listing and a fresh one in new processes; assert they agree; return the warm."""
    warm = observe(world, cwd, **env)
    fresh = observe(world, cwd, OPENHCS_DISABLE_REGISTRY_CACHE="1", **env)
    for field in ("keys", "vals", "parts", "fails"):
        assert warm[field] == fresh[field], (field, warm, fresh)
    return warm


def prime(world: World, cwd: Path | None = None, **env: str) -> None:
    """Discover once and check that the next start is served from the cache."""
    observe(world, cwd, **env)
    assert observe(world, cwd, **env)["source"] == "cache"


def package_plugin(world: World, pkg: str, impl: str, keys_module: str | None = None) -> None:
    """``pkg/__init__.py`` (hookimpl, entry point) + ``pkg/impl.py`` (the classes)."""
    world.write(
        f"{pkg}/__init__.py",
        """
        from openhcs_registry import hookimpl

        @hookimpl
        def provide_things():
            from .impl import CLASSES
            return CLASSES
        """,
    )
    world.write(f"{pkg}/impl.py", impl)
    if keys_module is not None:
        world.write(f"{pkg}/_keys.py", keys_module)
    world.add_dist_info(f"{pkg}-plugin", "1.0", {pkg: pkg})


def test_1_edit_of_a_module_whose_classes_were_all_rejected(world: World) -> None:
    pkg = f"pk_{world.tag}"
    world.write_spec()
    impl = f"""
        from {world.spec} import Thing
        class Needs(Thing):
            kind = "needs"
            requires_modules = ("not_installed_anywhere_x",)
        CLASSES = [Needs]
        """
    package_plugin(world, pkg, impl)
    prime(world)
    assert observe(world)["keys"] == []
    world.write(f"{pkg}/impl.py", impl.replace('("not_installed_anywhere_x",)', "()"))
    assert warm_equals_fresh(world)["keys"] == ["needs"]


def test_1_key_computed_in_a_helper_module(world: World) -> None:
    pkg = f"pk_{world.tag}"
    world.write_spec()
    impl = f"""
        from {world.spec} import Thing
        from ._keys import KEY
        class One(Thing):
            kind = KEY
        CLASSES = [One]
        """
    package_plugin(world, pkg, impl, keys_module="KEY = 'first'\n")
    prime(world)
    world.write(f"{pkg}/_keys.py", "KEY = 'second'\n")
    assert warm_equals_fresh(world)["keys"] == ["second"]


def test_1_a_helper_imported_from_sys_modules_by_a_module_another_plugin_loaded(
    world: World,
) -> None:
    """Plugin ``b`` (its hook called first: pluggy calls the last registered first) imports
    ``mid``, which imports ``inner``, then ``sib``, whose body imports ``inner`` again, from
    ``sys.modules``.  Plugin ``a`` imports only ``sib`` (loaded already: it takes ``sib``'s
    record) and its key from ``inner``.  ``sib``'s record must name ``inner`` though its
    importer had it first, or ``a``'s record does not, and editing ``inner`` leaves ``a``
    reused with its old key."""
    tag = world.tag
    world.write_spec()
    world.write(f"inner_{tag}.py", "KEY = 'first'\n")
    world.write(f"mid_{tag}.py", f"import inner_{tag}\n")
    world.write(f"sib_{tag}.py", f"from inner_{tag} import KEY\n")
    package_plugin(
        world,
        f"b_{tag}",
        f"""
        import mid_{tag}
        import sib_{tag}
        from {world.spec} import Thing
        class One(Thing):
            kind = "one"
        CLASSES = [One]
        """,
    )
    package_plugin(
        world,
        f"a_{tag}",
        f"""
        from sib_{tag} import KEY
        from {world.spec} import Thing
        class Two(Thing):
            kind = KEY
        CLASSES = [Two]
        """,
    )
    prime(world)
    assert observe(world)["keys"] == ["first", "one"]
    world.write(f"inner_{tag}.py", "KEY = 'second'\n")
    assert warm_equals_fresh(world)["keys"] == ["one", "second"]


def test_2_entry_point_module_fixed_after_failing_to_import(world: World) -> None:
    world.write_spec()
    good = world.plugin_source(("Alpha", "alpha"))
    world.install("alpha-plugin", f"alpha_{world.tag}", good.replace("class Alpha", "clas Alpha"))
    prime(world)
    assert [f[1] for f in observe(world)["fails"]] == ["import_error"]
    world.write(f"alpha_{world.tag}.py", good)
    assert warm_equals_fresh(world)["keys"] == ["alpha"]


def install_optional_dependency_plugin(world: World, dep: str) -> str:
    """*world*'s registry with one plugin whose hook offers ``opt`` only when module *dep*
    imports (an optional dependency); returns *dep*."""
    world.write_spec()
    world.install(
        "opt-plugin",
        f"opt_{world.tag}",
        world.plugin_source(hook=False)
        + textwrap.dedent(f"""
            class Opt(Thing):
                kind = "opt"
            @hookimpl
            def provide_things():
                try:
                    import {dep}  # noqa: F401
                except ImportError:
                    return []
                return [Opt]
            """),
    )
    return dep


def test_3_optional_dependency_saved_in_the_launch_folder(world: World, tmp_path: Path) -> None:
    dep = install_optional_dependency_plugin(world, f"optdep_{world.tag}")
    plain = tmp_path / "plain"
    plain.mkdir()
    prime(world, cwd=plain)
    with_dep = tmp_path / "with_dep"
    with_dep.mkdir()
    (with_dep / f"{dep}.py").write_text("")
    # another launch folder, holding the optional dependency: python -c searches the cwd
    assert warm_equals_fresh(world, cwd=with_dep)["keys"] == ["opt"]
    assert warm_equals_fresh(world, cwd=plain)["keys"] == []
    # the launch folder itself does not matter when it shadows nothing recorded
    other = tmp_path / "other"
    other.mkdir()
    (other / "unrelated.py").write_text("")
    warm_equals_fresh(world, cwd=plain)
    assert observe(world, cwd=other)["source"] == "cache"


def test_3_discovery_package_shadowed_from_the_launch_folder(world: World, tmp_path: Path) -> None:
    pkg = f"dp_{world.tag}"
    world.write_spec(packages=(pkg,))
    world.write(f"{pkg}/__init__.py", "")
    world.write(
        f"{pkg}/one.py", f"from {world.spec} import Thing\nclass One(Thing):\n    kind = 'one'\n"
    )
    launch = tmp_path / "launch"
    (launch / pkg).mkdir(parents=True)
    (launch / pkg / "__init__.py").write_text("")
    (launch / pkg / "two.py").write_text(
        f"from {world.spec} import Thing\nclass Two(Thing):\n    kind = 'two'\n"
    )
    prime(world)
    assert warm_equals_fresh(world, cwd=launch)["keys"] == ["two"]
    assert warm_equals_fresh(world)["keys"] == ["one"]


def test_4_file_saved_while_discovery_runs(world: World) -> None:
    """The hook rewrites its own helper after importing it: the next start must see it."""
    pkg = f"pk_{world.tag}"
    world.write_spec()
    impl_path = world.site / pkg / "impl.py"
    impl = f"""
        from {world.spec} import Thing
        class Old(Thing):
            kind = "old"
        CLASSES = [Old]
        """
    package_plugin(world, pkg, impl)
    world.write(
        f"{pkg}/__init__.py",
        f"""
        import os
        from openhcs_registry import hookimpl

        @hookimpl
        def provide_things():
            from .impl import CLASSES
            path = {str(impl_path)!r}
            text = open(path).read()
            if "Old" in text:  # the author saves the file while discovery runs
                with open(path, "w") as fh:
                    fh.write(text.replace("Old", "New").replace('"old"', '"new"'))
            return CLASSES
        """,
    )
    first = observe(world)
    assert first["keys"] == ["old"] and first["source"] == "fresh"
    second = warm_equals_fresh(world)
    assert second["keys"] == ["new"]


def test_5_class_registered_at_import_in_another_top_level_package(world: World) -> None:
    helper = f"helper_{world.tag}"
    world.write_spec()
    world.write(
        f"{helper}.py",
        f"from {world.spec} import Thing\nclass Helped(Thing):\n    kind = 'helped'\n",
    )
    world.install(
        "uses-helper",
        f"user_{world.tag}",
        world.plugin_source(("Own", "own")).replace(
            "from openhcs_registry", f"import {helper}  # noqa\nfrom openhcs_registry", 1
        ),
    )
    observe(world)
    warm = warm_equals_fresh(world)
    assert warm["keys"] == ["helped", "own"] and warm["source"] == "cache"


def test_6_earlier_folder_gains_init_and_takes_over_a_discovery_package(
    world: World, tmp_path: Path
) -> None:
    pkg = f"dp_{world.tag}"
    world.write_spec(packages=(pkg,))
    world.write(f"{pkg}/__init__.py", "")
    world.write(
        f"{pkg}/one.py", f"from {world.spec} import Thing\nclass One(Thing):\n    kind = 'one'\n"
    )
    early = tmp_path / "early"
    (early / pkg).mkdir(parents=True)
    (early / pkg / "two.py").write_text(
        f"from {world.spec} import Thing\nclass Two(Thing):\n    kind = 'two'\n"
    )
    pythonpath = os.pathsep.join([str(early), str(world.site)])
    prime(world, PYTHONPATH=pythonpath)
    assert observe(world, PYTHONPATH=pythonpath)["keys"] == ["one"]
    (early / pkg / "__init__.py").write_text("")
    assert warm_equals_fresh(world, PYTHONPATH=pythonpath)["keys"] == ["two"]


def test_7_entry_points_txt_edited_in_place(world: World) -> None:
    world.write_spec()
    info = world.install("two-plugin", f"two_{world.tag}", world.plugin_source(("A", "a")))
    world.write(f"extra_{world.tag}.py", world.plugin_source(("B", "b")))
    prime(world)
    eps = info / "entry_points.txt"
    folder_before = info.stat().st_mtime_ns
    with open(eps, "a") as fh:  # in place: the folder's mtime does not move
        fh.write(f"extra = extra_{world.tag}\n")
    assert info.stat().st_mtime_ns == folder_before
    assert warm_equals_fresh(world)["keys"] == ["a", "b"]


def test_8_required_submodule_appears_inside_an_installed_package(world: World) -> None:
    dep = f"dep_{world.tag}"
    world.write_spec()
    world.write(f"{dep}/__init__.py", "")
    world.install(
        "sub-plugin",
        f"sub_{world.tag}",
        world.plugin_source(
            ("Sub", "sub"),
        ).replace("    kind = 'sub'", f"    kind = 'sub'\n    requires_modules = ('{dep}.extra',)"),
    )
    prime(world)
    assert observe(world)["keys"] == []
    world.write(f"{dep}/extra.py", "")
    assert warm_equals_fresh(world)["keys"] == ["sub"]


def test_9_same_size_edit_with_the_mtime_put_back(world: World) -> None:
    world.write_spec()
    path = world.site / f"same_{world.tag}.py"
    world.install("same-plugin", f"same_{world.tag}", world.plugin_source(("Same", "aaa")))
    prime(world)
    before = path.stat()
    path.write_text(path.read_text().replace("'aaa'", "'bbb'"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # cp -p, rsync -a, tar x
    assert path.stat().st_size == before.st_size
    assert warm_equals_fresh(world)["keys"] == ["bbb"]


def test_10_registries_whose_plugins_read_each_other_are_not_cached(
    world: World, tmp_path: Path
) -> None:
    """Which of the two fails depends on which is read first: neither answer is cached."""
    other = World(tmp_path / "other", cache_dir=world.cache_dir)
    other.write_spec()
    world.write_spec()
    world.install(
        "reads-other",
        f"ro_{world.tag}",
        f"from {other.spec} import REGISTRY as OTHER\nlen(OTHER)\n"
        + world.plugin_source(("Mine", "mine")),
    )
    other.install(
        "reads-first",
        f"rf_{other.tag}",
        f"from {world.spec} import REGISTRY as FIRST\nlen(FIRST)\n"
        + other.plugin_source(("Theirs", "theirs")),
    )
    pythonpath = os.pathsep.join([str(world.site), str(other.site)])
    code = """
        import json
        from {a} import REGISTRY as A
        from {b} import REGISTRY as B
        first, second = ({order})
        list(first)
        print(json.dumps({{"a": [sorted(A), A.source, sorted(f.kind for f in A.failures)],
                           "b": [sorted(B), B.source, sorted(f.kind for f in B.failures)]}}))
        """

    def run(order: str, **env: str) -> dict[str, Any]:
        src = code.format(a=world.spec, b=other.spec, order=order)
        result: dict[str, Any] = run_python(src, world.env(PYTHONPATH=pythonpath, **env))
        return result

    run("A, B")
    warm = run("B, A")
    fresh = run("B, A", OPENHCS_DISABLE_REGISTRY_CACHE="1")
    assert [warm["a"][0], warm["a"][2], warm["b"][0], warm["b"][2]] == [
        fresh["a"][0],
        fresh["a"][2],
        fresh["b"][0],
        fresh["b"][2],
    ]
    assert warm["a"][1] == warm["b"][1] == "fresh"  # nothing order-dependent was cached


def test_11_cache_warm_from_the_cli_serves_the_application(world: World, tmp_path: Path) -> None:
    world.write_spec()
    world.install("alpha-plugin", f"alpha_{world.tag}", world.plugin_source(("Alpha", "alpha")))
    cli = Path(sys.executable).parent / "openhcs-registry"
    argv = [str(cli)] if cli.exists() else [sys.executable, "-m", "openhcs_registry"]
    proc = subprocess.run(
        [*argv, "cache", "warm", "--module", world.spec],
        env=world.env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    app = tmp_path / "app"
    app.mkdir()
    (app / "main.py").write_text(
        "import json\n"
        f"from {world.spec} import REGISTRY\n"
        "print(json.dumps([sorted(REGISTRY), REGISTRY.source]))\n"
    )
    out = subprocess.run(
        [sys.executable, str(app / "main.py")],
        env=world.env(),
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert json.loads(out.stdout.splitlines()[-1]) == [["alpha"], "cache"], out.stderr
    info = subprocess.run(
        [*argv, "cache", "info", world.name, "--json", "--module", world.spec],
        env=world.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert '"valid"' in info.stdout, info.stdout + info.stderr


def test_12_a_sys_path_entry_listed_twice_reads_the_same_cache(world: World) -> None:
    world.write_spec()
    world.install("alpha-plugin", f"alpha_{world.tag}", world.plugin_source(("Alpha", "alpha")))
    prime(world)
    code = f"""
        import json, sys
        sys.path.insert(0, {str(world.site)!r})  # a spawn worker re-running its main module
        from {world.spec} import REGISTRY
        print(json.dumps([sorted(REGISTRY), REGISTRY.source]))
        """
    assert run_python(code, world.env()) == [["alpha"], "cache"]


def test_12b_a_gained_sys_path_entry_is_judged_for_each_registry_of_a_burst(
    world: World, tmp_path: Path
) -> None:
    """Two registries of one environment, read one after the other, with a ``sys.path``
    entry the documents do not record (a script's ``sys.path.insert``).  It provides a
    module only the second registry's plugin imports: the first is served from the
    cache, the second is not (whose names an entry shadows is each registry's own)."""
    other = World(world.root / "other", cache_dir=world.cache_dir)
    helper = f"helper_{other.tag}"
    world.write_spec()
    world.install("alpha-plugin", f"alpha_{world.tag}", world.plugin_source(("Alpha", "alpha")))
    other.write_spec()
    other.write(f"{helper}.py", "KEY = 'beta'\n")
    beta = other.plugin_source(("Beta", "placeholder")).replace(
        "    kind = 'placeholder'", f"    kind = {helper}.KEY"
    )
    other.install("beta-plugin", f"beta_{other.tag}", f"import {helper}\n{beta}")
    gained = tmp_path / "gained"
    gained.mkdir()
    (gained / f"{helper}.py").write_text("KEY = 'shadowed'\n")
    env = world.env(PYTHONPATH=os.pathsep.join([str(world.site), str(other.site)]))
    code = f"""
        import json, sys
        if {{insert}}:
            sys.path.insert(0, {str(gained)!r})
        from {world.spec} import REGISTRY as FIRST
        from {other.spec} import REGISTRY as SECOND
        first, second = sorted(FIRST), sorted(SECOND)
        print(json.dumps([first, FIRST.source, second, SECOND.source]))
        """
    run_python(code.format(insert=False), env)
    assert run_python(code.format(insert=False), env) == [["alpha"], "cache", ["beta"], "cache"]
    warm = run_python(code.format(insert=True), env)
    fresh = run_python(code.format(insert=True), {**env, "OPENHCS_DISABLE_REGISTRY_CACHE": "1"})
    assert warm == [["alpha"], "cache", ["shadowed"], "fresh"]
    assert fresh[0::2] == warm[0::2]


def _zip_world(world: World, version: str) -> Path:
    archive = world.root / "plugins.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(f"zipped_{world.tag}.py", world.plugin_source(("Zipped", f"zip{version}")))
        zf.writestr(f"zipped-{version}.dist-info/METADATA", f"Name: zipped\nVersion: {version}\n")
        zf.writestr(
            f"zipped-{version}.dist-info/entry_points.txt",
            f"[{world.group}]\nzipped = zipped_{world.tag}\n",
        )
    return archive


def test_13_plugins_imported_from_a_zip_file_are_cached(world: World) -> None:
    world.write_spec()
    archive = _zip_world(world, "1")
    pythonpath = os.pathsep.join([str(world.site), str(archive)])
    prime(world, PYTHONPATH=pythonpath)
    assert observe(world, PYTHONPATH=pythonpath)["keys"] == ["zip1"]
    _zip_world(world, "2")  # the archive replaced: another plugin inside
    assert warm_equals_fresh(world, PYTHONPATH=pythonpath)["keys"] == ["zip2"]


def test_15_system_exit_at_import_on_a_warm_start_is_isolated(world: World) -> None:
    """A plugin whose import exits (``sys.exit``) when it is loaded: its value is a
    ``KeyError`` and an ``import_error`` failure, the other plugins stay.  Exiting on an
    environment variable it reads, the start rediscovers (an input: case 25); on the
    program's own state (not an input of discovery), the cache lists it and its import
    exits when the value is resolved from it."""
    world.write_spec()
    world.install(
        "headless",
        f"hl_{world.tag}",
        "import builtins, os, sys\n"
        "if getattr(builtins, 'NO_DISPLAY_X', False) or os.environ.get('NO_DISPLAY_X'):\n"
        "    sys.exit('no display')\n" + world.plugin_source(("Gui", "gui")),
    )
    world.install("alpha-plugin", f"alpha_{world.tag}", world.plugin_source(("Alpha", "alpha")))
    prime(world)
    code = f"""
        import builtins, json, os
        builtins.NO_DISPLAY_X = bool(os.environ.get('EXIT_AT_RESOLVE'))  # (not an input)
        from {world.spec} import REGISTRY
        listed = sorted(REGISTRY)
        source = REGISTRY.source
        try:
            REGISTRY["gui"]
            got = "value"
        except KeyError as exc:
            got = "KeyError"
        copied = sorted(REGISTRY.copy())
        print(json.dumps([source, listed, got, copied,
                          sorted(f.kind for f in REGISTRY.failures)]))
        """
    # the variable the plugin reads: a change, so the start rediscovers
    out = run_python(code, world.env(NO_DISPLAY_X="1"))
    assert out == ["fresh", ["alpha"], "KeyError", ["alpha"], ["import_error"]]
    assert run_python(code, world.env())[:2] == ["fresh", ["alpha", "gui"]]
    # the program's own state: the cache holds, the value's import exits when resolved
    out = run_python(code, world.env(EXIT_AT_RESOLVE="1"))
    assert out == ["cache", ["alpha", "gui"], "KeyError", ["alpha"], ["import_error"]]


def test_16_cache_clear_deletes_only_our_own_files(world: World, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir(mode=0o755)
    (project / "package.json").write_text('{"name": "not ours"}')
    (project / "notes_registry.json").write_text("{}")  # our name pattern, not our content
    world.write_spec()
    world.install("alpha-plugin", f"alpha_{world.tag}", world.plugin_source(("Alpha", "alpha")))
    env = {"OPENHCS_CACHE_DIR": str(project)}
    observe(world, **env)
    assert stat.S_IMODE(project.stat().st_mode) == 0o755  # never chmod'ed
    code = "import json\nfrom openhcs_registry import clear_cache\nprint(json.dumps([p.name for p in clear_cache()]))"
    removed = run_python(code, world.env(**env))
    assert removed == ["entry_points_index.json", f"{world.name}_registry.json"]
    assert sorted(p.name for p in project.iterdir()) == ["notes_registry.json", "package.json"]


def test_16_cache_folder_reached_through_another_users_link_is_refused(
    world: World, tmp_path: Path
) -> None:
    if os.getuid() != 0:
        pytest.skip("needs root to create a link owned by another user")
    target = tmp_path / "target"
    target.mkdir(mode=0o700)
    link = tmp_path / "shared" / "cache"
    link.parent.mkdir(mode=0o1777)
    link.symlink_to(target)
    os.lchown(link, 65534, 65534)
    world.write_spec()
    world.install("alpha-plugin", f"alpha_{world.tag}", world.plugin_source(("Alpha", "alpha")))
    proc = subprocess.run(
        [sys.executable, "-c", LISTING.format(spec=world.spec)],
        env=world.env(OPENHCS_CACHE_DIR=str(link)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1])["keys"] == ["alpha"]
    assert "a link of another user" in proc.stderr
    assert list(target.iterdir()) == []


@pytest.mark.parametrize("mode", [0o555, 0o777])
def test_18_a_folder_we_must_not_change_is_used_uncached_and_left_alone(
    world: World, tmp_path: Path, mode: int
) -> None:
    folder = tmp_path / "given"
    folder.mkdir()
    os.chmod(folder, mode)
    world.write_spec()
    world.install("alpha-plugin", f"alpha_{world.tag}", world.plugin_source(("Alpha", "alpha")))
    try:
        proc = subprocess.run(
            [sys.executable, "-c", LISTING.format(spec=world.spec)],
            env=world.env(OPENHCS_CACHE_DIR=str(folder)),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout.splitlines()[-1])["keys"] == ["alpha"]
        assert stat.S_IMODE(folder.stat().st_mode) == mode
        if mode == 0o777:
            assert "writable by other users" in proc.stderr
            assert list(folder.iterdir()) == []
    finally:
        os.chmod(folder, 0o700)


def test_19_a_temp_file_left_by_a_killed_writer_is_removed(world: World) -> None:
    world.write_spec()
    world.install("alpha-plugin", f"alpha_{world.tag}", world.plugin_source(("Alpha", "alpha")))
    observe(world)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    pid = int(dead.stdout)
    stale = world.cache_dir / f".{world.name}_registry.json.{pid}.0123456789ab.tmp"
    stale.write_text("half a document")
    os.utime(stale, (1_000_000_000, 1_000_000_000))
    mine = world.cache_dir / "unrelated.tmp"
    mine.write_text("not ours")
    world.cache_file.unlink()
    observe(world)  # rewrites the cache
    assert not stale.exists() and mine.exists()


def test_21_import_time_registration_is_linear(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """16,000 subclasses noted: each note is O(1) (it was a scan of all earlier notes).

    Seen through the public road alone: defining ``AutoRegistered`` subclasses.  The Python
    lines the noting code runs for the 2,000th class are those it ran for the first (a rescan
    of the earlier notes grows with them), and no noted class is ever compared (a
    list-membership scan compares each); ``registry.isolated()`` undoes the notes.
    """
    import importlib

    from openhcs_registry import AutoRegistered

    world.write_spec()
    world.activate(monkeypatch)
    thing = importlib.import_module(world.spec).Thing
    noting = AutoRegistered.__init_subclass__.__func__.__code__.co_filename  # type: ignore[attr-defined]
    compared = 0

    class Meta(type(thing)):  # type: ignore[misc]
        def __eq__(cls, other: object) -> bool:
            nonlocal compared
            compared += 1
            return cls is other

        __hash__ = type.__hash__

    lines: list[int] = []

    def tracer(frame: Any, event: str, _arg: Any) -> Any:
        if frame.f_code.co_filename != noting:
            return None
        if event == "line":
            lines[-1] += 1
        return tracer

    registry = world.registry()
    with registry.isolated():
        previous = sys.gettrace()
        sys.settrace(tracer)
        try:
            for i in range(2000):
                lines.append(0)
                Meta(f"C{i}", (thing,), {"kind": f"k{i}"})
        finally:
            sys.settrace(previous)
        assert len(registry) == 2000  # every class noted (overlaid: defined here)
    assert compared == 0
    assert 0 < max(lines[-100:]) <= max(lines[:100]), (lines[:3], lines[-3:])
    assert "k0" not in registry  # the notes were undone


def test_20_registries_pickle_by_reference_into_spawn_workers(world: World) -> None:
    """``pickle.dumps(STORAGE_BACKENDS)`` names the registry; a spawn worker reads its own."""
    world.write_spec()
    world.install("alpha-plugin", f"alpha_{world.tag}", world.plugin_source(("Alpha", "alpha")))
    prime(world)
    code = f"""
        import json, multiprocessing, pickle
        from openhcs_hookspecs.storage import STORAGE_BACKENDS
        from openhcs_hookspecs.microscopes import METADATA_HANDLERS
        from {world.spec} import REGISTRY, PARTNERS

        if __name__ == "__main__":
            same = [pickle.loads(pickle.dumps(r)) is r
                    for r in (STORAGE_BACKENDS, METADATA_HANDLERS, REGISTRY, PARTNERS)]
            ctx = multiprocessing.get_context("spawn")
            with ctx.Pool(2) as pool:
                worker = pool.map(sorted, [REGISTRY, STORAGE_BACKENDS, METADATA_HANDLERS])
            here = [sorted(REGISTRY), sorted(STORAGE_BACKENDS), sorted(METADATA_HANDLERS)]
            print(json.dumps([same, worker == here, worker[0], REGISTRY.source]))
        """
    assert run_python(code, world.env()) == [[True] * 4, True, ["alpha"], "cache"]


LISTING_ANY = """
import json, sys
from {spec} import REGISTRY
keys = sorted(REGISTRY)
imported = sorted(m for m in sys.modules if m.startswith("{prefix}"))
source = REGISTRY.source
vals = {{}}
for key in keys:
    value = REGISTRY[key]
    kind = value if isinstance(value, type) else type(value)
    vals[key] = kind.__module__ + ":" + kind.__qualname__
print(json.dumps({{"keys": keys, "imported": imported, "vals": vals, "source": source,
                  "fails": sorted([f.plugin, f.kind, f.key or ""] for f in REGISTRY.failures)}}))
"""


@pytest.mark.parametrize("what", ["instance", "lone-surrogate-key"])
def test_14_one_uncacheable_plugin_leaves_the_rest_cached(world: World, what: str) -> None:
    """Only the plugin whose part cannot be stored is called again at each start."""
    world.write_spec()
    world.install("alpha-plugin", f"c14_{world.tag}_alpha", world.plugin_source(("Alpha", "alpha")))
    world.install("beta-plugin", f"c14_{world.tag}_beta", world.plugin_source(("Beta", "beta")))
    if what == "instance":
        returned = "[Odd()]"
    else:
        returned = "{'odd\\udc80': Odd}"
    world.install(
        "odd-plugin",
        f"c14_{world.tag}_odd",
        world.plugin_source(("Odd", "odd"), hook=False)
        + f"\n@hookimpl\ndef provide_things():\n    return {returned}\n",
    )

    def listing(**env: str) -> dict[str, Any]:
        code = LISTING_ANY.format(spec=world.spec, prefix=f"c14_{world.tag}")
        result: dict[str, Any] = run_python(code, world.env(**env), cwd=world.root)
        return result

    listing()
    doc = world.read_cache()  # written, with the other plugins' part
    assert {"alpha", "beta"} <= set(doc["items"])
    written = world.cache_file.stat().st_mtime_ns
    warm = listing()
    fresh = listing(OPENHCS_DISABLE_REGISTRY_CACHE="1")
    for field in ("keys", "vals", "fails"):
        assert warm[field] == fresh[field], (field, warm, fresh)
    assert len(warm["keys"]) == 3
    # the odd plugin was called again; alpha and beta came from the cache (not imported
    # before their values were read)
    assert warm["imported"] == [f"c14_{world.tag}_odd"]
    assert listing()["imported"] == [f"c14_{world.tag}_odd"]
    assert world.cache_file.stat().st_mtime_ns == written  # nothing new: not rewritten


@pytest.mark.parametrize("stale", [False, True], ids=["valid-document", "stale-document"])
def test_17_a_null_file_record_never_lets_a_reference_import_its_module(
    world: World, stale: bool
) -> None:
    """A forged reference into a module with a null file record is never imported."""
    world.write_spec()
    marker = world.root / "evil-was-imported"
    world.write(
        f"evil_{world.tag}.py", f"open({str(marker)!r}, 'w').close()\nclass Alpha:\n    pass\n"
    )
    world.install("alpha-plugin", f"alpha_{world.tag}", world.plugin_source(("Alpha", "alpha")))
    world.install("beta-plugin", f"beta_{world.tag}", world.plugin_source(("Beta", "beta")))
    prime(world)
    doc = world.read_cache()
    evil = f"evil_{world.tag}:Alpha"
    doc["items"]["alpha"]["ref"] = evil
    for record in doc["cold"]["plugins"]:  # the records (cold part) vouch for it too
        for offer in record.get("offers", ()):
            if offer[0] == "alpha":
                offer[1] = evil
    doc["modules"][f"evil_{world.tag}"] = None
    world.write_cache(doc)
    if stale:  # beta changed: the document goes to incremental rediscovery
        path = world.site / f"beta_{world.tag}.py"
        path.write_text(path.read_text() + "\n")
    got = warm_equals_fresh(world)
    assert got["vals"] == {"alpha": f"alpha_{world.tag}:Alpha", "beta": f"beta_{world.tag}:Beta"}
    assert not marker.exists()


def test_17_a_stale_document_cannot_point_a_reused_record_at_another_module(
    world: World,
) -> None:
    """Incremental rediscovery reuses records, not trust: a forged secondary reference into
    a module mapped to a watched file of another module is never imported."""
    world.write_spec()
    marker = world.root / "evil-was-imported"
    evil = f"evil_{world.tag}"
    world.write(f"{evil}.py", f"open({str(marker)!r}, 'w').close()\nclass Alpha:\n    pass\n")
    source = world.plugin_source(("Alpha", "alpha")).replace(
        "    kind = 'alpha'", f"    kind = 'alpha'\n    partner = 'alpha_{world.tag}:Alpha'"
    )
    world.install("alpha-plugin", f"alpha_{world.tag}", source)
    world.install("beta-plugin", f"beta_{world.tag}", world.plugin_source(("Beta", "beta")))
    prime(world)
    doc = world.read_cache()
    alpha_file = next(
        i for i, path in enumerate(doc["files"]) if path.endswith(f"alpha_{world.tag}.py")
    )
    doc["modules"][evil] = alpha_file  # claims evil's code lives in a watched file
    for record in doc["cold"]["plugins"]:
        for offer in record.get("offers", ()):
            if offer[0] == "alpha":
                offer[3:] = [None, {f"{world.name}_partner": f"{evil}:Alpha"}]
    world.write_cache(doc)
    beta = world.site / f"beta_{world.tag}.py"
    beta.write_text(beta.read_text() + "\n")  # stale: incremental rediscovery reuses alpha
    code = f"""
        import json
        from {world.spec} import REGISTRY, PARTNERS
        got = {{k: PARTNERS[k].__module__ for k in sorted(PARTNERS)}}
        print(json.dumps([sorted(REGISTRY), got]))
        """
    out = run_python(code, world.env(), cwd=world.root)
    assert out == [["alpha", "beta"], {"alpha": f"alpha_{world.tag}"}]
    assert not marker.exists()


def test_17_a_stale_document_cannot_add_an_entry_point(world: World) -> None:
    """Forged entry points in the recorded scan (and a record vouching for them) import
    nothing: only declarations of records whose inputs were checked are taken unread."""
    world.write_spec()
    marker = world.root / "evil-was-imported"
    evil = f"evil_{world.tag}"
    world.write(f"{evil}.py", f"open({str(marker)!r}, 'w').close()\n")
    world.install("alpha-plugin", f"alpha_{world.tag}", world.plugin_source(("Alpha", "alpha")))
    world.install("beta-plugin", f"beta_{world.tag}", world.plugin_source(("Beta", "beta")))
    prime(world)
    doc = world.read_cache()
    for rows in doc["cold"]["distributions"].values():
        for row in rows:
            if row[0].startswith("alpha_plugin") and len(row) > 5:
                row[5].append(["forged", evil])
    doc["cold"]["plugins"].append({"name": "forged", "origin": "entry_point", "module": evil})
    doc["plugins"] += 1  # the warm record count agrees
    world.write_cache(doc)
    beta = world.site / f"beta_{world.tag}.py"
    beta.write_text(beta.read_text() + "\n")  # stale: incremental rediscovery
    got = warm_equals_fresh(world)
    assert got["keys"] == ["alpha", "beta"]
    assert not marker.exists()


def test_17_a_cold_part_naming_other_files_than_the_warm_part_is_not_reused(
    world: World,
) -> None:
    """The warm check stats the warm part's paths; incremental reuse reads the cold part's
    rows.  A document whose two disagree (a row pointed at a file that never changes, so
    alpha's record would look unchanged) reuses nothing: the start equals a fresh one."""
    world.write_spec()
    world.install("alpha-plugin", f"alpha_{world.tag}", world.plugin_source(("Alpha", "alpha")))
    world.install("beta-plugin", f"beta_{world.tag}", world.plugin_source(("Beta", "beta")))
    prime(world)
    steady = world.root / f"steady_{world.tag}.txt"  # outside the site: changes nothing
    steady.write_text("never edited\n")
    doc = world.read_cache()
    for row in doc["cold"]["files"]:
        if row[0].endswith(f"alpha_{world.tag}.py"):
            st = os.stat(steady)
            row[:] = [str(steady), st.st_mtime_ns, st.st_size, st.st_ctime_ns, st.st_ino]
    world.write_cache(doc)
    alpha = world.site / f"alpha_{world.tag}.py"  # edited: only its real row says so
    alpha.write_text(world.plugin_source(("Alpha", "alpha"), ("Gamma", "gamma")))
    got = warm_equals_fresh(world)
    assert got["keys"] == ["alpha", "beta", "gamma"]


@pytest.mark.parametrize("damage", ["flipped-byte", "not-json"])
def test_17_a_damaged_cold_part_degrades_provenance_and_is_never_reused(
    world: World, damage: str
) -> None:
    """The warm part's checksum does not cover the cold part (its own sum does, checked
    when it is read): a damaged cold part still serves the checked answer, ``info()``
    loses the plugin's provenance instead of failing, and a stale start reuses nothing."""
    world.write_spec()
    world.install("alpha-plugin", f"alpha_{world.tag}", world.plugin_source(("Alpha", "alpha")))
    world.install("beta-plugin", f"beta_{world.tag}", world.plugin_source(("Beta", "beta")))
    prime(world)
    raw = world.cache_file.read_bytes()
    start = raw.index(b',"cold":') + len(b',"cold":')
    at = raw.index(b"alpha-plugin", start)  # a distribution name inside the cold part
    if damage == "flipped-byte":
        raw = raw[:at] + b"A" + raw[at + 1 :]
    else:
        raw = raw[:start] + b"[" + raw[start + 1 :]
    world.cache_file.write_bytes(raw)
    code = f"""
        import json
        from {world.spec} import REGISTRY
        keys = sorted(REGISTRY)
        info = REGISTRY.info("alpha")
        print(json.dumps([keys, REGISTRY.source, info["ref"], info.get("distribution")]))
        """
    out = run_python(code, world.env(), cwd=world.root)
    assert out == [["alpha", "beta"], "cache", f"alpha_{world.tag}:Alpha", None]
    beta = world.site / f"beta_{world.tag}.py"
    beta.write_text(beta.read_text() + "\n")  # stale: incremental rediscovery reuses nothing
    got = warm_equals_fresh(world)
    assert got["keys"] == ["alpha", "beta"]
    doc = world.read_cache()  # rewritten whole, with its provenance
    assert any(r.get("distribution") == "alpha-plugin" for r in doc["cold"]["plugins"])


def test_12_an_added_sys_path_entry_that_provides_nothing_recorded_keeps_the_cache(
    world: World, tmp_path: Path
) -> None:
    """A worker's scratch folder or pytest's rootdir on sys.path: still warm, still right.

    An added entry matters only if it provides a name discovery imported or looked for, or
    holds distributions; then the start rediscovers (and equals a fresh discovery).
    """
    world.write_spec()
    world.install("alpha-plugin", f"alpha_{world.tag}", world.plugin_source(("Alpha", "alpha")))
    prime(world)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    (scratch / "unrelated_helper.py").write_text("X = 1\n")
    extra = os.pathsep.join([str(scratch), str(world.site)])
    assert warm_equals_fresh(world, PYTHONPATH=extra)["source"] == "cache"
    # the added folder now shadows the plugin module: the answer changes, and is seen
    (scratch / f"alpha_{world.tag}.py").write_text(world.plugin_source(("Other", "other")))
    shadowed = warm_equals_fresh(world, PYTHONPATH=extra)
    assert shadowed["keys"] == ["other"] and shadowed["source"] == "fresh"
    (scratch / f"alpha_{world.tag}.py").unlink()
    # ... and a distribution installed into it is a new plugin
    site, world.site = world.site, scratch  # install into the added folder
    world.install("beta-plugin", f"beta_{world.tag}", world.plugin_source(("Beta", "beta")))
    world.site = site
    assert warm_equals_fresh(world, PYTHONPATH=extra)["keys"] == ["alpha", "beta"]


RELATIVE_ENTRY_LISTING = """
import json, sys
sys.path.append("__editable__.demo_0_1.finder.__path_hook__")  # setuptools' editable finder
sys.path.append("relsite")  # a relative entry: the import system reads it in the cwd
from {spec} import REGISTRY
keys = sorted(REGISTRY)
print(json.dumps({{"source": REGISTRY.source, "keys": keys}}))
"""


def test_12_a_relative_sys_path_entry_is_read_in_the_launch_folder(
    world: World, tmp_path: Path
) -> None:
    """setuptools' editable installs put ``__editable__.<name>.finder.__path_hook__`` on
    ``sys.path``: a relative entry naming no folder, claimed by the finder's path hook.

    It provides nothing in any launch folder, so another launch folder keeps the cache; a
    relative entry that names a folder in one launch folder is read there (it may provide
    an optional dependency), and a warm start equals a fresh one in each folder.
    """
    dep = install_optional_dependency_plugin(world, f"reldep_{world.tag}")
    code = RELATIVE_ENTRY_LISTING.format(spec=world.spec)

    def listing(cwd: Path, **env: str) -> dict[str, Any]:
        got: dict[str, Any] = run_python(code, world.env(**env), cwd=cwd)
        return got

    def warm_equals_fresh_here(cwd: Path) -> dict[str, Any]:
        warm = listing(cwd)
        assert warm["keys"] == listing(cwd, OPENHCS_DISABLE_REGISTRY_CACHE="1")["keys"]
        return warm

    first, second, with_dep = (tmp_path / n for n in ("first", "second", "with_dep"))
    for folder in (first, second, with_dep):
        folder.mkdir()
    listing(first)
    assert warm_equals_fresh_here(first) == {"source": "cache", "keys": []}
    # another launch folder: the two relative entries name nothing there either
    assert warm_equals_fresh_here(second) == {"source": "cache", "keys": []}
    # a launch folder whose relsite/ provides the optional dependency: the answer changes
    (with_dep / "relsite").mkdir()
    (with_dep / "relsite" / f"{dep}.py").write_text("")
    assert warm_equals_fresh_here(with_dep)["keys"] == ["opt"]
    assert warm_equals_fresh_here(first)["keys"] == []


def _metadata_reader(world: World) -> None:
    """A plugin that gathers its classes from the entry points of its own group (a plugin
    of plugins), and one that picks its key by the installed version of a distribution
    (``importlib.metadata``): neither imports what decides its answer.

    Both scan every ``sys.path`` folder, this world's launch folder too, where it keeps
    its cache: the cache folder is made first, as a user's is (made by the first write,
    after the scan read the launch folder, it is a change the next start rediscovers)."""
    world.cache_dir.mkdir(mode=0o700)
    world.write_spec()
    world.install(
        "gatherer",
        f"gather_{world.tag}",
        f"""
from importlib.metadata import entry_points
from openhcs_registry import hookimpl

@hookimpl
def provide_things():
    return [ep.load() for ep in entry_points(group="sub_{world.tag}")]
""",
    )
    world.install(
        "versioned",
        f"versioned_{world.tag}",
        f"""
from importlib.metadata import PackageNotFoundError, version
from openhcs_registry import hookimpl
from {world.spec} import Thing

try:
    KEY = "dep" + version("dep-{world.tag}").replace(".", "")
except PackageNotFoundError:
    KEY = "nodep"

class Versioned(Thing):
    kind = KEY

@hookimpl
def provide_things():
    return [Versioned]
""",
    )


def test_22_a_distribution_installed_for_a_plugin_that_reads_entry_points(world: World) -> None:
    _metadata_reader(world)
    prime(world)
    assert observe(world)["keys"] == ["nodep"]
    # another distribution declares a class in the gatherer's own group
    for letter in "xy":  # (two modules: a class registers where its module is imported)
        world.write(
            f"sub{letter}_{world.tag}.py",
            f"from {world.spec} import Thing\n\n"
            f"class Sub{letter.upper()}(Thing):\n    kind = 'sub{letter}'\n",
        )
    world.add_dist_info("subx", "1.0", {"x": f"subx_{world.tag}:SubX"}, group=f"sub_{world.tag}")
    assert warm_equals_fresh(world)["keys"] == ["nodep", "subx"]
    assert observe(world)["source"] == "cache"
    # its declaration edited in place (the other class, a file of the same size), then
    # the distribution removed
    info = world.site / "subx-1.0.dist-info" / "entry_points.txt"
    info.write_text(info.read_text().replace(f"subx_{world.tag}:SubX", f"suby_{world.tag}:SubY"))
    assert warm_equals_fresh(world)["keys"] == ["nodep", "suby"]
    world.uninstall("subx")
    assert warm_equals_fresh(world)["keys"] == ["nodep"]


def test_22_a_distribution_installed_upgraded_removed_for_a_plugin_that_reads_its_version(
    world: World,
) -> None:
    _metadata_reader(world)
    prime(world)
    world.add_dist_info(f"dep-{world.tag}", "1.0", {})
    assert warm_equals_fresh(world)["keys"] == ["dep10"]
    world.uninstall(f"dep-{world.tag}", "1.0")
    world.add_dist_info(f"dep-{world.tag}", "2.0", {})
    assert warm_equals_fresh(world)["keys"] == ["dep20"]
    # the version edited in place (an editable install's metadata rewritten)
    metadata = world.site / f"dep_{world.tag}-2.0.dist-info" / "METADATA"
    metadata.write_text(metadata.read_text().replace("Version: 2.0", "Version: 2.1"))
    assert warm_equals_fresh(world)["keys"] == ["dep21"]
    world.uninstall(f"dep-{world.tag}", "2.0")
    assert warm_equals_fresh(world)["keys"] == ["nodep"]


def test_23_a_plugin_importing_the_modules_its_package_lists(world: World) -> None:
    """``for info in pkgutil.iter_modules(__path__)`` (or ``walk_packages``): a module added
    to, or removed from, the package is one import more or less."""
    pkg = f"auto_{world.tag}"
    world.write_spec()
    world.write(
        f"{pkg}/__init__.py",
        """
        import importlib
        import pkgutil
        from openhcs_registry import hookimpl

        @hookimpl
        def provide_things():
            found = []
            for info in pkgutil.iter_modules(__path__):
                found += importlib.import_module(f"{__name__}.{info.name}").CLASSES
            return found
        """,
    )
    world.add_dist_info(f"{pkg}-plugin", "1.0", {pkg: pkg})

    def part(key: str) -> str:
        return (
            f"from {world.spec} import Thing\nclass P(Thing):\n    kind = {key!r}\nCLASSES = [P]\n"
        )

    world.write(f"{pkg}/a.py", part("a"))
    prime(world)
    assert observe(world)["keys"] == ["a"]
    world.write(f"{pkg}/b.py", part("b"))
    assert warm_equals_fresh(world)["keys"] == ["a", "b"]
    (world.site / pkg / "a.py").unlink()
    assert warm_equals_fresh(world)["keys"] == ["b"]


def _data_plugin(world: World, pkg: str, body: str, spec: bool = True) -> None:
    """Plugin package *pkg* with one class per key ``keys()`` gives (read when the module
    is imported and when its hook is called): *body* defines ``keys()`` (``HERE`` is the
    package's folder)."""
    if spec:
        world.write_spec()
    head = f"""
        import glob
        import importlib.resources
        import os
        import pathlib
        from openhcs_registry import hookimpl
        from {world.spec} import Thing

        HERE = os.path.dirname(os.path.abspath(__file__))
        """
    # the classes are made when the module is imported (a value's module:qualname must
    # resolve in a new process), and the hook reads the keys again when it is called
    hook = """
        for k in keys():
            globals()[f"K_{k}"] = type(f"K_{k}", (Thing,), {"kind": k})

        @hookimpl
        def provide_things():
            return [globals()[f"K_{k}"] for k in keys()]
        """
    world.write(f"{pkg}/__init__.py", "".join(map(textwrap.dedent, (head, body, hook))))
    world.add_dist_info(f"{pkg}-plugin", "1.0", {pkg: pkg})


@pytest.mark.parametrize("how", ["open", "pathlib", "resources", "os_open"])
def test_24_a_plugin_whose_keys_come_from_a_data_file(world: World, how: str) -> None:
    """A plugin reading its keys from a file it ships (``open``, ``Path.read_text``,
    ``importlib.resources``, ``os.open`` then ``os.read``) imports nothing that changes
    when the file is edited: the file it opened is an input of its record."""
    pkg = f"data_{world.tag}"
    read = {
        "open": "open(os.path.join(HERE, 'keys.txt')).read()",
        "pathlib": "pathlib.Path(HERE, 'keys.txt').read_text()",
        "resources": "importlib.resources.files(__name__).joinpath('keys.txt').read_text()",
        "os_open": "_read_fd(os.open(os.path.join(HERE, 'keys.txt'), os.O_RDONLY))",
    }[how]
    reader = "def _read_fd(fd):\n    try:\n        return os.read(fd, 1 << 16).decode()\n"
    reader += "    finally:\n        os.close(fd)\n"
    _data_plugin(world, pkg, reader + f"def keys():\n    return {read}.split()\n")
    world.write(f"{pkg}/keys.txt", "alpha beta\n")
    prime(world)
    assert observe(world)["keys"] == ["alpha", "beta"]
    world.write(f"{pkg}/keys.txt", "alpha gamma\n")
    assert warm_equals_fresh(world)["keys"] == ["alpha", "gamma"]
    assert observe(world)["source"] == "cache"  # and the document written then is reused


@pytest.mark.parametrize("how", ["glob", "listdir", "iterdir", "walk"])
def test_24_a_plugin_whose_keys_are_the_files_of_a_folder(world: World, how: str) -> None:
    """A plugin that lists a folder of its own (``glob``, ``os.listdir``,
    ``Path.iterdir``, ``os.walk``): a file added there, or removed, is one key more or
    less; the folder is an input of its record."""
    pkg = f"fmt_{world.tag}"
    listing = {
        "glob": "[os.path.basename(p) for p in glob.glob(os.path.join(HERE, 'formats', '*.fmt'))]",
        "listdir": "os.listdir(os.path.join(HERE, 'formats'))",
        "iterdir": "[p.name for p in pathlib.Path(HERE, 'formats').iterdir()]",
        "walk": "next(os.walk(os.path.join(HERE, 'formats')))[2]",
    }[how]
    _data_plugin(
        world,
        pkg,
        f"def keys():\n    return sorted(n[:-4] for n in {listing} if n.endswith('.fmt'))\n",
    )
    world.write(f"{pkg}/formats/tif.fmt", "")
    prime(world)
    assert observe(world)["keys"] == ["tif"]
    world.write(f"{pkg}/formats/zarr.fmt", "")
    assert warm_equals_fresh(world)["keys"] == ["tif", "zarr"]
    (world.site / pkg / "formats" / "tif.fmt").unlink()
    assert warm_equals_fresh(world)["keys"] == ["zarr"]


@pytest.mark.parametrize("how", ["exists", "is_file"])
def test_24_a_plugin_reading_an_optional_file_only_if_it_exists(world: World, how: str) -> None:
    """``if os.path.exists(config)`` (or ``Path.is_file()``), read it, else a default: the
    file's absence is an input too (its appearance is a change), and a folder tested for
    existence is watched by its name."""
    pkg = f"cfg_{world.tag}"
    test = {
        "exists": "os.path.exists(CFG)",
        "is_file": "pathlib.Path(CFG).is_file()",
    }[how]
    _data_plugin(
        world,
        pkg,
        f"""
        CFG = os.path.join(HERE, "extra.cfg")
        def keys():
            out = [open(CFG).read().strip()] if {test} else ["default"]
            if os.path.isdir(os.path.join(HERE, "gpu")):
                out.append("gpu")
            return out
        """,
    )
    prime(world)
    assert observe(world)["keys"] == ["default"]
    world.write(f"{pkg}/extra.cfg", "custom\n")
    assert warm_equals_fresh(world)["keys"] == ["custom"]
    (world.site / pkg / "gpu").mkdir()
    assert warm_equals_fresh(world)["keys"] == ["custom", "gpu"]
    (world.site / pkg / "extra.cfg").unlink()
    (world.site / pkg / "gpu").rmdir()
    assert warm_equals_fresh(world)["keys"] == ["default"]
    assert observe(world)["source"] == "cache"


def test_25_a_plugin_choosing_its_keys_by_environment_variables(world: World) -> None:
    """``os.environ.get`` at import, ``os.getenv`` and ``in os.environ`` when called: the
    variables a plugin reads are inputs (recorded as digests: the value is not in the
    cache file); the environment copied whole (``dict(os.environ)``, for a subprocess)
    is not, or every start from another folder (``PWD``) would rediscover."""
    pkg = f"env_{world.tag}"
    mode, gpu, token = (f"{name}_{world.tag.upper()}" for name in ("MODE", "GPU", "TOKEN"))
    _data_plugin(
        world,
        pkg,
        f"""
        COPY = dict(os.environ)  # (a walk: watched by no variable)
        MODE = os.environ.get({mode!r}, "plain")
        def keys():
            out = [MODE]
            if {gpu!r} in os.environ:
                out.append("gpu")
            if os.getenv({token!r}):
                out.append("licensed")
            return out
        """,
    )
    prime(world)
    assert observe(world)["keys"] == ["plain"]
    assert warm_equals_fresh(world, **{mode: "fast"})["keys"] == ["fast"]
    assert observe(world, **{mode: "fast"})["source"] == "cache"
    both = {mode: "fast", gpu: ""}
    assert warm_equals_fresh(world, **both)["keys"] == ["fast", "gpu"]
    secret = f"s3cr3t-{world.tag}"
    with_token = {**both, token: secret}
    assert warm_equals_fresh(world, **with_token)["keys"] == ["fast", "gpu", "licensed"]
    assert observe(world, **with_token)["source"] == "cache"
    # a variable no plugin read by name changes nothing (the copy is a walk)
    assert observe(world, **with_token, UNREAD_BY_ANY_PLUGIN="1")["source"] == "cache"
    written = [p.read_bytes() for p in world.cache_dir.rglob("*") if p.is_file()]
    assert written and not any(secret.encode() in data for data in written)
    assert warm_equals_fresh(world)["keys"] == ["plain"]  # all unset again


@pytest.mark.parametrize("change", ["edit", "install", "general", "removal"])
def test_25_a_variable_first_read_after_an_incremental_start_is_recorded(
    world: World, change: str
) -> None:
    """The variables incremental starts record: an edited plugin (the edit's path: the
    other records and the environment section carried), a newly installed one (the
    install's path: its answer extended) or an edited one whose record changed (the
    general path, reusing the other records) reads a variable no row names yet: the
    document that start writes names it; and the variables the reused plugins read stay
    named, also after a removal (the removal's path: the answer less the plugin's)."""
    pkg = f"env_{world.tag}"
    old, new = (f"{name}_{world.tag.upper()}" for name in ("OLD", "NEW"))
    body = "def keys():\n    return [os.environ.get({name!r}, {default!r})]\n"
    _data_plugin(world, pkg, body.format(name=old, default="o"))
    other = f"other_{world.tag}"
    world.install("other-plugin", other, world.plugin_source(("Other", "other")))
    world.write(f"helper_{world.tag}.py", "")
    prime(world)
    expected = ["o", "other"]
    if change == "install":
        _data_plugin(world, f"env2_{world.tag}", body.format(name=new, default="n"), spec=False)
        expected = ["n", "o", "other"]
    elif change == "removal":
        world.uninstall("other-plugin")
        expected = ["o"]
    else:  # the plugin reading OLD is left alone, the other one edited
        helper = f"import helper_{world.tag}\n" if change == "general" else ""
        world.write(
            f"{other}.py",
            f"import os\n{helper}SUFFIX = os.environ.get({new!r}, '')\n"
            + world.plugin_source(("Other", "other")).replace(
                "kind = 'other'", "kind = 'other' + SUFFIX"
            ),
        )
    assert observe(world)["keys"] == expected
    assert observe(world)["source"] == "cache"
    # each variable against the document that start wrote (a start that sees one change
    # calls again the plugins that read it, and keeps the other's row: its reader reused)
    written = {p: p.read_bytes() for p in world.cache_dir.rglob("*") if p.is_file()}
    if change != "removal":
        changed = warm_equals_fresh(world, **{new: "x"})
        assert changed["source"] == "fresh" and changed["keys"] != expected
        for path, data in written.items():
            path.write_bytes(data)
        assert observe(world)["source"] == "cache"
    assert warm_equals_fresh(world, **{old: "y"})["source"] == "fresh"


def test_26_a_plugin_probing_with_find_spec_a_module_another_plugin_imported(
    world: World,
) -> None:
    """``importlib.util.find_spec("dep")`` answers from ``sys.modules`` when another plugin
    imported ``dep`` first, asking no finder: the module is an input of the probing plugin
    all the same (its removal changes that plugin's answer, not only the importer's)."""
    world.write_spec()
    dep = f"dep_{world.tag}"
    world.write(f"{dep}.py", "")
    world.install(
        "aa-importer",
        f"aa_{world.tag}",
        f"try:\n    import {dep}\nexcept ImportError:\n    pass\n"
        + world.plugin_source(("A", "a")),
    )
    world.install(
        "zz-prober",
        f"zz_{world.tag}",
        "import importlib.util\n"
        f"KEY = 'fast' if importlib.util.find_spec({dep!r}) else 'plain'\n"
        + world.plugin_source(("Z", "z")).replace("kind = 'z'", "kind = KEY"),
    )
    prime(world)
    assert observe(world)["keys"] == ["a", "fast"]
    (world.site / f"{dep}.py").unlink()
    assert warm_equals_fresh(world)["keys"] == ["a", "plain"]


def test_24_a_folder_listed_changes_while_discovery_runs(world: World) -> None:
    """The folder a plugin listed changes before the document is written (the plugin
    itself adds a file after reading, as another process could): the folder's row must
    describe what the plugin read, not the folder at the write, or the next start sees
    the new listing, finds it equal to the row's, and keeps the old keys."""
    pkg = f"race_{world.tag}"
    _data_plugin(
        world,
        pkg,
        """
        FORMATS = os.path.join(HERE, "formats")
        SEEN = []
        def keys():  # (read once, when the module is imported)
            if not SEEN:
                SEEN.append(sorted(n[:-4] for n in os.listdir(FORMATS) if n.endswith(".fmt")))
                new = os.path.join(FORMATS, "zarr.fmt")
                if "add-once" in os.listdir(HERE) and not os.path.lexists(new):
                    open(new, "w").close()  # after the read: the document must not hide it
            return SEEN[0]
        """,
    )
    world.write(f"{pkg}/formats/tif.fmt", "")
    prime(world)
    world.write(f"{pkg}/add-once", "")
    assert observe(world)["keys"] == ["tif"]  # read before the plugin added zarr
    assert warm_equals_fresh(world)["keys"] == ["tif", "zarr"]
    assert observe(world)["source"] == "cache"


def test_27_a_subpackage_folder_passed_over_gains_init(world: World, tmp_path: Path) -> None:
    """Discovery package ``dp`` spans two folders (a namespace package); ``dp.sub`` is a
    folder without ``__init__.py`` in the first, a regular package in the second, which
    wins.  The first one's ``dp/sub`` gaining ``__init__.py`` takes the name over, and
    changes no listing of ``dp``'s folders: the folder passed over is watched for it."""
    pkg = f"dp_{world.tag}"
    world.write_spec(packages=(pkg,))
    early = tmp_path / "early"
    (early / pkg / "sub").mkdir(parents=True)
    (early / pkg / "sub" / "s.py").write_text(
        f"from {world.spec} import Thing\nclass Early(Thing):\n    kind = 'early'\n"
    )
    world.write(f"{pkg}/sub/__init__.py", "")
    world.write(
        f"{pkg}/sub/s.py",
        f"from {world.spec} import Thing\nclass Late(Thing):\n    kind = 'late'\n",
    )
    pythonpath = os.pathsep.join([str(early), str(world.site)])
    prime(world, PYTHONPATH=pythonpath)
    assert observe(world, PYTHONPATH=pythonpath)["keys"] == ["late"]
    (early / pkg / "sub" / "__init__.py").write_text("")
    assert warm_equals_fresh(world, PYTHONPATH=pythonpath)["keys"] == ["early"]


def test_27_a_namespace_portion_a_plugin_imported_from_gains_init(
    world: World, tmp_path: Path
) -> None:
    """A plugin imports ``ns.sub.mod``; ``ns.sub`` is a namespace package whose first
    portion (``early/ns/sub``) lacks ``mod``, found in the second.  The first portion
    gaining ``__init__.py`` makes ``ns.sub`` a regular package there, without ``mod``:
    the plugin's import fails.  A name looked for in the portion is not what changed, its
    ``__init__`` is."""
    world.write_spec()
    ns = f"ns_{world.tag}"
    early = tmp_path / "early"
    (early / ns / "sub").mkdir(parents=True)
    world.write(f"{ns}/sub/mod.py", "KIND = 'mod'\n")
    world.install(
        "nsuser",
        f"nsuser_{world.tag}",
        f"try:\n    from {ns}.sub.mod import KIND\nexcept ImportError:\n    KIND = 'none'\n"
        + world.plugin_source(("N", "n")).replace("kind = 'n'", "kind = KIND"),
    )
    pythonpath = os.pathsep.join([str(early), str(world.site)])
    prime(world, PYTHONPATH=pythonpath)
    assert observe(world, PYTHONPATH=pythonpath)["keys"] == ["mod"]
    (early / ns / "sub" / "__init__.py").write_text("")
    assert warm_equals_fresh(world, PYTHONPATH=pythonpath)["keys"] == ["none"]


def test_28_a_plugin_reading_a_relative_path(world: World, tmp_path: Path) -> None:
    """A plugin opening ``keys.txt`` (relative) reads it in the working directory, whichever
    that is at a start: a start in another folder may read another file, so the working
    directory is an input (recorded as a variable read is)."""
    pkg = f"rel_{world.tag}"
    _data_plugin(
        world,
        pkg,
        """
        def keys():
            try:
                return open("keys.txt").read().split()
            except FileNotFoundError:
                return ["none"]
        """,
    )
    here, there = tmp_path / "here", tmp_path / "there"
    for folder, text in ((here, "alpha\n"), (there, "beta\n")):
        folder.mkdir()
        (folder / "keys.txt").write_text(text)
    prime(world, cwd=here)
    assert observe(world, cwd=here)["keys"] == ["alpha"]
    assert warm_equals_fresh(world, cwd=there)["keys"] == ["beta"]
    assert warm_equals_fresh(world, cwd=here)["keys"] == ["alpha"]
    (here / "keys.txt").write_text("gamma\n")  # and the file read there is an input
    assert warm_equals_fresh(world, cwd=here)["keys"] == ["gamma"]
    assert observe(world, cwd=here)["source"] == "cache"
