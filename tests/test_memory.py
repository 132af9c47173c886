"""The person's own mouth memory (motion/memory.py and its use in the compose stage), on generated data."""

import dataclasses

import cv2
import numpy as np
import pytest

from conftest import PUBLIC_DOMAIN, attested, shared_data
from test_compose import I2, _driver_mouth, closed_mouth, mouth_halves, opened
from ugoku.errors import InputError
from ugoku.face import landmarks as L
from ugoku.motion.controls import Controls
from ugoku.motion.memory import OPENING_BANDS, BankBuilder, MemoryOptions, MouthBank, loop_shape, shape_distance
from ugoku.motion.mouth import MouthSample, loop_opening
from ugoku.render.compose import MouthInterior


@pytest.fixture(scope="module")
def closed_mouth_face():
    return closed_mouth()


def _bank(*samples: MouthSample) -> MouthBank:
    samples = sorted(samples, key=lambda s: loop_opening(s.loop))
    return MouthBank(tuple(samples), np.array([loop_opening(s.loop) for s in samples]),
                     np.array([loop_shape(s.loop) for s in samples]))


def _sample_like(loop: np.ndarray, bright_at_top: bool) -> MouthSample:
    """A mouth sample whose inner-lip loop has the shape of `loop` (20, 2): one half of its opening
    white (teeth), the other dark red, in tan skin with violet lips (as `_driver_mouth`)."""
    loop = np.asarray(loop, np.float64)
    loop = loop - loop.min(0) + 20
    w, h = np.ceil(loop.max(0) + 20).astype(int)
    patch = np.zeros((h, w, 3), np.uint8)
    patch[:] = (200, 160, 130)
    patch[10:h - 10, 10:w - 10] = (150, 80, 170)
    inside = np.zeros((h, w), np.uint8)
    cv2.fillPoly(inside, [np.round(loop).astype(np.int32)], 1)
    cv2.dilate(inside, np.ones((5, 5), np.uint8), dst=inside)
    mid = (loop[:, 1].min() + loop[:, 1].max()) / 2
    upper = np.arange(h)[:, None] < mid
    top, bottom = ((235, 235, 225), (70, 20, 25)) if bright_at_top else ((70, 20, 25), (235, 235, 225))
    patch[(inside > 0) & upper] = top
    patch[(inside > 0) & ~upper] = bottom
    return MouthSample(patch, loop.astype(np.float32), np.array([150.0, 80, 170]), np.array([200.0, 160, 130]))


def test_loop_shape_ignores_where_the_mouth_is_its_size_and_tilt():
    loop = _driver_mouth(True).loop.astype(np.float64)
    a = np.radians(25)
    R = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    moved = 2.5 * loop @ R.T + [300, -40]
    assert shape_distance(loop_shape(loop), loop_shape(moved)) < 1e-9
    wider = loop.copy()
    wider[len(L.LIPS_INNER_UPPER):, 1] += 10               # the lower lip drops: another shape
    assert shape_distance(loop_shape(loop), loop_shape(wider)) > 0.05


def test_the_person_s_own_interior_comes_before_the_driver_s(closed_mouth_face):
    """A bank sample with its teeth at the bottom wins over a driver's sample with its teeth at the
    top; a bank sample whose mouth shape is far from the target's leaves the driver's in place."""
    crop, pts = closed_mouth_face
    p = opened(pts, 0.45)
    _, top, bottom = mouth_halves(crop.shape[:2], p)

    own = _sample_like(p[list(L.inner_mouth_loop()), :2] * 0.8, bright_at_top=False)
    out = MouthInterior(crop, pts, I2, bank=_bank(own))(crop.copy(), p, _driver_mouth(True)).astype(float)
    assert out[bottom].mean() > out[top].mean() + 40            # the person's teeth, where theirs are

    slit = _sample_like(own.loop * [1.0, 0.2], bright_at_top=False)          # a barely open mouth
    assert shape_distance(loop_shape(slit.loop), loop_shape(p[list(L.inner_mouth_loop()), :2])) > 0.12
    out = MouthInterior(crop, pts, I2, bank=_bank(slit))(crop.copy(), p, _driver_mouth(True)).astype(float)
    assert out[top].mean() > out[bottom].mean() + 40            # too unlike: the driver's interior shows


def test_pick_holds_the_last_sample_while_it_fits_about_as_well():
    base = _driver_mouth(True)
    taller = dataclasses.replace(base, loop=base.loop * [1.0, 1.15] - [0, 4])
    bank = _bank(base, taller)
    mid = (base.loop + taller.loop) / 2
    first, _ = bank.pick(mid)
    other = 1 - first
    assert bank.pick(mid, previous=other)[0] == other          # about as good: no switch
    assert bank.pick(bank.samples[first].loop, previous=other)[0] == first   # clearly better: switch
    assert MouthBank((), np.zeros(0), np.zeros((0, 20, 2))).pick(mid) == (-1, float("inf"))


