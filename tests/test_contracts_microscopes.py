"""The microscope contract (:mod:`openhcs_hookspecs.microscopes`): a handler written only against it
joins ``MICROSCOPE_HANDLERS`` from an installed distribution, cold and warm, its metadata handler
fills the secondary ``METADATA_HANDLERS``, and a GPU one is left out in no-GPU mode.  The
built-in handlers: tests/test_plugins_microscopes.py.
"""

from __future__ import annotations

from support import World, assert_joined, join_builtin_registry

SOURCE = """
from openhcs_registry import hookimpl
from openhcs_hookspecs.microscopes import MetadataHandler, MicroscopeHandler


class AcmeMetadata(MetadataHandler):
    def find_metadata_file(self, plate_path):
        return None

    def parse_metadata(self, text):
        return {"text": text}


class AcmeHandler(MicroscopeHandler):
    _microscope_type = "acme"
    metadata_handler = __name__ + ":AcmeMetadata"

    def parse_filename(self, filename):
        return None

    def construct_filename(self, **components):
        return "acme.tif"


class AcmeGpuHandler(AcmeHandler):
    _microscope_type = "acme_gpu"
    requires_gpu = True


@hookimpl
def provide_microscope_handlers():
    return [AcmeHandler, AcmeGpuHandler]
"""


def test_a_third_party_handler_and_its_metadata_handler_join_the_registries(world: World) -> None:
    module = f"acme_scope_{world.tag}"
    got = join_builtin_registry(world, "MICROSCOPE_HANDLERS", module, SOURCE)
    assert_joined(
        got, module, ("AcmeHandler", "AcmeGpuHandler"), builtin={"imagexpress", "opera_phenix"}
    )
    for seen in (got["cold"], got["warm"]):  # the secondary registry, filled from the handlers
        assert seen["secondary"] == {
            "metadata_handler": {
                "acme": f"{module}:AcmeMetadata",
                "acme_gpu": f"{module}:AcmeMetadata",
            }
        }
