"""Background: split the photo into a moving person and a still background plate.

A warp can only move the pixels a photo has. With one layer, the falloff rings around the head bend
the wall behind it along with the hair, and where the head moves away the gap is filled by stretching
whatever lay at its edge (neck, hair, a chair): a smear. With two layers the person (the soft matte
of face/segment.py) is warped and laid over a plate that does not move. Where the person was, the
plate holds background filled in from the background around it (`fill_holes`, a push-pull pyramid:
a smooth continuation of the nearby colours, which is what a narrow revealed strip needs).

The person layer is kept premultiplied, P = F - (1 - A) B for the photo F, matte A and plate B, and
the output is P' + (1 - A') B with P' and A' sampled through the same map. Where the map is the
identity this gives back F exactly, so a still driver returns the photo bit for bit, and the
interpolation of colours and matte at the person's edge stays consistent.

Conventions: float32 arrays; the matte (H, W) in [0, 1]; images (H, W, 3) in 0..255.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ugoku.errors import OptionError

BACKGROUND_MODES = ("still", "warp")


@dataclass(frozen=True)
class BackgroundOptions:
    """mode: 'still' keeps the background still and fills what the head uncovers; 'warp' bends it
    with the head as one layer (no segmentation). known_below: matte value under which a pixel shows
    background the plate can keep; halo: crop pixels around the person also treated as unknown, so
    the plate carries no hair or skin colour from the person's edge. grain: scale (crop pixels) of
    the background texture carried into the filled part; reach: how far (crop pixels) from the edge
    of the known background that texture fades out."""

    mode: str = "still"
    known_below: float = 0.08
    halo: float = 10.0
    grain: float = 2.0
    reach: float = 48.0

    def __post_init__(self):
        if self.mode not in BACKGROUND_MODES:
            raise OptionError(f"background must be 'still' or 'warp', not {self.mode!r}.")


def fill_holes(image: np.ndarray, known: np.ndarray, min_side: int = 4) -> np.ndarray:
    """Fill the pixels where `known` is 0 from the pixels where it is 1 (push-pull pyramid).

    image: (H, W, C) float32; known: (H, W) weights in [0, 1]. Returns a float32 image equal to
    `image` where known is 1 and a smooth continuation of the known colours elsewhere. With nothing
    known, every pixel gets the image's mean.
    """
    img = np.asarray(image, np.float32)
    w = np.clip(np.asarray(known, np.float32), 0.0, 1.0)
    if not w.any():
        return np.broadcast_to(img.reshape(-1, img.shape[-1]).mean(0), img.shape).astype(np.float32).copy()
    # Pull: premultiplied colour and weight, halved level by level.
    levels = [(img * w[..., None], w)]
    while min(levels[-1][1].shape) > min_side:
        c, k = levels[-1]
        h, wd = k.shape
        size = (max(1, (wd + 1) // 2), max(1, (h + 1) // 2))
        levels.append((cv2.resize(c, size, interpolation=cv2.INTER_AREA).reshape(size[1], size[0], -1),
                       cv2.resize(k, size, interpolation=cv2.INTER_AREA)))
    c, k = levels[-1]
    total = k.sum()
    mean = c.reshape(-1, c.shape[-1]).sum(0) / max(float(total), 1e-12)
    est = np.where(k[..., None] > 1e-6, c / np.maximum(k, 1e-6)[..., None], mean)
    # Push: at each finer level, keep what is known there and take the rest from the coarser estimate.
    for c, k in reversed(levels[:-1]):
        up = cv2.resize(est, (k.shape[1], k.shape[0]), interpolation=cv2.INTER_LINEAR).reshape(c.shape)
        trust = np.clip(k * 4.0, 0.0, 1.0)[..., None]      # a quarter-covered cell is trusted fully
        est = trust * (c / np.maximum(k, 1e-6)[..., None]) + (1.0 - trust) * up
    return np.where(w[..., None] >= 1.0, img, est).astype(np.float32)


def mirrored_detail(image: np.ndarray, known: np.ndarray, sigma: float, reach: float, skip: float = 0.0) -> np.ndarray:
    """Fine texture for the unknown pixels (`known` False): each takes the detail (image minus its
    Gaussian blur of `sigma`) of the known pixel mirrored across the nearest known edge (and `skip`
    pixels further), so a wall or grass keeps its grain up to the person's old outline instead of
    turning into a smooth blur. The detail fades out over `reach` pixels from the edge. Returns
    (H, W, C) float32, 0 where known."""
    img = np.asarray(image, np.float32)
    h, w = known.shape
    if known.all() or not known.any():
        return np.zeros_like(img)
    detail = img - cv2.GaussianBlur(img, (0, 0), sigma)
    dist, label = cv2.distanceTransformWithLabels((~known).astype(np.uint8), cv2.DIST_L2, 5,
                                                  labelType=cv2.DIST_LABEL_PIXEL)
    ky, kx = np.nonzero(known)                     # known pixels in raster order: labels 1, 2, ...
    uy, ux = np.nonzero(~known)
    lab = label[uy, ux] - 1
    qy, qx = ky[lab], kx[lab]
    d = dist[uy, ux]
    # Mirrored, and `skip` pixels further out: the first known pixels often still hold loose hair.
    k = 1.0 + skip / np.maximum(d, 1e-6)
    my = np.clip(np.round(qy + k * (qy - uy)), 0, h - 1).astype(np.int64)
    mx = np.clip(np.round(qx + k * (qx - ux)), 0, w - 1).astype(np.int64)
    bad = ~known[my, mx]                           # mirrored into the person or off a thin strip
    my[bad], mx[bad] = qy[bad], qx[bad]
    fade = np.clip(1.0 - d / max(reach, 1e-6), 0.0, 1.0)
    out = np.zeros_like(img)
    out[uy, ux] = detail[my, mx] * fade[:, None]
    return out


@dataclass(frozen=True)
class Layers:
    """The photo over a region, split: `person` (H, W, 4) float32, the premultiplied colour in
    channels 0-2 and the matte in channel 3 (one array, so one remap moves both), and the still
    `plate` (H, W, 3) float32."""

    person: np.ndarray
    plate: np.ndarray


def split_layers(image: np.ndarray, matte: np.ndarray, options: BackgroundOptions = BackgroundOptions(),
                 scale: float = 1.0) -> Layers:
    """Split `image` (uint8 RGB) with the person's `matte` (same size); `scale`: image pixels per crop
    pixel (the halo is given in crop pixels)."""
    f = np.asarray(image, np.float32)
    a = np.clip(np.asarray(matte, np.float32), 0.0, 1.0)
    person = (a >= options.known_below).astype(np.uint8)
    r = int(round(options.halo * scale))
    if r > 0:
        person = cv2.dilate(person, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    known = person == 0
    plate = fill_holes(f, known.astype(np.float32))
    plate += mirrored_detail(f, known, options.grain * scale, options.reach * scale, options.halo * scale)
    packed = np.empty(f.shape[:2] + (4,), np.float32)
    packed[..., :3] = f - (1.0 - a)[..., None] * plate
    packed[..., 3] = a
    return Layers(person=packed, plate=plate)


def composite(warped_person: np.ndarray, plate: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Lay the warped premultiplied person (H, W, 4) over the plate (H, W, 3) into `out` (uint8, same
    H, W), rounded to the nearest level and saturated; returns `out`. (OpenCV calls: about five
    times faster than the same arithmetic in numpy.)"""
    rgb = cv2.cvtColor(warped_person, cv2.COLOR_RGBA2RGB)
    behind = cv2.cvtColor(cv2.subtract(1.0, cv2.extractChannel(warped_person, 3)), cv2.COLOR_GRAY2RGB)
    out[...] = cv2.add(rgb, cv2.multiply(plate, behind), dtype=cv2.CV_8U)
    return out
