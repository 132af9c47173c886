"""Command line: argument parsing only; the work is in ugoku.api. Heavy modules load lazily so that
`ugoku --help` answers at once."""

from __future__ import annotations

import argparse
import sys
import time

from ugoku import __version__


def _regions(text: str) -> tuple[str, ...]:
    parts = tuple(p.strip() for p in text.split(",") if p.strip())
    allowed = ("pose", "brows", "eyes", "lips")
    bad = [p for p in parts if p not in allowed]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown region(s) {', '.join(bad)}; choose from {','.join(allowed)}")
    return parts


def _number(text: str, cast, lo, hi):
    try:
        v = cast(text)
    except ValueError:
        kind = "a whole number" if cast is int else "a number"
        raise argparse.ArgumentTypeError(f"{text!r} is not {kind}") from None
    if not lo <= v <= hi:
        raise argparse.ArgumentTypeError(f"{v} is outside {lo}..{hi}")
    return v


def _multiplier(text: str) -> float:
    return _number(text, float, -3.0, 3.0)


def _positive_int(text: str) -> int:
    return _number(text, int, 0, 10**9)


def _gaze(text: str):
    if text in ("follow", "keep"):
        return text
    parts = text.split(",")
    if len(parts) == 2:
        try:
            h, v = float(parts[0]), float(parts[1])
        except ValueError:
            h = v = None
        if h is not None and -1 <= h <= 1 and -1 <= v <= 1:
            return (h, v)
    raise argparse.ArgumentTypeError(f"{text!r}: use follow, keep, or H,V with each between -1 and 1 (e.g. 0.5,0)")


def _opening(words: tuple[str, ...], hi: float):
    """A parser for --eyes-open / --lips-open: one of `words`, or an opening between 0 and `hi`."""
    def parse(text: str):
        if text in words:
            return text
        try:
            v = float(text)
        except ValueError:
            v = None
        if v is None or not 0.0 <= v <= hi:
            raise argparse.ArgumentTypeError(f"{text!r}: use {', '.join(words)}, or an opening between 0 and {hi:g}")
        return v
    return parse


def _unit(text: str) -> float:
    return _number(text, float, -1.0, 1.0)


def _unit_pos(text: str) -> float:
    return _number(text, float, 0.0, 1.0)


def _gaze_fixed(text: str):
    try:
        g = _gaze(text)
    except argparse.ArgumentTypeError:
        g = None
    if not isinstance(g, tuple):       # a still has no driver: follow and keep mean nothing here
        raise argparse.ArgumentTypeError(f"{text!r}: use H,V with each between -1 and 1 (e.g. -0.6,0)")
    return g


def _crop_size(text: str) -> int:
    v = _positive_int(text)
    if v < 128 or v > 2048 or v % 16:
        raise argparse.ArgumentTypeError(f"{v}: use a multiple of 16 between 128 and 2048")
    return v


class ProgressBar:
    """A one-line progress bar on stderr, only when stderr is a terminal."""

    def __init__(self, enabled: bool):
        self.enabled = enabled and sys.stderr.isatty()
        self.t0 = time.perf_counter()
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self.last < 0.1 and done != total:
            return
        self.last = now
        fps = done / max(1e-6, now - self.t0)
        if total:
            frac = min(1.0, done / total)
            bar = "#" * int(30 * frac) + "-" * (30 - int(30 * frac))
            sys.stderr.write(f"\r[{bar}] {done}/{total} frames  {fps:5.1f} fps")
        else:
            sys.stderr.write(f"\r{done} frames  {fps:5.1f} fps")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


def _add_provenance(p) -> None:
    p.add_argument("--attest", choices=("self", "public-domain", "synthetic", "consent-on-file"),
                   help="when no consent record matches the face, state why it may be animated anyway "
                        "(recorded in the file's provenance and the audit log)")
    _add_db(p)


