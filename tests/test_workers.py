"""Workers start warm: registries and their values go to pool and cluster workers.

Every test defines a registry (its own entry-point group, contract module, discovery package
and secondary registry, tests/support.py), discovers it once in this process (which writes
the cache into the test's private ``OPENHCS_CACHE_DIR``), forgets it (``reset()``), and then
runs tasks in real worker processes: a ``dask.distributed`` ``LocalCluster(processes=True)``,
``multiprocessing`` spawn and forkserver pools and a ``concurrent.futures``
``ProcessPoolExecutor``.  Each worker reports its pid, what it listed and resolved, and
``REGISTRY.source``: it must be ``"cache"`` in every worker (no rediscovery), and the cache
file must be untouched afterwards (same inode, mtime and size: no rewrite).

Values (plugin classes) are passed to tasks as arguments (pickled by reference), and so are
the registries themselves (they pickle by name: issue 11, case 20).
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import sys
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from support import World

pytestmark = pytest.mark.slow

TASKS = """
import importlib
import os


def _ref(value):
    return value.__module__ + ":" + value.__qualname__


def listing(spec):
    \"\"\"What a worker sees: its registry's keys, values, secondary and where they came from.\"\"\"
    module = importlib.import_module(spec)
    registry = module.REGISTRY
    status = registry.cache.info()  # what the worker thinks of the document, for messages
    keys = sorted(registry)
    source = registry.source
    return {{
        "status": [status.get("status"), status.get("reason")],
        "pid": os.getpid(),
        "keys": keys,
        "source": source,
        "refs": {{key: _ref(registry[key]) for key in keys}},
        "parts": {{key: _ref(module.PARTNERS[key]) for key in sorted(module.PARTNERS)}},
    }}


def use_value(value, spec):
    \"\"\"A registry value passed as an argument, then looked up in the worker's registry.\"\"\"
    out = listing(spec)
    registry = importlib.import_module(spec).REGISTRY
    out["value"] = _ref(value)
    out["same_object"] = registry[value.kind] is value
    return out


def use_registry(registry):
    \"\"\"The registry itself passed as an argument (pickled by name).\"\"\"
    keys = sorted(registry)
    return {{"pid": os.getpid(), "name": registry.name, "keys": keys, "source": registry.source}}
"""


def _make_world(world: World) -> dict[str, Any]:
    """Two entry-point plugins (one with a secondary value) and a discovery package module."""
    pkg = f"wdp_{world.tag}"
    world.write_spec(packages=(pkg,))
    world.install(
        "alpha-plugin",
        f"walpha_{world.tag}",
        world.plugin_source(
            ("Alpha", "alpha"),
            extra="""
            class AlphaPartner:
                pass

            Alpha.partner = AlphaPartner
            """,
        ),
    )
    world.install("beta-plugin", f"wbeta_{world.tag}", world.plugin_source(("Beta", "beta")))
    world.write(f"{pkg}/__init__.py", "")
    world.write(
        f"{pkg}/gamma.py",
        f"from {world.spec} import Thing\nclass Gamma(Thing):\n    kind = 'gamma'\n",
    )
    world.write(f"wtasks_{world.tag}.py", TASKS.format())
    return {
        "keys": ["alpha", "beta", "gamma"],
        "refs": {
            "alpha": f"walpha_{world.tag}:Alpha",
            "beta": f"wbeta_{world.tag}:Beta",
            "gamma": f"{pkg}.gamma:Gamma",
        },
        "parts": {"alpha": f"walpha_{world.tag}:AlphaPartner"},
    }


def _stat(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return (st.st_ino, st.st_mtime_ns, st.st_size)


class Primed:
    """A world whose cache was written by this process, then forgotten here."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.expected = _make_world(world)
        registry = world.registry()
        assert sorted(registry) == self.expected["keys"]
        assert registry.source == "fresh"
        registry.reset()  # this process holds nothing now: workers can only read the file
        self.before = _stat(world.cache_file)
        self.tasks = importlib.import_module(f"wtasks_{world.tag}")
        self.spec = world.spec

    def assert_correct(self, results: list[dict[str, Any]], workers: int) -> None:
        """Every result came from a worker process and lists what this process discovered.

        At least *workers* distinct processes where each one is asked (``client.run``); a pool
        may hand every task to the worker that started first, so there at least one.
        """
        assert results
        assert len({r["pid"] for r in results}) >= workers
        for result in results:
            assert result["pid"] != os.getpid()
            assert result["keys"] == self.expected["keys"], result
            assert result["refs"] == self.expected["refs"], result
            assert result["parts"] == self.expected["parts"], result

    def assert_warm(self, results: list[dict[str, Any]], workers: int) -> None:
        """Correct, read from the document (no rediscovery), and the document not rewritten."""
        self.assert_correct(results, workers)
        for result in results:
            assert result["source"] == "cache", result  # no rediscovery in the worker
        self.assert_untouched()

    def assert_untouched(self) -> None:
        assert _stat(self.world.cache_file) == self.before  # no rewrite
        leftovers = [p.name for p in self.world.cache_dir.iterdir() if p.name.endswith(".tmp")]
        assert leftovers == []


