"""Compose: the eyeballs. The source's iris moves over the source's own sclera.

The warp moves an iris by sliding a disc of the photo inside the eye opening and stretching what lies
around it. Where the iris fills most of the opening (as in most photos), what is stretched is the
iris's own edge and the limbal ring, so a sideways look showed a grey smear on the trailing side,
the disc's rim of white cut the iris at the corner, and the iris seemed to move half as far as it
did (MediaPipe read 0.43-0.57 of the asked shift on the suite's photos). `Eyeballs` paints every
open eye instead, from two things kept per photo (`eye_model`):

- the bare eye: the region of the eye in which the iris and its blurred rim (1.25 radii of the
  iris as the photo shows it, `iris_extent`) are replaced by white: the smoothest surface through
  the brighter half of the white around it (`membrane_fill` with a domain: the lashes, the lid's
  dark margin and the pink inner corner do not count), shaded towards the lids as the photo's
  white is there, with the photo's grain;
- the whole iris: a disc of the photo around the iris centre, whose part hidden under the lids is
  filled from the visible part: mirrored across the iris's horizontal axis where that is visible
  (the top of an iris is like its bottom), else the mean colour at that radius; beyond the iris it
  carries only the rim the photo shows;
- the upper lid's margin: the tracker's upper lid runs along the lashes, above the lid's edge on
  the eyeball, so the photo's band just under it is lid, not eye. Its pixels, as far as they are
  darker than the white, are laid back over the painted eye (`lid_margin`).

Each frame, the bare eye is sampled through the opening's strip of triangles from the target's lids
to the photo's (so the white moves with the lids, not with the iris), the iris is drawn over it
where the target's iris points put it, by the affine that takes the photo's five iris points onto
the target's (head turn and scale included), the lid's margin is laid over them (sampled as the
white is, so it moves with the lid), and all are clipped to the target's eye opening with
a soft edge. The painted eye fades in over the first FULL_SHIFT eye widths of gaze shift from the
photo's own, and as the lids open up to FULL_WIDEN wider than the photo's (the warp stretched the
iris and the lashes up with the lid), so at the photo's gaze and opening the eye is the warp's,
pixel for pixel. The lid's margin keeps its depth under the lid however wide the eye opens. An eye
the photo shows too shut to see its iris (its centre not inside the opening), or with almost no
white, keeps the warp's disc.

Convention: images RGB uint8; points (478, 3) in source-crop pixels; `M_crop2canvas` (2, 3).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ugoku.face import landmarks as L
from ugoku.motion.eyes import gaze, lid_opening
from ugoku.render.compose import lab_image, membrane_fill, skin_grain, unit_grain
from ugoku.render.warp import rasterize_map

MAX_EYE = 1024      # canvas pixels: an eye wider than this is left to the warp (bounded work)
BARE_RADIUS = 1.25  # iris radii (as the photo shows it) replaced by sclera in the bare eye: the iris and its blurred rim
RIM = (1.05, 1.25)  # iris radii over which the drawn iris fades out: over the fill's edge, so no ring of new white shows
SOLVE_WIDTH = 80.0  # the sclera membrane is solved at most this many pixels an eye wide
MIN_WHITE = 0.08    # share of the opening that must be visible sclera for the eye to be painted
LID_SHADE = 0.12    # eye widths from the lid line over which the white behind the iris takes the lid's shade
EDGE = 0.012        # eye widths: the blur of the painted eye's edge
LID_MARGIN = 0.5    # iris radii below the upper lid's outline over which the photo's dark lid margin lies on the eye
FULL_SHIFT = 0.05   # eye widths of gaze shift from the photo's at which the painted eye fully replaces the warp's
FULL_WIDEN = 0.15   # share by which the lids open wider than the photo's at which it does so too


@dataclass(frozen=True)
class EyeballOptions:
    """enabled: paint the eyes from the photo's own iris and sclera (otherwise the warp's disc shows)."""

    enabled: bool = True


@dataclass(frozen=True)
class EyeModel:
    """What one eye of the photo is made of. x0, y0: the bare patch's place on the canvas; bare: the
    eye region with the iris replaced by sclera (uint8); iris: (S, S, 3) float32 texture centred on
    the iris centre, S = 2R + 1; alpha: (S, S) its coverage; source_iris: (5, 2) the iris points
    (centre first) in canvas pixels; margin, margin_alpha: the photo's dark upper-lid margin on the
    bare patch (float32, premultiplied by its coverage, so it resamples without the colours it does not
    cover; the coverage: `lid_margin`)."""

    x0: int
    y0: int
    bare: np.ndarray
    iris: np.ndarray
    alpha: np.ndarray
    source_iris: np.ndarray
    loop: tuple[int, ...]
    margin: np.ndarray
    margin_alpha: np.ndarray


def _opening_mask(shape: tuple[int, int], loop: np.ndarray) -> np.ndarray:
    """(H, W) float32 coverage of the polygon `loop` (K, 2; pixels), anti-aliased at 1/4 pixel."""
    m = np.zeros(shape, np.uint8)
    cv2.fillPoly(m, [np.round(loop * 4).astype(np.int32)], 255, cv2.LINE_AA, shift=2)
    return m.astype(np.float32) / 255.0


def whole_iris(canvas: np.ndarray, centre: np.ndarray, radius: float, opening: np.ndarray,
               origin: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(texture (S, S, 3) float32, alpha (S, S)) of the iris of `radius` at `centre` (canvas pixels).
    opening: (h, w) bool, the visible opening of the eye, placed at `origin` (x, y) on the canvas.
    Hidden pixels are mirrored across the iris's horizontal axis where that is visible, else take the
    mean colour of the visible ones at the same radius (rings of about a tenth of the radius); the
    alpha leaves out the hidden ones beyond the iris."""
    R = int(np.ceil(RIM[1] * radius)) + 1
    S = 2 * R + 1
    off = np.arange(S, dtype=np.float32) - R
    gx, gy = np.meshgrid(centre[0] + off, centre[1] + off)
    at = np.dstack([gx, gy]).astype(np.float32)
    tex = cv2.remap(canvas, at, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
    ox, oy = origin
    local = cv2.subtract(at, (float(ox), float(oy), 0.0, 0.0))
    seen = cv2.remap(opening.astype(np.float32), local, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT) > 0.99
    rho = np.hypot(*np.meshgrid(off, off))
    mirror = seen[::-1]                                   # (dx, -dy) is visible
    out = tex.copy()
    hidden = ~seen
    use = hidden & mirror
    out[use] = tex[::-1][use]
    rest = hidden & ~mirror
    if rest.any():
        step = max(1.0, radius / 10.0)
        ring = np.minimum((rho / step).astype(np.int32), int(RIM[1] * radius / step) + 1)
        n = ring.max() + 1
        count = np.bincount(ring[seen], minlength=n).astype(np.float64)
        means = np.stack([np.bincount(ring[seen], weights=tex[..., c][seen], minlength=n) for c in range(3)], 1)
        have = count > 0
        if have.any():
            idx = np.flatnonzero(have)
            means = means[idx] / count[idx, None]
            nearest = idx[np.abs(np.arange(n)[:, None] - idx[None, :]).argmin(1)]
            table = np.zeros((n, 3))
            table[idx] = means
            out[rest] = table[nearest[ring[rest]]]
    t = np.clip((rho / radius - RIM[0]) / (RIM[1] - RIM[0]), 0.0, 1.0)
    alpha = 1.0 - t * t * (3 - 2 * t)
    # Beyond the iris, only what the photo shows comes along: a filled rim took the white's colour
    # from the visible one and drew a pale ring over the lid's shadow.
    alpha = np.where(hidden & (rho > radius), 0.0, alpha)
    return out, cv2.GaussianBlur(alpha.astype(np.float32), (0, 0), 0.7)


def iris_extent(lab: np.ndarray, opening: np.ndarray, centre: np.ndarray, radius: float,
                white: np.ndarray) -> float:
    """The iris's radius as the photo shows it. Read along the row through the centre, both ways: where the colour
    has come half way from the iris's (at half the tracker's `radius`) to `white` (Lab), inside the
    opening; the mean of the sides found, within 0.85-1.5 of `radius` (the tracker's iris is small on
    a cartoon's large one), or `radius` where neither side shows white."""
    h, w = opening.shape
    cx, cy = float(centre[0]), float(centre[1])
    rho = np.arange(0.5 * radius, 1.8 * radius, 0.25, dtype=np.float32)
    found = []
    for side in (-1.0, 1.0):
        xs = cx + side * rho
        ok = (xs >= 0) & (xs <= w - 1) & (0 <= cy <= h - 1)
        if not ok.all():
            continue
        at = np.dstack([xs, np.full_like(xs, cy)]).astype(np.float32).reshape(1, -1, 2)
        col = cv2.remap(lab, at, None, cv2.INTER_LINEAR)[0]
        inside = opening[int(round(cy)), np.clip(np.round(xs).astype(int), 0, w - 1)]
        d = np.linalg.norm(col - white, axis=1)
        if d[0] < 15.0:
            continue
        near = np.flatnonzero((d < 0.5 * d[0]) & inside)
        if len(near) and inside[:near[0] + 1].all():
            found.append(float(rho[near[0]]))
    r = float(np.mean(found)) if found else radius
    return float(np.clip(r, 0.85 * radius, 1.5 * radius))


def bare_eye(canvas: np.ndarray, loop: np.ndarray, centre: np.ndarray, radius: float,
             width: float, grain: float = 0.0) -> tuple[int, int, np.ndarray, np.ndarray, float] | None:
    """(x0, y0, patch, opening, radius): the canvas around one eye with the iris replaced by sclera,
    the opening's mask (bool) on that patch, and the iris radius the photo shows (`iris_extent`).
    grain: the photo's (`photo_grain` on its skin), added to the fill in lightness.
    None when too little white shows (MIN_WHITE of the opening) or the eye is off the canvas.

    Replaced: the opening within BARE_RADIUS iris radii of the centre, by a fill that leans on the
    brighter half of the white deep in the opening and on all of it along the lids (LID_SHADE). The
    iris's radius is read against the white's colour: the median of the brightest 30 % of the
    opening outside the tracker's circle."""
    h, w = canvas.shape[:2]
    x0 = int(max(0, np.floor(loop[:, 0].min() - 0.1 * width)))
    x1 = int(min(w, np.ceil(loop[:, 0].max() + 0.1 * width) + 1))
    y0 = int(max(0, np.floor(min(loop[:, 1].min(), centre[1] - radius) - 0.1 * width)))
    y1 = int(min(h, np.ceil(max(loop[:, 1].max(), centre[1] + radius) + 0.1 * width) + 1))
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    patch = canvas[y0:y1, x0:x1].astype(np.float32)
    opening = _opening_mask(patch.shape[:2], loop - [x0, y0]) > 0.5
    yy, xx = np.mgrid[y0:y1, x0:x1]
    rho = np.hypot(xx - centre[0], yy - centre[1])
    lum = patch.mean(2)
    outside = opening & (rho > BARE_RADIUS * radius)
    if outside.sum() < max(6, MIN_WHITE * opening.sum()):
        return None
    lab = lab_image(patch)
    bright = outside & (lum >= np.percentile(lum[outside], 70))
    white_lab = np.median(lab[bright], axis=0)
    local = centre - [x0, y0]
    radius = iris_extent(lab, opening, local, radius, white_lab)
    unknown = opening & (rho <= BARE_RADIUS * radius)
    white = opening & ~unknown
    if white.sum() < max(6, MIN_WHITE * opening.sum()):
        return None
    # Deep in the opening the fill leans on the bright white only: with the lashes, the lid's dark
    # margin inside the opening's outline, the pink inner corner and the iris's blurred rim, it came
    # out grey.
    lean = white & (lum >= np.median(lum[white]))
    if lean.sum() < 6:
        return None

    def solve(domain):
        f = min(1.0, SOLVE_WIDTH / width)
        if f >= 1.0:
            return membrane_fill(patch, unknown, domain)
        size = (max(2, round(patch.shape[1] * f)), max(2, round(patch.shape[0] * f)))
        near = cv2.INTER_NEAREST
        dom = cv2.resize(domain.astype(np.uint8), size, interpolation=near) > 0
        unk = cv2.resize(unknown.astype(np.uint8), size, interpolation=near) > 0
        small = membrane_fill(cv2.resize(patch, size, interpolation=cv2.INTER_AREA), unk, dom | unk)
        return cv2.resize(small, patch.shape[1::-1], interpolation=cv2.INTER_LINEAR)

    # Along the lids it darkens as the photo's white does there (a fill from the bright white alone
    # drew a pale ring under a shadowed lid).
    fill = solve(unknown | lean)
    shade = solve(opening)
    depth = cv2.distanceTransform(opening.astype(np.uint8), cv2.DIST_L2, 3)
    t = np.clip(depth / max(1.0, LID_SHADE * width), 0.0, 1.0)[..., None]
    fill = shade + (fill - shade) * (t * t * (3 - 2 * t))
    # The photo's grain, in lightness only.
    fill += (grain * unit_grain(patch.shape[:2], seed=11))[..., None]
    out = np.where(unknown[..., None], fill, patch)
    return x0, y0, np.clip(out + 0.5, 0, 255).astype(np.uint8), opening, radius


def eye_model(canvas: np.ndarray, points_canvas: np.ndarray, name: str, grain: float = 0.0) -> EyeModel | None:
    """The bare eye and whole iris of eye `name` ('right_eye', 'left_eye') of the photo `canvas`,
    with the 478 points in canvas pixels and the photo's grain. None where the eye is left to the
    warp (see the module)."""
    upper, lower, iris, corners = L.EYES[name]
    loop_idx = L.eye_loop(upper, lower)
    loop = points_canvas[list(loop_idx), :2]
    width = float(np.linalg.norm(points_canvas[corners[0], :2] - points_canvas[corners[1], :2]))
    if not 6.0 <= width <= MAX_EYE:
        return None
    centre = points_canvas[iris[0], :2]
    if cv2.pointPolygonTest(loop.astype(np.float32), (float(centre[0]), float(centre[1])), True) < 1.0:
        return None
    radius = float(np.linalg.norm(points_canvas[list(iris[1:]), :2] - centre, axis=1).mean())
    if radius < 1.0:
        return None
    got = bare_eye(canvas, loop, centre, radius, width, grain)
    if got is None:
        return None
    x0, y0, bare, opening, radius = got
    tex, alpha = whole_iris(canvas, centre, radius, opening, (x0, y0))
    photo = canvas[y0:y0 + bare.shape[0], x0:x0 + bare.shape[1]]
    upper_line = points_canvas[list(upper), :2] - [x0, y0]
    cover = lid_margin(photo, opening, upper_line, centre - [x0, y0], radius)
    margin = photo.astype(np.float32) * cover[..., None]
    return EyeModel(x0, y0, bare, tex, alpha, points_canvas[list(iris), :2].copy(), loop_idx, margin, cover)


def lid_margin(photo: np.ndarray, opening: np.ndarray, upper: np.ndarray, centre: np.ndarray,
               radius: float) -> np.ndarray:
    """(h, w) float32: how much of the photo's own upper-lid margin lies over the eye at each pixel of
    the eye's patch `photo`. The tracker's outline of the upper lid runs along the lashes, above the
    lid's edge on the eyeball, so the band just inside it is the lid's dark margin and its shadow,
    not eye. Painted over with white where an iris had met the lid, it showed as a pale arc under the
    lid, and dlib read the eye as less open. Coverage: 1 at the outline, 0 at LID_MARGIN iris radii
    below it, times how dark the photo is there between the white's lightness (0) and the iris's (1),
    so where the white reaches the lid nothing is laid over the eye. Where the iris met the lid the
    band is the iris's own dark top and stays when the iris moves: a heavier lash line there."""
    h, w = opening.shape
    line = np.full((h, w), 255, np.uint8)
    cv2.polylines(line, [np.round(upper * 4).astype(np.int32)], False, 0, 1, cv2.LINE_8, shift=2)
    depth = cv2.distanceTransform(line, cv2.DIST_L2, 3)
    band = np.clip(1.0 - depth / max(1.0, LID_MARGIN * radius), 0.0, 1.0) * opening
    lum = photo.astype(np.float32).mean(2)
    yy, xx = np.mgrid[0:h, 0:w]
    rho = np.hypot(xx - centre[0], yy - centre[1])
    iris = opening & (rho <= 0.6 * radius)
    white = opening & (rho > BARE_RADIUS * radius)
    if not iris.any() or not white.any():
        return np.zeros((h, w), np.float32)
    lw = float(np.percentile(lum[white], 70))
    li = float(np.median(lum[iris]))
    dark = np.clip((lw - lum) / max(1.0, lw - li), 0.0, 1.0)
    return (band * dark).astype(np.float32)


def iris_affine(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(2, 3) affine taking the five source iris points onto the target's (least squares), or the
    similarity of their centres and mean radii when the fit is degenerate or far from one."""
    A = np.c_[source, np.ones(len(source))]
    sol, *_ = np.linalg.lstsq(A, target, rcond=None)
    M = sol.T
    rs = np.linalg.norm(source[1:] - source[0], axis=1).mean()
    rt = np.linalg.norm(target[1:] - target[0], axis=1).mean()
    k = rt / max(rs, 1e-9)
    sv = np.linalg.svd(M[:, :2], compute_uv=False)
    if not (0.4 * k <= sv[1] <= sv[0] <= 1.6 * k):
        M = np.array([[k, 0.0, 0.0], [0.0, k, 0.0]])
        M[:, 2] = target[0] - k * source[0]
    return M


class Eyeballs:
    """Paints the open eyes of rendered frames of one source (see the module docstring)."""

    def __init__(self, canvas: np.ndarray, source_points: np.ndarray, M_crop2canvas: np.ndarray,
                 options: EyeballOptions = EyeballOptions()):
        self.options = options
        M = np.asarray(M_crop2canvas, np.float64)
        self.M = M
        self.source = np.asarray(source_points, np.float64)[:, :2] @ M[:, :2].T + M[:, 2]
        self.eyes = []
        if options.enabled:
            grain = skin_grain(canvas, self.source)
            self.eyes = [eye_model(canvas, self.source, name, grain) for name in L.EYES]
        self.source_gaze = gaze(self.source)
        self.source_opening = lid_opening(self.source)

    def __call__(self, frame: np.ndarray, target_points: np.ndarray, dense: np.ndarray | None,
                 region: tuple[int, int, int, int]) -> np.ndarray:
        """Paint into `frame` (the canvas rendered for `target_points`; modified in place). dense:
        the renderer's map over `region` (canvas position shown by each region pixel)."""
        if dense is None:
            return frame
        rx0, ry0, rx1, ry1 = region
        tp = np.asarray(target_points, np.float64)[:, :2] @ self.M[:, :2].T + self.M[:, 2]
        shift = np.linalg.norm(gaze(tp) - self.source_gaze, axis=1)
        wider = (lid_opening(tp) - self.source_opening) / np.maximum(self.source_opening, 1e-6)
        for k, (eye, (name, (_, _, iris, _))) in enumerate(zip(self.eyes, L.EYES.items())):
            if eye is None:
                continue
            t = min(1.0, max(float(shift[k]) / FULL_SHIFT, float(wider[k]) / FULL_WIDEN))
            weight = t * t * (3 - 2 * t)
            if weight <= 0.0:
                continue
            loop = tp[list(eye.loop)]
            x0 = int(max(rx0, np.floor(loop[:, 0].min()) - 1))
            x1 = int(min(rx1, np.ceil(loop[:, 0].max()) + 2))
            y0 = int(max(ry0, np.floor(loop[:, 1].min()) - 1))
            y1 = int(min(ry1, np.ceil(loop[:, 1].max()) + 2))
            if x1 - x0 < 2 or y1 - y0 < 2 or (x1 - x0) * (y1 - y0) > MAX_EYE * MAX_EYE:
                continue
            cover = _opening_mask((y1 - y0, x1 - x0), loop - [x0, y0])
            if not (cover > 0).any():
                continue
            # An edge as soft as the photo's own lid line, not a cut-out.
            width = float(np.linalg.norm(loop[0] - loop[len(L.EYES[name][0]) - 1]))
            cover = np.minimum(cover, cv2.GaussianBlur(cover, (0, 0), max(0.5, EDGE * width)))
            roi = frame[y0:y1, x0:x1]
            # The sclera moves with the lids: the opening's strip of triangles, target to source (the
            # warp's own map slides a disc with the iris and stretches the white around it), and
            # on the soft edge just outside the opening, the warp's map.
            base = dense[y0 - ry0:y1 - ry0, x0 - rx0:x1 - rx0] - np.array([eye.x0, eye.y0], np.float32)
            m = rasterize_map(tp - [x0, y0], self.source - [eye.x0, eye.y0], L.hole_fill_triangles()[name], base)
            sclera = roi.copy()
            cv2.remap(eye.bare, m, None, cv2.INTER_LINEAR, dst=sclera, borderMode=cv2.BORDER_TRANSPARENT)
            mm = self._margin_map(m, tp, name, (x0, y0), (eye.x0, eye.y0))
            lid = cv2.remap(eye.margin, mm, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
            la = cv2.remap(eye.margin_alpha, mm, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)[..., None]
            # The iris texture's pixel (u, v) is the canvas point source_centre + (u - R, v - R).
            A = iris_affine(eye.source_iris, tp[list(iris)])
            R = (eye.iris.shape[0] - 1) / 2
            T = np.array([[1.0, 0.0, eye.source_iris[0, 0] - R], [0.0, 1.0, eye.source_iris[0, 1] - R], [0, 0, 1]])
            to_roi = (np.vstack([A, [0, 0, 1]]) @ T)[:2] - np.array([[0, 0, x0], [0, 0, y0]])
            size = (x1 - x0, y1 - y0)
            tex = cv2.warpAffine(eye.iris, to_roi, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
            a = cv2.warpAffine(eye.alpha, to_roi, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)[..., None]
            ball = sclera.astype(np.float32) * (1 - a) + tex * a
            ball = ball * (1 - la) + lid
            c = weight * cover[..., None]
            roi[:] = np.clip(roi.astype(np.float32) * (1 - c) + ball * c + 0.5, 0, 255).astype(np.uint8)
        return frame

    def _margin_map(self, m: np.ndarray, tp: np.ndarray, name: str, roi_origin: tuple[int, int],
                    patch_origin: tuple[int, int]) -> np.ndarray:
        """Where each roi pixel takes the lid's margin from on the bare patch: across the eye as the
        strip map `m` does, and down by its depth under the target's upper lid, scaled by the eye's
        size only. Through the strip map a lid opened wider than the photo's stretched the margin,
        lashes and all, down over the white as horizontal streaks."""
        upper = list(L.EYES[name][0])
        up_t = tp[upper] - roi_origin
        up_s = self.source[upper] - patch_origin
        scale = np.linalg.norm(up_s[-1] - up_s[0]) / max(float(np.linalg.norm(up_t[-1] - up_t[0])), 1e-6)
        ot, os_ = np.argsort(up_t[:, 0]), np.argsort(up_s[:, 0])
        h, w = m.shape[:2]
        lid_t = np.interp(np.arange(w, dtype=np.float64), up_t[ot, 0], up_t[ot, 1])[None, :]
        lid_s = np.interp(m[..., 0].astype(np.float64), up_s[os_, 0], up_s[os_, 1])
        depth = np.arange(h, dtype=np.float64)[:, None] - lid_t
        out = m.copy()
        out[..., 1] = (lid_s + scale * depth).astype(np.float32)
        return out