def _add_db(p) -> None:
    p.add_argument("--db", help="the consent registry (default: consent.sqlite in the ugoku data folder)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ugoku", description="Bring a portrait to life from a driving video, on a CPU.")
    p.add_argument("--version", action="version", version=f"ugoku {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    a = sub.add_parser("animate", help="animate a photo with a driving video, a motion template or a photo",
                       description="Animate the face in SOURCE with the head pose, expression, blinks, gaze "
                                   "and mouth of DRIVING (a video: writes an H.264 MP4 with its audio; a photo: "
                                   "writes an image with its pose and expression), or with a motion TEMPLATE.")
    a.add_argument("-s", "--source", required=True, help="the portrait photo (JPEG, PNG, WebP, ...)")
    drive = a.add_mutually_exclusive_group(required=True)
    drive.add_argument("-d", "--driving", help="a driving video, or a driving photo (then OUTPUT is an image)")
    drive.add_argument("-t", "--template", help="a built-in template name (`ugoku templates`) or a .json file "
                                                "from `ugoku template record`")
    a.add_argument("-o", "--output", required=True, help="output .mp4 (or .png/.jpg for a driving photo)")
    a.add_argument("--loops", type=_positive_int, default=1, help="play the template this many times (default 1)")
    a.add_argument("--face-index", type=_positive_int, default=0,
                   help="which face of the photo to animate, 0 = the largest (default 0)")
    a.add_argument("--no-pasteback", action="store_true",
                   help="write the square crop around the face instead of the full photo")
    a.add_argument("--crop-size", type=_crop_size, default=512, help="working crop side in pixels (default 512)")
    a.add_argument("--mode", choices=("relative", "absolute"), default="relative",
                   help="relative: apply the driver's change since its first frame (keeps the source's face "
                        "shape; default); absolute: give the source the driver's shape and head orientation")
    a.add_argument("--regions", type=_regions, default=("pose", "brows", "eyes", "lips"),
                   help="comma-separated parts that follow the driver: pose,brows,eyes,lips (default all)")
    a.add_argument("--expression-scale", type=_multiplier, default=1.0, help="multiply all expression (default 1)")
    a.add_argument("--pose-scale", type=_multiplier, default=1.0,
                   help="multiply head rotation and movement (default 1)")
    a.add_argument("--gaze", type=_gaze, default="follow",
                   help="follow: the irises follow the driver's gaze (default); keep: the source's gaze; "
                        "H,V: a fixed gaze, each -1..1 from looking straight ahead (0,0 at the camera, 1,0 to the "
                        "image's right, 0,1 down)")
    a.add_argument("--eyes-open", type=_opening(("relative", "driver"), 0.6), default="relative",
                   help="eye retargeting. relative: the photo's eyes open and close by the driver's ratio "
                        "(default); driver: exactly as wide as the driver's, frame by frame; a number: "
                        "their opening at the driver's first frame, as lid gap over eye width (0 shut, "
                        "about 0.3 relaxed, 0.45 wide), the driver's blinks acting on it")
    a.add_argument("--lips-open", type=_opening(("auto", "relative", "driver"), 1.0), default="auto",
                   help="lip retargeting. driver: the mouth opens exactly as far as the driver's; "
                        "relative: by the driver's change since its first frame; a number: its opening at "
                        "the driver's first frame, as inner-lip gap over mouth width (0 shut, about 0.25 in "
                        "speech), the driver's change added; auto (default): driver for a photo with shut "
                        "lips, relative for parted ones")
    a.add_argument("--no-mouth-fill", action="store_true",
                   help="do not paint a mouth interior where the mouth opens wider than the photo's")
    a.add_argument("--mouth-memory", choices=("driver", "generic"), default="driver",
                   help="driver: where the driver's mouth is open, show its own teeth and tongue in the photo's "
                        "colours (default); generic: always paint drawn teeth")
    _add_memory(a)
    _add_background(a)
    a.add_argument("--no-smooth", action="store_true", help="do not filter tracking jitter")
    a.add_argument("--crf", type=_positive_int, default=20, help="H.264 quality, lower is better (default 20)")
    a.add_argument("--max-frames", type=_positive_int, default=0, help="stop after N frames (default: all)")
    a.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    _add_provenance(a)

    d = sub.add_parser("demo", help="animate the bundled public-domain portrait with a built-in motion",
                       description="Animate scikit-image's astronaut portrait (NASA, public domain) with a "
                                   "tour of the built-in motion templates: blink, smile, look-around, talk, nod, "
                                   "surprised, wink, shake.")
    d.add_argument("-o", "--output", default="ugoku-demo.mp4", help="output .mp4 (default ugoku-demo.mp4)")
    d.add_argument("--seconds", type=float, default=None,
                   help="stop after this many seconds (default: the whole tour, about 30 s)")
    d.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    sub.add_parser("templates", help="list the built-in motion templates",
                   description="List the built-in motion templates with their length and what they do.")

    tr = sub.add_parser("template", help="record a driving video's motion as a reusable template",
                        description="Motion templates. `ugoku template record VIDEO -o mine.json` stores the "
                                    "video's head pose and expression as numbers over time (no face shape, "
                                    "no image data); `ugoku animate -t mine.json` replays it on any photo.")
    tsub = tr.add_subparsers(dest="template_command", metavar="ACTION", required=True)
    rec = tsub.add_parser("record", help="store a driving video's motion as a .json template")
    rec.add_argument("driving", help="the driving video")
    rec.add_argument("-o", "--output", required=True, help="output .json")
    rec.add_argument("--name", default="", help="a name stored in the template (default: the video's name)")
    rec.add_argument("--max-frames", type=_positive_int, default=0, help="stop after N frames (default: all)")
    rec.add_argument("--no-smooth", action="store_true", help="do not filter tracking jitter")

    ed = sub.add_parser("edit", help="change the expression, head pose or gaze of a still photo",
                        description="Write SOURCE with a new expression, head pose or gaze. Sliders combine, "
                                    "and --expression reads a short phrase (vocabulary: docs/templates.md); "
                                    "sliders given explicitly win over the phrase.")
    ed.add_argument("-s", "--source", required=True, help="the portrait photo")
    ed.add_argument("-o", "--output", required=True, help="output image (.png, .jpg, .webp)")
    ed.add_argument("--expression", default="", metavar="TEXT",
                    help='a short description, e.g. "a gentle smile, looking left"')
    ed.add_argument("--smile", type=_unit, help="-1 (corners down) .. 1 (broad smile)")
    ed.add_argument("--eyes-open", type=_unit, help="-1 (closed) .. 1 (wide open); 0 as in the photo (a "
                                                     "slider, not `animate --eyes-open`'s opening)")
    ed.add_argument("--mouth-open", type=_unit_pos, help="0 (as in the photo) .. 1 (wide open)")
    ed.add_argument("--brows", type=_unit, help="-1 (lowered) .. 1 (raised)")
    ed.add_argument("--yaw", type=lambda t: _number(t, float, -45, 45), help="degrees, > 0 turns towards the image's right")
    ed.add_argument("--pitch", type=lambda t: _number(t, float, -30, 30), help="degrees, > 0 tilts the chin down")
    ed.add_argument("--roll", type=lambda t: _number(t, float, -30, 30), help="degrees, > 0 tilts clockwise")
    ed.add_argument("--gaze", type=_gaze_fixed,
                    help="H,V each -1..1: where the eyes look (0,0 straight ahead, 1,0 the image's right, 0,1 down)")
    ed.add_argument("--face-index", type=_positive_int, default=0, help="which face, 0 = the largest (default 0)")
    ed.add_argument("--no-pasteback", action="store_true", help="write the square crop around the face")
    _add_memory(ed)
    _add_background(ed)
    _add_provenance(ed)

    b = sub.add_parser("bench", help="print per-stage timings and end-to-end frames per second",
                       description="Synthesise driving clips from the bundled portrait and time every stage.")
    b.add_argument("--frames", type=_positive_int, default=240, help="frames per case (default 240)")
    b.add_argument("--memory-minutes", type=float, default=0.0,
                   help="also animate a synthesised 720p driver this many minutes long and report peak memory")
    e = sub.add_parser("eval", help="measure identity, motion, fidelity and stability against baselines",
                       description="Render with ugoku, run the static and similarity baselines, and measure "
                                   "all of them with independent models (dlib). One case (--source and "
                                   "--driving, or --self), or a TOML suite (--suite). Writes results.json, "
                                   "results.md and one contact sheet per case into the output folder. "
                                   "Metrics: docs/metrics.md.")
    e.add_argument("-s", "--source", help="a portrait photo (a cross-reenactment case, with --driving)")
    e.add_argument("-d", "--driving", help="the driving video for --source")
    e.add_argument("--self", dest="self_video", metavar="VIDEO",
                   help="a video of one person: its first frame is animated by the whole video and compared "
                        "with the real frames (self-reenactment)")
    e.add_argument("--suite", help="a TOML file listing cases (see benchmarks/shared-data.toml)")
    e.add_argument("--data", help="folder the suite's relative paths start from (overrides its 'root')")
    e.add_argument("-o", "--output", default="ugoku-eval", help="output folder (default ugoku-eval)")
    e.add_argument("--max-frames", type=_positive_int, default=0, help="frames per video (default 150, or the suite's)")
    e.add_argument("--systems", type=_systems, default=("ugoku", "static", "similarity"),
                   help="built-in systems to run: ugoku,static,similarity (default all)")
    e.add_argument("--compare", action="append", default=[], type=_compare, metavar="NAME=FOLDER",
                   help="also measure another system's results: FOLDER holds CASE.mp4 per case (repeatable)")
    e.add_argument("--identity-stride", type=_positive_int, default=0,
                   help="face descriptor on every n-th frame (default 5, or the suite's; 0.14 s a frame)")
    e.add_argument("--jobs", type=_positive_int, default=1, help="cases run in this many processes (default 1)")
    _add_provenance(e)

    c = sub.add_parser("consent", help="the consent registry: add, list, revoke, check",
                       description="Record who agreed to be animated, for what and until when. A record keeps "
                                   "the person's face descriptor (not the photo), so any photo of them matches.")
    csub = c.add_subparsers(dest="consent_command", metavar="ACTION", required=True)
    ca = csub.add_parser("add", help="record a person's consent")
    ca.add_argument("--name", required=True, help="the consenting person's name")
    ca.add_argument("--photo", required=True, help="a photo of the person (their face is matched, not the file)")
    ca.add_argument("--evidence", help="the signed form or recording; its SHA-256 is stored")
    ca.add_argument("--purpose", default="", help="what the consent covers")
    ca.add_argument("--expires", help="last valid day, YYYY-MM-DD (default: no end)")
    cl = csub.add_parser("list", help="list the records")
    cr = csub.add_parser("revoke", help="revoke a record (it stays listed; its face is refused from now on)")
    cr.add_argument("id", type=_positive_int)
    cr.add_argument("--reason", default="", help="why (kept with the record)")
    cc = csub.add_parser("check", help="which record matches the face in a photo, and how closely")
    cc.add_argument("photo")
    cc.add_argument("--face-index", type=_positive_int, default=0)
    for x in (ca, cl, cr, cc):
        _add_db(x)

    k = sub.add_parser("keys", help="the organisation's signing keys for C2PA provenance",
                       description="`ugoku keys init --org NAME` makes a root CA and an ES256 signing certificate "
                                   "in the ugoku data folder. Readers trust signed files once the root "
                                   "(root-ca.pem) is added as a trust anchor.")
    ksub = k.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    ki = ksub.add_parser("init", help="create the signing keys")
    ki.add_argument("--org", required=True, help="the organisation named in every signature")
    ki.add_argument("--years", type=_positive_int, default=5, help="validity (default 5)")
    ki.add_argument("--force", action="store_true", help="replace existing keys")
    ksub.add_parser("show", help="where the keys are and who they name")

    au = sub.add_parser("audit", help="the hash-chained audit log",
                        description="Every generation, refusal, consent change, key creation and verification "
                                    "is appended to a hash-chained log in the ugoku data folder.")
    asub = au.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    asub.add_parser("verify", help="check that no entry was edited, removed or cut off")
    ash = asub.add_parser("show", help="print the last entries")
    ash.add_argument("-n", type=_positive_int, default=20, help="how many (default 20)")

    v = sub.add_parser("verify", help="say where a video or image came from: manifest, watermark, audit log",
                       description="Read FILE's C2PA manifest and validate it, look for the ugoku watermark "
                                   "in its pixels (it survives re-encoding, resizing and cropping, which strip "
                                   "the manifest), and look the record up in the local audit log. Exit 0: "
                                   "provenance found; 1: a manifest is invalid (tampered) or disagrees with "
                                   "the watermark; 3: nothing found.")
    v.add_argument("file")
    v.add_argument("--trust", action="append", default=[], metavar="ROOT.pem",
                   help="also trust this root certificate (repeatable; the local keys' root is trusted)")
    v.add_argument("--max-frames", type=_positive_int, default=300, help="frames read for the watermark (default 300)")

    wb = sub.add_parser("watermark-bench", help="measure the watermark's robustness and cost on real videos",
                        description="Mark the first seconds of each video, attack (H.264 crf 28, 50%% "
                                    "downscale, both, 90%% centre crop, one JPEG q75 frame) and print bit "
                                    "accuracy, detections, false detections on the unmarked videos, PSNR "
                                    "and embedding time.")
    wb.add_argument("videos", nargs="+", help="video files or folders of them")
    wb.add_argument("--seconds", type=float, default=5.0, help="clip length (default 5)")
    wb.add_argument("--size", type=_positive_int, default=512, help="frame side in pixels (default 512)")
    return p


