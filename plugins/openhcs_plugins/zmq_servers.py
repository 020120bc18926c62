"""Built-in ZMQ servers: message handling of the execution server and the viewer servers.

The transport (pyzmq sockets) is the application's; these classes answer messages, so they
are importable and testable without zmq (never imported here) or a viewer.  ``handle`` takes
a decoded dict; ``handle_bytes`` takes and returns the JSON bytes a REP socket carries::

    reply = server.handle_bytes(socket.recv())
    socket.send(reply)

Every server answers ``{"type": "ping"}`` with ``{"type": "pong", "server": ..., "port": ...}``
and ``{"type": "status"}`` with its pid, uptime and message count; anything it does not know
gets ``{"type": "error", "error": ...}``, never an exception.
"""

from __future__ import annotations

import os
import time
from typing import Any

from openhcs_hookspecs.zmq_servers import ZMQServer

from openhcs_registry import hookimpl


class _BaseServer(ZMQServer):
    def __init__(self, port: int | None = None) -> None:
        self.port = port if port is not None else self.default_port
        self.started = time.time()
        self.handled = 0

    def handle(self, message: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            return {"type": "error", "error": "a message is a dict with a string 'type'"}
        self.handled += 1
        kind = message["type"]
        if kind == "ping":
            return {"type": "pong", "server": self._server_type, "port": self.port}
        if kind == "status":
            return {
                "type": "status",
                "server": self._server_type,
                "pid": os.getpid(),
                "uptime": time.time() - self.started,
                "handled": self.handled,
            }
        return self.handle_other(kind, message)

    def handle_other(self, kind: str, message: dict[str, Any]) -> dict[str, Any]:
        return {"type": "error", "error": f"{self._server_type} server: unknown message {kind!r}"}

    def handle_bytes(self, raw: bytes) -> bytes:
        """Answer one JSON-encoded message with a JSON-encoded reply."""
        import json

        try:
            message = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            reply: dict[str, Any] = {"type": "error", "error": f"not a JSON message: {exc}"}
        else:
            reply = self.handle(message)
        return json.dumps(reply).encode("utf-8")


class ExecutionServer(_BaseServer):
    """Runs pipelines out of process: accepts ``execute`` requests and reports their state."""

    _server_type = "execution"
    default_port = 7777

    def __init__(self, port: int | None = None) -> None:
        super().__init__(port)
        self.jobs: dict[str, str] = {}

    def handle_other(self, kind: str, message: dict[str, Any]) -> dict[str, Any]:
        if kind == "execute":
            job = f"job-{len(self.jobs) + 1}"
            self.jobs[job] = "queued"
            return {"type": "accepted", "job": job}
        if kind == "job_status":
            job = str(message.get("job"))
            if job not in self.jobs:
                return {"type": "error", "error": f"unknown job {job!r}"}
            return {"type": "job_status", "job": job, "state": self.jobs[job]}
        return super().handle_other(kind, message)


class _ViewerServer(_BaseServer):
    requires_gpu = True

    def __init__(self, port: int | None = None) -> None:
        super().__init__(port)
        self.layers: list[str] = []

    def handle_other(self, kind: str, message: dict[str, Any]) -> dict[str, Any]:
        if kind == "show":
            name = str(message.get("name") or f"layer {len(self.layers) + 1}")
            self.layers.append(name)
            return {"type": "shown", "layer": name, "layers": len(self.layers)}
        return super().handle_other(kind, message)


class NapariServer(_ViewerServer):
    """Receives images for a napari viewer (needs a display)."""

    _server_type = "napari"
    default_port = 5555


class FijiServer(_ViewerServer):
    """Receives images for Fiji (needs a display)."""

    _server_type = "fiji"
    default_port = 5556


@hookimpl
def provide_zmq_servers() -> list[Any]:
    return [ExecutionServer, NapariServer, FijiServer]
