"""Compose: paint what the warp cannot invent. Today: the mouth interior.

When the driver opens the mouth further than the source's mouth is open, the warp can only stretch the
thin line of lip between the source's closed lips; that shows as a red smear. `MouthInterior` paints a
mouth interior instead: a dark cavity coloured from the source's own lips, a row of upper teeth lit
like the source's skin, a tongue tone at the bottom, and a fixed grain matching the photo's. It is
blended in by how much further the mouth opens than the source's, with a feathered edge on the inner
lip line, so a closed or barely open mouth is left exactly as the warp drew it.

Convention: images RGB uint8; points (478, 3) in source-crop pixels; `M_crop2canvas` (2, 3).
This is the generic fallback of the memory described in design.md; a memory built from frames of the
same person will replace it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ugoku.face import landmarks as L


@dataclass(frozen=True)
class MouthOptions:
    """start / full: extra inner-lip gap, as a share of the mouth's width, where the interior starts
    to show and where it is fully painted. feather: edge softness in canvas pixels."""

    enabled: bool = True
    start: float = 0.02
    full: float = 0.12
    feather: float = 1.2


def _lip_gap(points: np.ndarray) -> float:
    up, lo = L.LIPS_INNER_MID
    return float(np.linalg.norm(points[up, :2] - points[lo, :2]))


def _mouth_width(points: np.ndarray) -> float:
    a, b = L.MOUTH_CORNERS
    return float(np.linalg.norm(points[a, :2] - points[b, :2]))


def source_palette(crop: np.ndarray, points: np.ndarray) -> dict:
    """Colours and grain of the source: mean lip colour, a bright skin tone, a greyscale flag, and the
    standard deviation of the photo's fine texture on the face."""
    h, w = crop.shape[:2]
    lips = np.zeros((h, w), np.uint8)
    cv2.fillPoly(lips, [np.round(points[list(L.LIPS_OUTER_UPPER + tuple(reversed(L.LIPS_OUTER_LOWER))), :2]).astype(np.int32)], 1)
    cv2.fillPoly(lips, [np.round(points[list(L.inner_mouth_loop()), :2]).astype(np.int32)], 0)
    face = np.zeros((h, w), np.uint8)
    cv2.fillPoly(face, [np.round(points[list(L.FACE_OVAL), :2]).astype(np.int32)], 1)
    skin_mask = face.astype(bool) & ~lips.astype(bool)
    f = crop.astype(np.float32)
    lip = f[lips.astype(bool)].mean(0) if lips.any() else np.array([150.0, 80, 80])
    skin = np.percentile(f[skin_mask], 90, axis=0) if skin_mask.any() else np.array([220.0, 200, 190])
    grey = bool(np.abs(f[skin_mask] - f[skin_mask].mean(1, keepdims=True)).mean() < 2.0) if skin_mask.any() else False
    fine = f.mean(2) - cv2.GaussianBlur(f.mean(2), (0, 0), 1.5)
    grain = float(fine[skin_mask].std()) if skin_mask.any() else 2.0
    return {"lip": lip, "skin": skin, "grey": grey, "grain": min(grain, 12.0)}


