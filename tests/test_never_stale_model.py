"""Model-based differential test: random world changes, and warm == fresh after each one.

Hypothesis stateful testing drives :class:`never_stale_world.ModelWorld` (a real temporary
virtualenv with a test registry; see that module for the world and the operations): every
step applies one operation — a real ``pip install``/``uninstall``/upgrade of a wheel written
by the test, an editable install, a ``.pth`` file, discovery modules added, removed, edited
and renamed, same-size edits, mtimes put back, namespace/regular package toggles,
``PYTHONPATH`` reorders, cwd changes, environment switches, an optional dependency appearing,
plugin import failures appearing and disappearing, data files that plugins read, list or
look for at import time rewritten, added and removed — and then a warm listing and a fresh
discovery (``OPENHCS_DISABLE_REGISTRY_CACHE=1``) in new processes of the venv's interpreter
must agree on keys, the ``module:qualname`` of every resolved value, the secondary registry,
failures and skipped plugins.  A failure is shrunk by hypothesis to a short sequence of
``state.step(op=(...))`` calls.

The warm start after a change exercises the engine's rediscovery (per plugin, once it is
incremental: issue 12), the warm start after it the document that rediscovery wrote (the
``nothing`` operation), so incremental == full is checked by the same comparison.  And a
change costs one rediscovery: after a warm start that was not served from the cache, one
more must be (``ModelWorld(settle=True)``; a document describing the world otherwise than
it was read would make every next start discover again, or hide a change).

CI runs a bounded number of steps (``NEVER_STALE_EXAMPLES`` x ``NEVER_STALE_STEPS``, default
5 x 14, derandomized, about a minute on 2 cores); tools/never_stale_campaign.py runs long
campaigns (docs/reliability.md).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform == "win32", reason="the model's venv layout is POSIX"),
]

hypothesis = pytest.importorskip("hypothesis")
pytest.importorskip("pip")  # the model's venv installs wheels with this interpreter's pip
from hypothesis import HealthCheck, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule  # noqa: E402
from never_stale_world import OPS, ModelWorld, Op, replay  # noqa: E402

EXAMPLES = int(os.environ.get("NEVER_STALE_EXAMPLES", "5"))
STEPS = int(os.environ.get("NEVER_STALE_STEPS", "14"))

#: one strategy per operation: the tuple (name, int, ...) the world understands
OPERATION = st.one_of(
    *(
        st.tuples(st.just(name), *(st.integers(0, bound - 1) for bound in bounds))
        for name, (_weight, bounds) in OPS.items()
    )
)

#: counted over the whole session, so the test can show it was not vacuous
TOTALS = {"checks": 0, "cache": 0, "operations": 0}


class NeverStale(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="never-stale-model-"))
        self.world = ModelWorld(self.tmp / "world", settle=True)
        self._check()

    def _check(self) -> None:
        hits = self.world.cache_hits
        diff = self.world.check()
        TOTALS["checks"] += 1
        TOTALS["cache"] += self.world.cache_hits - hits
        assert diff is None, (
            f"warm listing != fresh discovery after {self.world.ops}\n"
            f"state: {self.world.describe()}\ndifferences (warm, fresh): {diff}"
        )

    @rule(op=OPERATION)
    def step(self, op: Op) -> None:
        self.world.apply(op)
        TOTALS["operations"] += 1
        self._check()

    @invariant()
    def cache_folder_is_private(self) -> None:
        if self.world.cache.exists():
            assert self.world.cache.stat().st_mode & 0o077 == 0

    def teardown(self) -> None:
        self.world.close()
        import shutil

        shutil.rmtree(self.tmp, ignore_errors=True)


NeverStale.TestCase.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=STEPS,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
TestNeverStale = NeverStale.TestCase


def test_some_warm_starts_were_served_from_the_cache() -> None:
    """Not vacuous: the comparisons above included warm starts that read a document.

    Runs after TestNeverStale (file order); counts are reported, only "some" is asserted.
    """
    if TOTALS["checks"] == 0:
        pytest.skip("the state machine did not run in this session")
    print(
        f"\nnever-stale model: {TOTALS['operations']} operations, {TOTALS['checks']} "
        f"comparisons, {TOTALS['cache']} warm starts served from the cache"
    )
    assert TOTALS["cache"] > 0


#: shrunk reproducers the model found, kept as regression tests (each failed before its fix);
#: their integers mean what never_stale_world's operations make of them today: whoever
#: changes how a variant is decoded re-checks that these still build the same world
PINNED: dict[str, list[Op]] = {
    # a discovery module defining a class, then raising (ImportError / SystemExit): fresh
    # discovery listed the orphan class noted at import time, the cache (rightly) did not
    "class_of_a_discovery_module_that_failed_to_import": [("disc_write", 0, 1, 883)],
    "same_in_the_launch_folder": [("cwd_file", 0, 2, 883)],
    "same_with_import_error": [("disc_write", 0, 1, 881)],
    # a plain folder inside the discovery package gains __init__.py and becomes a subpackage
    # the scan imports: only that folder's mtime moved, and it was not watched
    "plain_subfolder_becomes_a_subpackage": [("disc_write", 0, 4, 64), ("sub_init_toggle", 0)],
    # a requirement (requires_modules) found in the launch folder, then removed: a found
    # requirement was not recorded, only a missing one (campaigns: seed 400 world 8, seed 300
    # worlds 18 and 22)
    "requirement_removed_from_the_launch_folder": [
        ("opt_toggle", 2),
        ("helper_write", 2, 646),
        ("opt_toggle", 2),
    ],
    "requirement_of_an_entry_point_plugin_removed": [
        ("opt_toggle", 2),
        ("pip_install", 0, 668),
        ("cwd_file", 0, 0, 320),
    ],
    # the discovery package found in the launch folder, then a start from another launch
    # folder holding a package of the same name: only the set of names was compared
    # (campaign: seed 400 world 14)
    "same_names_from_another_launch_folder": [
        ("cwd_file", 1, 2, 72),
        ("cwd_file", 0, 2, 681),
        ("launch", 1),
    ],
    # a plain subfolder of a discovery package becomes a subpackage, then gains a module:
    # the subpackage's own folder was not watched by the listing (merged engine, seed 800)
    "module_added_to_a_new_subpackage": [("sub_init_toggle", 0), ("disc_write", 0, 4, 18)],
    # the winning regular package of the discovery package loses __init__.py, so a later
    # sys.path entry's package wins: a module record kept the old file, because the parent
    # package (imported by the listing first) was not among the module's inputs (seed 800)
    "earlier_namespace_portion_becomes_a_regular_package": [
        ("disc_write", 0, 1, 789),
        ("disc_write", 1, 1, 582),
        ("init_toggle", 1),
        ("init_toggle", 0),
    ],
    "reordered_namespace_portion_becomes_a_regular_package": [
        ("disc_write", 1, 0, 986),
        ("pythonpath", 1),
        ("init_toggle", 0),
    ],
    # the discovery package's __init__ try-imports a helper module of another top-level
    # package that registers a class at import time; after an unrelated plugin's edit the
    # incremental rediscovery reused the package's records without importing it, and lost
    # the class (campaigns on the merged engine, seeds 800/900)
    "import_time_class_of_a_helper_after_another_plugin_changed": [
        ("init_write", 1, 392),
        ("pythonpath", 1),
        ("helper_write", 1, 716),
        ("static_edit", 10, 832),
    ],
    # a namespace discovery package: a module found in the later portion, then a file of
    # that name added to the earlier portion (which now wins): the earlier folder was not
    # recorded as searched for that name (campaign seed 1000)
    "module_added_to_an_earlier_namespace_portion": [
        ("init_toggle", 0),
        ("disc_write", 1, 3, 175),
        ("disc_write", 0, 3, 82),
    ],
    # a requirement (requires_modules) imported already by another plugin is answered by
    # find_spec from sys.modules, unseen by the recorder: its removal was not a change of
    # the plugin requiring it (campaign seed 1100)
    "requirement_imported_by_another_plugin_removed": [
        ("pip_install", 1, 401),
        ("opt_toggle", 0),
        ("init_toggle", 0),
        ("rewrite_keep_mtime", 62, 884),
        ("disc_write", 0, 0, 759),
        ("opt_toggle", 0),
    ],
    # two discovery modules import a helper that registers classes at import time: the
    # second one's `import` was answered from sys.modules (the first loaded the helper), so
    # the recorder never saw it; the second was reused without importing the helper once
    # the first changed, and the helper's class was lost (campaign seed 1300, not shrunk
    # further within its time budget)
    "helper_imported_from_sys_modules_by_a_second_plugin": [
        ("pythonpath", 1),
        ("disc_rename", 1, 2, 1),
        ("link_toggle",),
        ("helper_write", 0, 660),
        ("pkg_move", 0),
        ("nothing",),
        ("static_edit", 15, 942),
        ("same_size_edit", 29, 0),
        ("opt_toggle", 0),
        ("link_target_edit", 72),
        ("disc_rename", 0, 3, 2),
        ("disc_rename", 0, 4, 2),
        ("link_target_edit", 401),
    ],
    # the same class, shorter: an installed plugin and a discovery module both import the
    # helper; the helper is rewritten, and the plugin whose import sys.modules answered kept
    # its old record (campaign seed 1300, world 9)
    "helper_rewritten_after_an_install_imports_it_too": [
        ("helper_write", 0, 1001),
        ("pip_install", 2, 920),
        ("helper_write", 0, 258),
    ],
    # the discovery package in two launch folders; started from the other one, which lacks
    # an optional dependency the first held: the set of names changed, so the document was
    # only stale (not invalid) and the incremental rediscovery reused the records of the
    # first folder's package (campaign seed 1400, world 7)
    "same_package_in_another_launch_folder_with_fewer_names": [
        ("pip_install", 0, 213),
        ("cwd_file", 0, 0, 334),
        ("cwd_file", 0, 2, 159),
        ("cwd_file", 1, 2, 328),
        ("cwd", 1),
    ],
    # the helper chain: a plugin imports chm (which imports chi), then chs, whose body
    # imports chi from sys.modules; chs's record lacked chi, so the plugins importing chs
    # alone were reused with their old keys after chi changed (found by a unit test while
    # the recorder was reworked; the model had no such shape before CHAIN_FIRST)
    "helper_of_a_helper_imported_first_by_the_importer": [("chain_edit", 5)],
    # a plugin try-imports the optional dependency in its hook (variant 21: then offers a
    # key); a flat-layout editable install of it adds only a ``.pth`` and a finder module to
    # site-packages, no module of that name, and ``sys.path`` stays as it was: the recorded
    # absence held, and the plugin's record was reused without the key (found by a
    # stranger's check, 2026-12-07); then the finder removed, and rewritten in place
    "editable_finder_provides_an_optional_dependency": [("pip_install", 0, 21), ("finder", 0)],
    "editable_finder_removed": [("finder", 0), ("pip_install", 0, 21), ("finder", 0)],
    "editable_finder_module_rewritten": [("pip_install", 0, 21), ("finder", 0), ("finder", 1)],
    # plugins that read installed metadata, not modules (importlib.metadata): GATHERING
    # returns the classes its ``_sub`` group declares, VERSIONED's key ends in the version
    # of ``optdep``; an install, upgrade or removal of those distributions left their
    # records reused (a stranger's check, 2026-12-07, then these operations)
    "distribution_declaring_in_a_gathering_plugins_group": [
        ("pip_sub", 0),
        ("pip_sub", 0),
        ("pip_sub", 1),
    ],
    "distribution_whose_version_a_plugin_reads": [
        ("pip_optdep",),
        ("pip_optdep",),
        ("pip_optdep",),
    ],
    # a plugin importing the modules its package lists (pkgutil.iter_modules): one added,
    # then the first removed (docs/cache.md named it a limit until the listing was watched)
    "module_added_to_a_package_a_plugin_lists": [("listed", 1, 0), ("listed", 0, 3)],
    # plugins reading data files at import time, no module changed (DATA_PLUGINS): a file of
    # the package read by importlib.resources, rewritten in place with other keys
    "data_file_of_a_plugin_package_rewritten": [("data_file", 1)],
    # the same file removed (a failed open: the fallback key), then written again
    "data_file_of_a_plugin_package_removed_then_written": [("data_file", 0), ("data_file", 2)],
    # a file added to a folder of the package a plugin lists with glob.glob (os.scandir)
    "data_file_added_to_a_folder_a_plugin_globs": [("data_listed", 1, 0)],
    # the same with os.listdir, then the first file removed
    "data_file_added_to_a_folder_a_plugin_lists": [("data_listed", 1, 1), ("data_listed", 0, 1)],
    # a config file outside any package, looked for with os.path.exists: created, removed
    "config_file_a_plugin_checks_for_created_then_removed": [
        ("config_toggle", 1),
        ("config_toggle", 0),
    ],
    # the optional dependency appears in site-packages, then goes: OPT_PROBER's
    # find_spec was answered from sys.modules (OPT_IMPORTER imported it first)
    "optional_module_probed_with_find_spec_after_another_plugin_imported_it": [
        ("opt_toggle", 3),
        ("opt_toggle", 3),
    ],
    # rf reads rf.cfg by a relative path: written in cwd1, then starts from cwd1 and back
    # in cwd0 (each start reads the file of its own folder, or none)
    "file_read_by_a_relative_path_in_another_working_directory": [
        ("relative_toggle", 1, 0),
        ("cwd", 1),
        ("cwd", 0),
    ],
    # a variable two plugins read through a helper (the second from sys.modules) set,
    # changed and unset, and another one plugin reads itself toggled: the plugins that
    # read each are called again, the others' records reused (a guard of per-record
    # variables, cache format 15: before, any change was a full rediscovery; fails with
    # the helper's variable not passed on from sys.modules)
    "variables_read_through_a_shared_helper_and_directly": [
        ("env_flavour", 1),
        ("env_flavour", 2),
        ("env_own",),
        ("env_flavour", 0),
        ("env_own",),
    ],
    # sub/s.py in both PYTHONPATH folders, the first package folder made a namespace
    # portion, the second's sub/ a regular package (it wins), then the first's sub/ gains
    # __init__.py and takes dpk.sub over: dpk.sub.s's record depends on the folder passed
    # over (found by the settle sample, seed 901; shrunk from 38 operations)
    "subpackage_folder_passed_over_gains_init": [
        ("disc_write", 0, 4, 406),
        ("init_toggle", 0),
        ("disc_write", 1, 4, 544),
        ("sub_init_toggle", 1),
        ("sub_init_toggle", 0),
    ],
}


@pytest.mark.parametrize("ops", list(PINNED.values()), ids=list(PINNED))
def test_pinned_reproducer(ops: list[Op], tmp_path: Path) -> None:
    # one more check after an operation that changes nothing: the warm start is then
    # served from the document the previous one wrote
    assert replay(tmp_path / "world", [*ops, ("unrelated", 1)], settle=True) is None


@pytest.mark.xfail(
    strict=True,
    reason="known limit: the document records the source file, but after a same-size edit "
    "with the mtime put back Python ran the old bytecode; deleting __pycache__ then changes "
    "what a fresh process imports and nothing the document records",
)
def test_same_size_edit_then_bytecode_deleted(tmp_path: Path) -> None:
    ops: list[Op] = [("static_same_size_edit", 3), ("drop_bytecode",)]
    assert replay(tmp_path / "world", ops) is None


#: Changes after which a start once wrote a document that the next start found stale again
#: (a second rediscovery, for a change already seen; docs/reliability.md, "settling").
SETTLING = {
    # a plugin listing its package with pkgutil tests the package folder (a names row on
    # site-packages), the metadata-reading plugins list site-packages whole: the row
    # they shared kept the reused record's stat, older than the fresh records' listing
    "optional_dependency_installed": [("opt_toggle", 3)],
    # pkgutil lists every subfolder of a package, __pycache__ too, which the first import
    # of the module the operation added writes into, after the listing (a folder's listing
    # is the one taken when it was read, so that folder would be a change: not an input)
    "module_added_to_a_listed_package": [("listed", 2, 0)],
    # the only plugin listing site-packages whole broken (st3 fails at import): the
    # optional dependency's wheel installed changes site-packages, where lp looks for its
    # own name only; its record reused, the row kept the old stat and every later start
    # found the folder changed (campaign 13800, world 21; shrunk from 22 operations)
    "folder_only_looked_in_by_name_changed": [("static_edit", 3, 56), ("pip_optdep",)],
    # what plugins offer changes, what they read does not (the answer amended, or, for a
    # key another plugin offers, the general path): a key of its own, a second class with
    # a partner, the class renamed, and back
    "what_plugins_offer_changed": [
        ("static_offers", 3, 1),
        ("static_offers", 3, 2),
        ("static_offers", 7, 3),
        ("static_offers", 3, 3),
        ("static_offers", 7, 0),
        ("static_offers", 3, 0),
    ],
    # what a plugin reads changes, what it offers does not (the answer replaced): an import
    # of rows other plugins read, of the standard library, of nothing there (it fails), and
    # back; with its offers changed too; of a module written in a PYTHONPATH folder
    "what_plugins_read_changed": [
        ("static_reads", 3, 1),
        ("static_reads", 3, 2),
        ("static_reads", 9, 3),
        ("static_offers", 9, 1),
        ("static_reads", 3, 0),
        ("static_reads", 9, 0),
        ("static_reads", 5, 4),
        ("static_reads", 11, 4),
        ("static_reads", 5, 0),
    ],
}


@pytest.mark.parametrize("ops", list(SETTLING.values()), ids=list(SETTLING))
def test_one_change_costs_one_rediscovery(ops: list[Op], tmp_path: Path) -> None:
    world = ModelWorld(tmp_path / "world", settle=True)
    try:
        assert world.check() is None
        for op in ops:
            world.apply(op)
            assert world.check() is None, world.ops
    finally:
        world.close()
