"""Import-time registration: ``import my_openhcs_plugin`` is enough to add its classes.

Base classes that inherit :class:`AutoRegistered` note every subclass as it is created.  The
note costs a list append and triggers nothing: discovery later decides which of the noted
classes a fresh process would also find (those defined in modules discovery itself imports:
they are persisted in the cache) and which were added by the application at run time (they
are overlaid on the registry in this process only, never persisted).
"""

from __future__ import annotations

import _thread

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar

_lock = _thread.allocate_lock()
_noted: dict[str, list[Any]] = {}
#: The ids in each bucket, so that noting is O(1), not O(n) (16,000 subclasses: 3 s).  Kept
#: with the list they index: a bucket replaced from outside (a test restoring notes) is
#: indexed afresh.
_noted_ids: dict[str, tuple[list[Any], set[int]]] = {}


def _ids(registry_name: str, bucket: list[Any]) -> set[int]:
    indexed = _noted_ids.get(registry_name)
    if indexed is None or indexed[0] is not bucket or len(indexed[1]) != len(bucket):
        indexed = _noted_ids[registry_name] = (bucket, {id(o) for o in bucket})
    return indexed[1]


_listeners: dict[str, list[Any]] = {}


def note(registry_name: str, obj: Any) -> None:
    """Record *obj* as registered at import time into the registry *registry_name*."""
    with _lock:
        bucket = _noted.setdefault(registry_name, [])
        ids = _ids(registry_name, bucket)
        if id(obj) not in ids:
            ids.add(id(obj))
            bucket.append(obj)
        listeners = list(_listeners.get(registry_name, ()))
    for callback in listeners:
        callback(obj)


def noted(registry_name: str) -> list[Any]:
    """Snapshot of everything noted for *registry_name*, in the order it was noted."""
    with _lock:
        return list(_noted.get(registry_name, ()))


def noted_count(registry_name: str) -> int:
    """How many objects are noted for *registry_name* (no copy of them: discovery asks
    before and after each plugin it loads or calls)."""
    with _lock:
        return len(_noted.get(registry_name, ()))


def noted_since(registry_name: str, start: int) -> list[Any]:
    """The objects noted for *registry_name* after the first *start* (see :func:`noted`)."""
    with _lock:
        return _noted.get(registry_name, [])[start:]


def forget(registry_name: str, obj: Any) -> None:
    """Remove *obj* from the notes (tests and ``unregister``)."""
    with _lock:
        bucket = _noted.get(registry_name)
        if bucket:
            bucket[:] = [o for o in bucket if o is not obj]
            _noted_ids.pop(registry_name, None)


def add_listener(registry_name: str, callback: Any) -> None:
    with _lock:
        _listeners.setdefault(registry_name, []).append(callback)


def _reinit_after_fork() -> None:
    """A fork may happen while another thread holds the lock: give the child a fresh one."""
    global _lock
    _lock = _thread.allocate_lock()


class AutoRegistered:
    """Mixin for plugin base classes: each subclass is noted for ``__registry_name__``.

    Subclasses that are abstract or carry no key are noted too and filtered out later, so
    intermediate base classes cost nothing and need no opt-out.
    """

    __registry_name__: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("__registry_name__") or getattr(cls, "__registry_name__", None)
        if name:
            note(name, cls)
