"""The demo: the bundled astronaut portrait (Eileen Collins, NASA, public domain, shipped inside
scikit-image) animated by a tour of the built-in motion templates. Nothing is downloaded."""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace

import numpy as np

from ugoku.api import AnimateOptions, AnimateResult, Progress, animate_motion, begin, source_reference
from ugoku.errors import InputError
from ugoku.face.source import CropOptions, SourceFace, find_source_face
from ugoku.motion.controls import Rig
from ugoku.motion.templates import tour


def astronaut() -> np.ndarray:
    """The bundled portrait, RGB uint8 (512, 512, 3)."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


def astronaut_face(crop: CropOptions = CropOptions()) -> SourceFace:
    face = find_source_face(astronaut(), crop)
    if not face:  # would mean a broken install
        raise InputError(f"bundled portrait: {face.reason}; reinstall ugoku.")
    return face


def run_demo(output: str | os.PathLike = "ugoku-demo.mp4", seconds: float | None = None, fps: float = 25.0,
             progress: Progress | None = None, options: AnimateOptions = AnimateOptions()) -> AnimateResult:
    """The built-in templates one after another (blink, smile, look-around, talk, nod, surprised, wink,
    shake: about 30 s), or their first `seconds`."""
    face = astronaut_face(options.crop)
    # The demo portrait is NASA's, in the public domain: the demo says so, and that is recorded.
    options = replace(options, provenance=replace(options.provenance, attest="public-domain"))
    gen = begin("demo", face, "bundled portrait (scikit-image astronaut, NASA, public domain)",
                {"kind": "template", "name": "tour"}, options,
                source_sha256=hashlib.sha256(astronaut().tobytes()).hexdigest())
    motion = tour(fps)
    n = len(motion) if seconds is None else max(1, min(len(motion), int(round(seconds * fps))))
    rig = Rig(source_reference(face))
    motions = (rig.motion(c) for c in motion.controls())
    return animate_motion(face, motions, fps, output, gen, replace(options, max_frames=n), progress, n)
