"""Thresholding of 2-D images (lists of rows of floats) into masks (lists of rows of bools)."""

from __future__ import annotations

Image = list[list[float]]
Mask = list[list[bool]]


def threshold(image: Image, level: float) -> Mask:
    """A mask that is True where the intensity reaches *level*."""
    return [[v >= level for v in row] for row in image]


def threshold_mean(image: Image) -> float:
    """The mean intensity, a simple global threshold."""
    values = [v for row in image for v in row]
    if not values:
        raise ValueError("threshold of an empty image")
    return sum(values) / len(values)


def threshold_otsu(image: Image, bins: int = 256) -> float:
    """Otsu's threshold: the level that maximises the between-class variance."""
    values = [v for row in image for v in row]
    if not values:
        raise ValueError("threshold of an empty image")
    lo, hi = min(values), max(values)
    if hi == lo:
        return lo
    width = (hi - lo) / bins
    counts = [0] * bins
    for v in values:
        counts[min(int((v - lo) / width), bins - 1)] += 1
    total = len(values)
    sum_all = sum(i * c for i, c in enumerate(counts))
    best, best_level = -1.0, 0
    weight_bg = sum_bg = 0.0
    for i, count in enumerate(counts):
        weight_bg += count
        if weight_bg == 0 or weight_bg == total:
            continue
        sum_bg += i * count
        mean_bg = sum_bg / weight_bg
        mean_fg = (sum_all - sum_bg) / (total - weight_bg)
        between = weight_bg * (total - weight_bg) * (mean_bg - mean_fg) ** 2
        if between > best:
            best, best_level = between, i
    return lo + (best_level + 1) * width
