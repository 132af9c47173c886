"""Bad input: one sentence naming the file and the fix, exit code 2, no traceback, nothing left behind."""

import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

from ugoku.cli import main


def _run(capsys, argv, out_dir):
    before = set(out_dir.iterdir())
    code = main(argv + ["--attest", "public-domain"])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err.startswith("ugoku: error: ") and "\n" not in err and "Traceback" not in err
    assert set(out_dir.iterdir()) == before, "an output or temporary file was left behind"
    return err


@pytest.fixture
def out_dir(tmp_path):
    d = tmp_path / "out"
    d.mkdir()
    return d


def test_missing_source(capsys, out_dir, synth_driver):
    err = _run(capsys, ["animate", "-s", "nowhere.jpg", "-d", str(synth_driver), "-o", str(out_dir / "o.mp4")], out_dir)
    assert "nowhere.jpg" in err and "not found" in err


def test_text_file_named_jpg(capsys, out_dir, tmp_path, synth_driver):
    fake = tmp_path / "photo.jpg"
    fake.write_text("this is not an image\n")
    err = _run(capsys, ["animate", "-s", str(fake), "-d", str(synth_driver), "-o", str(out_dir / "o.mp4")], out_dir)
    assert "photo.jpg" in err and "not a readable image" in err


def test_image_too_large(capsys, out_dir, tmp_path, synth_driver):
    from PIL import Image

    big = tmp_path / "huge.png"
    Image.new("RGB", (17000, 8)).save(big)
    err = _run(capsys, ["animate", "-s", str(big), "-d", str(synth_driver), "-o", str(out_dir / "o.mp4")], out_dir)
    assert "huge.png" in err and "17000x8" in err and "downscale" in err


def test_image_so_large_that_pillow_will_not_open_it(capsys, out_dir, tmp_path, synth_driver):
    """A PNG whose header declares 20000x20000 (400 megapixels): Pillow refuses to open it at all (a
    decompression bomb), which came out as a traceback."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    big = tmp_path / "bomb.png"
    big.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0))
                    + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    err = _run(capsys, ["animate", "-s", str(big), "-d", str(synth_driver), "-o", str(out_dir / "o.mp4")], out_dir)
    assert "bomb.png" in err and "larger than ugoku handles" in err and "downscale" in err


def test_source_without_a_face(capsys, out_dir, tmp_path, synth_driver):
    from ugoku.io.image import write_image

    rng = np.random.default_rng(0)
    img = tmp_path / "wall.png"
    write_image(img, rng.integers(90, 110, size=(300, 400, 3), dtype=np.uint8))
    err = _run(capsys, ["animate", "-s", str(img), "-d", str(synth_driver), "-o", str(out_dir / "o.mp4")], out_dir)
    assert "wall.png" in err and "no face" in err


def test_face_index_out_of_range(capsys, out_dir, astronaut_png, synth_driver):
    err = _run(capsys, ["animate", "-s", str(astronaut_png), "-d", str(synth_driver), "-o", str(out_dir / "o.mp4"),
                        "--face-index", "3"], out_dir)
    assert "--face-index" in err


def test_missing_driver(capsys, out_dir, astronaut_png):
    err = _run(capsys, ["animate", "-s", str(astronaut_png), "-d", "gone.mp4", "-o", str(out_dir / "o.mp4")], out_dir)
    assert "gone.mp4" in err


def test_empty_mp4(capsys, out_dir, tmp_path, astronaut_png):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    err = _run(capsys, ["animate", "-s", str(astronaut_png), "-d", str(empty), "-o", str(out_dir / "o.mp4")], out_dir)
    assert "empty.mp4" in err and "empty" in err


def test_truncated_mp4(capsys, out_dir, tmp_path, astronaut_png, synth_driver):
    data = synth_driver.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    err = _run(capsys, ["animate", "-s", str(astronaut_png), "-d", str(cut), "-o", str(out_dir / "o.mp4")], out_dir)
    assert "cut.mp4" in err and "re-export" in err


def test_driver_with_no_face_in_any_frame(capsys, out_dir, tmp_path, astronaut_png):
    from ugoku.io.video import VideoSink

    noise = tmp_path / "noface.mp4"
    rng = np.random.default_rng(0)
    with VideoSink(noise, 128, 128, Fraction(25)) as sink:
        for _ in range(8):
            sink.write(rng.integers(0, 255, size=(128, 128, 3), dtype=np.uint8))
        sink.commit()
    err = _run(capsys, ["animate", "-s", str(astronaut_png), "-d", str(noise), "-o", str(out_dir / "o.mp4")], out_dir)
    assert "noface.mp4" in err and "no face" in err


def test_output_in_missing_folder(capsys, out_dir, astronaut_png, synth_driver):
    target = out_dir / "nope" / "o.mp4"
    err = _run(capsys, ["animate", "-s", str(astronaut_png), "-d", str(synth_driver), "-o", str(target)], out_dir)
    assert "nope" in err and "does not exist" in err


def test_output_with_wrong_suffix(capsys, out_dir, astronaut_png, synth_driver):
    err = _run(capsys, ["animate", "-s", str(astronaut_png), "-d", str(synth_driver), "-o", str(out_dir / "o.gif")], out_dir)
    assert "o.gif" in err and ".mp4" in err


def test_help_loads_no_heavy_module():
    code = ("import sys; from ugoku.cli import build_parser; build_parser().format_help(); "
            "heavy = [m for m in ('numpy', 'cv2', 'mediapipe', 'av') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("value", ["follow", "2,0", "left"])
def test_edit_gaze_asks_for_a_direction(capsys, value):
    # A still has no driver to follow: the message offers only what edit takes.
    from ugoku.cli import build_parser

    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["edit", "-s", "a.jpg", "-o", "b.png", "--gaze", value])
    err = capsys.readouterr().err
    assert exc.value.code == 2
    assert "use H,V with each between -1 and 1" in err and "follow" not in err.replace(value, "")
