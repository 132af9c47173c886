"""Detect & crop: find the face in a source photo of any size and describe it as a `SourceFace`.

Conventions: images RGB uint8 (H, W, 3); points (x, y) in pixel-centre coordinates; transforms are
2x3 affine matrices named `M_<from>2<to>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from ugoku.face import landmarks as L
from ugoku.face.mp import landmarks_to_pixels, quiet_native_stderr, solutions
from ugoku.face.segment import person_matte

if TYPE_CHECKING:
    from ugoku.motion.memory import MouthBank


@dataclass(frozen=True)
class CropOptions:
    """How the square crop around the face is chosen.

    size: side of the working crop in pixels. scale: crop side over the face height (forehead to
    chin), leaving room for hair and shoulders. face_index: which face, 0 being the largest.
    """

    size: int = 512
    scale: float = 2.4
    face_index: int = 0
    min_face_px: int = 40


@dataclass(frozen=True)
class FaceBox:
    """A detected face in original-image pixels."""

    x0: float
    y0: float
    x1: float
    y1: float
    score: float

    @property
    def area(self) -> float:
        return max(0.0, self.x1 - self.x0) * max(0.0, self.y1 - self.y0)


@dataclass(frozen=True)
class SourceFace:
    """A source portrait ready for animation.

    image: the original photo, RGB uint8, full resolution. crop: the working crop (size, size, 3).
    M_crop2orig: 2x3 affine from crop pixel centres to original pixel centres (scale + translation).
    landmarks: (478, 3) float32 in crop pixels; z in the same scale as x, smaller is nearer.
    n_faces: how many faces the photo holds. matte: the person's soft matte over the crop, float32
    (size, size) in [0, 1] (face/segment.py), or None when not computed. memory: the person's own
    mouth interiors from a video of them (motion/memory.py), or None.
    """

    image: np.ndarray
    crop: np.ndarray
    M_crop2orig: np.ndarray
    landmarks: np.ndarray
    n_faces: int
    matte: np.ndarray | None = None
    memory: "MouthBank | None" = None


class NoFace:
    """Falsy result for 'no face found' (an expected outcome, not an exception)."""

    def __init__(self, reason: str, n_faces: int = 0):
        self.reason = reason
        self.n_faces = n_faces

    def __bool__(self) -> bool:
        return False


def _detect_once(detector, rgb: np.ndarray, max_side: int = 1280) -> list[FaceBox]:
    h, w = rgb.shape[:2]
    s = min(1.0, max_side / max(h, w))
    small = cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA) if s < 1 else rgb
    res = detector.process(np.ascontiguousarray(small))
    boxes = []
    for det in res.detections or []:
        bb = det.location_data.relative_bounding_box
        boxes.append(FaceBox(bb.xmin * w, bb.ymin * h, (bb.xmin + bb.width) * w,
                             (bb.ymin + bb.height) * h, float(det.score[0])))
    return boxes


def _nms(boxes: list[FaceBox], thresh: float = 0.3) -> list[FaceBox]:
    keep: list[FaceBox] = []
    for b in sorted(boxes, key=lambda b: -b.score):
        ok = True
        for k in keep:
            ix = max(0.0, min(b.x1, k.x1) - max(b.x0, k.x0))
            iy = max(0.0, min(b.y1, k.y1) - max(b.y0, k.y0))
            inter = ix * iy
            if inter / max(1e-6, b.area + k.area - inter) > thresh:
                ok = False
                break
        if ok:
            keep.append(b)
    return keep


def detect_faces(rgb: np.ndarray) -> list[FaceBox]:
    """All faces in an image, largest first. Small faces in large images are found by tiling."""
    face_detection, _ = solutions()
    h, w = rgb.shape[:2]
    with quiet_native_stderr(), face_detection.FaceDetection(model_selection=1,
                                                             min_detection_confidence=0.5) as det:
        boxes = _detect_once(det, rgb)
        if not boxes and max(h, w) > 640:
            # The detector works at 192 px internally: look again in overlapping tiles.
            side = max(320, min(h, w) // 2)
            step = side // 2
            for y in range(0, max(1, h - step), step):
                for x in range(0, max(1, w - step), step):
                    tile = rgb[y:y + side, x:x + side]
                    for b in _detect_once(det, tile):
                        boxes.append(FaceBox(b.x0 + x, b.y0 + y, b.x1 + x, b.y1 + y, b.score))
    boxes = _nms([b for b in boxes if b.area > 0])
    return sorted(boxes, key=lambda b: -b.area)


def crop_square(rgb: np.ndarray, cx: float, cy: float, side: float, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Crop a square (kept inside the image, shrunk if needed) and resize it to `size`.

    Returns (crop, M_crop2orig). The square never extends past the photo, so no padding (mirrored or
    replicated) can appear in the crop.
    """
    h, w = rgb.shape[:2]
    side = int(round(min(side, h, w)))
    x0 = int(round(min(max(cx - side / 2, 0), w - side)))
    y0 = int(round(min(max(cy - side / 2, 0), h - side)))
    region = rgb[y0:y0 + side, x0:x0 + side]
    interp = cv2.INTER_AREA if side > size else cv2.INTER_CUBIC
    crop = cv2.resize(region, (size, size), interpolation=interp)
    s = side / size
    M = np.array([[s, 0.0, x0 + 0.5 * s - 0.5], [0.0, s, y0 + 0.5 * s - 0.5]], dtype=np.float64)
    return np.ascontiguousarray(crop), M


