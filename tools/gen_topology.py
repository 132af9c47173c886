"""Regenerate src/ugoku/face/mesh_triangles.json from mediapipe's face mesh tesselation.

The tesselation is published as an edge list; the triangles are its 3-cliques, less the two
cliques (279-294-358, 49-64-129) whose edges all already belong to two real triangles.
Run with mediapipe installed: python tools/gen_topology.py
"""
import json
from collections import Counter, defaultdict
from pathlib import Path

from mediapipe.python.solutions import face_mesh


def triangles_from_edges(edges):
    edges = {tuple(sorted(e)) for e in edges}
    adj = defaultdict(set)
    for a, b in edges:
        adj[a].add(b)
        adj[b].add(a)
    tris = {tuple(sorted((a, b, c))) for a, b in edges for c in adj[a] & adj[b]}
    uses = Counter(e for t in tris for e in ((t[0], t[1]), (t[0], t[2]), (t[1], t[2])))
    spurious = {t for t in tris if all(uses[e] == 3 for e in ((t[0], t[1]), (t[0], t[2]), (t[1], t[2])))}
    return sorted(tris - spurious)


if __name__ == "__main__":
    tris = triangles_from_edges(face_mesh.FACEMESH_TESSELATION)
    out = Path(__file__).resolve().parents[1] / "src/ugoku/face/mesh_triangles.json"
    doc = {"schema": 1, "source": "mediapipe 0.10.21 FACEMESH_TESSELATION, 3-cliques minus 2 spurious ones",
           "triangles": [list(t) for t in tris]}
    out.write_text(json.dumps(doc, separators=(",", ":")))
    print(f"wrote {len(tris)} triangles to {out}")