def _systems(text: str) -> tuple[str, ...]:
    parts = tuple(p.strip() for p in text.split(",") if p.strip())
    allowed = ("ugoku", "static", "similarity")
    bad = [p for p in parts if p not in allowed]
    if bad or not parts:
        raise argparse.ArgumentTypeError(f"unknown system(s) {', '.join(bad) or '(none)'}; choose from {','.join(allowed)}")
    return parts


def _compare(text: str):
    from pathlib import Path

    name, sep, folder = text.partition("=")
    if not sep or not name.strip() or not folder.strip():
        raise argparse.ArgumentTypeError(f"{text!r}: write NAME=FOLDER, e.g. liveportrait=results/lp")
    if not Path(folder).is_dir():
        raise argparse.ArgumentTypeError(f"{folder}: no such folder of result videos")
    return name.strip(), Path(folder)


def _add_memory(p: argparse.ArgumentParser) -> None:
    p.add_argument("--memory", metavar="VIDEO",
                   help="a video of the same person as the photo, talking: where the mouth opens, their own "
                        "teeth and tongue from it are shown, before the driver's or drawn ones (the face in it "
                        "must match the photo's)")


def _add_background(p: argparse.ArgumentParser) -> None:
    # render.background.BACKGROUND_MODES, spelled out: importing it would load OpenCV for --help.
    p.add_argument("--background", choices=("still", "warp"), default="still",
                   help="still: the background stays put behind the moving person and what the head uncovers "
                        "is filled from the background around it (default); warp: the background bends with "
                        "the head (no segmentation)")


