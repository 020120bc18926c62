"""The ZMQ server contract (:mod:`openhcs_hookspecs.zmq_servers`): a server written only against it
joins ``ZMQ_SERVERS`` from an installed distribution, cold and warm, and a GPU one is left out in
no-GPU mode.  The built-in servers: tests/test_plugins_zmq_servers.py.
"""

from __future__ import annotations

from support import World, assert_joined, join_builtin_registry

SOURCE = """
from openhcs_registry import hookimpl
from openhcs_hookspecs.zmq_servers import ZMQServer


class AcmeServer(ZMQServer):
    _server_type = "acme"
    default_port = 7999

    def handle(self, message):
        return {"type": "pong", "echo": message}


class AcmeGpuServer(AcmeServer):
    _server_type = "acme_gpu"
    requires_gpu = True


@hookimpl
def provide_zmq_servers():
    return [AcmeServer, AcmeGpuServer]
"""


def test_a_third_party_server_joins_the_registry(world: World) -> None:
    module = f"acme_server_{world.tag}"
    got = join_builtin_registry(world, "ZMQ_SERVERS", module, SOURCE)
    assert_joined(
        got, module, ("AcmeServer", "AcmeGpuServer"), builtin={"execution", "napari", "fiji"}
    )
