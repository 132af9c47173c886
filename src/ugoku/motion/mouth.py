"""The driver's mouth interior, sampled frame by frame for the compose stage's memory.

A warp cannot show teeth or a tongue the photo does not have. When the driver's own mouth is open, its
interior is the best evidence of what should show: which teeth, how much tongue, where the shadow is.
`sample_mouth` cuts a small patch around the driver's mouth with the inner-lip loop in patch pixels and
the colours the compose stage needs to harmonise it with the photo (`mouth_palette`). Pure functions;
the patch is at most `MAX_SIDE` pixels on its longer side, so a long video streams through.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ugoku.face import landmarks as L

MAX_SIDE = 160          # the patch is scaled down to this many pixels at most
MIN_OPEN = 0.03         # inner-lip gap over mouth width below which a mouth is closed: no sample

_LOOP = L.inner_mouth_loop()
_MID = tuple(_LOOP.index(i) for i in L.LIPS_INNER_MID)     # upper, lower middle of the inner lips, in the loop
LOOP_CORNERS = (0, len(L.LIPS_INNER_UPPER) - 1)                # inner corners, in the loop


def loop_opening(loop: np.ndarray) -> float:
    """Inner-lip gap at the middle over the inner corners' distance, of an inner-lip loop (20, 2)."""
    gap = np.linalg.norm(loop[_MID[0]] - loop[_MID[1]])
    return float(gap / max(float(np.linalg.norm(loop[LOOP_CORNERS[0]] - loop[LOOP_CORNERS[1]])), 1e-6))


@dataclass(frozen=True)
class MouthSample:
    """patch: RGB uint8 around the driver's mouth. loop: the inner-lip loop (`L.inner_mouth_loop()`
    order) in patch pixels, (20, 2). lip, skin: colours from `mouth_palette`."""

    patch: np.ndarray
    loop: np.ndarray
    lip: np.ndarray
    skin: np.ndarray

    @property
    def width(self) -> float:
        """Distance between the inner mouth corners, in patch pixels."""
        return float(np.linalg.norm(self.loop[LOOP_CORNERS[0]] - self.loop[LOOP_CORNERS[1]]))


def mouth_palette(rgb: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lip, skin): the median colour of the lower lip (a moustache often hides the upper one) and a
    bright skin tone (90th percentile) of the skin around the mouth, out to half a mouth width."""
    pts = np.asarray(points, np.float64)[:, :2]
    outer = pts[list(L.LIPS_OUTER_UPPER + tuple(reversed(L.LIPS_OUTER_LOWER))), :2]
    lower_lip = pts[list(L.LIPS_OUTER_LOWER + tuple(reversed(L.LIPS_INNER_LOWER))), :2]
    a, b = L.MOUTH_CORNERS
    width = max(float(np.linalg.norm(pts[a] - pts[b])), 1.0)
    h, w = rgb.shape[:2]
    x0, y0 = np.maximum(np.floor(outer.min(0) - 0.5 * width).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(outer.max(0) + 0.5 * width).astype(int) + 1, [w, h])
    if x1 - x0 < 4 or y1 - y0 < 4:
        return np.array([150.0, 80, 80]), np.array([220.0, 200, 190])
    roi = rgb[y0:y1, x0:x1]
    mouth = np.zeros(roi.shape[:2], np.uint8)
    cv2.fillPoly(mouth, [np.round(outer - [x0, y0]).astype(np.int32)], 1)
    lips = np.zeros(roi.shape[:2], np.uint8)
    cv2.fillPoly(lips, [np.round(lower_lip - [x0, y0]).astype(np.int32)], 1)
    lip = np.median(roi[lips > 0], axis=0) if lips.any() else np.array([150.0, 80, 80])
    skin_px = roi[mouth == 0][::3]                  # every third pixel: the same tone, a third of the work
    skin = np.percentile(skin_px, 90, axis=0) if len(skin_px) else np.array([220.0, 200, 190])
    return lip.astype(np.float64), skin.astype(np.float64)


def sample_mouth(rgb: np.ndarray, points: np.ndarray,
                 palette: tuple[np.ndarray, np.ndarray] | None = None) -> MouthSample | None:
    """The driver's mouth in this frame, from its tracked points (478, 2+) in frame pixels; None when
    the mouth is closed (gap below MIN_OPEN of its width), off the frame or too small to be worth
    sampling. palette: the driver's (lip, skin) from `mouth_palette` when already known (a video's
    lighting and lips change little; reading them costs more than the rest of the sample)."""
    pts = np.asarray(points, np.float64)[:, :2]
    outer = pts[list(L.LIPS_OUTER_UPPER + L.LIPS_OUTER_LOWER), :2]
    a, b = L.MOUTH_CORNERS
    width = float(np.linalg.norm(pts[a] - pts[b]))
    up, lo = L.LIPS_INNER_MID
    if not np.isfinite(width) or width < 8 or np.linalg.norm(pts[up] - pts[lo]) < MIN_OPEN * width:
        return None
    h, w = rgb.shape[:2]
    x0, y0 = np.floor(outer.min(0) - 0.15 * width).astype(int)
    x1, y1 = np.ceil(outer.max(0) + 0.15 * width).astype(int) + 1
    if x0 < 0 or y0 < 0 or x1 > w or y1 > h:
        return None
    lip, skin = palette if palette is not None else mouth_palette(rgb, pts)
    patch = rgb[y0:y1, x0:x1]
    loop = pts[list(_LOOP), :2] - [x0, y0]
    k = min(1.0, MAX_SIDE / max(patch.shape[:2]))
    if k < 1.0:
        patch = cv2.resize(patch, (max(1, round(patch.shape[1] * k)), max(1, round(patch.shape[0] * k))),
                           interpolation=cv2.INTER_AREA)
        loop = loop * k
    return MouthSample(np.ascontiguousarray(patch), loop.astype(np.float32), lip, skin)
