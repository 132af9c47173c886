"""Measure a stream of frames with the independent judge: one pass, one frame in memory at a time.

`measure_frames` turns RGB frames into a `VideoMeasure` of per-frame signals (NaN where no face was
seen); `measure_video` does the same for a file. Gaze is the only signal read with MediaPipe (dlib's
68 points have no iris); its face mesh runs here as a fresh instance, without ugoku's smoothing,
reference settling or motion model.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Iterable, Iterator

import numpy as np

from ugoku.eval import face68
from ugoku.eval.metrics import l1, psnr, ssim
from ugoku.face import landmarks as L
from ugoku.motion.controls import angles_from_rotation
from ugoku.motion.eyes import gaze as eye_gaze
from ugoku.motion.pose import eye_openness, mouth_opening, procrustes

SIGNALS = ("mouth", "eye_right", "eye_left", "brows", "yaw", "pitch", "roll", "gaze_h", "gaze_v")
# The same quantities read from MediaPipe's 478 points (ugoku's tracker) on the same frames; on a
# driving video their agreement with the judge bounds what any output can score (docs/metrics.md).
TRACKER_SIGNALS = ("mouth", "eye_right", "eye_left", "brows", "yaw", "pitch")


@dataclass(frozen=True)
class MeasureOptions:
    """identity_stride: compute the (slow, ~0.14 s) face descriptor on every n-th frame and the first.
    keep: frame indices to keep as images (for contact sheets)."""

    identity_stride: int = 5
    keep: tuple[int, ...] = ()
    max_frames: int | None = None


@dataclass
class VideoMeasure:
    """Per-frame signals of one video. Arrays have one entry per frame; NaN where no face was seen."""

    width: int
    height: int
    detected: np.ndarray                  # (T,) bool, dlib found a face
    points: np.ndarray                    # (T, 68, 2)
    signals: dict[str, np.ndarray]        # SIGNALS -> (T,)
    descriptors: dict[int, np.ndarray]    # frame index -> (128,)
    fidelity: dict[str, np.ndarray] = field(default_factory=dict)   # psnr, ssim, l1 -> (T,) vs truth
    kept: dict[int, np.ndarray] = field(default_factory=dict)
    tracker: dict[str, np.ndarray] = field(default_factory=dict)    # TRACKER_SIGNALS -> (T,)

    @property
    def frames(self) -> int:
        return len(self.detected)

    @property
    def scale(self) -> np.ndarray:
        return np.array([face68.interocular(p) if np.isfinite(p).all() else np.nan for p in self.points])


def gaze_of(mesh_points: np.ndarray) -> tuple[float, float]:
    """Iris centre relative to the eye corners, both eyes averaged, from MediaPipe's 478 points:
    (horizontal, vertical) in eye widths, positive towards the image's right and down."""
    h, v = eye_gaze(mesh_points).mean(0)
    return float(h), float(v)


