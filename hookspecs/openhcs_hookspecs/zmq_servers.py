"""ZMQ servers: out-of-process execution and viewer servers (key ``_server_type``)."""

from __future__ import annotations

from abc import ABC, abstractmethod

from openhcs_registry import AutoRegistered, LazyDiscoveryDict, RegistryConfig, hookspec

from . import skip_gpu

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar


class ZMQServer(AutoRegistered, ABC):
    """A request/response server; ``handle`` answers one decoded message."""

    __registry_name__ = "zmq_server"
    _server_type: ClassVar[str | None] = None
    default_port: ClassVar[int] = 7777
    requires_gpu: ClassVar[bool] = False

    @abstractmethod
    def handle(self, message: dict[str, Any]) -> dict[str, Any]:
        """The reply to *message* (a dict with at least ``"type"``)."""


@hookspec
def provide_zmq_servers() -> Any:
    """Return ZMQ server classes (a list, or a dict ``{server_type: class}``)."""


ZMQ_SERVERS_CONFIG = RegistryConfig(
    name="zmq_server",
    hookspec=provide_zmq_servers,
    base_class=ZMQServer,
    key_attribute="_server_type",
    skip=skip_gpu,  # GPU-dependent values are left out when OPENHCS_SUBPROCESS_NO_GPU=1
    description="ZMQ execution and viewer servers, by server type",
)

ZMQ_SERVERS: LazyDiscoveryDict[type[ZMQServer]] = LazyDiscoveryDict(ZMQ_SERVERS_CONFIG)
