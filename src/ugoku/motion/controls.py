"""Controls: motion as a handful of named numbers (head pose, eyes, brows, mouth, gaze).

Templates, recorded motion, still-photo edits and image-driven animation all speak this one small
vocabulary. A `Controls` value says *how much* of each movement, in units any face understands; a
`Rig` built on one face's normalised landmarks (see `HeadFrame.normalise`) turns it into a
`MotionFrame` for that face, and `Rig.solve` does the reverse: it reads how much of each movement a
tracked shape shows. Nothing here holds a face's shape beyond the rig of the face being animated.

Conventions: angles in degrees; yaw > 0 turns the face towards the image's right, pitch > 0 tilts
the chin down, roll > 0 turns the head clockwise in the image. x, y: head movement in face-size units
(x right, y down); zoom: size ratio. eye_r/eye_l (the subject's right and left): -1 closed, 0 as in
the photo, 1 wide open. brow_*: -1 lowered, 1 raised. smile: -1 corners down, 1 a broad smile. jaw:
0 as in the photo, 1 wide open (negative: closer, never past closed lips). mouth_wide: -1 pursed,
1 stretched. gaze_h/gaze_v: -1..1 of the gaze range (`eyes.USER_RANGE`), h > 0 towards the image's
right, v > 0 down; relative to the photo's gaze.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from ugoku.face import landmarks as L
from ugoku.motion.eyes import USER_RANGE, gaze
from ugoku.motion.pose import MotionFrame, eye_openness, gaze_offsets, mouth_opening


@dataclass(frozen=True)
class Controls:
    """One frame of motion as named amounts (see the module docstring for units and signs)."""

    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0
    x: float = 0.0
    y: float = 0.0
    zoom: float = 1.0
    eye_r: float = 0.0
    eye_l: float = 0.0
    brow_r: float = 0.0
    brow_l: float = 0.0
    smile: float = 0.0
    jaw: float = 0.0
    mouth_wide: float = 0.0
    gaze_h: float = 0.0
    gaze_v: float = 0.0

    def as_row(self) -> list[float]:
        return [float(getattr(self, n)) for n in CHANNELS]

    @staticmethod
    def from_row(row) -> "Controls":
        return Controls(**{n: float(v) for n, v in zip(CHANNELS, row)})

    def clipped(self) -> "Controls":
        return Controls(**{n: float(np.clip(getattr(self, n), *BOUNDS[n])) for n in CHANNELS})

    def plus(self, other: "Controls") -> "Controls":
        """Both motions at once: angles, movements and amounts add; zooms multiply."""
        out = {n: getattr(self, n) + getattr(other, n) for n in CHANNELS}
        out["zoom"] = self.zoom * other.zoom
        return Controls(**out).clipped()


CHANNELS = tuple(f.name for f in fields(Controls))
BOUNDS = {   # what a template may hold; a recorded performer can go past the sliders' -1..1
    "yaw": (-45.0, 45.0), "pitch": (-30.0, 30.0), "roll": (-30.0, 30.0),
    "x": (-1.0, 1.0), "y": (-1.0, 1.0), "zoom": (0.7, 1.4),
    "eye_r": (-1.0, 2.0), "eye_l": (-1.0, 2.0), "brow_r": (-2.0, 2.0), "brow_l": (-2.0, 2.0),
    "smile": (-2.0, 2.0), "jaw": (-1.0, 2.5), "mouth_wide": (-2.0, 2.0),
    "gaze_h": (-1.5, 1.5), "gaze_v": (-1.5, 1.5),
}
REST = Controls()


def rotation_from_angles(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """R = Rz(roll) Rx(pitch) Ry(-yaw), degrees, for the image-aligned axes of `ugoku.motion.pose`
    (x right, y down, z away from the camera)."""
    y, p, r = (math.radians(v) for v in (-yaw, pitch, roll))
    Ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    Rx = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    Rz = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    return Rz @ Rx @ Ry


def angles_from_rotation(R: np.ndarray) -> tuple[float, float, float]:
    """Inverse of `rotation_from_angles`: (yaw, pitch, roll) in degrees."""
    R = np.asarray(R, dtype=np.float64)
    pitch = math.asin(float(np.clip(R[2, 1], -1.0, 1.0)))
    roll = math.atan2(-R[0, 1], R[1, 1])
    y = math.atan2(-R[2, 0], R[2, 2])
    return -math.degrees(y), math.degrees(pitch), math.degrees(roll)


# ---------------------------------------------------------------------------------------------
# What a shape shows: named measurements on normalised landmarks (pose removed).

_INNER_PAIRS = tuple(zip(L.LIPS_INNER_UPPER[4:7], L.LIPS_INNER_LOWER[4:7]))   # the middle three pairs
STATE = ("eye_r", "eye_l", "brow_r", "brow_l", "smile", "jaw", "mouth_wide")


def _eye_width(p: np.ndarray, corners) -> float:
    return float(np.linalg.norm(p[corners[0], :2] - p[corners[1], :2]))


def measure(p: np.ndarray) -> np.ndarray:
    """(7,) in STATE order: lid gap over eye width (right, left); brow height above the eye corners
    over eye width (right, left); mouth-corner lift above the upper-lip middle, the mean gap of the three
    middle inner-lip pairs and the mouth-corner distance, all three in face units (the normalised scale)."""
    eyes = eye_openness(p)
    brows = []
    for brow, corners in ((L.RIGHT_BROW, L.RIGHT_EYE_CORNERS), (L.LEFT_BROW, L.LEFT_EYE_CORNERS)):
        eye_y = p[list(corners), 1].mean()
        brows.append((eye_y - p[list(brow), 1].mean()) / max(_eye_width(p, corners), 1e-9))
    c0, c1 = L.MOUTH_CORNERS
    top = L.LIPS_OUTER_UPPER[5]
    smile = p[top, 1] - (p[c0, 1] + p[c1, 1]) / 2
    wide = np.linalg.norm(p[c0, :2] - p[c1, :2])
    gap = np.mean([np.linalg.norm(p[a, :2] - p[b, :2]) for a, b in _INNER_PAIRS])
    return np.array([eyes[0], eyes[1], brows[0], brows[1], smile, gap, wide])


# ---------------------------------------------------------------------------------------------
# Blendshapes: unit offsets (478, 3) on one face's normalised landmarks.

def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3 - 2 * t)


def eye_close_offsets(ref: np.ndarray, side: str) -> np.ndarray:
    """Close one eye: the upper lid onto the lower (92 %), the lower lid up (8 %)."""
    upper, lower, _, _ = L.EYES[side]
    up, lo = np.array(upper[1:-1]), np.array(lower[1:-1])
    d = np.zeros_like(ref)
    d[up] = 0.92 * (ref[lo] - ref[up])
    d[lo] = 0.08 * (ref[up] - ref[lo])
    return d


def eye_wide_offsets(ref: np.ndarray, side: str) -> np.ndarray:
    """Open one eye wide: the upper lid rises by 0.12 eye widths in its middle, less towards the
    corners; the lower lid drops by a quarter of that; skin just above the lid follows halfway."""
    upper, lower, _, corners = L.EYES[side]
    w = _eye_width(ref, corners)
    d = np.zeros_like(ref)
    for chain, amount in ((upper, -0.12), (lower, 0.03)):
        n = len(chain) - 1
        prof = np.sin(np.pi * np.arange(n + 1) / n)
        d[list(chain), 1] = amount * w * prof
    # The fold above the upper lid: nearby surface points that are above the lid line.
    lid = ref[list(upper), :2]
    pts = ref[:L.N_SURFACE, :2]
    dist = np.linalg.norm(pts[:, None] - lid[None], axis=2)
    near = dist.argmin(1)
    above = pts[:, 1] < lid[near, 1] - 1e-9
    fall = np.exp(-0.5 * (dist.min(1) / (0.15 * w)) ** 2) * above
    eye_pts = set(upper) | set(lower) | set(L.RIGHT_IRIS) | set(L.LEFT_IRIS)
    for i in np.nonzero(fall > 0.02)[0]:
        if i not in eye_pts:
            d[i, 1] += 0.5 * fall[i] * d[upper[near[i]], 1]
    return d


def brow_offsets(ref: np.ndarray, side: str) -> np.ndarray:
    """Raise one brow by 0.3 eye widths; the forehead above it follows with a smooth falloff and
    the skin between brow and lid stretches (the lid itself stays)."""
    brow, corners = (L.RIGHT_BROW, L.RIGHT_EYE_CORNERS) if side == "right_eye" else (L.LEFT_BROW, L.LEFT_EYE_CORNERS)
    w = _eye_width(ref, corners)
    pts = ref[:L.N_SURFACE, :2]
    b = ref[list(brow), :2]
    dist = np.linalg.norm(pts[:, None] - b[None], axis=2).min(1)
    eye_y = ref[list(corners), 1].mean()
    brow_y = b[:, 1].mean()
    # Full weight at and above the brow; fading to nothing at the eye-corner line below it.
    below = _smoothstep((eye_y - pts[:, 1]) / max(eye_y - brow_y, 1e-9))
    w_pt = np.exp(-0.5 * (dist / (0.6 * w)) ** 2) * below
    w_pt[list(brow)] = 1.0
    upper, lower, iris, _ = L.EYES[side]
    w_pt[list(upper) + list(lower)] = 0.0
    d = np.zeros_like(ref)
    d[:L.N_SURFACE, 1] = -0.3 * w * w_pt
    d[list(iris)] = 0.0
    return d


def _mouth_frame(ref: np.ndarray) -> tuple[np.ndarray, float]:
    c0, c1 = L.MOUTH_CORNERS
    mid = (ref[c0, :2] + ref[c1, :2]) / 2
    return mid, float(np.linalg.norm(ref[c0, :2] - ref[c1, :2]))


def _around_corners(ref: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Per point: weight of the nearer mouth corner (Gaussian in distance) and which side (+1 for
    the corner on the image's right, -1 for the left one)."""
    pts = ref[:L.N_SURFACE, :2]
    c = ref[list(L.MOUTH_CORNERS), :2]
    dist = np.linalg.norm(pts[:, None] - c[None], axis=2)
    near = dist.argmin(1)
    side = np.sign(c[near, 0] - c.mean(0)[0])
    return np.exp(-0.5 * (dist.min(1) / sigma) ** 2), side


