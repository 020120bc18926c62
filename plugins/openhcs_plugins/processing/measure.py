"""Measurements of 2-D images and masks (lists of rows)."""

from __future__ import annotations

Image = list[list[float]]
Mask = list[list[bool]]


def mean_intensity(image: Image, mask: Mask | None = None) -> float:
    """Mean intensity, over the True pixels of *mask* if one is given."""
    values = [
        v for y, row in enumerate(image) for x, v in enumerate(row) if mask is None or mask[y][x]
    ]
    if not values:
        raise ValueError("mean of no pixels")
    return sum(values) / len(values)


def area(mask: Mask) -> int:
    """Number of True pixels."""
    return sum(1 for row in mask for v in row if v)


def count_objects(mask: Mask) -> int:
    """Number of 4-connected groups of True pixels."""
    seen: set[tuple[int, int]] = set()
    count = 0
    for y, row in enumerate(mask):
        for x, value in enumerate(row):
            if not value or (y, x) in seen:
                continue
            count += 1
            stack = [(y, x)]
            seen.add((y, x))
            while stack:
                cy, cx = stack.pop()
                for ny, nx in ((cy + 1, cx), (cy - 1, cx), (cy, cx + 1), (cy, cx - 1)):
                    if (
                        0 <= ny < len(mask)
                        and 0 <= nx < len(mask[ny])
                        and mask[ny][nx]
                        and (ny, nx) not in seen
                    ):
                        seen.add((ny, nx))
                        stack.append((ny, nx))
    return count
