"""The library contract (:mod:`openhcs_hookspecs.libraries`): a library written only against it
joins ``LIBRARY_REGISTRIES`` from an installed distribution, cold and warm, and a GPU one is left
out in no-GPU mode.  The built-in libraries: tests/test_plugins_libraries.py.
"""

from __future__ import annotations

from support import World, assert_joined, join_builtin_registry

SOURCE = """
from openhcs_registry import hookimpl
from openhcs_hookspecs.libraries import LibraryRegistry


class AcmeLibrary(LibraryRegistry):
    _registry_name = "acme"

    def functions(self):
        return {"double": lambda values: [2 * v for v in values]}


class AcmeGpuLibrary(AcmeLibrary):
    _registry_name = "acme_gpu"
    library_module = "acme_gpu_toolkit_not_installed"
    requires_gpu = True


@hookimpl
def provide_library_registries():
    return [AcmeLibrary, AcmeGpuLibrary]
"""


def test_a_third_party_library_joins_the_registry(world: World) -> None:
    module = f"acme_library_{world.tag}"
    got = join_builtin_registry(world, "LIBRARY_REGISTRIES", module, SOURCE)
    assert_joined(got, module, ("AcmeLibrary", "AcmeGpuLibrary"), builtin={"openhcs", "skimage"})


def test_availability_is_checked_without_importing_the_library(world: World) -> None:
    from openhcs_hookspecs import LIBRARY_REGISTRIES
    from openhcs_hookspecs.libraries import LibraryRegistry

    world.write(f"acmelib_{world.tag}/__init__.py", "raise SystemExit('imported!')\n")
    with LIBRARY_REGISTRIES.isolated():  # the classes below are noted at import time: undone

        class Here(LibraryRegistry):
            library_module = f"acmelib_{world.tag}"

            def functions(self) -> dict[str, object]:
                return {}

        class Missing(Here):
            library_module = f"no_such_library_{world.tag}"

        class Always(Here):
            library_module = None

        assert Here.is_available() and Always.is_available() and not Missing.is_available()
