"""The format contract (:mod:`openhcs_hookspecs.formats`): a format written only against it joins
``MICROSCOPE_FORMAT_REGISTRIES`` from an installed distribution, cold and warm, and a GPU one is
left out in no-GPU mode.  The built-in formats: tests/test_plugins_formats.py.
"""

from __future__ import annotations

from support import World, assert_joined, join_builtin_registry

SOURCE = """
from openhcs_registry import hookimpl
from openhcs_hookspecs.formats import MicroscopeFormatRegistry


class AcmeFormat(MicroscopeFormatRegistry):
    FORMAT_NAME = "acme"

    def matches(self, text):
        return text.startswith("ACME")

    def read(self, text):
        return {"format": "acme"}


class AcmeGpuFormat(AcmeFormat):
    FORMAT_NAME = "acme_gpu"
    requires_gpu = True


@hookimpl
def provide_microscope_formats():
    return [AcmeFormat, AcmeGpuFormat]
"""


def test_a_third_party_format_joins_the_registry(world: World) -> None:
    module = f"acme_format_{world.tag}"
    got = join_builtin_registry(world, "MICROSCOPE_FORMAT_REGISTRIES", module, SOURCE)
    assert_joined(
        got, module, ("AcmeFormat", "AcmeGpuFormat"), builtin={"EDDU_CX5", "EDDU_metaxpress"}
    )
