"""Evaluation cases and suites: render with ugoku, run the baselines, measure, summarise, report.

A *cross* case is a photo animated by someone else's driving video (identity must stay the photo's,
motion must follow the driver). A *self* case is a video of one person: its first frame is the source,
the whole video drives it, and its real frames are the ground truth for fidelity.

Suite files are TOML (parsed with the standard library; no code runs):

    root = "../../shared/data"        # optional; relative paths resolve against it (else the file's folder)
    max_frames = 150                   # optional
    identity_stride = 10               # optional: face descriptor on every n-th frame
    [grid]                             # optional: every source with every driving video
    sources = ["portraits/s0.jpg", ...]
    drivings = ["driving/d3.mp4", ...]
    [[cross]]                          # optional, repeated
    source = "portraits/s0.jpg"
    driving = "driving/d3.mp4"
    name = "s0-d3"                     # optional
    [[self]]                           # optional, repeated
    video = "person-videos/s18.mp4"
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
import tomllib
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from ugoku import __version__
from ugoku.errors import InputError, OutputError
from ugoku.eval import metrics as M
from ugoku.eval.measure import SIGNALS, TRACKER_SIGNALS, MeasureOptions, VideoMeasure

BUILTIN_SYSTEMS = ("ugoku", "static", "similarity")
MAX_SUITE_BYTES = 1_000_000
MAX_CASES = 500


@dataclass(frozen=True)
class Case:
    name: str
    kind: str                 # "cross" or "self"
    driving: Path             # for self cases, the person's video (source = its first frame)
    source: Path | None = None


@dataclass(frozen=True)
class EvalOptions:
    """max_frames caps every video; systems are the built-in ones to run; compare maps a name to a
    folder of other systems' result videos named `<case>.mp4`; jobs is the number of processes."""

    max_frames: int = 150
    systems: tuple[str, ...] = BUILTIN_SYSTEMS
    compare: tuple[tuple[str, Path], ...] = ()
    identity_stride: int = 5
    moments: int = 6
    jobs: int = 1
    provenance: object | None = None    # a ProvenanceOptions: consent/attestation for the ugoku renders


# ---- suites -------------------------------------------------------------------------------------------


def case_name(source: Path, driving: Path) -> str:
    return f"{source.stem}-{driving.stem}"


