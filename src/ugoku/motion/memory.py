"""The person's own mouth memory: mouth interiors taken from a video of the person in the photo.

The compose stage's best evidence for teeth and tongue is the person's own (design.md: the memory is
the person's, else the driver's, else drawn). `BankBuilder` watches the frames of a video of that
person and keeps, for each band of mouth opening, a few `MouthSample`s of different mouth shapes, each
the sharpest of its shape among frames whose head pose is near the photo's. At most `per_band` small
patches per band are kept, so any length of video streams through. `MouthBank.pick` then gives, for
the inner-lip shape a frame needs, the kept sample of the nearest shape, holding on to the previous
frame's pick while it fits about as well.

Convention: RGB uint8 frames; points (478, 2+) in frame pixels; openings are the inner-lip gap over the
inner corners' distance (`loop_opening`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from ugoku.face import landmarks as L
from ugoku.motion.controls import angles_from_rotation
from ugoku.motion.mouth import LOOP_CORNERS, MouthSample, loop_opening, mouth_palette, sample_mouth
from ugoku.motion.pose import HeadFrame, procrustes

# Opening bands, each keeping one sample: speech lives in 0.05-0.3, a shout or a yawn reaches 0.7.
OPENING_BANDS = (0.05, 0.08, 0.11, 0.15, 0.2, 0.26, 0.33, 0.42, 0.52, 0.65, 0.8)

_RIGID = np.array(L.RIGID)
_LOOP = L.inner_mouth_loop()


@dataclass(frozen=True)
class MemoryOptions:
    """max_turn: degrees of head rotation from the photo's pose beyond which a frame is not sampled
    (its interior would be seen from the side). skip_seconds, max_seconds: where in the video reading
    starts, and how much of it is read.
    per_band: samples kept per opening band, of different shapes (a grin, a round 'o', a twisted mouth).
    alike: mouth shapes nearer than this (`shape_distance`) count as the same shape: the better one stays."""

    max_turn: float = 20.0
    skip_seconds: float = 0.0
    max_seconds: float = 120.0
    per_band: int = 3
    alike: float = 0.04


def loop_shape(loop: np.ndarray) -> np.ndarray:
    """An inner-lip loop (20, 2) with its inner corners moved to (-0.5, 0) and (0.5, 0): its shape,
    free of where the mouth is, how large and how tilted."""
    loop = np.asarray(loop, np.float64)
    a, b = loop[LOOP_CORNERS[0]], loop[LOOP_CORNERS[1]]
    d = b - a
    n = max(float(np.hypot(*d)), 1e-6)
    c, s = d / n
    R = np.array([[c, s], [-s, c]]) / n
    return (loop - (a + b) / 2) @ R.T


def shape_distance(a: np.ndarray, b: np.ndarray):
    """RMS distance between `loop_shape`s, in mouth widths: a float for two shapes (20, 2), an array
    for stacks of them that broadcast ((N, 20, 2) against (20, 2))."""
    d = np.sqrt(((np.asarray(a) - np.asarray(b)) ** 2).sum(-1).mean(-1))
    return float(d) if np.ndim(d) == 0 else d


@dataclass(frozen=True)
class MouthBank:
    """Kept samples in order of opening. openings: (N,) their `loop_opening`; shapes: (N, 20, 2) their
    `loop_shape`; turns: (N,) degrees from the photo's pose; frames: (N,) the video frame each came from."""

    samples: tuple[MouthSample, ...]
    openings: np.ndarray
    shapes: np.ndarray
    turns: np.ndarray = field(default_factory=lambda: np.zeros(0))
    frames: np.ndarray = field(default_factory=lambda: np.zeros(0, int))

    def __len__(self) -> int:
        return len(self.samples)

    def pick(self, loop: np.ndarray, previous: int | None = None, stick: float = 0.015) -> tuple[int, float]:
        """(index, distance): the kept sample whose mouth shape is nearest the inner-lip loop `loop` (20, 2,
        any pixels), by `shape_distance`. `previous`: the sample picked for the frame before, kept unless
        another is nearer by more than `stick` (so the interior does not flicker between two samples
        that fit about as well). (-1, inf) for an empty bank."""
        if not len(self.samples):
            return -1, float("inf")
        d = shape_distance(self.shapes, loop_shape(loop))
        best = int(np.argmin(d))
        if previous is not None and 0 <= previous < len(d) and d[previous] <= d[best] + stick:
            best = previous
        return best, float(d[best])


