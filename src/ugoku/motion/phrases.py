"""A short phrase ("a gentle smile, looking left") to Controls, by a fixed, documented vocabulary.

Nothing is guessed: every word is either part of a known term, a strength word in front of one, a
filler word, or reported back as ignored. Directions are as you look at the photo (image left and
right), the same as the sliders. The vocabulary is listed in docs/templates.md and by `VOCABULARY`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ugoku.motion.controls import Controls

# Words that set how strong the next term is (default MEDIUM).
STRENGTH = {
    "slight": 0.35, "slightly": 0.35, "gentle": 0.4, "gently": 0.4, "soft": 0.4, "subtle": 0.35,
    "little": 0.35, "faint": 0.3, "small": 0.4, "half": 0.5, "bit": 0.35,
    "big": 1.0, "broad": 1.0, "wide": 1.0, "very": 1.0, "huge": 1.0, "strong": 1.0, "strongly": 1.0,
    "full": 1.0, "fully": 1.0, "beaming": 1.0,
}
MEDIUM = 0.7
FILLER = {"a", "an", "the", "and", "with", "of", "her", "his", "their", "is", "to", "at", "in", "face",
          "expression", "person", "while", "but", "eye", "eyes"}

# term -> (channel amounts at strength 1, or a gaze direction "gaze:H,V").
TERMS: dict[str, dict | str] = {
    "smile": {"smile": 1.0}, "smiling": {"smile": 1.0}, "smiles": {"smile": 1.0}, "happy": {"smile": 0.9},
    "grin": {"smile": 1.0, "jaw": 0.15}, "grinning": {"smile": 1.0, "jaw": 0.15},
    "laughing": {"smile": 1.0, "jaw": 0.5, "eye_r": -0.3, "eye_l": -0.3},
    "frown": {"smile": -0.8, "brow_r": -0.5, "brow_l": -0.5}, "frowning": {"smile": -0.8, "brow_r": -0.5, "brow_l": -0.5},
    "sad": {"smile": -0.7, "brow_r": 0.3, "brow_l": 0.3, "eye_r": -0.2, "eye_l": -0.2},
    "angry": {"brow_r": -1.0, "brow_l": -1.0, "smile": -0.4, "eye_r": 0.2, "eye_l": 0.2},
    "stern": {"brow_r": -0.6, "brow_l": -0.6, "smile": -0.2},
    "surprised": {"brow_r": 1.0, "brow_l": 1.0, "eye_r": 0.9, "eye_l": 0.9, "jaw": 0.5},
    "surprise": {"brow_r": 1.0, "brow_l": 1.0, "eye_r": 0.9, "eye_l": 0.9, "jaw": 0.5},
    "astonished": {"brow_r": 1.0, "brow_l": 1.0, "eye_r": 1.0, "eye_l": 1.0, "jaw": 0.7},
    "mouth open": {"jaw": 1.0}, "open mouth": {"jaw": 1.0}, "open mouthed": {"jaw": 1.0}, "jaw open": {"jaw": 1.0},
    "talking": {"jaw": 0.35},
    "pursed lips": {"mouth_wide": -1.0}, "pout": {"mouth_wide": -1.0, "smile": -0.2},
    "eyes closed": {"eye_r": -1.0, "eye_l": -1.0}, "closed eyes": {"eye_r": -1.0, "eye_l": -1.0},
    "eyes shut": {"eye_r": -1.0, "eye_l": -1.0}, "asleep": {"eye_r": -1.0, "eye_l": -1.0},
    "sleepy": {"eye_r": -0.5, "eye_l": -0.5}, "squinting": {"eye_r": -0.5, "eye_l": -0.5},
    "squint": {"eye_r": -0.5, "eye_l": -0.5},
    "wide eyed": {"eye_r": 1.0, "eye_l": 1.0}, "eyes wide": {"eye_r": 1.0, "eye_l": 1.0},
    "wink": {"eye_l": -1.0, "smile": 0.3}, "winking": {"eye_l": -1.0, "smile": 0.3},
    "raised brows": {"brow_r": 1.0, "brow_l": 1.0}, "raised eyebrows": {"brow_r": 1.0, "brow_l": 1.0},
    "brows raised": {"brow_r": 1.0, "brow_l": 1.0}, "eyebrows raised": {"brow_r": 1.0, "brow_l": 1.0},
    "brows up": {"brow_r": 1.0, "brow_l": 1.0}, "brows down": {"brow_r": -1.0, "brow_l": -1.0},
    "head turned left": {"yaw": -25.0}, "head turned right": {"yaw": 25.0},
    "turned left": {"yaw": -25.0}, "turned right": {"yaw": 25.0}, "facing left": {"yaw": -25.0},
    "facing right": {"yaw": 25.0}, "turn left": {"yaw": -25.0}, "turn right": {"yaw": 25.0},
    "head tilted left": {"roll": -15.0}, "head tilted right": {"roll": 15.0},
    "tilted left": {"roll": -15.0}, "tilted right": {"roll": 15.0}, "tilt left": {"roll": -15.0},
    "tilt right": {"roll": 15.0}, "chin up": {"pitch": -15.0}, "head up": {"pitch": -15.0},
    "chin down": {"pitch": 15.0}, "head down": {"pitch": 15.0},
    "looking left": "gaze:-1,0", "looking right": "gaze:1,0", "looking up": "gaze:0,-1",
    "looking down": "gaze:0,1", "look left": "gaze:-1,0", "look right": "gaze:1,0", "look up": "gaze:0,-1",
    "look down": "gaze:0,1", "glancing left": "gaze:-1,0", "glancing right": "gaze:1,0",
    "looking at the camera": "gaze:0,0", "looking at camera": "gaze:0,0", "looking ahead": "gaze:0,0",
    "neutral": {}, "calm": {}, "relaxed": {},
}
# Terms that are all or nothing: strength words do not scale them.
WHOLE = {"eyes closed", "closed eyes", "eyes shut", "asleep", "wink", "winking"}
_KEYS = sorted(TERMS, key=lambda k: -len(k.split()))
VOCABULARY = tuple(sorted(TERMS))


@dataclass(frozen=True)
class Parsed:
    """What a phrase asked for: controls, a fixed gaze (H, V) or None, the terms understood (with
    their strength) and the words ignored."""

    controls: Controls
    gaze: tuple[float, float] | None
    understood: tuple[str, ...]
    ignored: tuple[str, ...]


def parse_expression(text: str) -> Parsed:
    words = re.findall(r"[a-z]+", text.lower().replace("-", " "))
    c = Controls()
    gaze: list[float] | None = None
    understood, ignored = [], []
    strength, strength_word = MEDIUM, ""
    i = 0
    while i < len(words):
        w = words[i]
        for key in _KEYS:
            parts = key.split()
            if words[i:i + len(parts)] == parts:
                term = TERMS[key]
                if isinstance(term, str):
                    h, v = (float(x) for x in term[5:].split(","))
                    gaze = [0.0, 0.0] if gaze is None else gaze
                    gaze = [gaze[0] + h * strength / MEDIUM * 0.8, gaze[1] + v * strength / MEDIUM * 0.8]
                else:
                    k_term = 1.0 if key in WHOLE else strength
                    c = c.plus(Controls(**{k: v * k_term for k, v in term.items()}))
                understood.append(f"{strength_word + ' ' if strength_word else ''}{key}")
                strength, strength_word = MEDIUM, ""
                i += len(parts)
                break
        else:
            if w in STRENGTH:
                strength, strength_word = STRENGTH[w], w
            elif w not in FILLER:
                ignored.append(w)
            i += 1
    g = None if gaze is None else (max(-1.0, min(1.0, gaze[0])), max(-1.0, min(1.0, gaze[1])))
    return Parsed(c, g, tuple(understood), tuple(ignored))
