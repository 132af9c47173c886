import cv2
import numpy as np
import pytest

from ugoku.face import landmarks as L
from ugoku.face.tracker import OneEuroFilter, Smoother, SmoothOptions
from ugoku.motion.controls import eye_close_offsets, jaw_offsets
from ugoku.motion.pose import HeadFrame, MotionExtractor, eye_openness, procrustes
from ugoku.motion.retarget import Retargeter, RetargetOptions, keep_lids_apart, lid_gap, scale_rotation


def blink_offsets(ref):
    return eye_close_offsets(ref, "right_eye") + eye_close_offsets(ref, "left_eye")


def jaw_open_offsets(ref):
    return jaw_offsets(ref, 0.45)


def test_procrustes_recovers_a_known_similarity():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(40, 3))
    R, _ = cv2.Rodrigues(np.array([0.2, -0.5, 0.3]))
    b = 1.7 * a @ R.T + np.array([3.0, -2.0, 5.0])
    s, R2, t = procrustes(a, b)
    assert s == pytest.approx(1.7)
    assert np.allclose(R2, R, atol=1e-9)
    assert np.allclose(t, [3.0, -2.0, 5.0])


def test_extractor_recovers_head_rotation_and_no_expression(astronaut_face):
    pts = astronaut_face.landmarks.astype(np.float64)
    mx = MotionExtractor()
    m0 = mx(pts)
    assert np.allclose(m0.rotation, np.eye(3)) and np.abs(m0.expression).max() < 1e-9
    R, _ = cv2.Rodrigues(np.array([0.1, 0.35, -0.05]))
    c = HeadFrame.of(pts).center
    moved = 1.2 * (pts - c) @ R.T + c + np.array([30.0, -10.0, 0.0])
    m = mx(moved)
    assert np.allclose(m.rotation, R, atol=1e-6)
    assert m.scale == pytest.approx(1.2)
    assert np.abs(m.expression).max() < 1e-6
    assert np.allclose(m.translation[:2] * HeadFrame.of(pts).scale, [30.0, -10.0], atol=1e-6)


def test_relative_retarget_transfers_a_blink_and_keeps_face_shape(astronaut_face):
    pts = astronaut_face.landmarks.astype(np.float64)
    ref = HeadFrame.of(pts).normalise(pts)
    mx = MotionExtractor()
    mx(pts)
    closed = HeadFrame.of(pts).scale * (ref + blink_offsets(ref)) + HeadFrame.of(pts).center
    m = mx(closed)
    target = Retargeter(pts, mx.reference)(m)
    assert eye_openness(pts).min() > 0.15
    assert eye_openness(target.points).max() < 0.05
    # Nothing but the eyes moved noticeably.
    far = np.array(L.JAW + L.LIPS)
    assert np.abs(target.points[far] - pts[far]).max() < 1.0


def test_regions_switch_parts_off(astronaut_face):
    pts = astronaut_face.landmarks.astype(np.float64)
    f = HeadFrame.of(pts)
    ref = f.normalise(pts)
    mx = MotionExtractor()
    mx(pts)
    m = mx(f.scale * (ref + jaw_open_offsets(ref) + blink_offsets(ref)) + f.center)
    lips_off = Retargeter(pts, mx.reference, RetargetOptions(regions=("pose", "eyes")))(m)
    up, lo = L.LIPS_INNER_MID

    def gap(p):
        return p[lo, 1] - p[up, 1]

    assert gap(lips_off.points) == pytest.approx(gap(pts), abs=0.5)
    assert eye_openness(lips_off.points).max() < 0.05
    all_on = Retargeter(pts, mx.reference)(m)
    assert gap(all_on.points) > gap(pts) + 0.3 * f.scale
    double = Retargeter(pts, mx.reference, RetargetOptions(lips_scale=2.0))(m)
    assert gap(double.points) - gap(pts) == pytest.approx(2 * (gap(all_on.points) - gap(pts)), rel=0.05)


def test_pose_scale_scales_the_rotation_angle():
    R, _ = cv2.Rodrigues(np.array([0.0, 0.3, 0.0]))
    half = scale_rotation(R, 0.5)
    rvec, _ = cv2.Rodrigues(half)
    assert np.allclose(rvec.ravel(), [0.0, 0.15, 0.0])


def test_retarget_options_reject_nonsense():
    from ugoku.errors import OptionError

    with pytest.raises(OptionError):
        RetargetOptions(regions=("nose",))
    with pytest.raises(OptionError):
        RetargetOptions(mode="sideways")