def _render_options(args):
    from ugoku.render.background import BackgroundOptions
    from ugoku.render.warp import RenderOptions

    return RenderOptions(background=BackgroundOptions(mode=args.background))


def _animate(args) -> int:
    from ugoku.api import AnimateOptions, animate
    from ugoku.face.source import CropOptions
    from ugoku.face.tracker import SmoothOptions
    from ugoku.io.video import EncodeOptions
    from ugoku.motion.retarget import RetargetOptions
    from ugoku.render.compose import MouthOptions

    options = AnimateOptions(
        crop=CropOptions(size=args.crop_size, face_index=args.face_index),
        smooth=SmoothOptions(enabled=not args.no_smooth),
        retarget=RetargetOptions(mode=args.mode, regions=args.regions, expression_scale=args.expression_scale,
                                 pose_scale=args.pose_scale, gaze=args.gaze, eyes_open=args.eyes_open,
                                 lips_open=args.lips_open),
        render=_render_options(args),
        mouth=MouthOptions(enabled=not args.no_mouth_fill, memory=args.mouth_memory),
        encode=EncodeOptions(crf=args.crf),
        provenance=_provenance(args),
        pasteback=not args.no_pasteback,
        max_frames=args.max_frames or None,
    )
    if args.driving and args.driving.lower().endswith(IMAGE_SUFFIXES):
        from ugoku.api import animate_image

        out, c, gen = animate_image(args.source, args.driving, args.output, options, memory=args.memory)
        print(f"ugoku: wrote {out}: the pose and expression of {args.driving} (yaw {c.yaw:+.0f}, pitch "
              f"{c.pitch:+.0f}, roll {c.roll:+.0f} degrees; smile {c.smile:+.2f}, mouth {c.jaw:.2f}, eyes "
              f"{c.eye_r:+.2f}/{c.eye_l:+.2f}, brows {c.brow_r:+.2f}/{c.brow_l:+.2f}).")
        _print_generation(gen)
        return 0
    bar = ProgressBar(not args.quiet)
    try:
        if args.template:
            from ugoku.api import animate_template
            from ugoku.motion.templates import resolve

            r = animate_template(args.source, resolve(args.template), args.output, options, args.loops, bar,
                                 memory=args.memory)
        else:
            r = animate(args.source, args.driving, args.output, options, progress=bar, memory=args.memory)
    finally:
        bar.close()
    print(f"ugoku: wrote {r.output} ({r.width}x{r.height}): {r.frames} frames at {r.fps:.1f} fps, "
          f"face lost in {r.lost_frames} frame{'s' if r.lost_frames != 1 else ''}.")
    if r.memory_samples:
        took = f", read in {r.memory_seconds:.1f} s" if r.memory_seconds else ""
        print(f"ugoku: the person's own mouth memory: {r.memory_samples} samples from {args.memory}{took}.")
    _print_generation(r.generation)
    return 0


