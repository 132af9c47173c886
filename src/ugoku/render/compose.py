"""Compose: paint what the warp cannot invent: the mouth interior and closed eyelids (the open eyes: `ugoku.render.eyeball`).

When the driver opens the mouth further than the source's mouth is open, the warp can only stretch the
thin line of lip between the source's closed lips; that shows as a red smear. `MouthInterior` paints a
mouth interior instead. Where the driver's own mouth is open (a `MouthSample` of the same frame), it
is the driver's interior mapped into the target's inner-lip loop and brought to the photo's colours.
Otherwise it is drawn: a dark cavity coloured from the source's own lips, upper teeth (ivory, a little
brighter than the photo's bright skin, with faint gaps between them) that fill most of a small opening
as in speech, a thinner row of lower teeth, a tongue tone low in a wide-open mouth, and a fixed grain
as strong as the photo's on its flat skin (`photo_grain`; the image painted over, so the original
photo in paste-back). Either is blended in by how much further the mouth opens than the source's,
with a feathered edge on the inner lip line, so a closed or barely open mouth is left exactly as the
warp drew it.

`EyelidFill` does the same for the eyes: when a lid closes, the warp would stretch the thin band of
lashes above the source's open eye down over the eye (dark streaks). It keeps a copy of the photo's
eye regions in which that band, the opening and the crease are lid skin (a smooth membrane over the
colours around the eye, with the photo's grain), samples it through the same dense map as the frame,
and blends it in by how far each eye has closed, with a lash line drawn along the closing lid in the
output (drawn in the photo and sampled through the squeezed lid, a thin line broke into dots).

Convention: images RGB uint8; points (478, 3) in source-crop pixels; `M_crop2canvas` (2, 3).
The memory's sources, best first (design.md): the person's own interiors from a video of them (a
`MouthBank`, when one is given: the kept sample nearest in inner-lip shape, held against flicker),
the driver's interior in the same frame, and the drawn one. Each later source shows only where the earlier ones
are missing or would be stretched too far (`_shape_match`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ugoku.errors import OptionError
from ugoku.face import landmarks as L
from ugoku.motion.eyes import lid_opening
from ugoku.motion.memory import MouthBank
from ugoku.motion.mouth import MouthSample, loop_opening, mouth_palette


MAX_ROI = 2048      # canvas pixels: a mouth region larger than this is not painted (bounded work)
LASH_WIDTH = 0.05   # eye widths: a shut eye's lash line (plus a pixel for its soft edge)


@dataclass(frozen=True)
class MouthOptions:
    """start / full: extra inner-lip gap, as a share of the mouth's width, where the interior starts
    to show and where it is fully painted. feather: edge softness in crop pixels (scaled with the
    canvas when the face is pasted back into a larger photo)."""

    enabled: bool = True
    start: float = 0.02
    full: float = 0.12
    feather: float = 1.2
    memory: str = "driver"                       # 'driver': its own interior where given; 'generic'
    driver_open: tuple[float, float] = (0.04, 0.1)   # driver's gap / width where its interior starts, takes over
    person_fit: tuple[float, float] = (0.06, 0.12)   # shape distance of the person's own sample: full, none

    def __post_init__(self):
        if self.memory not in ("driver", "generic"):
            raise OptionError(f"mouth memory must be 'driver' or 'generic', not {self.memory!r}.")


def _lip_gap(points: np.ndarray) -> float:
    up, lo = L.LIPS_INNER_MID
    return float(np.linalg.norm(points[up, :2] - points[lo, :2]))


def _mouth_width(points: np.ndarray) -> float:
    a, b = L.MOUTH_CORNERS
    return float(np.linalg.norm(points[a, :2] - points[b, :2]))


FINE_SIGMA = 1.5     # pixels: the blur whose residue is a photo's fine detail (its grain)


def fine_detail(gray: np.ndarray) -> np.ndarray:
    """A greyscale image's fine detail: itself minus a blur of FINE_SIGMA pixels."""
    g = np.asarray(gray, np.float32)
    return g - cv2.GaussianBlur(g, (0, 0), FINE_SIGMA)


def photo_grain(gray: np.ndarray, mask: np.ndarray) -> float:
    """How grainy a photo (grey levels 0-255) is over `mask` (bool, its shape): the robust spread
    (1.4826 times the median absolute value, the standard deviation for Gaussian noise) of its
    `fine_detail`, over the flatter half of the mask (where the gradient of a 2 px blur is below its
    median there), so that edges (lids, brows, lip lines, a moustache's strands, a cartoon's outlines)
    do not count as grain. The plain standard deviation over a face read them as grain: 6.2 grey
    levels on a smooth 3D cartoon whose flat skin varies by 0.3-0.7. Clipped pixels (0-2 or 253-255)
    are left out: they are flat because they are clipped (blown-out teeth). 0.0 where nothing is left."""
    g = np.asarray(gray, np.float32)
    return _flat_spread(g, mask & (g > 2.0) & (g < 253.0))


