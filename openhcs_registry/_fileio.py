"""Private, atomic, hostile-input-proof reading and writing of cache documents.

Every cache (registries and enums) goes through these two functions, so the safety rules live
in one place: files are read only if they are regular files owned by this user, not writable
by others, of sane size and inside the cache folder; a document is written to a private
temporary file in the same folder and moved into place with ``os.replace``, so a reader sees
the old file or the new one, never half of either.
"""

from __future__ import annotations

import os
import stat
import sys

from ._log import get_logger

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    #: a path as the engine passes it: a string on the warm path (no ``pathlib`` import),
    #: a ``Path`` from the public API
    StrPath = str | os.PathLike[str]

logger = get_logger("openhcs_registry.cache")

#: A cache document larger than this is refused unread (a registry file is a few KB).
MAX_CACHE_BYTES = 32 * 1024 * 1024

_warned: set[tuple[str, str]] = set()


def warn_once(key: str, message: str, *args: object) -> None:
    """Log *message* as a warning the first time *key* is seen in this process."""
    token = (key, message)
    if token in _warned:
        logger.debug(message, *args)
        return
    _warned.add(token)
    logger.warning(message, *args)


_CHECKSUM_FIELD = b',"checksum":'

#: The first document format (registries and enums) with today's checksum.  Files of an
#: older format (no checksum, or the CRC-32 of format 2) are rebuilt quietly, not as corrupt.
FIRST_CHECKSUMMED_FORMAT = 3


class StaleFormat(ValueError):
    """A document of an older format: rebuilt quietly, not reported as "corrupt"."""


#: What ``hash()`` of an int reduces by (2**61 - 1 on 64-bit builds), as :func:`checksum`.
_MODULUS = sys.hash_info.modulus


def checksum(data: bytes) -> int:
    """A 61-bit checksum of *data*, computed without importing anything.

    It is ``int.from_bytes(data) mod (2**61 - 1)``: Python defines ``hash()`` of a
    non-negative int as exactly that (``sys.hash_info.modulus``, "Hashing of numeric types"
    in the language reference), not randomised, the same in every process and version, and
    computed in C at about 0.6 GB/s.  ``zlib.crc32`` would cost an extension-module import
    (~0.7 ms, more than reading every registry) on each warm start.  It detects every change
    confined to 60 consecutive bits (a flipped bit, a damaged byte run) and any other
    accidental change with probability 1 - 2**-61.  Documents end with ``}``, so the integer
    also encodes the length: truncation and appended bytes change it.
    """
    return hash(int.from_bytes(data, "little"))


def cold_checksum(data: bytes | memoryview) -> int:
    """The checksum of a section of a registry document's cold part (in its ``"coldat"``):
    CRC-32 and Adler-32 of the bytes side by side, 64 bits.

    Only the cold path computes it (a discovery writing, an incremental start, ``info()``
    or ``registry.plugins`` reading), where importing ``zlib`` (~0.4 ms) costs less than
    :func:`checksum` would: at 2000 plugins the cold part is 1.5 MB, summed in ~0.9 ms
    instead of ~2.8 ms, once when it is read and once when it is written.  CRC-32 detects
    every change confined to 32 consecutive bits and every odd number of flipped bits;
    any other accidental change passes both sums with probability about 2**-64.  A Python
    built without ``zlib`` uses :func:`checksum` (the interpreter is part of the checked
    header, so a document is read by the build that wrote it).
    """
    try:
        import zlib
    except ImportError:
        return checksum(bytes(data))
    return zlib.crc32(data) << 32 | zlib.adler32(data)


#: A registry document's cold part (see :func:`encode_document`) and where it starts.
_COLD_FIELD = b',"cold":'
_SPLIT_FIELD = b',"split":'


def encode_document(doc: dict[str, Any]) -> bytes:
    """JSON bytes of *doc*, checksummed (see :func:`encode_parts`)."""
    return b"".join(encode_parts(doc)[0])


#: A document as :func:`encode_parts` gives it: buffers whose concatenation is its bytes.
Chunks = list["bytes | memoryview"]


class Encoded:
    """A cold section carried over as it was read: its JSON bytes and their sum, written
    as they are (see :func:`encode_parts`)."""

    __slots__ = ("data", "sum")

    def __init__(self, data: bytes | memoryview, total: int) -> None:
        self.data = data
        self.sum = total


#: The cold section :func:`encode_parts` adds after a ``"plugins"`` list: where each
#: record starts in that section's bytes, and the section's length last.
RECORD_OFFSETS = "recat"