def load_suite(path: str | os.PathLike, data_root: str | os.PathLike | None = None) -> tuple[list[Case], dict]:
    """Parse a suite file into cases; returns (cases, settings). InputError names the file and the fix."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_SUITE_BYTES:
            raise InputError(f"{path}: a suite file is limited to 1 MB; split it.")
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such suite file; check the path.") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a valid TOML suite file ({exc}); see `ugoku eval --help`.") from None

    def strings(value, key) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InputError(f"{path}: '{key}' must be a list of file paths in quotes.")
        return value

    if data_root is not None:
        root = Path(data_root)
    elif isinstance(doc.get("root"), str):
        root = (path.parent / doc["root"]).resolve()
    else:
        root = path.parent
    settings = {}
    if "identity_stride" in doc:
        if not isinstance(doc["identity_stride"], int) or not 1 <= doc["identity_stride"] <= 1000:
            raise InputError(f"{path}: 'identity_stride' must be a whole number from 1 to 1000.")
        settings["identity_stride"] = doc["identity_stride"]
    if "max_frames" in doc:
        if not isinstance(doc["max_frames"], int) or not 1 <= doc["max_frames"] <= 100_000:
            raise InputError(f"{path}: 'max_frames' must be a whole number from 1 to 100000.")
        settings["max_frames"] = doc["max_frames"]
    cases: list[Case] = []
    grid = doc.get("grid", {})
    if not isinstance(grid, dict):
        raise InputError(f"{path}: [grid] must be a table with 'sources' and 'drivings'.")
    if grid:
        for s in strings(grid.get("sources"), "grid.sources"):
            for d in strings(grid.get("drivings"), "grid.drivings"):
                cases.append(Case(case_name(Path(s), Path(d)), "cross", root / d, root / s))
    for i, c in enumerate(doc.get("cross", [])):
        if not isinstance(c, dict) or not isinstance(c.get("source"), str) or not isinstance(c.get("driving"), str):
            raise InputError(f"{path}: [[cross]] entry {i + 1} needs source = \"...\" and driving = \"...\".")
        name = c.get("name") if isinstance(c.get("name"), str) else case_name(Path(c["source"]), Path(c["driving"]))
        cases.append(Case(name, "cross", root / c["driving"], root / c["source"]))
    for i, c in enumerate(doc.get("self", [])):
        if not isinstance(c, dict) or not isinstance(c.get("video"), str):
            raise InputError(f"{path}: [[self]] entry {i + 1} needs video = \"...\".")
        name = c.get("name") if isinstance(c.get("name"), str) else f"self-{Path(c['video']).stem}"
        cases.append(Case(name, "self", root / c["video"]))
    unknown = set(doc) - {"root", "max_frames", "identity_stride", "grid", "cross", "self"}
    if unknown:
        raise InputError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}; allowed: root, max_frames, "
                         "identity_stride, grid, cross, self.")
    if not cases:
        raise InputError(f"{path}: the suite lists no cases; add [grid], [[cross]] or [[self]] entries.")
    if len(cases) > MAX_CASES:
        raise InputError(f"{path}: {len(cases)} cases is more than {MAX_CASES}; split the suite.")
    names = [c.name for c in cases]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(f"{path}: case name(s) used twice: {', '.join(dup)}; give them distinct names.")
    check_cases(cases, path)
    return cases, settings


def check_cases(cases: list[Case], origin: str | os.PathLike) -> None:
    for c in cases:
        for p in (c.source, c.driving):
            if p is not None and not p.is_file():
                raise InputError(f"{origin}: case {c.name}: {p} does not exist; fix the path "
                                 "(or pass --data DIR for the folder the paths are relative to).")


# ---- one case -------------------------------------------------------------------------------------------


def _moments(n: int, k: int) -> tuple[int, ...]:
    return tuple(sorted({round(i * (n - 1) / max(1, k - 1)) for i in range(k)})) if n else ()


GAZE_EYES_OPEN = 0.15    # the judge's eye aspect ratio below which an eye counts as shut (docs/metrics.md)


def summarize(kind: str, res: VideoMeasure, drv: VideoMeasure, source_desc, driver_desc) -> dict:
    """Every per-case value of one system (see docs/metrics.md for the definitions)."""
    n = min(res.frames, drv.frames)
    out: dict = {"frames": res.frames, "detect_rate": float(res.detected.mean()) if res.frames else 0.0}
    ident = M.identity_stats(list(res.descriptors.values()), source_desc)
    out.update({"csim_source": ident["csim_mean"], "csim_source_p10": ident["csim_p10"],
                "id_distance": ident["distance_mean"], "id_distance_max": ident["distance_max"]})
    if kind == "cross":
        leak = M.identity_stats(list(res.descriptors.values()), driver_desc)
        out["csim_driver"] = leak["csim_mean"]
    with np.errstate(invalid="ignore"):
        eyes_open = np.minimum(drv.signals["eye_right"][:n], drv.signals["eye_left"][:n]) >= GAZE_EYES_OPEN
    for s in SIGNALS:
        a, b = res.signals[s][:n], drv.signals[s][:n]
        if s.startswith("gaze_"):       # a shut eye has no gaze: the iris the mesh reports there is a guess
            a, b = np.where(eyes_open, a, np.nan), np.where(eyes_open, b, np.nan)
        out[f"{s}_corr"] = M.pearson(a, b)
        out[f"{s}_mae"] = M.change_mae(a, b)
    out["eyes_corr"] = M.nanmean([out["eye_right_corr"], out["eye_left_corr"]])
    out["pose_mae_deg"] = M.nanmean([out["yaw_mae"], out["pitch_mae"], out["roll_mae"]])
    jr, jd = M.jitter(res.points, res.scale), M.jitter(drv.points, drv.scale)
    out["jitter"] = jr
    out["jitter_driver"] = jd
    out["jitter_ratio"] = jr / jd if jd and math.isfinite(jd) and jd > 0 else float("nan")
    for k, v in res.fidelity.items():
        out[k] = M.nanmean(v)
    return out


def agreement(drv: VideoMeasure) -> dict:
    """How far ugoku's tracker and the judge agree on a driving video: Pearson's r over time of each
    signal as the tracker reads it and as the judge reads it. An output that followed the tracker
    perfectly would score about this against the judge (docs/metrics.md). Also `own_id_distance_max`:
    the judge's descriptor distance of the driver's sampled frames from its own first one, how far
    the expressions alone move the identity reading of one and the same person."""
    out = {s: M.pearson(drv.tracker[s], drv.signals[s]) for s in TRACKER_SIGNALS if s in drv.tracker}
    if "eye_right" in out:
        out["eyes"] = M.nanmean([out.pop("eye_right"), out.pop("eye_left")])
    descs = list(drv.descriptors.values())
    if len(descs) > 1:
        out["own_id_distance_max"] = M.identity_stats(descs[1:], descs[0])["distance_max"]
    return out


def _per_frame(m: VideoMeasure) -> dict:
    def clean(a):
        return [None if not np.isfinite(x) else round(float(x), 5) for x in a]

    d = {k: clean(v) for k, v in m.signals.items()}
    d["detected"] = [bool(x) for x in m.detected]
    for k, v in m.fidelity.items():
        d[k] = clean(v)
    return d


def _validity(result: Path, driving: Path, expected_frames: int) -> dict:
    from ugoku.io.video import VideoSource

    with VideoSource(driving) as dv:
        dinfo = dv.info
    with VideoSource(result) as rv:
        rinfo = rv.info
        n = sum(1 for _ in rv.frames())
    return {"frames_ok": n == expected_frames, "fps_ok": rinfo.fps == dinfo.fps,
            "audio_ok": rinfo.has_audio or not dinfo.has_audio}


def _first_frame(path: Path) -> np.ndarray:
    from ugoku.eval.measure import video_frames

    for f in video_frames(path, 1):
        return f
    raise InputError(f"{path}: the video has no frames; use another video.")


_JUDGE = None


def _judge():
    """One judge per process (loading dlib's models takes about a second)."""
    global _JUDGE
    if _JUDGE is None:
        from ugoku.eval.face68 import Dlib68

        _JUDGE = Dlib68()
    return _JUDGE


def measure_driver(path: Path, max_frames: int, identity_stride: int = 0) -> VideoMeasure:
    """The judge's view of a driving video (the face descriptor on the first frame and, with a
    stride, on every identity_stride-th one)."""
    import cv2

    from ugoku.eval.measure import measure_frames, video_frames

    cv2.setNumThreads(1)
    return measure_frames(video_frames(path, max_frames), _judge(), MeasureOptions(identity_stride=identity_stride))


def run_case(case: Case, out_dir: Path, options: EvalOptions, drv: VideoMeasure | None = None) -> dict:
    """Render, measure and summarise every system for one case; writes the case's folder (ugoku's
    video, the source frame for self cases, a contact sheet) and returns the JSON-able record.
    `drv` is the driving video's measurement when already made (a suite measures each video once)."""
    import cv2

    from ugoku.api import AnimateOptions, animate, load_source
    from ugoku.eval.baselines import similarity_frames, static_frames
    from ugoku.eval.measure import measure_frames, video_frames
    from ugoku.eval.sheet import contact_sheet
    from ugoku.io.image import write_image

    cv2.setNumThreads(1)
    judge = _judge()
    case_dir = out_dir / case.name
    case_dir.mkdir(parents=True, exist_ok=True)
    cap = options.max_frames
    if case.kind == "self":
        source_path = write_image(case_dir / "source.png", _first_frame(case.driving))
    else:
        source_path = case.source
    pasteback = case.kind == "self"      # self: the result must line up with the real frames
    face = load_source(source_path)
    source_img = face.image if pasteback else face.crop

    with_truth = case.kind == "self"
    if drv is None:
        drv = measure_driver(case.driving, cap, options.identity_stride)
    n = drv.frames
    keep = _moments(n, options.moments)
    drv_keep = {}
    for i, f in enumerate(video_frames(case.driving, cap)):
        if i in keep:
            drv_keep[i] = f
    src = judge(source_img, descriptor=True)
    if src is None:
        raise InputError(f"{source_path}: dlib finds no face in this source, so identity cannot be measured; "
                         "use another photo for evaluation.")
    drv_desc = next(iter(drv.descriptors.values()), None)
    mopt = MeasureOptions(identity_stride=options.identity_stride, keep=keep)

    def truth():
        return video_frames(case.driving, cap) if with_truth else None

    record = {"name": case.name, "kind": case.kind, "driving": str(case.driving),
              "source": str(case.source) if case.source else f"{case.driving} (first frame)",
              "frames": n, "driver": {"per_frame": _per_frame(drv), "agreement": agreement(drv)}, "systems": {}}
    sheets = {}
    for system in options.systems:
        t0 = time.perf_counter()
        extra = {}
        if system == "ugoku":
            out_video = case_dir / "ugoku.mp4"
            from ugoku.provenance.generation import ProvenanceOptions

            r = animate(source_path, case.driving, out_video,
                        AnimateOptions(pasteback=pasteback, max_frames=cap,
                                       provenance=options.provenance or ProvenanceOptions()))
            extra = {"render_seconds": r.seconds, "render_fps": r.fps, "video": str(out_video)}
            extra.update(_validity(out_video, case.driving, n))
            frames = video_frames(out_video, cap)
        elif system == "static":
            frames = static_frames(source_img, n)
        elif system == "similarity":
            frames = similarity_frames(source_img, src.points, drv.points)
        else:
            raise InputError(f"unknown system {system!r}; choose from {', '.join(BUILTIN_SYSTEMS)}.")
        res = measure_frames(frames, judge, mopt, truth(), drv.points if with_truth else None)
        extra["measure_seconds"] = time.perf_counter() - t0 - extra.get("render_seconds", 0.0)
        summary = summarize(case.kind, res, drv, src.descriptor, drv_desc)
        summary.update(extra)
        record["systems"][system] = {"summary": summary, "per_frame": _per_frame(res)}
        sheets[system] = [res.kept[i] for i in keep if i in res.kept]
    for name, folder in options.compare:
        video = folder / f"{case.name}.mp4"
        if not video.is_file():
            record["systems"][name] = {"summary": {"missing": str(video)}, "per_frame": {}}
            continue
        res = measure_frames(video_frames(video, cap), judge, mopt, truth(), drv.points if with_truth else None)
        summary = summarize(case.kind, res, drv, src.descriptor, drv_desc)
        summary.update(_validity(video, case.driving, n))
        record["systems"][name] = {"summary": summary, "per_frame": _per_frame(res)}
        sheets[name] = [res.kept[i] for i in keep if i in res.kept]
    rows = [("source", [source_img]), ("driving", [drv_keep[i] for i in keep])]
    rows += [(name, imgs) for name, imgs in sheets.items()]
    sheet_path = case_dir / "sheet.png"
    write_image(sheet_path, contact_sheet(rows, cell=180))
    record["sheet"] = str(sheet_path)
    return record


# ---- many cases, reports ---------------------------------------------------------------------------------


def _run_case_worker(args) -> dict:
    case, out_dir, options, drv = args
    return run_case(case, out_dir, options, drv)


def _measure_driver_worker(args) -> VideoMeasure:
    return measure_driver(*args)


def run_suite(cases: list[Case], out_dir: str | os.PathLike, options: EvalOptions = EvalOptions(),
              progress=None) -> dict:
    """Run every case (in `options.jobs` processes) and write results.json and results.md into out_dir."""
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{out_dir}: cannot create the output folder ({exc.strerror}); choose another.") from None
    t0 = time.perf_counter()
    records: list[dict] = []
    videos = list(dict.fromkeys(c.driving for c in cases))
    if options.jobs > 1 and len(cases) > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(options.jobs, mp_context=mp.get_context("spawn")) as pool:
            args = [(v, options.max_frames, options.identity_stride) for v in videos]
            measured = dict(zip(videos, pool.map(_measure_driver_worker, args)))
            jobs = [(c, out_dir, options, measured[c.driving]) for c in cases]
            for rec in pool.map(_run_case_worker, jobs):
                records.append(rec)
                if progress:
                    progress(len(records), len(cases))
    else:
        measured = {}
        for c in cases:
            if c.driving not in measured:
                measured[c.driving] = measure_driver(c.driving, options.max_frames, options.identity_stride)
            records.append(run_case(c, out_dir, options, measured[c.driving]))
            if progress:
                progress(len(records), len(cases))
    report = {"ugoku_version": __version__, "created": time.strftime("%Y-%m-%d %H:%M:%S"),
              "machine": machine_line(), "seconds": time.perf_counter() - t0,
              "options": {**asdict(replace(options, compare=())), "compare": [[n, str(p)] for n, p in options.compare]},
              "summary": aggregate(records), "cases": records}
    _write_atomic(out_dir / "results.json", json.dumps(_finite(report), indent=1, default=_json_default, allow_nan=False))
    _write_atomic(out_dir / "results.md", markdown(report))
    return report


def machine_line() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}"


