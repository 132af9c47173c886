"""Compensation: the mouth interior and explicit gaze, on generated data."""

import numpy as np
import pytest

from ugoku.face import landmarks as L
from ugoku.motion.controls import eye_close_offsets, jaw_offsets
from ugoku.motion.pose import HeadFrame, MotionFrame
from ugoku.motion.retarget import Retargeter, RetargetOptions
from ugoku.render.compose import MouthInterior
from ugoku.render.warp import Renderer


def jaw_open_offsets(ref):
    return jaw_offsets(ref, 0.45)


def blink_offsets(ref):
    return eye_close_offsets(ref, "right_eye") + eye_close_offsets(ref, "left_eye")


I2 = np.array([[1.0, 0, 0], [0, 1.0, 0]])


def _motion(expr):
    return MotionFrame(rotation=np.eye(3), scale=1.0, translation=np.zeros(3), expression=expr,
                       eyes=np.ones(2), gaze=np.zeros((2, 2)), mouth=0.0)


@pytest.fixture(scope="module")
def closed_mouth_face():
    return closed_mouth()


def closed_mouth():
    """The bundled portrait with its mouth warped shut: a synthetic source whose lips touch.
    Returns (crop, its landmarks)."""
    from ugoku.demo import astronaut_face

    face = astronaut_face()
    pts = face.landmarks.astype(np.float64)
    ref = HeadFrame.of(pts).normalise(pts)
    jaw = jaw_open_offsets(ref)
    close = -jaw * ((ref[14, 1] - ref[13, 1]) / (jaw[14, 1] - jaw[13, 1]))   # just enough to shut the lips
    ren = Renderer(face.landmarks, 512, face.crop, I2)
    t = Retargeter(face.landmarks, ref)(_motion(close))
    return ren.render(t).copy(), t.points.astype(np.float32)


def test_a_closed_mouth_opened_by_a_driver_gets_a_dark_textured_interior(closed_mouth_face):
    crop, pts = closed_mouth_face
    pts64 = pts.astype(np.float64)
    assert np.linalg.norm(pts64[13, :2] - pts64[14, :2]) < 4            # the synthetic source's mouth is shut
    ref = HeadFrame.of(pts64).normalise(pts64)
    ren = Renderer(pts, 512, crop, I2)
    target = Retargeter(pts, ref)(_motion(jaw_open_offsets(ref)))
    mouth = MouthInterior(crop, pts, I2)
    plain = ren.render(target).copy()
    filled = mouth(plain.copy(), target.points)
    inner = np.zeros(crop.shape[:2], np.uint8)
    import cv2

    cv2.fillPoly(inner, [np.round(target.points[list(L.inner_mouth_loop()), :2]).astype(np.int32)], 1)
    inner = cv2.erode(inner, np.ones((7, 7), np.uint8)).astype(bool)
    assert inner.sum() > 300
    lum_plain = plain[inner].mean(1)
    lum_filled = filled[inner].mean(1)
    assert np.median(lum_filled) < 0.6 * np.median(lum_plain)          # darker than the stretched lip
    assert lum_filled.std() > 8                                        # textured: teeth, shading, grain
    bright = lum_filled > 0.6 * crop[inner].mean()
    assert 0.03 < bright.mean() < 0.5                                  # a row of teeth, not a white mouth
    outside = ~cv2.dilate(inner.astype(np.uint8), np.ones((25, 25), np.uint8)).astype(bool)
    assert np.array_equal(filled[outside], plain[outside])             # nothing painted outside the mouth


def test_a_slightly_open_mouth_shows_mostly_teeth(closed_mouth_face):
    """In speech a small opening shows the upper teeth, not a black slit: the upper half of the opening
    is bright, and a gap opened three times further is darker on the whole (cavity and tongue)."""
    import cv2

    crop, pts = closed_mouth_face
    pts64 = pts.astype(np.float64)
    ref = HeadFrame.of(pts64).normalise(pts64)
    mouth = MouthInterior(crop, pts, I2)

    def lit_share(jaw):
        target = Retargeter(pts, ref)(_motion(jaw_offsets(ref, jaw)))
        p = target.points
        filled = mouth(crop.copy(), p)
        inner = np.zeros(crop.shape[:2], np.uint8)
        cv2.fillPoly(inner, [np.round(p[list(L.inner_mouth_loop()), :2]).astype(np.int32)], 1)
        inner = inner.astype(bool)
        gap = np.linalg.norm(p[13, :2] - p[14, :2])
        upper = inner & (np.arange(crop.shape[0])[:, None] < (p[13, 1] + p[14, 1]) / 2)
        lum = filled.mean(2)
        return gap, (lum[upper] > 0.8 * crop[inner].mean()).mean(), lum[inner].mean()

    gap_s, upper_lit, lum_s = lit_share(0.12)
    gap_w, _, lum_w = lit_share(0.45)
    assert 4 < gap_s < gap_w / 2.5
    assert upper_lit > 0.5
    assert lum_w < 0.7 * lum_s


