"""A built-in motion authored in code (not recorded from anyone): head sway, nods, blinks, talking.

It is expressed in the normalised frame of a reference face (usually the source itself), so it
retargets like any driver. The motion-template work builds richer templates on the same pieces.
"""

from __future__ import annotations

import math
from typing import Iterator

import cv2
import numpy as np

from ugoku.face import landmarks as L
from ugoku.motion.pose import MotionFrame, eye_openness, gaze_offsets, mouth_opening


def blink_offsets(ref: np.ndarray) -> np.ndarray:
    """Expression offsets (478, 3) that close both eyes: upper lids onto the lower lids."""
    d = np.zeros_like(ref)
    for up, lo in ((L.RIGHT_EYE_UPPER, L.RIGHT_EYE_LOWER), (L.LEFT_EYE_UPPER, L.LEFT_EYE_LOWER)):
        up, lo = np.array(up[1:-1]), np.array(lo[1:-1])
        d[up] = 0.92 * (ref[lo] - ref[up])
        d[lo] = 0.08 * (ref[up] - ref[lo])
    return d


def jaw_open_offsets(ref: np.ndarray, amount: float = 0.45) -> np.ndarray:
    """Expression offsets (478, 3) that drop the jaw by `amount` face units: the lower lip and
    everything below it within the jaw move down, fading sideways and up towards the mouth corners;
    the upper lip stays."""
    pts = ref[:, :2]
    corners = list(L.MOUTH_CORNERS)
    y_c = pts[corners, 1].mean()
    x_mid = pts[corners, 0].mean()
    y_low = pts[L.LIPS_OUTER_LOWER[5], 1]                  # middle of the lower lip
    half_mouth = abs(pts[corners[0], 0] - pts[corners[1], 0]) / 2
    oval = pts[list(L.FACE_OVAL)]
    half_face = (oval[:, 0].max() - oval[:, 0].min()) / 2
    t = np.clip((pts[:, 1] - y_c) / max(y_low - y_c, 1e-6), 0, 1)
    vertical = t * t * (3 - 2 * t)
    lateral = np.clip(1 - (np.abs(pts[:, 0] - x_mid) - half_mouth) / max(half_face - half_mouth, 1e-6), 0, 1)
    w = vertical * lateral
    w[list(L.LIPS_INNER_LOWER[1:-1]) + list(L.LIPS_OUTER_LOWER[1:-1])] = 1.0
    w[list(L.LIPS_INNER_UPPER) + list(L.LIPS_OUTER_UPPER)] = 0.0
    d = np.zeros_like(ref)
    d[:, 1] = amount * w
    return d


def _bump(t: float, centre: float, width: float) -> float:
    x = (t - centre) / width
    return math.exp(-0.5 * x * x) if abs(x) < 4 else 0.0


def demo_motion(reference: np.ndarray, fps: float = 25.0, seconds: float = 8.0) -> Iterator[MotionFrame]:
    """Head sway and nod, two blinks, a stretch of talking; loopable (starts and ends at rest)."""
    ref = np.asarray(reference, dtype=np.float64)
    blink = blink_offsets(ref)
    jaw = jaw_open_offsets(ref)
    n = int(round(seconds * fps))
    for i in range(n):
        t = i / fps
        env = math.sin(math.pi * t / seconds) ** 2            # 0 at both ends: loops cleanly
        yaw = math.radians(14) * math.sin(2 * math.pi * t / seconds) * env
        pitch = math.radians(7) * math.sin(4 * math.pi * t / seconds) * env
        roll = math.radians(4) * math.sin(2 * math.pi * t / seconds + 1.0) * env
        R, _ = cv2.Rodrigues(np.array([pitch, yaw, roll]))
        b = max(_bump(t, 0.28 * seconds, 0.05), _bump(t, 0.71 * seconds, 0.05))
        talk = 0.0
        if 0.35 * seconds < t < 0.65 * seconds:
            phase = (t - 0.35 * seconds) / (0.3 * seconds)
            talk = math.sin(math.pi * phase) * (0.55 + 0.45 * math.sin(2 * math.pi * 3.3 * t)) ** 2
        expr = b * blink + talk * jaw
        shape = ref + expr
        yield MotionFrame(rotation=R, scale=1.0, translation=np.array([0.05 * math.sin(2 * math.pi * t / seconds) * env, 0, 0]),
                          expression=expr, eyes=eye_openness(shape), gaze=gaze_offsets(shape),
                          mouth=mouth_opening(shape, 1.0))