def _widen_eyes(ref: np.ndarray, amount: float) -> np.ndarray:
    """The same face with each upper lid raised by `amount` of that eye's opening (a wide-eyed driver)."""
    out = ref.copy()
    for name, (upper, lower, iris, _) in L.EYES.items():
        out[list(upper[1:-1]), 1] -= amount * lid_gap(ref, name)
    return out


def test_a_wide_eyed_drivers_blink_closes_the_source_eye_in_proportion(astronaut_face):
    """Lid motion is relative to each eye's opening: a driver whose eyes are twice as open as the
    source's half-closes them, and the source's eyes half-close (in face units the driver's motion
    would shut them); a full blink shuts them, the lids meeting rather than passing each other."""
    pts = astronaut_face.landmarks.astype(np.float64)
    src = HeadFrame.of(pts).normalise(pts)
    wide = _widen_eyes(src, 1.0)                           # the driver: twice the source's opening
    m = MotionExtractor()
    m.set_reference(wide)
    retarget = Retargeter(pts, wide)
    for amount, want in ((0.5, 0.5), (1.0, 0.0)):
        closed = wide + amount * blink_offsets(wide)
        for name in L.EYES:
            assert lid_gap(closed, name) == pytest.approx((1 - amount) * lid_gap(wide, name), abs=0.1 * lid_gap(wide, name))
        tn = HeadFrame.of(pts).normalise(retarget(m(closed)).points)
        for name in L.EYES:
            g0 = lid_gap(src, name)
            assert lid_gap(tn, name) == pytest.approx(want * g0, abs=0.15 * g0), (amount, name)


def test_lids_that_cross_meet_half_way():
    from ugoku.face.landmarks import EYES

    shape = np.zeros((L.N_LANDMARKS, 3))
    for name, (upper, lower, iris, (c0, c1)) in EYES.items():
        x = np.linspace(-1, 1, len(upper)) + (3 if name == "left_eye" else -3)
        shape[list(upper), 0] = x
        shape[list(lower), 0] = x
        shape[list(upper), 1] = 0.2          # the upper lid below the lower one: crossed
        shape[list(lower), 1] = -0.2
    fixed = keep_lids_apart(shape.copy())
    for name, (upper, lower, _, _) in EYES.items():
        assert np.allclose(fixed[list(upper[1:-1]), 1], 0.0) and np.allclose(fixed[list(lower[1:-1]), 1], 0.0)
    lips = shape.copy()
    up, lo = L.LIPS_INNER_UPPER, L.LIPS_INNER_LOWER
    lips[list(up), 0] = lips[list(lo), 0] = np.linspace(-2, 2, len(up))
    lips[list(up[1:-1]), 1], lips[list(lo[1:-1]), 1] = 5.1, 4.9                # the lower lip above the upper
    lips[[up[0], up[-1]], 1] = 5.0
    fixed = keep_lids_apart(lips)
    assert np.allclose(fixed[list(up[1:-1]), 1], 5.0) and np.allclose(fixed[list(lo[1:-1]), 1], 5.0)
    apart = shape.copy()
    apart[:, 1] *= -1                         # an open eye is left alone
    assert np.array_equal(keep_lids_apart(apart.copy()), apart)


def test_one_euro_keeps_a_still_signal_still_and_follows_a_step():
    f = OneEuroFilter(SmoothOptions(), scale=10.0)
    x = np.ones((5, 3))
    outs = [f(x, 1 / 30) for _ in range(10)]
    assert all(np.array_equal(o, outs[0]) for o in outs)
    for _ in range(60):
        y = f(x + 5.0, 1 / 30)
    assert np.allclose(y, 6.0, atol=0.05)


def test_one_euro_reduces_jitter():
    rng = np.random.default_rng(1)
    f = OneEuroFilter(SmoothOptions(), scale=60.0)
    raw = 100 + rng.normal(0, 0.8, size=(300, 1, 2))
    out = np.array([f(r, 1 / 30) for r in raw])
    assert np.diff(out[50:], axis=0).std() < 0.4 * np.diff(raw[50:], axis=0).std()


def _filtered(seq, options, scale):
    """seq smoothed as DrivingMotion does (`Smoother`: the One-Euro filter, then the look-ahead)."""
    smoother, out = Smoother(options, scale=scale), []
    for p in seq:
        out += [q.astype(np.float64) for q, _ in smoother.push(p, 1 / 30)]
    return out + [q.astype(np.float64) for q, _ in smoother.flush()]


