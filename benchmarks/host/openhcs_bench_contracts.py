"""The openhcs-registry registry of the synthetic benchmark plugins.

A ``RegistryConfig`` like the OpenHCS ones, reading the ``openhcs_bench`` entry-point group
(so the built-in ``openhcs`` plugins stay out of the comparison).
"""

from __future__ import annotations

from openhcs_bench_api import BenchPlugin, provide_bench_plugins

from openhcs_registry import LazyDiscoveryDict, RegistryConfig

ENTRY_POINT_GROUP = "openhcs_bench"

BENCH_CONFIG = RegistryConfig(
    name="bench_plugins",
    hookspec=provide_bench_plugins,
    base_class=BenchPlugin,
    key_attribute="key",
    entry_point_group=ENTRY_POINT_GROUP,
    description="synthetic benchmark plugins, by key",
)

BENCH_PLUGINS: LazyDiscoveryDict[type[BenchPlugin]] = LazyDiscoveryDict(BENCH_CONFIG)