def encode_parts(doc: dict[str, Any]) -> tuple[Chunks, memoryview | None, dict[str, Any] | None]:
    """JSON bytes of *doc* with a trailing ``"checksum"`` field over the bytes before it.

    The checksum turns any accidental change — a bit flip, a truncation, another tool
    rewriting the file, a hand edit — into a detected corruption instead of a plausible but
    wrong registry. (It is not a signature: whoever can write the file can recompute it; the
    owner and mode checks are what keep other users out.)

    A ``"cold"`` field (a registry document's parts that only an incremental start or
    ``info()`` reads) is written last, followed by ``"split"``: the byte offset where it
    begins.  The file stays one JSON object, but :func:`read_document` with ``lazy=True``
    parses only the bytes before it and keeps the cold part unparsed: a warm start pays for
    the objects it uses, not for every plugin's record.  Then the checksum covers the bytes
    before the cold part (and the split, which says where they end), and those bytes hold
    ``"coldat"``: where each of the cold part's sections lies and its checksum
    (:func:`cold_checksum`), verified when it is parsed (:func:`parse_cold`,
    :func:`parse_section`): every byte is covered, but a warm start checksums only what it
    reads, and an incremental start only the sections it needs.  A ``"plugins"`` list is
    followed by the section :data:`RECORD_OFFSETS`, which says where each record starts
    (:func:`_records_encoded`), so that one record can be parsed alone; a section given as
    :class:`Encoded` (carried over from the document read) is written as it is.  A
    document re-encoded from a full parse (a test's deliberate edit) gets its split, table
    and sums recomputed here.

    Returns the bytes, as buffers to write one after the other (a registry document's
    megabytes are not copied once more into one), and the cold part's bytes and table as a
    lazy read gives them (None without a cold part): a writer that installs what it wrote
    keeps those, not the parsed records, as a warm start does (whatever is alive at exit
    is traversed by the collector that tears the modules down).
    """
    import orjson

    skip: tuple[str, ...] = ("checksum", "cold", "split", "coldat", "env", "envlen", "warm")
    if "env" in doc:
        skip += ("cache_version",)  # written first, by _with_env
    if "cold" not in doc:
        body = _with_env(doc, orjson.dumps({k: v for k, v in doc.items() if k not in skip}))
        return [b"%s%s%d}" % (body[:-1], _CHECKSUM_FIELD, checksum(body))], None, None
    # (a cold part that is not an object, a fuzzer's, is written with an empty table,
    # which every reader refuses: a rebuild)
    if type(doc["cold"]) is dict:
        cold, table = _encode_cold(doc["cold"])
    else:
        cold, table = orjson.dumps(doc["cold"]), {}
    warm = {k: v for k, v in doc.items() if k not in skip}
    warm["coldat"] = table
    body = _with_head(_with_env(doc, orjson.dumps(warm)))
    at = len(body) - 1
    tail = b"%s%d%s%d}" % (_SPLIT_FIELD, at, _CHECKSUM_FIELD, checksum(body))
    return [memoryview(body)[:at], _COLD_FIELD, cold, tail], memoryview(cold), table


def _encode_cold(cold: dict[str, Any]) -> tuple[bytes, dict[str, list[int]]]:
    """The cold part's bytes, one section (field) after the other, and its table:
    ``{section: [start, end, sum]}``, offsets into those bytes."""
    import orjson

    chunks: list[bytes | memoryview] = [b"{"]
    at = 1
    table: dict[str, list[int]] = {}

    def add(name: str, data: bytes | memoryview, total: int | None = None) -> None:
        nonlocal at
        label = b'%s"%s":' % (b"," if table else b"", name.encode())
        start = at + len(label)
        chunks.append(label)
        chunks.append(data)
        at = start + len(data)
        table[name] = [start, at, cold_checksum(data) if total is None else total]

    offsets = None
    for name, value in cold.items():
        if type(value) is Encoded:
            add(name, value.data, value.sum)
        elif name == "plugins" and type(value) is list:
            data, offsets = _records_encoded(value)
            add(name, data)
        elif name != RECORD_OFFSETS:
            add(name, orjson.dumps(value))
    if offsets is not None:
        add(RECORD_OFFSETS, orjson.dumps(offsets))
    chunks.append(b"}")
    return b"".join(chunks), table


#: Where one record follows another in a ``"plugins"`` list whose records begin with
#: their name (see :func:`_records_encoded`).
_NEXT_RECORD = b'},{"name":'


def _records_encoded(records: list[Any]) -> tuple[bytes, list[int]]:
    """The JSON of the list *records* and where each record starts in it, the length
    last.

    The list is dumped once; the offsets are where one record ends and the next begins,
    ``},{"name":``, when every record is an object whose first key is ``name`` (as
    :meth:`._cold._records.PluginRecord.to_json` writes them) and the marker occurs exactly
    once between each two: it cannot occur inside a string (JSON escapes a quote there),
    and a nested object of that shape elsewhere makes one more, so that count proves the
    offsets.  Otherwise each record is dumped alone (2000 calls at 2000 plugins).
    """
    import orjson

    data = orjson.dumps(records)
    if records and all(type(r) is dict and next(iter(r), None) == "name" for r in records):
        offsets = [1]
        at = data.find(_NEXT_RECORD)
        while at >= 0 and len(offsets) <= len(records):
            offsets.append(at + 2)
            at = data.find(_NEXT_RECORD, at + 2)
        if len(offsets) == len(records):
            offsets.append(len(data))
            return data, offsets
    parts = [orjson.dumps(record) for record in records]
    offsets = []
    length = 1
    for part in parts:
        offsets.append(length)
        length += len(part) + 1
    offsets.append(max(length, 2))
    return b"[%s]" % b",".join(parts), offsets


