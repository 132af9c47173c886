"""Render: a backward dense map from the triangle mesh, sampled with cv2.remap.

The target mesh is rasterised on a coarse grid over the crop (every `grid_stride` pixels): each grid
point finds the nearest-to-camera triangle covering it and the point of the source it comes from.
That grid map is interpolated onto the output pixels and `cv2.remap` samples the source image. The
output is either the crop itself or the original photo at full resolution (paste-back): the two differ
only in the affine `M_crop2canvas`, and in paste-back the pixels come from the original photo, so a
3000-px portrait keeps its 3000-px detail.

Conventions: images RGB uint8; points (x, y) pixel centres; grid point (i, j) sits at crop pixel
((j + 0.5) * stride - 0.5, (i + 0.5) * stride - 0.5).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from ugoku.face import landmarks as L
from ugoku.motion.retarget import TargetFace
from ugoku.render.background import BackgroundOptions, Layers, composite, split_layers
from ugoku.render.mesh import KIND_RING, RenderMesh, RingOptions, build_mesh, draw_order, target_vertices


RING_GRID_FACTOR = 4   # the falloff rings use a grid this many times coarser than the face


@dataclass(frozen=True)
class RenderOptions:
    """grid_stride: crop pixels between map samples (2 is finer, 4 is faster). border_feather: the
    fraction of the crop near its edge over which any displacement fades to zero. rings: the falloff
    rings outside the face. background: whether the background stays still behind the moving person
    (needs the person's matte) or bends with the head. antialias: where the warp squeezes the photo
    (`minification`), sample a blurred copy of it, as a mip-map does, instead of picking every few
    pixels (squeezed stripes came out as a few stray rows of them: all white, or moire)."""

    grid_stride: int = 2
    border_feather: float = 0.06
    rings: RingOptions = field(default_factory=RingOptions)
    background: BackgroundOptions = field(default_factory=BackgroundOptions)
    antialias: bool = True


def rasterize_map(dst: np.ndarray, src: np.ndarray, triangles: np.ndarray, base: np.ndarray,
                  eps: float = 1e-4) -> np.ndarray:
    """Backward map by rasterising triangles in order (later ones drawn over earlier ones).

    dst: (N, 2) vertex positions in grid units; src: (N, 2) what each vertex samples; triangles: (M, 3)
    in draw order; base: (H, W, 2) the map where no triangle covers (usually the identity), not
    modified. Returns an (H, W, 2) float32 map: for each grid point, the `src` value interpolated in
    the last triangle covering it. Degenerate (zero-area) target triangles are skipped.

    A vectorised scanline rasteriser: spans per (triangle, row), pixels per span, a z-buffer of draw
    ranks, and the per-triangle affine dst->src evaluated only at the winning pixels.
    """
    H, W = base.shape[:2]
    out = base.astype(np.float32, copy=True)
    P = dst[triangles].astype(np.float64)                # (M, 3, 2)
    x, y = P[..., 0], P[..., 1]
    det = (x[:, 1] - x[:, 0]) * (y[:, 2] - y[:, 0]) - (y[:, 1] - y[:, 0]) * (x[:, 2] - x[:, 0])
    y0 = np.clip(np.ceil(y.min(1) - eps), 0, H).astype(np.int64)
    y1 = np.clip(np.floor(y.max(1) + eps), -1, H - 1).astype(np.int64)
    nrows = np.where(np.abs(det) > 1e-9, y1 - y0 + 1, 0).clip(0)
    tri_of_row = np.repeat(np.arange(len(triangles)), nrows)
    if tri_of_row.size == 0:
        return out
    row = y0[tri_of_row] + (np.arange(tri_of_row.size) - np.repeat(np.cumsum(nrows) - nrows, nrows))
    # Span of each (triangle, row): intersect the row with the three edges.
    xa, ya = x[tri_of_row], y[tri_of_row]                # (R, 3)
    xb, yb = np.roll(xa, -1, axis=1), np.roll(ya, -1, axis=1)
    r = row[:, None].astype(np.float64)
    lo, hi = np.minimum(ya, yb), np.maximum(ya, yb)
    crosses = (r >= lo - eps) & (r <= hi + eps)
    dy = yb - ya
    t = np.where(np.abs(dy) > 1e-12, (r - ya) / np.where(np.abs(dy) > 1e-12, dy, 1.0), 0.0)
    xi = xa + np.clip(t, 0, 1) * (xb - xa)
    flat_edge = np.abs(dy) <= 1e-12                      # a horizontal edge on this row spans both ends
    xl = np.where(crosses, np.where(flat_edge, np.minimum(xa, xb), xi), np.inf).min(1)
    xr = np.where(crosses, np.where(flat_edge, np.maximum(xa, xb), xi), -np.inf).max(1)
    xs = np.clip(np.ceil(xl - eps), 0, W).astype(np.int64)
    xe = np.clip(np.floor(xr + eps), -1, W - 1).astype(np.int64)
    count = np.clip(xe - xs + 1, 0, None)
    tri = np.repeat(tri_of_row, count)
    if tri.size == 0:
        return out
    px = np.repeat(xs, count) + (np.arange(tri.size) - np.repeat(np.cumsum(count) - count, count))
    pix = np.repeat(row, count) * W + px
    # Later triangles win where they overlap: a z-buffer of draw ranks keeps the last one.
    rank = np.arange(pix.size)
    zbuf = np.full(H * W, -1, dtype=np.int64)
    np.maximum.at(zbuf, pix, rank)
    pix = np.flatnonzero(zbuf >= 0)
    tri = tri[zbuf[pix]]
    # Per-triangle affine map from grid (px, py) to src, from the barycentric coordinates:
    # l1 = a1 px + b1 py + c1, l2 = a2 px + b2 py + c2, src = S0 + l1 (S1 - S0) + l2 (S2 - S0).
    sdet = np.where(np.abs(det) > 1e-9, det, 1.0)
    a1, b1 = (y[:, 2] - y[:, 0]) / sdet, -(x[:, 2] - x[:, 0]) / sdet
    a2, b2 = -(y[:, 1] - y[:, 0]) / sdet, (x[:, 1] - x[:, 0]) / sdet
    c1 = -(a1 * x[:, 0] + b1 * y[:, 0])
    c2 = -(a2 * x[:, 0] + b2 * y[:, 0])
    S = src[triangles].astype(np.float64)
    d1, d2 = S[:, 1] - S[:, 0], S[:, 2] - S[:, 0]
    A = np.empty((len(P), 3, 2))
    A[:, 0] = a1[:, None] * d1 + a2[:, None] * d2
    A[:, 1] = b1[:, None] * d1 + b2[:, None] * d2
    A[:, 2] = S[:, 0] + c1[:, None] * d1 + c2[:, None] * d2
    At = A.astype(np.float32)[tri]
    gx = (pix % W).astype(np.float32)[:, None]
    gy = (pix // W).astype(np.float32)[:, None]
    val = gx * At[:, 0] + gy * At[:, 1] + At[:, 2]
    out.reshape(-1, 2)[pix] = val
    return out


def border_feather_weights(size: int, stride: int, fraction: float) -> np.ndarray:
    """(G, G) weights: 1 inside, smoothly 0 at the crop edge over `fraction` of the crop."""
    g = -(-size // stride)
    c = (np.arange(g) + 0.5) * stride - 0.5
    edge = np.minimum(c + 0.5, size - 0.5 - c) / max(1e-6, fraction * size)
    t = np.clip(edge, 0, 1)
    w1 = t * t * (3 - 2 * t)
    return np.minimum.outer(w1, w1).astype(np.float32)


AA_START = 1.5                  # minification at which the blurred copies start to blend in
AA_LEVELS = 3                   # blurred copies for minification 2, 4 and 8


def minification(gmap: np.ndarray, stride: float) -> np.ndarray:
    """(G, G) float32: how many photo pixels one output pixel steps over at each grid point of a map
    (crop coordinates, `stride` crop pixels apart): the longer of its steps along x and along y. 1
    where the map is the identity; 5 where a band of the photo is squeezed to a fifth."""
    g = np.asarray(gmap, np.float32)
    # Central differences (half of [-1, 0, 1]); OpenCV, because np.gradient took 4-7 ms a frame here.
    along = [cv2.magnitude(*cv2.split(cv2.Sobel(g, cv2.CV_32F, dx, 1 - dx, ksize=1, borderType=cv2.BORDER_REPLICATE)))
             for dx in (1, 0)]
    return cv2.max(along[0], along[1]) * np.float32(0.5 / stride)


def blur_levels(image: np.ndarray) -> list[np.ndarray]:
    """Blurred copies of `image` for minification 2, 4 and 8 (a Gaussian of sqrt(m^2 - 1) / 2
    pixels, the prefilter that keeps a squeezed image from aliasing), in `image`'s dtype."""
    return [cv2.GaussianBlur(image, (0, 0), np.sqrt(4.0 ** k - 1) / 2) for k in range(1, AA_LEVELS + 1)]


def _from_offset(M: np.ndarray, x0: int, y0: int) -> np.ndarray:
    """The 2x3 affine M applied to pixels of a window whose corner is canvas pixel (x0, y0)."""
    A = np.array(M, dtype=np.float64)
    A[:, 2] += A[:, :2] @ np.array([x0, y0], dtype=np.float64)
    return A


class Renderer:
    """Renders target faces onto a canvas: the crop itself, or the original photo (paste-back).

    canvas: RGB uint8 image the output is made of (and sampled from). M_crop2canvas: 2x3 affine from
    crop pixels to canvas pixels (identity for the crop; the crop-to-original transform for
    paste-back). matte: the person's soft matte in crop pixels (face/segment.py); with it, and the
    'still' background option, the person is warped over a still background plate
    (render/background.py), otherwise the whole canvas is warped as one layer. `render()` returns the
    same buffer every call: consume it before the next call.
    """

    LAYER_PAD = 8      # crop pixels of layer kept beyond the changing region (the map may reach there)

    def __init__(self, source_points: np.ndarray, crop_size: int, canvas: np.ndarray,
                 M_crop2canvas: np.ndarray, options: RenderOptions = RenderOptions(),
                 matte: np.ndarray | None = None):
        if crop_size % (RING_GRID_FACTOR * options.grid_stride):
            raise ValueError(f"crop size {crop_size} must be a multiple of {RING_GRID_FACTOR * options.grid_stride}")
        self.options = options
        self.mesh: RenderMesh = build_mesh(source_points, options.rings)
        self.crop_size = crop_size
        s = options.grid_stride
        self.grid_n = -(-crop_size // s)
        c = (np.arange(self.grid_n) + 0.5) * s - 0.5
        gx, gy = np.meshgrid(c, c)
        self.identity = np.dstack([gx, gy]).astype(np.float32)          # crop coordinates
        cc = (np.arange(self.grid_n // RING_GRID_FACTOR) + 0.5) * RING_GRID_FACTOR * s - 0.5
        self.identity_coarse = np.dstack(np.meshgrid(cc, cc)).astype(np.float32)
        oval = np.array(L.FACE_OVAL)
        fan = np.stack([oval, np.roll(oval, -1), np.full(len(oval), L.NOSE_BRIDGE)], axis=1)
        rings = np.flatnonzero(self.mesh.kind == KIND_RING)[::-1]          # outer rings first
        self.coarse_triangles = np.vstack([self.mesh.triangles[rings], fan]).astype(np.int32)
        self.feather = border_feather_weights(crop_size, s, options.border_feather)[..., None]
        margin = options.border_feather * crop_size
        self._band = int(np.ceil(margin / s)) + 1
        ring_xy = self.mesh.src[:, :2]
        # Feathering is needed only if the mesh reaches into the border band (faces near the edge).
        self._feather_needed = bool((ring_xy.min() < margin) or (ring_xy.max() > crop_size - 1 - margin))
        self.canvas = np.ascontiguousarray(canvas)
        self.out = self.canvas.copy()
        self.dense: np.ndarray | None = None
        M = np.asarray(M_crop2canvas, dtype=np.float64)
        self.M_crop2canvas = M
        # Canvas region that can change: inside the last ring (fixed), within the crop's footprint.
        last = self.mesh.src[-len(L.FACE_OVAL):, :2]                     # the outermost ring
        x0, y0 = np.maximum(last.min(0) - 2 * s, -0.5)
        x1, y1 = np.minimum(last.max(0) + 2 * s, crop_size - 0.5)
        corners = np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1]]) @ M[:, :2].T + M[:, 2]
        h, w = self.canvas.shape[:2]
        cx0, cy0 = np.floor(corners.min(0)).astype(int)
        cx1, cy1 = np.ceil(corners.max(0)).astype(int) + 1
        self.region = (max(0, cx0), max(0, cy0), min(w, cx1), min(h, cy1))     # x0, y0, x1, y1
        rx0, ry0, rx1, ry1 = self.region
        # Affine from region pixels to grid units (for warpAffine with WARP_INVERSE_MAP).
        Minv = cv2.invertAffineTransform(M)
        A = _from_offset(Minv, rx0, ry0)
        self.A_region2grid = ((A + np.array([[0, 0, 0.5], [0, 0, 0.5]])) / s
                              - np.array([[0, 0, 0.5], [0, 0, 0.5]])).astype(np.float64)
        self.region_size = (rx1 - rx0, ry1 - ry0)
        self._grid2region = cv2.invertAffineTransform(self.A_region2grid)
        # The map is upsampled as a displacement (small and smooth) added to exact pixel positions:
        # OpenCV's warps quantise interpolation weights to 1/32, which would blur a still frame.
        self._M32 = M.astype(np.float32)
        self.grid_canvas = cv2.transform(self.identity, self._M32)
        xs = np.arange(rx0, rx1, dtype=np.float32)
        ys = np.arange(ry0, ry1, dtype=np.float32)
        self.region_pos = np.dstack(np.meshgrid(xs, ys)).astype(np.float32)
        self.layers: Layers | None = None
        self.layer_origin = (0, 0)
        if matte is not None and options.background.mode == "still" and rx1 > rx0 and ry1 > ry0:
            self._split(np.asarray(matte, np.float32), Minv)
        # Blurred copies of what the map samples (the person layer, or the canvas around the region).
        self._levels: list[np.ndarray] = []
        self._levels_origin = (0, 0)
        if options.antialias and rx1 > rx0 and ry1 > ry0:
            if self.layers is not None:
                self._levels = blur_levels(self.layers.person)
            else:
                pad = int(np.ceil(self.LAYER_PAD * float(np.sqrt(abs(np.linalg.det(M[:, :2]))))))
                wx0, wy0, wx1, wy1 = max(0, rx0 - pad), max(0, ry0 - pad), min(w, rx1 + pad), min(h, ry1 + pad)
                self._levels = blur_levels(self.canvas[wy0:wy1, wx0:wx1])
                self._levels_origin = (wx0, wy0)

    def _split(self, matte: np.ndarray, Minv: np.ndarray) -> None:
        """Person and plate over the changing region plus a margin, from the crop's matte."""
        rx0, ry0, rx1, ry1 = self.region
        h, w = self.canvas.shape[:2]
        scale = float(np.sqrt(abs(np.linalg.det(self.M_crop2canvas[:, :2]))))
        pad = int(np.ceil(self.LAYER_PAD * scale))
        lx0, ly0, lx1, ly1 = max(0, rx0 - pad), max(0, ry0 - pad), min(w, rx1 + pad), min(h, ry1 + pad)
        m = cv2.warpAffine(matte, _from_offset(Minv, lx0, ly0), (lx1 - lx0, ly1 - ly0),
                           flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
        self.layers = split_layers(self.canvas[ly0:ly1, lx0:lx1], m, self.options.background, scale)
        self.layer_origin = (lx0, ly0)
        self._plate_view = self.layers.plate[ry0 - ly0:ry1 - ly0, rx0 - lx0:rx1 - lx0]

    def grid_map(self, target: TargetFace) -> tuple[np.ndarray, np.ndarray]:
        """(G, G, 2) map in crop coordinates (which source point each grid point shows), and the
        target mesh vertices (N, 3).

        The falloff rings are smooth and cover most pixels, so they are rasterised on a grid
        RING_GRID_FACTOR times coarser and upsampled (as a displacement); the face and its openings are drawn over them at
        full grid resolution.
        """
        mesh = self.mesh
        dst = target_vertices(mesh, target)
        order = draw_order(mesh, dst)
        tris = mesh.triangles[order]
        is_ring = mesh.kind[order] == KIND_RING
        s = self.options.grid_stride
        # The coarse pass draws the rings and a fan over the face, so that upsampling never mixes
        # uncovered points into the pixels just outside the oval; the fine pass redraws the face.
        coarse = rasterize_map((dst[:, :2] + 0.5) / (RING_GRID_FACTOR * s) - 0.5, mesh.src[:, :2],
                               self.coarse_triangles, self.identity_coarse)
        coarse -= self.identity_coarse
        base = self.identity + cv2.resize(coarse, (self.grid_n, self.grid_n), interpolation=cv2.INTER_LINEAR)
        gmap = rasterize_map((dst[:, :2] + 0.5) / s - 0.5, mesh.src[:, :2], tris[~is_ring], base)
        if self._feather_needed:
            b = self._band
            for sl in ((slice(0, b), slice(None)), (slice(-b, None), slice(None)),
                       (slice(None), slice(0, b)), (slice(None), slice(-b, None))):
                gmap[sl] = self.identity[sl] + (gmap[sl] - self.identity[sl]) * self.feather[sl]
        return gmap, dst

    def render(self, target: TargetFace) -> np.ndarray:
        gmap, _ = self.grid_map(target)
        return self.render_map(gmap)

    def render_map(self, gmap: np.ndarray) -> np.ndarray:
        """Apply a grid map (crop coordinates) to the canvas; returns the output buffer."""
        rx0, ry0, rx1, ry1 = self.region
        if rx1 <= rx0 or ry1 <= ry0:
            return self.out
        disp = cv2.transform(gmap, self._M32) - self.grid_canvas
        dense = cv2.warpAffine(disp, self.A_region2grid, self.region_size,
                               flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT)
        dense += self.region_pos
        self.dense = dense            # canvas position each region pixel shows (compose reuses it)
        if self.layers is None:
            view = self.out[ry0:ry1, rx0:rx1]
            view[...] = cv2.remap(self.canvas, dense, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            self._antialias(gmap, dense, view)
            return self.out
        ox, oy = self.layer_origin
        at = cv2.subtract(dense, (float(ox), float(oy), 0.0, 0.0)) if ox or oy else dense   # layer pixels
        person = cv2.remap(self.layers.person, at, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        self._antialias(gmap, at, person)
        composite(person, self._plate_view, self.out[ry0:ry1, rx0:rx1])
        return self.out

    def _antialias(self, gmap: np.ndarray, at: np.ndarray, sampled: np.ndarray) -> None:
        """Where `gmap` squeezes the photo by more than AA_START, blend into `sampled` (the region as
        just sampled at positions `at`, modified in place) the blurred copies for that minification,
        by the log of it: half of the copy for 2 at 2.1, all of it at 3, the copy for 4 at 6. Only
        the boxes around the squeezed places (each group of them: a mouth, an eye) are touched."""
        if not self._levels:
            return
        squeeze = minification(gmap, self.options.grid_stride)
        hot = (squeeze > AA_START).astype(np.uint8)
        if not hot.any():
            return
        n, _, boxes, _ = cv2.connectedComponentsWithStats(cv2.dilate(hot, np.ones((5, 5), np.uint8)))
        A, to_region = self.A_region2grid, self._grid2region
        W, H = self.region_size
        G = squeeze.shape[0]
        for gx, gy, gw, gh, _ in boxes[1:n]:
            gx0, gy0, gx1, gy1 = max(gx - 1, 0), max(gy - 1, 0), min(gx + gw + 1, G), min(gy + gh + 1, G)
            corners = np.array([[gx0, gy0, 1], [gx1 - 1, gy0, 1], [gx0, gy1 - 1, 1], [gx1 - 1, gy1 - 1, 1]],
                               np.float64) @ to_region.T
            x0, y0 = np.maximum(np.floor(corners.min(0)).astype(int), 0)
            x1, y1 = np.minimum(np.ceil(corners.max(0)).astype(int) + 1, [W, H])
            if x1 <= x0 or y1 <= y0:
                continue
            level = np.clip(np.log2(squeeze[gy0:gy1, gx0:gx1] / AA_START), 0.0, AA_LEVELS).astype(np.float32)
            M = _from_offset(A, x0, y0) - np.array([[0, 0, gx0], [0, 0, gy0]], np.float64)
            lv = cv2.warpAffine(level, M, (int(x1 - x0), int(y1 - y0)),
                                flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT)
            self._blend_levels(lv, at[y0:y1, x0:x1], sampled[y0:y1, x0:x1])

    def _blend_levels(self, lv: np.ndarray, pos: np.ndarray, view: np.ndarray) -> None:
        """Blend the blurred copies into `view` (in place) by level `lv` (0 sharp .. AA_LEVELS), each
        sampled at `pos` (positions in what the map samples)."""
        if not (lv > 0.0).any():
            return
        ox, oy = self._levels_origin
        pos = cv2.subtract(pos, (float(ox), float(oy), 0.0, 0.0)) if ox or oy else pos
        acc = view.astype(np.float32) * np.clip(1.0 - lv, 0.0, 1.0)[..., None]
        for k, img in enumerate(self._levels, start=1):
            w = np.clip(1.0 - np.abs(lv - k), 0.0, 1.0)
            if w.any():
                copy = cv2.remap(img, pos, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                acc += copy.astype(np.float32) * w[..., None]
        if view.dtype == np.uint8:
            acc = np.clip(acc + 0.5, 0, 255)
        view[...] = acc.astype(view.dtype)