def apply_affine(M: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine to (N, 2+) points; extra columns (z) are scaled by the x scale."""
    out = np.array(pts, dtype=np.float64, copy=True)
    out[:, :2] = pts[:, :2] @ M[:, :2].T + M[:, 2]
    if pts.shape[1] > 2:
        out[:, 2] = pts[:, 2] * np.sqrt(abs(np.linalg.det(M[:, :2])))
    return out


def invert_affine(M: np.ndarray) -> np.ndarray:
    return cv2.invertAffineTransform(M.astype(np.float64))


def static_landmarks(rgb: np.ndarray) -> np.ndarray | None:
    """478 landmarks (crop pixels) of the most prominent face in an image, or None."""
    _, face_mesh = solutions()
    with quiet_native_stderr(), face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1,
                                                   refine_landmarks=True,
                                                   min_detection_confidence=0.3) as fm:
        res = fm.process(np.ascontiguousarray(rgb))
    if not res.multi_face_landmarks:
        return None
    h, w = rgb.shape[:2]
    return landmarks_to_pixels(res.multi_face_landmarks[0], w, h)


def _face_frame(lm_orig: np.ndarray) -> tuple[float, float, float]:
    """Centre and height of the face oval (original pixels)."""
    oval = lm_orig[list(L.FACE_OVAL), :2]
    x0, y0 = oval.min(0)
    x1, y1 = oval.max(0)
    return (x0 + x1) / 2, (y0 + y1) / 2, max(y1 - y0, x1 - x0)


def find_source_face(image: np.ndarray, options: CropOptions = CropOptions()) -> SourceFace | NoFace:
    """Detect the chosen face, crop around it and fit the 478-point mesh in the crop.

    Returns NoFace (falsy) with a reason when there is no usable face.
    """
    boxes = detect_faces(image)
    if options.face_index >= max(1, len(boxes)) and boxes:
        return NoFace(f"the photo has {len(boxes)} face(s); --face-index must be 0 to {len(boxes) - 1}",
                      len(boxes))
    if boxes:
        b = boxes[options.face_index]
        cx, cy = (b.x0 + b.x1) / 2, (b.y0 + b.y1) / 2
        side0 = 2.2 * max(b.x1 - b.x0, b.y1 - b.y0)
    else:
        # The detector missed it (paintings, statues, tight crops): let the mesh look at the whole image.
        h, w = image.shape[:2]
        cx, cy, side0 = w / 2, h / 2, max(h, w)
    crop0, M0 = crop_square(image, cx, cy, side0, options.size)
    lm0 = static_landmarks(crop0)
    if lm0 is None:
        return NoFace("no face found", len(boxes))
    lm_orig = apply_affine(M0, lm0)
    fcx, fcy, fh = _face_frame(lm_orig)
    if fh < options.min_face_px:
        return NoFace(f"the face is only {fh:.0f} px tall; use a photo where it is at least "
                      f"{options.min_face_px} px", len(boxes))
    crop, M = crop_square(image, fcx, fcy, options.scale * fh, options.size)
    lm = static_landmarks(crop)
    if lm is None:
        lm = apply_affine(invert_affine(M), lm_orig).astype(np.float32)
    lm = lm.astype(np.float32)
    return SourceFace(image=image, crop=crop, M_crop2orig=M, landmarks=lm, n_faces=max(1, len(boxes)),
                      matte=person_matte(crop, lm))
