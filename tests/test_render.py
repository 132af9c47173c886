import cv2
import numpy as np
import pytest

from ugoku.motion.pose import HeadFrame, MotionExtractor, MotionFrame
from ugoku.motion.retarget import Retargeter
from ugoku.render.warp import Renderer, RenderOptions, border_feather_weights, rasterize_map

IDENTITY_M = np.array([[1.0, 0, 0], [0, 1.0, 0]])


def _identity_grid(h, w):
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return np.dstack([gx, gy])


def test_single_triangle_matches_opencv_affine():
    dst = np.array([[5.0, 5.0], [40.0, 8.0], [12.0, 44.0]])
    src = np.array([[10.0, 3.0], [30.0, 20.0], [2.0, 35.0]])
    base = _identity_grid(50, 50)
    out = rasterize_map(dst, src, np.array([[0, 1, 2]]), base)
    M = cv2.getAffineTransform(dst.astype(np.float32), src.astype(np.float32))   # independent reference
    inside = np.zeros((50, 50), np.uint8)
    cv2.fillConvexPoly(inside, np.round(dst).astype(np.int32), 1)
    inside = cv2.erode(inside, np.ones((3, 3), np.uint8)).astype(bool)           # away from the edges
    ys, xs = np.nonzero(inside)
    expect = np.stack([xs, ys, np.ones_like(xs)], 1) @ M.T
    assert np.abs(out[ys, xs] - expect).max() < 1e-3
    assert np.array_equal(out[0, 0], base[0, 0]) and np.array_equal(out[49, 49], base[49, 49])


def test_later_triangles_win_and_degenerate_ones_are_skipped():
    dst = np.array([[0.0, 0.0], [20.0, 0.0], [0.0, 20.0], [5.0, 5.0], [5.0, 5.0], [5.0, 5.0]])
    src_a = np.zeros((6, 2)) + 100.0
    src_b = src_a.copy()
    src_b[:3] = 200.0
    base = _identity_grid(24, 24)
    tris = np.array([[0, 1, 2], [3, 4, 5]])                  # second one has zero area
    out = rasterize_map(dst, src_b, tris, base)
    assert np.allclose(out[2, 2], 200.0)
    # Two full-size triangles over the same pixels: the one drawn last wins.
    dst2 = np.vstack([dst[:3], dst[:3]])
    src2 = np.vstack([np.full((3, 2), 1.0), np.full((3, 2), 2.0)])
    out2 = rasterize_map(dst2, src2, np.array([[0, 1, 2], [3, 4, 5]]), base)
    assert np.allclose(out2[3, 3], 2.0)
    out3 = rasterize_map(dst2, src2, np.array([[3, 4, 5], [0, 1, 2]]), base)
    assert np.allclose(out3[3, 3], 1.0)


def test_feather_is_one_inside_and_zero_at_the_edge():
    w = border_feather_weights(512, 2, 0.06)
    assert w[128, 128] == 1.0
    assert w[0, 128] < 0.05 and w[128, -1] < 0.05


def _renderer(face, **kw):
    return Renderer(face.landmarks, face.crop.shape[0], face.crop, IDENTITY_M, RenderOptions(**kw))


def _motion(points, yaw=0.0, pitch=0.0, roll=0.0, shift=(0.0, 0.0)):
    mx = MotionExtractor()
    m0 = mx(points)
    R, _ = cv2.Rodrigues(np.array([pitch, yaw, roll]))
    return mx, MotionFrame(R, 1.0, np.array([shift[0], shift[1], 0.0]), m0.expression, m0.eyes, m0.gaze, m0.mouth)


def test_identity_motion_returns_the_source_exactly(astronaut_face):
    mx, m = _motion(astronaut_face.landmarks)
    target = Retargeter(astronaut_face.landmarks, mx.reference)(m)
    out = _renderer(astronaut_face).render(target)
    assert np.array_equal(out, astronaut_face.crop)


def test_identity_motion_with_pasteback_returns_the_photo(astronaut_face):
    mx, m = _motion(astronaut_face.landmarks)
    target = Retargeter(astronaut_face.landmarks, mx.reference)(m)
    r = Renderer(astronaut_face.landmarks, 512, astronaut_face.image, astronaut_face.M_crop2orig)
    assert np.array_equal(r.render(target), astronaut_face.image)