#: A registry document's head, right after its ``cache_version``: ``,"warm":[W,S]``, the
#: length ``W`` of the bytes before the cold part and the :func:`warm_checksum` ``S`` of
#: those after the head (see :func:`_with_head`).
_WARM_FIELD = b',"warm":['


def _with_head(body: bytes) -> bytes:
    """*body* (a registry document's warm fields, ``cache_version`` first, closed by ``}``)
    with the head that lets a warm start read the warm part alone.

    The warm part is what a warm start reads: the head says how many bytes that is, so that
    the cold part (most of the file at a large plugin set) is not read at all, and carries
    the checksum of what follows it, since the trailing ``"checksum"`` lies beyond.
    """
    start = len(_VERSION_FIELD)
    end = start
    while body[end : end + 1].isdigit():
        end += 1
    rest = memoryview(body)[end:-1]  # the fields after the version, without the closing brace
    total = warm_checksum(rest)
    # the head's own digits count in the length it gives: grow it until it names itself
    # (a fixed number of rounds left the field one round behind when the length crossed
    # a power of ten: 10000 written for 10001 bytes, a document no reader could check)
    length = 0
    while True:
        field = b"%s%d,%d]" % (_WARM_FIELD, length, total)
        needed = end + len(field) + len(rest)
        if needed == length:
            return b"%s%s%s}" % (body[:end], field, rest)
        length = needed


def _warm_head(head: bytes | bytearray) -> tuple[int, int, int] | None:
    """``(where the head ends, the warm part's length, its checksum)`` from the first bytes
    of a registry document, or None if it has no head."""
    if not head.startswith(_VERSION_FIELD):
        return None
    mark = head.find(_WARM_FIELD, len(_VERSION_FIELD), len(_VERSION_FIELD) + 12)
    if mark < 0 or not head[len(_VERSION_FIELD) : mark].isdigit():
        return None
    digits_at = mark + len(_WARM_FIELD)
    close = head.find(b"]", digits_at)
    length, comma, total = head[digits_at:close].partition(b",")
    if close < 0 or not comma or not length.isdigit() or not total.lstrip(b"-").isdigit():
        return None
    return close + 1, int(length), int(total)


#: Bytes of a registry document read first, to find its head.
_HEAD_BYTES = 96

#: A registry document up to this size is read whole in one call (its cold part is small);
#: a larger one has its head read, then its warm part alone.
_SMALL_DOCUMENT = 1 << 16

#: :func:`warm_checksum` sums this many bytes at a time.
_CHUNK = 1 << 14


def warm_checksum(data: bytes | memoryview) -> int:
    """A 61-bit checksum of a registry document's warm part, as :func:`checksum` but over
    16 KiB at a time: one integer of the whole part (half a megabyte at 2000 plugins) takes
    fresh memory, and on a fresh process every page of it is a fault.  The length is folded
    in first, each chunk's value after it, so a change confined to 60 consecutive bits of a
    chunk, or of the length, is always detected, and any other with probability 1 - 2**-61.
    """
    view = memoryview(data)
    acc = hash(len(view))
    for at in range(0, len(view), _CHUNK):
        acc = hash((acc, hash(int.from_bytes(view[at : at + _CHUNK], "little"))))
    return acc


#: How a document with an environment section begins: ``{"cache_version":N,"envlen":L,"env":``
#: then the L bytes of that section (see :func:`encode_document`).
_VERSION_FIELD = b'{"cache_version":'
_ENVLEN_FIELD = b',"envlen":'
_ENV_FIELD = b',"env":'


def _with_env(doc: dict[str, Any], body: bytes) -> bytes:
    """*body* (the JSON of the other warm fields, ``cache_version`` left out) with *doc*'s
    ``cache_version`` and ``"env"`` section first.

    A registry document's environment section (interpreter, settings, ``sys.path`` rows,
    distributions: the same bytes in every registry document written in one environment)
    is written right after ``cache_version`` with its length, so that a reader can compare
    its raw bytes with a section it has already checked in this look at the environment
    (:func:`._cache._checked_env`) instead of parsing and checking it again.
    """
    import orjson

    env = doc.get("env")
    if env is None:
        return body
    data = env if isinstance(env, (bytes, memoryview)) else orjson.dumps(env)
    rest = memoryview(body)[1:-1]  # the other fields (cache_version left out by the caller)
    head = b"%s%s%s%d%s%s" % (
        _VERSION_FIELD,
        orjson.dumps(doc.get("cache_version")),
        _ENVLEN_FIELD,
        len(data),
        _ENV_FIELD,
        bytes(data),
    )
    # (one copy of the fields: half a megabyte at 2000 plugins)
    return b"".join((head, b"," if rest else b"", rest, b"}"))


