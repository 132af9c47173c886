"""Public entry points: `animate()` a portrait from a driving video, `animate_template()` from a
motion template, `animate_image()` from a driving photo, `edit()` a still with controls,
`record_template()` a video's motion, and `animate_motion()` from MotionFrames.

The pipeline (see docs/architecture in the README): detect & crop -> track -> motion -> retarget ->
render (with paste-back) -> encode. Each stage has its own options dataclass; `AnimateOptions` only
groups them. Frames stream through one at a time: nothing holds the whole video.
"""

from __future__ import annotations

import hashlib
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from ugoku.errors import InputError
from ugoku.face.landmarks import RIGID as L_RIGID
from ugoku.face.source import CropOptions, SourceFace, find_source_face
from ugoku.face.tracker import FaceTracker, Smoother, SmoothOptions
from ugoku.io.image import ImageLimits, check_output_path, read_image, write_image
from ugoku.io.video import EncodeOptions, VideoLimits, VideoSink, VideoSource
from ugoku.motion.controls import CHANNELS, REST, Controls, Rig, angles_from_rotation
from ugoku.motion.memory import BankBuilder, MemoryOptions, MouthBank
from ugoku.motion.mouth import MouthSample, mouth_palette, sample_mouth
from ugoku.motion.pose import HeadFrame, MotionExtractor, MotionFrame, procrustes
from ugoku.motion.templates import Template, to_json
from ugoku.motion.retarget import Retargeter, RetargetOptions
from ugoku.provenance.generation import Generation, ProvenanceOptions, fingerprint
from ugoku.render.compose import EyelidFill, EyelidOptions, MouthInterior, MouthOptions
from ugoku.render.eyeball import EyeballOptions, Eyeballs
from ugoku.render.warp import Renderer, RenderOptions

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class AnimateOptions:
    """The options of every stage, composed. pasteback=False writes the square crop instead of the
    full photo. max_frames stops after that many driving frames (None: all)."""

    crop: CropOptions = field(default_factory=CropOptions)
    smooth: SmoothOptions = field(default_factory=SmoothOptions)
    retarget: RetargetOptions = field(default_factory=RetargetOptions)
    render: RenderOptions = field(default_factory=RenderOptions)
    mouth: MouthOptions = field(default_factory=MouthOptions)
    eyeballs: EyeballOptions = field(default_factory=EyeballOptions)
    eyelids: EyelidOptions = field(default_factory=EyelidOptions)
    memory: MemoryOptions = field(default_factory=MemoryOptions)
    encode: EncodeOptions = field(default_factory=EncodeOptions)
    provenance: ProvenanceOptions = field(default_factory=ProvenanceOptions)
    pasteback: bool = True
    max_frames: int | None = None


@dataclass(frozen=True)
class AnimateResult:
    """What an animation produced. stage_ms: mean milliseconds per frame for each stage."""

    output: Path
    frames: int
    lost_frames: int
    seconds: float
    width: int
    height: int
    stage_ms: dict
    generation: Generation | None = None
    memory_samples: int = 0         # mouth samples in the person's own memory (0: none given)
    memory_seconds: float = 0.0     # time spent reading the memory video (part of `seconds`)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


class StageClock:
    """Accumulates wall time per named stage."""

    def __init__(self):
        self.total: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str):
        t = time.perf_counter()
        try:
            yield
        finally:
            self.total[name] = self.total.get(name, 0.0) + time.perf_counter() - t

    def per_frame_ms(self, frames: int) -> dict:
        return {k: 1e3 * v / max(1, frames) for k, v in self.total.items()}


def load_source(path: str | os.PathLike, options: CropOptions = CropOptions(),
                limits: ImageLimits = ImageLimits()) -> SourceFace:
    """Read a photo and find the face to animate; InputError naming the file if there is none."""
    image = read_image(path, limits)
    face = find_source_face(image, options)
    if not face:
        hint = ("use a photo in which the face is clearly visible and roughly frontal"
                if face.n_faces == 0 else "pick another --face-index")
        raise InputError(f"{path}: {face.reason}; {hint}.")
    return face


