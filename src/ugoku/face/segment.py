"""Segment: the person in a source crop, as a soft matte.

MediaPipe's selfie segmentation (bundled with mediapipe 0.10.21, general model, 256x256 inside)
gives each pixel a probability of belonging to the person: head, hair, neck, shoulders. The render
stage moves that layer with the head and keeps the rest of the photo still (render/background.py).
The model misses parts of statues and paintings now and then, so the face itself (the mesh's oval,
widened a little) is always counted as person.

Conventions: images RGB uint8 (H, W, 3); points (x, y) in the same pixels; the matte is float32
(H, W) in [0, 1], 1 on the person.
"""

from __future__ import annotations

import cv2
import numpy as np

from ugoku.face import landmarks as L
from ugoku.face.mp import quiet_native_stderr

FACE_GROW = 1.1      # the oval is scaled by this about its centre before it is added to the matte


def model_matte(rgb: np.ndarray) -> np.ndarray:
    """The segmentation model's person probability for every pixel, float32 (H, W)."""
    with quiet_native_stderr():
        from mediapipe.python.solutions import selfie_segmentation

        with selfie_segmentation.SelfieSegmentation(model_selection=0) as seg:
            mask = seg.process(np.ascontiguousarray(rgb)).segmentation_mask
    return np.clip(np.asarray(mask, np.float32), 0.0, 1.0)


def face_matte(shape: tuple[int, int], points: np.ndarray) -> np.ndarray:
    """1 inside the face oval (grown by FACE_GROW), softened over a few pixels, float32 (H, W)."""
    oval = np.asarray(points, np.float64)[list(L.FACE_OVAL), :2]
    c = oval.mean(0)
    grown = c + FACE_GROW * (oval - c)
    m = np.zeros(shape, np.float32)
    cv2.fillPoly(m, [np.round(grown * 16).astype(np.int32)], 1.0, lineType=cv2.LINE_AA, shift=4)
    span = float(np.ptp(oval[:, 1]))
    return cv2.GaussianBlur(m, (0, 0), max(1.0, 0.02 * span))


def person_matte(rgb: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The person's soft matte in a crop whose face landmarks are `points` (see the module docstring)."""
    return np.maximum(model_matte(rgb), face_matte(rgb.shape[:2], points))