def _env_at(data: bytes | bytearray, end: int) -> tuple[int, int, int] | None:
    """``(end of cache_version, start of the env section, its end)``, or None if *data*
    (up to *end*) does not begin with an env section."""
    if not data.startswith(_VERSION_FIELD):
        return None
    head = len(_VERSION_FIELD)
    mark = data.find(_ENVLEN_FIELD, head, head + _HEAD_BYTES)
    if mark < 0:
        return None
    found = _warm_head(data[:mark])
    if not (data[head:mark].isdigit() or (found is not None and found[0] == mark)):
        return None
    digits_at = mark + len(_ENVLEN_FIELD)
    field = data.find(_ENV_FIELD, digits_at, digits_at + 16)
    if field < 0 or not data[digits_at:field].isdigit():
        return None
    start = field + len(_ENV_FIELD)
    stop = start + int(data[digits_at:field])
    if stop >= end or data[stop] not in b",}":
        return None
    return mark, start, stop


def cold_view(doc: dict[str, Any]) -> Any:
    """The cold part of a document read with ``lazy=True``: its bytes (read from the file
    on first use, then kept in *doc*), or the part already parsed."""
    cold = doc.get("cold")
    if type(cold) is ColdPart:
        cold = doc["cold"] = cold.read()
    return cold


def _sections(cold: memoryview, table: object) -> dict[str, list[int]]:
    """The cold part's table (see :func:`encode_parts`), checked to tile *cold* exactly,
    each section labelled by its name: every byte is under one section's sum."""
    if type(table) is not dict or not table:
        raise ValueError("no table of the cold part's sections")
    at = 1
    first = True
    if bytes(cold[:1]) != b"{":
        raise ValueError("the cold part is not an object")
    for name, row in table.items():
        if not (
            type(row) is list
            and len(row) == 3
            and all(type(x) is int for x in row)
            and at <= row[0] <= row[1] <= len(cold)
        ):
            raise ValueError("bad table of the cold part's sections")
        label = b'%s"%s":' % (b"" if first else b",", name.encode())
        if row[0] - at != len(label) or cold[at : row[0]] != label:
            raise ValueError("the cold part's sections are not where its table says")
        at = row[1]
        first = False
    if at != len(cold) - 1 or bytes(cold[at:]) != b"}":
        raise ValueError("the cold part's sections are not where its table says")
    return table


def parse_section(doc: dict[str, Any], name: str) -> Any:
    """One section of the cold part of a document read with ``lazy=True``, parsed alone
    (its checksum verified); ``KeyError`` if there is none of that name, ``ValueError``
    if it does not match its sum or is not valid JSON."""
    import orjson

    cold = cold_view(doc)
    if type(cold) is not memoryview:
        return cold[name]  # parsed whole already
    start, end, total = _sections(cold, doc.get("coldat"))[name]
    data = cold[start:end]
    if cold_checksum(data) != total:
        raise ValueError("cold part checksum mismatch (the file was changed or damaged)")
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"cold part is not valid JSON: {exc}") from exc


def section_bytes(doc: dict[str, Any], name: str, verify: bool = True) -> Encoded:
    """One section of an unparsed cold part as :class:`Encoded`, to be written again as it
    is; its sum verified, unless *verify* is false: bytes only carried over, never parsed
    here, keep their sum, which the next reader checks."""
    cold = cold_view(doc)
    if type(cold) is not memoryview:
        raise ValueError("the cold part was parsed already")
    start, end, total = _sections(cold, doc.get("coldat"))[name]
    data = cold[start:end]
    if verify and cold_checksum(data) != total:
        raise ValueError("cold part checksum mismatch (the file was changed or damaged)")
    return Encoded(data, total)


def parse_cold(doc: dict[str, Any]) -> Any:
    """The parsed cold part of a document read with ``lazy=True`` (every section's checksum
    verified).

    Raises ``ValueError`` if a section does not match its sum, the sections do not tile
    the part, or it is not valid JSON.
    """
    import orjson

    cold = cold_view(doc)
    if type(cold) is not memoryview:
        return cold  # parsed with the rest (its sums verified then)
    for start, end, total in _sections(cold, doc.get("coldat")).values():
        if cold_checksum(cold[start:end]) != total:
            raise ValueError("cold part checksum mismatch (the file was changed or damaged)")
    try:
        return orjson.loads(cold)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"cold part is not valid JSON: {exc}") from exc