def opened(pts, jaw):
    """The target points of the source `pts` with its jaw opened by `jaw`."""
    pts64 = pts.astype(np.float64)
    ref = HeadFrame.of(pts64).normalise(pts64)
    return Retargeter(pts, ref)(_motion(jaw_offsets(ref, jaw))).points


def mouth_halves(shape, p):
    """Masks (inner, top, bottom) of an image of `shape`: inside the inner-lip loop of `p` (eroded by
    2 px), and its parts above and below the middle of the lips."""
    import cv2

    inner = np.zeros(shape, np.uint8)
    cv2.fillPoly(inner, [np.round(p[list(L.inner_mouth_loop()), :2]).astype(np.int32)], 1)
    inner = cv2.erode(inner, np.ones((5, 5), np.uint8)).astype(bool)
    mid = (p[13, 1] + p[14, 1]) / 2
    rows = np.arange(shape[0])[:, None]
    return inner, inner & (rows < mid), inner & (rows >= mid)


def _driver_mouth(bright_at_top: bool):
    """A synthetic driver's open mouth: an inner-lip loop 80 px wide and 24 px tall in a 120x70 patch,
    one half of the opening white (teeth), the other dark red, violet lips (far from the photo's hue)
    and tan skin around it."""
    from ugoku.motion.mouth import MouthSample

    n_up, n_lo = len(L.LIPS_INNER_UPPER), len(L.LIPS_INNER_LOWER) - 2
    xs = np.linspace(20, 100, n_up)
    upper = np.c_[xs, 23 - 2 * np.sin(np.linspace(0, np.pi, n_up))]
    lower = np.c_[xs[1:-1], 35 + 12 * np.sin(np.linspace(0, np.pi, n_up))[1:-1]][::-1]
    assert len(lower) == n_lo
    patch = np.zeros((70, 120, 3), np.uint8)
    patch[:] = (200, 160, 130)
    patch[12:60, 12:108] = (150, 80, 170)
    top, bottom = ((235, 235, 225), (70, 20, 25)) if bright_at_top else ((70, 20, 25), (235, 235, 225))
    patch[21:34, 20:101] = top
    patch[34:50, 20:101] = bottom
    return MouthSample(patch, np.vstack([upper, lower]).astype(np.float32), np.array([150.0, 80, 170]),
                       np.array([200.0, 160, 130]))


@pytest.mark.parametrize("grey", [False, True])
def test_the_driver_s_own_mouth_interior_is_used_in_the_photo_s_colours(closed_mouth_face, grey):
    """With a driver's mouth sample the interior is the driver's, mapped into the target's inner-lip
    loop: bright teeth at the top of the driver's opening show at the top of the target's, and at the
    bottom when the driver's are at the bottom. A greyscale photo gets a grey interior."""

    from ugoku.render.compose import MouthOptions

    crop, pts = closed_mouth_face
    if grey:
        crop = np.repeat(crop.mean(2, keepdims=True), 3, axis=2).astype(np.uint8)
    p = opened(pts, 0.45)
    inner, top, bottom = mouth_halves(crop.shape[:2], p)
    halves = {}
    for bright_at_top in (True, False):
        out = MouthInterior(crop, pts, I2)(crop.copy(), p, _driver_mouth(bright_at_top)).astype(np.float64)
        halves[bright_at_top] = out[top].mean(), out[bottom].mean()
        chroma = np.abs(out[inner] - out[inner].mean(1, keepdims=True)).mean()
        assert chroma < 3 if grey else chroma > 5
        # White teeth stay white (only coloured pixels take the photo's lip hue).
        teeth = out[top if bright_at_top else bottom]
        assert np.abs(teeth - teeth.mean(1, keepdims=True)).mean() < 12
    assert halves[True][0] > halves[True][1] + 40
    assert halves[False][1] > halves[False][0] + 40
    # With memory='generic' the sample is ignored: the same pixels whatever the driver shows.
    gen = MouthInterior(crop, pts, I2, MouthOptions(memory="generic"))
    assert np.array_equal(gen(crop.copy(), p, _driver_mouth(True)), gen(crop.copy(), p, _driver_mouth(False)))