def _provenance(args):
    from pathlib import Path

    from ugoku.provenance.generation import ProvenanceOptions

    return ProvenanceOptions(attest=args.attest, db=Path(args.db) if args.db else None)


def _print_generation(gen) -> None:
    if gen is None:
        return
    if gen.created_keys:
        print(f"ugoku: created signing keys in {gen.keys.folder} for an unnamed organisation; "
              "name yours with `ugoku keys init --org NAME --force`.")
    print(f"ugoku: record {gen.record}, {gen.authorization.describe()}; watermarked and signed (C2PA).")


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")


def _templates(args) -> int:
    from ugoku.motion.templates import BUILTIN

    print("built-in motion templates (ugoku animate -s PHOTO -t NAME -o out.mp4):")
    for name, (text, seconds, _) in BUILTIN.items():
        print(f"  {name:12s} {seconds:3.1f} s  {text}")
    print("record your own: ugoku template record DRIVING.mp4 -o mine.json, then -t mine.json")
    return 0


def _template(args) -> int:
    from ugoku.api import RecordOptions, record_template
    from ugoku.face.tracker import SmoothOptions
    from ugoku.io.image import check_output_path
    from ugoku.motion.templates import save

    check_output_path(args.output, (".json",))
    t = record_template(args.driving, RecordOptions(SmoothOptions(enabled=not args.no_smooth), args.max_frames or None),
                        name=args.name)
    out = save(t, args.output, source=t.description)
    print(f"ugoku: wrote {out}: {len(t)} frames ({t.seconds:.1f} s at {t.fps:g} fps) of motion only "
          "(head angles and expression amounts; no face shape or image data).")
    return 0


