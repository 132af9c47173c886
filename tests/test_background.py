"""The still background: segmentation, the filled plate, the two-layer render."""

import cv2
import numpy as np
import pytest

from ugoku.errors import OptionError
from ugoku.motion.retarget import Retargeter
from ugoku.render.background import BackgroundOptions, composite, fill_holes, mirrored_detail, split_layers
from ugoku.render.warp import Renderer, RenderOptions

from test_render import IDENTITY_M, _motion

WALL = np.array([40.0, 90.0, 200.0])


def test_fill_continues_the_known_colours_into_the_hole():
    img = np.zeros((64, 96, 3), np.float32)
    img[:, :48] = (200, 40, 40)
    img[:, 48:] = (40, 40, 200)
    known = np.ones((64, 96), np.float32)
    known[16:48, 30:66] = 0                         # a hole across the colour edge
    img[known == 0] = 0                             # what was there must not matter
    out = fill_holes(img, known)
    assert np.array_equal(out[known == 1], img[known == 1])
    assert np.abs(out[32, 31] - (200, 40, 40)).max() < 30       # near the red side: red
    assert np.abs(out[32, 64] - (40, 40, 200)).max() < 30       # near the blue side: blue
    mid = out[32, 48]
    assert 60 < mid[0] < 180 and 60 < mid[2] < 180              # a blend in between, no black
    assert np.allclose(fill_holes(img, np.zeros((64, 96))), img.reshape(-1, 3).mean(0))


def test_mirrored_detail_carries_the_walls_grain_and_fades():
    rng = np.random.default_rng(0)
    img = (128 + rng.normal(0, 20, (64, 128, 3))).astype(np.float32)
    known = np.ones((64, 128), bool)
    known[:, 64:] = False
    d = mirrored_detail(img, known, sigma=2.0, reach=20.0)
    assert np.all(d[known] == 0)
    assert d[:, 66:70].std() > 8                    # next to the edge: texture like the wall's
    assert np.all(d[:, 90:] == 0)                   # beyond the reach: none


def test_split_and_composite_give_back_the_photo_exactly():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    matte = np.clip(rng.normal(0.5, 0.5, (40, 50)), 0, 1).astype(np.float32)
    layers = split_layers(img, matte, BackgroundOptions(halo=2.0))
    out = np.zeros_like(img)
    composite(layers.person, layers.plate, out)
    assert np.array_equal(out, img)


def test_bad_background_mode_is_refused():
    with pytest.raises(OptionError, match="still"):
        BackgroundOptions(mode="blur")


@pytest.fixture(scope="module")
def wall_face(astronaut_face):
    """The astronaut in front of a grainy blue wall (the known background), found afresh."""
    from ugoku.face.source import find_source_face

    rng = np.random.default_rng(3)
    wall = WALL + rng.normal(0, 6, astronaut_face.crop.shape)
    m = astronaut_face.matte[..., None]
    scene = np.clip(np.rint(m * astronaut_face.crop + (1 - m) * wall), 0, 255).astype(np.uint8)
    face = find_source_face(scene)
    assert face and face.matte is not None
    return face


def _render(face, target, mode, pasteback=False):
    opts = RenderOptions(background=BackgroundOptions(mode=mode))
    if pasteback:
        r = Renderer(face.landmarks, 512, face.image, face.M_crop2orig, opts, face.matte)
    else:
        r = Renderer(face.landmarks, 512, face.crop, IDENTITY_M, opts, face.matte)
    return r, r.render(target).copy()


def test_the_matte_covers_the_person_and_not_the_wall(wall_face):
    m = wall_face.matte
    nose = np.round(wall_face.landmarks[1, :2]).astype(int)
    assert m[nose[1], nose[0]] > 0.99
    assert m[:40, :40].max() < 0.05 and m[:40, -40:].max() < 0.05     # the wall in the top corners


def test_identity_motion_with_layers_returns_the_source_exactly(wall_face, astronaut_face):
    mx, m = _motion(wall_face.landmarks)
    target = Retargeter(wall_face.landmarks, mx.reference)(m)
    r, out = _render(wall_face, target, "still")
    assert r.layers is not None
    assert np.array_equal(out, wall_face.crop)
    mx, m = _motion(astronaut_face.landmarks)
    target = Retargeter(astronaut_face.landmarks, mx.reference)(m)
    r, out = _render(astronaut_face, target, "still", pasteback=True)
    assert r.layers is not None
    assert np.array_equal(out, astronaut_face.image)


def test_the_wall_stays_still_and_what_the_head_uncovers_is_wall(wall_face):
    face = wall_face
    mx, m = _motion(face.landmarks, yaw=0.2, shift=(0.4, 0.0))
    target = Retargeter(face.landmarks, mx.reference)(m)
    r, still = _render(face, target, "still")
    _, warp = _render(face, target, "warp")
    x0, y0, x1, y1 = r.region                     # the renderer's map covers this part of the canvas
    moved_matte = face.matte.copy()
    moved_matte[y0:y1, x0:x1] = cv2.remap(face.matte, r.dense, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    assert (moved_matte > 0.5).sum() > 0.3 * (face.matte > 0.5).sum()      # the person is still there
    # The wall: away from the person before and after (beyond the plate's halo), every pixel is the photo's.
    person = cv2.dilate(((face.matte > 0.01) | (moved_matte > 0.01)).astype(np.uint8), np.ones((25, 25), np.uint8))
    wall = person == 0
    assert wall.mean() > 0.15
    assert np.array_equal(still[wall], face.crop[wall])
    assert (warp[wall] != face.crop[wall]).any(1).mean() > 0.2             # one layer bends the wall (0.40)
    # Uncovered: the person was there and has gone: the plate shows the wall's colour, not a ghost of
    # the hair or skin that was there.
    uncovered = (face.matte > 0.98) & (moved_matte < 0.02)
    assert uncovered.sum() > 500
    assert np.abs(still[uncovered].astype(float).mean(0) - WALL).max() < 12
    assert still[uncovered].astype(float).std(0).max() > 2                 # with grain, not a flat colour


def test_background_option_from_the_command_line(wall_face, tmp_path):
    from dataclasses import replace

    from ugoku.api import AnimateOptions, load_source, render_still
    from ugoku.cli import main
    from ugoku.eval import metrics as M
    from ugoku.io.image import read_image, write_image
    from ugoku.motion.controls import REST

    photo = tmp_path / "wall.png"
    write_image(photo, wall_face.image)
    face = load_source(photo)
    c = replace(REST, yaw=20.0, roll=10.0)
    renders = {m: render_still(face, c, AnimateOptions(render=RenderOptions(background=BackgroundOptions(mode=m))))
               for m in ("still", "warp")}
    apart = M.psnr(renders["still"], renders["warp"])                        # the two really differ (37.8 dB)
    assert apart < 40
    for mode in ("warp", "still"):
        out = tmp_path / f"{mode}.png"
        assert main(["edit", "-s", str(photo), "-o", str(out), "--attest", "public-domain",
                     "--yaw", "20", "--roll", "10", "--background", mode]) == 0
        got = read_image(out)                                                # the render plus a faint mark
        own, other = M.psnr(got, renders[mode]), M.psnr(got, renders["warp" if mode == "still" else "still"])
        assert own > 38 and own > other + 3                                 # 40.2 against 35.8