def test_a_greyscale_driver_keeps_white_teeth_white(closed_mouth_face):
    """A black-and-white driving video has no lip hue: its teeth must not take the photo's lip colour.
    (Its pixels carry a little colour noise from compression: +-3 levels a channel.)"""
    from ugoku.motion.mouth import MouthSample

    crop, pts = closed_mouth_face
    s = _driver_mouth(True)
    noise = np.random.default_rng(3).integers(-3, 4, s.patch.shape)
    patch = np.clip(np.repeat(s.patch.mean(2, keepdims=True), 3, axis=2) + noise, 0, 255).astype(np.uint8)
    grey = MouthSample(patch, s.loop, np.full(3, s.lip.mean()) + [1, 0, -1], np.full(3, s.skin.mean()))
    pts64 = pts.astype(np.float64)
    ref = HeadFrame.of(pts64).normalise(pts64)
    p = Retargeter(pts, ref)(_motion(jaw_offsets(ref, 0.45))).points
    out = MouthInterior(crop, pts, I2)(crop.copy(), p, grey).astype(np.float64)
    import cv2

    inner = np.zeros(crop.shape[:2], np.uint8)
    cv2.fillPoly(inner, [np.round(p[list(L.inner_mouth_loop()), :2]).astype(np.int32)], 1)
    above_mid = np.arange(crop.shape[0])[:, None] < (p[13, 1] + p[14, 1]) / 2
    top = cv2.erode(inner, np.ones((5, 5), np.uint8)).astype(bool) & above_mid
    teeth = out[top]
    # Measured: 2.7 levels from grey (the drawn ivory teeth blend in a little); 6.6 when the grey
    # driver's compression noise was taken for lip hue and moved to the photo's.
    assert teeth.mean() > 150 and np.abs(teeth - teeth.mean(1, keepdims=True)).mean() < 4.5


def test_a_closed_driver_mouth_gives_no_sample_weight(closed_mouth_face):
    from ugoku.motion.mouth import MouthSample, loop_opening

    crop, pts = closed_mouth_face
    s = _driver_mouth(True)
    shut = s.loop.copy()
    n_up = len(L.LIPS_INNER_UPPER)
    shut[n_up:, 1] = np.interp(shut[n_up:, 0], shut[:n_up, 0], shut[:n_up, 1])   # lower lip on the upper
    m = MouthInterior(crop, pts, I2)
    target_open = loop_opening(pts.astype(np.float64)[list(L.inner_mouth_loop()), :2])
    assert m._driver_weight(MouthSample(s.patch, shut, s.lip, s.skin), target_open) == 0.0


def test_the_mouth_is_painted_in_a_large_pasted_back_photo(closed_mouth_face):
    """Paste-back into a big photo: the mouth spans more than 256 canvas pixels and is still painted
    (it was skipped, leaving the stretched lip, when the grain tile was the size limit)."""
    import cv2

    crop, pts = closed_mouth_face
    pts64 = pts.astype(np.float64)
    ref = HeadFrame.of(pts64).normalise(pts64)
    target = Retargeter(pts, ref)(_motion(jaw_open_offsets(ref)))
    p, k = target.points, 8.0
    plain = Renderer(pts, 512, crop, I2).render(target).copy()
    big = cv2.resize(plain, None, fx=k, fy=k, interpolation=cv2.INTER_LINEAR)
    loop = p[list(L.inner_mouth_loop()), :2] * k
    assert np.ptp(loop[:, 0]) > 256
    filled = MouthInterior(crop, pts, np.array([[k, 0, 0], [0, k, 0]]))(big.copy(), p)
    inner = np.zeros(big.shape[:2], np.uint8)
    cv2.fillPoly(inner, [np.round(loop).astype(np.int32)], 1)
    inner = cv2.erode(inner, np.ones((25, 25), np.uint8)).astype(bool)
    assert filled[inner].mean() < 0.6 * big[inner].mean()


def test_mouth_interior_leaves_an_unopened_mouth_alone(astronaut_face):
    pts = astronaut_face.landmarks.astype(np.float64)
    ref = HeadFrame.of(pts).normalise(pts)
    target = Retargeter(astronaut_face.landmarks, ref)(_motion(np.zeros((478, 3))))
    frame = astronaut_face.crop.copy()
    MouthInterior(astronaut_face.crop, astronaut_face.landmarks, I2)(frame, target.points)
    assert np.array_equal(frame, astronaut_face.crop)


def _iris_centre(img, pts, iris, corners, skip_upper=0.0):
    """Centroid of the darkest pixels inside the eye opening (an independent iris locator). skip_upper:
    pixels nearer than this to the upper lid's line are left out (its dark margin stays with the lid)."""
    import cv2

    upper, lower = (L.RIGHT_EYE_UPPER, L.RIGHT_EYE_LOWER) if iris == L.RIGHT_IRIS else (L.LEFT_EYE_UPPER, L.LEFT_EYE_LOWER)
    m = np.zeros(img.shape[:2], np.uint8)
    cv2.fillPoly(m, [np.round(pts[list(L.eye_loop(upper, lower)), :2]).astype(np.int32)], 1)
    if skip_upper > 0:
        cv2.polylines(m, [np.round(pts[list(upper), :2]).astype(np.int32)], False, 0, int(round(2 * skip_upper)))
    lum = img.mean(2)
    sel = (m > 0) & (lum <= np.percentile(lum[m > 0], 15))
    ys, xs = np.nonzero(sel)
    return np.array([xs.mean(), ys.mean()])