def smile_offsets(ref: np.ndarray) -> np.ndarray:
    """A broad smile: the mouth corners go up by 0.2 and out by 0.12 mouth widths; the lips follow in
    a crescent (more towards the corners); the cheeks beside the mouth bunch up; the lower lids rise
    by a fifth of the eye opening (the cheek pushes them, as in a real smile)."""
    mid, W = _mouth_frame(ref)
    pts = ref[:L.N_SURFACE, :2]
    wgt, side = _around_corners(ref, 0.35 * W)
    d = np.zeros_like(ref)
    # Cheeks and skin around the corners (not below the chin line of the lower lip).
    below = _smoothstep((pts[:, 1] - ref[L.LIPS_OUTER_LOWER[5], 1]) / (0.5 * W))
    cheek = wgt * (1 - below)
    d[:L.N_SURFACE, 0] = 0.08 * W * side * cheek
    d[:L.N_SURFACE, 1] = -0.14 * W * cheek
    # The lips themselves: a crescent, by how far along the mouth each point sits.
    lips = np.array(L.LIPS)
    r = np.clip(np.abs(pts[lips, 0] - mid[0]) / (W / 2), 0.0, 1.0)
    d[lips, 0] = 0.12 * W * np.sign(pts[lips, 0] - mid[0]) * r
    d[lips, 1] = -0.2 * W * r ** 2 - 0.02 * W
    for eye in ("right_eye", "left_eye"):
        upper, lower, _, corners = L.EYES[eye]
        gap = ref[list(L.RIGHT_EYE_LID_MID if eye == "right_eye" else L.LEFT_EYE_LID_MID), 1]
        n = len(lower) - 1
        d[list(lower), 1] = -0.2 * abs(gap[1] - gap[0]) * np.sin(np.pi * np.arange(n + 1) / n)
    return d


