"""Gaze as an explicit signal: where each iris sits inside its eye opening.

Pure functions on normalised landmarks (478, 3) (head frame, face-size units, image axes: x right,
y down). A gaze is (h, v) per eye: the iris centre's offset from the eye-corner midpoint, in eye
widths, along the corner line (towards the image's right) and across it (down).
"""

from __future__ import annotations

import numpy as np

from ugoku.face import landmarks as L

H_LIMIT = 0.25          # the iris centre stays this far (eye widths) from the corner midpoint at most
USER_RANGE = (0.22, 0.12)   # --gaze H,V = ±1 means this many eye widths (h, v)
# Where an iris centre sits when a face looks straight ahead, in eye widths from its corners' midpoint:
# outward (away from the nose; the inner corner reaches further than the outer) and up. Measured on
# portraits looking at the camera: the suite's s0, s2, s5, s7, s12 and the astronaut, |h| 0.03-0.09
# and v -0.04 to -0.11 (docs/benchmarks.md). The corners' midpoint itself looks down and cross-eyed.
STRAIGHT = (0.05, -0.075)
# The outward part (0.05 above) is the spread of the two irises, and it is the face's own: eye
# shapes and the tracker's corners on them differ (a made-up outer corner moves the midpoint outward:
# s42's irises sit 0.03 inward of theirs while she looks at the camera). A fixed gaze keeps the
# photo's own spread (`vergence`, whatever way the photo looks), within this range.
VERGENCE_RANGE = (-0.05, 0.10)
# A lid follows the eye's vertical turn (looking down lowers the upper lid over the iris's top, looking
# up lifts it; the lower lid moves less): the shares of the iris's vertical shift each lid takes.
LID_FOLLOW = (0.9, 0.3)


def eye_axes(points: np.ndarray, corners) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(midpoint of the corners, unit vector along the eye towards the image's right, unit vector
    across it (down), eye width) of the eye with these two corner landmarks."""
    a, b = points[corners[0], :2], points[corners[1], :2]
    if a[0] > b[0]:
        a, b = b, a
    w = float(np.linalg.norm(b - a))
    ex = (b - a) / max(w, 1e-9)
    ey = np.array([-ex[1], ex[0]])
    return (a + b) / 2, ex, ey, max(w, 1e-9)


def gaze(points: np.ndarray) -> np.ndarray:
    """(2, 2): (h, v) of the right eye, then the left."""
    out = []
    for name in ("right_eye", "left_eye"):
        _, _, iris, corners = L.EYES[name]
        mid, ex, ey, w = eye_axes(points, corners)
        d = points[iris[0], :2] - mid
        out.append((d @ ex / w, d @ ey / w))
    return np.array(out)


def vergence(g: np.ndarray) -> float:
    """How far the irises sit outward (away from the nose) of their corners' midpoints, beyond the
    direction both share: half the left eye's h minus the right eye's (eye widths; gaze (2, 2),
    right eye first)."""
    return float(g[1, 0] - g[0, 0]) / 2


def fixed_gaze(hv: tuple[float, float], own: np.ndarray | None = None) -> np.ndarray:
    """(2, 2) target gaze (right eye, then left) for a fixed look (H, V), each -1..1: USER_RANGE from
    looking straight ahead (STRAIGHT), H > 0 towards the image's right, V > 0 down. `own`: the photo's
    gaze (2, 2), whose spread of the two irises (`vergence`, within VERGENCE_RANGE) replaces
    STRAIGHT's outward part."""
    out = STRAIGHT[0] if own is None else float(np.clip(vergence(np.asarray(own)), *VERGENCE_RANGE))
    h, v = float(hv[0]) * USER_RANGE[0], STRAIGHT[1] + float(hv[1]) * USER_RANGE[1]
    return np.array([[h - out, v], [h + out, v]])


def _lid_limits(points: np.ndarray, name: str, h: float) -> tuple[float, float]:
    """Across-coordinates (eye widths) of the upper and lower lid at along-coordinate h."""
    upper, lower, _, corners = L.EYES[name]
    mid, ex, ey, w = eye_axes(points, corners)
    out = []
    for chain in (upper, lower):
        d = points[list(chain), :2] - mid
        u, v = d @ ex / w, d @ ey / w
        order = np.argsort(u)
        out.append(float(np.interp(h, u[order], v[order])))
    return out[0], out[1]


def lid_opening(points: np.ndarray) -> np.ndarray:
    """(right, left): the distance between the upper and the lower lid line across the middle of each
    eye, over its width (negative where they cross). Unlike the distance between two lid landmarks,
    it stays 0 for a shut eye whose lid points have slid past each other along the lid."""
    out = []
    for name in ("right_eye", "left_eye"):
        top, bottom = _lid_limits(points, name, 0.0)
        out.append(bottom - top)
    return np.array(out)


def lids_follow_gaze(shape: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Move the lids of `shape` (normalised, 478 points) with a vertical turn of the eyes that did not
    come with the lids' own motion (a fixed gaze): `shift` (2,) is each eye's iris shift across the
    eye (eye widths, > 0 down), of which the upper lid takes LID_FOLLOW[0] and the lower LID_FOLLOW[1].
    Most in the lid's middle, none at the corners, and the skin within about an eye width of a lid
    goes with it, fading, so the lid moves, not a crease. Without it a downward look showed a stare
    with white above the iris, which no face does, and an upward one slid the iris under a still lid
    (dlib read it as less open than a look down)."""
    out = np.array(shape, dtype=np.float64, copy=True)
    pts = out[:, :2]
    for k, (upper, lower, _, corners) in enumerate(L.EYES.values()):
        dv = float(shift[k])
        if dv == 0.0:
            continue
        mid, ex, ey, w = eye_axes(out, corners)
        d = pts - mid
        u, v = d @ ex / w, d @ ey / w
        along = np.where(np.abs(u) < 0.5, np.cos(np.pi * u) ** 2, 0.0)     # 1 in the middle, 0 at the corners
        move = np.zeros(len(pts))
        for chain, share, side in ((upper, LID_FOLLOW[0], v <= 0), (lower, LID_FOLLOW[1], v > 0)):
            lid = pts[list(chain)]
            near = np.linalg.norm(pts[:, None, :] - lid[None, :, :], axis=2).min(1) / w
            fade = np.exp(-0.5 * (near / 0.35) ** 2)
            fade[list(chain)] = 1.0
            move += np.where(side, share * fade, 0.0)
        move[list(corners)] = 0.0
        out[:, :2] += (dv * w * along * move)[:, None] * ey
    return out


def place_irises(shape: np.ndarray, target_gaze: np.ndarray) -> np.ndarray:
    """Move each iris (all five points rigidly) so that its centre sits at `target_gaze` (2, 2) in
    this shape's own eyes, clipped inside the opening: at most H_LIMIT along the eye and between the
    lids (a closed eye puts it on the lid line, where the opening has no area)."""
    out = np.array(shape, dtype=np.float64, copy=True)
    for k, name in enumerate(("right_eye", "left_eye")):
        _, _, iris, corners = L.EYES[name]
        mid, ex, ey, w = eye_axes(out, corners)
        h = float(np.clip(target_gaze[k, 0], -H_LIMIT, H_LIMIT))
        top, bottom = _lid_limits(out, name, h)
        if bottom > top:
            v = float(np.clip(target_gaze[k, 1], top, bottom))
        else:
            v = (top + bottom) / 2
        want = mid + w * (h * ex + v * ey)
        out[list(iris), :2] += want - out[iris[0], :2]
    return out
