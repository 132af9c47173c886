"""The independent judge: dlib's 68-point shape predictor and 128-D face descriptor.

These models come from `dlib-bin` and `face-recognition-models` and share nothing with ugoku's own
tracker (MediaPipe), so a metric computed here cannot be flattered by the tracker that drove the
motion. Convention: images are RGB uint8 (H, W, 3); points are (x, y) pixel coordinates, shape (68, 2).

Signals are pure functions of the 68 points (iBUG 300-W numbering, 0-based):
jaw 0-16, right brow 17-21, left brow 22-26, nose 27-35, right eye 36-41, left eye 42-47,
outer lips 48-59, inner lips 60-67 ("right" is the subject's right, on the image's left).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ugoku.errors import UgokuError

RIGHT_EYE = tuple(range(36, 42))
LEFT_EYE = tuple(range(42, 48))
RIGHT_BROW = tuple(range(17, 22))
LEFT_BROW = tuple(range(22, 27))
INNER_LIP_PAIRS = ((61, 67), (62, 66), (63, 65))   # upper, lower

# A generic adult head in millimetres, x right, y down, z away from the camera, nose tip at the
# origin; only points that do not move with expression (eye corners, nose), so a smile or an open
# jaw does not read as a head turn.
POSE_POINTS = (27, 30, 31, 35, 36, 39, 42, 45)
GENERIC_HEAD = np.array([
    [0.0, -33.0, 18.0],     # 27 nose bridge
    [0.0, 0.0, 0.0],        # 30 nose tip
    [-11.0, 8.0, 14.0],     # 31 right nostril edge
    [11.0, 8.0, 14.0],      # 35 left nostril edge
    [-44.0, -32.0, 32.0],   # 36 right eye, outer corner
    [-13.0, -31.0, 24.0],   # 39 right eye, inner corner
    [13.0, -31.0, 24.0],    # 42 left eye, inner corner
    [44.0, -32.0, 32.0],    # 45 left eye, outer corner
])


class JudgeUnavailable(UgokuError):
    pass


def _model_dir() -> Path:
    # find_spec does not execute the package (its __init__ imports the deprecated pkg_resources).
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise JudgeUnavailable("the evaluation models are not installed; install the project with "
                               "`pip install --no-deps -r requirements.lock -e .`.")
    return Path(list(spec.submodule_search_locations)[0]) / "models"


@dataclass(frozen=True)
class Face68:
    """One face seen by dlib: 68 points (x, y) in pixels and, when asked for, the 128-D descriptor."""

    points: np.ndarray
    descriptor: np.ndarray | None = None


class Dlib68:
    """dlib's HOG face detector, 68-point predictor and ResNet descriptor, loaded once.

    The HOG detector finds faces of 80 px and more; it runs on copies scaled to 256 and 512 px and full
    size, then upsampled, until a face is found (small copies are ~3x faster). With `follow=True` (the
    frames of one video) it first tries a copy scaled so that the last face found would be about
    `face_px` wide. Other calls neither use nor change that hint: the predictor's points depend on the
    box, so a still read after a video must not depend on the video.

    The predictor places its points on whole pixels. Where a face is small that is coarse (on a 512 px
    crop an open eye is 8-10 px high, so a pixel is a tenth of the signal) and it makes a small face
    read noisier than a large one. So the predictor reads the region around the detector's box scaled
    until the box is `read_px` wide, the same size for every face, and its points are mapped back to
    sub-pixel positions in the image. The descriptor runs on the full-size image.
    """

    def __init__(self, face_px: int = 110, read_px: int = 400):
        import dlib

        models = _model_dir()
        self.face_px = face_px
        self.read_px = read_px
        self.hint: float | None = None     # width of the last face found with follow=True, in pixels
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(str(models / "shape_predictor_68_face_landmarks.dat"))
        self._encoder = dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat"))
        self._dlib = dlib

    def _boxes(self, rgb: np.ndarray, follow: bool):
        dlib = self._dlib
        h, w = rgb.shape[:2]
        scales = [min(1.0, 256 / max(h, w)), min(1.0, 512 / max(h, w)), 1.0]
        if follow and self.hint:
            scales.insert(0, min(1.0, self.face_px / self.hint))
        tries = [(s, 0) for s in dict.fromkeys(scales) if s * min(h, w) >= 80] + [(1.0, 1)]
        for scale, up in tries:
            img = rgb if scale == 1.0 else cv2.resize(rgb, (round(w * scale), round(h * scale)),
                                                       interpolation=cv2.INTER_AREA)
            rects = self._detector(img, up)
            if len(rects):
                return [dlib.rectangle(round(r.left() / scale), round(r.top() / scale),
                                       round(r.right() / scale), round(r.bottom() / scale)) for r in rects]
        return []

    def __call__(self, rgb: np.ndarray, descriptor: bool = False, follow: bool = False) -> Face68 | None:
        """The largest face in `rgb`, or None when dlib finds no face. `follow`: `rgb` is the next frame
        of the video whose earlier frames were read with `follow=True` since the hint was last reset."""
        rgb = np.ascontiguousarray(rgb)
        boxes = self._boxes(rgb, follow)
        if not boxes:
            return None
        box = max(boxes, key=lambda r: r.width() * r.height())
        if follow:
            self.hint = float(box.width())
        pts = self._points(rgb, box)
        desc = None
        if descriptor:
            shape = self._predictor(rgb, box)
            desc = np.array(self._encoder.compute_face_descriptor(rgb, shape), dtype=np.float64)
        return Face68(pts, desc)

    def _points(self, rgb: np.ndarray, box) -> np.ndarray:
        """The 68 points of the face in `box`, read with the box scaled to `read_px` wide."""
        dlib = self._dlib
        w = max(box.right() - box.left(), 1)
        s = self.read_px / w
        h_img, w_img = rgb.shape[:2]
        m = int(0.4 * w)                    # room for the jaw and brows outside the box
        x0, y0 = max(0, box.left() - m), max(0, box.top() - m)
        x1, y1 = min(w_img, box.right() + m + 1), min(h_img, box.bottom() + m + 1)
        region = cv2.resize(rgb[y0:y1, x0:x1], (max(1, round((x1 - x0) * s)), max(1, round((y1 - y0) * s))),
                            interpolation=cv2.INTER_LINEAR if s > 1 else cv2.INTER_AREA)
        sx, sy = region.shape[1] / (x1 - x0), region.shape[0] / (y1 - y0)

        def to_region(x, x_0, k):
            return round((x - x_0 + 0.5) * k - 0.5)

        scaled = dlib.rectangle(to_region(box.left(), x0, sx), to_region(box.top(), y0, sy),
                                to_region(box.right(), x0, sx), to_region(box.bottom(), y0, sy))
        shape = self._predictor(np.ascontiguousarray(region), scaled)
        p = np.array([(q.x, q.y) for q in shape.parts()], dtype=np.float64)
        return (p + 0.5) / [sx, sy] - 0.5 + [x0, y0]


# ---- signals: pure functions of (68, 2) points ------------------------------------------------------


def interocular(p: np.ndarray) -> float:
    """Distance between the two eye centres, the unit of every normalised signal."""
    return float(np.linalg.norm(p[list(LEFT_EYE)].mean(0) - p[list(RIGHT_EYE)].mean(0)))


def mouth_opening(p: np.ndarray) -> float:
    """Mean gap between the inner lips (three pairs), in inter-ocular units."""
    gaps = [np.linalg.norm(p[a] - p[b]) for a, b in INNER_LIP_PAIRS]
    return float(np.mean(gaps)) / interocular(p)


def eye_aspect(p: np.ndarray, eye: tuple[int, ...]) -> float:
    """Eye aspect ratio (Soukupová & Čech 2016): lid gaps over eye width; ~0.3 open, < 0.15 closed."""
    e = p[list(eye)]
    vertical = np.linalg.norm(e[1] - e[5]) + np.linalg.norm(e[2] - e[4])
    return float(vertical / (2.0 * np.linalg.norm(e[0] - e[3])))


def brow_raise(p: np.ndarray) -> float:
    """Height of both brows above the middle of their eye's corners (36, 39; 42, 45), along the face's
    up direction, in inter-ocular units. Not above the eye centres: the mean of an eye's six points
    drops when the upper lid does, and every blink read as a brow raise of about 0.05."""
    rc, lc = p[[36, 39]].mean(0), p[[42, 45]].mean(0)
    across = (lc - rc) / np.linalg.norm(lc - rc)
    up = np.array([across[1], -across[0]])         # perpendicular, pointing up the face (image y is down)
    h = [((p[list(brow)] - c) @ up).mean() for brow, c in ((RIGHT_BROW, rc), (LEFT_BROW, lc))]
    return float(np.mean(h)) / interocular(p)


def smile_lift(p: np.ndarray) -> float:
    """How far the mouth corners (48, 54) sit above the middle of the lips' outer line (the mean of
    the upper lip top 51 and the lower lip bottom 57), along the face's up direction, in inter-ocular
    units: grows with a smile, shrinks with a frown."""
    rc, lc = p[list(RIGHT_EYE)].mean(0), p[list(LEFT_EYE)].mean(0)
    across = (lc - rc) / np.linalg.norm(lc - rc)
    up = np.array([across[1], -across[0]])
    mid = (p[51] + p[57]) / 2
    return float(((p[[48, 54]] - mid) @ up).mean()) / interocular(p)


def pupil_offset(rgb: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """Gaze read from pixels, not from any landmark model's iris: inside each dlib eye outline, the
    centroid of the darkest pixels (the iris and pupil) relative to the eye-corner midpoint, along and
    across the corner line, in eye widths; the mean of both eyes (h > 0 towards the image's right)."""
    import cv2

    gray = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY).astype(np.float64)
    out = []
    for eye in (RIGHT_EYE, LEFT_EYE):
        e = p[list(eye)]
        a, b = e[0], e[3]
        if a[0] > b[0]:
            a, b = b, a
        w = float(np.linalg.norm(b - a))
        if w < 4:
            continue
        x0, y0 = np.floor(e.min(0)).astype(int)
        x1, y1 = np.ceil(e.max(0)).astype(int) + 1
        x0, y0 = max(x0, 0), max(y0, 0)
        x1, y1 = min(x1, gray.shape[1]), min(y1, gray.shape[0])
        if x1 - x0 < 3 or y1 - y0 < 2:
            continue
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillPoly(mask, [np.round(e - [x0, y0]).astype(np.int32)], 1)
        vals = gray[y0:y1, x0:x1][mask > 0]
        if vals.size < 6:
            continue
        dark = gray[y0:y1, x0:x1] <= np.percentile(vals, 30)
        ys, xs = np.nonzero(dark & (mask > 0))
        c = np.array([xs.mean() + x0, ys.mean() + y0])
        ex = (b - a) / w
        ey = np.array([-ex[1], ex[0]])
        d = c - (a + b) / 2
        out.append((d @ ex / w, d @ ey / w))
    if not out:
        return float("nan"), float("nan")
    h, v = np.mean(out, 0)
    return float(h), float(v)


