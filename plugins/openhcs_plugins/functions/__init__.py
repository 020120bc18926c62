"""Built-in function-library providers: OpenHCS's own functions, scikit-image, CuPy and
pyclesperanto.

One module per provider: a provider's module file is an input of its catalogue, so editing
one provider rebuilds that library's catalogue only.  Importing these modules imports none
of the libraries.
"""

from __future__ import annotations

from typing import Any

from openhcs_registry import hookimpl

from .gpu import CupyFunctions, PyclesperantoFunctions
from .openhcs import OpenHCSFunctions
from .scikit_image import SkimageFunctions

__all__ = ["CupyFunctions", "OpenHCSFunctions", "PyclesperantoFunctions", "SkimageFunctions"]


@hookimpl
def provide_function_libraries() -> list[Any]:
    return [OpenHCSFunctions, SkimageFunctions, CupyFunctions, PyclesperantoFunctions]
