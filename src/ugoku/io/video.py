"""Streaming video I/O with PyAV. Convention: frames are RGB uint8 (H, W, 3).

`VideoSource` decodes one frame at a time; `VideoSink` encodes H.264 into a temporary file beside
the destination, muxes the driver's audio in step with the video, and renames on `commit()`. If the
`with` block ends without a commit (an error, Ctrl-C), the temporary file is removed: no partial
output is ever left under the user's name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ugoku.errors import InputError, OutputError
from ugoku.io.image import check_output_path, temp_path_beside

VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi")


@dataclass(frozen=True)
class VideoLimits:
    """Bounds on an input video, checked from its header."""

    max_side: int = 4096
    max_file_bytes: int = 8_000_000_000
    max_fps: float = 240.0


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    width: int
    height: int
    fps: Fraction
    frame_count: int          # from the header; 0 when the container does not say
    has_audio: bool


def _av():
    import av  # lazy: keeps `ugoku --help` fast

    return av


class VideoSource:
    """Iterate the frames of a video file without holding them.

    Use as a context manager; `info` is valid after entering. `frames()` yields RGB uint8 arrays and
    raises InputError if the file turns out to be damaged part-way.
    """

    def __init__(self, path: str | os.PathLike, limits: VideoLimits = VideoLimits(), role: str = "driving video"):
        self.path = Path(path)
        self.limits = limits
        self.role = role            # what the video is for, named in error messages
        self._container = None
        self.info: VideoInfo | None = None
        self.decoded = 0

    def __enter__(self) -> "VideoSource":
        av = _av()
        p = self.path
        if not p.is_file():
            raise InputError(f"{p}: file not found; check the path to the {self.role}.")
        size = p.stat().st_size
        if size == 0:
            raise InputError(f"{p}: file is empty; export the {self.role} again.")
        if size > self.limits.max_file_bytes:
            raise InputError(f"{p}: file is larger than {self.limits.max_file_bytes // 1_000_000_000} GB; "
                             "trim or re-encode it.")
        try:
            self._container = av.open(str(p), mode="r")
        except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{p}: not a readable video ({exc.__class__.__name__}); it may be truncated "
                             "or not a video at all; re-export it as MP4 (H.264).") from None
        try:
            streams = self._container.streams.video
            if not streams:
                raise InputError(f"{p}: has no video track; use a video file as the {self.role}.")
            vs = streams[0]
            vs.thread_type = "AUTO"
            w, h = vs.codec_context.width, vs.codec_context.height
            if not w or not h:
                raise InputError(f"{p}: video track has no frame size; re-export it as MP4 (H.264).")
            if max(w, h) > self.limits.max_side:
                raise InputError(f"{p}: video is {w}x{h}, larger than ugoku handles "
                                 f"({self.limits.max_side} px a side); downscale it first.")
            fps = vs.average_rate or vs.guessed_rate or Fraction(25)
            if not (0 < float(fps) <= self.limits.max_fps):
                fps = Fraction(25)
            self.info = VideoInfo(p, w, h, Fraction(fps), int(vs.frames or 0),
                                  bool(self._container.streams.audio))
        except BaseException:
            self.close()
            raise
        return self

    def frames(self) -> Iterator[np.ndarray]:
        av = _av()
        stream = self._container.streams.video[0]
        try:
            for frame in self._container.decode(stream):
                self.decoded += 1
                yield frame.to_ndarray(format="rgb24")
        except av.error.FFmpegError:
            raise InputError(f"{self.path}: the video is damaged after frame {self.decoded}; "
                             "re-export or re-download it.") from None
        expected = self.info.frame_count
        if self.decoded == 0:
            raise InputError(f"{self.path}: holds no decodable video frame; re-export it as MP4 (H.264).")
        if expected and self.decoded < expected - 1:
            raise InputError(f"{self.path}: the video stops after {self.decoded} of {expected} frames "
                             "(truncated); re-export or re-download it.")

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass(frozen=True)
class EncodeOptions:
    """H.264 settings. `crf` 18-23 is visually clean; `preset` trades speed for size."""

    crf: int = 20
    preset: str = "veryfast"
    threads: int = 0          # 0: let x264 choose


class _AudioPassthrough:
    """Copies the audio packets of a file into an output stream, in step with the video time."""

    def __init__(self, src_path: Path, out_container):
        av = _av()
        self._in = av.open(str(src_path), mode="r")
        ain = self._in.streams.audio[0]
        vstreams = self._in.streams.video
        self._tb = ain.time_base
        start = vstreams[0].start_time if vstreams and vstreams[0].start_time is not None else 0
        vtb = vstreams[0].time_base if vstreams else self._tb
        self._offset = int(round(float(start * vtb) / float(self._tb)))   # in audio time-base units
        self.stream = out_container.add_stream_from_template(ain)
        self._packets = self._in.demux(ain)
        self._out = out_container
        self._done = False

    def mux_until(self, seconds: float) -> None:
        """Mux audio packets whose start lies before `seconds` of output time."""
        av = _av()
        limit = int(seconds / float(self._tb))
        while not self._done:
            try:
                pkt = next(self._packets)
            except (StopIteration, av.error.FFmpegError):
                self._done = True
                break
            if pkt.pts is None or pkt.size == 0:
                continue
            pts = pkt.pts - self._offset
            if pts + (pkt.duration or 0) <= 0:
                continue
            if pts >= limit:
                # This packet belongs after the video end so far; keep it for the next call.
                self._packets = _prepend(pkt, self._packets)
                break
            pkt.pts = pts
            pkt.dts = pts if pkt.dts is None else pkt.dts - self._offset
            pkt.stream = self.stream
            self._out.mux(pkt)

    def close(self) -> None:
        self._in.close()


def _prepend(item, it):
    yield item
    yield from it


class VideoSink:
    """Encode RGB frames to H.264 MP4, atomically, with optional audio copied from another file.

    Frames with odd width or height are padded by one replicated row/column (H.264 4:2:0 needs even
    sizes). Call `commit()` to finish; leaving the `with` block without it removes the temporary file.
    """

    def __init__(self, path: str | os.PathLike, width: int, height: int, fps: Fraction,
                 audio_from: str | os.PathLike | None = None, options: EncodeOptions = EncodeOptions(),
                 seal: Callable[[Path, Path], None] | None = None):
        self.path = check_output_path(path, (".mp4", ".mov"))
        self.width, self.height = int(width), int(height)
        self.enc_w, self.enc_h = self.width + self.width % 2, self.height + self.height % 2
        self.fps = Fraction(fps).limit_denominator(1001 * 1000)
        self.audio_from = Path(audio_from) if audio_from else None
        self.options = options
        self.seal = seal            # seal(tmp, dest): put the finished file in place (e.g. signed)
        self.frames_written = 0
        self._tmp: Path | None = None
        self._container = None
        self._audio: _AudioPassthrough | None = None

    def __enter__(self) -> "VideoSink":
        av = _av()
        self._tmp = temp_path_beside(self.path)
        try:
            self._container = av.open(str(self._tmp), mode="w", format="mp4")
            vs = self._container.add_stream("libx264", rate=self.fps)
            vs.width, vs.height = self.enc_w, self.enc_h
            vs.pix_fmt = "yuv420p"
            vs.time_base = Fraction(1, 1) / self.fps
            # Frames are stamped in the codec's time base: the muxer may change the stream's.
            self._frame_tb = Fraction(1, 1) / self.fps
            opts = {"crf": str(self.options.crf), "preset": self.options.preset}
            if self.options.threads:
                opts["threads"] = str(self.options.threads)
            vs.options = opts
            self._stream = vs
            if self.audio_from is not None:
                self._audio = _AudioPassthrough(self.audio_from, self._container)
        except BaseException as exc:
            self._discard()
            if isinstance(exc, (OSError, av.error.FFmpegError)):
                raise OutputError(f"{self.path}: cannot be written ({exc}); choose another output path.") from None
            raise
        return self

    def write(self, rgb: np.ndarray) -> None:
        av = _av()
        if rgb.shape[:2] != (self.height, self.width):
            raise ValueError(f"frame is {rgb.shape[:2]}, sink expects {(self.height, self.width)}")
        if (self.enc_w, self.enc_h) != (self.width, self.height):
            rgb = np.pad(rgb, ((0, self.enc_h - self.height), (0, self.enc_w - self.width), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts = self.frames_written
        frame.time_base = self._frame_tb
        for pkt in self._stream.encode(frame):
            self._container.mux(pkt)
        self.frames_written += 1
        if self._audio is not None:
            self._audio.mux_until(self.frames_written / float(self.fps))

    def commit(self) -> Path:
        """Flush the encoder, finish the audio, close and rename (or seal) into place."""
        for pkt in self._stream.encode(None):
            self._container.mux(pkt)
        if self._audio is not None:
            self._audio.mux_until(self.frames_written / float(self.fps))
            self._audio.close()
            self._audio = None
        self._container.close()
        self._container = None
        if self.seal is not None:
            self.seal(self._tmp, self.path)
        else:
            os.replace(self._tmp, self.path)
        self._tmp = None
        return self.path

    def _discard(self) -> None:
        if self._audio is not None:
            self._audio.close()
            self._audio = None
        if self._container is not None:
            try:
                self._container.close()
            except Exception:  # closing a half-written container can fail; the file is removed anyway
                pass
            self._container = None
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
            self._tmp = None

    def __exit__(self, *exc) -> None:
        self._discard()
