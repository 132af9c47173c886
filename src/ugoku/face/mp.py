"""Thin, quiet wrappers around the MediaPipe legacy solutions bundled in mediapipe 0.10.21.

MediaPipe's native code prints log lines on stderr when a graph starts; they mean nothing to a
user, so graph creation and the first inference run with the process's stderr pointed at /dev/null.
"""

from __future__ import annotations

import contextlib
import os
import sys

import numpy as np

os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@contextlib.contextmanager
def quiet_native_stderr():
    """Silence file descriptor 2 (native log output) for the duration of the block."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, ValueError, OSError):  # stderr replaced by a non-file (pytest capture)
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)


def solutions():
    """Import mediapipe's legacy solutions lazily (about a second), with logging quietened."""
    with quiet_native_stderr():
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
        from mediapipe.python.solutions import face_detection, face_mesh
    return face_detection, face_mesh


def landmarks_to_pixels(result_landmarks, width: int, height: int) -> np.ndarray:
    """MediaPipe normalised landmarks to pixel coordinates, shape (478, 3), float32.

    x, y are pixel centres; z uses the same scale as x (MediaPipe's convention), smaller is nearer.
    """
    arr = np.array([(p.x, p.y, p.z) for p in result_landmarks.landmark], dtype=np.float32)
    arr[:, 0] = arr[:, 0] * width - 0.5
    arr[:, 1] = arr[:, 1] * height - 0.5
    arr[:, 2] *= width
    return arr