IDENTITY_MAX = 0.6     # dlib descriptor distance above which two faces are not the same person (dlib's own bar)


def load_memory(video: str | os.PathLike, face: SourceFace, options: MemoryOptions = MemoryOptions(),
                limits: VideoLimits = VideoLimits()) -> MouthBank:
    """The person's own mouth interiors, from `video` (a video of the person in `face`), streamed.

    The video must show the same person: dlib's descriptor of the face, read about once a second (at
    most ten times), must lie within IDENTITY_MAX of the photo's on the median. InputError naming the
    file when it does not, when the photo's face cannot be read by that check, or when the mouth is
    never open with the head turned as in the photo."""
    from ugoku.provenance.identity import descriptor

    photo_id = descriptor(face.crop)
    if photo_id is None:
        raise InputError(f"{video}: the identity check finds no face in the photo, so the video cannot be "
                         "matched to it; leave out the memory video.")
    builder = BankBuilder(face.landmarks, options)
    distances: list[float] = []
    with VideoSource(video, limits, role="memory video") as src, FaceTracker() as tracker:
        fps = float(src.info.fps)
        every = max(1, round(fps))
        first = int(options.skip_seconds * fps)
        last = first + int(options.max_seconds * fps)
        for i, rgb in enumerate(src.frames()):
            if i >= last:
                break
            if i < first:
                continue
            pts = tracker(rgb)
            if pts is None:
                continue
            builder.add(rgb, pts, i)
            if i % every == 0 and len(distances) < 10:
                d = descriptor(_around(rgb, pts))
                if d is not None:
                    distances.append(float(np.linalg.norm(d - photo_id)))
    if not distances:
        raise InputError(f"{video}: no face in it could be matched to the photo; give a video of the person "
                         "in the photo, facing the camera.")
    dist = float(np.median(distances))
    if dist > IDENTITY_MAX:
        raise InputError(f"{video}: the face in it is not the person in the photo (identity distance "
                         f"{dist:.2f}, above {IDENTITY_MAX}); give a video of the same person.")
    bank = builder.bank()
    if not len(bank):
        raise InputError(f"{video}: the mouth is never open in it with the head turned as in the photo; "
                         "give a video in which the person talks towards the camera.")
    return bank


def with_memory(record: dict, memory: str | os.PathLike | None) -> dict:
    """A generation's `driving` record with the memory video's name and fingerprint added (its
    provenance: what else went into the frames)."""
    if memory is None:
        return record
    if not Path(memory).is_file():
        raise InputError(f"{memory}: file not found; check the path to the memory video.")
    if str(memory).lower().endswith(IMAGE_OUTPUTS + (".bmp", ".tif", ".tiff")):
        raise InputError(f"{memory}: is a photo; the memory must be a video of the person talking.")
    return {**record, "memory": {"name": Path(memory).name[:200], "sha256": fingerprint(memory)}}


def attach_memory(face: SourceFace, memory: str | os.PathLike | None, options: AnimateOptions) -> SourceFace:
    """`face` with the person's own mouth memory from the video `memory` (None: `face` as it is)."""
    if memory is None:
        return face
    return replace(face, memory=load_memory(memory, face, options.memory))


def _around(rgb: np.ndarray, points: np.ndarray, margin: float = 0.6) -> np.ndarray:
    """The part of a frame around tracked points, widened by `margin` of their extent each side."""
    lo, hi = points[:, :2].min(0), points[:, :2].max(0)
    pad = margin * (hi - lo)
    h, w = rgb.shape[:2]
    x0, y0 = np.maximum(np.floor(lo - pad).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(hi + pad).astype(int), [w, h])
    return np.ascontiguousarray(rgb[y0:y1, x0:x1])


