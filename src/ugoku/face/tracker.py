"""Track: 478 landmarks per driving frame (MediaPipe face mesh in video mode), smoothed.

Convention: frames RGB uint8; landmarks (478, 3) float32 in frame pixels (x, y pixel centres; z in
the scale of x, smaller is nearer).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from ugoku.face import landmarks as L
from ugoku.face.mp import landmarks_to_pixels, quiet_native_stderr, solutions


@dataclass(frozen=True)
class SmoothOptions:
    """One-Euro filter settings (Casiez et al. 2012), in face-size units per second.

    min_cutoff (Hz) sets how still a still face is; beta raises the cutoff with speed so that fast
    motion does not lag; the lips, lids and brows have their own, higher minimum cutoffs.
    still_threshold (face sizes) and still_speed (face sizes a second) are the still-hold: a part of
    the face (see hold_groups) at rest stays where it was shown until its points have moved
    still_threshold on average, then follows until they slow below still_speed. enabled=False
    passes landmarks through unchanged. lookahead (frames): each frame is shown once this many later
    frames have been filtered, and taken from them where the filter lags it (`LookAhead`); 0 is the
    causal filter alone. Measure settings with tools/smoothing_tune.py.
    """

    enabled: bool = True
    min_cutoff: float = 1.5
    beta: float = 2.0
    d_cutoff: float = 1.0
    still_threshold: float = 0.01    # a part of the face at rest stays put until its points moved this far on average
    still_speed: float = 0.05        # ... and, once moving, comes to rest when they slow below this (per second)
    mouth_min_cutoff: float = 8.0    # lips and jaw: a syllable opens and shuts the mouth in 3-4 frames
    lids_min_cutoff: float = 8.0     # eyelids and irises: a blink is over in 100-300 ms, a saccade sooner
    brows_min_cutoff: float = 8.0    # brows and the skin beside them: a brow accent in speech lasts 200-300 ms
    lookahead: int = 1               # frames of the video read ahead to take the filter's lag out


def _alpha(cutoff, dt: float):
    tau = 1.0 / (2 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


@functools.cache
def hold_groups(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(part index per point, points per part) for the still-hold of OneEuroFilter. 478 landmarks:
    the rest, the brows with the skin beside them, the lips with the jaw, each eye's lids with its
    iris; any other count: each point its own part. Read-only (shared between filters)."""
    if n != L.N_LANDMARKS:
        parts = np.arange(n)
    else:
        parts = np.zeros(n, dtype=np.int64)
        parts[list(L.around(L.RIGHT_BROW + L.LEFT_BROW, 1))] = 1
        parts[list(L.LIPS + L.JAW)] = 2
        for k, (upper, lower, iris, _) in enumerate(L.EYES.values()):
            parts[list(L.around(upper + lower, 2) + iris)] = 3 + k
    sizes = np.bincount(parts)
    parts.flags.writeable = sizes.flags.writeable = False
    return parts, sizes


