"""Track: 478 landmarks per driving frame (MediaPipe face mesh in video mode), smoothed.

Convention: frames RGB uint8; landmarks (478, 3) float32 in frame pixels (x, y pixel centres; z in
the scale of x, smaller is nearer).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ugoku.face.mp import landmarks_to_pixels, quiet_native_stderr, solutions


@dataclass(frozen=True)
class SmoothOptions:
    """One-Euro filter settings (Casiez et al. 2012), in face-size units per second.

    min_cutoff (Hz) sets how still a still face is; beta raises the cutoff with speed so that fast
    motion does not lag. enabled=False passes landmarks through unchanged.
    """

    enabled: bool = True
    min_cutoff: float = 1.5
    beta: float = 2.0
    d_cutoff: float = 1.0


def _alpha(cutoff, dt: float):
    tau = 1.0 / (2 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """One-Euro low-pass over an array of points (N, D), with one adaptive cutoff per point.

    `scale` converts the points' units to the units of the options (e.g. pixels to face size).
    """

    def __init__(self, options: SmoothOptions = SmoothOptions(), scale: float = 1.0):
        self.options = options
        self.scale = scale
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None

    def reset(self) -> None:
        self._x = None
        self._dx = None

    def __call__(self, x: np.ndarray, dt: float) -> np.ndarray:
        o = self.options
        x = np.asarray(x, dtype=np.float64)
        if not o.enabled:
            return x.astype(np.float32)
        if self._x is None:
            self._x = x.copy()
            self._dx = np.zeros(x.shape[0])
            return x.astype(np.float32)
        speed = np.linalg.norm(x - self._x, axis=1) / max(dt, 1e-6) / self.scale
        a_d = _alpha(o.d_cutoff, dt)
        self._dx = a_d * speed + (1 - a_d) * self._dx
        cutoff = o.min_cutoff + o.beta * self._dx
        a = _alpha(cutoff, dt)[:, None]
        self._x = a * x + (1 - a) * self._x
        return self._x.astype(np.float32)


class FaceTracker:
    """MediaPipe face mesh in video mode. Use as a context manager; call with each frame in order.

    Returns (478, 3) landmarks in frame pixels, or None when no face is found in that frame.
    """

    def __init__(self, min_detection_confidence: float = 0.5, min_tracking_confidence: float = 0.5):
        self._args = dict(static_image_mode=False, max_num_faces=1, refine_landmarks=True,
                          min_detection_confidence=min_detection_confidence,
                          min_tracking_confidence=min_tracking_confidence)
        self._mesh = None
        self._warm = False

    def __enter__(self) -> "FaceTracker":
        _, face_mesh = solutions()
        with quiet_native_stderr():
            self._mesh = face_mesh.FaceMesh(**self._args)
        return self

    def __call__(self, rgb: np.ndarray) -> np.ndarray | None:
        if not self._warm:
            with quiet_native_stderr():   # the first inference logs the delegate's creation
                res = self._mesh.process(np.ascontiguousarray(rgb))
            self._warm = True
        else:
            res = self._mesh.process(np.ascontiguousarray(rgb))
        if not res.multi_face_landmarks:
            return None
        h, w = rgb.shape[:2]
        return landmarks_to_pixels(res.multi_face_landmarks[0], w, h)

    def __exit__(self, *exc) -> None:
        if self._mesh is not None:
            self._mesh.close()
            self._mesh = None