@pytest.mark.parametrize("h", [1.0, -1.0])
def test_a_gaze_shift_moves_the_iris_by_the_expected_amount(astronaut_face, h):
    from ugoku.motion.eyes import H_LIMIT, fixed_gaze, gaze

    pts = astronaut_face.landmarks.astype(np.float64)
    ref = HeadFrame.of(pts).normalise(pts)
    ren = Renderer(astronaut_face.landmarks, 512, astronaut_face.crop, I2)
    still = _motion(np.zeros((478, 3)))
    base = ren.render(Retargeter(astronaut_face.landmarks, ref)(still)).copy()
    target = Retargeter(astronaut_face.landmarks, ref, RetargetOptions(gaze=(h, 0.0)))(still)
    moved = ren.render(target).copy()
    asked = np.clip(fixed_gaze((h, 0.0), gaze(ref))[:, 0], -H_LIMIT, H_LIMIT)     # the outer eye stops at the corner limit
    for k, (iris, corners) in enumerate(((L.RIGHT_IRIS, L.RIGHT_EYE_CORNERS), (L.LEFT_IRIS, L.LEFT_EYE_CORNERS))):
        width = np.linalg.norm(pts[corners[0], :2] - pts[corners[1], :2])
        a = _iris_centre(base, pts, iris, corners)
        b = _iris_centre(moved, pts, iris, corners)
        # the rendered iris moved towards the asked side by at least half the asked amount (eye
        # widths; the dark-pixel locator also counts lashes, which stay, so it under-reads), and the
        # iris landmark went exactly where asked
        want = asked[k] - (pts[iris[0], 0] - pts[list(corners), 0].mean()) / width
        seen = (b[0] - a[0]) / width
        assert np.sign(seen) == np.sign(want)
        assert 0.5 * abs(want) <= abs(seen) <= 1.2 * abs(want)
        assert abs(b[1] - a[1]) < 0.06 * width
        assert gaze(target.points)[k, 0] == pytest.approx(asked[k], abs=0.005)   # along the eye's own axis


def test_a_fixed_straight_look_is_where_a_face_looking_at_the_camera_has_its_irises(astronaut_face):
    # --gaze 0,0 once put each iris at its corners' midpoint: lower than a face looking ahead has it and
    # nearer the nose (0.06 eye widths from where the astronaut, who looks at the camera, has hers).
    from ugoku.motion.eyes import fixed_gaze, gaze

    pts = astronaut_face.landmarks.astype(np.float64)
    ref = HeadFrame.of(pts).normalise(pts)
    own = gaze(ref)
    assert np.linalg.norm(own, axis=1).min() > 0.05                     # the midpoint is not where she looks
    target = Retargeter(astronaut_face.landmarks, ref, RetargetOptions(gaze=(0.0, 0.0)))(_motion(np.zeros((478, 3))))
    got = gaze(HeadFrame.of(target.points).normalise(target.points))
    assert np.allclose(got, fixed_gaze((0.0, 0.0), own), atol=0.01)
    assert np.linalg.norm(got - own, axis=1).max() < 0.04
    assert got[0, 0] < 0 < got[1, 0] and (got[:, 1] < 0).all()           # outward of the midpoints, above them


def test_a_fixed_look_down_lowers_the_upper_lid_and_a_blink_still_shuts(astronaut_face):
    # A fixed gaze turns the eyes without the lids' own motion; the lids now follow the turn (looking
    # down with the lids where they were showed white above the iris, a stare no face makes).
    from ugoku.motion.eyes import LID_FOLLOW, USER_RANGE, eye_axes, lid_opening

    pts = astronaut_face.landmarks.astype(np.float64)
    ref = HeadFrame.of(pts).normalise(pts)

    def shape(v, expr=None):
        t = Retargeter(pts, ref, RetargetOptions(gaze=(0.0, v)))(_motion(np.zeros((478, 3)) if expr is None else expr))
        return HeadFrame.of(t.points).normalise(t.points)

    down, up = shape(1.0), shape(-1.0)
    turn = 2 * USER_RANGE[1]                                   # eye widths between V = -1 and V = 1
    for name, mid in (("right_eye", L.RIGHT_EYE_LID_MID), ("left_eye", L.LEFT_EYE_LID_MID)):
        _, _, ey, w = eye_axes(ref, L.EYES[name][3])
        moved = (down[list(mid), :2] - up[list(mid), :2]) @ ey / w  # (upper, lower), > 0 down
        assert moved[0] == pytest.approx(LID_FOLLOW[0] * turn, rel=0.15)
        assert moved[1] == pytest.approx(LID_FOLLOW[1] * turn, rel=0.15)
        corners = list(L.EYES[name][3])
        assert np.allclose(down[corners], up[corners], atol=1e-4)
    # A blink under a look up (which lifts the upper lid) still shuts the eyes.
    shut = shape(-1.0, blink_offsets(ref))
    assert (lid_opening(shut) < 0.01).all() and (lid_opening(up) > 0.2).all()


