"""The demo: the bundled astronaut portrait (Eileen Collins, NASA, public domain, shipped inside
scikit-image) animated by the built-in motion. Nothing is downloaded."""

from __future__ import annotations

import os

import numpy as np

from ugoku.api import AnimateOptions, AnimateResult, Progress, animate_motion
from ugoku.errors import InputError
from ugoku.face.source import CropOptions, SourceFace, find_source_face
from ugoku.motion.builtin import demo_motion
from ugoku.motion.pose import HeadFrame


def astronaut() -> np.ndarray:
    """The bundled portrait, RGB uint8 (512, 512, 3)."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


def astronaut_face(crop: CropOptions = CropOptions()) -> SourceFace:
    face = find_source_face(astronaut(), crop)
    if not face:  # would mean a broken install
        raise InputError(f"bundled portrait: {face.reason}; reinstall ugoku.")
    return face


def run_demo(output: str | os.PathLike = "ugoku-demo.mp4", seconds: float = 8.0, fps: float = 25.0,
             progress: Progress | None = None, options: AnimateOptions = AnimateOptions()) -> AnimateResult:
    face = astronaut_face(options.crop)
    pts = face.landmarks.astype(np.float64)
    reference = HeadFrame.of(pts).normalise(pts)
    n = int(round(seconds * fps))
    return animate_motion(face, demo_motion(reference, fps, seconds), fps, output, options, progress, n)
