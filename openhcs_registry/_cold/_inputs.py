"""What a plugin read: the inputs a cached answer depends on (DESIGN.md §8).

A cache is correct only if it watches everything its answer was computed from, not only the
files of the values it kept: a module whose classes were all rejected, a module whose import
failed, a helper computing a key, an optional dependency that was looked for and not found,
a folder that would shadow a package.  So while a plugin is loaded and its hook called, an
import recorder sits first on ``sys.meta_path`` and notes, for the discovering thread:

* every module found, with its file's stat signature taken **before** the loader reads it
  (git's racy-clean rule: a file saved during discovery looks changed afterwards);
* every package folder searched (a new or removed module file changes its listing);
* every name looked for and not found (a negative record: ``try: import zarr``);
* the top-level names involved, so that a module of that name appearing in the launch folder
  or a folder of another ``sys.path`` entry gaining ``__init__.py`` is seen (checked per name).

This module is cold-path only (discovery); the warm checks live in :mod:`.cache`.
"""

from __future__ import annotations

import _thread
import builtins
import importlib
import importlib.util
import io
import os
import re
import stat
import sys

from .._environment import (
    WORKING_DIRECTORY,
    archive_checksum,
    environ_digest,
    environ_value,
    listing_of_sorted,
    names_in,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

#: A stat signature: ``[st_mtime_ns, st_size, st_ctime_ns, st_ino]``, or None (missing).
#: ``cp -p``, ``rsync -a`` and ``tar x`` can put mtime and size back, not ctime and inode.
Sig = list[int] | None

#: A folder's signature: its stat signature and the checksum of its listing, **taken
#: together when it was read** (``[st_mtime_ns, st_size, st_ctime_ns, st_ino, checksum]``),
#: or None (missing).  The warm check compares the listing when the stat moved
#: (:func:`.cache._folder_unchanged`): one taken when the document is written, after the
#: plugin read, would describe the folder as it was then and hide a change in between.
FolderSig = list[int | None] | None

#: Top-level names a folder with these entries may provide (over-approximated): the rule the
#: warm check applies (:func:`._environment.importable_names`), so recording and checking agree.
importable_names = names_in


#: The file functions as the process had them, for the recorder's own reads: while it is
#: installed, ``os.stat``, ``os.listdir``, ``os.scandir`` and ``open`` are its hooks
#: (see :func:`_hooked_open`), and what it reads itself is no plugin's input.
_stat = os.stat
_listdir = os.listdir
_scandir = os.scandir
_real_open = builtins.open


def sig(path: str) -> Sig:
    """The stat signature of *path* now (None if it cannot be stat'ed)."""
    try:
        st = _stat(path)
    except (OSError, ValueError):
        return None
    return [st.st_mtime_ns, st.st_size, st.st_ctime_ns, st.st_ino]


def _is_file(path: str) -> bool:
    """``os.path.isfile`` through the recorder's own ``stat``."""
    try:
        return stat.S_ISREG(_stat(path).st_mode)
    except (OSError, ValueError):
        return False


def folder_sig(path: str) -> tuple[FolderSig, list[str] | None]:
    """The :data:`FolderSig` of *path* now and its sorted entries (None: not listable).

    Stat first, then list: a change in between makes the stat older than the listing, so
    the next look sees the stat moved and compares listings (it never takes a listing
    older than the stat for the folder's).
    """
    value = sig(path)
    if value is None:
        return None, None
    try:
        entries = sorted(_listdir(path))
    except (OSError, ValueError):  # a zip archive on sys.path: summed by its bytes
        return [*value, archive_checksum(path)], None
    return [*value, listing_of_sorted(entries)], entries


def folder_names(path: str) -> tuple[FolderSig, list[str] | None]:
    """The :data:`FolderSig` of *path* now and the importable names of its entries, sorted
    (None: not listable): what a folder a name is looked for in is recorded with."""
    value, entries = folder_sig(path)
    return value, None if entries is None else sorted(importable_names(entries))


#: The variables a record read, until it reads one (shared: never changed).
_NO_NAMES: frozenset[str] = frozenset()


class Inputs:
    """Everything one plugin (or one load of a module) read."""

    __slots__ = ("dirs", "environ", "files", "missing", "modules", "names", "tops")

    def __init__(self) -> None:
        self.modules: dict[str, str | None] = {}  # module found -> its file (None: no file)
        self.files: dict[str, Sig] = {}
        #: folders whose every change matters (a listing, a package's own folder)
        self.dirs: dict[str, FolderSig] = {}
        #: folders searched for a submodule -> ``(signature, names there, names searched)``:
        #: only a change of the searched names matters (``pkg/b.py`` added does not change
        #: what ``pkg.a`` read); signature and listing are taken at the first search
        self.names: dict[str, tuple[FolderSig, list[str] | None, set[str]]] = {}
        self.missing: set[str] = set()
        self.tops: set[str] = set()
        #: environment variables read by name (:class:`_WatchedEnviron`), and the working
        #: directory as :data:`WORKING_DIRECTORY` when a relative path was read (a set of
        #: its own once one is: thousands of records read none)
        self.environ: set[str] | frozenset[str] = _NO_NAMES

    def update(self, other: Inputs | Sealed) -> None:
        if not isinstance(other, Inputs):  # a sealed record (see :func:`seal`)
            self._update_sealed(other)
            return
        files = self.files
        for path, value in other.files.items():
            if path not in files:
                files[path] = value
        if other.dirs:
            for path, folder in other.dirs.items():
                self.dirs.setdefault(path, folder)
        if other.names:
            for path, (folder, listed, names) in other.names.items():
                found = self.names.get(path)
                if found is None:
                    self.names[path] = (folder, listed, set(names))
                else:
                    found[2].update(names)
        if other.missing:
            self.missing |= other.missing
        self.tops |= other.tops
        if other.environ:
            self.environ = self.environ | other.environ
        modules = self.modules
        for name, file in other.modules.items():
            if name not in modules:
                modules[name] = file

    def _update_sealed(self, other: Sealed) -> None:
        """:meth:`update` from a :func:`seal`'ed record (its signatures made lists again;
        the flat tuples read five or seven at a time through one iterator)."""
        modules, files, dirs, names, missing, tops, environ = other
        if files:
            rows = self.files
            at = iter(files)
            for path, mtime, size, ctime, ino in zip(at, at, at, at, at, strict=True):
                if path not in rows:
                    rows[path] = None if mtime is None else [mtime, size, ctime, ino]
        if dirs:
            folders = self.dirs
            at = iter(dirs)
            for path, mtime, size, ctime, ino, sum_ in zip(at, at, at, at, at, at, strict=True):
                if path not in folders:
                    folders[path] = None if mtime is None else [mtime, size, ctime, ino, sum_]
        if names:
            at = iter(names)
            for path, mtime, size, ctime, ino, sum_, listed, looked in zip(
                at, at, at, at, at, at, at, at, strict=True
            ):
                found = self.names.get(path)
                if found is None:
                    value = None if mtime is None else [mtime, size, ctime, ino, sum_]
                    listing = None if listed is None else list(listed)
                    self.names[path] = (value, listing, set(looked))
                else:
                    found[2].update(looked)
        if missing:
            self.missing.update(missing)
        self.tops.update(tops)
        if environ:
            self.environ = self.environ.union(environ)
        own = self.modules
        at = iter(modules)
        for name, file in zip(at, at, strict=True):
            if name not in own:
                own[name] = file

    def add_file(self, path: str) -> str:
        """Record *path* (a module file) as read now; inside a zip, the archive.

        Returns the path recorded.  Files of the standard library are not recorded: the
        interpreter's identity in the environment header covers them.
        """
        if path in self.files:
            return path
        found = _span_file(path)
        if found is None:
            return path
        recorded, value = found
        self.files.setdefault(recorded, value)
        return recorded

    def add_dir(self, path: str) -> None:
        """Record folder *path* as listed now (each change of its listing matters)."""
        _add_dir_to([self], path)

    def add_names(self, path: str, names: set[str]) -> None:
        """Record that *names* were looked for in folder *path* (stat, then listing)."""
        _add_names_to([self], path, names)

    def add_traceback(self, exc: BaseException) -> None:
        """Files of the frames an exception passed through (a failing plugin's code)."""
        tb = exc.__traceback__
        while tb is not None:
            filename = tb.tb_frame.f_code.co_filename
            if (
                filename
                and not filename.startswith("<")
                and os.path.isabs(filename)
                and not filename.startswith(_ENGINE_DIR)  # the engine's caller of the hook
            ):
                self.add_file(filename)
            tb = tb.tb_next
        for chained in (exc.__cause__, exc.__context__):
            if chained is not None and chained is not exc:
                self.add_traceback(chained)


def _add_dir_to(records: list[Inputs], path: str) -> None:
    """:meth:`Inputs.add_dir` in each of *records* (nested recordings), the folder looked at
    once: a site folder of thousands of entries is listed for each record otherwise."""
    value: Any = _UNSEEN
    for inputs in records:
        if path not in inputs.dirs:
            if value is _UNSEEN:
                value = folder_sig(path)[0]
            inputs.dirs[path] = value


def _add_names_to(records: list[Inputs], path: str, names: set[str]) -> None:
    """:meth:`Inputs.add_names` in each of *records*, the folder looked at once."""
    look: Any = _UNSEEN
    for inputs in records:
        found = inputs.names.get(path)
        if found is not None:
            found[2].update(names)
            continue
        if look is _UNSEEN:
            look = folder_names(path)
        inputs.names[path] = (look[0], look[1], set(names))


_UNSEEN = object()


#: What :func:`seal` keeps of a record: ``(modules, files, dirs, names, missing, tops,
#: environ)``, each a flat tuple: ``name, file, ...``; ``path, mtime, size, ctime, inode,
#: ...`` (four None for a path that could not be stat'ed); for the names looked for,
#: ``path`` and its signature, then its listing (a tuple, or None) and the names (a
#: tuple); then the missing names; then the top-level names; then the variables read.
Sealed = tuple[
    "tuple[Any, ...]",
    "tuple[Any, ...]",
    "tuple[Any, ...]",
    "tuple[Any, ...]",
    "tuple[str, ...]",
    "tuple[str, ...]",
    "tuple[str, ...]",
]

_NO_SIG = (None, None, None, None)
_NO_FOLDER_SIG = (None, None, None, None, None)


def _flat(rows: dict[str, Any], missing: tuple[None, ...]) -> tuple[Any, ...]:
    out: list[Any] = []
    for path, value in rows.items():
        out.append(path)
        out += missing if value is None else value
    return tuple(out)


def seal(inputs: Inputs) -> Sealed:
    """*inputs*, complete, as this process keeps it for later records.

    Every module loaded under a recorder keeps what its load read (:data:`_loaded`,
    :data:`_import_log`), for the plugins that import it later from ``sys.modules``: at
    2000 plugins some 6,000 records.  As :class:`Inputs` (an object, dicts of lists, sets)
    they were ~28,000 objects that the cyclic collector traverses in every collection of
    their generation for the life of the process: a full collection after a cold start at
    2000 plugins took 28 ms, now 17; the passes at exit ~45 ms more.  Flat tuples of
    strings and numbers it stops tracking at its next passes (one per level of nesting:
    nested pairs stayed tracked for longer, and saved nothing).  :meth:`Inputs.update`
    reads either form.
    """
    names: list[Any] = []
    for path, (value, listed, looked) in inputs.names.items():
        names.append(path)
        names += _NO_FOLDER_SIG if value is None else value
        names.append(None if listed is None else tuple(listed))
        names.append(tuple(looked))
    modules: list[Any] = []
    for name, file in inputs.modules.items():
        modules += (name, file)
    return (
        tuple(modules),
        _flat(inputs.files, _NO_SIG),
        _flat(inputs.dirs, _NO_FOLDER_SIG),
        tuple(names),
        tuple(inputs.missing),
        tuple(inputs.tops),
        tuple(inputs.environ),
    )


def _stdlib_roots() -> tuple[str, ...]:
    """The standard library's folder, absolute and real, with a separator at the end.

    It is the folder of ``os``'s source: ``sysconfig``'s ``stdlib`` path in every scheme
    (``lib-dynload`` lies inside it).  Found so, not through ``sysconfig``, whose import
    and configuration data cost ~1.5 ms in every process that records (each changed
    start).  Where ``os`` has no file (an embedded interpreter), ``sysconfig`` says.
    A folder ``sysconfig`` counts as ``platstdlib`` and this does not (a venv's own
    ``lib/pythonX.Y``, Windows' ``DLLs``) only has its files recorded: one more ``stat``
    each, never a file left out.
    """
    where = getattr(os, "__file__", None)
    if isinstance(where, str) and os.path.isabs(where):
        folders = [os.path.dirname(where)]
    else:
        import sysconfig

        paths = sysconfig.get_paths()
        folders = [paths[k] for k in ("stdlib", "platstdlib") if k in paths]
    forms = {os.path.abspath(f) + os.sep for f in folders}
    forms |= {os.path.realpath(f) + os.sep for f in folders}
    return tuple(sorted(forms))


_STDLIB = _stdlib_roots()

#: A site folder inside the standard library's (an interpreter installed without a venv,
#: a distribution's ``dist-packages``) holds distributions, whose files are inputs.
_SITE_PARTS = (f"{os.sep}site-packages{os.sep}", f"{os.sep}dist-packages{os.sep}")


def _in_stdlib(path: str) -> bool:
    """Whether *path* (absolute) is a file of the standard library, not recorded: the
    interpreter, part of every document's checked header, stands for it."""
    return path.startswith(_STDLIB) and _SITE_PARTS[0] not in path and _SITE_PARTS[1] not in path


def _archive_of(path: str) -> str | None:
    """The zip archive holding *path* (``/x/plugins.zip/pkg/mod.py``), if any."""
    head = path
    while True:
        parent = os.path.dirname(head)
        if not parent or parent == head:
            return None
        if _is_file(parent):
            return parent
        head = parent


class _Recorder:
    """A ``sys.meta_path`` finder that asks the finders after it and notes their answer."""

    def __init__(self) -> None:
        self.local = _thread._local()  # (threading.local: no threading import)

    def stack(self) -> list[Inputs]:
        try:
            stack: list[Inputs] = self.local.stack
        except AttributeError:
            stack = self.local.stack = []
        return stack

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        local = self.local
        stack = getattr(local, "stack", None)
        if not stack or getattr(local, "busy", False):
            return None
        if fullname.partition(".")[0] == _ENGINE:
            return None  # the engine's own code (lazy imports): its version is in the header
        local.busy = True
        try:
            spec = _find_after(self, fullname, path, target)
        finally:
            local.busy = False
        # what the answer says, worked out once and noted in every record concerned
        file, folders = _found_where(spec, path)
        for inputs in stack:
            _note(inputs, fullname, path, spec, file, folders)
        # what loading each module reads: whatever the bodies running now find, then the
        # module itself (whose body has not begun: it is not among them yet)
        for found in _loading_modules():
            _note(found, fullname, path, spec, file, folders)
        if spec is not None:
            own = _loaded[fullname] = Inputs()
            _note(own, fullname, path, spec, file, folders)
            chain = getattr(local, "chain", None)
            if chain is not None:
                chain.append((spec, own))
        return spec

    def find_distributions(self, context: Any = None) -> Any:
        """Note a look-up of installed distributions; find none (the finders after this one
        answer).  ``importlib.metadata`` (and its backport) asks every ``sys.meta_path``
        finder for them: ``entry_points()``, ``distributions()`` and
        ``packages_distributions()`` with no name (a scan), ``version(name)``,
        ``metadata(name)``, ``distribution(name)`` with one.  A plugin that gathers its
        own plugins by entry point, or picks its keys by a version, reads the metadata
        folders those calls read: see :func:`_note_distributions`."""
        _noting(_note_distributions, context)
        return iter(())

    def invalidate_caches(self) -> None:
        pass


def _noting(note: Callable[[list[Inputs], Any], None], what: Any) -> None:
    """``note(records, what)`` if this thread records and is not noting already, for the
    records concerned: the recording's and those of the module bodies running now.  A
    fault of the bookkeeping never breaks the plugin's call it watches."""
    local = _recorder.local
    stack = getattr(local, "stack", None)
    if not stack or getattr(local, "busy", False):
        return
    local.busy = True
    try:
        note([*stack, *_loading_modules()], what)
    except Exception:  # (as for imports: see _hooked_import)
        pass
    finally:
        local.busy = False


def _note_distributions(records: list[Inputs], context: Any) -> None:
    """Note in *records* the metadata folders a look-up of distributions reads.

    The folders of the context's path (``sys.path`` by default) are searched in order.
    For a scan, every folder's listing (a distribution installed, removed or upgraded
    there) and every metadata folder's ``entry_points.txt`` (edited in place).  For one
    name, the metadata folders of that name in the first folder that has one, their
    ``METADATA`` (or ``PKG-INFO``), and the listing of each folder before it (one of
    that name may appear there first; every folder if there is none).  A folder of the
    standard library is left out (the interpreter stands for it); a zip archive on the
    path is recorded by its own stat.  ``METADATA`` of a scan's distributions is not
    recorded (a version edited in place, without a reinstall, is not seen).
    """
    name = getattr(context, "name", None)
    wanted = None if not isinstance(name, str) else _dist_key(name)
    for folder in _searched(getattr(context, "path", None), records):
        try:
            listed = _listdir(folder)
        except (OSError, ValueError):
            continue
        metas = sorted(e for e in listed if e.lower().endswith((".dist-info", ".egg-info")))
        if wanted is not None:
            metas = [meta for meta in metas if _dist_name(meta) == wanted]
            if metas:
                for meta in metas:
                    _add_dir_to(records, os.path.join(folder, meta))
                for inputs in records:
                    for meta in metas:
                        inputs.add_file(os.path.join(folder, meta, _metadata_file(meta)))
                return
        _add_dir_to(records, folder)
        for inputs in records:
            if wanted is None:
                for meta in metas:
                    inputs.add_file(os.path.join(folder, meta, "entry_points.txt"))


def _searched(path: Any, records: list[Inputs]) -> list[str]:
    """The folders of *path* (``sys.path`` if None) a look-up searches, absolute, but the
    standard library's (the interpreter stands for them); a zip archive among them is
    noted in *records* at once, by its own stat (what is inside is read with it)."""
    out = []
    for entry in list(sys.path if path is None else path):
        if not isinstance(entry, str):
            continue
        folder = os.path.abspath(entry or os.curdir)
        if _in_stdlib(folder + os.sep):
            continue
        if _is_file(folder):
            for inputs in records:
                inputs.add_file(folder)
            continue
        out.append(folder)
    return out


#: ``pkgutil.iter_modules`` as the recorder found it (see :func:`_hooked_iter_modules`).
_real_iter_modules: Any = None


def _hooked_iter_modules(path: Any = None, prefix: str = "") -> Any:
    """``pkgutil.iter_modules`` while a recorder is installed (``walk_packages`` calls it).

    A plugin that imports the modules of its package by listing them (``for info in
    iter_modules(__path__)``) reads the package's folders: their listings are inputs of
    its record (a module added there is one more import), as a discovery package's are.
    """
    _noting(_note_listed, path)
    return _real_iter_modules(path, prefix)


def _note_listed(records: list[Inputs], path: Any) -> None:
    """Note in *records* the folders ``pkgutil.iter_modules(path)`` lists."""
    for folder in _searched(path, records):
        _add_dir_to(records, folder)


# -- what a plugin reads itself: data files, folders it lists, paths it tests ---------------
#: Folders whose entries are the kernel's state, not files: a stat there tells nothing of
#: what a read returns (``/proc/self/...`` is another process's in each one).
_PSEUDO = tuple(f"/{top}/" for top in ("proc", "sys", "dev")) if os.name == "posix" else ()

#: The interpreter's bytecode folders: it writes them while discovery imports (a module's
#: first import lists nothing new but changes ``__pycache__``), and what they hold is the
#: recorded sources'.  ``pkgutil.iter_modules`` lists each subfolder of a package to tell a
#: package from a plain folder, ``__pycache__`` too: as an input, every first import there
#: would make the next start discover again.
_BYTECODE = os.sep + "__pycache__" + os.sep


#: Modules whose reads are noted by a hook of their own (:func:`_note_distributions`).
_NOTED_APART = ("importlib.metadata", "importlib_metadata")


def _reading() -> bool:
    """Whether this thread records now and the hooked call is a plugin's, not the engine's.

    The first frame above the hook that is not the standard library's (``pathlib``,
    ``glob``, ``genericpath``, ``importlib.resources`` call the hooked functions for the
    code that called them) decides: the engine's own reads during a recording (its
    listings of a discovery package, the bookkeeping) are no plugin's input.  Reads of
    ``importlib.metadata`` on the way are not either: :func:`_note_distributions` notes
    what a look-up of distributions depends on (its listing of a site folder, for a name
    found in the first, is not).
    """
    local = _recorder.local
    if not getattr(local, "stack", None) or getattr(local, "busy", False):
        return False
    frame: Any = sys._getframe(2)
    while frame is not None:
        file = frame.f_code.co_filename
        if file.startswith(_ENGINE_DIR):
            return False
        if str(frame.f_globals.get("__name__")).startswith(_NOTED_APART):
            return False
        if not (file.startswith("<") or _in_stdlib(file)):
            return True
        frame = frame.f_back
    return False


def _plugin_path(path: Any, records: list[Inputs]) -> str | None:
    """*path* (``str``, ``bytes`` or path-like) as the absolute path a read noted, or None:
    a file descriptor, a pseudo file system's path, a bytecode folder's, nothing a path
    names."""
    if isinstance(path, int):
        return None
    try:
        path = os.fsdecode(path)
    except TypeError:
        return None
    if "\0" in path:
        return None
    if not os.path.isabs(path):  # read in the working directory of each start: an input
        _note_environ(records, WORKING_DIRECTORY)
    where: str = os.path.abspath(path)
    if where.startswith(_PSEUDO) or _BYTECODE in where + os.sep:
        return None
    return where


def _hooked_open(file: Any, mode: Any = "r", *args: Any, **kwargs: Any) -> Any:
    """``open`` (and ``io.open``: ``pathlib``'s reads, ``importlib.resources``) while a
    recorder is installed: a file a plugin opens to read is an input of its record (keys
    taken from a bundled table), stat'ed before it is read (git's racy-clean rule), and
    recorded even when missing (a configuration file that may appear).  Writes are not
    inputs."""
    if _reading() and not (isinstance(mode, str) and ("w" in mode or "a" in mode or "x" in mode)):
        _noting(_note_read, file)
    return _real_open(file, mode, *args, **kwargs)


#: ``os.open`` as the process had it (see :func:`_hooked_os_open`).
_real_os_open = os.open

#: Flags of an ``os.open`` that writes (or may create or truncate): not an input.
_WRITING = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def _hooked_os_open(path: Any, flags: Any, *args: Any, **kwargs: Any) -> Any:
    """``os.open`` while a recorder is installed: a file a plugin opens read-only is an
    input, as with :func:`_hooked_open` (one opened relative to a folder descriptor,
    ``dir_fd``, is not seen: the descriptor names no path)."""
    if (
        _reading()
        and isinstance(flags, int)
        and not flags & _WRITING
        and kwargs.get("dir_fd") is None
        and len(args) < 2
    ):
        _noting(_note_read, path)
    return _real_os_open(path, flags, *args, **kwargs)


def _note_read(records: list[Inputs], file: Any) -> None:
    path = _plugin_path(file, records)
    if path is not None:
        for inputs in records:
            inputs.add_file(path)


def _hooked_stat(path: Any, *, dir_fd: Any = None, follow_symlinks: bool = True) -> Any:
    """``os.stat`` while a recorder is installed: ``os.path.exists``, ``isfile``, ``isdir``,
    ``getmtime`` and ``pathlib``'s ``exists``/``is_file``/``stat`` call it.  A plugin that
    reads an optional file only if it exists decides on that: see :func:`_note_stat`."""
    if dir_fd is None and _reading():
        _noting(_note_stat, path)
    return _stat(path, dir_fd=dir_fd, follow_symlinks=follow_symlinks)


def _note_stat(records: list[Inputs], path: Any) -> None:
    """A file (or a missing path) stat'ed by a plugin is recorded as a read file: its
    appearance, removal or change is a change.  A folder is recorded by its name in its
    parent (a folder's own stat moves with every entry added there, and tested for
    existence it is not listed: its listing is not an input), or by its stat when its name
    is not one a listing compares (one with a dot)."""
    where = _plugin_path(path, records)
    if where is None:
        return
    try:
        folder = stat.S_ISDIR(_stat(where).st_mode)
    except (OSError, ValueError):
        folder = False
    if not folder:
        for inputs in records:
            inputs.add_file(where)
        return
    parent, leaf = os.path.split(where)
    if _in_stdlib(where + os.sep):
        return
    if leaf and "." not in leaf and parent != where:
        _add_names_to(records, parent, {leaf})
    else:
        _add_dir_to(records, where)


def _hooked_listdir(*args: Any, **kwargs: Any) -> Any:
    """``os.listdir`` while a recorder is installed (``pathlib.Path.iterdir``): the folder
    a plugin lists is an input of its record, as a ``pkgutil`` listing is."""
    if _reading():
        _noting(_note_folder, args[0] if args else kwargs.get("path"))
    return _listdir(*args, **kwargs)


def _hooked_scandir(*args: Any, **kwargs: Any) -> Any:
    """``os.scandir`` while a recorder is installed (``glob``, ``os.walk``,
    ``pathlib.Path.glob``): as :func:`_hooked_listdir`."""
    if _reading():
        _noting(_note_folder, args[0] if args else kwargs.get("path"))
    return _scandir(*args, **kwargs)


def _note_folder(records: list[Inputs], path: Any) -> None:
    where = _plugin_path(os.curdir if path is None else path, records)
    if where is not None and not _in_stdlib(where + os.sep):
        _add_dir_to(records, where)


#: ``importlib.util.find_spec`` as the recorder found it (see :func:`_hooked_find_spec`).
_real_find_spec: Any = None


def _hooked_find_spec(name: str, package: str | None = None) -> Any:
    """``importlib.util.find_spec`` while a recorder is installed.

    For a module imported already it answers from ``sys.modules`` and asks no finder, so
    the recorder would not see a plugin probing for an optional module that another plugin
    imported first (``if find_spec("cupy")``): the module found is then noted as a
    requirement imported already is (:func:`note_found`), its removal a change of the
    probing plugin's answer too.  A name not imported yet is looked up through the
    finders, which the recorder notes itself, found or not.
    """
    spec = _real_find_spec(name, package)
    if spec is not None and _reading():
        _noting(_note_probed, (name, package))
    return spec


def _note_probed(records: list[Inputs], probe: tuple[str, str | None]) -> None:
    name, package = probe
    if name.startswith("."):
        name = importlib.util.resolve_name(name, package)
    if name in sys.modules and name.partition(".")[0] != _ENGINE:
        for inputs in records:
            note_found(inputs, name)


#: The environment as the latest discovery found it when its recorder was installed:
#: what a variable a plugin reads is at the start of the next process too (a plugin that
#: sets one itself, ``os.environ.setdefault``, reads what it set).
_environ_start: dict[str, str] = {}
#: Environment variable -> its value (None: unset) when a plugin of this process first read
#: it while recorded (in :data:`_environ_start`): the value each document's rows digest.
#: Which records read it, each record says (:attr:`Inputs.environ`: a module that read
#: one at import passes it on to every plugin importing it later, through its load
#: record); a document keeps the rows its records name (:func:`environ_rows`).
_environ_read: dict[str, str | None] = {}

#: The digest of a variable whose value moved between discoveries of this process: never
#: matches (``hash`` is never -1), so the next start rediscovers.
_MOVED = -1


if TYPE_CHECKING:
    _Environ = os._Environ[Any]
else:
    _Environ = os._Environ


class _WatchedEnviron(_Environ):
    """``os.environ``'s class while a recorder is installed: a variable a plugin reads
    (``os.environ[...]``, ``.get``, ``in``, ``os.getenv`` all go through ``__getitem__``)
    is noted in :data:`_environ_read`.  One read while the environment is walked
    (iterated, copied, ``dict(os.environ)``) is not: a module that copies the environment
    (for a subprocess) would name ``PWD``, ``OLDPWD``, ``SHLVL``, which move at every
    start, and the names present are not watched either."""

    def __iter__(self) -> Any:
        local = _recorder.local
        walked = local.walked = set()
        for name in os._Environ.__iter__(self):
            walked.add(name)
            yield name

    def __getitem__(self, key: Any) -> Any:
        if _reading():
            walked = getattr(_recorder.local, "walked", None)
            if walked and key in walked:
                walked.discard(key)  # (a walk's read: dict(), .copy(), .items())
            else:
                name = key if isinstance(key, str) else os.fsdecode(key)
                _noting(_note_environ, name)
        return os._Environ.__getitem__(self, key)


def _note_environ(records: list[Inputs], name: str) -> None:
    """Note in *records* that variable *name* was read, and its value in this process
    (:data:`_environ_read`) if it is the first read."""
    if name not in _environ_read:
        _environ_read[name] = _environ_start.get(name)
    for inputs in records:
        if name not in inputs.environ:
            inputs.environ = inputs.environ | {name}


def _watch_environ(on: bool) -> None:
    """Give ``os.environ`` (and ``os.environb``) :class:`_WatchedEnviron`'s class (*on*),
    with a copy of the environment now, or their own back."""
    if on:
        _environ_start.clear()
        _environ_start.update(os.environ)
        cwd = environ_value(WORKING_DIRECTORY)
        if cwd is not None:
            _environ_start[WORKING_DIRECTORY] = cwd
    environ: Any
    for environ in (os.environ, getattr(os, "environb", None)):
        if on and type(environ) is os._Environ:
            environ.__class__ = _WatchedEnviron
        elif not on and type(environ) is _WatchedEnviron:
            environ.__class__ = os._Environ  # type: ignore[assignment]


def environ_rows(previous: Any = None, read: set[str] | None = None) -> list[list[Any]]:
    """The environment section's ``environ`` rows, ``[name, digest]`` sorted by name: those
    of *previous* (a document's rows, checked at this start: reused records' plugins read
    them) and every variable a plugin of this process read (:data:`_environ_read`), as
    :func:`._environment.environ_digest` of its value now, or :data:`_MOVED` if that moved
    since it was read; only those the records of the document name, if *read* says
    which (a variable no plugin reads any more, or read for another registry, is none of
    this document's inputs)."""
    rows: dict[str, Any] = {}
    if type(previous) is list:
        for row in previous:
            if type(row) is list and len(row) == 2 and type(row[0]) is str:
                rows[row[0]] = row[1]
    for name, value in _environ_read.items():
        now = _environ_start.get(name)
        rows[name] = environ_digest(now) if now == value else _MOVED
    names = sorted(rows) if read is None else sorted(read.intersection(rows))
    return [[name, rows[name]] for name in names]


#: ``(namespace, name, the function there, its hook)`` for each file function hooked while
#: a recorder is installed: ``open`` (``builtins`` and ``io``), ``os.open``, ``os.stat``,
#: ``os.listdir``, ``os.scandir``.  (``lstat`` is not: ``os.path.realpath`` calls it on
#: every part of a path, and what a plugin decides by a link is left out.)
_FILE_HOOKS: list[tuple[Any, str, Any, Any]] = [
    (builtins, "open", _real_open, _hooked_open),
    (io, "open", io.open, _hooked_open),
    (os, "open", _real_os_open, _hooked_os_open),
    (os, "stat", _stat, _hooked_stat),
    (os, "listdir", _listdir, _hooked_listdir),
    (os, "scandir", _scandir, _hooked_scandir),
]


def _hook_files(on: bool) -> None:
    """Put the file hooks in place (*on*) or take them out; never replace or undo a
    function someone else put there meanwhile.

    Python 3.10's ``pathlib`` reads through the functions its ``_NormalAccessor`` class
    took from ``os`` and ``io`` when it was imported (``Path.read_text``, ``exists``,
    ``iterdir``, and ``importlib.resources`` with them): their class attributes are hooked
    too, as static methods (3.11 calls ``os`` and ``io`` at each use).
    """
    targets = list(_FILE_HOOKS)
    accessor = getattr(sys.modules.get("pathlib"), "_NormalAccessor", None)
    if isinstance(accessor, type):
        targets += [
            (accessor, name, real, hook)
            for _ns, name, real, hook in _FILE_HOOKS
            if _ns is not builtins and name in vars(accessor)
        ]
    for namespace, name, real, hook in targets:
        now = getattr(namespace, name, None)
        if on and now is real:
            setattr(namespace, name, staticmethod(hook) if isinstance(namespace, type) else hook)
        elif not on and now is hook:
            setattr(namespace, name, real)


def _dist_key(name: str) -> str:
    """A distribution name as ``importlib.metadata`` compares them (PEP 503, underscores)."""
    return re.sub(r"[-_.]+", "_", name).lower()


def _dist_name(meta: str) -> str:
    """The :func:`_dist_key` of metadata folder *meta* (``name-version.dist-info``, or
    ``name.egg-info`` as a development install writes it)."""
    stem = meta.rpartition(".")[0]
    return _dist_key(stem.partition("-")[0])


def _metadata_file(meta: str) -> str:
    """The file holding a metadata folder's name and version."""
    return "METADATA" if meta.lower().endswith(".dist-info") else "PKG-INFO"


def _find_after(me: Any, fullname: str, path: Any, target: Any) -> Any:
    finders = sys.meta_path
    try:
        start = finders.index(me) + 1
    except ValueError:
        start = 0
    for finder in finders[start:]:
        find = getattr(finder, "find_spec", None)
        if find is None:
            continue
        spec = find(fullname, path, target)
        if spec is not None:
            return spec
    return None


def _found_where(spec: Any, path: Any) -> tuple[str | None, list[str]]:
    """The module file of *spec* (absolute; None: no file or not found) and the folders of
    its package's *path* to record the leaf name as looked for in: every folder for a name
    not found, the folders before the one holding the file for a name found (see
    :func:`_note`).  Computed once per look-up, whatever number of records notes it."""
    file = None
    if spec is not None:
        origin = getattr(spec, "origin", None)
        if getattr(spec, "has_location", False) and isinstance(origin, str):
            file = os.path.abspath(origin)
        else:
            return None, []  # no file: nothing looked for in the folders
    if path is None:
        return file, []
    folders = []
    for folder in path:
        if not isinstance(folder, str):
            continue
        folder = os.path.abspath(folder)
        if file is not None and file.startswith(folder + os.sep):
            break
        folders.append(folder)
    return file, folders


def _note(
    inputs: Inputs, fullname: str, path: Any, spec: Any, file: str | None, folders: list[str]
) -> None:
    """Note in *inputs* that *fullname* was looked for (in package *path*) and found as
    *spec* (None: not found); *file* and *folders* are :func:`_found_where`'s."""
    inputs.tops.add(fullname.partition(".")[0])
    if spec is None:
        inputs.missing.add(fullname)
        if folders:  # a submodule not found: its parent's folders decide
            leaf = {fullname.rpartition(".")[2]}
            for folder in folders:
                inputs.add_names(folder, leaf)
        return
    # A module found is watched through its file (and its package's ``__init__``); its
    # folder is not: a file added beside it does not change what it read.  A top-level
    # name appearing earlier on ``sys.path`` is seen through the entries' names.
    if file is not None:
        inputs.modules.setdefault(fullname, inputs.add_file(file))
        if folders:
            # A submodule found in a later folder of its package's path: the earlier ones
            # missed it.  A namespace package spans several folders (``p1/pkg``,
            # ``p2/pkg``); ``pkg.mod`` found in ``p2/pkg`` becomes ``p1/pkg/mod.py`` the
            # moment such a file appears in the earlier folder, so the name is recorded as
            # looked for there (a regular package has one folder: nothing).
            _note_passed_over(inputs, fullname.rpartition(".")[2], folders)
    else:
        inputs.modules.setdefault(fullname, None)
        if path is not None:  # (a top-level name's portions: see shadow_dirs)
            _note_portions(inputs, getattr(spec, "submodule_search_locations", None))
    if path is not None:  # its parents were imported before it, maybe by someone else
        _add_parents(inputs, fullname)


def _note_passed_over(inputs: Inputs, leaf: str, folders: list[str]) -> None:
    """Note that submodule *leaf* was looked for in its package's *folders* before the one
    it was found in.  A folder of that name there (a namespace portion, passed over for
    the regular package found later) takes the name over when it gains ``__init__``,
    which its parent's listing does not show: it is watched for that."""
    for folder in folders:
        inputs.add_names(folder, {leaf})
        _note_portion(inputs, os.path.join(folder, leaf))


def _note_portions(inputs: Inputs, portions: Any) -> None:
    """A namespace package's *portions*: the first to gain ``__init__`` becomes the
    package, without the others' modules."""
    for portion in portions or ():
        if isinstance(portion, str):
            _note_portion(inputs, os.path.abspath(portion))


def _note_portion(inputs: Inputs, folder: str) -> None:
    """Watch *folder*, if it is one, for ``__init__`` (see :func:`shadow_dirs`)."""
    try:
        is_folder = stat.S_ISDIR(_stat(folder).st_mode)
    except (OSError, ValueError):
        return
    if is_folder and not _in_stdlib(folder + os.sep):
        inputs.add_names(folder, {"__init__"})


def note_found(inputs: Inputs, names: Any) -> None:
    """Record the modules named in *names* that are imported already (``requires_modules``).

    ``find_spec`` answers an imported name from ``sys.modules`` without asking the finders,
    so the recorder would not see it: a requirement another plugin happened to import
    first would otherwise not be an input of this one, and its removal would go unseen.
    """
    if isinstance(names, str):
        names = (names,)
    if not isinstance(names, (tuple, list)):
        return
    for name in names:
        module = sys.modules.get(name) if isinstance(name, str) else None
        if module is None:
            continue
        inputs.tops.add(name.partition(".")[0])
        file = getattr(module, "__file__", None)
        if isinstance(file, str):
            inputs.modules.setdefault(name, inputs.add_file(os.path.abspath(file)))
        else:
            inputs.modules.setdefault(name, None)
        _add_parents(inputs, name)


def _loading_modules() -> list[Inputs]:
    """The records of the modules whose body is running on this thread now (the import
    chain), innermost first.

    They are among the modules this thread found under its outermost recording (a module
    found under a recording is loaded inside it, so no body running above it is one of
    them), kept with their spec as :meth:`_Recorder.find_spec` returned it: the import
    system marks that spec ``_initializing`` from the start of the body to its end (then
    False, whether the body succeeded or raised).  Found modules whose body ended are
    dropped here; ones found and not loaded (``importlib.util.find_spec``) wait, unmarked,
    until the outermost recording ends; either way their record is then kept sealed.
    (Walking the frames up to that recording's, as before, told which bodies run, not
    which ended.)
    """
    chain = getattr(_recorder.local, "chain", None)
    if not chain:
        return []
    out = []
    ended = False
    for spec, inputs in chain:
        state = getattr(spec, "_initializing", None)
        if state:
            out.append(inputs)
        elif state is False:
            ended = True
    if ended:  # complete: kept sealed from now on
        keep = []
        for pair in chain:
            if getattr(pair[0], "_initializing", None) is False:
                _seal_loaded(*pair)
            else:
                keep.append(pair)
        chain[:] = keep
    out.reverse()
    return out


def _seal_loaded(spec: Any, inputs: Inputs) -> None:
    """Keep *inputs*, what loading *spec*'s module read, sealed (see :func:`seal`): its body
    ended (or it was found and never loaded), nothing is added to it any more."""
    name = getattr(spec, "name", None)
    if isinstance(name, str) and _loaded.get(name) is inputs:
        _loaded[name] = seal(inputs)


#: Module name -> what loading it read (its own file, then everything found while its body
#: ran), for every module loaded under a recorder in this process.  A plugin whose
#: ``import x`` is answered from ``sys.modules`` (another plugin loaded ``x`` first) asks no
#: finder: it takes ``x``'s inputs from here (see :func:`_hooked_import`).
_loaded: dict[str, Inputs | Sealed] = {}

#: Module name -> its own file, for modules loaded before any recorder ran that a recorded
#: import found in ``sys.modules`` (the same for every plugin that imports them).
_preloaded: dict[str, Sealed] = {}

#: Modules a cached import does not record: the standard library (the interpreter's
#: identity covers it) and this engine (its version is in every document's header).
_unrecorded: set[str] = set(sys.builtin_module_names)
_ENGINE = __name__.partition(".")[0]
#: The engine's folder: its files are never a plugin's input (the version in every
#: document's header covers them), not even as frames of a plugin's traceback.
_ENGINE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep

_real_import = __import__
_real_import_module = importlib.import_module


def _hooked_import(
    name: str,
    globals: Any = None,
    locals: Any = None,
    fromlist: Any = (),
    level: int = 0,
) -> Any:
    """``__import__`` while a recorder is installed: also notes imports ``sys.modules`` answered."""
    module = _real_import(name, globals, locals, fromlist, level)
    local = _recorder.local
    stack = getattr(local, "stack", None)
    if stack and not getattr(local, "busy", False):
        if not fromlist and not level and name in _unrecorded:
            return module  # ``import io`` (every module load's ``io.open_code`` does it)
        try:
            _note_cached(stack, name, globals, fromlist, level)
        except Exception:  # never break the plugin's import over bookkeeping
            pass
    return module


def _hooked_import_module(name: str, package: str | None = None) -> Any:
    """``importlib.import_module`` while a recorder is installed (as :func:`_hooked_import`)."""
    module = _real_import_module(name, package)
    local = _recorder.local
    stack = getattr(local, "stack", None)
    if stack and not getattr(local, "busy", False):
        try:
            _note_cached(stack, module.__name__, None, (), 0)
        except Exception:  # never break the plugin's import over bookkeeping
            pass
    return module


def _note_cached(stack: list[Inputs], name: str, globals: Any, fromlist: Any, level: int) -> None:
    if level > 0:
        package = (globals or {}).get("__package__") or ""
        if not package:
            return
        base = package.rsplit(".", level - 1)[0]
        name = f"{base}.{name}" if name else base
    if name.partition(".")[0] == _ENGINE:
        return  # the engine's lazy imports (never recorded: its version is in the header)
    touched = []
    parts = name.split(".")
    for depth in range(1, len(parts) + 1):
        touched.append(".".join(parts[:depth]))
    for item in fromlist or ():
        if isinstance(item, str) and item != "*":
            touched.append(f"{name}.{item}")
    innermost = stack[-1]
    loading = _loading_modules()
    for mod_name in touched:
        if mod_name in _unrecorded:
            continue
        # The records still without it: the recording's (the innermost has whatever the
        # outer ones have) and those of the bodies running now.  A body's own record is
        # what a later plugin importing that module takes (from ``sys.modules``): what the
        # body found there is its input even when its importer had imported it first.
        stacked = mod_name not in innermost.modules
        bodies = [found for found in loading if mod_name not in found.modules]
        if not stacked and not bodies:
            continue
        module = sys.modules.get(mod_name)
        if module is None:
            continue  # an attribute, not a submodule
        source = _loaded.get(mod_name) or _preloaded.get(mod_name)
        if source is None:
            file = getattr(module, "__file__", None)
            if mod_name.partition(".")[0] == _ENGINE or (
                isinstance(file, str) and _in_stdlib(os.path.abspath(file))
            ):
                _unrecorded.add(mod_name)
                continue
            # loaded before any recorder: its own file is what we know, stat'ed once (it was
            # read before this process recorded anything: a later stat is no closer to that)
            own = Inputs()
            own.tops.add(mod_name.partition(".")[0])
            if isinstance(file, str):
                own.modules[mod_name] = own.add_file(os.path.abspath(file))
            else:
                own.modules[mod_name] = None
            source = _preloaded[mod_name] = seal(own)
        if stacked:
            for inputs in stack:
                inputs.update(source)
        for found in bodies:
            if found is not source:
                found.update(source)


_recorder = _Recorder()
_install_lock = _thread.allocate_lock()  # (threading.Lock, as _thread gives it)
_installed = 0

#: Module name -> what loading it read, for modules loaded under a recorder in this process.
#: A second registry loading the same entry point finds it in ``sys.modules`` and reads
#: nothing: it takes the record of the first load from here.
_import_log: dict[str, Sealed] = {}


#: What :meth:`Inputs.add_file` records for a path (see :func:`_file_record`), worked out
#: while the hooks are installed: a file noted by several records (each plugin's, each
#: loading module's, each of their parents') is stat'ed once per run.  The first stat of a
#: path precedes every read of it noted after it, so a record holding it is never newer
#: than what was read (a change after it is a change).
_sigs: dict[str, tuple[str, Sig] | None] = {}


def _file_record(path: str) -> tuple[str, Sig] | None:
    """What :meth:`Inputs.add_file` records for *path*: the path (the archive's, for a file
    inside a zip) and its stat signature; None for a file of the standard library."""
    if _in_stdlib(path):
        return None
    value = sig(path)
    if value is None:
        archive = _archive_of(path)
        if archive is not None:
            return archive, sig(archive)
    return path, value


def _span_file(path: str) -> tuple[str, Sig] | None:
    """:func:`_file_record` of *path*, the one worked out first during this run of the
    hooks (see :data:`_sigs`)."""
    if not _installed:
        return _file_record(path)
    try:
        return _sigs[path]
    except KeyError:
        found = _sigs[path] = _file_record(path)
        return found


def _install() -> None:
    global _installed, _real_iter_modules, _real_find_spec

    with _install_lock:
        if _installed == 0:
            _sigs.clear()
            # ``typing`` is imported before any plugin is loaded, whatever the process
            # imported before (an application, pytest, or a bare script): a module the
            # process had imported already is not a plugin's recorded input, one it
            # imports first is, so without this a plugin's record would name ``typing``
            # or not depending on who wrote the document, and an edit read again by
            # another kind of process would not match it (the path over the whole
            # document, not the sections').  Free where it runs: plugins loaded are
            # called through pluggy, which imports it.
            import typing  # noqa: F401

            if _recorder not in sys.meta_path:
                sys.meta_path.insert(0, _recorder)
            if builtins.__import__ is _real_import:
                builtins.__import__ = _hooked_import
            if importlib.import_module is _real_import_module:
                importlib.import_module = _hooked_import_module
            import pkgutil  # (a discovery imports it anyway: its scan of packages)

            if pkgutil.iter_modules is not _hooked_iter_modules:
                _real_iter_modules = pkgutil.iter_modules
                pkgutil.iter_modules = _hooked_iter_modules
            _hook_files(True)
            _watch_environ(True)
            if importlib.util.find_spec is not _hooked_find_spec:
                _real_find_spec = importlib.util.find_spec
                importlib.util.find_spec = _hooked_find_spec
        _installed += 1


def _uninstall() -> None:
    global _installed

    with _install_lock:
        _installed -= 1
        if _installed == 0:
            _sigs.clear()
            try:
                sys.meta_path.remove(_recorder)
            except ValueError:
                pass
            if builtins.__import__ is _hooked_import:  # never undo someone else's hook
                builtins.__import__ = _real_import
            if importlib.import_module is _hooked_import_module:
                importlib.import_module = _real_import_module
            listing: Any = sys.modules.get("pkgutil")
            if getattr(listing, "iter_modules", None) is _hooked_iter_modules:
                listing.iter_modules = _real_iter_modules
            _hook_files(False)
            _watch_environ(False)
            util: Any = sys.modules.get("importlib.util")
            if getattr(util, "find_spec", None) is _hooked_find_spec:
                util.find_spec = _real_find_spec


class _Installed:
    """:func:`installed`'s context manager (a class: entered once per plugin recorded,
    where a generator-based one costs several microseconds more)."""

    __slots__ = ()

    def __enter__(self) -> None:
        _install()

    def __exit__(self, *exc: object) -> None:
        _uninstall()


def installed() -> _Installed:
    """The recorder's finder and import hooks in place meanwhile (nests; counted).

    :func:`recording` installs them for its own span; a discovery holds them for the whole
    run, so that recording each of thousands of plugins does not put them in and take them
    out again each time.  With no recording on a thread's stack they note nothing.
    """
    return _Installed()


class _Recording:
    """:func:`recording`'s context manager."""

    __slots__ = ("inputs",)

    def __init__(self, inputs: Inputs) -> None:
        self.inputs = inputs

    def __enter__(self) -> Inputs:
        _install()
        stack = _recorder.stack()
        if not stack:  # the modules found from here on (see :func:`_loading_modules`)
            _recorder.local.chain = []
        stack.append(self.inputs)
        return self.inputs

    def __exit__(self, *exc: object) -> None:
        stack = _recorder.stack()
        stack.pop()
        if not stack:
            for pair in _recorder.local.chain or ():
                _seal_loaded(*pair)
            _recorder.local.chain = None
            _recorder.local.walked = None  # (see _WatchedEnviron)
        _uninstall()


def recording(inputs: Inputs) -> _Recording:
    """Record into *inputs* what the current thread imports meanwhile (nests)."""
    return _Recording(inputs)


_by_top: dict[str, list[str]] = {}
_by_top_size = -1


def _modules_under(top: str) -> list[str]:
    """Loaded module names of top-level package *top* (an index rebuilt when imports grew)."""
    global _by_top_size
    if len(sys.modules) != _by_top_size:
        _by_top.clear()
        for mod_name in list(sys.modules):
            _by_top.setdefault(mod_name.partition(".")[0], []).append(mod_name)
        _by_top_size = len(sys.modules)
    return _by_top.get(top, [])


_known: dict[str, Sealed] = {}
_known_size = -1


def known_inputs(name: str) -> Sealed:
    """What loading the already-imported module *name* read, as well as we can tell
    (sealed: :meth:`Inputs.update` takes it).

    Loaded under a recorder earlier in this process: that record.  Loaded by other code
    before discovery: every loaded module of the same top-level package (its helpers).
    """
    global _known_size
    if len(sys.modules) != _known_size:
        _known.clear()
        _known_size = len(sys.modules)
    found = _known.get(name)
    if found is not None:
        return found
    top = name.partition(".")[0]
    out = Inputs()
    logged = _import_log.get(name) or _loaded.get(name)
    if logged is not None:
        out.update(logged)
    out.tops.add(top)
    for mod_name in _modules_under(top):
        module = sys.modules.get(mod_name)
        file = getattr(module, "__file__", None)
        if isinstance(file, str):
            out.modules.setdefault(mod_name, out.add_file(os.path.abspath(file)))
    found = _known[name] = seal(out)
    return found


def import_module(name: str, inputs: Inputs) -> Any:
    """``importlib.import_module(name)``, recording what it read into *inputs*.

    Raises whatever the import raises (the caller isolates it); the files of the failing
    code are recorded first, so that fixing them is seen.
    """
    if name in sys.modules:
        inputs.update(known_inputs(name))
        _add_parents(inputs, name)
        return _real_import_module(name)
    own = Inputs()
    try:
        with recording(own):
            module = _real_import_module(name)
    except BaseException as exc:
        own.add_traceback(exc)
        _add_parents(own, name)
        inputs.update(own)
        raise
    _add_parents(own, name)
    _import_log[name] = seal(own)
    inputs.update(own)
    return module


def _add_parents(inputs: Inputs, name: str) -> None:
    """Record the files of the packages above *name* (``pkg/__init__.py`` for ``pkg.mod``).

    Which file ``pkg.mod`` is depends on which folder ``pkg`` is: a regular package losing its
    ``__init__.py`` (a later ``sys.path`` entry's ``pkg`` then wins) changes that file only;
    a folder passed over for it in its own package's path (``ns.pkg``, with ``ns`` a
    namespace package) gaining ``__init__`` takes it over, and so do a namespace parent's
    portions (both watched as :func:`_note` watches them for the parent's own import).
    The parent is usually imported already (a discovery package's listing imported it), so
    the recorder did not see it: its file is taken from ``sys.modules``.  Only the parents'
    own files, never their other submodules: a plugin depends on its package, not on its
    siblings.
    """
    head, dot, _ = name.rpartition(".")
    if not dot or ("." not in head and head in inputs.modules):
        return  # a top-level name, or a package's module whose package is recorded
    parts = name.split(".")
    for depth in range(1, len(parts)):
        parent = ".".join(parts[:depth])
        if parent in inputs.modules:
            continue
        module = sys.modules.get(parent)
        if module is None:
            return
        file = getattr(module, "__file__", None)
        if isinstance(file, str):
            file = os.path.abspath(file)
            inputs.modules[parent] = inputs.add_file(file)
            if depth > 1:  # (a top-level name: its sys.path entries are judged apart)
                above = sys.modules.get(".".join(parts[: depth - 1]))
                path = getattr(above, "__path__", None)
                if path is not None:
                    folders = _found_where(getattr(module, "__spec__", None), path)[1]
                    _note_passed_over(inputs, parts[depth - 1], folders)
        elif depth > 1:
            _note_portions(inputs, getattr(module, "__path__", None))


class _Calling(_Recording):
    """:func:`calling`'s context manager."""

    __slots__ = ()

    def __exit__(self, *exc: object) -> None:
        super().__exit__()
        error = exc[1] if len(exc) > 1 else None
        if isinstance(error, BaseException):
            self.inputs.add_traceback(error)


def calling(inputs: Inputs) -> _Calling:
    """Record what a hook call imports (and, if it raises, the files it ran through)."""
    return _Calling(inputs)


def shadow_dirs(
    tops: set[str],
    entries: list[str],
    listed: dict[str, list[str] | None] | None = None,
    known: set[str] | frozenset[str] = frozenset(),
    names: dict[str, set[str]] | None = None,
) -> dict[str, Sig]:
    """Namespace portions named after a recorded top-level name, up to the one that wins.

    The import system walks ``sys.path`` in order: a module file or a regular package
    (a folder with ``__init__.py``) wins at once; a folder without one is a namespace
    portion and the search goes on.  Such a portion gaining ``__init__.py`` takes over the
    name, so each portion met before the winner is recorded (its ``__init__`` is then
    watched by name).  Whether a folder of that name exists at all is covered by the
    entries' recorded names.  One listing per entry, then set look-ups: a few ``stat``
    calls per recorded name at most.  *listed* holds listings already taken, *names* their
    :func:`importable_names` when known; *known* the files already recorded (an
    ``__init__.py`` among them settles a name without a stat).
    """
    listed = listed or {}
    names = names or {}
    # the entries providing each recorded name, in sys.path order: one set intersection
    # per entry instead of one look-up per recorded name and entry (thousands of names)
    providers: dict[str, list[tuple[str, set[str]]]] = {}
    for entry in entries:
        found = listed.get(entry)
        if found is None:
            try:
                found = os.listdir(entry)
            except (OSError, ValueError):
                continue
        provided = names.get(entry)
        if provided is None:
            provided = importable_names(found)
        here = provided & tops
        if not here:
            continue
        files = set(found)
        # ``os.path.join(entry, top)`` by hand (thousands of names at a large plugin set)
        prefix = entry if not entry or entry.endswith(os.sep) else entry + os.sep
        for top in here:
            at = providers.get(top)
            if at is None:
                providers[top] = [(prefix, files)]
            else:
                at.append((prefix, files))
    out: dict[str, Sig] = {}
    init_leaf = os.sep + "__init__.py"
    for top in tops:
        for prefix, files in providers.get(top, ()):
            if top not in files:
                break  # only a module file of that name: it wins
            candidate = prefix + top
            init = candidate + init_leaf
            if init in known or os.path.exists(init):
                break  # a regular package: it wins
            if not os.path.isdir(candidate):
                break
            out[candidate] = sig(candidate)
    return out