def _stop_forkserver() -> None:
    """A forkserver's children inherit *its* environment, fixed when it started (the first
    forkserver pool of a process), not the parent's current one; each test here is a new
    application with its own ``OPENHCS_CACHE_DIR``, so each starts its own forkserver."""
    from multiprocessing import forkserver

    stop = getattr(forkserver._forkserver, "_stop", None)
    if stop is not None:
        stop()


@pytest.fixture
def primed(world: World) -> Iterator[Primed]:
    _stop_forkserver()
    yield Primed(world)
    _stop_forkserver()
    # the registry defined here must not leak into other tests' catalogue listings
    world.registry().reset()


# -- multiprocessing and concurrent.futures ---------------------------------------------------


@pytest.mark.parametrize("method", ["spawn", "forkserver", "fork"])
def test_pool_workers_list_from_the_cache(primed: Primed, method: str) -> None:
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {method} start method here")
    ctx = multiprocessing.get_context(method)
    with ctx.Pool(2) as pool:
        results = pool.map(primed.tasks.listing, [primed.spec] * 4, chunksize=1)
    primed.assert_warm(results, 1)


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_values_passed_to_pool_workers(primed: Primed, method: str) -> None:
    ctx = multiprocessing.get_context(method)
    alpha = importlib.import_module(f"walpha_{primed.world.tag}").Alpha
    with ctx.Pool(2) as pool:
        results = pool.starmap(primed.tasks.use_value, [(alpha, primed.spec)] * 4, chunksize=1)
    primed.assert_warm(results, 1)
    for result in results:
        assert result["value"] == primed.expected["refs"]["alpha"]
        assert result["same_object"] is True


@pytest.mark.parametrize("context", [None, "spawn"])
def test_process_pool_executor(primed: Primed, context: str | None) -> None:
    """The default context (fork on Linux before 3.14) and spawn."""
    mp_context = multiprocessing.get_context(context) if context else None
    alpha = importlib.import_module(f"walpha_{primed.world.tag}").Alpha
    with ProcessPoolExecutor(max_workers=2, mp_context=mp_context) as pool:
        listed = list(pool.map(primed.tasks.listing, [primed.spec] * 4))
        used = list(pool.map(primed.tasks.use_value, [alpha] * 2, [primed.spec] * 2))
    primed.assert_warm(listed + used, 1)
    assert all(r["same_object"] for r in used)


def test_registry_passed_to_spawn_workers(primed: Primed) -> None:
    registry = primed.world.registry()
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        results = pool.map(primed.tasks.use_registry, [registry] * 2, chunksize=1)
    for result in results:
        assert result["name"] == primed.world.name
        assert result["keys"] == primed.expected["keys"]
        assert result["source"] == "cache"
    primed.assert_untouched()


# -- dask.distributed ---------------------------------------------------------------------------


#: found by this file: a dask worker puts its scratch folders (worker-XXXX, dask-scratch-space,
#: scheduler-XXXX: random names) in front of sys.path, and a document is only used under the
#: very same sys.path, so every worker of every cluster rediscovers and rewrites the document.
#: Extra entries that shadow none of the recorded names should not matter (issue 11's
#: "per recorded top-level name, the places that would shadow it"; same class as case 12).
@pytest.fixture
def client(primed: Primed, tmp_path: Path) -> Iterator[Any]:
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        local_directory=str(tmp_path / "dask"),
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=40,
        worker_dashboard_address=None,
    )
    try:
        with distributed.Client(cluster) as client:
            yield client
    finally:
        cluster.close()


def test_dask_cluster_workers_list_what_the_parent_discovered(primed: Primed, client: Any) -> None:
    per_worker = client.run(primed.tasks.listing, primed.spec)
    assert len(per_worker) == 2
    primed.assert_correct(list(per_worker.values()), 2)


def test_dask_cluster_workers_start_warm(primed: Primed, client: Any) -> None:
    per_worker = client.run(primed.tasks.listing, primed.spec)
    primed.assert_warm(list(per_worker.values()), 2)


def test_values_passed_to_dask_tasks(primed: Primed, client: Any) -> None:
    alpha = importlib.import_module(f"walpha_{primed.world.tag}").Alpha
    futures = [
        client.submit(primed.tasks.use_value, alpha, primed.spec, pure=False) for _ in range(6)
    ]
    results = client.gather(futures)
    primed.assert_correct(results, 1)
    for result in results:
        assert result["same_object"] is True
        assert result["value"] == primed.expected["refs"]["alpha"]


def test_registry_passed_to_dask_tasks(primed: Primed, client: Any) -> None:
    registry = primed.world.registry()
    results = client.gather(
        [client.submit(primed.tasks.use_registry, registry, pure=False) for _ in range(2)]
    )
    for result in results:  # correctness; warmth: test_dask_cluster_workers_start_warm
        assert result["name"] == primed.world.name
        assert result["keys"] == primed.expected["keys"]


def test_the_parent_is_warm_too(primed: Primed) -> None:
    """After the workers, this process itself reads the same document (nothing rewrote it)."""
    registry = primed.world.registry()
    assert sorted(registry) == primed.expected["keys"]
    assert registry.source == "cache"
    primed.assert_untouched()
    assert sys.modules[primed.spec].REGISTRY is registry
