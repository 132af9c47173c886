"""A face's identity as dlib's 128-D descriptor (an independent model, not ugoku's tracker)."""

from __future__ import annotations

import numpy as np

_JUDGE = None


def descriptor(crop: np.ndarray) -> np.ndarray | None:
    """The descriptor of the largest face in `crop` (RGB uint8), or None when dlib finds none."""
    global _JUDGE
    from ugoku.eval.face68 import Dlib68

    if _JUDGE is None:
        _JUDGE = Dlib68()
    face = _JUDGE(crop, descriptor=True)
    return None if face is None else face.descriptor
