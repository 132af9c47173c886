from collections import Counter

import numpy as np

from ugoku.face import landmarks as L


def _edges(tris):
    return Counter(tuple(sorted(e)) for t in tris for e in ((t[0], t[1]), (t[1], t[2]), (t[0], t[2])))


def test_mesh_is_a_disc_with_three_holes():
    tris = L.mesh_triangles()
    assert tris.shape == (852, 3)
    uses = _edges(tris)
    assert set(uses.values()) == {1, 2}          # manifold: every edge in one or two triangles
    boundary = [e for e, n in uses.items() if n == 1]
    assert len(boundary) == 36 + 16 + 16 + 20    # face oval, two eyes, inner lips
    verts = np.unique(tris)
    assert len(verts) == L.N_SURFACE
    # Euler characteristic of a disc with three holes: V - E + F = 1 - 3
    assert len(verts) - len(uses) + len(tris) == -2


def test_named_chains_are_the_mesh_openings():
    boundary = {e for e, n in _edges(L.mesh_triangles()).items() if n == 1}
    for upper, lower in ((L.RIGHT_EYE_UPPER, L.RIGHT_EYE_LOWER), (L.LEFT_EYE_UPPER, L.LEFT_EYE_LOWER),
                         (L.LIPS_INNER_UPPER, L.LIPS_INNER_LOWER)):
        for chain in (upper, lower):
            for a, b in zip(chain, chain[1:]):
                assert tuple(sorted((a, b))) in boundary
    oval = L.FACE_OVAL
    for a, b in zip(oval, oval[1:] + oval[:1]):
        assert tuple(sorted((a, b))) in boundary


def test_hole_fills_close_the_openings():
    fills = L.hole_fill_triangles()
    all_tris = np.vstack([L.mesh_triangles()] + list(fills.values()))
    uses = _edges(all_tris)
    boundary = [e for e, n in uses.items() if n == 1]
    assert len(boundary) == 36                   # only the face oval stays open
    assert max(uses.values()) == 2


def test_stored_triangles_match_mediapipe_tesselation():
    import importlib.util
    from pathlib import Path

    from mediapipe.python.solutions import face_mesh

    spec = importlib.util.spec_from_file_location("gen", Path(__file__).parents[1] / "tools/gen_topology.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert np.array_equal(np.array(gen.triangles_from_edges(face_mesh.FACEMESH_TESSELATION)), L.mesh_triangles())