def test_a_fixed_look_up_reads_more_open_than_a_look_down(astronaut_face):
    # On the pixels, by dlib: the lids follow the eyes. Before, the iris slid under a still upper lid
    # when looking up and dlib read that eye as less open than one looking down (0.28 against 0.34).
    from ugoku.api import AnimateOptions, render_still
    from ugoku.eval import face68 as F
    from ugoku.motion.controls import Controls

    judge = F.Dlib68()

    def ear(v):
        img = render_still(astronaut_face, Controls(), AnimateOptions(pasteback=False, retarget=RetargetOptions(gaze=(0.0, v))))
        p = judge(img).points
        return (F.eye_aspect(p, F.RIGHT_EYE) + F.eye_aspect(p, F.LEFT_EYE)) / 2

    up, down = ear(-1.0), ear(1.0)
    assert up - down > 0.02, (up, down)


def test_a_fixed_gaze_keeps_the_photo_s_own_spread_of_the_irises():
    # s42 looks at the camera with her irises 0.03 eye widths inward of her tracked corners' midpoints
    # (her made-up outer corners); the average outward 0.05 made her wall-eyed at 0,0.
    from ugoku.motion.eyes import STRAIGHT, USER_RANGE, VERGENCE_RANGE, fixed_gaze, vergence

    inward = np.array([[0.026, -0.061], [-0.033, -0.069]])          # s42's own gaze (right eye first)
    for hv in ((0.0, 0.0), (0.5, -0.5), (-1.0, 1.0)):
        g = fixed_gaze(hv, inward)
        assert vergence(g) == pytest.approx(vergence(inward))          # her spread ...
        assert g[:, 0].mean() == pytest.approx(hv[0] * USER_RANGE[0])  # ... about the asked direction
        assert np.allclose(g[:, 1], STRAIGHT[1] + hv[1] * USER_RANGE[1])
    wild = np.array([[0.3, 0.0], [-0.3, 0.0]])                       # a tracker's guess on blank eyes
    assert vergence(fixed_gaze((0.0, 0.0), wild)) == VERGENCE_RANGE[0]
    assert vergence(fixed_gaze((0.0, 0.0))) == pytest.approx(STRAIGHT[0])


def test_gaze_keep_and_closed_eyes_keep_the_iris_inside(astronaut_face):
    from ugoku.motion.eyes import gaze, place_irises

    pts = astronaut_face.landmarks.astype(np.float64)
    ref = HeadFrame.of(pts).normalise(pts)
    closed = ref + blink_offsets(ref)
    out = place_irises(closed, np.array([[0.0, -0.5], [0.0, 0.5]]))     # asks far above and below
    for iris, up_lo in ((L.RIGHT_IRIS, L.RIGHT_EYE_LID_MID), (L.LEFT_IRIS, L.LEFT_EYE_LID_MID)):
        top, bottom = sorted(out[list(up_lo), 1])
        assert top - 2e-3 <= out[iris[0], 1] <= bottom + 2e-3
    assert np.allclose(place_irises(ref, gaze(ref)), ref)                # the source's own gaze: no change


def test_gaze_option_is_validated():
    from ugoku.errors import OptionError

    with pytest.raises(OptionError):
        RetargetOptions(gaze=(2.0, 0.0))
    with pytest.raises(OptionError):
        RetargetOptions(gaze="sideways")


def test_closed_lids_are_skin_not_stretched_lashes(astronaut_face):
    """A blink with the eyelid fill reads as closed to dlib; the stretched-lash warp alone does not."""
    from dataclasses import replace

    from ugoku.api import AnimateOptions, render_still
    from ugoku.eval import face68 as F
    from ugoku.motion.controls import Controls
    from ugoku.render.compose import EyelidOptions

    judge = F.Dlib68()
    opts = AnimateOptions(pasteback=False)

    def ear(options, c):
        p = judge(render_still(astronaut_face, c, options)).points
        return (F.eye_aspect(p, F.RIGHT_EYE) + F.eye_aspect(p, F.LEFT_EYE)) / 2

    shut = Controls(eye_r=-1.0, eye_l=-1.0)
    rest, filled = ear(opts, Controls()), ear(opts, shut)
    smeared = ear(replace(opts, eyelids=EyelidOptions(enabled=False)), shut)
    assert filled < 0.45 * rest and filled < 0.75 * smeared, (rest, filled, smeared)
    # Open eyes are left exactly as the warp drew them.
    a = render_still(astronaut_face, Controls(), opts).copy()
    b = render_still(astronaut_face, Controls(), replace(opts, eyelids=EyelidOptions(enabled=False)))
    assert np.array_equal(a, b)