def _json_default(o):
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o))


def _finite(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_finite(v) for v in x]
    return x


def _write_atomic(path: Path, text: str) -> None:
    from ugoku.io.image import temp_path_beside

    tmp = temp_path_beside(path)
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


SUMMARY_KEYS = ("csim_source", "csim_source_p10", "id_distance", "id_distance_max", "csim_driver", "mouth_corr",
                "eyes_corr", "brows_corr", "yaw_corr", "pitch_corr", "gaze_h_corr", "gaze_v_corr", "pose_mae_deg",
                "mouth_mae", "jitter_ratio", "detect_rate", "psnr", "ssim", "l1", "render_fps")


def aggregate(records: list[dict]) -> dict:
    """Mean of each summary value over the cases of each kind, per system."""
    out: dict = {}
    for kind in ("cross", "self"):
        recs = [r for r in records if r["kind"] == kind]
        if not recs:
            continue
        systems = []
        for r in recs:
            systems += [s for s in r["systems"] if s not in systems]
        out[kind] = {}
        for s in systems:
            vals = {}
            sums = [r["systems"][s]["summary"] for r in recs if s in r["systems"]]
            for k in SUMMARY_KEYS:
                xs = [v[k] for v in sums if isinstance(v.get(k), (int, float)) and v.get(k) is not None]
                if xs:
                    vals[k] = M.nanmean(xs)
                    if k == "id_distance_max":
                        vals[k] = float(np.nanmax(xs))
            vals["cases"] = len(sums)
            out[kind][s] = vals
    return out