def make_renderer(face: SourceFace, pasteback: bool, options: RenderOptions = RenderOptions()) -> Renderer:
    """A renderer onto the full photo (paste-back) or onto the crop."""
    if pasteback:
        return Renderer(face.landmarks, face.crop.shape[0], face.image, face.M_crop2orig, options, face.matte)
    return Renderer(face.landmarks, face.crop.shape[0], face.crop, np.array([[1.0, 0, 0], [0, 1.0, 0]]), options,
                    face.matte)


class Composer:
    """Render -> compose for one source: the warp, then the eyeballs, the eyelids and the mouth
    interior painted from memory. Returns the renderer's buffer (consume it before the next call)."""

    def __init__(self, face: SourceFace, renderer: Renderer, options: AnimateOptions):
        self.renderer = renderer
        self.eyeballs = Eyeballs(renderer.canvas, face.landmarks, renderer.M_crop2canvas, options.eyeballs)
        self.eyelids = EyelidFill(renderer.canvas, face.landmarks, renderer.M_crop2canvas, options.eyelids)
        self.mouth = MouthInterior(face.crop, face.landmarks, renderer.M_crop2canvas, options.mouth, face.memory,
                                   canvas=renderer.canvas)

    def __call__(self, target, mouth_sample: MouthSample | None = None) -> np.ndarray:
        r = self.renderer
        frame = self.eyeballs(r.render(target), target.points, r.dense, r.region)
        frame = self.eyelids(frame, target.points, r.dense, r.region)
        return self.mouth(frame, target.points, mouth_sample)


class DrivingMotion:
    """Track -> smooth -> motion over a stream of RGB frames.

    Yields one MotionFrame per frame, or None for frames before the first face is found (the output
    shows the source at rest there). Frames where the face is lost repeat the last motion with
    tracked=False. `reference` (normalised landmarks) is set at the first tracked frame. Each tracked
    motion carries the driver's open mouth (`mouth_sample`) for the compose stage's memory, coloured
    by the driver's lip and skin tones as read at the first tracked frame. With `smooth.lookahead`,
    each motion is given once that many later frames have been tracked (`Smoother`).
    """

    def __init__(self, frames: Iterable[np.ndarray], fps: float, smooth: SmoothOptions = SmoothOptions(),
                 clock: StageClock | None = None):
        self.frames = frames
        self.dt = 1.0 / float(fps)
        self.smooth = smooth
        self.clock = clock or StageClock()
        self.extractor = MotionExtractor()
        self.count = 0
        self.lost = 0
        self.tracked = 0

    @property
    def reference(self) -> np.ndarray | None:
        return self.extractor.reference

    def __iter__(self) -> Iterator[MotionFrame | None]:
        clock = self.clock
        last: MotionFrame | None = None
        smoother: Smoother | None = None
        palette = None

        def motions(ready):
            nonlocal last
            for points, sample in ready:
                last = replace(self.extractor(points), mouth_sample=sample)
                yield last

        with FaceTracker() as tracker:
            it = iter(self.frames)
            while True:
                with clock("decode"):
                    rgb = next(it, None)
                if rgb is None:
                    with clock("motion"):
                        rest = list(motions(smoother.flush() if smoother else []))
                    yield from rest
                    return
                self.count += 1
                with clock("track"):
                    pts = tracker(rgb)
                    if pts is not None and self.tracked == 0:
                        settled = tracker.settle(rgb)    # the reference: let the tracking region converge
                        pts = settled if settled is not None else pts
                with clock("motion"):
                    if pts is None:
                        # A frame without a face ends the look-ahead: what is pending is shown first.
                        self.lost += 1
                        ready = list(motions(smoother.flush() if smoother else []))
                        ready.append(replace(last, tracked=False) if last is not None else None)
                    else:
                        self.tracked += 1
                        if smoother is None:
                            smoother = Smoother(self.smooth, scale=HeadFrame.of(pts).scale)
                        if palette is None:      # the driver's lip and skin tones, read once
                            palette = mouth_palette(rgb, pts)
                        ready = list(motions(smoother.push(pts, self.dt, sample_mouth(rgb, pts, palette))))
                yield from ready