def _verify_checksum(data: bytes) -> int | None:
    """Check the trailing checksum; where a registry document's cold part starts, if any.

    The checksum covers the bytes before the cold part when there is one (see
    :func:`encode_document`), else all bytes before the checksum field.
    """
    index = data.rfind(_CHECKSUM_FIELD)
    if index < 0 or not data.endswith(b"}"):
        raise ValueError("no checksum (not written by openhcs-registry, or truncated)")
    digits = data[index + len(_CHECKSUM_FIELD) : -1]
    if not digits.isdigit() or len(digits) > 20:
        raise ValueError("malformed checksum")
    at = _cold_at(data, index)
    covered = index if at is None else at
    # checksum(data[:covered] + b"}") without copying the body: the integer of the prefix,
    # plus the closing brace's byte at its place (the same value modulo 2**61 - 1)
    modulus = _MODULUS
    head = hash(int.from_bytes(memoryview(data)[:covered], "little"))
    if (head + 0x7D * pow(256, covered, modulus)) % modulus != int(digits):
        raise ValueError("checksum mismatch (the file was changed or damaged)")
    return at


def _cold_at(data: bytes, end: int) -> int | None:
    """The offset of ``,"cold":`` that the ``"split"`` field just before *end* names."""
    mark = data.rfind(_SPLIT_FIELD, 0, end)
    if mark < 0:
        return None
    digits = data[mark + len(_SPLIT_FIELD) : end]
    if not digits.isdigit() or len(digits) > 12:
        return None
    at = int(digits)
    if not 0 < at < mark or data[at : at + len(_COLD_FIELD)] != _COLD_FIELD:
        return None
    return at


def _older_format(data: bytes) -> int | None:
    """The format number of a document written before today's checksum, else None."""
    import orjson

    try:
        old = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    version = old.get("cache_version") if isinstance(old, dict) else None
    if type(version) is int and version < FIRST_CHECKSUMMED_FORMAT:
        return version
    return None


class UnsafeCacheFile(Exception):
    """The file exists but must not be trusted (wrong owner, mode, type or place)."""


def _within(path: str, folder: str) -> bool:
    """Whether the real path *path* is inside the real folder *folder* (or is it)."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


def _open_nofollow(path: StrPath) -> int | None:
    """A descriptor of the cache file, or None if there is none.

    One ``open`` with ``O_NOFOLLOW`` instead of ``lstat`` + ``open``: a warm start reads one
    file per registry, and every system call counts.  A symlink (``ELOOP``) is followed only
    if it stays inside the cache folder.
    """
    flags = os.O_RDONLY | _NOFOLLOW | _NONBLOCK  # a FIFO planted here must not block us
    try:
        return os.open(path, flags)
    except (FileNotFoundError, NotADirectoryError):  # no file, or no folder to hold one
        return None
    except OSError as exc:
        if not os.path.islink(path):
            raise UnsafeCacheFile(f"cannot open: {exc}") from exc
    folder = os.path.realpath(os.path.dirname(os.fspath(path)))
    target = os.path.realpath(path)
    if not _within(target, folder):
        raise UnsafeCacheFile(f"symlink pointing outside the cache folder ({target})")
    try:
        return os.open(target, flags)
    except FileNotFoundError:  # a dangling link: no document
        return None
    except OSError as exc:
        raise UnsafeCacheFile(f"cannot open: {exc}") from exc


def _checked_stat(fd: int) -> os.stat_result:
    """The stat of *fd* if it is a private regular file of sane size."""
    fst = os.fstat(fd)
    if not stat.S_ISREG(fst.st_mode):
        raise UnsafeCacheFile("not a regular file")
    if hasattr(os, "getuid") and fst.st_uid != os.getuid():
        raise UnsafeCacheFile(f"owned by uid {fst.st_uid}, not by this user")
    if fst.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UnsafeCacheFile(f"writable by others (mode {stat.S_IMODE(fst.st_mode):o})")
    if fst.st_size > MAX_CACHE_BYTES:
        raise UnsafeCacheFile(f"too large ({fst.st_size} bytes)")
    return fst


def _read_checked(fd: int, size: int) -> bytes:
    """The bytes behind *fd* (a file of *size* bytes by its stat), from its start."""
    data = os.read(fd, size + 1)  # documents are replaced, never rewritten: one read
    if len(data) <= size:
        return data
    chunks = [data]  # it grew since fstat: read on, up to the limit
    total = len(data)
    while total <= MAX_CACHE_BYTES:
        chunk = os.read(fd, min(MAX_CACHE_BYTES + 1 - total, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    if total > MAX_CACHE_BYTES:
        raise UnsafeCacheFile("grew too large while being read")
    return b"".join(chunks)


def _identity(fst: os.stat_result) -> tuple[int, ...]:
    return (fst.st_dev, fst.st_ino, fst.st_size, fst.st_mtime_ns, fst.st_ctime_ns)


class DocumentReplaced(ValueError):
    """The document was replaced since its warm part was read: its cold part is gone."""


class ColdPart:
    """Where the cold part of a document read with ``lazy=True`` lies in its file, read when
    it is first parsed (:func:`parse_cold`): a warm start reads only the warm part.

    Documents are replaced, never rewritten, so the same file (device, inode, size, times)
    holds the same bytes; if it was replaced meanwhile, :class:`DocumentReplaced`.
    """

    __slots__ = ("data", "identity", "path", "start")

    def __init__(
        self, path: str, identity: tuple[int, ...], start: int, data: bytes | None = None
    ) -> None:
        self.path = path
        self.identity = identity
        self.start = start  # where ``,"cold":`` begins
        self.data = data  # the whole file, when it was read whole (a small document)

    def read(self) -> memoryview:
        """The cold part's JSON bytes (``ValueError`` if the file no longer holds them)."""
        if self.data is not None:
            return _cold_bytes(memoryview(self.data)[self.start :])
        fd = _open_nofollow(self.path)
        if fd is None:
            raise DocumentReplaced("the document was removed")
        try:
            fst = os.fstat(fd)
            if _identity(fst) != self.identity:
                raise DocumentReplaced("the document was replaced")
            os.lseek(fd, self.start, os.SEEK_SET)
            data = _read_checked(fd, fst.st_size - self.start)
        finally:
            os.close(fd)
        return _cold_bytes(memoryview(data))

    def remove(self) -> bool:
        """Delete the document if it is still the file read (a damaged cold part: see
        :func:`._cache._cold_of`); one another process wrote since is left alone."""
        try:
            fd = _open_nofollow(self.path)
        except UnsafeCacheFile:
            return False
        if fd is None:
            return False
        try:
            same = _identity(os.fstat(fd)) == self.identity
        finally:
            os.close(fd)
        return same and remove_document(self.path)


