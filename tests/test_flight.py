"""``openhcs_registry._flight``: the one single-flight mechanism (registries and enums).

Real threads and a real ``os.fork``; the deadlock cases of registries and enums are pinned
in test_foundation.py and test_enums.py, these pin the mechanism itself.
"""

from __future__ import annotations

import os
import sys
import threading

import pytest

from openhcs_registry import _flight
from openhcs_registry._flight import Flights, WouldDeadlock


def test_one_owner_and_the_others_wait_for_its_end() -> None:
    flights = Flights()
    with flights.lock:
        flight, owner = flights.begin("k")
    assert owner
    seen: list[object] = []
    waiting = threading.Event()

    def waiter() -> None:
        with flights.lock:
            other, other_owns = flights.begin("k")
        assert other is flight and not other_owns
        waiting.set()
        other.wait()
        seen.append(other.error)

    threads = [threading.Thread(target=waiter) for _ in range(8)]
    for t in threads:
        t.start()
    assert waiting.wait(10)
    assert seen == []  # still waiting: the owner has not ended
    error = ValueError("boom")
    flights.end("k", flight, error)
    for t in threads:
        t.join(10)
    assert seen == [error] * 8
    assert flights.running("k") is None
    with flights.lock:
        assert flights.begin("k")[1]  # the next caller owns a new flight


def test_waiting_for_ones_own_flight_is_refused_at_once() -> None:
    flights = Flights()
    with flights.lock:
        flight, _ = flights.begin("k")
    with pytest.raises(WouldDeadlock) as refused:
        flight.wait()
    assert refused.value.reason == "same thread"


def test_a_registry_wait_turns_a_refusal_into_discovery_in_progress() -> None:
    flights = Flights()
    with flights.lock:
        flight, _ = flights.begin("k")
    with pytest.raises(_flight.DiscoveryInProgressError, match="same thread"):
        _flight.wait_for(flight, "registry 'demo'")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_starts_without_the_parents_flights() -> None:
    flights = Flights()
    called: list[str] = []
    _flight.at_fork(lambda: called.append("hook"))
    started = threading.Event()
    release = threading.Event()

    def fly() -> None:  # a flight owned by a thread the child will not have
        with flights.lock:
            flights.begin("k")
        started.set()
        release.wait(10)

    t = threading.Thread(target=fly)
    t.start()
    assert started.wait(10)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report and leave at once
        ok = flights.running("k") is None and flights.lock.acquire(timeout=1) and called
        os.write(write, b"ok" if ok else b"stuck")
        os._exit(0)
    os.close(write)
    answer = os.read(read, 10)
    os.waitpid(pid, 0)
    release.set()
    t.join(10)
    assert answer == b"ok"
    assert flights.running("k") is not None  # the parent's flight is untouched


def test_the_engine_registers_one_fork_hook() -> None:
    """Registries, resolutions and the enum memo are all reset by ``_flight``'s hook."""
    import openhcs_registry

    root = os.path.dirname(openhcs_registry.__file__)
    users = []
    for folder, _dirs, files in os.walk(root):
        for name in files:
            if name.endswith(".py"):
                with open(os.path.join(folder, name), encoding="utf-8") as fh:
                    if "register_at_fork(" in fh.read():
                        users.append(name)
    assert users == ["_flight.py"], users
    assert sys.modules["openhcs_registry._flight"] is _flight
