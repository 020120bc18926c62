"""Built-in microscope handlers."""

from __future__ import annotations

from typing import Any

from openhcs_registry.markers import hookimpl


@hookimpl
def provide_microscope_handlers() -> list[Any]:
    from .imagexpress import ImageXpressHandler

    return [ImageXpressHandler]
