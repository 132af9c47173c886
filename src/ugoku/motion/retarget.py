"""Retarget: apply a driver's MotionFrame to the source face, hierarchically (after X-Portrait).

Global head pose and local regions (brows, eyes, lips) each have an on/off switch and a multiplier.
Relative mode (default) applies the driver's *change* since its reference frame, so the source keeps
its own face shape; absolute mode gives the selected regions the driver's shape and the head the
driver's orientation.

Convention: points (478, 3) in source-crop pixels, z in the scale of x.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ugoku.errors import OptionError
from ugoku.face import landmarks as L
from ugoku.motion.eyes import eye_axes, fixed_gaze, gaze, lid_opening, lids_follow_gaze, place_irises
from ugoku.motion.openings import EYE_TARGET_RANGE, LIP_TARGET_RANGE, OpeningTargets, check_target
from ugoku.motion.pose import HeadFrame, MotionFrame, procrustes

ALL_REGIONS = ("pose", "brows", "eyes", "lips")
_RIGID = np.array(L.RIGID)


@dataclass(frozen=True)
class RetargetOptions:
    """mode: 'relative' or 'absolute'. regions: which of pose, brows, eyes, lips follow the driver.
    expression_scale multiplies every local region; brows/eyes/lips_scale multiply one each;
    pose_scale multiplies head rotation angle, scale change and translation."""

    mode: str = "relative"
    regions: tuple[str, ...] = ALL_REGIONS
    expression_scale: float = 1.0
    pose_scale: float = 1.0
    brows_scale: float = 1.0
    eyes_scale: float = 1.0
    lips_scale: float = 1.0
    region_falloff: float = 0.35   # face-size units over which a region's influence fades
    gaze: str | tuple[float, float] = "follow"   # 'follow' the driver, 'keep' the source's, or (H, V) in -1..1 (eyes.fixed_gaze)
    eyes_open: float | str = "relative"    # eye retargeting: 'relative', 'driver' or a lid opening (openings.py)
    lips_open: float | str = "auto"        # lip retargeting: 'auto', 'relative', 'driver' or an inner-lip opening

    def __post_init__(self):
        if self.mode not in ("relative", "absolute"):
            raise OptionError(f"retarget mode must be 'relative' or 'absolute', not {self.mode!r}.")
        bad = [r for r in self.regions if r not in ALL_REGIONS]
        if bad:
            raise OptionError(f"unknown region(s) {', '.join(bad)}; choose from {', '.join(ALL_REGIONS)}.")
        if isinstance(self.gaze, tuple):
            if len(self.gaze) != 2 or not all(-1.0 <= g <= 1.0 for g in self.gaze):
                raise OptionError(f"gaze H,V must be two numbers between -1 and 1, not {self.gaze!r}.")
        elif self.gaze not in ("follow", "keep"):
            raise OptionError(f"gaze must be 'follow', 'keep' or H,V, not {self.gaze!r}.")
        try:
            check_target(self.eyes_open, "eyes-open", EYE_TARGET_RANGE, ("relative", "driver"))
            check_target(self.lips_open, "lips-open", LIP_TARGET_RANGE, ("auto", "relative", "driver"))
        except ValueError as e:
            raise OptionError(str(e)) from None
        for name in ("expression_scale", "pose_scale", "brows_scale", "eyes_scale", "lips_scale"):
            v = getattr(self, name)
            if not (-3.0 <= v <= 3.0):
                raise OptionError(f"{name.replace('_', '-')} must be between -3 and 3, not {v}.")


@dataclass(frozen=True)
class TargetFace:
    """Where the source's landmarks go in one output frame, and the rigid head motion that got them
    there: rigid(p) = scale * rotation @ (p - center) + center + translation (crop pixels)."""

    points: np.ndarray
    rotation: np.ndarray
    scale: float
    translation: np.ndarray
    center: np.ndarray

    def rigid(self, p: np.ndarray) -> np.ndarray:
        return self.scale * (p - self.center) @ self.rotation.T + self.center + self.translation


def scale_rotation(R: np.ndarray, k: float) -> np.ndarray:
    """R raised to the power k (same axis, k times the angle)."""
    if k == 1.0:
        return R
    rvec, _ = cv2.Rodrigues(np.asarray(R, dtype=np.float64))
    out, _ = cv2.Rodrigues(rvec * k)
    return out


EYE_RATIO_LIMITS = (0.5, 2.0)


def lid_gap(points: np.ndarray, name: str) -> float:
    """Opening of one eye at the middle of its lids, across the corner line (the units of `points`;
    negative when the lids cross)."""
    upper, lower, _, corners = L.EYES[name]
    _, _, ey, _ = eye_axes(points, corners)
    k = len(upper) // 2
    return float((points[lower[k], :2] - points[upper[k], :2]) @ ey)


def eye_scale_field(source_norm: np.ndarray, driver_reference: np.ndarray) -> np.ndarray:
    """Per-landmark factor (478,) on the driver's expression offsets that makes lid motion relative
    to each eye's own opening: a driver who closes an eye that is 8 mm open closes a source eye that
    is 5 mm open by 5 mm, not 8 (which would push the lids through each other). It is the ratio of
    the openings on the lids themselves and fades back to 1 over about an eye width around them, so
    the skin above a lid keeps moving with it."""
    field = np.ones(len(source_norm))
    pts = source_norm[:, :2]
    for name, (upper, lower, iris, corners) in L.EYES.items():
        gs, gd = lid_gap(source_norm, name), lid_gap(driver_reference, name)
        if gs <= 1e-6 or gd <= 1e-6:
            continue
        k = float(np.clip(gs / gd, *EYE_RATIO_LIMITS))
        width = float(np.linalg.norm(pts[corners[0]] - pts[corners[1]]))
        lids = pts[list(upper + lower)]
        d = np.linalg.norm(pts[:, None, :] - lids[None, :, :], axis=2).min(1)
        g = np.exp(-0.5 * (d / (0.35 * width)) ** 2)
        g[list(upper + lower + iris)] = 1.0
        field += (k - 1.0) * g
    return field


OPENINGS = tuple((upper, lower, corners) for upper, lower, _, corners in L.EYES.values()) + (
    (L.LIPS_INNER_UPPER, L.LIPS_INNER_LOWER, (L.LIPS_INNER_UPPER[0], L.LIPS_INNER_UPPER[-1])),)


def keep_lids_apart(shape: np.ndarray) -> np.ndarray:
    """Where a lower lid (or the lower inner lip) has passed above its upper partner, meet them
    half-way (in place): a closed eye or mouth is closed, not turned inside out."""
    for upper, lower, corners in OPENINGS:
        _, _, ey, _ = eye_axes(shape, corners)
        for u, lo in zip(upper[1:-1], lower[1:-1]):
            cross = float((shape[lo, :2] - shape[u, :2]) @ ey)
            if cross < 0:
                shape[u, :2] += 0.5 * cross * ey
                shape[lo, :2] -= 0.5 * cross * ey
    return shape


CHIN_SQUEEZE = 0.5    # the skin under the lower lip keeps at least this share of its rest height


def under_lip_plan(source_norm: np.ndarray) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """What `keep_chin_below_lip` checks, top to bottom: for each face vertex below the outer lower
    lip's edge and within 1.5 half mouth widths of the mouth's middle, (vertex, its mesh neighbours
    above it that are the lower lip or such vertices, their rest heights above it)."""
    pts = np.asarray(source_norm, np.float64)[:, :2]
    a, b = L.MOUTH_CORNERS
    x_mid, half = (pts[a, 0] + pts[b, 0]) / 2, abs(pts[a, 0] - pts[b, 0]) / 2
    lip = set(L.LIPS_OUTER_LOWER[1:-1])
    chain = pts[list(L.LIPS_OUTER_LOWER)]
    o = np.argsort(chain[:, 0])
    lip_y = np.interp(pts[:, 0], chain[o, 0], chain[o, 1])          # the lower lip's edge above each point
    below = [v for v in range(L.N_SURFACE) if v not in L.LIPS and abs(pts[v, 0] - x_mid) < 1.5 * half
             and pts[v, 1] > lip_y[v]]
    region = lip | set(below)
    ups: dict[int, set[int]] = {v: set() for v in below}
    for tri in L.mesh_triangles():
        for u in tri:
            for v in tri:
                if v in ups and u in region and pts[u, 1] < pts[v, 1]:
                    ups[v].add(u)
    plan = []
    for v in sorted(below, key=lambda v: pts[v, 1]):
        if ups[v]:
            u = np.array(sorted(ups[v]))
            plan.append((v, u, pts[v, 1] - pts[u, 1]))
    return plan


def keep_chin_below_lip(shape: np.ndarray, plan: list[tuple[int, np.ndarray, np.ndarray]]) -> np.ndarray:
    """Push the skin under the lower lip down (in place) wherever the lip above it has come closer
    than CHIN_SQUEEZE of its rest height, top to bottom, so that each push carries on below. A
    driver whose lower lip rolls down over the chin (a pout, a tongue out) moves the lip's landmarks
    past the few just under it; the skin between folded into a hard, stepped dark line."""
    for v, u, rest in plan:
        need = float(np.max(shape[u, 1] + CHIN_SQUEEZE * rest)) - shape[v, 1]
        if need > 0.0:
            shape[v, 1] += need
    return shape


def region_weights(points_norm: np.ndarray, options: RetargetOptions) -> np.ndarray:
    """Per-landmark expression weight (478,), smooth across region borders.

    A region's own landmarks belong to it alone (weight = its multiplier, or 0 when it is off);
    other landmarks get a share of each nearby region that fades with distance, normalised so that
    overlapping fades never add up to more than one region's worth.
    """
    pts = points_norm[:, :2]
    scales = {"brows": options.brows_scale, "eyes": options.eyes_scale, "lips": options.lips_scale}
    names = list(L.REGIONS)
    prox = np.zeros((len(names), len(pts)))
    for k, name in enumerate(names):
        core = np.array(L.REGIONS[name])
        d = np.linalg.norm(pts[:, None, :] - pts[None, core, :], axis=2).min(1)
        prox[k] = np.exp(-0.5 * (d / options.region_falloff) ** 2)
    for k, name in enumerate(names):
        core = np.array(L.REGIONS[name])
        prox[:, core] = 0.0
        prox[k, core] = 1.0
    prox /= np.maximum(1.0, prox.sum(0))
    gain = np.array([scales[n] * options.expression_scale if n in options.regions else 0.0 for n in names])
    return gain @ prox


class Retargeter:
    """Maps MotionFrames of one driver onto one source face.

    source_points: (478, 3) source landmarks in crop pixels. driver_reference: the driver's reference
    landmarks normalised by its HeadFrame (MotionExtractor.reference); for motion authored on the source
    itself (templates), pass the source's own normalised landmarks.
    """

    def __init__(self, source_points: np.ndarray, driver_reference: np.ndarray,
                 options: RetargetOptions = RetargetOptions()):
        self.options = options
        self.source = np.asarray(source_points, dtype=np.float64)
        self.frame = HeadFrame.of(self.source)
        self.source_norm = self.frame.normalise(self.source)
        ref = np.asarray(driver_reference, dtype=np.float64)
        _, self.R_align, _ = procrustes(ref[_RIGID], self.source_norm[_RIGID], with_scale=False)
        self.driver_reference = ref
        self.weights = region_weights(self.source_norm, options)[:, None]
        if options.mode == "relative":
            self.weights = self.weights * eye_scale_field(self.source_norm, ref @ self.R_align.T)[:, None]
        self.source_gaze = gaze(self.source_norm)
        self.driver_gaze = gaze(ref)
        self.fixed_gaze = fixed_gaze(options.gaze, self.source_gaze) if isinstance(options.gaze, tuple) else None
        self.source_opening = lid_opening(self.source_norm)
        k = options.expression_scale
        self.under_lip = under_lip_plan(self.source_norm)
        self.openings = OpeningTargets(
            self.source_norm, ref, options.eyes_open, options.lips_open,
            eye_gain=k * options.eyes_scale if "eyes" in options.regions else 0.0,
            lip_gain=k * options.lips_scale if "lips" in options.regions else 0.0)

    def target_gaze(self, m: MotionFrame) -> np.ndarray:
        """Where the irises go, (2, 2) (h, v) per eye in eye widths (see ugoku.motion.eyes)."""
        o = self.options
        if self.fixed_gaze is not None:
            return self.fixed_gaze
        if o.gaze == "keep" or "eyes" not in o.regions:
            return self.source_gaze
        now = gaze(self.driver_reference + m.expression)
        if o.mode == "absolute":
            return now
        return self.source_gaze + (now - self.driver_gaze) * (o.eyes_scale * o.expression_scale)

    def lid_shift(self, shape: np.ndarray) -> np.ndarray:
        """(2,) how far a fixed gaze turns each eye down from the photo's own look (eye widths), for
        `lids_follow_gaze`; in proportion to how open the eye is against the photo's, so a blink
        still shuts and a shut eye stays shut."""
        open_share = np.clip(lid_opening(shape) / np.maximum(self.source_opening, 1e-6), 0.0, 1.0)
        return (self.fixed_gaze[:, 1] - self.source_gaze[:, 1]) * open_share

    def __call__(self, m: MotionFrame) -> TargetFace:
        o = self.options
        if o.mode == "relative":
            expr = m.expression @ self.R_align.T
        else:
            expr = (self.driver_reference + m.expression) @ self.R_align.T - self.source_norm
        shape = keep_lids_apart(self.source_norm + self.weights * expr)
        if self.openings.active:
            shape = keep_lids_apart(self.openings(shape, self.driver_reference + m.expression))
        shape = keep_chin_below_lip(shape, self.under_lip)
        if self.fixed_gaze is not None:
            shape = keep_lids_apart(lids_follow_gaze(shape, self.lid_shift(shape)))
        shape = place_irises(shape, self.target_gaze(m))
        if "pose" in o.regions:
            R = m.rotation @ self.R_align.T if o.mode == "absolute" else m.rotation
            R = scale_rotation(R, o.pose_scale)
            s = float(m.scale) ** o.pose_scale
            t = np.asarray(m.translation) * o.pose_scale
        else:
            R, s, t = np.eye(3), 1.0, np.zeros(3)
        f = self.frame
        points = f.center + f.scale * (s * shape @ R.T + t)
        return TargetFace(points=points, rotation=R, scale=s, translation=f.scale * t, center=f.center)
