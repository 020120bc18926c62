"""The storage contract (:mod:`openhcs_hookspecs.storage`): a backend written only against it joins
``STORAGE_BACKENDS`` from an installed distribution, cold and warm, and a GPU one is left out in
no-GPU mode.  The built-in backends: tests/test_plugins_storage.py.
"""

from __future__ import annotations

from support import World, assert_joined, join_builtin_registry

SOURCE = """
from openhcs_registry import hookimpl
from openhcs_hookspecs.storage import StorageBackend


class AcmeBackend(StorageBackend):
    _backend_type = "acme"

    def __init__(self):
        self.data = {}

    def save(self, data, path):
        self.data[path] = data

    def load(self, path):
        try:
            return self.data[path]
        except KeyError:
            raise FileNotFoundError(path) from None

    def exists(self, path):
        return path in self.data

    def list(self, prefix=""):
        return sorted(p for p in self.data if p.startswith(prefix))

    def delete(self, path):
        self.load(path)
        del self.data[path]


class AcmeGpuBackend(AcmeBackend):
    _backend_type = "acme_gpu"
    requires_gpu = True


@hookimpl
def provide_storage_backends():
    return [AcmeBackend, AcmeGpuBackend]
"""


def test_a_third_party_backend_joins_the_registry(world: World) -> None:
    module = f"acme_storage_{world.tag}"
    got = join_builtin_registry(world, "STORAGE_BACKENDS", module, SOURCE)
    assert_joined(got, module, ("AcmeBackend", "AcmeGpuBackend"), builtin={"disk", "memory"})
