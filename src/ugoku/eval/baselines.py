"""Two floors every table is read against, as frame generators (RGB uint8, nothing written to disk).

- `static_frames`: the source, unchanged, once per driving frame. It keeps identity perfectly and
  follows nothing.
- `similarity_frames`: the source moved by one global similarity transform per frame (roll, scale,
  shift) that follows the driver's head as dlib sees it, with no expression, no yaw or pitch, and no
  smoothing. It is what "just move the photo" gives.
"""

from __future__ import annotations

from typing import Iterator

import cv2
import numpy as np

# Eye corners and nose: points that move with the head, not with expression.
SIMILARITY_POINTS = (27, 28, 29, 30, 31, 33, 35, 36, 39, 42, 45)


def static_frames(source: np.ndarray, n: int) -> Iterator[np.ndarray]:
    """The same array `n` times (measurement reuses its result for a repeated array)."""
    for _ in range(n):
        yield source


def _similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    M, _ = cv2.estimateAffinePartial2D(a.astype(np.float32), b.astype(np.float32), method=cv2.LMEDS)
    return None if M is None else np.vstack([M, [0.0, 0.0, 1.0]])


def similarity_frames(source: np.ndarray, source_points: np.ndarray, driver_points: np.ndarray) -> Iterator[np.ndarray]:
    """Move `source` (whose judge points are `source_points`, (68, 2)) by the driver's head motion
    since its first seen frame. `driver_points` (T, 68, 2) is NaN where the driver's face was not
    seen; those frames repeat the last transform."""
    idx = list(SIMILARITY_POINTS)
    seen = [i for i in range(len(driver_points)) if np.isfinite(driver_points[i]).all()]
    h, w = source.shape[:2]
    if not seen:
        yield from static_frames(source, len(driver_points))
        return
    ref = driver_points[seen[0]][idx]
    S = _similarity(ref, source_points[idx])          # driver's first frame -> source
    S_inv = np.linalg.inv(S) if S is not None else None
    M = np.eye(3)
    for p in driver_points:
        if S is not None and np.isfinite(p).all():
            A = _similarity(ref, p[idx])              # driver's motion since its first frame
            if A is not None:
                M = S @ A @ S_inv
        yield cv2.warpAffine(source, M[:2], (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