def test_the_look_ahead_opens_a_fast_syllable_on_time(astronaut_face):
    """A syllable (the jaw open over two frames, held two, shut over two) through the lips' filter:
    the causal filter is still well short of the driver's opening on the frame the mouth is half
    open and on the first fully open one; one frame of look-ahead reaches it within 15 % on both and
    gives as many frames as it was given. A still face stays bit for bit."""
    pts = astronaut_face.landmarks.astype(np.float64)
    frame = HeadFrame.of(pts)
    jaw = frame.scale * jaw_offsets(frame.normalise(pts), 0.3)
    amounts = [0.0] * 10 + [0.5, 1.0, 1.0, 1.0, 0.5] + [0.0] * 10
    seq = [pts + a * jaw for a in amounts]
    lower = list(L.LIPS_INNER_LOWER[1:-1])
    drop = jaw[lower, 1].mean()

    def opening(options):
        out = _filtered(seq, options, frame.scale)
        assert len(out) == len(seq)
        return np.array([(o - pts)[lower, 1].mean() / drop for o in out])

    causal, ahead = opening(SmoothOptions(lookahead=0)), opening(SmoothOptions())
    assert causal[10] < 0.5 * 0.8 and causal[11] < 0.85, causal[9:16].round(2)
    assert abs(ahead[10] - 0.5) < 0.15 and ahead[11] > 0.85, ahead[9:16].round(2)
    assert np.abs(ahead[20:]).max() < 0.05                   # and it shuts again
    still = _filtered([pts] * 8, SmoothOptions(), frame.scale)
    assert all(np.array_equal(o, pts) for o in still)


def test_the_look_ahead_follows_a_head_turn_without_lag_and_with_less_noise():
    """A brisk head turn (0.9 face sizes a second) with tracking noise on it: the causal One-Euro
    output trails the true position by about a frame; read back by its own lag from the next frame,
    it trails by under a quarter of one, and it shakes no more than the causal output. (A slow turn
    still trails by what one frame of look-ahead cannot take out: 0.5 frames at a third of this speed.)"""
    rng = np.random.default_rng(3)
    n, speed = 120, 0.03                                     # face sizes a frame (scale 100 px)
    truth = 100 + 100 * speed * np.arange(n)[:, None, None] * np.array([[1.0, 0.0]])
    truth = np.repeat(truth, 4, axis=1)
    raw = truth + rng.normal(0, 0.3, size=truth.shape)

    def lag_and_shake(options):
        out = np.array(_filtered(list(raw), options, 100.0))
        err = (truth - out)[30:-5, :, 0].mean() / (100 * speed)          # frames behind
        shake = np.diff(out[30:-5, :, 0], 2, axis=0).std()
        return err, shake

    (lag0, shake0), (lag1, shake1) = lag_and_shake(SmoothOptions(lookahead=0)), lag_and_shake(SmoothOptions())
    assert lag0 > 0.8, lag0
    assert abs(lag1) < 0.25, lag1
    assert shake1 <= 1.05 * shake0, (shake0, shake1)


def test_a_quick_blink_survives_smoothing(astronaut_face):
    """A blink is over in about 100 ms (3 frames at 30 fps): the lids are filtered lightly enough to
    close at least most of the way, while the rest of the face stays put."""
    pts = astronaut_face.landmarks.astype(np.float64)
    frame = HeadFrame.of(pts)
    ref = frame.normalise(pts)
    shut = frame.scale * (ref + blink_offsets(ref)) + frame.center
    f = OneEuroFilter(SmoothOptions(), scale=frame.scale)
    seq = [pts] * 10 + [0.5 * (pts + shut), shut, 0.5 * (pts + shut)] + [pts] * 10
    out = [f(p, 1 / 30).astype(np.float64) for p in seq]
    gap = np.array([eye_openness(o).mean() for o in out])
    assert gap.min() < 0.5 * gap[0]
    # Back open (to within the filter's still-threshold, which holds points that barely moved).
    assert np.abs(out[-1] - pts).max() < 2 * SmoothOptions().still_threshold * frame.scale
    still = np.array(L.NOSE)
    assert max(np.abs(o[still] - pts[still]).max() for o in out) < 1e-6


@pytest.mark.parametrize("options, survives", [(SmoothOptions(), True),
                                                (SmoothOptions(brows_min_cutoff=1.5), False)])