def test_a_shut_eye_whose_lid_points_slid_along_the_lid_is_filled_fully(astronaut_face):
    """A driver's blink often slides the upper lid's landmarks sideways as it shuts (s0 with d3's
    blinks: the middle lid points end 0.1 eye widths apart along the eye). The lid lines meet, so the
    eye is shut and gets the full lid fill; measuring the gap between the two middle landmarks
    instead read it as a quarter open and left the stretched lashes showing through."""
    from ugoku.eval import face68 as F
    from ugoku.motion.eyes import eye_axes
    from ugoku.render.compose import EyelidFill

    pts = astronaut_face.landmarks.astype(np.float64)
    frame = HeadFrame.of(pts)
    ref = frame.normalise(pts)
    shut = ref + blink_offsets(ref)
    for name, (upper, _, _, corners) in L.EYES.items():
        _, ex, _, w = eye_axes(shut, corners)
        shut[list(upper[1:-1]), :2] += 0.1 * w * ex          # the upper lid slides along itself
    target = frame.center + frame.scale * shut
    fill = EyelidFill(astronaut_face.crop, pts, I2)
    assert [fill.strength(target, k) for k in range(2)] == [1.0, 1.0]
    # And on the pixels: dlib reads the filled eyes as shut.
    r = Renderer(pts, astronaut_face.crop.shape[0], astronaut_face.crop, I2)
    tf = Retargeter(pts, ref)(_motion(shut - ref))
    out = fill(r.render(tf).copy(), tf.points, r.dense, r.region)
    p = F.Dlib68()(out).points
    q = F.Dlib68()(astronaut_face.crop).points
    ear = lambda p: (F.eye_aspect(p, F.RIGHT_EYE) + F.eye_aspect(p, F.LEFT_EYE)) / 2  # noqa: E731
    assert ear(p) < 0.5 * ear(q), (ear(p), ear(q))


def test_a_closed_eye_s_lash_line_is_one_unbroken_stroke(astronaut_face):
    """Along the middle 70 % of each shut eye, every pixel column holds a dark lash pixel right at the
    lid line. (Drawn in the photo and sampled through the squeezed lid, the line broke into dots and
    faint stretches; it is drawn in the output now.)"""
    import cv2

    from ugoku.api import AnimateOptions, Composer, make_renderer, source_reference
    from ugoku.motion.controls import Controls, Rig

    opts = AnimateOptions(pasteback=False)
    ref = source_reference(astronaut_face)
    target = Retargeter(astronaut_face.landmarks, ref)(Rig(ref).motion(Controls(eye_r=-1.0, eye_l=-1.0)))
    out = Composer(astronaut_face, make_renderer(astronaut_face, False, opts.render), opts)(target)
    gray = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY).astype(float)
    for upper, _, _, _ in L.EYES.values():
        lid = target.points[list(upper), :2]
        o = np.argsort(lid[:, 0])
        xs = np.arange(int(lid[:, 0].min()), int(lid[:, 0].max()) + 1)
        ys = np.interp(xs, lid[o, 0], lid[o, 1]).astype(int)
        keep = slice(int(0.15 * len(xs)), int(0.85 * len(xs)))
        darkest = np.array([gray[y - 3:y + 4, x].min() for x, y in zip(xs, ys)])[keep]
        skin = np.median([gray[y + 6:y + 10, x].mean() for x, y in zip(xs, ys)])
        assert darkest.max() < skin - 85, (darkest.max(), skin)


def test_membrane_fill_meets_its_boundary_and_carries_no_structure_in():
    """A plane of colour with a hole comes back exactly (a plane is the smoothest surface through its
    own edge); a dark ring inside the hole is gone; known pixels are untouched."""
    from ugoku.render.compose import membrane_fill

    yy, xx = np.mgrid[0:40, 0:50].astype(np.float32)
    plane = np.dstack([60 + 2 * xx, 200 - 3 * yy, 100 + xx + yy])
    hole = np.zeros((40, 50), bool)
    hole[8:30, 10:42] = True
    damaged = plane.copy()
    damaged[hole] = 0.0
    damaged[15:22, 18:34] = 255.0                      # structure inside the hole
    filled = membrane_fill(damaged, hole)
    assert np.abs(filled - plane).max() < 1e-3
    assert np.array_equal(filled[~hole], damaged[~hole])


