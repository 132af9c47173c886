"""Named index sets of the 478-point MediaPipe face mesh (468 surface points + 10 iris points).

"Right" and "left" are the subject's, as in MediaPipe: the right eye is on the image's left in a
non-mirrored photo. Ordered chains run from one corner to the other; loops are closed implicitly.
Every other module refers to landmarks through these names, never by inline numbers.
"""

from __future__ import annotations

import functools
import json
from importlib import resources

import numpy as np

N_LANDMARKS = 478
N_SURFACE = 468

# Closed loop around the face, starting at the top of the forehead, going to the subject's right.
FACE_OVAL = (10, 109, 67, 103, 54, 21, 162, 127, 234, 93, 132, 58, 172, 136, 150, 149, 176, 148,
             152, 377, 400, 378, 379, 365, 397, 288, 361, 323, 454, 356, 389, 251, 284, 332, 297, 338)
CHIN = 152
NOSE_BRIDGE = 168
FOREHEAD_TOP = 10

# Eyelid chains from the outer to the inner corner (right eye) and inner to outer (left eye).
RIGHT_EYE_UPPER = (33, 246, 161, 160, 159, 158, 157, 173, 133)
RIGHT_EYE_LOWER = (33, 7, 163, 144, 145, 153, 154, 155, 133)
LEFT_EYE_UPPER = (362, 398, 384, 385, 386, 387, 388, 466, 263)
LEFT_EYE_LOWER = (362, 382, 381, 380, 374, 373, 390, 249, 263)
RIGHT_EYE_CORNERS = (33, 133)       # outer, inner
LEFT_EYE_CORNERS = (263, 362)       # outer, inner
RIGHT_EYE_LID_MID = (159, 145)      # upper, lower
LEFT_EYE_LID_MID = (386, 374)       # upper, lower

# Iris: centre first, then four points on the iris circle.
RIGHT_IRIS = (468, 469, 470, 471, 472)
LEFT_IRIS = (473, 474, 475, 476, 477)

# Inner lip chains from the right mouth corner (78) to the left one (308).
LIPS_INNER_UPPER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LIPS_INNER_LOWER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
LIPS_INNER_MID = (13, 14)           # upper, lower
# Outer lip chains from the right outer corner (61) to the left one (291).
LIPS_OUTER_UPPER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
LIPS_OUTER_LOWER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
MOUTH_CORNERS = (61, 291)           # outer lip corners, right and left
LIPS = (0, 13, 14, 17, 37, 39, 40, 61, 78, 80, 81, 82, 84, 87, 88, 91, 95, 146, 178, 181, 185, 191,
        267, 269, 270, 291, 308, 310, 311, 312, 314, 317, 318, 321, 324, 375, 402, 405, 409, 415)
# Chin and lower jaw: they move with the mouth when it opens.
JAW = (58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397, 288,
       18, 83, 313, 200, 199, 175, 201, 421, 208, 428, 32, 262, 140, 369, 171, 396)

EYELIDS = tuple(sorted(set(RIGHT_EYE_UPPER + RIGHT_EYE_LOWER + LEFT_EYE_UPPER + LEFT_EYE_LOWER)))

RIGHT_BROW = (46, 52, 53, 55, 63, 65, 66, 70, 105, 107)
LEFT_BROW = (276, 282, 283, 285, 293, 295, 296, 300, 334, 336)
NOSE = (1, 2, 4, 5, 6, 19, 45, 48, 64, 94, 97, 98, 115, 168, 195, 197, 220, 275, 278, 294, 326,
        327, 344, 440)

# Points that move with the skull and hardly with expression: upper forehead, nose bridge,
# eye corners, cheekbones, temples. Head pose is fitted on these alone.
RIGID = (10, 151, 9, 8, 109, 338, 67, 297, 108, 337,
         168, 6, 197, 195, 5, 4,
         33, 133, 362, 263,
         234, 454, 93, 323, 116, 345, 123, 352,
         127, 356, 162, 389, 21, 251)

# Regions that retargeting can switch on and scale one by one (X-Portrait's local controls).
REGIONS = {
    "brows": RIGHT_BROW + LEFT_BROW,
    "eyes": RIGHT_EYE_UPPER + RIGHT_EYE_LOWER + LEFT_EYE_UPPER + LEFT_EYE_LOWER + RIGHT_IRIS + LEFT_IRIS,
    "lips": LIPS + JAW,
}


@functools.cache
def mesh_triangles() -> np.ndarray:
    """The 852 triangles of the face surface, shape (852, 3), int32 indices into the 478 points.

    The eye openings and the mouth opening are holes in this mesh; see `hole_fill_triangles`.
    """
    text = resources.files("ugoku.face").joinpath("mesh_triangles.json").read_text()
    tris = np.asarray(json.loads(text)["triangles"], dtype=np.int32)
    tris.setflags(write=False)
    return tris


def strip_triangles(upper: tuple[int, ...], lower: tuple[int, ...]) -> np.ndarray:
    """Triangulate the opening between two chains that share their end points, shape (K, 3)."""
    if len(upper) != len(lower) or upper[0] != lower[0] or upper[-1] != lower[-1]:
        raise ValueError("chains must have equal length and shared end points")
    tris = []
    for i in range(len(upper) - 1):
        u0, u1, l0, l1 = upper[i], upper[i + 1], lower[i], lower[i + 1]
        if u1 != l1:
            tris.append((u0, u1, l1))
        if u0 != l0:
            tris.append((u0, l1, l0))
    return np.asarray(tris, dtype=np.int32)


def eye_loop(upper: tuple[int, ...], lower: tuple[int, ...]) -> tuple[int, ...]:
    """An eye opening as a closed loop: the upper lid chain, then the lower chain back (no repeats)."""
    return upper + tuple(reversed(lower[1:-1]))


EYES = {  # name: (upper chain, lower chain, iris points, corners)
    "right_eye": (RIGHT_EYE_UPPER, RIGHT_EYE_LOWER, RIGHT_IRIS, RIGHT_EYE_CORNERS),
    "left_eye": (LEFT_EYE_UPPER, LEFT_EYE_LOWER, LEFT_IRIS, LEFT_EYE_CORNERS),
}


@functools.cache
def hole_fill_triangles() -> dict[str, np.ndarray]:
    """Triangles covering the eye and mouth openings, keyed 'right_eye', 'left_eye', 'mouth'."""
    return {
        "right_eye": strip_triangles(RIGHT_EYE_UPPER, RIGHT_EYE_LOWER),
        "left_eye": strip_triangles(LEFT_EYE_UPPER, LEFT_EYE_LOWER),
        "mouth": strip_triangles(LIPS_INNER_UPPER, LIPS_INNER_LOWER),
    }


@functools.cache
def around(points: tuple[int, ...], rings: int) -> tuple[int, ...]:
    """`points` and every surface point within `rings` mesh edges of them, sorted."""
    tris = mesh_triangles()
    out = set(points)
    for _ in range(rings):
        touching = np.isin(tris, list(out)).any(1)
        out |= set(tris[touching].ravel().tolist())
    return tuple(sorted(out))


def inner_mouth_loop() -> tuple[int, ...]:
    """The inner lip contour as a closed loop (upper chain then the lower chain reversed)."""
    return LIPS_INNER_UPPER + tuple(reversed(LIPS_INNER_LOWER[1:-1]))
