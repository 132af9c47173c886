"""Eye and lip retargeting: hold the output's lid gaps and inner-lip gap at a target opening.

Relative motion moves the photo's lids and lips by the driver's *change* since its first frame. That
keeps a photo's narrow eyes narrow and a photo's shut mouth shut wherever the driver's mouth is less
open than in its first frame. These targets set the opening itself, in units any face shares:

- eyes: the distance between the lid lines across the middle of the eye over the eye's width
  (`eyes.lid_opening`; about 0.3 for a relaxed open eye, 0 shut, 0.45 wide);
- lips: inner-lip gap at the middle over the inner corners' distance (`lips_openness`; 0 shut,
  about 0.25 in speech, 0.6 and more for a wide "ah").

A target is 'relative', 'driver' or a number:
- 'relative' moves the photo's opening by the driver's change since its first frame (eyes: by the
  driver's ratio, so a blink closes them; lips: by the driver's change in opening, added);
- 'driver' is the driver's own opening, frame by frame: the photo's eyes or lips open exactly as far
  as the driver's, in proportion to their own size;
- a number R is the opening at the driver's first frame, with the driver's motion acting on it as in
  'relative'.
Lips default to 'auto': 'driver' for a photo whose lips are shut (then the output's mouth is as open
as the driver's, also where the driver's first frame shows it slightly open; relative motion would
keep it shut until the driver opened wider than that), 'relative' for a photo with parted lips (its
smile stays as it is at rest).

The correction is exact at the middle of each opening: after the relative motion, the lids (or the
lower lip and jaw) move along this face's own close/open blendshapes by the amount that makes the
measured opening equal the target.
"""

from __future__ import annotations

import numpy as np

from ugoku.face import landmarks as L
from ugoku.motion.controls import eye_close_offsets, eye_wide_offsets, jaw_offsets
from ugoku.motion.eyes import eye_axes, lid_opening

EYE_TARGET_RANGE = (0.0, 0.6)
LIP_TARGET_RANGE = (0.0, 1.0)
LIPS_SHUT = 0.03         # 'auto': a photo's lips below this opening count as shut
_EYE_REST_FLOOR = 0.12   # a driver whose first frame is mid-blink would otherwise scale without bound
_EYES = ("right_eye", "left_eye")
_INNER_CORNERS = (L.LIPS_INNER_UPPER[0], L.LIPS_INNER_UPPER[-1])


def lips_openness(points: np.ndarray) -> float:
    """Inner-lip gap at the middle over the inner corners' distance (scale-free), measured across the
    corner line: negative where the lower lip has passed above the upper one."""
    up, lo = L.LIPS_INNER_MID
    _, _, ey, width = eye_axes(points, _INNER_CORNERS)
    return float((points[lo, :2] - points[up, :2]) @ ey / width)


def _inner_width(points: np.ndarray) -> float:
    return eye_axes(points, _INNER_CORNERS)[3]


def _eye_widths(points: np.ndarray) -> np.ndarray:
    return np.array([eye_axes(points, corners)[3] for corners in (L.RIGHT_EYE_CORNERS, L.LEFT_EYE_CORNERS)])


def lips_part_offsets(ref: np.ndarray) -> np.ndarray:
    """Part the lips by one face unit at the middle: the jaw drops (`controls.jaw_offsets`), but the
    lower lip follows in a lens (a parabola: full at the middle, nothing at the corners), as a mouth
    opens in speech (the jaw blendshape alone drops the whole lip and opens a slot)."""
    d = jaw_offsets(ref, 1.0)
    mid, ex, _, width = eye_axes(ref, _INNER_CORNERS)
    for chain in (L.LIPS_INNER_LOWER, L.LIPS_OUTER_LOWER):
        inner = list(chain[1:-1])
        u = np.clip(2.0 * ((ref[inner, :2] - mid) @ ex) / width, -1.0, 1.0)
        d[inner, 1] = 1.0 - u * u
    return d


