"""Built-in microscope handlers (one module per microscope, scanned as a discovery package).

The hookimpl lists them explicitly too, so the entry-point road is exercised like for any
third-party plugin; the same class found both ways is one registry entry.  Importing this
package (which the scan does) imports nothing heavy: optional libraries are imported inside
the methods that need them.
"""

from __future__ import annotations

from typing import Any

from openhcs_registry import hookimpl


def module_available(name: str) -> bool:
    """Whether *name* could be imported, found without importing it (cheap, side-effect free)."""
    from importlib.util import find_spec

    try:
        return find_spec(name) is not None
    except (ImportError, ValueError):
        return False


@hookimpl
def provide_microscope_handlers() -> list[Any]:
    from openhcs_registry import Unavailable

    from .imagexpress import ImageXpressHandler
    from .openhcsdata import OpenHCSDataHandler
    from .opera_phenix import OperaPhenixHandler

    handlers: list[Any] = [ImageXpressHandler, OperaPhenixHandler, OpenHCSDataHandler]
    if module_available("omero"):
        from .omero import OMEROHandler

        handlers.append(OMEROHandler)
    else:
        # Said explicitly so the failure names the package to install; the class also
        # declares requires_modules = ("omero",) so the package scan leaves it out too, and
        # the cache is rebuilt once omero-py gets installed.
        handlers.append(Unavailable("omero", "needs the omero-py package", missing_module="omero"))
    return handlers
