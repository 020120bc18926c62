"""Loggers that cost nothing until something is worth logging.

Importing :mod:`logging` costs ~5 ms (it pulls in traceback, string, textwrap, threading),
which is as much as the whole rest of a warm start.  Debug and info records can only reach
a handler if the application configured logging, which means it imported the module; so
until ``logging`` is in ``sys.modules`` those records are dropped without importing it.
Warnings always go out: they import logging on first use.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    import logging

_WARNING = 30


class LazyLogger:
    """The subset of :class:`logging.Logger` the engine uses, bound lazily."""

    __slots__ = ("_logger", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._logger: logging.Logger | None = None

    def _get(self, force: bool) -> logging.Logger | None:
        logger = self._logger
        if logger is None:
            if not force and "logging" not in sys.modules:
                return None
            import logging

            logger = self._logger = logging.getLogger(self.name)
        return logger

    def isEnabledFor(self, level: int) -> bool:
        logger = self._get(level >= _WARNING)
        return logger is not None and logger.isEnabledFor(level)

    def log(self, level: int, msg: str, *args: object) -> None:
        logger = self._get(level >= _WARNING)
        if logger is not None:
            logger.log(level, msg, *args, stacklevel=2)

    def debug(self, msg: str, *args: object) -> None:
        logger = self._get(False)
        if logger is not None:
            logger.debug(msg, *args, stacklevel=2)

    def info(self, msg: str, *args: object) -> None:
        logger = self._get(False)
        if logger is not None:
            logger.info(msg, *args, stacklevel=2)

    def warning(self, msg: str, *args: object) -> None:
        logger = self._get(True)
        assert logger is not None
        logger.warning(msg, *args, stacklevel=2)


def get_logger(name: str) -> LazyLogger:
    return LazyLogger(name)