def begin(command: str, face: SourceFace, source: str | os.PathLike, driving: dict,
          options: AnimateOptions, source_sha256: str | None = None) -> Generation:
    """Authorise the generation (consent or attestation; ConsentError otherwise) and give it a
    record number, a watermark and a sealing step. Called before any rendering."""
    return Generation(command, face.crop, str(source), source_sha256 or fingerprint(source), driving,
                      options.provenance)


def render_stream(face: SourceFace, motions: Iterable[MotionFrame | None],
                  reference: Callable[[], np.ndarray | None], sink: VideoSink, options: AnimateOptions,
                  clock: StageClock, progress: Progress | None = None, total: int = 0,
                  mark: Callable[[np.ndarray], np.ndarray] | None = None) -> int:
    """Retarget, render, watermark and encode each motion; returns the number of frames written."""
    compose = Composer(face, make_renderer(face, options.pasteback, options.render), options)
    retargeter: Retargeter | None = None
    n = 0
    for motion in motions:
        with clock("render"):
            if motion is None:
                frame = compose.renderer.canvas
            else:
                if retargeter is None:
                    retargeter = Retargeter(face.landmarks, reference(), options.retarget)
                frame = compose(retargeter(motion), motion.mouth_sample)
        if mark is not None:
            with clock("watermark"):
                frame = mark(frame)
        with clock("encode"):
            sink.write(frame)
        n += 1
        if progress:
            progress(n, total)
        if options.max_frames and n >= options.max_frames:
            break
    return n


def output_size(face: SourceFace, pasteback: bool) -> tuple[int, int]:
    img = face.image if pasteback else face.crop
    return img.shape[1], img.shape[0]


def animate(source: str | os.PathLike, driving: str | os.PathLike, output: str | os.PathLike,
            options: AnimateOptions = AnimateOptions(), progress: Progress | None = None,
            video_limits: VideoLimits = VideoLimits(), memory: str | os.PathLike | None = None) -> AnimateResult:
    """Animate the face in `source` (a photo) with the motion of `driving` (a video) into `output`
    (an H.264 MP4 at the driver's frame rate, with the driver's audio). `memory`: a video of the
    person in `source`, whose own mouth interiors are shown where the mouth opens (`load_memory`).

    Raises InputError / OutputError (one sentence naming the file and the fix) for bad input; no
    output file is left behind on any error.
    """
    out = check_output_path(output, (".mp4", ".mov"))
    t0 = time.perf_counter()
    clock = StageClock()
    with clock("source"):
        face = load_source(source, options.crop)
    with VideoSource(driving, video_limits) as video:
        info = video.info
        record = {"kind": "video", "name": Path(driving).name[:200], "sha256": fingerprint(driving)}
        gen = begin("animate", face, source, with_memory(record, memory), options)
        with clock("memory"):
            face = attach_memory(face, memory, options)
        w, h = output_size(face, options.pasteback)
        total = info.frame_count
        if options.max_frames:
            total = min(total, options.max_frames) if total else options.max_frames
        motions = DrivingMotion(video.frames(), float(info.fps), options.smooth, clock)
        with VideoSink(out, w, h, info.fps, audio_from=info.path if info.has_audio else None,
                       options=options.encode, seal=gen.seal) as sink:
            n = render_stream(face, motions, lambda: motions.reference, sink, options, clock, progress, total,
                              gen.mark)
            if motions.tracked == 0:
                raise InputError(f"{driving}: no face was found in any of its {motions.count} frames; "
                                 "use a driving video that shows a face.")
            with clock("encode"):
                sink.commit()
    seconds = time.perf_counter() - t0
    stage = clock.per_frame_ms(n)
    stage.pop("source", None)
    stage.pop("memory", None)
    return AnimateResult(out, n, motions.lost, seconds, w, h, stage, gen, len(face.memory or ()),
                         clock.total.get("memory", 0.0))


