import os

import av
import numpy as np
import pytest

from conftest import attested
from ugoku.api import DrivingMotion, animate
from ugoku.cli import main


def _frames(path):
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def test_animate_writes_every_driving_frame(tmp_path, astronaut_png, synth_driver):
    out = tmp_path / "a.mp4"
    r = animate(astronaut_png, synth_driver, out, attested(pasteback=False))
    assert r.frames == 40 and r.lost_frames == 0 and (r.width, r.height) == (512, 512)
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        assert v.codec_context.name == "h264" and float(v.average_rate) == pytest.approx(25.0)
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask      # not the temporary file's private mode
    frames = _frames(out)
    assert len(frames) == 40
    # The motion is visible: the face region changes over the clip, the corners never do.
    diffs = [np.abs(f.astype(int) - frames[0].astype(int)).max(axis=2) for f in frames]
    assert max(d[150:350, 150:350].mean() for d in diffs) > 3
    assert max(d[:10, :10].mean() for d in diffs) < 2.5


def test_pasteback_keeps_the_photo_size(tmp_path, synth_driver, astronaut_rgb):
    import cv2

    from ugoku.io.image import write_image

    big = cv2.resize(astronaut_rgb, (1001, 1001), interpolation=cv2.INTER_CUBIC)   # odd size, too
    src = write_image(tmp_path / "big.png", big)
    r = animate(src, synth_driver, tmp_path / "p.mp4", attested(max_frames=6))
    assert (r.width, r.height) == (1001, 1001) and r.frames == 6
    first = _frames(tmp_path / "p.mp4")[0]
    assert first.shape[:2] == (1002, 1002)          # H.264 4:2:0 needs even sizes: padded by one
    mse = ((first[:1001, :1001].astype(float) - big) ** 2).mean()
    assert 10 * np.log10(255 ** 2 / mse) > 35          # the photo at rest, through H.264


def test_still_driver_gives_identical_frames(astronaut_face, astronaut_rgb):
    from ugoku.api import make_renderer
    from ugoku.motion.retarget import Retargeter

    dm = DrivingMotion([astronaut_rgb] * 12, fps=25)
    motions = list(dm)
    retarget = Retargeter(astronaut_face.landmarks, dm.reference)
    renderer = make_renderer(astronaut_face, pasteback=False)
    outs = [renderer.render(retarget(m)).copy() for m in motions]
    assert all(np.array_equal(o, outs[0]) for o in outs[1:])
    assert np.array_equal(outs[0], astronaut_face.crop)          # and it is the source at rest
    # The whole compose stage, with the driver's mouth sampled in every frame, is still too.
    from ugoku.api import AnimateOptions, Composer

    assert all(m.mouth_sample is not None for m in motions)
    compose = Composer(astronaut_face, make_renderer(astronaut_face, pasteback=False), AnimateOptions())
    composed = [compose(retarget(m), m.mouth_sample).copy() for m in motions]
    assert all(np.array_equal(o, composed[0]) for o in composed[1:])


def test_lost_faces_are_held_and_counted(astronaut_rgb):
    blank = np.full_like(astronaut_rgb, 127)
    seq = [blank, blank] + [astronaut_rgb] * 4 + [blank] * 3 + [astronaut_rgb] * 2
    dm = DrivingMotion(seq, fps=25)
    motions = list(dm)
    assert dm.count == 11 and dm.lost == 5 and dm.tracked == 6
    assert motions[0] is None and motions[1] is None          # before the first face: the source at rest
    held = motions[6:9]
    assert all(m is not None and not m.tracked for m in held)
    assert np.array_equal(held[0].expression, motions[5].expression)


def test_demo_runs(tmp_path, capsys):
    out = tmp_path / "demo.mp4"
    assert main(["demo", "-o", str(out), "--seconds", "1", "-q"]) == 0
    assert "wrote" in capsys.readouterr().out
    assert len(_frames(out)) == 25
