"""An invisible, spread-spectrum watermark that carries a 64-bit payload in every frame.

Layout (version 1, fixed: the detector must know it). A tile of CELLS x CELLS cells repeats over the
frame, TILES tiles across the shorter side, anchored at the frame's centre (so a centre crop keeps
the alignment). A quarter of the cells are a pilot of keyed random signs that never changes; the
others carry the payload: 64 bits and a 24-bit keyed checksum, protected by a rate-1/2 convolutional
code (constraint length 7, decoded with soft-decision Viterbi) and scrambled by a keyed sign per
cell. The cell grid is upsampled bilinearly and periodically into a smooth texture.

The texture is added to the red-green chroma (Cr), not to brightness: photos hold about a tenth of
their fine detail in chroma, so the same energy stands out far better against the picture, and the
eye is less sensitive to it. Embedding adds one cached pattern per frame size (two saturating uint8
operations, well under a millisecond at 512x512).

Detection needs no original. It high-passes the Cr plane, averages it over frames (the mark is static,
moving content is not), estimates the tile period from the autocorrelation (undoing a resize), folds
the frame onto one tile, aligns it (centre anchor, or a search with the pilot for other crops),
estimates each cell by least squares and decodes. The checksum and a pilot threshold keep false
detections on unmarked footage out.

The key is public: the mark says where a file came from; it does not stop someone with this code
from removing it. That is what the signed C2PA manifest and the audit log are for.
"""

from __future__ import annotations

import hashlib
import math
import zlib
from dataclasses import dataclass
from typing import Iterable

import cv2
import numpy as np

KEY = b"ugoku-watermark-v1"
CELLS = 16              # cells per tile side
TILES = 4               # tiles across the frame's shorter side
PILOT_CELLS = CELLS * CELLS // 4
PAYLOAD_BITS = 64
CHECK_BITS = 24
INFO_BITS = PAYLOAD_BITS + CHECK_BITS
K = 7                                   # convolutional code: constraint length and generators (octal)
GENERATORS = (0o171, 0o133)
CODED_BITS = 2 * (INFO_BITS + K - 1)    # 188, with the zero tail
CLIP = 8.0                              # residuals beyond this (edges) are clipped
PILOT_THRESHOLD = 6.0                   # pilot z below this is "no watermark", whatever the bits say

# The mark's change of (R, G, B) per unit: a step along Cr, scaled to unit mean square over the three
# channels (so `strength` is the RMS change of a channel). DETECT_RGB reads Cr back in the same units
# and gives zero for grey, so brightness detail does not leak into detection.
_CR = np.array([1.403, -0.714, 0.0])
MARK_RGB = _CR / np.sqrt(np.mean(_CR ** 2))
DETECT_RGB = np.array([0.5, -0.4187, -0.0813]) * np.sqrt(np.mean(_CR ** 2))


def _rng(tag: bytes) -> np.random.Generator:
    return np.random.default_rng(int.from_bytes(hashlib.sha256(KEY + tag).digest()[:8], "little"))


# ---- the code: checksum, convolutional code, cells ------------------------------------------------


def _checksum(raw: bytes) -> int:
    return zlib.crc32(KEY + raw) & ((1 << CHECK_BITS) - 1)


def _conv_outputs() -> np.ndarray:
    """(64 states, 2 inputs, 2 outputs) of the encoder; state = the last K-1 input bits."""
    out = np.zeros((1 << (K - 1), 2, 2), dtype=np.uint8)
    for state in range(1 << (K - 1)):
        for b in (0, 1):
            reg = (b << (K - 1)) | state
            for j, g in enumerate(GENERATORS):
                out[state, b, j] = bin(reg & g).count("1") & 1
    return out


_CONV = _conv_outputs()