def _flat_spread(g: np.ndarray, mask: np.ndarray) -> float:
    if not mask.any():
        return 0.0
    b = cv2.GaussianBlur(g, (0, 0), 2.0)
    slope = np.hypot(cv2.Sobel(b, cv2.CV_32F, 1, 0), cv2.Sobel(b, cv2.CV_32F, 0, 1))
    flat = mask & (slope <= np.median(slope[mask]))
    return float(1.4826 * np.median(np.abs(fine_detail(g)[flat])))


def unit_grain(shape: tuple[int, int], seed: int = 7) -> np.ndarray:
    """(H, W) float32 noise, fixed for a seed, a little correlated between neighbours (a 0.7 px blur, as
    a photo's grain is after demosaicing and compression), scaled so that `photo_grain` reads 1 on it:
    times a photo's `photo_grain`, it is as grainy as the photo, measured alike."""
    n = _soft_noise(shape, seed)
    return n / max(_flat_spread(n, np.ones(shape, bool)), 1e-6)


def _soft_noise(shape: tuple[int, int], seed: int = 7) -> np.ndarray:
    """Standard normal noise, fixed for a seed, blurred by 0.7 px (float32)."""
    return cv2.GaussianBlur(np.random.default_rng(seed).standard_normal(shape).astype(np.float32), (0, 0), 0.7)


def tiled(noise: np.ndarray, shape: tuple[int, int], anchor: tuple[int, int] = (0, 0)) -> np.ndarray:
    """(H, W) of a noise tile repeated as far as needed (a mouth in a large pasted-back photo spans
    more than one), its origin at `anchor` (x, y) of the region."""
    h, w = shape
    if not np.any(anchor) and h <= noise.shape[0] and w <= noise.shape[1]:
        return noise[:h, :w]
    ys = (np.arange(shape[0]) - anchor[1]) % noise.shape[0]
    xs = (np.arange(shape[1]) - anchor[0]) % noise.shape[1]
    return noise[np.ix_(ys, xs)]


def face_skin(shape: tuple[int, int], points: np.ndarray) -> np.ndarray:
    """(H, W) bool: the face oval of `points` (pixels of an image of `shape`) less the lips."""
    lips = np.zeros(shape, np.uint8)
    cv2.fillPoly(lips, [np.round(points[list(L.LIPS_OUTER_UPPER + tuple(reversed(L.LIPS_OUTER_LOWER))), :2]).astype(np.int32)], 1)
    face = np.zeros(shape, np.uint8)
    cv2.fillPoly(face, [np.round(points[list(L.FACE_OVAL), :2]).astype(np.int32)], 1)
    return face.astype(bool) & ~lips.astype(bool)


def skin_grain(image: np.ndarray, points: np.ndarray) -> float:
    """`photo_grain` of `image` (RGB) over the face's skin (`face_skin`), `points` (478, >=2) in its
    pixels; read on the box around the face only, whatever the image's size."""
    bx0, by0 = np.maximum(np.floor(points[:, :2].min(0)).astype(int) - 4, 0)
    bx1, by1 = np.minimum(np.ceil(points[:, :2].max(0)).astype(int) + 5, image.shape[1::-1])
    box = np.asarray(image[by0:by1, bx0:bx1], np.float32)
    return photo_grain(box.mean(2), face_skin(box.shape[:2], points[:, :2] - [bx0, by0])) if box.size else 0.0


def source_palette(crop: np.ndarray, points: np.ndarray) -> dict:
    """Colours of the source: mean lip colour, a bright skin tone, and a greyscale flag."""
    h, w = crop.shape[:2]
    lips = np.zeros((h, w), np.uint8)
    cv2.fillPoly(lips, [np.round(points[list(L.LIPS_OUTER_UPPER + tuple(reversed(L.LIPS_OUTER_LOWER))), :2]).astype(np.int32)], 1)
    cv2.fillPoly(lips, [np.round(points[list(L.inner_mouth_loop()), :2]).astype(np.int32)], 0)
    skin_mask = face_skin((h, w), points)
    f = crop.astype(np.float32)
    lip = f[lips.astype(bool)].mean(0) if lips.any() else np.array([150.0, 80, 80])
    skin = np.percentile(f[skin_mask], 90, axis=0) if skin_mask.any() else np.array([220.0, 200, 190])
    grey = bool(np.abs(f[skin_mask] - f[skin_mask].mean(1, keepdims=True)).mean() < 2.0) if skin_mask.any() else False
    return {"lip": lip, "skin": skin, "grey": grey}