def _edit(args) -> int:
    from dataclasses import replace

    from ugoku.api import AnimateOptions, edit
    from ugoku.face.source import CropOptions
    from ugoku.motion.phrases import parse_expression
    from ugoku.motion.retarget import RetargetOptions

    parsed = parse_expression(args.expression)
    c = parsed.controls
    sliders = {"smile": args.smile, "jaw": args.mouth_open, "yaw": args.yaw, "pitch": args.pitch, "roll": args.roll}
    c = replace(c, **{k: v for k, v in sliders.items() if v is not None})
    if args.eyes_open is not None:
        c = replace(c, eye_r=args.eyes_open, eye_l=args.eyes_open)
    if args.brows is not None:
        c = replace(c, brow_r=args.brows, brow_l=args.brows)
    gaze = args.gaze if args.gaze is not None else parsed.gaze
    options = AnimateOptions(crop=CropOptions(face_index=args.face_index), pasteback=not args.no_pasteback,
                             retarget=RetargetOptions(gaze=gaze if gaze is not None else "keep"),
                             render=_render_options(args), provenance=_provenance(args))
    if args.expression:
        print(f"ugoku: understood: {', '.join(parsed.understood) or 'nothing'}; "
              f"ignored: {', '.join(parsed.ignored) or 'nothing'}.")
    out, gen = edit(args.source, args.output, c, options, memory=args.memory)
    print(f"ugoku: wrote {out}.")
    _print_generation(gen)
    return 0


def _demo(args) -> int:
    from ugoku.demo import run_demo

    bar = ProgressBar(not args.quiet)
    try:
        r = run_demo(args.output, seconds=args.seconds, progress=bar)
    finally:
        bar.close()
    print(f"ugoku: wrote {r.output} ({r.width}x{r.height}): {r.frames} frames at {r.fps:.1f} fps "
          "(bundled NASA astronaut portrait, public domain).")
    _print_generation(r.generation)
    return 0


def _bench(args) -> int:
    from ugoku.bench import run_bench

    run_bench(frames=args.frames or 240, memory_minutes=args.memory_minutes)
    return 0