def encode_payload(payload: int) -> np.ndarray:
    """64-bit payload -> CODED_BITS bits (uint8 0/1): payload and checksum, convolutionally coded."""
    if not 0 <= payload < 1 << PAYLOAD_BITS:
        raise ValueError("payload must be a 64-bit unsigned integer")
    raw = payload.to_bytes(8, "big")
    info = (payload << CHECK_BITS) | _checksum(raw)
    bits = [(info >> (INFO_BITS - 1 - i)) & 1 for i in range(INFO_BITS)] + [0] * (K - 1)
    state, out = 0, []
    for b in bits:
        out.extend(_CONV[state, b])
        state = (state >> 1) | (b << (K - 2))
    return np.array(out, dtype=np.uint8)


def _viterbi(soft: np.ndarray) -> np.ndarray:
    """Soft-decision Viterbi: soft > 0 means coded bit 0. Returns the INFO_BITS decoded bits."""
    n_states = 1 << (K - 1)
    nxt = np.arange(n_states)
    b = nxt >> (K - 2)                                   # the input that leads into each state
    prev = np.stack([(nxt << 1) & (n_states - 1), ((nxt << 1) & (n_states - 1)) | 1])   # 2 predecessors
    sign = 1.0 - 2.0 * _CONV.astype(np.float64)          # (state, input, 2): +1 for a 0 bit
    metric = np.full(n_states, -np.inf)
    metric[0] = 0.0
    steps = soft.size // 2
    choice = np.zeros((steps, n_states), dtype=np.int64)
    for t in range(steps):
        gain = sign @ soft[2 * t: 2 * t + 2]              # (state, input)
        cand = metric[prev] + gain[prev, b[None, :]]      # (2, next state)
        pick = np.argmax(cand, axis=0)
        choice[t] = prev[pick, nxt]
        metric = cand[pick, nxt]
    state, bits = 0, []                                  # the zero tail ends in state 0
    for t in range(steps - 1, -1, -1):
        bits.append(state >> (K - 2))
        state = choice[t, state]
    return np.array(bits[::-1][:INFO_BITS], dtype=np.uint8)


def payload_bits(payload: int) -> np.ndarray:
    """The payload's 64 bits, most significant first (uint8 0/1)."""
    return np.array([(payload >> (PAYLOAD_BITS - 1 - i)) & 1 for i in range(PAYLOAD_BITS)], dtype=np.uint8)


def decoded_payload_bits(soft: np.ndarray) -> np.ndarray:
    """The 64 payload bits the decoder reads from soft coded bits, checksum or not."""
    return _viterbi(soft)[:PAYLOAD_BITS]


def decode_bits(soft: np.ndarray) -> int | None:
    """Soft coded bits -> the payload, or None when the checksum does not match."""
    info = 0
    for b in _viterbi(soft):
        info = (info << 1) | int(b)
    payload, check = info >> CHECK_BITS, info & ((1 << CHECK_BITS) - 1)
    return payload if _checksum(payload.to_bytes(8, "big")) == check else None


class _Cells:
    """Which cells are pilot, which coded bit each data cell carries, each cell's scrambling sign."""

    def __init__(self):
        n = CELLS * CELLS
        perm = _rng(b"cells").permutation(n)
        self.pilot = np.sort(perm[:PILOT_CELLS])
        self.data = perm[PILOT_CELLS:]
        self.bit_of = np.full(n, -1)
        self.bit_of[self.data] = np.arange(self.data.size) % CODED_BITS
        self.sign = _rng(b"signs").choice(np.array([-1.0, 1.0]), n)

    def values(self, coded: np.ndarray | None) -> np.ndarray:
        """The tile's cell values (CELLS, CELLS): pilot signs, and data signs times ±1 per coded bit
        (coded None: the pilot alone)."""
        v = np.zeros(CELLS * CELLS)
        v[self.pilot] = self.sign[self.pilot]
        if coded is not None:
            v[self.data] = self.sign[self.data] * (1.0 - 2.0 * coded[self.bit_of[self.data]])
        return v.reshape(CELLS, CELLS)


LAYOUT = _Cells()


# ---- embedding ------------------------------------------------------------------------------------


