"""OpenHCS's own processing functions (:mod:`openhcs_plugins.processing`), called directly.

The catalogue's view of them (found, listed, called by key): tests/test_plugins_functions.py.
Here: their edge cases, on small images whose answers can be worked out by hand.
"""

from __future__ import annotations

import pytest
from openhcs_plugins.processing import intensity, measure, threshold


def test_constant_and_empty_images_normalize_to_zeros() -> None:
    assert intensity.normalize([[3.0, 3.0], [3.0, 3.0]]) == [[0.0, 0.0], [0.0, 0.0]]
    assert intensity.normalize([]) == []
    assert intensity.invert([[5.0]]) == [[5.0]]  # its own range is one value


def test_rescale_maps_the_range_and_refuses_an_inverted_one() -> None:
    assert intensity.rescale([[0.0, 5.0, 10.0]], 10.0, 20.0) == [[10.0, 15.0, 20.0]]
    with pytest.raises(ValueError, match="below low"):
        intensity.rescale([[1.0]], 2.0, 1.0)
    with pytest.raises(ValueError, match="below low"):
        intensity.clip([[1.0]], 2.0, 1.0)


def test_mean_intensity_over_a_mask_and_of_no_pixels() -> None:
    image = [[1.0, 2.0], [3.0, 6.0]]
    assert measure.mean_intensity(image) == 3.0
    assert measure.mean_intensity(image, [[False, True], [False, True]]) == 4.0
    with pytest.raises(ValueError, match="no pixels"):
        measure.mean_intensity(image, [[False, False], [False, False]])


def test_objects_are_4_connected() -> None:
    diagonal = [[True, False], [False, True]]  # touching corners: two objects
    assert measure.count_objects(diagonal) == 2 and measure.area(diagonal) == 2
    ring = [[True, True, True], [True, False, True], [True, True, True]]
    assert measure.count_objects(ring) == 1 and measure.area(ring) == 8
    ragged = [[True], [True, True, False, True]]  # rows of different lengths
    assert measure.count_objects(ragged) == 2
    assert measure.count_objects([]) == 0


def test_global_thresholds_separate_two_populations() -> None:
    image = [[1.0, 1.0, 1.0, 9.0, 9.0, 9.0]]
    assert threshold.threshold_mean(image) == 5.0
    level = threshold.threshold_otsu(image)
    assert 1.0 < level <= 9.0
    assert threshold.threshold(image, level) == [[False, False, False, True, True, True]]
    assert threshold.threshold_otsu([[4.0, 4.0]]) == 4.0  # one value: its own threshold
    for empty in (threshold.threshold_mean, threshold.threshold_otsu):
        with pytest.raises(ValueError, match="empty image"):
            empty([])
