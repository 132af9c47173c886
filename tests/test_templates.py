"""Templates, recorded motion, image-driven animation and still editing, judged by dlib (not by the
MediaPipe tracker that ugoku moves faces with)."""

import json

import numpy as np
import pytest

from conftest import CONSENT_ON_FILE, attested
from ugoku.errors import InputError
from ugoku.eval import face68 as F
from ugoku.motion.controls import BOUNDS, CHANNELS, REST, Controls, Rig, angles_from_rotation, rotation_from_angles
from ugoku.motion.templates import BUILTIN, builtin, load, parse, save, to_json
from ugoku.motion.phrases import parse_expression


@pytest.fixture(scope="module")
def judge():
    return F.Dlib68()


@pytest.fixture(scope="module")
def rig(astronaut_face):
    from ugoku.api import source_reference

    return Rig(source_reference(astronaut_face))


def _still(face, c):
    from ugoku.api import AnimateOptions, render_still

    return render_still(face, c, AnimateOptions(pasteback=False))


def _signals(judge, rgb):
    p = judge(rgb).points
    yaw, pitch, roll = F.head_pose(p, rgb.shape[1], rgb.shape[0])
    return {"eye_r": F.eye_aspect(p, F.RIGHT_EYE), "eye_l": F.eye_aspect(p, F.LEFT_EYE),
            "mouth": F.mouth_opening(p), "brows": F.brow_raise(p), "smile": F.smile_lift(p),
            "yaw": yaw, "pitch": pitch, "gaze_h": F.pupil_offset(rgb, p)[0]}


# ---- controls and the rig --------------------------------------------------------------------------


def test_angles_round_trip_and_signs():
    for a in [(20, 0, 0), (0, -15, 0), (0, 0, 10), (12, -8, 5)]:
        assert np.allclose(angles_from_rotation(rotation_from_angles(*a)), a, atol=1e-9)
    # yaw > 0 turns the nose (towards the camera, z < 0) to the image's right; pitch > 0 moves it down.
    nose = np.array([0.0, 0.0, -1.0])
    assert (rotation_from_angles(20, 0, 0) @ nose)[0] > 0.3
    assert (rotation_from_angles(0, 15, 0) @ nose)[1] > 0.2


def test_the_rig_reads_back_what_it_drew(rig):
    c = Controls(eye_r=-0.7, eye_l=0.5, brow_r=0.4, brow_l=-0.3, smile=0.6, jaw=0.5, mouth_wide=-0.3,
                 gaze_h=0.5, gaze_v=-0.3)
    got = rig.solve(rig.reference + rig.expression(c))
    for name in ("eye_r", "eye_l", "brow_r", "brow_l", "smile", "jaw", "mouth_wide", "gaze_h", "gaze_v"):
        assert getattr(got, name) == pytest.approx(getattr(c, name), abs=0.03), name
    frown = rig.solve(rig.reference + rig.expression(Controls(smile=-0.5, jaw=0.9)))
    assert frown.smile == pytest.approx(-0.5, abs=0.03) and frown.jaw == pytest.approx(0.9, abs=0.03)
    assert rig.solve(rig.reference) == REST


def test_rest_controls_leave_the_face_still(rig):
    m = rig.motion(REST)
    assert np.abs(m.expression).max() < 1e-12 and np.allclose(m.rotation, np.eye(3)) and m.scale == 1.0


# ---- built-in templates -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(BUILTIN))
def test_builtin_templates_loop_and_last_2_to_6_seconds(name):
    t = builtin(name, 25.0)
    assert 2.0 <= t.seconds <= 6.0
    rest = np.array(REST.as_row())
    assert np.abs(t.frames[0] - rest).max() < 0.02 and np.abs(t.frames[-1] - rest).max() < 0.05
    assert np.abs(t.frames - rest).max() > 0.3            # it does something