class MouthInterior:
    """Paints the mouth interior on rendered frames of one source (see the module docstring)."""

    def __init__(self, crop: np.ndarray, source_points: np.ndarray, M_crop2canvas: np.ndarray,
                 options: MouthOptions = MouthOptions()):
        self.options = options
        pts = np.asarray(source_points, np.float64)
        self.source_gap = _lip_gap(pts)
        self.M = np.asarray(M_crop2canvas, np.float64)
        pal = source_palette(crop, pts)
        lip, skin = pal["lip"], pal["skin"]
        if pal["grey"]:
            lip = np.full(3, lip.mean())
        self.cavity = np.clip(lip * 0.16, 0, 255)
        self.tongue = np.clip(lip * 0.5, 0, 255)
        teeth = skin.mean() * np.array([0.97, 0.95, 0.9]) if not pal["grey"] else np.full(3, skin.mean() * 0.9)
        self.teeth = np.clip(teeth, 0, 255)
        self.grain = pal["grain"]
        self._noise = np.random.default_rng(7).normal(0.0, 1.0, (256, 256)).astype(np.float32)

    def strength(self, target_points: np.ndarray) -> float:
        o = self.options
        width = max(_mouth_width(target_points), 1e-6)
        extra = (_lip_gap(target_points) - self.source_gap) / width
        return float(np.clip((extra - o.start) / (o.full - o.start), 0.0, 1.0))

    def __call__(self, frame: np.ndarray, target_points: np.ndarray) -> np.ndarray:
        """Paint into `frame` (the canvas, modified in place) for this target; returns it."""
        if not self.options.enabled:
            return frame
        a = self.strength(target_points)
        if a <= 0.0:
            return frame
        loop = np.asarray(target_points, np.float64)[list(L.inner_mouth_loop()), :2] @ self.M[:, :2].T + self.M[:, 2]
        pad = int(np.ceil(3 * self.options.feather)) + 2
        h, w = frame.shape[:2]
        x0, y0 = np.maximum(np.floor(loop.min(0)).astype(int) - pad, 0)
        x1, y1 = np.minimum(np.ceil(loop.max(0)).astype(int) + pad + 1, [w, h])
        if x1 - x0 < 3 or y1 - y0 < 3 or x1 - x0 > 256 or y1 - y0 > 256:
            return frame
        local = loop - [x0, y0]
        mask = np.zeros((y1 - y0, x1 - x0), np.float32)
        cv2.fillPoly(mask, [np.round(local * 16).astype(np.int32)], 1.0, lineType=cv2.LINE_AA, shift=4)
        # Pull the edge inwards by the feather so the lips keep their own inner edge, then soften.
        k = max(1, int(round(self.options.feather)))
        mask = cv2.erode(mask, np.ones((2 * k + 1, 2 * k + 1), np.uint8))
        mask = cv2.GaussianBlur(mask, (0, 0), self.options.feather)
        interior = self._interior(local, mask.shape)
        roi = frame[y0:y1, x0:x1].astype(np.float32)
        alpha = (a * mask)[..., None]
        frame[y0:y1, x0:x1] = np.clip(roi * (1 - alpha) + interior * alpha + 0.5, 0, 255).astype(np.uint8)
        return frame

    def _interior(self, local: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """The cavity, the upper teeth and the tongue inside the inner-lip loop (ROI coordinates)."""
        hh, ww = shape
        n_up = len(L.LIPS_INNER_UPPER)
        upper = local[:n_up]
        lower = np.vstack([upper[:1], local[n_up:][::-1], upper[-1:]])
        xs = np.arange(ww, dtype=np.float64)
        ou, ol = np.argsort(upper[:, 0]), np.argsort(lower[:, 0])
        y_up = np.interp(xs, upper[ou, 0], upper[ou, 1])
        y_lo = np.interp(xs, lower[ol, 0], lower[ol, 1])
        gap = np.maximum(y_lo - y_up, 0.0)
        left, right = upper[:, 0].min(), upper[:, 0].max()
        half = max((right - left) / 2, 1.0)
        u = np.clip(np.abs(xs - (left + right) / 2) / half, 0, 1)            # 0 centre, 1 corners
        ys = np.arange(hh, dtype=np.float64)[:, None]
        t = (ys - y_up) / np.maximum(gap, 1e-6)                              # 0 upper lip, 1 lower lip
        img = np.empty((hh, ww, 3), np.float32)
        # A dark cavity, a little lighter towards the lips' inner edge (bounce light), darker at the corners.
        edge = np.clip(1 - np.minimum(t, 1 - t) * 6, 0, 1)
        depth = (0.7 + 0.3 * edge) * (1 - 0.45 * u ** 2)
        img[:] = self.cavity[None, None, :] * depth[..., None]
        # Upper teeth hang from the upper lip; shaded towards the corners and the gum line.
        teeth_h = np.minimum(0.3 * gap, 0.11 * (right - left))
        below = ys - y_up
        teeth = (below >= -1) & (below <= teeth_h) & (u < 0.8)
        shade = (1 - 0.6 * u ** 2) * (0.8 + 0.2 * np.clip(below / np.maximum(teeth_h, 1e-6), 0, 1))
        img[teeth] = self.teeth[None, :] * shade[teeth][:, None]
        # The tongue shows low in a wide-open mouth, blended in softly.
        tw = np.clip((t - 0.7) / 0.25, 0, 1) * (gap > 8) * (1 - u ** 2)
        img = img * (1 - tw[..., None]) + self.tongue[None, None, :] * tw[..., None]
        noise = self._noise[:hh, :ww] * self.grain
        return img + noise[..., None]