def _eval(args) -> int:
    from pathlib import Path

    from ugoku.errors import OptionError
    from ugoku.eval.suite import Case, EvalOptions, case_name, check_cases, load_suite, run_suite

    settings: dict = {}
    if args.suite:
        if args.source or args.driving or args.self_video:
            raise OptionError("give either --suite or one case (--source/--driving or --self), not both.")
        cases, settings = load_suite(args.suite, args.data)
        origin = args.suite
    elif args.self_video:
        if args.source or args.driving:
            raise OptionError("--self takes one video; leave out --source and --driving.")
        v = Path(args.self_video)
        cases, origin = [Case(f"self-{v.stem}", "self", v)], "--self"
    elif args.source and args.driving:
        s, d = Path(args.source), Path(args.driving)
        cases, origin = [Case(case_name(s, d), "cross", d, s)], "the command line"
    else:
        raise OptionError("say what to evaluate: --source PHOTO --driving VIDEO, --self VIDEO, or --suite FILE.")
    check_cases(cases, origin)
    options = EvalOptions(max_frames=args.max_frames or settings.get("max_frames", 150), systems=args.systems,
                          compare=tuple(args.compare),
                          identity_stride=args.identity_stride or settings.get("identity_stride", 5),
                          jobs=max(1, args.jobs), provenance=_provenance(args))
    done = [0]

    def progress(i, n):
        done[0] = i
        print(f"ugoku: case {i}/{n} done", file=sys.stderr, flush=True)

    report = run_suite(cases, args.output, options, progress)
    out = Path(args.output)
    print(f"ugoku: evaluated {len(cases)} case{'s' if len(cases) != 1 else ''} in {report['seconds']:.0f} s; "
          f"wrote {out / 'results.md'}, {out / 'results.json'} and a contact sheet per case.")
    for kind, systems in report["summary"].items():
        for name, v in systems.items():
            bits = [f"{k} {v[k]:.3f}" for k in ("csim_source", "mouth_corr", "eyes_corr", "yaw_corr", "ssim")
                    if isinstance(v.get(k), float)]
            print(f"  {kind:5s} {name:11s} " + ", ".join(bits))
    return 0


def _consent(args) -> int:
    from pathlib import Path

    from ugoku.provenance import paths
    from ugoku.provenance.audit import AuditLog
    from ugoku.provenance.consent import ConsentError, Registry, parse_date, sha256_file
    from ugoku.provenance.identity import descriptor

    reg = Registry(Path(args.db) if args.db else paths.consent_db())
    audit = AuditLog(paths.audit_log())
    if args.consent_command in ("add", "check"):
        from ugoku.api import load_source
        from ugoku.face.source import CropOptions

        photo = args.photo
        face = load_source(photo, CropOptions(face_index=getattr(args, "face_index", 0)))
        desc = descriptor(face.crop)
        if desc is None:
            raise ConsentError(f"{photo}: the identity model cannot see the face clearly; use a sharper, "
                               "more frontal photo.")
    if args.consent_command == "add":
        expires = parse_date(args.expires) if args.expires else None
        ev = sha256_file(args.evidence) if args.evidence else None
        rec = reg.add(args.name, desc, sha256_file(photo), args.purpose, expires, ev,
                      Path(args.evidence).name if args.evidence else None)
        audit.append("consent.add", {"id": rec.id, "name": rec.name, "purpose": rec.purpose, "expires": rec.expires,
                                     "evidence_sha256": ev, "photo_sha256": rec.photo_sha256, "db": str(reg.path)})
        print(f"ugoku: consent record {rec.id} for {rec.name}" + (f" ({rec.purpose})" if rec.purpose else "")
              + (f", until {rec.expires}" if rec.expires else ", no end date")
              + ("" if ev else "; no evidence file given") + f"; in {reg.path}.")
        return 0
    if args.consent_command == "list":
        recs = reg.records()
        if not recs:
            print(f"ugoku: no consent records in {reg.path}.")
        for r in recs:
            extra = f"revoked {r.revoked[:10]}" if r.revoked else (f"until {r.expires}" if r.expires else "no end date")
            print(f"{r.id:4d}  {r.status():8s} {r.name}  [{r.purpose or 'no purpose given'}]  {extra}  "
                  f"added {r.created[:10]}  evidence {'sha256 ' + r.evidence_sha256[:12] if r.evidence_sha256 else 'none'}")
        return 0
    if args.consent_command == "revoke":
        rec = reg.revoke(args.id, args.reason)
        audit.append("consent.revoke", {"id": rec.id, "name": rec.name, "reason": args.reason, "db": str(reg.path)})
        print(f"ugoku: consent record {rec.id} ({rec.name}) revoked {rec.revoked[:10]}; their face will be refused.")
        return 0
    near = reg.nearest(desc)
    from ugoku.provenance.consent import MATCH_DISTANCE

    if near is None or near.distance > MATCH_DISTANCE:
        print(f"ugoku: {photo}: no consent record matches"
              + (f" (nearest: record {near.record.id}, distance {near.distance:.2f}; a match is <= {MATCH_DISTANCE})"
                 if near else "") + ".")
        return 1
    r = near.record
    print(f"ugoku: {photo}: matches consent record {r.id} ({r.name}), distance {near.distance:.2f} "
          f"(<= {MATCH_DISTANCE} is a match); status {r.status()}.")
    return 0 if r.status() == "valid" else 1