def animate_motion(face: SourceFace, motions: Iterable[MotionFrame], fps: float | Fraction,
                   output: str | os.PathLike, generation: Generation, options: AnimateOptions = AnimateOptions(),
                   progress: Progress | None = None, total: int = 0) -> AnimateResult:
    """Animate a prepared SourceFace with MotionFrames authored on the source itself (built-in
    motions, templates). The motion's reference is the source's own normalised landmarks.
    `generation` (from `begin`) authorises, marks and seals the output."""
    out = check_output_path(output, (".mp4", ".mov"))
    t0 = time.perf_counter()
    clock = StageClock()
    reference = source_reference(face)
    w, h = output_size(face, options.pasteback)
    with VideoSink(out, w, h, Fraction(fps).limit_denominator(1001), options=options.encode,
                   seal=generation.seal) as sink:
        n = render_stream(face, motions, lambda: reference, sink, options, clock, progress, total, generation.mark)
        with clock("encode"):
            sink.commit()
    seconds = time.perf_counter() - t0
    return AnimateResult(out, n, 0, seconds, w, h, clock.per_frame_ms(n), generation, len(face.memory or ()))


IMAGE_OUTPUTS = (".png", ".jpg", ".jpeg", ".webp")


def source_reference(face: SourceFace) -> np.ndarray:
    """The source's own landmarks, normalised: the reference that templates and edits move."""
    pts = face.landmarks.astype(np.float64)
    return HeadFrame.of(pts).normalise(pts)


def animate_template(source: str | os.PathLike, template: Template, output: str | os.PathLike,
                     options: AnimateOptions = AnimateOptions(), loops: int = 1,
                     progress: Progress | None = None, memory: str | os.PathLike | None = None) -> AnimateResult:
    """Animate the face in `source` with a motion template (built in or recorded), `loops` times.
    `memory`: as for `animate`."""
    check_output_path(output, (".mp4", ".mov"))
    face = load_source(source, options.crop)
    record = {"kind": "template", "name": template.name,
              "sha256": hashlib.sha256(to_json(template).encode()).hexdigest()}
    gen = begin("animate", face, source, with_memory(record, memory), options)
    face = attach_memory(face, memory, options)
    rig = Rig(source_reference(face))
    motions = (rig.motion(c) for c in template.controls(loops))
    total = len(template) * max(1, loops)
    if options.max_frames:
        total = min(total, options.max_frames)
    return animate_motion(face, motions, template.fps, output, gen, options, progress, total)


def render_still(face: SourceFace, controls: Controls, options: AnimateOptions = AnimateOptions()) -> np.ndarray:
    """One frame: the source showing `controls` (RGB uint8; the full photo unless pasteback=False)."""
    compose = Composer(face, make_renderer(face, options.pasteback, options.render), options)
    reference = source_reference(face)
    return compose(Retargeter(face.landmarks, reference, options.retarget)(Rig(reference).motion(controls)))


def write_generated(output: str | os.PathLike, rgb: np.ndarray, generation: Generation) -> Path:
    """Watermark, write and seal one generated image."""
    return write_image(output, generation.mark(rgb), seal=generation.seal)


def edit(source: str | os.PathLike, output: str | os.PathLike, controls: Controls,
         options: AnimateOptions = AnimateOptions(), memory: str | os.PathLike | None = None) -> tuple[Path, Generation]:
    """Write `source` with its expression, pose and gaze changed by `controls` to the image `output`.
    A fixed gaze goes in `options.retarget.gaze` as (H, V). `memory`: as for `animate`. Returns the
    file and its generation."""
    check_output_path(output, IMAGE_OUTPUTS)
    face = load_source(source, options.crop)
    c = controls.clipped()
    record = {"kind": "controls", "values": {k: round(float(v), 4) for k, v in zip(CHANNELS, c.as_row()) if v}}
    gen = begin("edit", face, source, with_memory(record, memory), options)
    face = attach_memory(face, memory, options)
    return write_generated(output, render_still(face, c, options), gen), gen