def frown_offsets(ref: np.ndarray) -> np.ndarray:
    """Mouth corners down by 0.12 mouth widths, the lips following in an arch, the skin beside and
    below the corners pulled down with them (what a negative smile means)."""
    mid, W = _mouth_frame(ref)
    pts = ref[:L.N_SURFACE, :2]
    wgt, _ = _around_corners(ref, 0.3 * W)
    d = np.zeros_like(ref)
    d[:L.N_SURFACE, 1] = 0.1 * W * wgt
    lips = np.array(L.LIPS)
    r = np.clip(np.abs(pts[lips, 0] - mid[0]) / (W / 2), 0.0, 1.0)
    d[lips, 1] = 0.12 * W * r ** 2
    return d


def mouth_wide_offsets(ref: np.ndarray) -> np.ndarray:
    """Stretch the mouth sideways by 0.15 mouth widths (negative: purse it), the lips in proportion
    to their distance from the middle, the skin around them fading out."""
    mid, W = _mouth_frame(ref)
    pts = ref[:L.N_SURFACE, :2]
    lips = ref[list(L.LIPS), :2]
    dist = np.linalg.norm(pts[:, None] - lips[None], axis=2).min(1)
    wgt = np.exp(-0.5 * (dist / (0.3 * W)) ** 2)
    rel = np.clip((pts[:, 0] - mid[0]) / (W / 2), -1.2, 1.2)
    d = np.zeros_like(ref)
    d[:L.N_SURFACE, 0] = 0.075 * W * rel * wgt
    return d


