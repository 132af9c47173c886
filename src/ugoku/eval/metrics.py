"""Metric arithmetic: pure functions on arrays. Definitions and limits are in docs/metrics.md.

Per-frame signals are float arrays with NaN where the judge saw no face; every function here drops
those frames (pairwise where two signals are compared).
"""

from __future__ import annotations

import numpy as np

PSNR_CAP_DB = 100.0   # identical images: PSNR is infinite; we report this cap so JSON stays finite


def _finite_pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    ok = np.isfinite(a) & np.isfinite(b)
    return a[ok], b[ok]


def pearson(a: np.ndarray, b: np.ndarray, still: float = 1e-6) -> float:
    """Pearson correlation over time of two signals, on frames where both are defined.

    A signal that does not move (standard deviation below `still`) follows nothing: its correlation
    is reported as 0, not as undefined. Fewer than 3 common frames gives NaN.
    """
    a, b = _finite_pairs(a, b)
    if len(a) < 3:
        return float("nan")
    sa, sb = a.std(), b.std()
    if sa < still or sb < still:
        return 0.0
    return float(np.mean((a - a.mean()) * (b - b.mean())) / (sa * sb))


def _first(x: np.ndarray) -> float:
    f = np.flatnonzero(np.isfinite(x))
    return float(x[f[0]]) if len(f) else float("nan")


def change(x: np.ndarray) -> np.ndarray:
    """The signal minus its value at the first frame where it is defined."""
    x = np.asarray(x, np.float64)
    return x - _first(x)


def change_mae(result: np.ndarray, driver: np.ndarray) -> float:
    """Mean absolute difference between the two signals' changes since their first frames."""
    a, b = _finite_pairs(change(result), change(driver))
    return float(np.mean(np.abs(a - b))) if len(a) else float("nan")


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def identity_stats(descriptors: list[np.ndarray | None], reference: np.ndarray | None) -> dict:
    """Cosine similarity (mean and 10th percentile) and Euclidean distance (mean and max) of each
    descriptor to `reference`; frames without a face are left out."""
    ds = [d for d in descriptors if d is not None]
    if reference is None or not ds:
        return {"csim_mean": float("nan"), "csim_p10": float("nan"),
                "distance_mean": float("nan"), "distance_max": float("nan"), "frames": 0}
    cs = np.array([cosine(d, reference) for d in ds])
    dist = np.array([np.linalg.norm(d - reference) for d in ds])
    return {"csim_mean": float(cs.mean()), "csim_p10": float(np.percentile(cs, 10)),
            "distance_mean": float(dist.mean()), "distance_max": float(dist.max()), "frames": len(ds)}


def jitter(points: np.ndarray, scale: np.ndarray) -> float:
    """Landmark jitter: mean length of the second difference p[t+1] - 2 p[t] + p[t-1] over all
    points, divided by the face's inter-ocular distance, over frames where three in a row were seen.

    `points` (T, K, 2) with NaN for unseen frames; `scale` (T,). Smooth motion at constant speed
    gives 0; shimmer and shake give more. Fast real motion also contributes, so compare a result's
    jitter with its driver's (the ratio), not with zero.
    """
    p = np.asarray(points, np.float64)
    if len(p) < 3:
        return float("nan")
    acc = p[2:] - 2 * p[1:-1] + p[:-2]
    mag = np.linalg.norm(acc, axis=2).mean(1) / np.asarray(scale, np.float64)[1:-1]
    mag = mag[np.isfinite(mag)]
    return float(mag.mean()) if len(mag) else float("nan")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio of two uint8 images in dB, capped at PSNR_CAP_DB."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    if mse <= 0:
        return PSNR_CAP_DB
    return float(min(PSNR_CAP_DB, 10.0 * np.log10(255.0 ** 2 / mse)))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Structural similarity of two RGB uint8 images (Wang et al. 2004, 7x7 window, per channel)."""
    from skimage.metrics import structural_similarity

    if min(a.shape[:2]) < 7:
        return float("nan")
    return float(structural_similarity(a, b, channel_axis=2, data_range=255))


def l1(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two uint8 images, in [0, 1]."""
    return float(np.mean(np.abs(a.astype(np.float64) - b.astype(np.float64)))) / 255.0


def nanmean(x) -> float:
    x = np.asarray(x, np.float64)
    x = x[np.isfinite(x)]
    return float(x.mean()) if len(x) else float("nan")