def test_a_brow_accent_survives_smoothing(astronaut_face, options, survives):
    """A small brow raise of 200 ms (a speaker's accent, a tenth of an eye width: up in two frames,
    held two, down in two) reaches at least 85 % of its height through the filter; at the head's
    1.5 Hz it would not."""
    from ugoku.motion.controls import brow_offsets

    pts = astronaut_face.landmarks.astype(np.float64)
    frame = HeadFrame.of(pts)
    ref = frame.normalise(pts)
    up = frame.scale * (brow_offsets(ref, "right_eye") + brow_offsets(ref, "left_eye")) / 3   # 0.1 eye widths
    brows = list(L.RIGHT_BROW + L.LEFT_BROW)
    height = -up[brows, 1].mean()
    f = OneEuroFilter(options, scale=frame.scale)
    amounts = [0.0] * 10 + [0.5, 1.0, 1.0, 1.0, 0.5] + [0.0] * 10
    rise = [-(f(pts + a * up, 1 / 30).astype(np.float64) - pts)[brows, 1].mean() / height for a in amounts]
    assert (max(rise) >= 0.85) == survives, max(rise)


def test_a_slow_drift_moves_every_frame_and_then_rests(astronaut_face):
    """A head drifting slowly (0.004 face sizes a frame, a 5-degree turn over two seconds) leaves
    the still-hold once and then moves on every frame: released in steps of the threshold, it
    would stand still for two frames and jump on the third. When the drift stops the face comes to
    rest and stays bit for bit."""
    pts = astronaut_face.landmarks.astype(np.float64)
    frame = HeadFrame.of(pts)
    f = OneEuroFilter(SmoothOptions(), scale=frame.scale)
    drift = [0.004 * frame.scale * k for k in range(60)] + [0.004 * frame.scale * 59] * 40
    out = np.array([f(pts + [d, 0, 0], 1 / 30)[0, 0] for d in drift], dtype=np.float64)
    steps = np.diff(out) / frame.scale
    start = int(np.argmax(steps > 0))
    assert 0 < start < 10
    assert (steps[start:58] > 0.001).all(), steps[start:58].round(4)
    assert (steps[80:] == 0).all()


def test_a_slowly_parting_mouth_keeps_its_shape_through_the_still_hold(astronaut_face):
    """Lips that part slowly in a lens (the middle moves most, the corners not at all) come out as
    the same lens, scaled: the still-hold moves the lips and jaw as one part. Held point by point,
    the middle crossed the threshold frames before the sides, and the lips showed a notch."""
    from ugoku.motion.openings import lips_part_offsets

    pts = astronaut_face.landmarks.astype(np.float64)
    frame = HeadFrame.of(pts)
    lens = frame.scale * lips_part_offsets(frame.normalise(pts))
    f = OneEuroFilter(SmoothOptions(), scale=frame.scale)
    lower = list(L.LIPS_INNER_LOWER[1:-1])
    worst, moved = 0.0, 0
    for k in range(90):                               # 0.1 face units over three seconds
        out = f(pts + (0.1 * k / 90) * lens, 1 / 30).astype(np.float64)
        drop = (out - pts)[lower, 1]
        if drop.max() > 1e-6:
            moved += 1
            worst = max(worst, float(np.abs(drop / drop.max() - lens[lower, 1] / lens[lower, 1].max()).max()))
    assert moved > 30
    assert worst < 0.02
    nose = list(L.NOSE)
    assert np.array_equal(out[nose].astype(np.float32), pts[nose].astype(np.float32))


def test_the_driver_s_mouth_is_sampled_where_its_landmarks_are(astronaut_face):
    """The mouth sample is the frame's own pixels around the mouth, with the inner-lip loop where the
    landmarks are; a large frame gives a patch of at most MAX_SIDE pixels, scaled with its loop."""
    import cv2

    from ugoku.motion.mouth import MAX_SIDE, sample_mouth

    crop, pts = astronaut_face.crop, astronaut_face.landmarks.astype(np.float64)
    loop_idx = list(L.inner_mouth_loop())
    s = sample_mouth(crop, pts)
    assert s is not None and max(s.patch.shape[:2]) <= MAX_SIDE
    offset = pts[loop_idx, :2] - s.loop
    assert np.allclose(offset, offset[0], atol=1e-3)                      # one shift for every point
    x0, y0 = np.round(offset[0]).astype(int)
    assert np.array_equal(s.patch, crop[y0:y0 + s.patch.shape[0], x0:x0 + s.patch.shape[1]])
    big = cv2.resize(crop, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
    b = sample_mouth(big, pts * 4)
    assert max(b.patch.shape[:2]) == MAX_SIDE
    assert b.width == pytest.approx(s.width * MAX_SIDE / max(s.patch.shape[:2]), rel=0.05)
    # Off the frame, or closed (no work spent on it): no sample.
    assert sample_mouth(crop[:, : int(pts[61, 0])], pts) is None
    shut = pts.copy()
    shut[list(L.LIPS_INNER_MID), :2] = pts[list(L.LIPS_INNER_MID), :2].mean(0)
    assert sample_mouth(crop, shut) is None