class OneEuroFilter:
    """One-Euro low-pass over an array of points (N, D), with one adaptive cutoff per point.

    `scale` converts the points' units to the units of the options (e.g. pixels to face size).
    """

    def __init__(self, options: SmoothOptions = SmoothOptions(), scale: float = 1.0):
        self.options = options
        self.scale = scale
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._shown: np.ndarray | None = None
        self._cutoffs: dict[int, np.ndarray | float] = {}
        self._moving: np.ndarray | None = None
        self.lag: np.ndarray | None = None       # per point: frames by which the last output trails a ramp

    def _min_cutoff(self, n: int):
        """Per-point minimum cutoff for n points, built once per size (it is used every frame)."""
        if n not in self._cutoffs:
            self._cutoffs[n] = self._build_min_cutoff(n)
        return self._cutoffs[n]

    def _build_min_cutoff(self, n: int):
        if n != L.N_LANDMARKS:
            return self.options.min_cutoff
        c = np.full(n, self.options.min_cutoff)
        c[list(L.LIPS + L.JAW)] = self.options.mouth_min_cutoff
        c[list(L.around(L.RIGHT_BROW + L.LEFT_BROW, 1))] = self.options.brows_min_cutoff
        # The lids, the skin that folds with them, and the irises (saccades).
        c[list(L.around(L.EYELIDS, 2) + L.RIGHT_IRIS + L.LEFT_IRIS)] = self.options.lids_min_cutoff
        return c

    def reset(self) -> None:
        self._x = None
        self._dx = None
        self._shown = None
        self._moving = None
        self.lag = None

    def __call__(self, x: np.ndarray, dt: float) -> np.ndarray:
        o = self.options
        x = np.asarray(x, dtype=np.float64)
        if not o.enabled:
            self.lag = np.zeros(x.shape[0])
            return x.astype(np.float32)
        if self._x is None:
            self._x = x.copy()
            self._shown = x.copy()
            self._dx = np.zeros(x.shape[0])
            self._moving = np.zeros(len(hold_groups(x.shape[0])[1]), dtype=bool)
            self.lag = np.zeros(x.shape[0])
            return x.astype(np.float32)
        speed = np.linalg.norm(x - self._x, axis=1) / max(dt, 1e-6) / self.scale
        a_d = _alpha(o.d_cutoff, dt)
        self._dx = a_d * speed + (1 - a_d) * self._dx
        cutoff = self._min_cutoff(x.shape[0]) + o.beta * self._dx
        a = _alpha(cutoff, dt)[:, None]
        # An exponential filter with weight a trails a steady motion by (1 - a) / a steps.
        self.lag = (1 - a[:, 0]) / a[:, 0]
        before = self._x
        self._x = a * x + (1 - a) * self._x
        # The still-hold, part by part. A part at rest stays where it was shown until its points
        # have moved still_threshold on average; from then on it follows the filter every frame
        # until its points slow below still_speed, and rests there. Released in steps of the
        # threshold, a slow motion would shake; held point by point, a lip whose middle moved
        # before its sides showed a notch; and the mean, not the farthest point, decides, because
        # the mesh settling on a still face moves single points by up to 0.015.
        parts, sizes = hold_groups(x.shape[0])
        step = np.bincount(parts, np.linalg.norm(self._x - before, axis=1)) / sizes / self.scale
        away = np.bincount(parts, np.linalg.norm(self._x - self._shown, axis=1)) / sizes / self.scale
        self._moving = np.where(self._moving, step >= o.still_speed * dt, away >= o.still_threshold)
        follow = self._moving[parts]
        self._shown[follow] = self._x[follow]
        return self._shown.astype(np.float32)


class LookAhead:
    """Fixed-lag smoothing: the causal filter's output read back at the frame it trails by.

    A low-pass filter that only knows the past trails a moving point: the One-Euro filter's output at
    frame t is where a steady motion was `lag` frames earlier (OneEuroFilter.lag, per point). Holding
    each frame back until `frames` more have been filtered, the output for frame t is the filtered
    point of frame t + lag (linear between frames, lag capped at what has been read), which for a
    steady motion is where the point is at t: a syllable opens when the driver's does, and the noise
    is averaged on both sides of t instead of only before it. A still part is held by the filter, so
    every frame it gives is the same and so is this. Costs `frames` frames of delay, not of speed.

    push(points, lag, item) returns the (points, item) pairs that are ready, oldest first; flush()
    the rest, at the end of the video or before a frame without a face."""

    def __init__(self, frames: int):
        self.frames = max(0, int(frames))
        self._pending: list[tuple[np.ndarray, np.ndarray, object]] = []

    def push(self, points: np.ndarray, lag: np.ndarray, item=None) -> list[tuple[np.ndarray, object]]:
        self._pending.append((np.asarray(points), np.asarray(lag, np.float64), item))
        out = []
        while len(self._pending) > self.frames:
            out.append(self._take())
        return out

    def flush(self) -> list[tuple[np.ndarray, object]]:
        out = []
        while self._pending:
            out.append(self._take())
        return out

    def _take(self) -> tuple[np.ndarray, object]:
        """The oldest pending frame, read back along the pending ones, and drop it."""
        points, lag, item = self._pending[0]
        ahead = len(self._pending) - 1
        if ahead == 0 or not np.any(lag > 0):
            self._pending.pop(0)
            return points, item
        stack = np.stack([p for p, _, _ in self._pending]).astype(np.float64)   # (ahead + 1, N, D)
        pos = np.clip(lag, 0.0, ahead)
        i0 = np.minimum(np.floor(pos).astype(np.int64), ahead - 1)
        f = (pos - i0)[:, None]
        n = np.arange(stack.shape[1])
        out = stack[i0, n] * (1 - f) + stack[i0 + 1, n] * f
        self._pending.pop(0)
        return out.astype(points.dtype), item


