"""Eye and lip retargeting (--eyes-open, --lips-open): the output's openings meet their targets."""

from dataclasses import replace

import numpy as np
import pytest

from ugoku.face import landmarks as L
from ugoku.motion.controls import Controls, Rig, eye_close_offsets
from ugoku.motion.openings import OpeningTargets, lips_openness, lips_part_offsets
from ugoku.motion.eyes import lid_opening as eye_openness
from ugoku.motion.pose import HeadFrame, MotionExtractor
from ugoku.motion.retarget import Retargeter, RetargetOptions


def _normalised(face):
    pts = face.landmarks.astype(np.float64)
    return pts, HeadFrame.of(pts).normalise(pts)


def _with_lips(ref: np.ndarray, opening: float) -> np.ndarray:
    """The same face with its inner lips parted to `opening` (lens-shaped; 0 = shut)."""
    part = lips_part_offsets(ref)
    per_unit = lips_openness(ref + part) - lips_openness(ref)
    return ref + (opening - lips_openness(ref)) / per_unit * part


def _gaps(shape: np.ndarray) -> np.ndarray:
    """Inner-lip gap of each pair along the mouth, over the mouth width."""
    from ugoku.motion.eyes import eye_axes

    _, _, ey, w = eye_axes(shape, (L.LIPS_INNER_UPPER[0], L.LIPS_INNER_UPPER[-1]))
    return np.array([(shape[b, :2] - shape[a, :2]) @ ey / w for a, b in zip(L.LIPS_INNER_UPPER, L.LIPS_INNER_LOWER)])


def test_an_eye_target_sets_the_opening_and_the_driver_s_blink_still_closes_it(astronaut_face):
    pts, ref = _normalised(astronaut_face)
    rig = Rig(ref)
    for target in (0.1, 0.45):
        r = Retargeter(pts, ref, RetargetOptions(eyes_open=target))
        rest = eye_openness(r(rig.motion(Controls())).points)
        assert rest == pytest.approx([target, target], abs=0.01)
        shut = eye_openness(r(rig.motion(Controls(eye_r=-1.0, eye_l=-1.0))).points)
        assert np.all(shut < 0.01), shut
        half = eye_openness(r(rig.motion(Controls(eye_r=-0.5, eye_l=0.0))).points)
        assert half[0] == pytest.approx(target / 2, abs=0.02) and half[1] == pytest.approx(target, abs=0.01)


def test_eyes_driver_gives_the_driver_s_own_opening_frame_by_frame(astronaut_face):
    """A driver with narrow eyes (0.6 of the photo's opening): relative motion keeps the photo's
    wider eyes; 'driver' gives the output the driver's opening, through a half blink."""
    pts, ref = _normalised(astronaut_face)
    narrow = ref + 0.4 * (eye_close_offsets(ref, "right_eye") + eye_close_offsets(ref, "left_eye"))
    m = MotionExtractor()
    m.set_reference(narrow)
    relative, driver = Retargeter(pts, narrow), Retargeter(pts, narrow, RetargetOptions(eyes_open="driver"))
    assert eye_openness(HeadFrame.of(pts).normalise(relative(m(narrow)).points)) == pytest.approx(eye_openness(ref), abs=0.01)
    for amount in (0.0, 0.5):
        drv = narrow + amount * (eye_close_offsets(narrow, "right_eye") + eye_close_offsets(narrow, "left_eye"))
        out = eye_openness(driver(m(drv)).points)
        assert out == pytest.approx(eye_openness(drv), abs=0.015), amount


def test_lips_follow_the_driver_s_opening_when_its_first_frame_is_open(astronaut_face):
    """The driver's first frame shows the mouth a little open (0.12) and it then closes. Relative
    motion keeps a shut photo's mouth shut throughout (the change is a closing); 'auto' (the default)
    and 'driver' give the driver's opening, lens-shaped like its own, and shut where it is shut."""
    pts, ref = _normalised(astronaut_face)
    shut = _with_lips(ref, 0.0)
    frame = HeadFrame.of(pts)
    source = frame.center + frame.scale * shut          # the photo with its lips shut
    assert lips_openness(shut) == pytest.approx(0.0, abs=1e-6)
    drv_ref = _with_lips(ref, 0.12)
    m = MotionExtractor()
    m.set_reference(drv_ref)
    relative = Retargeter(source, drv_ref, RetargetOptions(lips_open="relative"))
    auto, driver = Retargeter(source, drv_ref), Retargeter(source, drv_ref, RetargetOptions(lips_open="driver"))
    for opening in (0.12, 0.06, 0.0, 0.3):
        drv = _with_lips(ref, opening)
        assert lips_openness(relative(m(drv)).points) == pytest.approx(max(opening - 0.12, 0.0), abs=0.01)
        for r in (auto, driver):
            out = r(m(drv)).points
            assert lips_openness(out) == pytest.approx(opening, abs=0.01), opening
            g = _gaps(out)
            assert g.min() >= -1e-6 and g.argmax() in (4, 5, 6), g      # a lens: widest in the middle