COLUMNS = (("csim_source", "CSIM↑"), ("id_distance_max", "ID dist max↓"), ("csim_driver", "leak↓"),
           ("mouth_corr", "mouth r↑"), ("eyes_corr", "eyes r↑"), ("brows_corr", "brows r↑"),
           ("yaw_corr", "yaw r↑"), ("pitch_corr", "pitch r↑"), ("gaze_h_corr", "gaze r↑"),
           ("pose_mae_deg", "pose err °↓"), ("jitter_ratio", "jitter ×↓"), ("detect_rate", "detected↑"),
           ("psnr", "PSNR↑"), ("ssim", "SSIM↑"), ("l1", "L1↓"), ("render_fps", "fps"))


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, float):
        return f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"
    return str(v)


AGREEMENT_COLUMNS = ("mouth", "eyes", "brows", "yaw", "pitch", "own_id_distance_max")


def _agreement_lines(records: list[dict]) -> list[str]:
    seen: dict[str, dict] = {}
    for r in records:
        a = r.get("driver", {}).get("agreement")
        if a:
            seen.setdefault(Path(r["driving"]).name, a)
    if not seen:
        return []
    lines = ["## Tracker–judge agreement on the driving videos", "",
             "Pearson's r between ugoku's tracker (MediaPipe) and the judge (dlib) reading the same signal on "
             "the same driving frames: roughly the most a result can score on that signal with this judge. "
             "Own ID dist max: the judge's descriptor distance of the driver's sampled frames from its own "
             "first frame, how far expressions alone move the identity reading of one person.", "",
             "| driving video | " + " | ".join("own ID dist max" if c == "own_id_distance_max" else f"{c} r"
                                             for c in AGREEMENT_COLUMNS) + " |",
             "| --- |" + " --- |" * len(AGREEMENT_COLUMNS)]
    for name, a in seen.items():
        lines.append(f"| {name} | " + " | ".join(_fmt(a.get(c)) for c in AGREEMENT_COLUMNS) + " |")
    lines.append("| mean | " + " | ".join(_fmt(M.nanmean([a.get(c, float("nan")) for a in seen.values()]))
                                        for c in AGREEMENT_COLUMNS) + " |")
    return lines + [""]


