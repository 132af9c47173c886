"""The render mesh: the face surface, its eye and mouth openings, and rings that fall off outside it.

Vertices 0..477 are the face landmarks. Around the face oval, `RingOptions.factors` place rings of
36 vertices (the oval scaled about its centre). A ring vertex follows the head's rigid motion plus its
oval anchor's expression offset, times the ring's falloff weight; the last ring has weight 0 and so
stays put: everything outside it is untouched, which is what makes the warp seamless.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ugoku.face import landmarks as L
from ugoku.motion.retarget import TargetFace

KIND_RING, KIND_HOLE, KIND_FACE = 0, 1, 2


@dataclass(frozen=True)
class RingOptions:
    """factors: ring distances from the face centre, in multiples of the oval's. falloff: how much
    of the head's motion each ring follows (1 = all); the last must be 0."""

    factors: tuple[float, ...] = (1.15, 1.35, 1.6, 1.9, 2.3)
    falloff: tuple[float, ...] = (0.93, 0.74, 0.46, 0.18, 0.0)

    def __post_init__(self):
        if len(self.factors) != len(self.falloff) or not self.factors:
            raise ValueError("ring factors and falloff must have the same, non-zero length")
        if self.falloff[-1] != 0.0:
            raise ValueError("the last ring must have falloff 0 so that the warp ends inside the crop")


@dataclass(frozen=True)
class RenderMesh:
    """src: (N, 3) vertex positions in the source crop (pixels). triangles: (M, 3). kind: (M,) one of
    KIND_RING, KIND_HOLE, KIND_FACE. ring_anchor / ring_falloff: per ring vertex (N - 478)."""

    src: np.ndarray
    triangles: np.ndarray
    kind: np.ndarray
    ring_anchor: np.ndarray
    ring_falloff: np.ndarray
    back_order: np.ndarray
    face_idx: np.ndarray

    @property
    def n_face(self) -> int:
        return L.N_LANDMARKS


def build_mesh(source_points: np.ndarray, rings: RingOptions = RingOptions()) -> RenderMesh:
    pts = np.asarray(source_points, dtype=np.float64)
    oval = np.array(L.FACE_OVAL)
    center = pts[oval, :2].mean(0)
    ring_xyz, anchors, falloff = [], [], []
    for f, w in zip(rings.factors, rings.falloff):
        r = pts[oval].copy()
        r[:, :2] = center + f * (pts[oval, :2] - center)
        ring_xyz.append(r)
        anchors.append(oval)
        falloff.append(np.full(len(oval), w))
    src = np.vstack([pts] + ring_xyz)
    n_oval = len(oval)

    tris, kinds = [], []
    prev = oval
    for k in range(len(rings.factors)):
        cur = L.N_LANDMARKS + k * n_oval + np.arange(n_oval)
        for j in range(n_oval):
            a, b = prev[j], prev[(j + 1) % n_oval]
            c, d = cur[(j + 1) % n_oval], cur[j]
            tris += [(a, b, c), (a, c, d)]
        kinds += [KIND_RING] * (2 * n_oval)
        prev = cur
    for ht in L.hole_fill_triangles().values():
        tris += [tuple(t) for t in ht]
        kinds += [KIND_HOLE] * len(ht)
    face = L.mesh_triangles()
    tris += [tuple(t) for t in face]
    kinds += [KIND_FACE] * len(face)
    kind = np.asarray(kinds, np.int8)
    back = np.concatenate([np.flatnonzero(kind == KIND_RING)[::-1], np.flatnonzero(kind == KIND_HOLE)])
    return RenderMesh(src=src, triangles=np.asarray(tris, dtype=np.int32), kind=kind,
                      ring_anchor=np.concatenate(anchors), ring_falloff=np.concatenate(falloff),
                      back_order=back, face_idx=np.flatnonzero(kind == KIND_FACE))


def target_vertices(mesh: RenderMesh, target: TargetFace) -> np.ndarray:
    """Where every mesh vertex goes for this target: (N, 3) crop pixels."""
    n = mesh.n_face
    face_src = mesh.src[:n]
    rings = mesh.src[n:]
    anchor_expr = target.points[mesh.ring_anchor] - target.rigid(face_src[mesh.ring_anchor])
    moved = target.rigid(rings) + anchor_expr
    ring_dst = rings + mesh.ring_falloff[:, None] * (moved - rings)
    return np.vstack([target.points, ring_dst])


def draw_order(mesh: RenderMesh, dst: np.ndarray) -> np.ndarray:
    """Triangle indices, far to near: rings (outer first), openings, then face triangles by depth."""
    z = dst[mesh.triangles[mesh.face_idx], 2].mean(1)
    return np.concatenate([mesh.back_order, mesh.face_idx[np.argsort(-z, kind="stable")]])
