"""Synthetic plugin sets: N real distributions with entry points in one site folder.

Each plugin ``openhcs-bench-pNNNN`` is a package ``openhcs_bench_pNNNN`` whose module
``plugin`` defines one :class:`BenchPlugin` subclass and a hookimpl returning it, plus a
``.dist-info`` folder with ``METADATA`` and ``entry_points.txt`` (group ``openhcs_bench``), so
``importlib.metadata`` sees an installed distribution (no ``RECORD``: nothing uninstalls it).
The host modules from ``benchmarks/host/`` are copied next to them.  The folder is used as
``PYTHONPATH`` by the whole-process runs; its contents are compiled to bytecode once.
"""

from __future__ import annotations

import compileall
import os
import shutil
from pathlib import Path

HOST_DIR = Path(__file__).resolve().parent / "host"
HOST_MODULES = ("openhcs_bench_api.py", "openhcs_bench_contracts.py")
GROUP = "openhcs_bench"

_PLUGIN = '''\
"""Synthetic benchmark plugin {i:04d}."""

from openhcs_bench_api import BenchPlugin, hookimpl


class Plugin{i:04d}(BenchPlugin):
    key = "plugin{i:04d}"


@hookimpl
def provide_bench_plugins():
    return [Plugin{i:04d}]
'''

_METADATA = """\
Metadata-Version: 2.1
Name: openhcs-bench-p{i:04d}
Version: 1.0
Summary: synthetic openhcs-registry benchmark plugin {i:04d}
"""

_ENTRY_POINTS = """\
[{group}]
plugin{i:04d} = openhcs_bench_p{i:04d}.plugin
"""


def plugin_key(i: int) -> str:
    return f"plugin{i:04d}"


def plugin_module(i: int) -> str:
    return f"openhcs_bench_p{i:04d}.plugin"


def build_site(root: Path, count: int, compile_bytecode: bool = True) -> Path:
    """Create (or reuse) ``root/site-<count>`` holding *count* plugin distributions.

    A finished site has a ``.complete`` marker; an interrupted one is rebuilt from scratch.
    """
    site = root / f"site-{count}"
    marker = site / ".complete"
    if marker.exists() and all(
        (site / name).exists() and (site / name).read_bytes() == (HOST_DIR / name).read_bytes()
        for name in HOST_MODULES
    ):
        return site
    if site.exists():
        shutil.rmtree(site)
    site.mkdir(parents=True)
    for name in HOST_MODULES:
        shutil.copyfile(HOST_DIR / name, site / name)
    for i in range(count):
        package = site / f"openhcs_bench_p{i:04d}"
        package.mkdir()
        (package / "__init__.py").write_text("")
        (package / "plugin.py").write_text(_PLUGIN.format(i=i))
        info = site / f"openhcs_bench_p{i:04d}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(_METADATA.format(i=i))
        (info / "entry_points.txt").write_text(_ENTRY_POINTS.format(group=GROUP, i=i))
    if compile_bytecode:
        compile_tree(site)
    # the marker lives inside the site: create it last, then never touch the folder again
    marker.write_text(f"{count}\n")
    return site


#: The plugin whose distribution the incremental cases upgrade (and downgrade) in turn.
UPGRADED = 1


def set_version(site: Path, index: int, old: str, new: str) -> None:
    """Upgrade (or downgrade) synthetic distribution *index* from *old* to *new* as pip
    does: the new metadata folder written, the old one removed, the package's module
    replaced by a new file (new code: a line that says the version)."""
    old_info = site / f"openhcs_bench_p{index:04d}-{old}.dist-info"
    new_info = site / f"openhcs_bench_p{index:04d}-{new}.dist-info"
    new_info.mkdir()
    (new_info / "METADATA").write_text(
        _METADATA.format(i=index).replace("Version: 1.0", f"Version: {new}")
    )
    (new_info / "entry_points.txt").write_text(_ENTRY_POINTS.format(group=GROUP, i=index))
    shutil.rmtree(old_info)
    module = site / f"openhcs_bench_p{index:04d}" / "plugin.py"
    fresh = module.with_name("plugin.py.new")
    fresh.write_text(_PLUGIN.format(i=index) + f"# version {new}\n")
    os.replace(fresh, module)


def compile_tree(path: Path) -> None:
    """Write bytecode for every module under *path* (quietly, in place)."""
    compileall.compile_dir(str(path), quiet=1, workers=1)


def site_mtime_ns(site: Path) -> int:
    return os.stat(site).st_mtime_ns
