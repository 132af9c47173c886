"""Motion templates: Controls over time, built in (authored here, not recorded from anyone) or
recorded from a driving video and stored as JSON.

A template is motion only: per frame, the fifteen numbers of `ugoku.motion.controls.Controls` (head
angles, head movement, and how much each eye, brow and the mouth move relative to the performer's own
first frame). No landmark, face shape or pixel is stored, and the loader accepts nothing else: unknown
keys, wrong types, non-finite or out-of-range numbers and oversized files are refused with one sentence.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ugoku import __version__
from ugoku.errors import InputError
from ugoku.motion.controls import BOUNDS, CHANNELS, REST, Controls

FORMAT = "ugoku.motion-template"
SCHEMA = 1
MAX_FILE_BYTES = 32_000_000
MAX_FRAMES = 216_000          # 30 minutes at 120 fps
MAX_TEXT = 500


@dataclass(frozen=True)
class Template:
    """A motion: `frames` (N, len(CHANNELS)) float64 in CHANNELS order, played at `fps`."""

    name: str
    description: str
    fps: float
    frames: np.ndarray

    @property
    def seconds(self) -> float:
        return len(self.frames) / self.fps

    def controls(self, loops: int = 1) -> Iterator[Controls]:
        for _ in range(max(1, loops)):
            for row in self.frames:
                yield Controls.from_row(row)

    def __len__(self) -> int:
        return len(self.frames)


def from_controls(name: str, description: str, fps: float, controls) -> Template:
    rows = np.array([c.clipped().as_row() for c in controls], dtype=np.float64).reshape(-1, len(CHANNELS))
    return Template(name, description, float(fps), rows)


# ---------------------------------------------------------------------------------------------
# Shapes of motion over time. Every curve is 0 at both ends so that templates loop without a jump.

def _ease(u: float) -> float:
    u = min(max(u, 0.0), 1.0)
    return u * u * (3 - 2 * u)


def hold(t: float, start: float, end: float, ramp: float) -> float:
    """0 before `start`, rising over `ramp` seconds to 1, held, falling to 0 at `end`."""
    return _ease((t - start) / ramp) * _ease((end - t) / ramp)


def blink(t: float, at: float, length: float = 0.28) -> float:
    """A blink's closure (0 open .. 1 shut) centred at `at`: fast down, slightly slower up."""
    u = (t - at) / (length / 2)
    if u < -1 or u > 1.4:
        return 0.0
    return _ease(1 + u) if u < 0 else _ease(1 - u / 1.4)


def swing(t: float, seconds: float, cycles: float) -> float:
    """A sine of `cycles` periods over the clip, faded in and out so it starts and ends at rest."""
    env = math.sin(math.pi * t / seconds) ** 2
    return math.sin(2 * math.pi * cycles * t / seconds) * env


def _blinks(t: float, times: tuple[float, ...]) -> float:
    return max((blink(t, a) for a in times), default=0.0)


def _syllables(t: float, seconds: float, seed: int = 7) -> tuple[float, float]:
    """Jaw opening and mouth width of speech-like motion: syllables at 3-5 Hz with pauses."""
    rng = np.random.default_rng(seed)
    rates = rng.uniform(3.0, 5.0, 3)
    phases = rng.uniform(0, 2 * math.pi, 3)
    s = sum(math.sin(2 * math.pi * r * t + p) for r, p in zip(rates, phases)) / 3
    phrase = hold(t, 0.3, seconds * 0.46, 0.25) + hold(t, seconds * 0.54, seconds - 0.3, 0.25)
    jaw = phrase * max(0.0, 0.25 + 0.75 * s) ** 1.3 * 0.55
    wide = phrase * 0.35 * math.sin(2 * math.pi * rates[1] * 0.5 * t + phases[2])
    return jaw, wide


def _blink_tpl(t: float, s: float) -> Controls:
    c = _blinks(t, (0.8, 2.1))
    return Controls(eye_r=-c, eye_l=-c, pitch=1.5 * swing(t, s, 1), yaw=2.0 * swing(t, s, 0.5))