def _keys(args) -> int:
    from ugoku.provenance import keys as keyring
    from ugoku.provenance import paths
    from ugoku.provenance.audit import AuditLog

    folder = paths.keys_dir()
    if args.keys_command == "init":
        k = keyring.create(folder, args.org.strip() or "unnamed", args.years or 5, args.force)
        AuditLog(paths.audit_log()).append("keys.init", {"folder": str(folder), "organisation": k.organisation})
        print(f"ugoku: signing keys for {k.organisation} in {folder} (root CA {keyring.ROOT_CERT}, signing "
              f"certificate {keyring.SIGN_CERT}); give {folder / keyring.ROOT_CERT} to whoever checks your files.")
        return 0
    k = keyring.load(folder)
    print(f"ugoku: signing keys for {k.organisation} in {folder}; trust anchor {folder / keyring.ROOT_CERT}.")
    return 0


def _audit(args) -> int:
    import json

    from ugoku.provenance import paths
    from ugoku.provenance.audit import AuditLog

    log = AuditLog(paths.audit_log())
    if args.audit_command == "show":
        entries = list(log.entries())
        for e in entries[-args.n:]:
            print(json.dumps(e, ensure_ascii=False))
        return 0
    rep = log.verify()
    if rep.ok:
        print(f"ugoku: audit log {log.path} is intact: {rep.entries} entries; head {rep.head}")
        return 0
    print(f"ugoku: audit log {log.path} was TAMPERED WITH: {rep.problem} (checked {rep.entries} entries).")
    return 1


def _verify(args) -> int:
    from pathlib import Path

    from ugoku.errors import InputError
    from ugoku.provenance.verify import describe, verify

    anchors = []
    for t in args.trust:
        try:
            anchors.append(Path(t).read_bytes())
        except OSError as exc:
            raise InputError(f"{t}: cannot be read ({exc.strerror}); give a root certificate in PEM.") from None
    v = verify(args.file, anchors, args.max_frames or 300)
    print("\n".join(describe(v)))
    return v.exit_code


def _watermark_bench(args) -> int:
    from pathlib import Path

    from ugoku.errors import InputError
    from ugoku.provenance.wmbench import run

    videos = []
    for x in args.videos:
        p = Path(x)
        if p.is_dir():
            videos += sorted(q for q in p.iterdir() if q.suffix.lower() in (".mp4", ".mov", ".mkv", ".webm"))
        elif p.is_file():
            videos.append(p)
        else:
            raise InputError(f"{p}: no such file or folder; give videos or folders of videos.")
    if not videos:
        raise InputError("no videos found; give .mp4/.mov/.mkv/.webm files or folders holding them.")
    run(videos, args.seconds, args.size or 512)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    from ugoku.errors import UgokuError

    try:
        commands = {"animate": _animate, "demo": _demo, "bench": _bench, "eval": _eval, "templates": _templates,
                    "template": _template, "edit": _edit, "consent": _consent, "keys": _keys, "audit": _audit,
                    "verify": _verify, "watermark-bench": _watermark_bench}
        return commands[args.command](args)
    except UgokuError as exc:
        print(f"ugoku: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("ugoku: interrupted; no output was written.", file=sys.stderr)
        return 130