def test_outer_ring_leaves_corners_and_edges_fixed(astronaut_face):
    mx, m = _motion(astronaut_face.landmarks, yaw=0.4, roll=0.2, shift=(0.3, -0.2))
    target = Retargeter(astronaut_face.landmarks, mx.reference)(m)
    out = _renderer(astronaut_face).render(target)
    src = astronaut_face.crop
    moved = np.abs(out.astype(int) - src).max(axis=2)
    assert moved[200:300, 200:300].mean() > 5          # the face did move
    for corner in (moved[:8, :8], moved[:8, -8:], moved[-8:, :8], moved[-8:, -8:]):
        assert corner.max() == 0
    assert moved[-2:, :].max() == 0 and moved[:, :2].max() == 0 and moved[:, -2:].max() == 0


def test_known_roll_rotates_the_eye_line_by_that_angle(astronaut_face):
    """Render a 12-degree in-plane rotation and measure it back with a fresh face-mesh fit."""
    from ugoku.face import landmarks as L
    from ugoku.face.source import static_landmarks

    angle = np.radians(12)
    mx, m = _motion(astronaut_face.landmarks, roll=angle)
    target = Retargeter(astronaut_face.landmarks, mx.reference)(m)
    out = _renderer(astronaut_face).render(target).copy()
    before = static_landmarks(astronaut_face.crop)
    after = static_landmarks(out)

    def eye_angle(p):
        a, b = p[L.RIGHT_EYE_CORNERS[0], :2], p[L.LEFT_EYE_CORNERS[0], :2]
        return np.arctan2(b[1] - a[1], b[0] - a[0])

    measured = np.degrees(eye_angle(after) - eye_angle(before))
    assert measured == pytest.approx(12.0, abs=1.5)
    # The rigid centre stays where it was (rotation about it).
    c0 = HeadFrame.of(before).center[:2]
    c1 = HeadFrame.of(after).center[:2]
    assert np.linalg.norm(c1 - c0) < 4.0


def test_known_translation_moves_landmarks_by_that_many_pixels(astronaut_face):
    from ugoku.face.source import static_landmarks

    scale = HeadFrame.of(astronaut_face.landmarks).scale
    mx, m = _motion(astronaut_face.landmarks, shift=(0.15, 0.0))
    target = Retargeter(astronaut_face.landmarks, mx.reference)(m)
    out = _renderer(astronaut_face).render(target).copy()
    before, after = static_landmarks(astronaut_face.crop), static_landmarks(out)
    expected = 0.15 * scale
    dx = HeadFrame.of(after).center[0] - HeadFrame.of(before).center[0]
    assert dx == pytest.approx(expected, abs=max(2.0, 0.1 * expected))


def test_face_at_the_photo_border_renders(astronaut_rgb):
    """A face cut by the photo edge: the crop is clamped inside the photo, nothing is padded."""
    from ugoku.face.source import find_source_face

    cut = np.ascontiguousarray(astronaut_rgb[:, 150:])          # face near the left edge
    face = find_source_face(cut)
    assert face
    mx, m = _motion(face.landmarks, yaw=0.3)
    target = Retargeter(face.landmarks, mx.reference)(m)
    r = Renderer(face.landmarks, 512, face.image, face.M_crop2orig)
    out = r.render(target)
    assert out.shape == cut.shape
    assert np.array_equal(out[:, -3:], cut[:, -3:])


@pytest.mark.parametrize("layers", [False, True])
def test_a_squeezed_band_of_fine_stripes_renders_as_their_average_not_as_aliasing(astronaut_face, layers):
    """A map that squeezes a band of the photo fourfold (as the skin under a lower lip pushed down by
    the jaw is): the photo there is 1 px black and white stripes, which the output can only show as
    their mean grey. Sampling every fourth row showed only the white rows instead (or moire at other
    factors); the renderer samples a blurred copy where the map squeezes (with and without the person layer)."""
    stripes = np.zeros((512, 512, 3), np.uint8)
    stripes[::2] = 255
    matte = np.ones((512, 512), np.float32) if layers else None
    r = Renderer(astronaut_face.landmarks, 512, stripes, IDENTITY_M, matte=matte)
    g = r.identity.copy()
    rows = slice(110, 140)                        # grid rows: crop y 220-280, across the face
    g[rows, :, 1] = 250.0 + 4.0 * (g[rows, :, 1] - 250.0)
    out = r.render_map(g).astype(np.float64)
    band = out[232:268, 200:312].mean(2)          # inside the squeezed band (a margin from its ends)
    assert abs(band.mean() - 127.5) < 20
    assert band.std() < 20
    plain = Renderer(astronaut_face.landmarks, 512, stripes, IDENTITY_M, RenderOptions(antialias=False), matte=matte)
    before = plain.render_map(g)[232:268, 200:312].mean(2)
    assert abs(before.mean() - 127.5) > 60 or before.std() > 60             # what it looked like
    # Where the map is the identity, nothing changes.
    assert np.array_equal(r.render_map(r.identity.copy()), stripes)
