"""The built-in function libraries (:mod:`openhcs_plugins.functions`): OpenHCS's own functions do
their work, missing libraries say why.
"""

from __future__ import annotations

import importlib.util

from openhcs_hookspecs import functions as fn


def test_openhcs_functions_do_their_work() -> None:
    cat = fn.catalogue("openhcs")
    image = [[0.0, 2.0], [4.0, 8.0]]
    assert cat["openhcs_plugins.processing.intensity.normalize"](image) == [
        [0.0, 0.25],
        [0.5, 1.0],
    ]
    assert cat["openhcs_plugins.processing.intensity.clip"](image, 1.0, 5.0) == [
        [1.0, 2.0],
        [4.0, 5.0],
    ]
    assert cat["openhcs_plugins.processing.intensity.invert"](image) == [[8.0, 6.0], [4.0, 0.0]]
    mask = cat["openhcs_plugins.processing.threshold.threshold"](image, 3.0)
    assert mask == [[False, False], [True, True]]
    assert cat["openhcs_plugins.processing.measure.area"](mask) == 2
    blobs = [[True, False, True], [False, False, True], [True, True, False]]
    assert cat["openhcs_plugins.processing.measure.count_objects"](blobs) == 3
    otsu = cat["openhcs_plugins.processing.threshold.threshold_otsu"]([[1.0, 1.0, 9.0, 9.0]])
    assert 1.0 < otsu <= 9.0
    mean = cat["openhcs_plugins.processing.measure.mean_intensity"]
    assert mean(image, mask) == 6.0
    assert cat.version == fn.catalogue("openhcs").version and cat.available


def test_unavailable_libraries_say_why() -> None:
    for name, module in (("cupy", "cupy"), ("pyclesperanto", "pyclesperanto")):
        cat = fn.catalogue(name)
        if importlib.util.find_spec(module) is None:
            assert not cat.available and len(cat) == 0
            assert cat.reason is not None and cat.reason.startswith("not installed (pip install")