def _nod_tpl(t: float, s: float) -> Controls:
    p = 13.0 * swing(t, s, 2)
    return Controls(pitch=p, y=0.01 * p / 13.0, eye_r=-0.1 * max(p, 0) / 13, eye_l=-0.1 * max(p, 0) / 13)


def _shake_tpl(t: float, s: float) -> Controls:
    return Controls(yaw=20.0 * swing(t, s, 2), x=0.04 * swing(t, s, 2))


def _smile_tpl(t: float, s: float) -> Controls:
    k = hold(t, 0.3, s - 0.3, 0.9)
    c = _blinks(t, (2.2,))
    return Controls(smile=0.95 * k, jaw=0.12 * k, mouth_wide=0.25 * k, eye_r=-0.2 * k - c * (1 - 0.2 * k),
                    eye_l=-0.2 * k - c * (1 - 0.2 * k), brow_r=0.12 * k, brow_l=0.12 * k, roll=3.0 * k, pitch=-2.0 * k)


def _talk_tpl(t: float, s: float) -> Controls:
    jaw, wide = _syllables(t, s)
    c = _blinks(t, (1.6, 3.9, 5.3))
    brow = 0.35 * hold(t, 1.1, 1.9, 0.25) + 0.25 * hold(t, 4.2, 4.8, 0.2)
    return Controls(jaw=jaw, mouth_wide=wide, eye_r=-c, eye_l=-c, brow_r=brow, brow_l=brow,
                    yaw=6.0 * swing(t, s, 1.5), pitch=3.5 * swing(t, s, 3), roll=2.0 * swing(t, s, 1),
                    smile=0.15 * hold(t, 0.2, s - 0.2, 1.0))


def _surprised_tpl(t: float, s: float) -> Controls:
    k = hold(t, 0.4, s - 0.4, 0.35)
    return Controls(brow_r=1.0 * k, brow_l=1.0 * k, eye_r=0.9 * k, eye_l=0.9 * k, jaw=0.6 * k,
                    mouth_wide=-0.35 * k, pitch=-5.0 * k, zoom=1.0 - 0.03 * k)


def _wink_tpl(t: float, s: float) -> Controls:
    w = hold(t, 0.7, 1.6, 0.18)
    k = hold(t, 0.4, s - 0.3, 0.4)
    return Controls(eye_l=-1.0 * w, eye_r=-0.15 * w, smile=0.5 * k, brow_l=-0.2 * w, brow_r=0.1 * w,
                    roll=-4.0 * k, yaw=-4.0 * k)


def _look_around_tpl(t: float, s: float) -> Controls:
    # Gaze leads: right, left, up, down, back to the camera; the head follows about a third of the way.
    keys = [(0.0, 0, 0), (0.6, 0, 0), (1.1, 1, 0), (1.9, 1, 0), (2.5, -1, 0), (3.3, -1, 0), (3.8, 0, -1),
            (4.4, 0, -1), (4.9, 0, 0.8), (5.3, 0, 0.8), (5.7, 0, 0), (6.0, 0, 0)]
    ts = [k[0] * s / 6.0 for k in keys]
    h = float(np.interp(t, ts, [k[1] for k in keys]))
    v = float(np.interp(t, ts, [k[2] for k in keys]))
    # Smooth the piecewise-linear path a little and let the head lag.
    c = _blinks(t, (2.2 * s / 6,))
    # The lids follow the eyes (as eyes.lids_follow_gaze does for a fixed gaze): up a little when
    # looking up, down over the iris's top when looking down.
    lids = 0.15 * max(-v, 0) - 0.3 * max(v, 0)
    return Controls(gaze_h=0.9 * h, gaze_v=0.9 * v, yaw=12.0 * h, pitch=6.0 * v, eye_r=-c + lids,
                    eye_l=-c + lids, brow_r=0.2 * max(-v, 0), brow_l=0.2 * max(-v, 0))