def test_auto_keeps_a_photo_s_parted_lips_relative(astronaut_face):
    """The astronaut smiles with parted lips (0.17): 'auto' leaves them as relative motion puts them;
    a lips target of 0 shuts them at rest and the driver's jaw opens them from there."""
    pts, ref = _normalised(astronaut_face)
    rig = Rig(ref)
    assert lips_openness(ref) > 0.1
    assert OpeningTargets(ref, ref).lips == "relative" and OpeningTargets(_with_lips(ref, 0.0), ref).lips == "driver"
    default, relative = Retargeter(pts, ref), Retargeter(pts, ref, RetargetOptions(lips_open="relative"))
    for c in (Controls(), Controls(jaw=0.5)):
        assert np.allclose(default(rig.motion(c)).points, relative(rig.motion(c)).points)
    closed = Retargeter(pts, ref, RetargetOptions(lips_open=0.0))
    assert lips_openness(closed(rig.motion(Controls())).points) == pytest.approx(0.0, abs=0.01)
    jaw = lips_openness(relative(rig.motion(Controls(jaw=0.5))).points) - lips_openness(ref)
    assert lips_openness(closed(rig.motion(Controls(jaw=0.5))).points) == pytest.approx(jaw, abs=0.01)


def test_a_still_driver_still_returns_the_photo_with_the_defaults(astronaut_face):
    pts, ref = _normalised(astronaut_face)
    r = Retargeter(pts, ref)
    assert np.allclose(r(Rig(ref).motion(Controls())).points, pts, atol=1e-6)


def test_opening_targets_reject_nonsense():
    from ugoku.errors import OptionError

    for bad in ({"eyes_open": 0.9}, {"eyes_open": "wide"}, {"eyes_open": "auto"}, {"lips_open": -0.1},
                {"lips_open": True}, {"lips_open": "open"}):
        with pytest.raises(OptionError, match="open must be"):
            RetargetOptions(**bad)


def test_targets_show_on_the_pixels_to_an_independent_judge(astronaut_face):
    """Rendered with dlib's 68 points reading the result (not the tracker that drove it): an eye
    target of 0.08 narrows the eyes well below the photo's; a lips target of 0.35 opens the mouth
    well beyond the photo's smile."""
    from ugoku.api import AnimateOptions, render_still
    from ugoku.eval import face68 as F

    judge = F.Dlib68()
    base = AnimateOptions(pasteback=False)

    def read(**targets):
        options = replace(base, retarget=RetargetOptions(**targets))
        p = judge(render_still(astronaut_face, Controls(), options).copy()).points
        return (F.eye_aspect(p, F.RIGHT_EYE) + F.eye_aspect(p, F.LEFT_EYE)) / 2, F.mouth_opening(p)

    eyes0, mouth0 = read()
    eyes1, _ = read(eyes_open=0.08)
    _, mouth1 = read(lips_open=0.35)
    assert eyes1 < 0.6 * eyes0, (eyes0, eyes1)
    assert mouth1 > mouth0 + 0.1, (mouth0, mouth1)


def test_cli_refuses_a_bad_opening(capsys, tmp_path, astronaut_png):
    from ugoku.cli import main

    for flag, value in (("--eyes-open", "0.9"), ("--lips-open", "wide")):
        with pytest.raises(SystemExit) as e:
            main(["animate", "-s", str(astronaut_png), "-t", "blink", "-o", str(tmp_path / "o.mp4"), flag, value])
        assert e.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert flag in err and value in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())


def _still_motion(expr):
    from ugoku.motion.pose import MotionFrame

    return MotionFrame(rotation=np.eye(3), scale=1.0, translation=np.zeros(3), expression=expr,
                       eyes=np.ones(2), gaze=np.zeros((2, 2)), mouth=0.0)


def test_a_lower_lip_rolled_down_over_the_chin_does_not_fold_the_skin_under_it(astronaut_face):
    """A driver whose lower lip rolls down (a pout, a tongue out) moves the lip's landmarks 0.15 face
    units down and the chin's not at all: the lip's outer edge passed the landmarks 1-2 px under it,
    and the skin between folded into a hard dark line. The skin under the lip keeps at least half its
    rest height, pushed down in turn below it. (A still driver still returns the photo: see
    test_a_still_driver_still_returns_the_photo_with_the_defaults.)"""
    pts = astronaut_face.landmarks.astype(np.float64)
    ref = HeadFrame.of(pts).normalise(pts)
    roll = np.zeros((478, 3))
    roll[list(L.LIPS_OUTER_LOWER[1:-1]) + list(L.LIPS_INNER_LOWER[1:-1]), 1] = 0.15
    r = Retargeter(pts, ref, RetargetOptions(lips_open="relative"))
    shape = r.frame.normalise(r(_still_motion(roll)).points)
    # The lip's edge and the mesh points just under it (MediaPipe's numbering).
    for lip, skin in ((17, 18), (17, 83), (17, 313), (84, 83), (314, 313), (181, 182), (405, 406), (91, 106), (321, 335)):
        assert shape[skin, 1] - shape[lip, 1] >= 0.5 * (ref[skin, 1] - ref[lip, 1]) - 1e-6
    assert len(r.under_lip) > 20
    for v, ups, rest in r.under_lip:
        assert np.all(shape[v, 1] - shape[ups, 1] >= 0.5 * rest - 1e-6)
    chin = [v for v, _, _ in r.under_lip]
    assert shape[18, 1] > shape[17, 1] and ref[18, 1] - ref[17, 1] < 0.15     # it would have crossed
    assert np.abs(shape[chin, 1] - ref[chin, 1]).max() > 0.05                 # the skin was pushed