def _rigid(points: np.ndarray) -> np.ndarray:
    """A face's rigid points (478, 3) in, normalised by its `HeadFrame`."""
    pts = np.asarray(points, np.float64)[:, :3]
    return HeadFrame.of(pts).normalise(pts)[_RIGID]


def _turn(a: np.ndarray, b: np.ndarray) -> float:
    """Degrees by which one face is turned from another, yaw and pitch together, from their `_rigid`
    points. Roll is left out: the interior is mapped along the mouth's own axis, so a tilted head's
    interior serves as well as an upright one."""
    _, R, _ = procrustes(a, b, with_scale=False)
    yaw, pitch, _ = angles_from_rotation(R)
    return float(np.hypot(yaw, pitch))


def sharpness(sample: MouthSample) -> float:
    """Variance of the Laplacian inside the inner-lip loop: motion blur and a soft focus score low."""
    grey = cv2.cvtColor(sample.patch, cv2.COLOR_RGB2GRAY).astype(np.float32)
    lap = cv2.Laplacian(grey, cv2.CV_32F)
    mask = np.zeros(grey.shape, np.uint8)
    cv2.fillPoly(mask, [np.round(sample.loop).astype(np.int32)], 1)
    return float(lap[mask > 0].var()) if mask.sum() > 4 else 0.0


class BankBuilder:
    """Feeds on a video's frames one at a time and keeps, per opening band, up to `per_band` samples
    of different shapes, each the best of its shape.

    reference: the photo's landmarks (478, 3), for the head pose the samples should match. The score is
    sharpness weighted down by turn (halved every 10 degrees), so a sharp frontal frame wins."""

    def __init__(self, reference: np.ndarray, options: MemoryOptions = MemoryOptions()):
        self._reference = _rigid(reference)       # normalised once, compared with every frame
        self.options = options
        self._kept: dict[int, list[tuple[float, MouthSample, float, np.ndarray, float, int]]] = {}

    def add(self, rgb: np.ndarray, points: np.ndarray, frame: int = 0) -> bool:
        """Consider one frame (its tracked points in frame pixels); True when a sample was kept."""
        pts = np.asarray(points, np.float64)
        turn = _turn(self._reference, _rigid(pts))
        if turn > self.options.max_turn:
            return False
        sample = sample_mouth(rgb, pts, palette=(np.zeros(3), np.zeros(3)))   # palette read only if kept
        if sample is None:
            return False
        opening = loop_opening(sample.loop)
        band = int(np.searchsorted(OPENING_BANDS, opening, side="right")) - 1
        if band < 0 or band >= len(OPENING_BANDS) - 1:
            return False
        score = sharpness(sample) * 0.5 ** (turn / 10.0)
        shape = loop_shape(sample.loop)
        kept = self._kept.setdefault(band, [])
        alike = [i for i, k in enumerate(kept) if shape_distance(k[3], shape) < self.options.alike]
        if alike:
            rival = min(alike, key=lambda i: kept[i][0])
        elif len(kept) >= self.options.per_band:
            rival = min(range(len(kept)), key=lambda i: kept[i][0])
        else:
            rival = None
        if rival is not None and kept[rival][0] >= score:
            return False
        lip, skin = mouth_palette(rgb, pts)
        entry = (score, MouthSample(sample.patch, sample.loop, lip, skin), opening, shape, turn, frame)
        if rival is None:
            kept.append(entry)
        else:
            kept[rival] = entry
        return True

    def bank(self) -> MouthBank:
        kept = sorted((k for b in self._kept.values() for k in b), key=lambda k: k[2])
        return MouthBank(tuple(k[1] for k in kept), np.array([k[2] for k in kept], np.float64),
                         np.array([k[3] for k in kept], np.float64).reshape(-1, len(_LOOP), 2),
                         np.array([k[4] for k in kept], np.float64), np.array([k[5] for k in kept], int))