def check_target(value, what: str, limits: tuple[float, float], words: tuple[str, ...]) -> None:
    """Raise ValueError with one sentence unless `value` is one of `words` or a number in `limits`."""
    if isinstance(value, str) and value in words:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not limits[0] <= value <= limits[1]:
        raise ValueError(f"{what} must be {', '.join(words)} or a number between {limits[0]:g} and "
                         f"{limits[1]:g}, not {value!r}.")


class OpeningTargets:
    """Per frame: move the lids and lips of a retargeted, normalised source shape so that their
    openings meet the targets. Built once per source and driver.

    source_norm: the source's normalised landmarks (478, 3); driver_reference: the driver's normalised
    reference landmarks; eyes: 'relative', 'driver' or a number; lips: the same or 'auto' (module
    docstring); eye_gain and lip_gain: how much of the driver's change to apply (the region's
    multiplier, 0 when it is off). `eyes` and `lips` hold what is done ('relative' means nothing is).
    """

    def __init__(self, source_norm: np.ndarray, driver_reference: np.ndarray, eyes="relative", lips="auto",
                 eye_gain: float = 1.0, lip_gain: float = 1.0):
        src = np.asarray(source_norm, dtype=np.float64)
        if lips == "auto":
            lips = "driver" if lips_openness(src) < LIPS_SHUT else "relative"
        self.eyes, self.lips = eyes, lips
        self.eye_gain, self.lip_gain = float(eye_gain), float(lip_gain)
        self.close = [eye_close_offsets(src, e) for e in _EYES]
        self.wide = [eye_wide_offsets(src, e) for e in _EYES]
        rest = lid_opening(src)
        # Lid-gap change per unit of each blendshape, in normalised units (the blendshapes are
        # translations, so the change is the same from any starting shape).
        widths = _eye_widths(src)
        self.close_gain = widths * np.array([rest[k] - lid_opening(src + self.close[k])[k] for k in range(2)])
        self.wide_gain = widths * np.array([lid_opening(src + self.wide[k])[k] - rest[k] for k in range(2)])
        self.part = lips_part_offsets(src)
        self.part_gain = (lips_openness(src + self.part) - lips_openness(src)) * _inner_width(src)
        ref = np.asarray(driver_reference, dtype=np.float64)
        self.driver_eyes_rest = np.maximum(lid_opening(ref), _EYE_REST_FLOOR)
        self.driver_lips_rest = lips_openness(ref)

    @property
    def active(self) -> bool:
        return self.eyes != "relative" or self.lips != "relative"

    def eye_targets(self, driver_now: np.ndarray) -> np.ndarray:
        """(2,) target openings (right, left) for the driver's current normalised shape."""
        ratio = lid_opening(driver_now) / self.driver_eyes_rest
        rest = self.driver_eyes_rest if self.eyes == "driver" else np.full(2, float(self.eyes))
        return np.maximum(rest * (1.0 + self.eye_gain * (ratio - 1.0)), 0.0)

    def lip_target(self, driver_now: np.ndarray) -> float:
        rest = self.driver_lips_rest if self.lips == "driver" else float(self.lips)
        return max(rest + self.lip_gain * (lips_openness(driver_now) - self.driver_lips_rest), 0.0)

    def __call__(self, shape: np.ndarray, driver_now: np.ndarray) -> np.ndarray:
        """`shape` (478, 3), with no lid or lip crossed (`retarget.keep_lids_apart`), with its openings
        moved to the targets (a new array; a closing move can cross them again at the sides)."""
        out = np.array(shape, dtype=np.float64, copy=True)
        if self.eyes != "relative":
            want, have, widths = self.eye_targets(driver_now), lid_opening(out), _eye_widths(out)
            for k in range(2):
                delta = float(want[k] - have[k]) * widths[k]
                if delta < 0 and self.close_gain[k] > 1e-9:
                    out += (-delta / self.close_gain[k]) * self.close[k]
                elif delta > 0 and self.wide_gain[k] > 1e-9:
                    out += (delta / self.wide_gain[k]) * self.wide[k]
        if self.lips != "relative" and abs(self.part_gain) > 1e-9:
            delta = self.lip_target(driver_now) - lips_openness(out)
            out += (delta * _inner_width(out) / self.part_gain) * self.part
        return out