def _peak(t, channel, fn=np.argmax):
    """The middle frame of the template's extreme on `channel` (extremes are often held a while)."""
    v = t.frames[:, CHANNELS.index(channel)]
    at = np.flatnonzero(np.abs(v - v[fn(v)]) < 1e-6)
    return int(at[len(at) // 2])


def test_templates_are_what_they_claim(astronaut_face, judge):
    """dlib sees the blink, the nod's pitch swing, the shake's yaw swing, the smile's corner lift,
    the surprise's brows and mouth, the wink of one eye and the gaze shift."""
    face = astronaut_face
    rest = _signals(judge, _still(face, REST))
    at = lambda name, i: _signals(judge, _still(face, Controls.from_row(builtin(name).frames[i])))  # noqa: E731

    t = builtin("blink")
    closed = at("blink", _peak(t, "eye_r", np.argmin))
    assert closed["eye_r"] < 0.5 * rest["eye_r"] and closed["eye_l"] < 0.5 * rest["eye_l"]

    t = builtin("nod")
    down, up = at("nod", _peak(t, "pitch")), at("nod", _peak(t, "pitch", np.argmin))
    assert down["pitch"] - up["pitch"] > 15

    t = builtin("shake")
    right, left = at("shake", _peak(t, "yaw")), at("shake", _peak(t, "yaw", np.argmin))
    assert right["yaw"] - left["yaw"] > 20 and right["yaw"] > rest["yaw"] > left["yaw"]

    smile = at("smile", _peak(builtin("smile"), "smile"))
    assert smile["smile"] - rest["smile"] > 0.05

    s = at("surprised", _peak(builtin("surprised"), "brow_r"))
    assert s["brows"] - rest["brows"] > 0.05 and s["mouth"] - rest["mouth"] > 0.1

    # dlib's shape prior keeps one closed eye partly open when the other is open, so a wink reads
    # weaker than a blink; the left eye must still read clearly more closed than the right. That
    # ratio moves with the fit's box: keeping the background still (the face pixels unchanged but for
    # 130 at the oval's soft edge) moved it from 1.27 to 1.19.
    w = at("wink", _peak(builtin("wink"), "eye_l", np.argmin))
    assert w["eye_l"] < 0.7 * rest["eye_l"] and w["eye_r"] > 1.1 * w["eye_l"], (w, rest)

    t = builtin("look-around")
    r, lft = at("look-around", _peak(t, "gaze_h")), at("look-around", _peak(t, "gaze_h", np.argmin))
    assert r["gaze_h"] - lft["gaze_h"] > 0.12 and r["gaze_h"] > rest["gaze_h"] > lft["gaze_h"]

    t = builtin("talk")
    jaw = t.frames[:, CHANNELS.index("jaw")]
    talking = np.arange(len(jaw)) > 10                      # a closed mouth between syllables, not the start
    open_, shut = at("talk", int(jaw.argmax())), at("talk", int(np.argmin(np.where(talking, jaw, 9.0))))
    assert open_["mouth"] - shut["mouth"] > 0.08


# ---- template files ---------------------------------------------------------------------------------


def test_template_files_round_trip(tmp_path):
    t = builtin("talk", 25.0)
    p = save(t, tmp_path / "talk.json", source="built in")
    back = load(p)
    assert back.fps == 25.0 and back.name == "talk"
    assert np.allclose(back.frames, t.frames, atol=1e-4)
    doc = json.loads(p.read_text())
    assert set(doc) == {"format", "schema", "ugoku_version", "name", "description", "source", "fps",
                        "channels", "frames"}
    assert all(len(row) == len(CHANNELS) for row in doc["frames"])


def _doc(**changes):
    doc = json.loads(to_json(builtin("blink", 10.0)))
    doc.update(changes)
    return doc


@pytest.mark.parametrize("text, why", [
    ("not json at all", "well-formed JSON"),
    (b"\x80\x03cos\nsystem\nq\x00.".decode("latin-1"), "well-formed JSON"),          # a pickle
    ("[1, 2, 3]", "not a JSON object"),
    (json.dumps(_doc(format="something-else")), "format"),
    (json.dumps(_doc(schema=99)), "newer"),
    (json.dumps(_doc(schema=True)), "schema"),
    (json.dumps(_doc(extra="hidden data")), "unknown key"),
    (json.dumps(_doc(fps=0)), "fps"),
    (json.dumps(_doc(channels=["yaw", "__class__"])), "unknown channel"),
    (json.dumps(_doc(channels=["yaw", "yaw"], frames=[[0, 0]])), "twice"),
    (json.dumps(_doc(channels=["yaw"], frames=[[1e9]])), "outside"),
    (json.dumps(_doc(channels=["yaw"], frames=[["1"]])), "malformed frame 0"),
    (json.dumps(_doc(channels=["yaw"], frames=[[True]])), "malformed frame 0"),
    (json.dumps(_doc(channels=["yaw"], frames=[])), "no frames"),
    (json.dumps(_doc(name="x" * 10_000)), "short text"),
    ('{"format": "ugoku.motion-template", "format": "x"}', "repeats the key"),
    (json.dumps(_doc(channels=["yaw"], frames=[[0]])).replace("[[0]]", "[[NaN]]"), "NaN"),
    ("[" * 100_000 + "]" * 100_000, "well-formed JSON"),
])
def test_malformed_templates_are_refused_in_one_sentence(text, why):
    with pytest.raises(InputError) as e:
        parse(text, "mine.json")
    msg = str(e.value)
    assert msg.startswith("mine.json: ") and why in msg and msg.count("\n") == 0, msg


def test_partial_channel_lists_fill_the_rest_with_rest():
    t = parse(json.dumps(_doc(channels=["jaw"], frames=[[0.5], [0.0]])))
    assert t.frames.shape == (2, len(CHANNELS))
    assert t.frames[0, CHANNELS.index("jaw")] == 0.5 and t.frames[0, CHANNELS.index("zoom")] == 1.0


def test_oversized_or_binary_template_files(tmp_path):
    big = tmp_path / "big.json"
    with open(big, "wb") as f:
        f.seek(40_000_000)
        f.write(b"0")
    with pytest.raises(InputError, match="too big"):
        load(big)
    binary = tmp_path / "bin.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(InputError, match="UTF-8"):
        load(binary)


def test_bounds_cover_every_channel():
    assert set(BOUNDS) == set(CHANNELS)


# ---- recording ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def talking_driver(tmp_path_factory, astronaut_face):
    """4 s at 25 fps of the astronaut opening and closing her mouth (three slow syllables) while her
    head sways and she blinks once: a driving video with a known mouth motion."""
    from fractions import Fraction

    from ugoku.io.video import EncodeOptions, VideoSink

    path = tmp_path_factory.mktemp("rec") / "talking.mp4"
    n = 100
    with VideoSink(path, 512, 512, Fraction(25), options=EncodeOptions(crf=18, preset="ultrafast")) as sink:
        for i in range(n):
            t = i / n
            c = Controls(jaw=0.9 * np.sin(3 * np.pi * t) ** 2, yaw=8 * np.sin(2 * np.pi * t),
                         eye_r=-float(abs(t - 0.5) < 0.03), eye_l=-float(abs(t - 0.5) < 0.03))
            sink.write(_still(astronaut_face, c))
        sink.commit()
    return path


def _mouth_series(judge, path, n):
    from ugoku.eval.measure import video_frames

    out = []
    for i, fr in enumerate(video_frames(path)):
        if i >= n:
            break
        r = judge(fr)
        out.append(F.mouth_opening(r.points) if r else np.nan)
    return np.array(out)


def test_a_recorded_template_round_trips(talking_driver, astronaut_png, tmp_path, judge):
    from ugoku.api import RecordOptions, animate_template, record_template
    from ugoku.eval.metrics import pearson

    t = record_template(talking_driver, RecordOptions())
    p = save(t, tmp_path / "mine.json")
    doc = json.loads(p.read_text())
    assert doc["channels"] == list(CHANNELS) and len(doc["frames"]) == 100   # numbers only, 15 a frame
    assert 0.0 < t.frames[:, CHANNELS.index("jaw")].max() < 2.5
    t = load(p)
    out = animate_template(astronaut_png, t, tmp_path / "replay.mp4", attested(pasteback=False))
    assert out.frames == 100
    r = pearson(_mouth_series(judge, talking_driver, 100), _mouth_series(judge, out.output, 100))
    assert r >= 0.9, r


def test_recording_a_video_without_a_face_is_refused(tmp_path):
    from fractions import Fraction

    from ugoku.api import record_template
    from ugoku.io.video import VideoSink

    path = tmp_path / "grey.mp4"
    with VideoSink(path, 128, 128, Fraction(10)) as sink:
        for _ in range(5):
            sink.write(np.full((128, 128, 3), 120, np.uint8))
        sink.commit()
    with pytest.raises(InputError, match="no face was found"):
        record_template(path)


# ---- image-driven and editing ---------------------------------------------------------------------------


def test_a_driving_photo_gives_its_pose_and_expression(astronaut_face, astronaut_png, tmp_path, judge):
    from ugoku.api import animate_image, render_still
    from ugoku.eval import metrics as M
    from ugoku.io.image import read_image, write_image

    want = Controls(yaw=15, smile=0.8, jaw=0.4)
    driver = write_image(tmp_path / "driver.png", _still(astronaut_face, want))
    out, got, _ = animate_image(astronaut_png, driver, tmp_path / "out.png", attested())
    # MediaPipe reads a single photo's pose about a quarter low (docs/templates.md): 11.3 degrees of the
    # 15 asked for, 10.9 since the mouth interior was redrawn, which moves the whole fit. The jaw is read
    # back at about half (0.2-0.3 of 0.4), so that bar is well clear of zero, not at 0.2.
    assert got.yaw == pytest.approx(0.75 * 15, abs=3) and got.smile > 0.4 and got.jaw > 0.15
    # Every generation carries a random watermark record, and the judge's reading of the written file
    # moves with it (mouth 0.17-0.20 over runs), so the file is checked to be the render plus a faint
    # mark, and the motion is judged on the render itself.
    render = render_still(astronaut_face, got, attested())
    assert M.psnr(read_image(out), render) > 38
    s, rest, d = _signals(judge, render), _signals(judge, astronaut_face.image), _signals(judge, read_image(driver))
    # One photo gives no neutral frame to compare with, and MediaPipe's depth is shallow: the pose is
    # read about a quarter low and a smile partly as a narrower mouth (see docs/templates.md).
    assert abs(s["yaw"] - d["yaw"]) < 6 and s["yaw"] - rest["yaw"] > 6
    assert s["mouth"] - rest["mouth"] > 0.3 * (d["mouth"] - rest["mouth"]) > 0.02
    assert s["smile"] - rest["smile"] > 0.3 * (d["smile"] - rest["smile"]) > 0.02


def test_edit_from_the_command_line(astronaut_png, tmp_path, judge, capsys):
    from ugoku.cli import main
    from ugoku.io.image import read_image

    out = tmp_path / "edit.png"
    assert main(["edit", "-s", str(astronaut_png), "-o", str(out), "--attest", "public-domain",
                 "--mouth-open", "1", "--pitch", "10",
                 "--expression", "a gentle smile, looking left, purple hat"]) == 0
    said = capsys.readouterr().out
    assert "understood: gentle smile, looking left; ignored: purple, hat" in said
    # The file is judged through the same render without its mark: every generation carries a random
    # watermark record, and on this wide-open mouth dlib's pose fit on the marked file once flipped to
    # pitch -40 (its two-fold ambiguity). The file must be that render plus a faint mark.
    from dataclasses import replace

    from ugoku.api import AnimateOptions, load_source, render_still
    from ugoku.eval import metrics as M
    from ugoku.motion.phrases import parse_expression
    from ugoku.motion.retarget import RetargetOptions

    parsed = parse_expression("a gentle smile, looking left, purple hat")
    render = render_still(load_source(astronaut_png), replace(parsed.controls, jaw=1.0, pitch=10.0),
                          AnimateOptions(retarget=RetargetOptions(gaze=parsed.gaze or "keep")))
    assert M.psnr(read_image(out), render) > 38
    s, rest = _signals(judge, render), _signals(judge, read_image(astronaut_png))
    assert s["mouth"] - rest["mouth"] > 0.15 and s["pitch"] - rest["pitch"] > 5
    assert s["gaze_h"] < rest["gaze_h"] - 0.03
    with pytest.raises(SystemExit) as e:                 # argparse: one line on stderr, exit 2
        main(["edit", "-s", str(astronaut_png), "-o", str(out), "--yaw", "90"])
    assert e.value.code == 2 and "outside -45..45" in capsys.readouterr().err


def test_phrases_map_to_controls_and_report_what_was_ignored():
    p = parse_expression("a gentle smile, looking left")
    assert p.controls.smile == pytest.approx(0.4) and p.gaze == pytest.approx((-0.8, 0.0))
    assert p.understood == ("gentle smile", "looking left") and p.ignored == ()
    p = parse_expression("Wide-eyed, big grin and eyes closed; banana")
    assert p.controls.smile == 1.0 and p.controls.eye_l == pytest.approx(0.7 - 1.0)   # wide (0.7), then shut
    assert p.ignored == ("banana",)
    p = parse_expression("slightly angry, head turned right")
    assert p.controls.brow_r < 0 and p.controls.yaw > 5
    assert parse_expression("").understood == ()


def test_cli_template_commands(astronaut_png, talking_driver, tmp_path, capsys):
    from ugoku.cli import main

    assert main(["templates"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in BUILTIN)
    rec = tmp_path / "rec.json"
    assert main(["template", "record", str(talking_driver), "-o", str(rec), "--max-frames", "20"]) == 0
    assert len(load(rec)) == 20
    out = tmp_path / "wink.mp4"
    assert main(["animate", "-s", str(astronaut_png), "-t", "wink", "-o", str(out), "-q", "--no-pasteback",
                 "--attest", "public-domain"]) == 0
    assert out.stat().st_size > 1000
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "ugoku.motion-template"}')
    assert main(["animate", "-s", str(astronaut_png), "-t", str(bad), "-o", str(tmp_path / "x.mp4"),
                 "--attest", "public-domain"]) == 2
    assert "lacks" in capsys.readouterr().err and not (tmp_path / "x.mp4").exists()
    assert main(["animate", "-s", str(astronaut_png), "-t", "moonwalk", "-o", str(tmp_path / "x.mp4"),
                 "--attest", "public-domain"]) == 2


def test_recorded_template_round_trip_on_real_video(tmp_path, judge):
    """Record a real talking-face video, replay it on another person's photo: dlib sees the replay's
    mouth open and close with the original's."""
    from conftest import shared_data
    from ugoku.api import RecordOptions, animate_template, record_template
    from ugoku.eval.metrics import pearson

    data = shared_data()
    video = data / "driving" / "d0.mp4"
    t = record_template(video, RecordOptions(max_frames=150))
    out = animate_template(data / "portraits" / "s2.jpg", load(save(t, tmp_path / "d0.json")),
                           tmp_path / "replay.mp4", attested(CONSENT_ON_FILE, pasteback=False))
    r = pearson(_mouth_series(judge, video, 150), _mouth_series(judge, out.output, 150))
    assert r >= 0.9, r