@pytest.mark.parametrize("scale", [1.0, 2.5])                  # 2.5: a 150 px eye, filled on a smaller copy
def test_a_shut_eye_in_a_shadowed_socket_shows_no_outline_of_the_open_eye(scale):
    """An eye whose crease and outline are dark lines (a painting's shadowed socket, the Mona Lisa):
    the closed-lid patch replaces the lashes, the opening and the crease with lid skin in which no
    line of that outline is left (before, the skin was mirrored from just above the lashes and the
    crease line 0.25 eye widths up stayed: a ghost of the open eye)."""
    import cv2

    from ugoku.render.compose import closed_eye_patch

    skin = np.array([205.0, 170, 120])
    rng = np.random.default_rng(0)
    canvas = skin + rng.normal(0, 2.0, (int(160 * scale), int(200 * scale), 1))
    width, cx, cy = 60.0 * scale, 100.0 * scale, 90.0 * scale
    u = np.linspace(-1, 1, 9)
    upper = np.c_[cx + u * width / 2, cy - 12 * scale * (1 - u ** 2)]
    lower = np.c_[cx + u * width / 2, cy + 7 * scale * (1 - u ** 2)]
    crease = np.c_[upper[:, 0], upper[:, 1] - 0.25 * width * (0.5 + 0.5 * (1 - u ** 2))]
    dark = (70.0, 50.0, 30.0)
    for line in (upper, lower, crease):
        cv2.polylines(canvas, [np.round(line).astype(np.int32)], False, dark, round(3 * scale), cv2.LINE_AA)
    cv2.circle(canvas, (int(cx), int(cy - 2 * scale)), int(9 * scale), dark, -1)          # the iris
    canvas = np.clip(canvas, 0, 255).astype(np.uint8)
    lid = closed_eye_patch(canvas, upper, lower)
    x0, y0, lash = lid.x0, lid.y0, lid.lash
    lum = lid.image.astype(float).mean(2)
    skin_lum = skin.mean()
    for line in (crease, upper):                      # the middle half of each line, in patch pixels
        for x, y in line[2:-2] - [x0, y0]:
            r = round(2 * scale)
            assert lum[int(round(y)) - r:int(round(y)) + r + 1, int(round(x))].min() > skin_lum - 25, (line is crease, x, y)
    assert lash.mean() < 100                           # the photo's lash colour is still found


def _outlined_photo(crop, pts, grain, seed=5):
    """The crop made smooth (a 4 px blur), drawn over with dark outlines away from the mouth (as a
    cartoon's or an engraving's lines), and given white grain of `grain` grey levels."""
    import cv2

    smooth = cv2.GaussianBlur(crop.astype(np.float32), (0, 0), 4.0)
    mx0, my0 = pts[list(L.LIPS), :2].min(0) - 12
    mx1, my1 = pts[list(L.LIPS), :2].max(0) + 12
    for k in range(14):
        y = int(150 + 17 * k)
        if not my0 - 2 <= y <= my1 + 2:
            cv2.line(smooth, (140, y), (370, y + 9), (40, 30, 30), 2)
    for x in range(150, 370, 23):
        cv2.line(smooth, (x, 120), (x + 6, int(my0) - 4), (40, 30, 30), 1)
    noise = np.random.default_rng(seed).normal(0.0, grain, crop.shape[:2])[..., None]
    return np.clip(smooth + noise + 0.5, 0, 255).astype(np.uint8)


def _fine_spread(img, mask):
    """Standard deviation of an image's detail finer than a 1.5 px blur, over `mask` (the test's own
    measure, written apart from the code under test)."""
    import cv2

    lum = img.astype(np.float32).mean(2)
    return float((lum - cv2.GaussianBlur(lum, (0, 0), 1.5))[mask].std())