def _interp(n_out: int, period: float, origin: float = 0.0, cells: int = CELLS) -> np.ndarray:
    """(n_out, cells) periodic bilinear weights: sample j sits at j + 0.5, the tile repeats every
    `period` samples and starts at `origin`."""
    t = (((np.arange(n_out) + 0.5 - origin) / period) % 1.0) * cells - 0.5
    i0 = np.floor(t).astype(np.int64)
    f = t - i0
    w = np.zeros((n_out, cells))
    rows = np.arange(n_out)
    w[rows, i0 % cells] += 1.0 - f
    w[rows, (i0 + 1) % cells] += f
    return w


def tile_period(height: int, width: int) -> float:
    """The tile size in pixels at which a frame of this size is marked."""
    return min(height, width) / TILES


def pattern(height: int, width: int, coded: np.ndarray, rms: float = 1.0) -> np.ndarray:
    """The mark for a frame (height, width) as float32 Cr units, scaled to the given RMS."""
    p = tile_period(height, width)
    img = _interp(height, p, height / 2) @ LAYOUT.values(coded) @ _interp(width, p, width / 2).T
    return (img * (rms / max(1e-9, float(np.sqrt(np.mean(img * img)))))).astype(np.float32)


@dataclass(frozen=True)
class WatermarkOptions:
    """strength: RMS change of each colour channel in grey levels (2.45: 40.1 dB PSNR, 0.1 dB of margin)."""

    strength: float = 2.45


class Embedder:
    """Adds the mark carrying `payload` to RGB uint8 frames of any size (the pattern is cached per
    size). Returns its own buffer (consume it before the next call); the input is not changed."""

    def __init__(self, payload: int, options: WatermarkOptions = WatermarkOptions()):
        self.payload = payload
        self.options = options
        self._coded = encode_payload(payload)
        self._cache: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def _planes(self, h: int, w: int):
        if (h, w) not in self._cache:
            if len(self._cache) > 4:
                self._cache.clear()
            q = np.rint(pattern(h, w, self._coded, self.options.strength)[..., None] * MARK_RGB)
            pos = np.clip(q, 0, 255).astype(np.uint8)
            neg = np.clip(-q, 0, 255).astype(np.uint8)
            self._cache[(h, w)] = (pos, neg, np.empty((h, w, 3), np.uint8))
        return self._cache[(h, w)]

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        pos, neg, out = self._planes(*rgb.shape[:2])
        cv2.add(np.ascontiguousarray(rgb), pos, dst=out)
        cv2.subtract(out, neg, dst=out)
        return out


# ---- detection ------------------------------------------------------------------------------------


def residual_sigma(height: int, width: int) -> float:
    """The Gaussian whose blur is subtracted from the chroma plane: about one and a half cells."""
    return max(1.0, 1.5 * min(height, width) / (TILES * CELLS))


def chroma_residual(rgb: np.ndarray) -> np.ndarray:
    """The Cr plane minus its local mean (float32), clipped and normalised by its local strength: the
    picture's broad colour removed, the mark kept."""
    y = cv2.transform(np.ascontiguousarray(rgb, dtype=np.float32), DETECT_RGB[None, :]).reshape(rgb.shape[:2])
    sigma = residual_sigma(*y.shape)
    r = np.clip(y - cv2.GaussianBlur(y, (0, 0), sigma), -CLIP, CLIP)
    # Weigh each place by how quiet its colour is: busy regions (a flag, a patterned shirt) carry
    # as much mark as quiet ones but far more picture, so they are down-weighted.
    return r / (np.sqrt(cv2.GaussianBlur(r * r, (0, 0), 1.5 * sigma)) + 1.0)


class Accumulator:
    """Averages the residual of frames of one size: the static mark adds up, moving content does not."""

    def __init__(self):
        self.sum: np.ndarray | None = None
        self.frames = 0

    def add(self, rgb: np.ndarray) -> None:
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            return
        r = chroma_residual(rgb)
        if self.sum is None:
            self.sum = np.zeros(r.shape, dtype=np.float64)
        if r.shape == self.sum.shape:
            self.sum += r
            self.frames += 1

    def mean(self) -> np.ndarray:
        return (self.sum / max(1, self.frames)).astype(np.float32)