def head_pose(p: np.ndarray, width: int, height: int) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees from solvePnP against a generic head; pinhole camera with focal
    length = the image's longer side. Positive yaw turns the face towards the image's right, positive
    pitch tilts the chin down, positive roll turns the face clockwise on screen."""
    f = float(max(width, height))
    K = np.array([[f, 0, width / 2.0], [0, f, height / 2.0], [0, 0, 1]])
    img = p[list(POSE_POINTS)].astype(np.float64)
    # Start from a frontal head at the distance its eye spacing implies: without a start, the
    # iterative solver sometimes lands on the mirrored solution (roll near 180 degrees).
    z = f * 60.0 / max(interocular(p), 1e-6)
    c = img[1]
    t0 = np.array([[(c[0] - width / 2.0) * z / f], [(c[1] - height / 2.0) * z / f], [z]])
    ok, rvec, tvec = cv2.solvePnP(GENERIC_HEAD, img, K, None, np.zeros((3, 1)), t0, useExtrinsicGuess=True,
                                  flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok:
        return (float("nan"),) * 3
    R, _ = cv2.Rodrigues(rvec)
    # R = Rz(roll) @ Ry(yaw) @ Rx(pitch) in camera axes (x right, y down, z forward).
    yaw = np.degrees(np.arcsin(np.clip(-R[2, 0], -1.0, 1.0)))
    pitch = np.degrees(np.arctan2(R[2, 1], R[2, 2]))
    roll = np.degrees(np.arctan2(R[1, 0], R[0, 0]))
    return float(-yaw), float(pitch), float(roll)


def face_box(p: np.ndarray, width: int, height: int, margin: float = 0.15) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) around the 68 points, brows to chin, widened by `margin` of its size and
    raised to include the forehead; clipped to the image."""
    x0, y0 = p.min(0)
    x1, y1 = p.max(0)
    w, h = x1 - x0, y1 - y0
    x0, x1 = x0 - margin * w, x1 + margin * w
    y0, y1 = y0 - (margin + 0.2) * h, y1 + margin * h
    return (max(0, int(x0)), max(0, int(y0)), min(width, int(np.ceil(x1))), min(height, int(np.ceil(y1))))