@pytest.mark.parametrize("sample", [None, "smooth", "grainy"])
def test_the_mouth_interior_takes_the_photo_s_grain_not_its_outlines(closed_mouth_face, sample):
    """A smooth photo with dark outlines and a grain of 2 grey levels: the interior painted into its
    opened mouth is as grainy as the photo's skin (measured in the dark cavity, away from the teeth),
    both drawn and from a smooth driver sample. A driver sample that brings grain of its own (6 levels)
    gets none added on top. Before, the grain was the plain standard deviation of the face's fine
    detail, which took the outlines for grain (about 3 times too much)."""
    import cv2

    from ugoku.motion.mouth import MouthSample

    crop, pts = closed_mouth_face
    photo = _outlined_photo(crop, pts.astype(np.float64), 2.0)
    noise = np.random.default_rng(5).normal(0.0, 2.0, crop.shape[:2])
    reference = float((noise - cv2.GaussianBlur(noise, (0, 0), 1.5)).std())
    p = opened(pts, 0.45)
    s = None
    if sample is not None:
        s = _driver_mouth(False)                  # the dark cavity at the top, teeth at the bottom
        if sample == "grainy":
            grit = np.random.default_rng(9).normal(0.0, 6.0, s.patch.shape[:2])[..., None]
            s = MouthSample(np.clip(s.patch + grit, 0, 255).astype(np.uint8), s.loop, s.lip, s.skin)
    mouth = MouthInterior(photo, pts, I2)
    out = mouth(photo.copy(), p, s)
    inner, top, _ = mouth_halves(photo.shape[:2], p)
    dark = cv2.GaussianBlur(out.astype(np.float32).mean(2), (0, 0), 2.0) < 80
    cavity = inner & cv2.erode(dark.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    if sample is not None:
        cavity &= top
    assert cavity.sum() > 150
    spread = _fine_spread(out, cavity)
    if sample == "grainy":
        mouth.grain = 0.0                          # the same interior with nothing added
        bare = _fine_spread(mouth(photo.copy(), p, s), cavity)
        assert spread < 1.1 * bare
    else:
        assert 0.6 * reference < spread < 1.5 * reference


def test_in_a_pasted_back_photo_the_interior_takes_the_grain_of_the_photo_not_of_the_crop(closed_mouth_face):
    """Paste-back paints on the original photo, here 3 times the crop's size with a grain of 3 levels
    at its own pixels; the 512 px crop made from it averages that grain down to about 1. The interior
    takes the photo's."""
    import cv2

    crop, pts = closed_mouth_face
    k = 3.0
    smooth = cv2.GaussianBlur(crop.astype(np.float32), (0, 0), 3.0)
    noise = np.random.default_rng(4).normal(0.0, 3.0, (int(512 * k), int(512 * k)))
    big = np.clip(cv2.resize(smooth, None, fx=k, fy=k, interpolation=cv2.INTER_CUBIC) + noise[..., None] + 0.5,
                  0, 255).astype(np.uint8)
    small = cv2.resize(big, (512, 512), interpolation=cv2.INTER_AREA)
    reference = float((noise - cv2.GaussianBlur(noise, (0, 0), 1.5)).std())
    p = opened(pts, 0.45)
    out = MouthInterior(small, pts, np.array([[k, 0, 0], [0, k, 0]]), canvas=big)(big.copy(), p)
    loop = p[list(L.inner_mouth_loop()), :2] * k
    inner = np.zeros(big.shape[:2], np.uint8)
    cv2.fillPoly(inner, [np.round(loop).astype(np.int32)], 1)
    dark = cv2.GaussianBlur(out.astype(np.float32).mean(2), (0, 0), 4.0) < 80
    cavity = cv2.erode(inner & dark.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool)
    assert cavity.sum() > 1000
    assert 0.6 * reference < _fine_spread(out, cavity) < 1.5 * reference


def _shut_astronaut(astronaut_face):
    from ugoku.api import AnimateOptions, Composer, make_renderer, source_reference
    from ugoku.motion.controls import Controls, Rig

    opts = AnimateOptions(pasteback=False)
    ref = source_reference(astronaut_face)
    target = Retargeter(astronaut_face.landmarks, ref)(Rig(ref).motion(Controls(eye_r=-1.0, eye_l=-1.0)))
    return Composer(astronaut_face, make_renderer(astronaut_face, False, opts.render), opts)(target).copy(), target


def test_a_shut_lid_s_grain_is_as_fine_across_as_down(astronaut_face):
    """The grain of a shut lid's skin is the same in every direction, as the photo's is. Added to the
    lid in the photo and squeezed with it as the eye shut, it came out as vertical streaks: on the
    astronaut the fine detail changed 1.6 times as much from pixel to pixel along a row as down a
    column (1.0 and 1.2 now)."""
    import cv2

    out, target = _shut_astronaut(astronaut_face)
    gray = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY).astype(np.float32)
    fine = gray - cv2.GaussianBlur(gray, (0, 0), 1.5)
    for upper, _, _, _ in L.EYES.values():
        lid = target.points[list(upper), :2]
        x0, x1 = int(lid[:, 0].min() + 0.25 * np.ptp(lid[:, 0])), int(lid[:, 0].max() - 0.25 * np.ptp(lid[:, 0]))
        y1 = int(lid[:, 1].min() - 3)
        y0 = y1 - max(4, int(0.12 * np.ptp(lid[:, 0])))
        f = fine[y0:y1, x0:x1]
        across = np.abs(np.diff(f, axis=1)).mean()
        down = np.abs(np.diff(f, axis=0)).mean()
        assert 0.75 < across / down < 1.33, (across, down)


@pytest.mark.parametrize("width", [36.0, 80.0])
def test_a_shut_eye_s_lash_line_follows_its_curve_below_a_pixel(width):
    """The lash line is drawn by each pixel's distance from the lid's curve, so its centre, column
    by column (the darkness-weighted mean row), lies on the curve within a fifth of a pixel. Drawn
    as a thick polyline of whole pixels it went in steps, up to 0.35 px off the curve."""
    from ugoku.render.compose import draw_lash_line

    roi = np.full((60, 120, 3), 200, np.uint8)
    u = np.linspace(-1, 1, 9)
    lid = np.c_[60 + u * width / 2, 30.3 + 0.13 * width * u ** 2]      # a shut lid's gentle arc
    draw_lash_line(roi, lid, width, np.zeros(3, np.float32), 1.0)
    ink = 200.0 - roi[..., 0].astype(float)
    rows = np.arange(roi.shape[0])[:, None]
    xs = np.arange(int(60 - 0.35 * width), int(60 + 0.35 * width) + 1)
    centre = (ink[:, xs] * rows).sum(0) / ink[:, xs].sum(0)
    truth = 30.3 + 0.13 * width * ((xs - 60) / (width / 2)) ** 2
    assert np.abs(centre - truth).max() < 0.2, np.abs(centre - truth).max()
