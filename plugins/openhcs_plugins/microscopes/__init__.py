"""Built-in microscope handlers (one module per microscope, scanned as a discovery package).

The hookimpl lists them explicitly too, so the entry-point road is exercised like for any
third-party plugin; the same class found both ways is one registry entry.
"""

from __future__ import annotations

from openhcs_registry.markers import hookimpl

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


@hookimpl
def provide_microscope_handlers() -> list[Any]:
    from .imagexpress import ImageXpressHandler
    from .omero import OMEROHandler
    from .openhcsdata import OpenHCSDataHandler
    from .opera_phenix import OperaPhenixHandler

    # OMEROHandler declares requires_modules = ("omero",): without omero-py it is reported
    # as unavailable, and the cache is rebuilt once omero-py gets installed.
    return [ImageXpressHandler, OperaPhenixHandler, OpenHCSDataHandler, OMEROHandler]
