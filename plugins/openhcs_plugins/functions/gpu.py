"""GPU libraries: CuPy (CUDA) and pyclesperanto (OpenCL).

Installed is not enough: without a device they expose nothing, so each says why it is
unavailable ("no OpenCL platform") instead of "available, 0 functions".  The device checks
look at driver files first (declared as ``environment_paths``, so a driver appearing or
going rebuilds the catalogue) and import the library only when a driver is there.
"""

from __future__ import annotations

import os

from openhcs_hookspecs.functions import FunctionLibrary

#: Where OpenCL ICD loaders find platforms (one ``.icd`` file per platform).
OPENCL_VENDORS = "/etc/OpenCL/vendors"
#: Present when an NVIDIA driver is loaded.
NVIDIA_PATHS = ("/dev/nvidiactl", "/proc/driver/nvidia/version")


class PyclesperantoFunctions(FunctionLibrary):
    """pyclesperanto's operations (OpenCL)."""

    library_name = "pyclesperanto"
    import_name = "pyclesperanto"
    distribution = "pyclesperanto"
    modules = ("pyclesperanto",)
    memory_type = "pyclesperanto"
    tags = ("pyclesperanto", "gpu", "opencl")
    requires_gpu = True
    environment_variables = ("OCL_ICD_VENDORS", "OCL_ICD_FILENAMES")
    environment_paths = (OPENCL_VENDORS,)

    def declared_paths(self) -> tuple[str, ...]:
        """The ICD folder, and the one ``OCL_ICD_VENDORS`` names instead."""
        named = os.environ.get("OCL_ICD_VENDORS")
        return (*self.environment_paths, named) if named else self.environment_paths

    def unavailable_reason(self) -> str | None:
        reason = super().unavailable_reason()
        if reason is not None:
            return reason
        icds = [e for e in _entries(OPENCL_VENDORS) if e.endswith(".icd")]
        if (
            not icds
            and not os.environ.get("OCL_ICD_VENDORS")
            and not os.environ.get("OCL_ICD_FILENAMES")
        ):
            return f"no OpenCL platform (no .icd file in {OPENCL_VENDORS})"
        import pyclesperanto as cle

        try:
            devices = list(cle.list_available_devices())
        except Exception as exc:
            return f"no OpenCL platform ({type(exc).__name__}: {exc})"
        return None if devices else "no OpenCL platform (no device found)"

    def is_function(self, obj: object) -> bool:
        return callable(obj) and not isinstance(obj, type)


class CupyFunctions(FunctionLibrary):
    """CuPy's n-dimensional image processing (``cupyx.scipy.ndimage``, CUDA)."""

    library_name = "cupy"
    import_name = "cupy"
    distribution = "cupy-cuda12x"
    modules = ("cupyx.scipy.ndimage",)
    memory_type = "cupy"
    tags = ("cupy", "gpu", "cuda")
    requires_gpu = True
    environment_variables = ("CUDA_VISIBLE_DEVICES",)
    environment_paths = NVIDIA_PATHS

    def unavailable_reason(self) -> str | None:
        reason = super().unavailable_reason()
        if reason is not None:
            return reason
        if not any(os.path.exists(p) for p in NVIDIA_PATHS):
            return "no CUDA device (no NVIDIA driver loaded)"
        import cupy

        try:
            count = int(cupy.cuda.runtime.getDeviceCount())
        except Exception as exc:
            return f"no CUDA device ({type(exc).__name__}: {exc})"
        return None if count else "no CUDA device (0 devices)"


def _entries(folder: str) -> list[str]:
    try:
        return os.listdir(folder)
    except OSError:
        return []
