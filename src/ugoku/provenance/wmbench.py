"""`ugoku watermark-bench`: the watermark's figures on real footage.

Each video's first `seconds` are centre-cropped to a square at `size` (the worst case: the smallest
output ugoku writes), marked with a random payload and attacked: H.264 re-encode at crf 28, 50 %
downscale, both (downscale, then re-encode), a 90 % centre crop, and one frame saved as JPEG q75.
Bit accuracy is over the 64 payload bits as decoded, before the checksum. The same attacks on the
unmarked videos count false detections. PSNR and embedding time are per marked frame.
"""

from __future__ import annotations

import io
import secrets
import time
from pathlib import Path

import cv2
import numpy as np

from ugoku.provenance import watermark as W


def _square(rgb: np.ndarray, size: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    s = min(h, w)
    y, x = (h - s) // 2, (w - s) // 2
    return cv2.resize(rgb[y:y + s, x:x + s], (size, size), interpolation=cv2.INTER_AREA)


def _h264(frames: list[np.ndarray], crf: int, fps: float) -> list[np.ndarray]:
    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as c:
        h, w = frames[0].shape[:2]
        s = c.add_stream("libx264", rate=round(fps))
        s.width, s.height, s.pix_fmt = w - w % 2, h - h % 2, "yuv420p"
        s.options = {"crf": str(crf), "preset": "medium"}
        for f in frames:
            for pkt in s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f[:s.height, :s.width]), format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode(None):
            c.mux(pkt)
    buf.seek(0)
    with av.open(buf) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def _down(frames, s=0.5):
    return [cv2.resize(f, (round(f.shape[1] * s), round(f.shape[0] * s)), interpolation=cv2.INTER_AREA) for f in frames]


def _crop(frames, keep=0.9):
    h, w = frames[0].shape[:2]
    ch, cw = round(h * keep), round(w * keep)
    y, x = (h - ch) // 2, (w - cw) // 2
    return [f[y:y + ch, x:x + cw] for f in frames]


def _jpeg(f: np.ndarray, q: int = 75) -> np.ndarray:
    from PIL import Image

    b = io.BytesIO()
    Image.fromarray(f).save(b, "JPEG", quality=q)
    b.seek(0)
    return np.array(Image.open(b).convert("RGB"))


ATTACKS = {
    "none": lambda fr, fps: fr,
    "h264 crf28": lambda fr, fps: _h264(fr, 28, fps),
    "downscale 50%": lambda fr, fps: _down(fr),
    "downscale 50% + crf28": lambda fr, fps: _h264(_down(fr), 28, fps),
    "crop 90% centre": lambda fr, fps: _crop(fr),
    "one frame, JPEG q75": lambda fr, fps: [_jpeg(_h264(fr[:30], 20, fps)[15])],
}


def run(videos: list[Path], seconds: float = 5.0, size: int = 512, out=print) -> dict:
    from ugoku.io.video import VideoSource

    table: dict[str, dict] = {k: {"acc": [], "found": 0, "false": 0} for k in ATTACKS}
    psnrs, ms = [], []
    for path in videos:
        with VideoSource(path) as v:
            fps = float(v.info.fps)
            n = int(round(seconds * fps))
            host = []
            for f in v.frames():
                host.append(_square(f, size))
                if len(host) >= n:
                    break
        payload = secrets.randbits(64) | 1
        emb = W.Embedder(payload)
        t = time.perf_counter()
        marked = [emb(f).copy() for f in host]
        ms.append(1e3 * (time.perf_counter() - t) / len(host))
        step = max(1, len(marked) // 10)
        psnrs += [cv2.PSNR(a, b) for a, b in zip(host[::step], marked[::step])]
        truth = W.payload_bits(payload)
        for name, attack in ATTACKS.items():
            d = W.detect_frames(attack(marked, fps))
            acc = float(np.mean(W.decoded_payload_bits(d.soft) == truth)) if d.soft is not None else 0.5
            table[name]["acc"].append(acc)
            table[name]["found"] += int(d.found and d.payload == payload)
            u = W.detect_frames(attack(host, fps))
            table[name]["false"] += int(u.found)
            out(f"  {path.name:12s} {name:24s} bit accuracy {acc:.3f}  found {d.found and d.payload == payload}  "
                f"pilot {d.pilot_z:5.1f}  unmarked: found {u.found} (pilot {u.pilot_z:4.1f})")
    out("")
    out(f"watermark on {len(videos)} videos, {seconds:g} s each, {size}x{size}: PSNR {np.mean(psnrs):.1f} dB "
        f"(min {np.min(psnrs):.1f}), embedding {np.mean(ms):.2f} ms a frame")
    out(f"{'attack':24s} {'mean bit acc':>12s} {'min':>6s} {'decoded':>8s} {'false on unmarked':>18s}")
    for name, r in table.items():
        out(f"{name:24s} {np.mean(r['acc']):12.3f} {np.min(r['acc']):6.3f} {r['found']:>4d}/{len(videos):<3d} "
            f"{r['false']:>10d}/{len(videos)}")
    return {"psnr": float(np.mean(psnrs)), "embed_ms": float(np.mean(ms)), "table": table}
