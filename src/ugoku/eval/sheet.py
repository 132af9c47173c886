"""Contact sheets: rows of frames from several videos at the same moments, for people to look at."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np


def sample_frames(path: str | os.PathLike, indices: list[int]) -> dict[int, np.ndarray]:
    """Decode a video once and keep the frames at `indices` (RGB)."""
    import av

    want = set(indices)
    out: dict[int, np.ndarray] = {}
    with av.open(str(path)) as c:
        for i, frame in enumerate(c.decode(video=0)):
            if i in want:
                out[i] = frame.to_ndarray(format="rgb24")
            if i >= max(want):
                break
    return out


def frame_count(path: str | os.PathLike) -> int:
    import av

    with av.open(str(path)) as c:
        n = c.streams.video[0].frames
        if n:
            return int(n)
        return sum(1 for _ in c.decode(video=0))


def contact_sheet(rows: list[tuple[str, list[np.ndarray]]], cell: int = 200) -> np.ndarray:
    """Stack labelled rows of RGB images (each resized to fit a `cell` square) into one RGB image."""
    ncol = max(len(imgs) for _, imgs in rows)
    sheet = np.full((len(rows) * cell, ncol * cell + 110, 3), 24, np.uint8)
    for r, (label, imgs) in enumerate(rows):
        cv2.putText(sheet, label[:12], (4, r * cell + cell // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                    (230, 230, 230), 1, cv2.LINE_AA)
        for c, img in enumerate(imgs):
            h, w = img.shape[:2]
            s = cell / max(h, w)
            small = cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
            y0 = r * cell + (cell - small.shape[0]) // 2
            x0 = 110 + c * cell + (cell - small.shape[1]) // 2
            sheet[y0:y0 + small.shape[0], x0:x0 + small.shape[1]] = small
    return sheet


def video_sheet(videos: list[tuple[str, str | os.PathLike]], out_png: str | os.PathLike, moments: int = 6,
                cell: int = 200) -> Path:
    """A PNG with one row per video, `moments` frames each, spread evenly over the shortest video."""
    n = min(frame_count(p) for _, p in videos)
    idx = [round(i * (n - 1) / max(1, moments - 1)) for i in range(moments)]
    rows = []
    for label, p in videos:
        frames = sample_frames(p, idx)
        rows.append((label, [frames[i] for i in idx if i in frames]))
    sheet = contact_sheet(rows, cell)
    out = Path(out_png)
    cv2.imwrite(str(out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    return out
