"""The render mesh: the face surface, its eye and mouth openings, and rings that fall off outside it.

Vertices 0..477 are the face landmarks. Around the face oval, `RingOptions.factors` place rings of
36 vertices (the oval scaled about its centre). A ring vertex follows the head's rigid motion plus its
oval anchor's expression offset, times the ring's falloff weight; the last ring has weight 0 and so
stays put: everything outside it is untouched, which is what makes the warp seamless.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
    iris_anchor: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # per iris-disc vertex: its centre landmark

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
    # Iris discs: IRIS_DISC vertices on a circle inside each iris that move rigidly with its centre,
    # so a gaze shift slides the iris instead of smearing it; the sclera around it stretches.
    eye_tris, iris_xyz, iris_anchor = [], [], []
    disc_eyes = {name for name, (upper, lower, iris, _) in L.EYES.items() if _iris_inside(pts, upper, lower, iris)}
    for name in sorted(disc_eyes, reverse=True):          # right eye first, then left
        upper, lower, iris, _ = L.EYES[name]
        first = L.N_LANDMARKS + len(iris_anchor)
        disc = _iris_disc(pts, upper, lower, iris)
        iris_xyz.append(disc)
        iris_anchor += [iris[0]] * len(disc)
        ring = list(range(first, first + len(disc)))
        eye_tris.append(_annulus(pts, iris[0], ring, disc, L.eye_loop(upper, lower)))
        eye_tris.append(np.array([(iris[0], ring[k], ring[(k + 1) % len(ring)]) for k in range(len(ring))]))
    n_iris = len(iris_anchor)
    src = np.vstack([pts] + iris_xyz + ring_xyz)
    n_oval = len(oval)

    tris, kinds = [], []
    prev = oval
    for k in range(len(rings.factors)):
        cur = L.N_LANDMARKS + n_iris + k * n_oval + np.arange(n_oval)
        for j in range(n_oval):
            a, b = prev[j], prev[(j + 1) % n_oval]
            c, d = cur[(j + 1) % n_oval], cur[j]
            tris += [(a, b, c), (a, c, d)]
        kinds += [KIND_RING] * (2 * n_oval)
        prev = cur
    fills = L.hole_fill_triangles()
    for name, ht in fills.items():
        if name in disc_eyes:
            continue                          # drawn below as sclera annulus + iris disc
        tris += [tuple(t) for t in ht]
        kinds += [KIND_HOLE] * len(ht)
    for ht in eye_tris:                       # annulus first, then the disc over it
        tris += [tuple(t) for t in ht]
        kinds += [KIND_HOLE] * len(ht)
    face = L.mesh_triangles()
    tris += [tuple(t) for t in face]
    kinds += [KIND_FACE] * len(face)
    kind = np.asarray(kinds, np.int8)
    back = np.concatenate([np.flatnonzero(kind == KIND_RING)[::-1], np.flatnonzero(kind == KIND_HOLE)])
    return RenderMesh(src=src, triangles=np.asarray(tris, dtype=np.int32), kind=kind,
                      ring_anchor=np.concatenate(anchors), ring_falloff=np.concatenate(falloff),
                      back_order=back, face_idx=np.flatnonzero(kind == KIND_FACE),
                      iris_anchor=np.asarray(iris_anchor, np.int64))


def _iris_inside(pts: np.ndarray, upper, lower, iris, margin: float = 1.0) -> bool:
    """Whether the iris centre lies inside the eye opening by `margin` pixels (then the opening is
    a fan around it and gaze can move the iris; a nearly closed eye keeps the plain strip)."""
    import cv2

    loop = pts[list(L.eye_loop(upper, lower)), :2].astype(np.float32)
    return cv2.pointPolygonTest(loop, (float(pts[iris[0], 0]), float(pts[iris[0], 1])), True) >= margin


IRIS_DISC = 8


def _iris_disc(pts: np.ndarray, upper, lower, iris) -> np.ndarray:
    """IRIS_DISC points on a circle of 1.1 iris radii (the iris and a rim of white) around the iris
    centre, each pulled towards the centre until it lies inside the eye opening (the lids cover the rest of the iris)."""
    import cv2

    c = pts[iris[0]]
    r = 1.1 * np.linalg.norm(pts[list(iris[1:]), :2] - c[:2], axis=1).mean()
    loop = pts[list(L.eye_loop(upper, lower)), :2].astype(np.float32)
    out = []
    for a in np.linspace(0, 2 * np.pi, IRIS_DISC, endpoint=False):
        d = np.array([np.cos(a), np.sin(a)])
        rr = r
        while rr > 0.5 and cv2.pointPolygonTest(loop, (float(c[0] + rr * d[0]), float(c[1] + rr * d[1])), True) < 0.75:
            rr *= 0.85
        out.append([c[0] + rr * d[0], c[1] + rr * d[1], c[2]])
    return np.array(out)


def _annulus(pts: np.ndarray, centre: int, ring: list[int], ring_xyz: np.ndarray, loop: tuple[int, ...]) -> np.ndarray:
    """Triangles between an inner ring (vertex ids `ring`, positions `ring_xyz`) and the eye `loop`
    around the same centre, merged by angle so that no triangle crosses another."""
    c = pts[centre, :2]
    t0 = np.arctan2(*(ring_xyz[0, :2] - c)[::-1])

    def angles(xy):
        return np.mod(np.arctan2(xy[:, 1] - c[1], xy[:, 0] - c[0]) - t0, 2 * np.pi)

    ai = angles(ring_xyz[:, :2])
    inner = [ring[k] for k in np.argsort(ai)]
    ai = np.sort(ai)
    ao_all = angles(pts[list(loop), :2])
    order = np.argsort(ao_all)
    outer = [loop[k] for k in order]
    ao = ao_all[order]
    K, M = len(inner), len(outer)
    i = j = 0
    tris = []
    while i < K or j < M:
        next_in = ai[i + 1] if i + 1 < K else 2 * np.pi + ai[0]
        next_out = ao[j + 1] if j + 1 < M else 2 * np.pi + ao[0]
        if j >= M or (i < K and next_in <= next_out):
            tris.append((inner[i % K], inner[(i + 1) % K], outer[j % M]))
            i += 1
        else:
            tris.append((inner[i % K], outer[j % M], outer[(j + 1) % M]))
            j += 1
    return np.asarray(tris, dtype=np.int32)


def target_vertices(mesh: RenderMesh, target: TargetFace) -> np.ndarray:
    """Where every mesh vertex goes for this target: (N, 3) crop pixels."""
    n = mesh.n_face
    face_src = mesh.src[:n]
    k = len(mesh.iris_anchor)
    discs = mesh.src[n:n + k]
    if k:
        a = mesh.iris_anchor
        # The disc follows its iris at its own size; a closing lid is drawn over it (face triangles
        # come after the openings in the draw order), as a real lid covers a real iris.
        discs = target.points[a] + (target.rigid(discs) - target.rigid(face_src[a]))
    rings = mesh.src[n + k:]
    anchor_expr = target.points[mesh.ring_anchor] - target.rigid(face_src[mesh.ring_anchor])
    moved = target.rigid(rings) + anchor_expr
    ring_dst = rings + mesh.ring_falloff[:, None] * (moved - rings)
    return np.vstack([target.points, discs, ring_dst])


def draw_order(mesh: RenderMesh, dst: np.ndarray) -> np.ndarray:
    """Triangle indices, far to near: rings (outer first), openings, then face triangles by depth."""
    z = dst[mesh.triangles[mesh.face_idx], 2].mean(1)
    return np.concatenate([mesh.back_order, mesh.face_idx[np.argsort(-z, kind="stable")]])