@dataclass(frozen=True)
class Detection:
    """found: a payload was decoded whose checksum matches, with the pilot clearly present.
    confidence: how certain the read is (0..1; the probability that every coded bit was read right,
    under Gaussian noise, after error correction this is conservative). pilot_z: the pilot's strength
    in standard deviations. period: the tile size found (x, y) in pixels. frames: frames averaged.
    soft: the coded bits as read, in standard deviations (> 0: a 0 bit), for measuring accuracy."""

    found: bool
    payload: int | None
    confidence: float
    pilot_z: float
    period: tuple[float, float]
    frames: int
    soft: np.ndarray | None = None

    @property
    def record(self) -> str | None:
        return None if self.payload is None else f"{self.payload:016x}"


NOT_FOUND = Detection(False, None, 0.0, 0.0, (0.0, 0.0), 0)


def _axis_peaks(acf: np.ndarray, lo: float, hi: float, n: int = 2) -> list[float]:
    """The strongest local maxima of a 1-D autocorrelation in [lo, hi], refined to sub-sample."""
    a0, a1 = max(2, int(math.floor(lo))), min(acf.size - 2, int(math.ceil(hi)))
    out: list[float] = []
    if a1 <= a0:
        return out
    for i in np.argsort(acf[a0:a1 + 1])[::-1][:12]:
        k = a0 + int(i)
        y0, y1, y2 = acf[k - 1], acf[k], acf[k + 1]
        if y1 < y0 or y1 < y2:
            continue
        den = y0 - 2 * y1 + y2
        out.append(k + (float(np.clip(0.5 * (y0 - y2) / den, -0.5, 0.5)) if den < 0 else 0.0))
        if len(out) == n:
            break
    return out


def _periods(res: np.ndarray) -> list[tuple[float, float]]:
    """Candidate tile periods (x, y): from the autocorrelation (a resized frame), and the sizes at
    which an unchanged or 90 %-cropped frame was marked."""
    h, w = res.shape
    fh, fw = cv2.getOptimalDFTSize(2 * h), cv2.getOptimalDFTSize(2 * w)
    spec = np.fft.rfft2(res, s=(fh, fw))
    acf = np.fft.irfft2(spec * np.conj(spec), s=(fh, fw))
    ax = acf[:3, :w].sum(axis=0) + acf[-2:, :w].sum(axis=0)
    ay = acf[:h, :3].sum(axis=1) + acf[:h, -2:].sum(axis=1)
    nominal = min(h, w) / TILES
    px = _axis_peaks(ax, 0.45 * nominal, 2.3 * nominal)
    py = _axis_peaks(ay, 0.45 * nominal, 2.3 * nominal)
    cands = [(x, y) for x in px for y in py if 0.8 < x / y < 1.25]
    cands += [(x, x) for x in px] + [(y, y) for y in py]
    cands += [(nominal, nominal), (nominal / 0.9, nominal / 0.9)]
    return list(dict.fromkeys((round(x, 2), round(y, 2)) for x, y in cands))


BINS = 4 * CELLS


def _fold(res: np.ndarray, px: float, py: float) -> np.ndarray:
    """Average the residual onto one tile of BINS x BINS, the tile origin at the frame's centre."""
    h, w = res.shape
    bx = np.floor((((np.arange(w) + 0.5 - w / 2) / px) % 1.0) * BINS).astype(np.int64) % BINS
    by = np.floor((((np.arange(h) + 0.5 - h / 2) / py) % 1.0) * BINS).astype(np.int64) % BINS
    idx = (by[:, None] * BINS + bx[None, :]).ravel()
    s = np.bincount(idx, weights=res.ravel().astype(np.float64), minlength=BINS * BINS)
    c = np.bincount(idx, minlength=BINS * BINS)
    f = s / np.maximum(c, 1)
    return (f - f.mean()).reshape(BINS, BINS)


_BASES: dict[float, tuple[np.ndarray, np.ndarray]] = {}


