"""Motion: head pose by 3-D Procrustes against a reference frame, expression as the residual.

Units: a face is normalised by its rigid points (centre = their mean, scale = their RMS distance from
it), so motion is in face-size units and transfers between faces of any size. Rotations are 3x3
matrices acting on (x, y, z) image-aligned coordinates (x right, y down, z away from the camera).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ugoku.face import landmarks as L
from ugoku.motion.mouth import MouthSample

_RIGID = np.array(L.RIGID)


@dataclass(frozen=True)
class HeadFrame:
    """Where a face is and how big: centre (3,) and scale (RMS spread of the rigid points), pixels."""

    center: np.ndarray
    scale: float

    @staticmethod
    def of(points: np.ndarray) -> "HeadFrame":
        rigid = points[_RIGID]
        c = rigid.mean(0)
        return HeadFrame(c, float(np.sqrt(((rigid - c) ** 2).sum(1).mean())))

    def normalise(self, points: np.ndarray) -> np.ndarray:
        return (points - self.center) / self.scale


def procrustes(a: np.ndarray, b: np.ndarray, with_scale: bool = True) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares similarity b ≈ s R a + t (Umeyama 1991) for (N, D) point sets; returns (s, R, t).

    R is a proper rotation (no reflection).
    """
    ma, mb = a.mean(0), b.mean(0)
    a0, b0 = a - ma, b - mb
    cov = b0.T @ a0 / len(a)
    u, d, vt = np.linalg.svd(cov)
    sign = np.ones(len(d))
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1
    R = (u * sign) @ vt
    var_a = (a0 ** 2).sum() / len(a)
    s = float((d * sign).sum() / var_a) if with_scale and var_a > 0 else 1.0
    t = mb - s * R @ ma
    return s, R, t


@dataclass(frozen=True)
class MotionFrame:
    """The driver's motion at one frame, relative to its reference (first tracked) frame.

    rotation (3, 3), scale (ratio to the reference size), translation (3,) in reference face-size
    units: the head's rigid centre moved by that much. expression (478, 3): per-landmark offset in the
    reference head frame (pose removed), face-size units. eyes (2,): right and left lid opening over
    eye width. gaze (2, 2): per eye (right, left), iris centre relative to the eye centre over eye
    width, (horizontal, vertical). mouth: inner-lip gap in face-size units. tracked: False when the
    face was lost and this frame repeats the last tracked one. mouth_sample: the driver's mouth pixels
    (a video driver only; templates and edits have none).
    """

    rotation: np.ndarray
    scale: float
    translation: np.ndarray
    expression: np.ndarray
    eyes: np.ndarray
    gaze: np.ndarray
    mouth: float
    tracked: bool = True
    mouth_sample: MouthSample | None = None     # the driver's mouth pixels in this frame, when it has any

    @staticmethod
    def identity(n: int = L.N_LANDMARKS) -> "MotionFrame":
        return MotionFrame(np.eye(3), 1.0, np.zeros(3), np.zeros((n, 3)), np.zeros(2), np.zeros((2, 2)), 0.0)


def eye_openness(points: np.ndarray) -> np.ndarray:
    """(right, left) lid gap over eye width."""
    out = []
    for (up, lo), (c0, c1) in ((L.RIGHT_EYE_LID_MID, L.RIGHT_EYE_CORNERS), (L.LEFT_EYE_LID_MID, L.LEFT_EYE_CORNERS)):
        width = np.linalg.norm(points[c0, :2] - points[c1, :2])
        out.append(np.linalg.norm(points[up, :2] - points[lo, :2]) / max(width, 1e-9))
    return np.array(out)


def gaze_offsets(points: np.ndarray) -> np.ndarray:
    """Iris centre relative to the eye-corner midpoint over eye width, per eye: (2, 2) (h, v)."""
    out = []
    for iris, (c0, c1) in ((L.RIGHT_IRIS, L.RIGHT_EYE_CORNERS), (L.LEFT_IRIS, L.LEFT_EYE_CORNERS)):
        a, b = points[c0, :2], points[c1, :2]
        axis = b - a
        width = np.linalg.norm(axis)
        if width < 1e-9 or points.shape[0] <= iris[0]:
            out.append((0.0, 0.0))
            continue
        ex = axis / width
        ey = np.array([-ex[1], ex[0]])
        d = points[iris[0], :2] - (a + b) / 2
        # Make "right" positive for both eyes: the right eye's axis runs outer->inner (to the image right).
        out.append((float(d @ ex) / width * (1 if c0 == L.RIGHT_EYE_CORNERS[0] else -1), float(d @ ey) / width))
    return np.array(out)


def mouth_opening(points: np.ndarray, scale: float) -> float:
    up, lo = L.LIPS_INNER_MID
    return float(np.linalg.norm(points[up, :2] - points[lo, :2]) / max(scale, 1e-9))


class MotionExtractor:
    """Turns a stream of driver landmarks into MotionFrames relative to the first one it sees."""

    def __init__(self):
        self.reference: np.ndarray | None = None      # normalised (478, 3)
        self.ref_frame: HeadFrame | None = None

    def set_reference(self, points: np.ndarray) -> None:
        self.ref_frame = HeadFrame.of(points)
        self.reference = self.ref_frame.normalise(points)

    def __call__(self, points: np.ndarray) -> MotionFrame:
        pts = np.asarray(points, dtype=np.float64)
        if self.reference is None:
            self.set_reference(pts)
        ref = self.reference
        s_px, R, _ = procrustes(ref[_RIGID], pts[_RIGID])
        cur_center = pts[_RIGID].mean(0)
        aligned = (pts - cur_center) @ R / s_px            # R^T (p - c) / s, row-vector form
        expression = aligned - ref
        return MotionFrame(
            rotation=R,
            scale=s_px / self.ref_frame.scale,
            translation=(cur_center - self.ref_frame.center) / self.ref_frame.scale,
            expression=expression,
            eyes=eye_openness(pts),
            gaze=gaze_offsets(pts),
            mouth=mouth_opening(pts, s_px),
        )