BUILTIN: dict[str, tuple[str, float, Callable[[float, float], Controls]]] = {
    "blink": ("two natural blinks with a slight head drift", 3.0, _blink_tpl),
    "nod": ("two nods of about 13 degrees", 3.0, _nod_tpl),
    "shake": ("a head shake, 20 degrees each way", 3.0, _shake_tpl),
    "smile": ("a broad smile that rises, holds with a blink, and relaxes", 4.0, _smile_tpl),
    "talk": ("natural talking: syllables, pauses, blinks, brow accents and small head motion", 6.0, _talk_tpl),
    "surprised": ("brows up, eyes wide, mouth open, head back", 3.0, _surprised_tpl),
    "wink": ("a wink of the left eye with a half smile", 2.5, _wink_tpl),
    "look-around": ("eyes look right, left, up and down; the head follows a little", 6.0, _look_around_tpl),
}

TOUR = ("blink", "smile", "look-around", "talk", "nod", "surprised", "wink", "shake")


def builtin(name: str, fps: float = 25.0) -> Template:
    """A built-in template by name (`BUILTIN`), sampled at `fps`."""
    if name not in BUILTIN:
        raise InputError(f"no built-in template named {name!r}; `ugoku templates` lists them "
                         "(or give a .json file recorded with `ugoku template record`).")
    text, seconds, fn = BUILTIN[name]
    n = int(round(seconds * fps))
    return from_controls(name, text, fps, (fn(i / fps, seconds) for i in range(n)))


def tour(fps: float = 25.0, names: tuple[str, ...] = TOUR) -> Template:
    """Several built-in templates one after another (the demo)."""
    rows = np.concatenate([builtin(n, fps).frames for n in names])
    return Template("tour", "built-in templates in a row: " + ", ".join(names), float(fps), rows)


# ---------------------------------------------------------------------------------------------
# JSON files: written atomically, read with strict validation.

def to_json(t: Template, source: str = "") -> str:
    doc = {
        "format": FORMAT, "schema": SCHEMA, "ugoku_version": __version__,
        "name": t.name[:100], "description": t.description[:MAX_TEXT], "source": source[:MAX_TEXT],
        "fps": round(float(t.fps), 6), "channels": list(CHANNELS),
        "frames": [[round(float(v), 4) for v in row] for row in t.frames],
    }
    return json.dumps(doc, separators=(",", ":"))


def save(t: Template, path: str | os.PathLike, source: str = "") -> Path:
    from ugoku.io.image import check_output_path, temp_path_beside

    p = check_output_path(path, (".json",))
    tmp = temp_path_beside(p)
    try:
        tmp.write_text(to_json(t, source), encoding="utf-8")
        os.replace(tmp, p)
    finally:
        tmp.unlink(missing_ok=True)
    return p


class _Bad(Exception):
    pass


def _no_constants(name: str):
    raise _Bad(f"holds {name}, which is not a number JSON allows")


def _unique_keys(pairs):
    keys = [k for k, _ in pairs]
    dup = {k for k in keys if keys.count(k) > 1}
    if dup:
        raise _Bad(f"repeats the key {sorted(dup)[0]!r}")
    return dict(pairs)


_REQUIRED = {"format", "schema", "ugoku_version", "fps", "channels", "frames"}
_OPTIONAL = {"name", "description", "source"}


def parse(text: str, origin: str = "template") -> Template:
    """Validate a template document; InputError naming `origin` with the reason and the fix."""
    fix = "record it again with `ugoku template record`"
    try:
        doc = json.loads(text, parse_constant=_no_constants, object_pairs_hook=_unique_keys)
        return _validate(doc)
    except _Bad as exc:
        raise InputError(f"{origin}: not a valid ugoku motion template: it {exc}; {fix}.") from None
    except (json.JSONDecodeError, RecursionError) as exc:
        where = f" (line {exc.lineno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise InputError(f"{origin}: not a valid ugoku motion template: it is not well-formed JSON{where}; "
                         f"{fix}.") from None