def controls_from_image(face: SourceFace, driver: SourceFace) -> Controls:
    """The controls that give `face` the head pose and expression of the face in `driver`.

    Pose: the rotation between the two heads' rigid points. Expression: the driver's shape, turned to
    the source's pose, measured against the source's own (eye and mouth opening, brow height, smile,
    mouth width); gaze: the driver's. Person-to-person differences at rest (naturally high brows, a
    wide mouth) are read as expression too; see docs/templates.md."""
    src = source_reference(face)
    drv = HeadFrame.of(driver.landmarks.astype(np.float64)).normalise(driver.landmarks.astype(np.float64))
    rigid = np.array(L_RIGID)
    _, R, _ = procrustes(src[rigid], drv[rigid], with_scale=False)
    yaw, pitch, roll = angles_from_rotation(R)
    aligned = drv @ R                      # R^T applied to each point: the driver in the source's pose
    return Rig(src).solve(aligned, Controls(yaw=yaw, pitch=pitch, roll=roll))


def animate_image(source: str | os.PathLike, driving: str | os.PathLike, output: str | os.PathLike,
                  options: AnimateOptions = AnimateOptions(),
                  memory: str | os.PathLike | None = None) -> tuple[Path, Controls, Generation]:
    """Give the face in `source` the head pose and expression of the face in the photo `driving`;
    writes the image `output` and returns it with the controls that were read and its generation.
    `memory`: as for `animate`."""
    check_output_path(output, IMAGE_OUTPUTS)
    face = load_source(source, options.crop)
    driver = load_source(driving, options.crop)
    record = {"kind": "image", "name": Path(driving).name[:200], "sha256": fingerprint(driving)}
    gen = begin("animate", face, source, with_memory(record, memory), options)
    face = attach_memory(face, memory, options)
    controls = controls_from_image(face, driver)
    return write_generated(output, render_still(face, controls, options), gen), controls, gen


@dataclass(frozen=True)
class RecordOptions:
    """How a driving video becomes a template: tracking smoothing, and at most max_frames frames."""

    smooth: SmoothOptions = field(default_factory=SmoothOptions)
    max_frames: int | None = None


def record_template(driving: str | os.PathLike, options: RecordOptions = RecordOptions(),
                    video_limits: VideoLimits = VideoLimits(), name: str = "") -> Template:
    """The motion of the face in `driving` as a template: per frame, head angles and movement from the
    tracked pose, and the expression controls that the performer's shape shows relative to their own
    first tracked frame. Only those numbers are kept (see ugoku.motion.templates)."""
    rows: list[list[float]] = []
    with VideoSource(driving, video_limits) as video:
        fps = float(video.info.fps)
        motions = DrivingMotion(video.frames(), fps, options.smooth)
        rig: Rig | None = None
        for m in motions:
            if m is None:
                rows.append(REST.as_row())
            else:
                if rig is None:
                    rig = Rig(motions.reference)
                yaw, pitch, roll = angles_from_rotation(m.rotation)
                pose = Controls(yaw=yaw, pitch=pitch, roll=roll, x=float(m.translation[0]),
                                y=float(m.translation[1]), zoom=float(m.scale))
                rows.append(rig.solve(rig.reference + m.expression, pose).as_row())
            if options.max_frames and len(rows) >= options.max_frames:
                break
        if motions.tracked == 0:
            raise InputError(f"{driving}: no face was found in any of its {motions.count} frames; "
                             "use a driving video that shows a face.")
    label = name or Path(driving).stem
    return Template(label[:100], f"recorded from {Path(driving).name}", fps, np.array(rows, dtype=np.float64))