def _cold_bytes(tail: memoryview) -> memoryview:
    """The cold part's JSON in *tail*, the bytes of a document from its ``,"cold":`` on."""
    base = max(len(tail) - 64, 0)  # the split and the checksum close the file
    end = bytes(tail[base:]).rfind(_SPLIT_FIELD)
    if tail[: len(_COLD_FIELD)] != _COLD_FIELD or end < 0:
        raise ValueError("no cold part where the head says")
    return tail[len(_COLD_FIELD) : base + end]


def read_document(path: StrPath, lazy: bool = False) -> dict[str, Any] | None:
    """Return the JSON object stored at *path*, or ``None`` when there is none.

    Raises :class:`UnsafeCacheFile` or ``ValueError`` (undecodable, not an object) so the
    caller can say why it rebuilds; never anything else for bad *content*.  With *lazy*, a
    registry document's ``"cold"`` part is left unparsed: unread (a :class:`ColdPart`)
    when the document has a head (see :func:`_with_head`), else a ``memoryview`` of its
    JSON bytes (see :func:`encode_document`).
    """
    fd = _open_nofollow(path)
    if fd is None:
        return None
    found = None
    try:
        fst = _checked_stat(fd)
        if lazy and fst.st_size > _SMALL_DOCUMENT:
            found = _warm_head(os.read(fd, _HEAD_BYTES))
            os.lseek(fd, 0, os.SEEK_SET)
            if found is not None and not found[1] < fst.st_size:
                found = None
        if found is not None:
            buffer = _read_warm(fd, found[1])
        else:
            data = _read_checked(fd, fst.st_size)
    finally:
        os.close(fd)
    if found is not None:
        return _warm_part(buffer, found, ColdPart(os.fspath(path), _identity(fst), found[1]))
    if lazy:  # a small document, read whole in one call: its cold part is at hand
        found = _warm_head(data[:_HEAD_BYTES])
        if found is not None and 0 < found[1] < len(data):
            cold = ColdPart(os.fspath(path), _identity(fst), found[1], data)
            return _warm_part(data, found, cold)
    try:
        at = _verify_checksum(data)
    except ValueError as exc:
        version = _older_format(data)
        if version is not None:  # just older: say so quietly
            raise StaleFormat(f"written in format {version}") from exc
        raise
    end = len(data) if at is None else at
    warm = _parse_warm(data, end, at is not None)
    if not lazy and "env" in warm:
        warm["env"] = parse_env(warm)
    if at is None:
        return warm
    warm["cold"] = memoryview(data)[at + len(_COLD_FIELD) : data.rfind(_SPLIT_FIELD)]
    if not lazy:
        warm["cold"] = parse_cold(warm)
    return warm