def _model(sigma_bins: float) -> tuple[np.ndarray, np.ndarray]:
    """For one high-pass width (in bins): the least-squares inverse of the cell basis, and the
    pilot's conjugate spectrum. Each cell's bilinear bump, high-passed like the residual, overlaps its
    neighbours; least squares unmixes them where a plain projection would not."""
    key = round(sigma_bins, 1)
    if key not in _BASES:
        if len(_BASES) > 16:
            _BASES.clear()
        wb = _interp(BINS, BINS)
        hats = np.einsum("ik,jl->klij", wb, wb).reshape(CELLS * CELLS, BINS, BINS)
        f = np.fft.fftfreq(BINS)
        keep = 1.0 - np.exp(-2.0 * (np.pi * key) ** 2 * (f[:, None] ** 2 + f[None, :] ** 2))
        basis = np.fft.ifft2(np.fft.fft2(hats) * keep).real.reshape(CELLS * CELLS, BINS * BINS).T
        pilot = (basis @ LAYOUT.values(None).ravel()).reshape(BINS, BINS)
        _BASES[key] = (np.linalg.pinv(basis), np.conj(np.fft.rfft2(pilot)))
    return _BASES[key]


def _read(folded: np.ndarray, sigma_bins: float) -> list[tuple[float, np.ndarray]]:
    """(pilot z, soft coded bits) for the centre-anchored alignment and for the best pilot match."""
    pinv, pilot_spec = _model(sigma_bins)
    corr = np.fft.irfft2(np.fft.rfft2(folded) * pilot_spec, s=folded.shape)
    peak = np.unravel_index(int(np.argmax(corr)), corr.shape)
    out = []
    for dy, dx in dict.fromkeys([(0, 0), (int(peak[0]), int(peak[1]))]):
        aligned = np.roll(folded, (-dy, -dx), axis=(0, 1))
        g = (pinv @ aligned.ravel()) * LAYOUT.sign           # each cell's value, unscrambled
        pilot = g[LAYOUT.pilot]
        sd = float(pilot.std()) + 1e-12
        pilot_z = float(pilot.mean()) / sd * math.sqrt(pilot.size)
        bits = LAYOUT.bit_of[LAYOUT.data]
        soft = np.bincount(bits, weights=g[LAYOUT.data], minlength=CODED_BITS)
        soft = soft / (sd * np.sqrt(np.bincount(bits, minlength=CODED_BITS)))
        out.append((pilot_z, soft))
    return out


def detect_residual(res: np.ndarray, frames: int = 1) -> Detection:
    """Look for the mark in an averaged residual (see Accumulator)."""
    sigma = residual_sigma(*res.shape)
    best: tuple | None = None
    for px, py in _periods(res):
        for pilot_z, soft in _read(_fold(res, px, py), sigma / math.sqrt(px * py) * BINS):
            payload = decode_bits(soft) if pilot_z >= PILOT_THRESHOLD else None
            key = (payload is not None, pilot_z)
            if best is None or key > best[0]:
                best = (key, payload, pilot_z, soft, (px, py))
    if best is None:
        return NOT_FOUND
    _, payload, pilot_z, soft, period = best
    if payload is None:
        return Detection(False, None, 0.0, pilot_z, period, frames, soft)
    # How well the decoded codeword matches what was read: the probability, under Gaussian noise of
    # the measured spread, that the coded bits as a whole point the decoded way.
    agree = (1.0 - 2.0 * encode_payload(payload)) * soft
    confidence = 0.5 * (1.0 + math.erf(float(agree.sum()) / math.sqrt(2.0 * agree.size)))
    return Detection(True, payload, confidence, pilot_z, period, frames, soft)


def detect_frames(frames: Iterable[np.ndarray], max_frames: int = 300) -> Detection:
    """Detect over RGB frames of one size (at most `max_frames` are read)."""
    acc = Accumulator()
    for i, f in enumerate(frames):
        if i >= max_frames:
            break
        acc.add(f)
    if acc.frames == 0:
        return NOT_FOUND
    return detect_residual(acc.mean(), acc.frames)