def jaw_offsets(ref: np.ndarray, amount: float = 0.35) -> np.ndarray:
    """Drop the jaw by `amount` face units: the lower lip and what is below it within the jaw move
    down, fading sideways and up towards the mouth corners; the upper lip stays."""
    pts = ref[:, :2]
    corners = list(L.MOUTH_CORNERS)
    y_c = pts[corners, 1].mean()
    x_mid = pts[corners, 0].mean()
    y_low = pts[L.LIPS_OUTER_LOWER[5], 1]
    half_mouth = abs(pts[corners[0], 0] - pts[corners[1], 0]) / 2
    oval = pts[list(L.FACE_OVAL)]
    half_face = (oval[:, 0].max() - oval[:, 0].min()) / 2
    vertical = _smoothstep((pts[:, 1] - y_c) / max(y_low - y_c, 1e-6))
    lateral = np.clip(1 - (np.abs(pts[:, 0] - x_mid) - half_mouth) / max(half_face - half_mouth, 1e-6), 0, 1)
    w = vertical * lateral
    w[list(L.LIPS_INNER_LOWER[1:-1]) + list(L.LIPS_OUTER_LOWER[1:-1])] = 1.0
    w[list(L.LIPS_INNER_UPPER) + list(L.LIPS_OUTER_UPPER)] = 0.0
    d = np.zeros_like(ref)
    d[:, 1] = amount * w
    return d


