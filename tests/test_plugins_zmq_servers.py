"""The built-in ZMQ servers (:mod:`openhcs_plugins.zmq_servers`) answering real messages."""

from __future__ import annotations

import json

import openhcs_hookspecs as hs
import pytest
from plugins_support import _fresh_registries

__all__ = ["_fresh_registries"]


def test_zmq_servers_answer_messages() -> None:
    server = hs.ZMQ_SERVERS["execution"]()
    assert server.requires_gpu is False
    assert server.handle({"type": "ping"}) == {"type": "pong", "server": "execution", "port": 7777}
    accepted = server.handle({"type": "execute", "pipeline": "p"})
    assert accepted["type"] == "accepted"
    assert server.handle({"type": "job_status", "job": accepted["job"]})["state"] == "queued"
    assert server.handle({"type": "job_status", "job": "nope"})["type"] == "error"
    status = server.handle({"type": "status"})
    assert status["type"] == "status" and status["server"] == "execution"
    assert status["handled"] == 5 and status["uptime"] >= 0
    assert server.handle({"type": "nope"})["type"] == "error"
    assert server.handle("garbage")["type"] == "error"
    assert server.handle({"no": "type"})["type"] == "error"


@pytest.mark.parametrize("key", ["napari", "fiji"])
def test_viewer_servers(key: str) -> None:
    cls = hs.ZMQ_SERVERS[key]
    assert cls.requires_gpu is True
    viewer = cls(port=6000)
    assert viewer.handle({"type": "ping"}) == {"type": "pong", "server": key, "port": 6000}
    assert viewer.handle({"type": "show", "name": "nuclei"}) == {
        "type": "shown",
        "layer": "nuclei",
        "layers": 1,
    }
    assert cls().port == cls.default_port


def test_zmq_servers_speak_json_bytes() -> None:
    server = hs.ZMQ_SERVERS["execution"]()
    assert json.loads(server.handle_bytes(b'{"type": "ping"}'))["type"] == "pong"
    assert json.loads(server.handle_bytes(b"\xff not json"))["type"] == "error"
    assert json.loads(server.handle_bytes(b"[1]"))["type"] == "error"
