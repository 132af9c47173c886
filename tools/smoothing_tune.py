"""How the tracker's smoothing trades steadiness for lag, on real driving videos.

Each video is tracked once (MediaPipe, as `ugoku animate` does); each setting of SmoothOptions then
filters the same landmarks. For every setting and video it prints:
  mouth / eyes / brows r  Pearson's r between the filtered landmarks' signal and dlib's reading of
                          the same frames (the eval's judge, see docs/metrics.md): lag and left-over
                          noise both lower it;
  yaw r                   the same for the head's yaw (dlib's points through solvePnP, as the eval);
  lag ms, yaw lag ms      the shift that best lines the filtered inner-lip opening (the head's yaw)
                          up with the raw one (parabolic peak of the cross-correlation);
  shake                   median over frames of the mean second difference of the filtered points
                          in the head's own frame (expression only), in face-size units per frame:
                          the shimmer of an ordinary frame (the median leaves out fast motion);
  still                   share of frames in which no point moved at all (the still-hold at work).

Run from the repository root with ../shared beside it, e.g.
  python tools/smoothing_tune.py ../shared/data/driving/*.mp4 --set mouth_min_cutoff=4 --set mouth_min_cutoff=8
The shipped defaults are always measured first, and `none` (no filtering) last.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

import numpy as np

from ugoku.errors import UgokuError
from ugoku.eval import face68
from ugoku.eval.measure import tracker_signals
from ugoku.eval.metrics import pearson
from ugoku.face import landmarks as L
from ugoku.face.tracker import FaceTracker, Smoother, SmoothOptions
from ugoku.io.video import VideoSource
from ugoku.motion.pose import HeadFrame, procrustes

_RIGID = list(L.RIGID)


def track(video: str, n: int) -> tuple[np.ndarray, float, dict[str, np.ndarray]]:
    """Raw landmarks (frames, 478, 3) (NaN where lost), frame interval, and dlib's signals."""
    judge = face68.Dlib68()
    pts, sig = [], {"mouth": [], "eyes": [], "brows": [], "yaw": []}
    with VideoSource(video) as v, FaceTracker() as tracker:
        dt = 1.0 / float(v.info.fps)
        for i, rgb in zip(range(n), v.frames()):
            p = tracker(rgb)
            if p is not None and not any(np.isfinite(q).all() for q in pts):
                settled = tracker.settle(rgb)          # the reference frame, settled as animate does
                p = settled if settled is not None else p
            pts.append(p if p is not None else np.full((L.N_LANDMARKS, 3), np.nan))
            f = judge(rgb, follow=True)
            if f is None:
                for k in sig:
                    sig[k].append(np.nan)
                continue
            q = f.points
            sig["mouth"].append(face68.mouth_opening(q))
            sig["eyes"].append((face68.eye_aspect(q, face68.RIGHT_EYE) + face68.eye_aspect(q, face68.LEFT_EYE)) / 2)
            sig["brows"].append(face68.brow_raise(q))
            sig["yaw"].append(face68.head_pose(q, rgb.shape[1], rgb.shape[0])[0])
    return np.array(pts, np.float64), dt, {k: np.array(v) for k, v in sig.items()}


def smooth(pts: np.ndarray, dt: float, options: SmoothOptions) -> np.ndarray:
    ok = np.isfinite(pts).all(axis=(1, 2))
    out = np.full_like(pts, np.nan)
    smoother = None
    for i in np.flatnonzero(ok):
        if smoother is None:
            smoother = Smoother(options, scale=HeadFrame.of(pts[i]).scale)
        if i > 0 and not ok[i - 1]:          # a frame without a face ends the look-ahead, as in animate
            for p, k in smoother.flush():
                out[k] = p
        for p, k in smoother.push(pts[i], dt, i):
            out[k] = p
    for p, k in (smoother.flush() if smoother else []):
        out[k] = p
    return out


def lag_frames(x: np.ndarray, ref: np.ndarray, most: int = 5) -> float:
    """Shift s (frames, sub-frame) at which x[t] best matches ref[t - s]."""
    m = np.isfinite(x) & np.isfinite(ref)
    a, b = x[m] - x[m].mean(), ref[m] - ref[m].mean()
    cc = np.array([np.dot(a[max(s, 0):len(a) + min(s, 0)], b[max(-s, 0):len(b) - max(s, 0)]) for s in range(-most, most + 1)])
    k = int(np.argmax(cc))
    if 0 < k < len(cc) - 1:
        den = cc[k - 1] - 2 * cc[k] + cc[k + 1]
        off = 0.5 * (cc[k - 1] - cc[k + 1]) / den if den != 0 else 0.0
    else:
        off = 0.0
    return k - most + off