class MouthInterior:
    """Paints the mouth interior on rendered frames of one source (see the module docstring).
    `canvas`: the image the frames are made of (the original photo in paste-back), whose grain the
    interior takes; the crop when not given."""

    def __init__(self, crop: np.ndarray, source_points: np.ndarray, M_crop2canvas: np.ndarray,
                 options: MouthOptions = MouthOptions(), bank: MouthBank | None = None,
                 canvas: np.ndarray | None = None):
        self.options = options
        self.bank = bank if bank is not None and len(bank) else None
        self._picked: int | None = None          # the bank sample shown in the last frame
        pts = np.asarray(source_points, np.float64)
        self.source_gap = _lip_gap(pts)
        self.M = np.asarray(M_crop2canvas, np.float64)
        self.scale = max(1.0, float(np.sqrt(abs(np.linalg.det(self.M[:, :2])))))   # canvas pixels per crop pixel
        pal = source_palette(crop, pts)
        lip, skin = pal["lip"], pal["skin"]
        if pal["grey"]:
            lip = np.full(3, lip.mean())
        self.cavity = np.clip(lip * 0.2, 0, 255)
        self.tongue = np.clip(lip * 0.55, 0, 255)
        # Teeth a little brighter than the photo's bright skin, ivory rather than skin-coloured.
        bright = min(1.05 * float(skin.mean()), 240.0)
        self.teeth = np.full(3, bright) if pal["grey"] else np.clip(bright * np.array([1.0, 0.96, 0.86]), 0, 255)
        # The grain of the image painted over (the original photo in paste-back), around the face.
        if canvas is None:
            self.grain = skin_grain(crop, pts)
        else:
            self.grain = skin_grain(canvas, pts[:, :2] @ self.M[:, :2].T + self.M[:, 2])
        self.grey = pal["grey"]
        self.lab_lip, self.lab_skin = (_lab(c) for c in mouth_palette(crop, pts))
        self._noise = unit_grain((256, 256))

    def strength(self, target_points: np.ndarray) -> float:
        o = self.options
        width = max(_mouth_width(target_points), 1e-6)
        extra = (_lip_gap(target_points) - self.source_gap) / width
        return float(np.clip((extra - o.start) / (o.full - o.start), 0.0, 1.0))

    def __call__(self, frame: np.ndarray, target_points: np.ndarray, sample: MouthSample | None = None) -> np.ndarray:
        """Paint into `frame` (the canvas, modified in place) for this target; returns it. `sample`: the
        driver's mouth in the same frame, used (see `memory`) where the driver's own mouth is open."""
        if not self.options.enabled:
            return frame
        a = self.strength(target_points)
        if a <= 0.0:
            return frame
        loop = np.asarray(target_points, np.float64)[list(L.inner_mouth_loop()), :2] @ self.M[:, :2].T + self.M[:, 2]
        feather = self.options.feather * self.scale
        pad = int(np.ceil(3 * feather)) + 2
        h, w = frame.shape[:2]
        x0, y0 = np.maximum(np.floor(loop.min(0)).astype(int) - pad, 0)
        x1, y1 = np.minimum(np.ceil(loop.max(0)).astype(int) + pad + 1, [w, h])
        if x1 - x0 < 3 or y1 - y0 < 3 or x1 - x0 > MAX_ROI or y1 - y0 > MAX_ROI:
            return frame
        local = loop - [x0, y0]
        mask = np.zeros((y1 - y0, x1 - x0), np.float32)
        cv2.fillPoly(mask, [np.round(local * 16).astype(np.int32)], 1.0, lineType=cv2.LINE_AA, shift=4)
        # Softened but not pulled inwards: an inset of even one pixel a side hid a third of a speech-sized
        # opening, which then read as closed.
        mask = cv2.GaussianBlur(mask, (0, 0), feather)
        interior = self._interior(local, mask.shape)
        t_open = loop_opening(np.asarray(target_points)[list(L.inner_mouth_loop()), :2])
        w = self._driver_weight(sample, t_open)
        if w > 0.0:
            interior = interior * (1 - w) + self._from_sample(local, mask.shape, sample) * w
        if self.bank is not None:
            self._picked, dist = self.bank.pick(local, self._picked)
            own = self.bank.samples[self._picked]
            w = _shape_match(t_open, loop_opening(own.loop)) * _fit(dist, *self.options.person_fit)
            if w > 0.0:
                interior = interior * (1 - w) + self._from_sample(local, mask.shape, own) * w
        roi = frame[y0:y1, x0:x1].astype(np.float32)
        alpha = (a * mask)[..., None]
        frame[y0:y1, x0:x1] = np.clip(roi * (1 - alpha) + interior * alpha + 0.5, 0, 255).astype(np.uint8)
        return frame

    def _driver_weight(self, sample: MouthSample | None, t_open: float) -> float:
        """How much of the interior comes from the driver: none until its own mouth is open, and less
        where the target's opening (`t_open`) has another shape than the driver's (`_shape_match`)."""
        if sample is None or self.options.memory != "driver":
            return 0.0
        a, b = self.options.driver_open
        d_open = loop_opening(sample.loop)
        return float(np.clip((d_open - a) / (b - a), 0.0, 1.0) * _shape_match(t_open, d_open))

    def _from_sample(self, local: np.ndarray, shape: tuple[int, int], sample: MouthSample) -> np.ndarray:
        """A sampled interior (the driver's, or the person's own from the bank) mapped into this
        inner-lip loop and brought to the photo's colours.

        Each pixel is placed by where it lies between the mouth corners (a share of the width) and between
        the upper and lower inner lip at that place (a share of the gap); the sample's pixel at the same
        two shares is taken. Colour, in Lab: lightness scaled by the photo's skin over the sample's; chroma
        scaled by the ratio of the two lips' and coloured pixels moved from the sample's lip hue to the
        photo's (none for a greyscale photo); and as much grain as it lacks of the photo's (`photo_grain`,
        measured alike on both)."""
        hh, ww = shape
        ys, xs = np.mgrid[0:hh, 0:ww].astype(np.float64)
        s, t = _mouth_shares(local, xs, ys)
        # Lip line to lip line (insetting it by 5 % or 12 % of the gap, or reaching 10 % past it, read worse).
        mx, my = _mouth_point(sample.loop.astype(np.float64), s, np.clip(t, 0.0, 1.0))
        img = cv2.remap(sample.patch, mx.astype(np.float32), my.astype(np.float32), cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REPLICATE)
        lab = lab_image(img)
        d_lip, d_skin = _lab(sample.lip), _lab(sample.skin)
        lightness = float(np.clip(self.lab_skin[0] / max(d_skin[0], 1.0), 0.5, 2.0))
        lab[..., 0] = np.clip(lab[..., 0] * lightness, 0, 100)
        # The sample brings grain of its own (less where it was enlarged); measured before its colours
        # change, where clipping still shows as 255, and scaled with its lightness.
        own = lightness * photo_grain(img.astype(np.float32).mean(2), (s >= 0) & (s <= 1) & (t >= 0) & (t <= 1))
        if self.grey:
            lab[..., 1:] = 0.0
        else:
            # Chroma scaled by the lips' ratio, and hues moved from the driver's lips to the photo's in
            # proportion to how coloured a pixel is: the tongue takes the photo's lip hue, white teeth stay white.
            c_d = max(float(np.linalg.norm(d_lip[1:])), 10.0)    # a grey driver has no lip hue to move from
            k = np.clip(np.linalg.norm(self.lab_lip[1:]) / c_d, 0.0, 1.5)
            ab = lab[..., 1:]
            w = np.clip(np.linalg.norm(ab, axis=2, keepdims=True) / c_d, 0.0, 1.0)
            lab[..., 1:] = ab * k + (self.lab_lip[1:] - d_lip[1:] * k) * w
        out = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB) * 255.0
        return out + (tiled(self._noise, (hh, ww)) * np.sqrt(max(self.grain ** 2 - own ** 2, 0.0)))[..., None]

    def _interior(self, local: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """The cavity, the upper teeth and the tongue inside the inner-lip loop (ROI coordinates)."""
        hh, ww = shape
        n_up = len(L.LIPS_INNER_UPPER)
        upper = local[:n_up]
        lower = np.vstack([upper[:1], local[n_up:][::-1], upper[-1:]])
        xs = np.arange(ww, dtype=np.float64)
        ou, ol = np.argsort(upper[:, 0]), np.argsort(lower[:, 0])
        y_up = np.interp(xs, upper[ou, 0], upper[ou, 1])
        y_lo = np.interp(xs, lower[ol, 0], lower[ol, 1])
        gap = np.maximum(y_lo - y_up, 0.0)
        left, right = upper[:, 0].min(), upper[:, 0].max()
        half = max((right - left) / 2, 1.0)
        u = np.clip(np.abs(xs - (left + right) / 2) / half, 0, 1)            # 0 centre, 1 corners
        ys = np.arange(hh, dtype=np.float64)[:, None]
        t = (ys - y_up) / np.maximum(gap, 1e-6)                              # 0 upper lip, 1 lower lip
        img = np.empty((hh, ww, 3), np.float32)
        # A dark cavity, a little lighter towards the lips' inner edge (bounce light), darker at the corners.
        edge = np.clip(1 - np.minimum(t, 1 - t) * 6, 0, 1)
        depth = (0.7 + 0.3 * edge) * (1 - 0.45 * u ** 2)
        img[:] = self.cavity[None, None, :] * depth[..., None]
        # Upper teeth hang from the upper lip and fill most of a small opening, as in speech; lower
        # teeth show as a thinner row above the lower lip. Shaded towards the corners and the gums.
        span = right - left
        up_h = np.minimum(0.55 * gap, 0.14 * span)
        lo_h = np.minimum(0.2 * gap, 0.05 * span)
        below, above = ys - y_up, y_lo - ys
        upper_teeth = (below >= -1) & (below <= up_h) & (u < 0.8)
        lower_teeth = (above >= -1) & (above <= lo_h) & (u < 0.7) & ~upper_teeth
        # Faint gaps between teeth, the midline first; central incisors about 0.2 of the mouth's width, narrowing towards
        # the corners as the arch turns away.
        pos = np.arcsin(np.clip((xs - (left + right) / 2) / (0.55 * span + 1e-6), -1, 1)) / (np.pi / 2) * 4.2
        gaps = np.exp(-((pos - np.round(pos)) / 0.09) ** 2)
        shade = (1 - 0.6 * u ** 2) * (0.8 + 0.2 * np.clip(below / np.maximum(up_h, 1e-6), 0, 1)) * (1 - 0.3 * gaps)
        img[upper_teeth] = self.teeth[None, :] * shade[upper_teeth][:, None]
        lo_shade = np.broadcast_to((1 - 0.6 * u ** 2) * 0.75 * (1 - 0.3 * gaps), (hh, ww))
        img[lower_teeth] = self.teeth[None, :] * lo_shade[lower_teeth][:, None]
        # The tongue shows low in a wide-open mouth, blended in softly.
        tw = np.clip((t - 0.6) / 0.25, 0, 1) * np.clip((gap - 6) / 6, 0, 1) * (1 - u ** 2) * ~lower_teeth
        img = img * (1 - tw[..., None]) + self.tongue[None, None, :] * tw[..., None]
        noise = tiled(self._noise, (hh, ww)) * self.grain
        return img + noise[..., None]


def _shape_match(t_open: float, s_open: float) -> float:
    """1 while a sample's interior opened by `s_open` would be stretched by 1.5 times or less to fill
    an opening of `t_open` (either way), fading to 0 at 2.5 times."""
    stretch = max(t_open, 1e-6) / max(s_open, 1e-6)
    return float(np.clip(2.5 - max(stretch, 1 / stretch), 0.0, 1.0))


def _fit(dist: float, good: float, poor: float) -> float:
    """1 for a shape distance up to `good`, fading to 0 at `poor`."""
    return float(np.clip((poor - dist) / max(poor - good, 1e-9), 0.0, 1.0))


def lab_image(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) float32 Lab (L 0-100, OpenCV's) of an RGB image given as 0-255 floats or uint8."""
    return cv2.cvtColor(np.asarray(rgb, np.float32) / 255.0, cv2.COLOR_RGB2Lab)


def _lab(rgb) -> np.ndarray:
    """One RGB colour (0-255) in OpenCV's float Lab (L 0-100)."""
    return lab_image(np.reshape(rgb, (1, 1, 3)))[0, 0].astype(np.float64)


def _mouth_axes(loop: np.ndarray):
    """(corner, unit vector along the mouth, unit vector across it (down), width, upper chain, lower
    chain) of an inner-lip loop (`L.inner_mouth_loop()` order), chains as (along, across) pairs."""
    n_up = len(L.LIPS_INNER_UPPER)
    a, b = loop[0], loop[n_up - 1]
    width = max(float(np.linalg.norm(b - a)), 1e-6)
    ex = (b - a) / width
    ey = np.array([-ex[1], ex[0]])
    upper = loop[:n_up]
    lower = np.vstack([loop[:1], loop[n_up:][::-1], loop[n_up - 1:n_up]])
    chains = []
    for c in (upper, lower):
        d = c - a
        u, v = d @ ex, d @ ey
        o = np.argsort(u)
        chains.append((u[o], v[o]))
    return a, ex, ey, width, chains[0], chains[1]


def _mouth_shares(loop: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For pixels (xs, ys): (share of the way from one inner corner to the other, share of the way from
    the upper inner lip to the lower one at that place)."""
    a, ex, ey, width, (uu, uv), (lu, lv) = _mouth_axes(loop)
    px, py = xs - a[0], ys - a[1]
    along = px * ex[0] + py * ex[1]
    across = px * ey[0] + py * ey[1]
    top, bottom = np.interp(along, uu, uv), np.interp(along, lu, lv)
    return along / width, (across - top) / np.maximum(bottom - top, 0.5)


def _mouth_point(loop: np.ndarray, s: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The inverse of `_mouth_shares` for another loop: pixel (x, y) at shares (s, t)."""
    a, ex, ey, width, (uu, uv), (lu, lv) = _mouth_axes(loop)
    along = s * width
    top, bottom = np.interp(along, uu, uv), np.interp(along, lu, lv)
    across = top + t * (bottom - top)
    return a[0] + along * ex[0] + across * ey[0], a[1] + along * ex[1] + across * ey[1]


@dataclass(frozen=True)
class EyelidOptions:
    """start / full: how closed an eye is (1 - its lid gap over the source's) where the lid skin starts
    to replace the stretched lashes and where it has fully replaced them."""

    enabled: bool = True
    start: float = 0.55
    full: float = 0.9


def membrane_fill(image: np.ndarray, unknown: np.ndarray, domain: np.ndarray | None = None) -> np.ndarray:
    """`image` (H, W, C) float with the `unknown` (H, W) bool pixels replaced by the smoothest surface
    that meets the known pixels around them (Laplace's equation, solved exactly: a sparse system of
    one equation per unknown pixel). Unlike a pyramid fill it takes on the boundary's colours right at
    the boundary, so no seam shows, and it carries no structure inwards, so an eye's outline does not
    survive inside it. Meant for small regions (an eye: a few thousand pixels). With nothing known
    (or nothing unknown) the image comes back as it was.

    domain: (H, W) bool, the only pixels the fill may lean on; the rest count as off the image (the
    sclera behind an iris is filled from the sclera, not from the lids around it). A part of the
    unknown pixels that touches no known pixel of the domain takes the median of the known ones."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as spl

    out = np.array(image, np.float64, copy=True)
    h, w = unknown.shape
    ys, xs = np.nonzero(unknown)
    n = len(ys)
    if n == 0 or n == h * w:
        return out.astype(image.dtype)
    index = np.full((h, w), -1, np.int64)
    index[ys, xs] = np.arange(n)
    rows, cols = [], []
    degree = np.zeros(n)
    rhs = np.zeros((n, out.shape[2]))
    for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        ny, nx = ys + dy, xs + dx
        inside = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)   # off the image: no neighbour there
        if domain is not None:
            inside[inside] = domain[ny[inside], nx[inside]]
        i, ny, nx = np.flatnonzero(inside), ny[inside], nx[inside]
        degree[i] += 1
        j = index[ny, nx]
        rows.append(i[j >= 0])
        cols.append(j[j >= 0])
        np.add.at(rhs, i[j < 0], out[ny[j < 0], nx[j < 0]])
    r, c = np.concatenate(rows), np.concatenate(cols)
    if domain is not None:
        # A faint pull towards the known pixels' median keeps a part cut off from them solvable.
        known = domain & ~unknown
        if not known.any():
            return out.astype(image.dtype)
        eps = 1e-6
        degree = degree + eps
        rhs += eps * np.median(out[known], axis=0)
    A = sp.csc_matrix((np.r_[-np.ones(len(r)), degree], (np.r_[r, np.arange(n)], np.r_[c, np.arange(n)])), shape=(n, n))
    solve = spl.factorized(A)
    for ch in range(out.shape[2]):
        out[ys, xs, ch] = solve(rhs[:, ch])
    return out.astype(image.dtype)


@dataclass(frozen=True)
class LidPatch:
    """A shut lid for one eye of a photo (`closed_eye_patch`): the region of the canvas at (x0, y0)
    with lid skin in place of the lashes, the opening and the crease; the photo's lash colour (3,);
    where the skin was filled in (H, W, 0..1); and the grain (3,) to add there, per colour."""

    x0: int
    y0: int
    image: np.ndarray
    lash: np.ndarray
    filled: np.ndarray
    grain: np.ndarray


def closed_eye_patch(canvas: np.ndarray, upper: np.ndarray, lower: np.ndarray) -> LidPatch | None:
    """A region of `canvas` around one eye in which the lashes, the opening and the lid's crease are
    replaced by lid skin, with the colour of the photo's own lashes (`LidPatch`).
    upper, lower: lid chains (K, 2) in canvas pixels, corner to corner. None when the eye is too small
    or off the canvas.

    The skin is a membrane (`membrane_fill`) over the region from 0.25 eye widths above the upper lid
    (0.125 at the corners) to just below the lower lid, widened and feathered by 0.08 eye widths (its
    grain, as fine as the photo's, is added in the output). Wherever something darker than the
    brighter half of the skin around it lies at its edge (a brow close above the eye, a crease,
    hair), the membrane takes that skin's colour there: at 0.3 and with the edge as it was, the
    astronaut's brows turned her shut lids grey. It is solved on a copy at most 80 px an eye wide:
    under 0.1 s an eye, once per photo, whatever its size. Taking the skin from one place instead
    (mirrored from just above the lashes, as before) carried what lay there into the lid: a shadowed
    socket's dark outline of the open eye (the Mona Lisa, s12) or a strand of hair (s0)."""
    h, w = canvas.shape[:2]
    width = float(np.linalg.norm(upper[0] - upper[-1]))
    if width < 6:
        return None
    x0 = int(max(0, np.floor(upper[:, 0].min() - 0.3 * width)))
    x1 = int(min(w, np.ceil(upper[:, 0].max() + 0.3 * width) + 1))
    y0 = int(max(0, np.floor(upper[:, 1].min() - 0.9 * width)))
    y1 = int(min(h, np.ceil(lower[:, 1].max() + 0.3 * width) + 1))
    if x1 - x0 < 6 or y1 - y0 < 6:
        return None
    patch = canvas[y0:y1, x0:x1].astype(np.float32)
    up, lo = upper - [x0, y0], lower - [x0, y0]
    n = len(up) - 1
    prof = np.sin(np.pi * np.arange(n + 1) / n)
    region = np.vstack([up - np.c_[np.zeros(n + 1), 0.25 * width * (0.5 + 0.5 * prof)], (lo + [0, 0.06 * width])[::-1]])
    hard = np.zeros(patch.shape[:2], np.uint8)
    cv2.fillPoly(hard, [np.round(region).astype(np.int32)], 1)
    d = max(1, int(round(0.08 * width)))
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * d + 1, 2 * d + 1))
    core = cv2.dilate(hard, disc)
    zone = cv2.dilate(core, disc).astype(bool)
    mask = np.maximum(cv2.GaussianBlur(core.astype(np.float32), (0, 0), d / 2.0), hard)
    # The lid is skin: around the fill, what is darker than the brighter half of the skin there (a
    # brow, a crease, hair, a shadowed socket) is taken as that skin's colour.
    ring = cv2.dilate(zone.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool) & ~zone
    given = patch
    if ring.any():
        lum = patch.mean(2)
        bright = ring & (lum >= np.median(lum[ring]))
        tone = np.median(patch[bright], axis=0)
        given = np.where((lum < tone.mean())[..., None], tone, patch).astype(np.float32)
    f = min(1.0, 80.0 / width)                    # the fill is smooth: solve it at most 80 px an eye wide
    if f < 1.0:
        size = (max(2, round(patch.shape[1] * f)), max(2, round(patch.shape[0] * f)))
        small = membrane_fill(cv2.resize(given, size, interpolation=cv2.INTER_AREA),
                              cv2.resize(zone.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0)
        fill = cv2.resize(small, patch.shape[1::-1], interpolation=cv2.INTER_LINEAR)
    else:
        fill = membrane_fill(given, zone)
    skin = np.where(zone[..., None], fill, patch)   # outside the fill, the photo as it is (not `given`)
    # Grain as strong as the fine texture of the skin around, added in the output (`EyelidFill`):
    # added here, it was squeezed with the lid into vertical streaks.
    fine = patch - cv2.GaussianBlur(patch, (0, 0), max(1.0, 0.05 * width))
    spread = 1.5 * np.median(np.abs(fine[~zone]), axis=0) if (~zone).any() else np.ones(3, np.float32)
    # A faint crease shadow towards the lid edge, as on a real closed lid.
    xs = np.arange(patch.shape[1], dtype=np.float32)
    o = np.argsort(up[:, 0])
    y_lid = np.interp(xs, up[o, 0], up[o, 1])
    ys = np.arange(patch.shape[0], dtype=np.float32)[:, None]
    skin *= (1 - 0.08 * np.clip(1 - np.abs(ys - y_lid) / (0.25 * width), 0, 1))[..., None]
    out = patch * (1 - mask[..., None]) + skin * mask[..., None]
    band = np.zeros(patch.shape[:2], np.uint8)
    lash_top = up - np.c_[np.zeros(n + 1), 0.2 * width * (0.6 + 0.4 * prof)]
    cv2.fillPoly(band, [np.round(np.vstack([lash_top, (lo + [0, 0.04 * width])[::-1]])).astype(np.int32)], 1)
    lash = np.percentile(patch[band > 0], 8, axis=0) if band.any() else np.zeros(3)
    return LidPatch(x0, y0, np.clip(out + 0.5, 0, 255).astype(np.uint8), lash.astype(np.float32),
                    (mask * zone).astype(np.float32), (1.6 * spread).astype(np.float32))


def draw_lash_line(roi: np.ndarray, lid: np.ndarray, width: float, colour: np.ndarray, alpha: float) -> None:
    """Draw a closed eye's lash line along `lid` (K, 2; roi pixels, corner to corner) into `roi` (in
    place): a smooth curve (a cubic through the lid points, so the landmarks' small waves do not
    show), LASH_WIDTH eye widths thick (at least a pixel), antialiased by its distance from each
    pixel (drawn as a thick polyline it came out as a stepped band of whole pixels), at most 85 %
    opaque, times `alpha`. (Tapered to a third at the corners, as real lashes are, dlib read the
    shut eyes of the Mona Lisa and s12 as less shut and moved their corners: eyes r 0.79 -> 0.72,
    brows 0.66 -> 0.56 on six cases.)"""
    a, b = lid[0], lid[-1]
    ex = (b - a) / max(float(np.linalg.norm(b - a)), 1e-6)
    ey = np.array([-ex[1], ex[0]])
    u, v = (lid - a) @ ex, (lid - a) @ ey
    curve_u = np.linspace(u.min(), u.max(), 32)
    curve = a + curve_u[:, None] * ex + np.polyval(np.polyfit(u, v, 3), curve_u)[:, None] * ey
    half = 0.5 * max(1.0, LASH_WIDTH * width) + 0.5
    pad = int(np.ceil(half)) + 2
    bx0, by0 = np.maximum(np.floor(curve.min(0)).astype(int) - pad, 0)
    bx1, by1 = np.minimum(np.ceil(curve.max(0)).astype(int) + pad + 1, roi.shape[1::-1])
    if bx1 <= bx0 or by1 <= by0:
        return
    yy, xx = np.mgrid[by0:by1, bx0:bx1].astype(np.float64)
    near = np.full(xx.shape, np.inf)                 # each pixel's distance from the curve
    for p, q in zip(curve[:-1], curve[1:]):
        d = q - p
        t = np.clip(((xx - p[0]) * d[0] + (yy - p[1]) * d[1]) / max(float(d @ d), 1e-9), 0.0, 1.0)
        near = np.minimum(near, np.hypot(xx - p[0] - t * d[0], yy - p[1] - t * d[1]))
    line = (np.clip(half + 0.5 - near, 0.0, 1.0) * (0.85 * alpha))[..., None]
    box = roi[by0:by1, bx0:bx1].astype(np.float32)
    roi[by0:by1, bx0:bx1] = np.clip(box * (1 - line) + colour[None, None, :] * line + 0.5, 0, 255).astype(np.uint8)


class EyelidFill:
    """Blends closed lids over rendered frames of one source (see the module docstring)."""

    def __init__(self, canvas: np.ndarray, source_points: np.ndarray, M_crop2canvas: np.ndarray,
                 options: EyelidOptions = EyelidOptions()):
        self.options = options
        pts = np.asarray(source_points, np.float64)
        M = np.asarray(M_crop2canvas, np.float64)
        self.eyes = []
        gaps = lid_opening(pts)
        for k, (upper, lower, _, _) in enumerate(L.EYES.values()):
            gap = float(gaps[k])
            up_c, lo_c = (pts[list(idx), :2] @ M[:, :2].T + M[:, 2] for idx in (upper, lower))
            patch = closed_eye_patch(canvas, up_c, lo_c) if options.enabled else None
            self.eyes.append((upper, lower, gap, patch))
        self.M = M
        self._noise = _soft_noise((256, 256))

    def strength(self, target_points: np.ndarray, eye: int, opening: np.ndarray | None = None) -> float:
        """How far the lid fill covers eye `eye` (0..1). `opening`: `lid_opening(target_points)`, when
        the caller has it already."""
        upper, lower, gap, _ = self.eyes[eye]
        if gap <= 1e-6:
            return 0.0
        if opening is None:
            opening = lid_opening(target_points)
        closed = 1.0 - float(opening[eye]) / gap
        o = self.options
        t = float(np.clip((closed - o.start) / (o.full - o.start), 0.0, 1.0))
        return t * t * (3 - 2 * t)

    def __call__(self, frame: np.ndarray, target_points: np.ndarray, dense: np.ndarray | None,
                 region: tuple[int, int, int, int]) -> np.ndarray:
        """Blend into `frame` (modified in place). dense: the renderer's map over `region` (canvas
        position shown by each region pixel)."""
        if dense is None:
            return frame
        rx0, ry0, rx1, ry1 = region
        tp = np.asarray(target_points, np.float64)
        opening = lid_opening(tp)
        for k, (upper, lower, _, patch) in enumerate(self.eyes):
            if patch is None:
                continue
            a = self.strength(tp, k, opening)
            if a <= 0.0:
                continue
            # Where this eye can show in the output: around its target lids, up to the brow.
            pts = tp[list(upper) + list(lower), :2] @ self.M[:, :2].T + self.M[:, 2]
            width = float(np.linalg.norm(pts[0] - pts[len(upper) - 1]))
            x0 = int(max(rx0, np.floor(pts[:, 0].min() - 0.4 * width)))
            x1 = int(min(rx1, np.ceil(pts[:, 0].max() + 0.4 * width) + 1))
            y0 = int(max(ry0, np.floor(pts[:, 1].min() - 1.0 * width)))
            y1 = int(min(ry1, np.ceil(pts[:, 1].max() + 0.4 * width) + 1))
            if x1 - x0 < 2 or y1 - y0 < 2:
                continue
            m = dense[y0 - ry0:y1 - ry0, x0 - rx0:x1 - rx0] - np.array([patch.x0, patch.y0], np.float32)
            roi = frame[y0:y1, x0:x1]
            alt = roi.copy()
            cv2.remap(patch.image, m, None, cv2.INTER_LINEAR, dst=alt, borderMode=cv2.BORDER_TRANSPARENT)
            alt = alt.astype(np.float32)
            # The grain in the output's own pixels, fixed to the eye's corner so that it moves with it.
            filled = cv2.remap(patch.filled, m, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
            anchor = np.floor(pts[0]).astype(int) - [x0, y0]
            alt += (filled * tiled(self._noise, roi.shape[:2], anchor))[..., None] * patch.grain
            roi[:] = np.clip(roi.astype(np.float32) * (1 - a) + alt * a + 0.5, 0, 255).astype(np.uint8)
            draw_lash_line(roi, pts[:len(upper)] - [x0, y0], width, patch.lash, a)
        return frame