class Smoother:
    """The tracker's smoothing as `ugoku animate` applies it: the One-Euro filter, then `LookAhead`
    (options.lookahead frames; none when smoothing is off). push(points, dt, item) and flush() are
    LookAhead's: the (points, item) pairs that are ready, oldest first."""

    def __init__(self, options: SmoothOptions = SmoothOptions(), scale: float = 1.0):
        self.filter = OneEuroFilter(options, scale)
        self.ahead = LookAhead(options.lookahead if options.enabled else 0)

    def push(self, points: np.ndarray, dt: float, item=None) -> list[tuple[np.ndarray, object]]:
        shown = self.filter(points, dt)
        return self.ahead.push(shown, self.filter.lag, item)

    def flush(self) -> list[tuple[np.ndarray, object]]:
        return self.ahead.flush()


class FaceTracker:
    """MediaPipe face mesh in video mode. Use as a context manager; call with each frame in order.

    Returns (478, 3) landmarks in frame pixels, or None when no face is found in that frame.
    `settle(frame)` fits the same frame again until the tracking region has converged (the first,
    detection-based fit is off by a couple of pixels); use it for a reference frame.
    """

    def __init__(self, min_detection_confidence: float = 0.5, min_tracking_confidence: float = 0.5):
        self._args = dict(static_image_mode=False, max_num_faces=1, refine_landmarks=True,
                          min_detection_confidence=min_detection_confidence,
                          min_tracking_confidence=min_tracking_confidence)
        self._mesh = None
        self._quiet = None

    def __enter__(self) -> "FaceTracker":
        _, face_mesh = solutions()
        # MediaPipe's graph threads log after the constructor returns: stay quiet until the first
        # inference has finished.
        self._quiet = quiet_native_stderr()
        self._quiet.__enter__()
        try:
            self._mesh = face_mesh.FaceMesh(**self._args)
        except BaseException:
            self._end_quiet()
            raise
        return self

    def _end_quiet(self) -> None:
        if self._quiet is not None:
            self._quiet.__exit__(None, None, None)
            self._quiet = None

    def __call__(self, rgb: np.ndarray) -> np.ndarray | None:
        res = self._mesh.process(np.ascontiguousarray(rgb))
        self._end_quiet()
        if not res.multi_face_landmarks:
            return None
        h, w = rgb.shape[:2]
        return landmarks_to_pixels(res.multi_face_landmarks[0], w, h)

    def settle(self, rgb: np.ndarray, times: int = 4) -> np.ndarray | None:
        """Fit the same frame `times` more times and return the mean fit (None if the face is lost).

        In video mode the fit of a repeated frame alternates between nearby states (about a pixel
        apart for a 512 px driver); their mean is what a still driver's smoothed landmarks settle to.
        """
        fits = []
        for _ in range(times):
            pts = self(rgb)
            if pts is None:
                return None
            fits.append(pts)
        return np.mean(fits, axis=0).astype(np.float32)

    def __exit__(self, *exc) -> None:
        self._end_quiet()
        if self._mesh is not None:
            self._mesh.close()
            self._mesh = None
