"""Single flight: at most one computation per key at a time, the others wait for its result.

Used for a registry's discovery, the resolution of one cached reference, and the creation of
one cached enum.  The computation runs *without* the lock (it imports plugin modules, and
such a module may read the registry or ask for the enum at import time).

One deadlock policy for all of them: a thread must not wait for a flight that can only end
after this thread moves on.  :meth:`Flight.wait` raises :class:`WouldDeadlock` when

* the flight is this thread's own (re-entry further up this stack),
* the flying thread is importing a module this thread runs code of (this thread would wait
  for a module whose import waits for this thread), or
* the flying thread waits for a module import lock this thread holds;

checked again every 50 ms while waiting, since the last two can arise after waiting began.
Each caller decides what a refusal to wait means: a registry raises
:class:`~openhcs_registry.DiscoveryInProgressError`, an enum builds its own class.

One fork hook: in a forked child the threads that were computing do not exist, so every
flight table gets a fresh lock and no flights, and the callbacks registered with
:func:`at_fork` run.

On the warm path: imports ``_thread`` and nothing else of note.  Its locks are what
``threading`` hands out (``threading.Lock`` is ``_thread.allocate_lock``, ``RLock`` the C
``_thread.RLock``), without importing ``threading``: ~0.7 ms in a fresh process.
"""

from __future__ import annotations

import _thread
import os
import sys
from _weakrefset import WeakSet  # what threading itself uses: no weakref import

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

#: Seconds between deadlock checks while waiting.
_POLL = 0.05


class WouldDeadlock(Exception):
    """Waiting for a flight could never end; ``reason`` says why, ``module`` names the import."""

    def __init__(self, reason: str, module: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason  # "same thread" | "importing" | "blocked"
        self.module = module


class Flight:
    """One computation in progress: its thread, a lock held while it runs, its error.

    The lock is taken when the flight begins and released when it ends; a waiter takes it
    and gives it back at once.  A plain lock rather than a ``threading.Event`` (a
    condition, a lock and a Python object): every registry's first read begins a flight,
    almost always with nobody waiting, and an event cost ~5 us of that read.
    """

    __slots__ = ("error", "running", "thread")

    def __init__(self) -> None:
        self.thread = _thread.get_ident()
        self.running = _thread.allocate_lock()
        self.running.acquire()
        self.error: BaseException | None = None

    def wait(self) -> None:
        """Return once the flight ended; raise :class:`WouldDeadlock` if it never could."""
        if self.thread == _thread.get_ident():
            raise WouldDeadlock("same thread")
        running = self.running
        while not running.acquire(timeout=_POLL):
            blocker = _importing_module_held_by(self.thread)
            if blocker is not None:
                raise WouldDeadlock("importing", blocker)
            if _blocked_on_my_import(self.thread):
                raise WouldDeadlock("blocked")
        running.release()  # ended: the next waiter passes too


class Flights:
    """The flights of one owner (a registry, the enum memo), by key, under one lock.

    The lock also guards the owner's own state (the caller holds it while it installs a
    result and ends the flight, so a waiter never sees one without the other).
    """

    __slots__ = ("__weakref__", "flights", "lock")

    def __init__(self) -> None:
        self.lock = _thread.RLock()
        self.flights: dict[Any, Flight] = {}
        _tables.add(self)

    def begin(self, key: Any) -> tuple[Flight, bool]:
        """The flight for *key* and whether this thread owns it (call with the lock held)."""
        flight = self.flights.get(key)
        if flight is not None:
            return flight, False
        flight = self.flights[key] = Flight()
        return flight, True

    def end(self, key: Any, flight: Flight, error: BaseException | None = None) -> None:
        """End this thread's *flight* (its result already installed, or *error*)."""
        with self.lock:
            if self.flights.get(key) is flight:
                del self.flights[key]
        flight.error = error
        flight.running.release()

    def running(self, key: Any) -> Flight | None:
        return self.flights.get(key)

    def _after_fork(self) -> None:
        self.lock = _thread.RLock()
        self.flights = {}


class DiscoveryInProgressError(RuntimeError):
    """A registry was read from inside its own discovery (re-entrant or waiting on itself)."""


class RegistryDiscoveryError(RuntimeError):
    """Discovery itself failed (not a plugin: those are skipped); retried on next access."""


def wait_for(flight: Flight, what: str) -> None:
    """A registry's wait: a refused wait is a re-entry, a failed flight this read's error."""
    try:
        flight.wait()
    except WouldDeadlock as refused:
        from ._diagnostics import note_reentry

        note_reentry()
        raise DiscoveryInProgressError(
            _REFUSALS[refused.reason].format(what=what, module=refused.module)
        ) from None
    if flight.error is not None:
        raise RegistryDiscoveryError(f"{what}: discovery failed: {flight.error}") from flight.error


_REFUSALS = {
    "same thread": (
        "{what} was read while it is being discovered in this same thread "
        "(a plugin module reads the registry at import time?). Read it after "
        "the import completes, e.g. inside a function."
    ),
    "importing": (
        "{what} is being discovered by another thread that is importing "
        "{module!r}, and this thread runs code of that module: waiting would "
        "deadlock. Read the registry after the import completes."
    ),
    "blocked": (
        "{what} is being discovered by another thread that waits to import a "
        "module this thread is importing (its import reads the registry): "
        "waiting would deadlock. Read the registry after the import completes."
    ),
}


_tables: WeakSet[Flights] = WeakSet()
_callbacks: list[Callable[[], None]] = []


def at_fork(callback: Callable[[], None]) -> None:
    """Run *callback* in a forked child, after every flight table was reset."""
    _callbacks.append(callback)


def _after_fork_in_child() -> None:
    for table in list(_tables):
        table._after_fork()
    for callback in _callbacks:
        callback()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _importing_module_held_by(thread_id: int) -> str | None:
    """Name of a module in this thread's stack that *thread_id* is importing right now."""
    frame = sys._getframe(1)
    seen: set[str] = set()
    while frame is not None:
        spec = frame.f_globals.get("__spec__")
        name = getattr(spec, "name", None)
        if name and name not in seen and getattr(spec, "_initializing", False):
            seen.add(name)
            if _import_lock_owner(name) in (thread_id, None):
                return str(name)
        frame = frame.f_back  # type: ignore[assignment]
    return None


def _blocked_on_my_import(thread_id: int) -> bool:
    """Whether *thread_id* waits for a module import lock that this thread holds.

    Uses the import system's own record of who waits on which lock (a lock per thread up to
    3.11, a list from 3.12); if that private record changes shape, this says False.
    """
    me = _thread.get_ident()
    try:
        from importlib import _bootstrap

        waiting: Any = getattr(_bootstrap, "_blocking_on", None)
        entry = waiting.get(thread_id) if waiting is not None else None
        locks = entry if isinstance(entry, list) else [entry] if entry is not None else []
        return any(getattr(lock, "owner", None) == me for lock in locks)
    except Exception:
        return False


def _import_lock_owner(module: str) -> int | None:
    try:
        from importlib import _bootstrap

        locks: Any = getattr(_bootstrap, "_module_locks", {})
        ref = locks.get(module)
        lock = ref() if ref is not None else None
        owner = getattr(lock, "owner", None)
        return owner if isinstance(owner, int) else None
    except Exception:
        return None