def _read_warm(fd: int, length: int) -> bytes | bytearray:
    """The first *length* bytes behind *fd* (a large document's warm part) and the byte
    after them, in a buffer :func:`_parse_in_place` may patch; where ``os.readv`` is
    missing (Windows), the *length* bytes as ``bytes``."""
    if not hasattr(os, "readv"):
        return os.read(fd, length)
    buf = bytearray(length + 1)
    got = os.readv(fd, [buf])
    return buf if got == length + 1 else bytes(buf[:got])


def _warm_part(
    data: bytes | bytearray, found: tuple[int, int, int], cold: ColdPart
) -> dict[str, Any]:
    """A registry document's warm part (the first bytes of *data*, as its head *found*
    says), checked by the head's sum, the environment section kept as bytes."""
    head_end, length, total = found
    if len(data) < length:
        raise ValueError("the document is shorter than its head says (truncated)")
    if warm_checksum(memoryview(data)[head_end:length]) != total:
        raise ValueError("checksum mismatch (the file was changed or damaged)")
    parsed = _parse_in_place(data, length) if type(data) is bytearray else None
    if parsed is None:
        parsed = _parse_warm(bytes(data), length, True)
    parsed["cold"] = cold
    return parsed


def _parse_in_place(data: bytearray, length: int) -> dict[str, Any] | None:
    """:func:`_parse_warm` of a large document's warm part without copying it (None: not
    of the shape this needs, then parsed by a copy).

    *data* holds the warm part and the comma that begins ``,"cold":``.  The fields after
    the environment section run from the comma that ends it to that one: turned into
    braces, they are one JSON object, parsed where it lies.  The head before the section
    is parsed apart (a few bytes).  A copy of half a megabyte at 2000 plugins was fresh
    memory in a fresh process: one page fault per 4 KiB, ~1 ms on a VM.
    """
    env = _env_at(data, length)
    if env is None or len(data) != length + 1:
        return None
    mark, start, stop = env
    if data[stop] != _COMMA or data[length] != _COMMA or stop + 1 >= length:
        return None  # (no field after the section: a copy refuses the dangling comma)
    head = _parse(bytes(data[:mark]) + b"}")
    data[stop] = _OPEN
    data[length] = _CLOSE
    try:
        rest = _parse(memoryview(data)[stop : length + 1])
    finally:
        data[stop] = data[length] = _COMMA
    head.update(rest)
    head["env"] = bytes(data[start:stop])
    return head


#: The byte values :func:`_parse_in_place` reads and writes.
_COMMA, _OPEN, _CLOSE = b",{}"


def _parse_warm(data: bytes, end: int, closed: bool) -> dict[str, Any]:
    """The fields of *data* before *end*, the environment section cut out and kept as
    bytes: a reader that checked the same bytes in this look skips parsing it (see
    :func:`_with_env`).  *closed*: the bytes before *end* lack their closing brace."""
    brace = b"}" if closed else b""
    env = _env_at(data, end)
    if env is None:
        return _parse(data[:end] + brace)
    mark, start, stop = env
    warm = _parse(data[:mark] + data[stop:end] + brace)
    warm["env"] = data[start:stop]
    return warm


def parse_env(doc: dict[str, Any]) -> Any:
    """The parsed environment section of a document read with ``lazy=True`` (covered by
    the document's checksum, which :func:`read_document` verified)."""
    env = doc.get("env")
    if type(env) is not bytes:
        return env
    try:
        return _parse(env)
    except ValueError as exc:
        raise ValueError(f"env section: {exc}") from exc


def _parse(data: bytes | memoryview) -> dict[str, Any]:
    import orjson

    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise ValueError(f"top level is {type(doc).__name__}, not an object")
    return doc


class UnsafeCacheFolder(OSError):
    """The cache folder is not a private folder of this user; nothing is written there."""


def _uid() -> int | None:
    return os.getuid() if hasattr(os, "getuid") else None


def _reached_through_foreign_link(folder: StrPath) -> str | None:
    """A symlink on the way to *folder* owned by another user (not root), if any.

    Such a link, planted in a shared folder, could point our cache anywhere another user
    likes: a careful user refuses it.
    """
    uid = _uid()
    if uid is None:
        return None  # (not a POSIX system: no owners to compare)
    current = ""
    for part in os.fspath(folder).split(os.sep):
        if not part:
            if not current:
                current = os.sep  # (an absolute path's root)
            continue
        current = os.path.join(current, part) if current else part
        try:
            st = os.lstat(current)
        except OSError:
            return None  # does not exist (yet): created by us below
        if stat.S_ISLNK(st.st_mode) and st.st_uid not in (uid, 0):
            return str(current)
    return None