def figures(pts: np.ndarray, raw: np.ndarray, dt: float, judge: dict[str, np.ndarray]) -> dict[str, float]:
    ok = np.flatnonzero(np.isfinite(pts).all(axis=(1, 2)))
    ref = pts[ok[0]]
    ref_rigid = HeadFrame.of(ref).normalise(ref)[_RIGID]
    sig = {k: np.full(len(pts), np.nan) for k in ("mouth", "eyes", "brows", "yaw")}
    raw_mouth, raw_yaw = np.full(len(pts), np.nan), np.full(len(pts), np.nan)
    norm = np.full((len(pts), L.N_LANDMARKS, 2), np.nan)
    for i in ok:
        s = tracker_signals(pts[i], ref)
        sig["mouth"][i], sig["eyes"][i], sig["brows"][i] = s["mouth"], (s["eye_right"] + s["eye_left"]) / 2, s["brows"]
        sig["yaw"][i] = s["yaw"]
        r = tracker_signals(raw[i], ref)
        raw_mouth[i], raw_yaw[i] = r["mouth"], r["yaw"]
        frame = HeadFrame.of(pts[i])
        p = frame.normalise(pts[i])
        _, R, _ = procrustes(p[_RIGID], ref_rigid, with_scale=False)
        norm[i] = (p @ R.T)[:, :2]
    shake = np.linalg.norm(norm[2:] - 2 * norm[1:-1] + norm[:-2], axis=2).mean(1)
    still = np.all(pts[1:] == pts[:-1], axis=(1, 2))
    return {"mouth r": pearson(sig["mouth"], judge["mouth"]), "eyes r": pearson(sig["eyes"], judge["eyes"]),
            "brows r": pearson(sig["brows"], judge["brows"]), "yaw r": pearson(sig["yaw"], judge["yaw"]),
            "lag ms": 1000 * dt * lag_frames(sig["mouth"], raw_mouth), "yaw lag ms": 1000 * dt * lag_frames(sig["yaw"], raw_yaw),
            "shake": float(np.nanmedian(shake)), "still": float(still.mean())}


def parse_setting(text: str) -> SmoothOptions:
    if text == "none":
        return SmoothOptions(enabled=False)
    fields = {f.name: f.type for f in dataclasses.fields(SmoothOptions)}
    kw = {}
    for item in text.split(","):
        name, _, value = item.partition("=")
        if name not in fields or name == "enabled":
            names = ", ".join(f for f in fields if f != "enabled")
            raise SystemExit(f"--set {text!r}: unknown option {name!r}; choose from {names}.")
        kind = int if fields[name] in (int, "int") else float
        try:
            kw[name] = kind(value)
        except ValueError:
            raise SystemExit(f"--set {text!r}: {name} needs {'a whole' if kind is int else 'a'} number, not {value!r}.") from None
    return dataclasses.replace(SmoothOptions(), **kw)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("videos", nargs="+")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=V[,NAME=V]",
                    help="a SmoothOptions setting to measure besides the defaults (repeatable)")
    ap.add_argument("--frames", type=int, default=300)
    args = ap.parse_args(argv)
    settings = [("default", SmoothOptions())] + [(s, parse_setting(s)) for s in args.set] + [("none", parse_setting("none"))]
    try:
        data = [(v, *track(v, args.frames)) for v in args.videos]
    except UgokuError as e:
        raise SystemExit(str(e)) from None
    for video, raw, _, _ in data:
        if np.isfinite(raw).all(axis=(1, 2)).sum() < 3:
            raise SystemExit(f"{video}: the tracker found a face in fewer than 3 frames; give a video of a face.")
    keys = ("mouth r", "eyes r", "brows r", "yaw r", "lag ms", "yaw lag ms", "shake", "still")
    print("| setting | video | " + " | ".join(keys) + " |")
    print("| --- | --- |" + " --- |" * len(keys))
    for name, opts in settings:
        rows = []
        for video, raw, dt, judge in data:
            f = figures(smooth(raw, dt, opts), raw, dt, judge)
            rows.append(f)
            print(f"| {name} | {video.rsplit('/', 1)[-1]} | " + " | ".join(f"{f[k]:.4f}" for k in keys) + " |")
        print(f"| {name} | mean | " + " | ".join(f"{np.nanmean([r[k] for r in rows]):.4f}" for k in keys) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
