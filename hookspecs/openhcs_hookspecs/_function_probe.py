"""Opt-in behaviour probing: call each function on small sample arrays, in a child process.

OpenHCS learns whether a function handles 2-D and 3-D input by calling it.  That is slow
(scikit-image: seconds to minutes), can hang or crash, and must never run on the warm path,
so it is kept apart:

* only :func:`openhcs_hookspecs.functions.probe` runs it, never a catalogue read;
* the calls run in a child process (``python -m openhcs_hookspecs._function_probe LIBRARY``)
  that receives one key per line and answers one JSON line per key; the parent waits at most
  *timeout* seconds per function, then kills the child, records ``timeout`` and starts a new
  child for the rest (a crash is recorded the same way);
* results are cached in their own document (``function_probes_<library>.json``), valid while
  the catalogue's inputs hold, for the same catalogue entries and the same timeout; keys
  already probed are not probed again.

The samples come from the provider's ``probe_samples()`` (None: the library is not probed).
"""

from __future__ import annotations

import os
import sys
import threading
from queue import Empty, Queue
from typing import Any

from openhcs_registry import catalogue as store

KIND = "function_probes"
#: How long a child may take to import the library and make its samples.
STARTUP_SECONDS = 120.0


class Probes(dict):  # type: ignore[type-arg]
    """Probe results by key; ``source`` says whether they came from the cache."""

    source = "fresh"


def _describe(value: Any) -> str:
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    if shape is not None:
        return f"ok: {type(value).__name__} {tuple(shape)} {dtype}"
    return f"ok: {type(value).__name__}"


def child(library: str) -> int:
    """The child: answer ``{key: {sample: outcome}}`` for each key read from stdin."""
    import copy

    import orjson

    from .functions import FUNCTION_LIBRARIES, catalogue

    protocol = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # what the functions print goes to stderr, not into the protocol
    samples = FUNCTION_LIBRARIES[library]().probe_samples() or {}
    cat = catalogue(library)
    protocol.write("ready\n")
    protocol.flush()
    for line in sys.stdin:
        key = line.strip()
        outcome: dict[str, str] = {}
        try:
            func = cat[key]
        except Exception as exc:
            outcome["resolve"] = f"error: {type(exc).__name__}: {exc}"
        else:
            for name, sample in samples.items():
                try:
                    outcome[name] = _describe(func(copy.deepcopy(sample)))
                except Exception as exc:
                    outcome[name] = f"error: {type(exc).__name__}: {str(exc)[:200]}"
        protocol.write(orjson.dumps({"key": key, "outcome": outcome}).decode() + "\n")
        protocol.flush()
    return 0


class _Child:
    """One probing child and a thread turning its output into a queue of lines."""

    def __init__(self, library: str) -> None:
        import subprocess

        self.proc = subprocess.Popen(
            [sys.executable, "-m", __name__, library],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.lines: Queue[str | None] = Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)  # end of output: the child exited

    def next_line(self, timeout: float) -> str | None:
        """The next line, None at exit; raises ``queue.Empty`` after *timeout* seconds."""
        return self.lines.get(timeout=timeout)

    def ask(self, key: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(key + "\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def _run(library: str, keys: list[str], timeout: float) -> dict[str, dict[str, str]]:
    import orjson

    results: dict[str, dict[str, str]] = {}
    pending = list(keys)
    while pending:
        worker = _Child(library)
        try:
            try:
                ready = worker.next_line(STARTUP_SECONDS)
            except Empty:
                ready = None
            if ready is None or ready.strip() != "ready":
                for key in pending:
                    results[key] = {"probe": "error: the probing process did not start"}
                return results
            while pending:
                key = pending.pop(0)
                worker.ask(key)
                try:
                    line = worker.next_line(timeout)
                except Empty:
                    results[key] = {"probe": f"timeout: no answer within {timeout:g} s"}
                    break  # kill this child, go on with a new one
                if line is None:
                    results[key] = {"probe": "crashed: the probing process exited"}
                    break
                answer = orjson.loads(line)
                results[key] = answer["outcome"]
        finally:
            worker.stop()
    return results


def _catalogue_digest(cat: Any) -> int:
    import orjson

    return store.checksum(orjson.dumps(cat._doc["functions"]))


def probe(
    library: str, keys: list[str] | None = None, *, timeout: float = 5.0, rebuild: bool = False
) -> Probes:
    """Probe *keys* (default: every function) of *library*; cached results are reused."""
    from openhcs_registry import settings

    from .functions import catalogue

    cat = catalogue(library)
    wanted = list(cat) if keys is None else [k for k in keys if k in cat]
    out = Probes()
    if not cat.available:
        return out
    path = store.catalogue_file(KIND, library)
    digest = _catalogue_digest(cat)
    known: dict[str, Any] = {}
    if not rebuild and not settings.cache_disabled():
        doc, _why = store.load(path, KIND, library)
        if (
            doc is not None
            and doc.get("catalogue") == digest
            and doc.get("timeout") == timeout
            and type(doc.get("results")) is dict
        ):
            known = doc["results"]
    missing = [k for k in wanted if k not in known]
    if missing:
        known = {**known, **_run(library, missing, timeout)}
        body = {"catalogue": digest, "timeout": timeout, "results": known}
        store.save(path, KIND, library, body, cat._doc["inputs"])
    else:
        out.source = "cache"
    out.update({k: known[k] for k in wanted})
    return out


if __name__ == "__main__":
    raise SystemExit(child(sys.argv[1]))