def markdown(report: dict) -> str:
    lines = [f"# ugoku eval — {report['created']}", "",
             f"ugoku {report['ugoku_version']} on {report['machine']}; {len(report['cases'])} cases, "
             f"{report['seconds']:.0f} s in all; at most {report['options']['max_frames']} frames per video.", ""]
    for kind, title in (("cross", "Cross-reenactment (photo + another person's video)"),
                        ("self", "Self-reenactment (first frame + its own video; fidelity against the real frames)")):
        if kind not in report["summary"]:
            continue
        cols = [c for c in COLUMNS if any(c[0] in v for v in report["summary"][kind].values())]
        lines += [f"## {title}", "", "| system | cases | " + " | ".join(h for _, h in cols) + " |",
                  "| --- | --- | " + " | ".join("---" for _ in cols) + " |"]
        for s, vals in report["summary"][kind].items():
            lines.append(f"| {s} | {vals['cases']} | " + " | ".join(_fmt(vals.get(k)) for k, _ in cols) + " |")
        lines.append("")
    lines += _agreement_lines(report["cases"])
    lines += ["## Per case (ugoku)", "", "| case | CSIM | ID dist max | mouth r | eyes r | brows r | yaw r | pitch r | "
              "gaze r | jitter × | detected | PSNR | SSIM |", "| --- |" + " --- |" * 12]
    for r in report["cases"]:
        s = r["systems"].get("ugoku", {}).get("summary", {})
        keys = ("csim_source", "id_distance_max", "mouth_corr", "eyes_corr", "brows_corr", "yaw_corr",
                "pitch_corr", "gaze_h_corr", "jitter_ratio", "detect_rate", "psnr", "ssim")
        lines.append(f"| {r['name']} | " + " | ".join(_fmt(s.get(k)) for k in keys) + " |")
    lines += ["", "Definitions: docs/metrics.md. ↑ higher is better, ↓ lower is better; r is Pearson's correlation "
              "over time with the driver; – where a value does not apply.", ""]
    return "\n".join(lines)
