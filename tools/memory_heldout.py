"""How close each mouth memory comes to the real mouth: self-reenactment with the memory held out.

For each video: its first frame is the photo, its first N frames drive it, and the result's mouth is
compared with the real frames' (PSNR and SSIM on a box around dlib's mouth points, on frames where
the real mouth is open). Three memories are compared:
  generic  the drawn interior;
  person   the person's own interiors from the same video *after* frame N (`load_memory` with
           skip_seconds), so no evaluated frame is in the memory; the driver's is switched off;
  driver   the driver's interior in the same frame: here the very mouth being compared, an upper
           bound that a cross-reenactment (someone else's mouth) never reaches.

Run from the repository root with ../shared beside it:
  python tools/memory_heldout.py ../shared/data/driving/d6.mp4 ../shared/data/driving/d3.mp4 ../shared/data/driving/d9.mp4
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

import numpy as np
from skimage.metrics import structural_similarity

from ugoku import api
from ugoku.eval.face68 import Dlib68, mouth_opening
from ugoku.face.source import find_source_face
from ugoku.io.video import VideoSource
from ugoku.motion.memory import MemoryOptions
from ugoku.motion.retarget import Retargeter

OPEN = 0.08        # dlib mouth opening above which a real frame counts as open


def mouth_box(points: np.ndarray) -> tuple[int, int, int, int]:
    """A box around dlib's mouth points (48-67), 1.5 mouth widths wide, 1.2 tall."""
    mouth = points[48:68]
    c = mouth.mean(0)
    half = 0.75 * np.ptp(mouth[:, 0])
    return int(c[0] - half), int(c[1] - 0.8 * half), int(c[0] + half), int(c[1] + 0.8 * half)


def run(video: str, n: int) -> dict:
    with VideoSource(video) as v:
        frames = [f for _, f in zip(range(n), v.frames())]
        fps = float(v.info.fps)
    face = find_source_face(frames[0])
    judge = Dlib68()
    real = [judge(f) for f in frames]
    base = api.AnimateOptions()
    generic = dataclasses.replace(base.mouth, memory="generic")
    bank = api.load_memory(video, face, MemoryOptions(skip_seconds=n / fps))
    setups = {"generic": (face, generic), "person": (dataclasses.replace(face, memory=bank), generic),
              "driver": (face, base.mouth)}
    out = {"bank": len(bank)}
    for name, (f, mouth) in setups.items():
        opts = dataclasses.replace(base, mouth=mouth)
        compose = api.Composer(f, api.make_renderer(f, True, opts.render), opts)
        motions = api.DrivingMotion(iter(frames), fps, opts.smooth)
        retarget = None
        psnr, ssim = [], []
        for i, m in enumerate(motions):
            if m is None or real[i] is None or mouth_opening(real[i].points) < OPEN:
                continue
            retarget = retarget or Retargeter(face.landmarks, motions.reference, opts.retarget)
            result = compose(retarget(m), m.mouth_sample)
            x0, y0, x1, y1 = mouth_box(real[i].points)
            a = frames[i][max(y0, 0):y1, max(x0, 0):x1].astype(np.float64)
            b = result[max(y0, 0):y1, max(x0, 0):x1].astype(np.float64)
            psnr.append(10 * np.log10(255.0 ** 2 / max(((a - b) ** 2).mean(), 1e-9)))
            ssim.append(structural_similarity(a, b, channel_axis=2, data_range=255))
        out[name] = (float(np.mean(psnr)) if psnr else float("nan"), float(np.mean(ssim)) if ssim else float("nan"),
                     len(psnr))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("videos", nargs="+", help="videos of one person each, talking")
    p.add_argument("--frames", type=int, default=150, help="frames driven and compared (default 150)")
    args = p.parse_args(argv)
    print("| video | open frames | samples | generic PSNR / SSIM | person (held out) | driver (same frame) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for video in args.videos:
        r = run(video, args.frames)
        cells = " | ".join(f"{r[k][0]:.2f} dB / {r[k][1]:.3f}" for k in ("generic", "person", "driver"))
        print(f"| {video.rsplit('/', 1)[-1]} | {r['generic'][2]} | {r['bank']} | {cells} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
