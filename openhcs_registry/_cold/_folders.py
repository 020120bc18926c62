"""The default location's folders, one per Python environment: naming each, and removing
those whose environment is gone (cold: run when a folder is created, once per environment).

See :func:`.._paths.environment_folder` for why there is one folder per environment.
"""

from __future__ import annotations

import os
import stat
import sys

from .. import settings
from .._fileio import _uid, is_our_document, remove_document
from .._paths import cache_folder

#: The file in an environment's folder of the default location that names its environment
#: (``sys.prefix``): a later environment tells from it a folder whose environment is gone.
PREFIX_FILE = ".prefix"


def environment_created(folder: str) -> None:
    """*folder* was just created: if it is this environment's folder of the default
    location, name the environment in it and remove the folders of environments that
    are gone (cold: once per environment).

    An environment whose ``sys.prefix`` differs at every run (a one-file frozen
    application unpacks itself into a new temporary folder each time) would otherwise
    leave one folder per run.  A folder is removed only if it names its environment
    (:data:`PREFIX_FILE`, which this library writes), that prefix no longer exists, it
    belongs to this user, and nothing but our documents is in it; our documents are
    removed from it whatever else is there.  A folder of an environment on a drive not
    mounted now is removed too: its caches are rebuilt when it is back.
    """
    if os.environ.get(settings.CACHE_DIR_ENV) or os.path.abspath(folder) != os.path.abspath(
        cache_folder()
    ):
        return
    try:
        fd = os.open(
            os.path.join(folder, PREFIX_FILE),
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0),
            0o600,
        )
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as fh:
            fh.write(sys.prefix)
    except OSError:
        return
    here = os.path.abspath(folder)
    parent = os.path.dirname(here)
    uid = _uid()
    try:
        names = os.listdir(parent)
    except OSError:
        return
    for name in names:
        other = os.path.join(parent, name)
        if other == here:
            continue
        try:
            st = os.lstat(other)  # (a link, even to a folder, is not one of ours)
            if not stat.S_ISDIR(st.st_mode) or (uid is not None and st.st_uid != uid):
                continue
            with open(
                os.path.join(other, PREFIX_FILE), encoding="utf-8", errors="surrogateescape"
            ) as fh:
                prefix = fh.read(4096)
            if not prefix or os.path.exists(prefix):
                continue
            left = []
            for entry in os.listdir(other):
                path = os.path.join(other, entry)
                if entry == PREFIX_FILE:
                    continue
                if not (is_our_document(path) and remove_document(path)):
                    left.append(entry)
            if not left:
                os.unlink(os.path.join(other, PREFIX_FILE))
                os.rmdir(other)
        except OSError:  # (a folder of another kind, or one going away meanwhile)
            continue
