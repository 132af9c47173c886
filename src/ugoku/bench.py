"""`ugoku bench`: per-stage milliseconds and end-to-end frames per second on this machine.

Everything is synthesised from the bundled portrait, so the figures are reproducible anywhere:
a 512x512 driving clip (the astronaut moved by the built-in motion) drives (1) the astronaut into a
512 px crop and (2) the astronaut upscaled to a 2000x2000 photo with paste-back. With
--memory-minutes, a 1280x720 driver of that length is synthesised and animated in a child process
whose peak resident memory is reported.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from ugoku.provenance.generation import ProvenanceOptions
from ugoku.api import AnimateOptions, Composer, animate, make_renderer, source_reference
from ugoku.demo import astronaut, astronaut_face
from ugoku.io.image import write_image
from ugoku.io.video import EncodeOptions, VideoSink
from ugoku.motion.controls import Controls, Rig
from ugoku.motion.templates import builtin, swing
from ugoku.motion.retarget import Retargeter


def _cores() -> str:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return f"{usable} usable of {os.cpu_count()} logical cores"


def bench_motion(reference: np.ndarray, fps: float, seconds: float = 8.0) -> list:
    """MotionFrames on `reference`: the built-in `talk` template (syllables, blinks, brow accents) with
    a head sway of ±14° yaw and a nod of ±7° pitch over `seconds`; loopable."""
    rig = Rig(reference)
    talk = builtin("talk", fps)
    n = int(round(seconds * fps))
    sway = (Controls(yaw=14.0 * swing(i / fps, seconds, 1), pitch=7.0 * swing(i / fps, seconds, 2)) for i in range(n))
    return [rig.motion(Controls.from_row(talk.frames[i % len(talk)]).plus(c)) for i, c in enumerate(sway)]


def _crop_pipeline():
    """The bundled portrait's crop pipeline: (face, its normalised reference, retargeter, composer)."""
    face = astronaut_face()
    ref = source_reference(face)
    compose = Composer(face, make_renderer(face, pasteback=False), AnimateOptions(pasteback=False, provenance=PUBLIC_DOMAIN))
    return face, ref, Retargeter(face.landmarks, ref), compose


def synth_driver(path: Path, frames: int, fps: float = 30.0, canvas: tuple[int, int] | None = None) -> Path:
    """Write a driving clip: the astronaut crop moved by the built-in motion (looped), optionally
    centred on a larger grey canvas (w, h)."""
    face, ref, retarget, compose = _crop_pipeline()
    period = [retarget(m) for m in bench_motion(ref, fps)]
    size = face.crop.shape[0]
    w, h = canvas or (size, size)
    frame = np.full((h, w, 3), 128, np.uint8)
    y0, x0 = (h - size) // 2, (w - size) // 2
    with VideoSink(path, w, h, Fraction(fps).limit_denominator(1001),
                   options=EncodeOptions(crf=18, preset="ultrafast")) as sink:
        for i in range(frames):
            frame[y0:y0 + size, x0:x0 + size] = compose(period[i % len(period)])
            sink.write(frame)
        sink.commit()
    return path


def _report(title: str, r) -> None:
    ms = r.stage_ms
    order = ["decode", "track", "motion", "render", "encode"]
    parts = "  ".join(f"{k} {ms.get(k, 0):6.2f}" for k in order)
    print(f"{title}\n  per frame (ms): {parts}\n  end to end: {r.frames} frames in {r.seconds:.2f} s = "
          f"{r.fps:.1f} fps (output {r.width}x{r.height})")


def render_only_fps(n: int = 200) -> tuple[float, float]:
    """Frames per second of retarget + render + compose alone at 512x512, and the mean milliseconds."""
    face, ref, retarget, compose = _crop_pipeline()
    motions = bench_motion(ref, 25.0)
    for m in motions[:10]:
        compose(retarget(m))
    t = time.perf_counter()
    for i in range(n):
        compose(retarget(motions[i % len(motions)]))
    dt = (time.perf_counter() - t) / n
    return 1.0 / dt, 1e3 * dt


# The bench animates the bundled NASA portrait, which is in the public domain.
PUBLIC_DOMAIN = ProvenanceOptions(attest="public-domain")


def run_bench(frames: int = 240, memory_minutes: float = 0.0) -> None:
    print(f"ugoku bench on {platform.machine()} {platform.processor() or ''}".rstrip()
          + f", {_cores()}, Python {platform.python_version()}, OpenCV {cv2.__version__}")
    with tempfile.TemporaryDirectory(prefix="ugoku-bench-") as tmp:
        tmp = Path(tmp)
        driver = synth_driver(tmp / "driver512.mp4", frames)
        src512 = tmp / "astronaut.png"
        write_image(src512, astronaut())
        fps_r, ms_r = render_only_fps()
        print(f"render alone (retarget + mesh raster + remap + compose), 512x512: {ms_r:.2f} ms = {fps_r:.0f} fps")
        r = animate(src512, driver, tmp / "crop.mp4", AnimateOptions(pasteback=False, provenance=PUBLIC_DOMAIN))
        _report("case 1: 512x512 driver -> 512 px crop (decode, track, motion, render, encode)", r)
        big = cv2.resize(astronaut(), (2000, 2000), interpolation=cv2.INTER_CUBIC)
        src2000 = tmp / "astronaut2000.png"
        write_image(src2000, big)
        r = animate(src2000, driver, tmp / "paste.mp4", AnimateOptions(pasteback=True, provenance=PUBLIC_DOMAIN))
        _report("case 2: 512x512 driver -> paste-back into a 2000x2000 photo", r)
        if memory_minutes > 0:
            n = int(memory_minutes * 60 * 30)
            t = time.perf_counter()
            long_driver = synth_driver(tmp / "driver720.mp4", n, 30.0, canvas=(1280, 720))
            print(f"memory: synthesised a {memory_minutes:g}-minute 1280x720 driver ({n} frames) in "
                  f"{time.perf_counter() - t:.0f} s; animating it in a child process ...")
            t = time.perf_counter()
            # The child reports its own peak (VmHWM, per address space): getrusage's maxrss would
            # also count the forked copy of this process before exec.
            code = ("import sys; from ugoku.cli import main; rc = main(sys.argv[1:]); "
                    "print([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]); "
                    "sys.exit(rc)")
            res = subprocess.run([sys.executable, "-c", code, "animate", "-s", str(src512), "-d", str(long_driver),
                                  "-o", str(tmp / "long.mp4"), "-q", "--attest", "public-domain"],
                                 check=True, capture_output=True, text=True)
            lines = res.stdout.strip().splitlines()
            peak_mib = int(lines[-1]) / 1024
            print(f"memory: {lines[0] if len(lines) > 1 else ''}\nmemory: peak resident {peak_mib:.0f} MiB for the "
                  f"{n}-frame animation ({time.perf_counter() - t:.0f} s)")
