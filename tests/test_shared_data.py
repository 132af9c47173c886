"""Integration on the real portraits and driving videos in ../shared/data (skipped without them)."""

import av
import numpy as np
import pytest

from conftest import CONSENT_ON_FILE, attested, shared_data
from ugoku.api import animate

PORTRAITS = ["s0", "s2", "s5", "s6", "s7", "s9", "s12", "s42"]


@pytest.mark.parametrize("name", PORTRAITS)
def test_every_portrait_animates_with_pasteback(tmp_path, name):
    data = shared_data()
    src = data / "portraits" / f"{name}.jpg"
    out = tmp_path / f"{name}.mp4"
    r = animate(src, data / "driving" / "d0.mp4", out, attested(CONSENT_ON_FILE, max_frames=20))
    from ugoku.io.image import read_image

    photo = read_image(src)
    assert (r.height, r.width) == photo.shape[:2] and r.frames == 20 and r.lost_frames == 0
    with av.open(str(out)) as c:
        last = None
        for last in c.decode(video=0):
            pass
        frame = last.to_ndarray(format="rgb24")[: photo.shape[0], : photo.shape[1]]
    # Paste-back touches only the face's surroundings: the photo's corners are unchanged but for the
    # watermark (2.5 grey levels RMS per channel, over the whole frame) and H.264.
    for sl in ((slice(0, 6), slice(0, 6)), (slice(-6, None), slice(-6, None))):
        assert np.abs(frame[sl].astype(int) - photo[sl]).mean() < 6


def test_driver_audio_is_kept(tmp_path):
    data = shared_data()
    out = tmp_path / "talk.mp4"
    animate(data / "portraits" / "s12.jpg", data / "driving" / "d3.mp4", out,
            attested(CONSENT_ON_FILE, max_frames=60, pasteback=False))
    with av.open(str(out)) as c:
        assert c.streams.audio and c.streams.audio[0].codec_context.name == "aac"
        video_s = float(c.streams.video[0].frames / c.streams.video[0].average_rate)
        audio = c.streams.audio[0]
        audio_s = float(audio.duration * audio.time_base) if audio.duration else None
    assert video_s == pytest.approx(2.0, abs=0.05)
    assert audio_s is not None and audio_s == pytest.approx(video_s, abs=0.1)