def ensure_private_dir(folder: StrPath) -> None:
    """Make sure *folder* is a private cache folder of this user; create it (0700) if missing.

    An existing folder is never changed: it is used if it is a directory owned by this user
    and not writable by others; otherwise :class:`UnsafeCacheFolder` is raised (the caller
    works uncached and says so once).  Folders created here get 0700.
    """
    link = _reached_through_foreign_link(folder)
    if link is not None:
        raise UnsafeCacheFolder(f"{folder} is reached through {link}, a link of another user")
    try:
        st = os.stat(folder)
    except FileNotFoundError:
        # (makedirs gives the mode to the last folder only: the default folder's ``cache``
        # above its environment's folder is ours too)
        parent = os.path.dirname(os.path.abspath(folder))
        if not os.path.isdir(parent):
            os.makedirs(parent, mode=0o700, exist_ok=True)
        os.makedirs(folder, mode=0o700, exist_ok=True)
        st = os.stat(folder)
        from ._cold._folders import environment_created

        environment_created(os.fspath(folder))  # (the environments that are gone go)
    if not stat.S_ISDIR(st.st_mode):
        raise NotADirectoryError(str(folder))
    uid = _uid()
    if uid is not None and st.st_uid != uid:
        raise UnsafeCacheFolder(f"{folder} belongs to uid {st.st_uid}, not to this user")
    if stat.S_IMODE(st.st_mode) & (stat.S_IWGRP | stat.S_IWOTH):
        raise UnsafeCacheFolder(
            f"{folder} is writable by other users (mode {stat.S_IMODE(st.st_mode):o})"
        )


#: Temporary files left by a writer killed between write and rename are removed by the next
#: writer once this old (a live writer renames its file within milliseconds).
STALE_TEMP_SECONDS = 60.0


def _sweep_temp_files(folder: StrPath, name: str) -> None:
    """Remove ``.<name>.<pid>.<rand>.tmp`` files of dead writers (ours, old, regular)."""
    import time

    prefix = f".{name}."
    uid = _uid()
    try:
        entries = [e for e in os.listdir(folder) if e.startswith(prefix) and e.endswith(".tmp")]
    except OSError:
        return
    now = time.time()
    for entry in entries:
        parts = entry[len(prefix) : -len(".tmp")].split(".")
        if len(parts) != 2 or not parts[0].isdigit():
            continue
        path = os.path.join(folder, entry)
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode) or (uid is not None and st.st_uid != uid):
            continue
        if now - st.st_mtime < STALE_TEMP_SECONDS or _alive(int(parts[0])):
            continue
        try:
            os.unlink(path)
        except OSError:
            pass


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):
        return True  # exists but not ours, or unknown: leave its file alone
    return True


def is_our_document(path: StrPath) -> bool:
    """Whether *path* is a cache document this library wrote (any format), owned by us.

    ``cache clear`` deletes only such files: an ``OPENHCS_CACHE_DIR`` pointing at a
    project folder must not lose that project's ``package.json``.
    """
    try:
        return read_document(path) is not None
    except StaleFormat:
        return True
    except (UnsafeCacheFile, ValueError, OSError):
        return False


def write_document(path: StrPath, doc: dict[str, Any]) -> bool:
    """Atomically write *doc* as JSON to *path* (0600, folder 0700). Return success.

    Failure (read-only or vanished folder, disk full, a directory in the way) is logged once
    per folder and reported as ``False``: a cache that cannot be written is a slower start,
    never an error.
    """
    try:
        payload = encode_parts(doc)[0]
    except TypeError as exc:  # a value orjson cannot encode: a bug on our side, not fatal
        warn_once(str(path), "cache %s not written: cannot encode (%s)", path, exc)
        return False
    return write_encoded(path, payload)


def write_encoded(path: StrPath, payload: Chunks | bytes) -> bool:
    """Atomically write the encoded document *payload* (its bytes, or the buffers
    :func:`encode_parts` gives) to *path* (see :func:`write_document`)."""
    path = os.fspath(path)  # (strings and os.path: no pathlib import to write either)
    folder, name = os.path.split(path)
    folder = folder or os.curdir
    tmp = os.path.join(folder, f".{name}.{os.getpid()}.{os.urandom(6).hex()}.tmp")
    try:
        ensure_private_dir(folder)
        _sweep_temp_files(folder, name)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            for chunk in [payload] if isinstance(payload, bytes) else payload:
                view = memoryview(chunk)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
        finally:
            os.close(fd)
        if os.path.isdir(path) and not os.path.islink(path):
            raise IsADirectoryError(f"{path} is a directory")
        os.replace(tmp, path)
    except UnsafeCacheFolder as exc:
        warn_once(
            str(folder),
            "registry cache folder not used (%s); working without a persistent cache",
            exc,
        )
        return False
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        warn_once(
            str(folder),
            "registry cache folder %s is not writable (%s); working without a persistent cache",
            folder,
            exc,
        )
        return False
    return True


def remove_document(path: StrPath) -> bool:
    """Delete a cache file if present; True if something was removed."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    except IsADirectoryError:
        return False
    except OSError as exc:
        logger.debug("could not remove %s: %s", path, exc)
        return False
    return True
