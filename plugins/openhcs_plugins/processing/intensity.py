"""Intensity transforms of 2-D images (lists of rows of floats)."""

from __future__ import annotations

Image = list[list[float]]


def _bounds(image: Image) -> tuple[float, float]:
    values = [v for row in image for v in row]
    if not values:
        return 0.0, 0.0
    return min(values), max(values)


def normalize(image: Image) -> Image:
    """Rescale intensities linearly to [0, 1]; a constant image becomes zeros."""
    lo, hi = _bounds(image)
    if hi == lo:
        return [[0.0 for _ in row] for row in image]
    return [[(v - lo) / (hi - lo) for v in row] for row in image]


def rescale(image: Image, low: float = 0.0, high: float = 1.0) -> Image:
    """Rescale intensities linearly to [low, high]."""
    if high < low:
        raise ValueError(f"high ({high}) is below low ({low})")
    return [[low + v * (high - low) for v in row] for row in normalize(image)]


def clip(image: Image, low: float, high: float) -> Image:
    """Limit intensities to [low, high]."""
    if high < low:
        raise ValueError(f"high ({high}) is below low ({low})")
    return [[min(max(v, low), high) for v in row] for row in image]


def invert(image: Image) -> Image:
    """Mirror intensities within the image's own range (darkest becomes brightest)."""
    lo, hi = _bounds(image)
    return [[hi + lo - v for v in row] for row in image]