def tracker_signals(mesh_points: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """TRACKER_SIGNALS from MediaPipe's points: the lid gap over eye width per eye, the inner-lip gap
    and the brows' height above the eye centres over the eye-centre distance, and yaw and pitch
    (degrees) of the rigid points' rotation from `reference` (the video's first tracked frame)."""
    p = np.asarray(mesh_points, np.float64)
    rc, lc = p[list(L.RIGHT_EYE_CORNERS), :2].mean(0), p[list(L.LEFT_EYE_CORNERS), :2].mean(0)
    io = max(float(np.linalg.norm(lc - rc)), 1e-9)
    across = (lc - rc) / io
    up = np.array([across[1], -across[0]])
    brows = np.mean([((p[list(b), :2] - c) @ up).mean() for b, c in ((L.RIGHT_BROW, rc), (L.LEFT_BROW, lc))]) / io
    rigid = np.array(L.RIGID)
    _, R, _ = procrustes(reference[rigid], p[rigid])
    yaw, pitch, _ = angles_from_rotation(R)
    eyes = eye_openness(p)
    return {"mouth": mouth_opening(p, io), "eye_right": float(eyes[0]),
            "eye_left": float(eyes[1]), "brows": float(brows), "yaw": float(yaw), "pitch": float(pitch)}


def measure_frames(frames: Iterable[np.ndarray], judge: face68.Dlib68, options: MeasureOptions = MeasureOptions(),
                   truth: Iterator[np.ndarray] | None = None, truth_points: np.ndarray | None = None) -> VideoMeasure:
    """Measure every frame. With `truth` (the real frames, same size) and `truth_points` (the judge's
    points on them), also PSNR, SSIM and L1 on the real face's box (the whole frame without
    `truth_points`; NaN where the real face was not seen). A frame that is the very same
    array object as the previous one (a still baseline) reuses the previous measurement."""
    from ugoku.face.tracker import FaceTracker

    tracker = FaceTracker().__enter__()
    judge.hint = None                       # each video is judged from scratch, whatever came before
    mesh_ref: list[np.ndarray] = []
    tsig = {k: [] for k in TRACKER_SIGNALS}

    def mesh_reading(rgb):
        """Gaze, and the tracker's own signals as a side record, from one MediaPipe fit."""
        pts = tracker(rgb)
        if pts is None:
            for k in TRACKER_SIGNALS:
                tsig[k].append(np.nan)
            return float("nan"), float("nan")
        if not mesh_ref:
            mesh_ref.append(pts.astype(np.float64))
        for k, v in tracker_signals(pts, mesh_ref[0]).items():
            tsig[k].append(v)
        return gaze_of(pts)

    detected, points, descriptors, kept = [], [], {}, {}
    sig = {k: [] for k in SIGNALS}
    fid = {"psnr": [], "ssim": [], "l1": []}
    last_frame, last = None, None
    width = height = 0
    try:
        for i, rgb in enumerate(frames):
            if options.max_frames and i >= options.max_frames:
                break
            height, width = rgb.shape[:2]
            want_desc = i == 0 or (options.identity_stride > 0 and i % options.identity_stride == 0)
            if rgb is last_frame and last is not None:
                face, g = last
                for k in TRACKER_SIGNALS:
                    tsig[k].append(tsig[k][-1])
            else:
                face = judge(rgb, descriptor=want_desc, follow=True)
                g = mesh_reading(rgb)
                last_frame, last = rgb, (face, g)
            if i in options.keep:
                kept[i] = rgb.copy()
            detected.append(face is not None)
            if face is None:
                points.append(np.full((68, 2), np.nan))
                for k in SIGNALS:
                    sig[k].append(np.nan)
            else:
                p = face.points
                points.append(p)
                if want_desc and face.descriptor is not None:
                    descriptors[i] = face.descriptor
                yaw, pitch, roll = face68.head_pose(p, width, height)
                vals = {"mouth": face68.mouth_opening(p), "eye_right": face68.eye_aspect(p, face68.RIGHT_EYE),
                        "eye_left": face68.eye_aspect(p, face68.LEFT_EYE), "brows": face68.brow_raise(p),
                        "yaw": yaw, "pitch": pitch, "roll": roll, "gaze_h": g[0], "gaze_v": g[1]}
                for k in SIGNALS:
                    sig[k].append(vals[k])
            if truth is not None:
                real = next(truth, None)
                box = (0, 0, width, height)       # no truth points: the whole frame
                if truth_points is not None:
                    tp = truth_points[i] if i < len(truth_points) else None
                    box = face68.face_box(tp, width, height) if tp is not None and np.isfinite(tp).all() else None
                if real is None or real.shape != rgb.shape or box is None:
                    for k in fid:
                        fid[k].append(np.nan)
                else:
                    x0, y0, x1, y1 = box
                    a, b = rgb[y0:y1, x0:x1], real[y0:y1, x0:x1]
                    fid["psnr"].append(psnr(a, b))
                    fid["ssim"].append(ssim(a, b))
                    fid["l1"].append(l1(a, b))
    finally:
        tracker.__exit__(None, None, None)
    return VideoMeasure(width, height, np.array(detected, bool), np.array(points).reshape(-1, 68, 2),
                        {k: np.array(v, np.float64) for k, v in sig.items()}, descriptors,
                        {k: np.array(v, np.float64) for k, v in fid.items()} if truth is not None else {}, kept,
                        {k: np.array(v, np.float64) for k, v in tsig.items()})


def video_frames(path: str | os.PathLike, max_frames: int | None = None) -> Iterator[np.ndarray]:
    """RGB frames of a video file, streamed (ugoku's own bounded, checked reader)."""
    from ugoku.io.video import VideoSource

    with VideoSource(path) as v:
        for i, f in enumerate(v.frames()):
            if max_frames and i >= max_frames:
                return
            yield f