class Rig:
    """Controls <-> motion for one face, built on its normalised landmarks `reference` (478, 3).

    `motion(c)` gives the MotionFrame that shows `c` on this face; `solve(shape)` reads the
    expression controls a normalised, pose-free shape of the same face shows relative to the
    reference (the inverse, by least squares on the measured STATE).
    """

    def __init__(self, reference: np.ndarray):
        ref = np.asarray(reference, dtype=np.float64)
        if ref.shape != (L.N_LANDMARKS, 3):
            raise ValueError(f"a rig needs (478, 3) landmarks, not {ref.shape}")
        self.reference = ref
        self.shapes = {
            "close_r": eye_close_offsets(ref, "right_eye"), "close_l": eye_close_offsets(ref, "left_eye"),
            "wide_r": eye_wide_offsets(ref, "right_eye"), "wide_l": eye_wide_offsets(ref, "left_eye"),
            "brow_r": brow_offsets(ref, "right_eye"), "brow_l": brow_offsets(ref, "left_eye"),
            "smile": smile_offsets(ref), "frown": frown_offsets(ref), "jaw": jaw_offsets(ref),
            "mouth_wide": mouth_wide_offsets(ref),
        }
        self.eye_widths = np.array([_eye_width(ref, L.RIGHT_EYE_CORNERS), _eye_width(ref, L.LEFT_EYE_CORNERS)])
        self.rest = measure(ref)
        # How each linear channel moves the measurements: gain[:, k] = d measure / d channel k.
        self._linear = ("brow_r", "brow_l", "smile", "jaw", "mouth_wide")
        self.gain = np.stack([measure(ref + self.shapes[n]) - self.rest for n in self._linear], 1)
        self.frown_gain = self.gain.copy()          # the smile column for negative smiles
        self.frown_gain[:, self._linear.index("smile")] = self.rest - measure(ref + self.shapes["frown"])
        self.eye_gain = np.array([[measure(ref + self.shapes[f"{k}_{s}"])[i] - self.rest[i]
                                   for k in ("close", "wide")] for i, s in ((0, "r"), (1, "l"))])

    def expression(self, c: Controls) -> np.ndarray:
        """The expression offsets (478, 3) for controls `c`, gaze included."""
        s = self.shapes
        d = np.zeros_like(self.reference)
        for side, v in (("r", c.eye_r), ("l", c.eye_l)):
            d += max(-v, 0.0) * s[f"close_{side}"] + max(v, 0.0) * s[f"wide_{side}"]
        d += c.brow_r * s["brow_r"] + c.brow_l * s["brow_l"]
        d += max(c.smile, 0.0) * s["smile"] + max(-c.smile, 0.0) * s["frown"]
        jaw = max(c.jaw, -self.rest[STATE.index("jaw")] / self.gain[STATE.index("jaw"), self._linear.index("jaw")])
        d += jaw * s["jaw"] + c.mouth_wide * s["mouth_wide"]
        # Gaze: the irises slide along and across each eye (placement clips them to the opening).
        shape = self.reference + d
        for k, name in enumerate(("right_eye", "left_eye")):
            _, _, iris, corners = L.EYES[name]
            a, b = shape[corners[0], :2], shape[corners[1], :2]
            if a[0] > b[0]:
                a, b = b, a
            w = max(float(np.linalg.norm(b - a)), 1e-9)
            ex = (b - a) / w
            ey = np.array([-ex[1], ex[0]])
            move = w * (c.gaze_h * USER_RANGE[0] * ex + c.gaze_v * USER_RANGE[1] * ey)
            d[list(iris), :2] += move
        return d

    def motion(self, c: Controls) -> MotionFrame:
        expr = self.expression(c)
        shape = self.reference + expr
        return MotionFrame(rotation=rotation_from_angles(c.yaw, c.pitch, c.roll), scale=float(c.zoom),
                           translation=np.array([c.x, c.y, 0.0]), expression=expr,
                           eyes=eye_openness(shape), gaze=gaze_offsets(shape), mouth=mouth_opening(shape, 1.0))

    def solve(self, shape: np.ndarray, pose: Controls = REST) -> Controls:
        """Expression controls that `shape` (normalised, pose removed, this face) shows, with the pose
        channels taken from `pose`. Gaze is read from the irises relative to the reference's."""
        delta = measure(shape) - self.rest
        gain = self.gain
        lin, *_ = np.linalg.lstsq(gain[2:], delta[2:], rcond=None)
        if lin[self._linear.index("smile")] < 0:
            gain = self.frown_gain
            lin, *_ = np.linalg.lstsq(gain[2:], delta[2:], rcond=None)
        amounts = dict(zip(self._linear, lin))
        eyes = delta[:2] - gain[:2] @ lin         # what the smile and brows left of the lids
        for i, side in ((0, "r"), (1, "l")):
            close, wide = self.eye_gain[i]
            amounts[f"eye_{side}"] = -eyes[i] / close if eyes[i] < 0 else eyes[i] / wide
        g = (gaze(shape) - gaze(self.reference)).mean(0)
        amounts["gaze_h"], amounts["gaze_v"] = g[0] / USER_RANGE[0], g[1] / USER_RANGE[1]
        pose_part = {n: getattr(pose, n) for n in ("yaw", "pitch", "roll", "x", "y", "zoom")}
        return Controls(**pose_part, **amounts).clipped()