def test_the_bank_keeps_a_few_sharp_samples_per_opening_band(closed_mouth_face):
    """Forty frames of a mouth opening and closing: samples are kept in every band the mouth passed,
    never more than per_band a band, in order of opening; a turned head is not sampled."""
    crop, pts = closed_mouth_face
    mouth = MouthInterior(crop, pts, I2)
    builder = BankBuilder(pts, MemoryOptions(per_band=2))
    rng = np.random.default_rng(3)
    for i, jaw in enumerate(rng.uniform(0.0, 0.6, 40)):
        p = opened(pts, jaw)
        frame = mouth(crop.copy(), p)
        builder.add(frame, p, i)
    bank = builder.bank()
    bands = np.searchsorted(OPENING_BANDS, bank.openings, side="right") - 1
    assert len(bank) >= 4 and len(set(bands)) >= 3
    assert np.all(np.diff(bank.openings) >= 0)
    assert max(np.bincount(bands)) <= 2
    assert all(0.05 <= o for o in bank.openings)

    p = opened(pts, 0.45).astype(np.float64)
    c = p[:, :3].mean(0)
    a = np.radians(30)
    R = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    turned = (p[:, :3] - c) @ R.T + c
    assert not BankBuilder(pts).add(mouth(crop.copy(), p.astype(np.float32)), turned)


@pytest.fixture(scope="module")
def talking_astronaut(tmp_path_factory, astronaut_face, closed_mouth_face):
    """A 10 fps clip of the astronaut opening and closing the mouth (drawn interiors), and one of the
    astronaut with the lips shut throughout (the photo's own mouth is a little open)."""
    from ugoku.api import AnimateOptions, render_still
    from ugoku.io.video import VideoSink

    folder = tmp_path_factory.mktemp("memory")
    opts = AnimateOptions(pasteback=False)
    jaws = np.abs(np.sin(np.linspace(0, 3 * np.pi, 30))) * 0.6
    clips = {"talking": [render_still(astronaut_face, Controls(jaw=float(j)), opts) for j in jaws],
             "shut": [closed_mouth_face[0]] * 12}
    for name, frames in clips.items():
        clips[name] = folder / f"{name}.mp4"
        with VideoSink(clips[name], 512, 512, 10) as sink:
            for f in frames:
                sink.write(f)
            sink.commit()
    return clips


def test_load_memory_keeps_the_person_s_mouths_and_refuses_a_shut_one(astronaut_face, talking_astronaut):
    from ugoku.api import load_memory

    bank = load_memory(talking_astronaut["talking"], astronaut_face)
    assert len(bank) >= 4 and bank.openings.max() > 0.2
    assert bank.turns.max() < 5                                 # the same pose as the photo
    with pytest.raises(InputError, match=r"shut.mp4: the mouth is never open"):
        load_memory(talking_astronaut["shut"], astronaut_face)


def test_edit_with_memory_records_it_and_shows_the_person_s_interior(tmp_path, astronaut_png, astronaut_face,
                                                                    talking_astronaut):
    """The memory video's fingerprint goes into the generation's record; the opened mouth differs from
    the one painted without memory."""
    from ugoku.api import edit
    from ugoku.io.image import read_image

    c = Controls(jaw=0.5)
    with_mem, gen = edit(astronaut_png, tmp_path / "mem.png", c, attested(pasteback=False),
                         memory=talking_astronaut["talking"])
    without, _ = edit(astronaut_png, tmp_path / "plain.png", c, attested(pasteback=False))
    assert gen.driving["memory"]["name"] == "talking.mp4" and len(gen.driving["memory"]["sha256"]) == 64
    a, b = read_image(with_mem).astype(float), read_image(without).astype(float)
    changed = np.abs(a - b).max(2) > 30
    ys, xs = np.nonzero(changed)
    lips = astronaut_face.landmarks[list(L.LIPS_OUTER_UPPER + L.LIPS_OUTER_LOWER), :2]
    (x0, y0), (x1, y1) = lips.min(0), lips.max(0)
    assert changed.sum() > 200                                     # only in the mouth, opened downwards
    assert x0 <= xs.min() and xs.max() <= x1 and y0 <= ys.min() and ys.max() <= y1 + (y1 - y0)


@pytest.mark.parametrize("given, says", [("nope.mp4", "nope.mp4: file not found; check the path to the memory video."),
                                         ("photo", "astronaut.png: is a photo; the memory must be a video")])
def test_cli_refuses_a_missing_memory_video_or_a_photo(tmp_path, astronaut_png, capsys, given, says):
    from ugoku.cli import main

    memory = astronaut_png if given == "photo" else tmp_path / given
    rc = main(["edit", "-s", str(astronaut_png), "-o", str(tmp_path / "o.png"), "--mouth-open", "0.5",
               "--memory", str(memory), "--attest", PUBLIC_DOMAIN])
    err = capsys.readouterr().err
    assert rc == 2 and says in err
    assert not (tmp_path / "o.png").exists()


def test_a_video_of_someone_else_is_refused(astronaut_face):
    from ugoku.api import load_memory

    other = shared_data() / "driving" / "d6.mp4"
    with pytest.raises(InputError, match=r"d6.mp4: the face in it is not the person in the photo"):
        load_memory(other, astronaut_face, MemoryOptions(max_seconds=3))