def _validate(doc) -> Template:
    if not isinstance(doc, dict):
        raise _Bad("is not a JSON object")
    if doc.get("format") != FORMAT:
        raise _Bad(f"does not say \"format\": \"{FORMAT}\"")
    missing = _REQUIRED - doc.keys()
    if missing:
        raise _Bad(f"lacks {', '.join(sorted(missing))}")
    unknown = doc.keys() - _REQUIRED - _OPTIONAL
    if unknown:
        raise _Bad(f"has unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    schema = doc["schema"]
    if not isinstance(schema, int) or isinstance(schema, bool) or schema < 1:
        raise _Bad("has an invalid schema number")
    if schema > SCHEMA:
        raise _Bad(f"uses schema {schema}, newer than this ugoku reads ({SCHEMA}); upgrade ugoku")
    for key in ("ugoku_version",) + tuple(_OPTIONAL):
        if key in doc and (not isinstance(doc[key], str) or len(doc[key]) > MAX_TEXT):
            raise _Bad(f"has a {key} that is not a short text")
    fps = doc["fps"]
    if not _is_number(fps) or not 1.0 <= fps <= 120.0:
        raise _Bad("has an fps outside 1..120")
    channels = doc["channels"]
    if (not isinstance(channels, list) or not channels or len(channels) > len(CHANNELS)
            or not all(isinstance(c, str) for c in channels)):
        raise _Bad("has no valid channel list")
    unknown_ch = [c for c in channels if c not in CHANNELS]
    if unknown_ch:
        raise _Bad(f"names unknown channel {unknown_ch[0][:40]!r}")
    if len(set(channels)) != len(channels):
        raise _Bad("names a channel twice")
    frames = doc["frames"]
    if not isinstance(frames, list) or not frames:
        raise _Bad("has no frames")
    if len(frames) > MAX_FRAMES:
        raise _Bad(f"has {len(frames)} frames, more than {MAX_FRAMES}")
    index = [CHANNELS.index(c) for c in channels]
    lo = np.array([BOUNDS[c][0] for c in channels]) - 1e-6
    hi = np.array([BOUNDS[c][1] for c in channels]) + 1e-6
    out = np.tile(np.array(REST.as_row()), (len(frames), 1))
    for i, row in enumerate(frames):
        if not isinstance(row, list) or len(row) != len(channels) or not all(_is_number(v) for v in row):
            raise _Bad(f"has a malformed frame {i} (want {len(channels)} numbers)")
        v = np.array(row, dtype=np.float64)
        bad = np.nonzero((v < lo) | (v > hi))[0]
        if len(bad):
            c = channels[bad[0]]
            raise _Bad(f"has {c} = {v[bad[0]]:g} in frame {i}, outside {BOUNDS[c][0]:g}..{BOUNDS[c][1]:g}")
        out[i, index] = v
    return Template(str(doc.get("name", "template")), str(doc.get("description", "")), float(fps), out)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def load(path: str | os.PathLike) -> Template:
    """Read a template file (see `parse`)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: file not found; give a built-in template name (`ugoku templates`) or a .json file.")
    if p.stat().st_size > MAX_FILE_BYTES:
        raise InputError(f"{p}: larger than {MAX_FILE_BYTES // 1_000_000} MB, too big for a motion template; "
                         "record a shorter clip.")
    try:
        text = p.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        raise InputError(f"{p}: not a UTF-8 text file, so not a motion template; "
                         "record one with `ugoku template record`.") from None
    return parse(text, str(p))


def resolve(name_or_path: str, fps: float = 25.0) -> Template:
    """A built-in name, or a path to a .json template."""
    if name_or_path in BUILTIN:
        return builtin(name_or_path, fps)
    if name_or_path.lower().endswith(".json") or os.sep in name_or_path:
        return load(name_or_path)
    return builtin(name_or_path, fps)


__all__ = ["Template", "builtin", "tour", "load", "save", "parse", "resolve", "BUILTIN", "REST"]
