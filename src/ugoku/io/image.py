"""Reading and writing still images. Convention: RGB, uint8, shape (H, W, 3)."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ugoku.errors import InputError, OutputError


@dataclass(frozen=True)
class ImageLimits:
    """Bounds on an input image, checked from its header before any pixel is decoded."""

    max_side: int = 16384
    max_pixels: int = 64_000_000
    min_side: int = 64
    max_file_bytes: int = 200_000_000


def read_image(path: str | os.PathLike, limits: ImageLimits = ImageLimits()) -> np.ndarray:
    """Read an image file as RGB uint8 (H, W, 3), applying its EXIF orientation.

    Raises InputError naming the file for a missing, unreadable, too small or too large image.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: file not found; check the path to the photo.")
    if p.stat().st_size > limits.max_file_bytes:
        raise InputError(f"{p}: file is larger than {limits.max_file_bytes // 1_000_000} MB; "
                         "use a smaller photo.")
    try:
        with Image.open(p) as im:
            w, h = im.size
            if max(w, h) > limits.max_side or w * h > limits.max_pixels:
                raise InputError(f"{p}: image is {w}x{h}, larger than ugoku handles "
                                 f"({limits.max_side} px a side, {limits.max_pixels // 1_000_000} "
                                 "megapixels); downscale it first.")
            if min(w, h) < limits.min_side:
                raise InputError(f"{p}: image is only {w}x{h}; use a photo at least "
                                 f"{limits.min_side} px a side.")
            im = ImageOps.exif_transpose(im)
            rgb = np.asarray(im.convert("RGB"), dtype=np.uint8)
    except InputError:
        raise
    except Image.DecompressionBombError:          # so large that Pillow refuses even to open it
        raise InputError(f"{p}: image is larger than ugoku handles ({limits.max_side} px a side, "
                         f"{limits.max_pixels // 1_000_000} megapixels); downscale it first.") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise InputError(f"{p}: not a readable image ({type(exc).__name__}); "
                         "use a JPEG, PNG, WebP, BMP or TIFF photo.") from None
    return np.ascontiguousarray(rgb)


def check_output_path(path: str | os.PathLike, suffixes: tuple[str, ...]) -> Path:
    """Validate an output path before any work is done; returns it as a Path."""
    p = Path(path)
    if p.suffix.lower() not in suffixes:
        raise OutputError(f"{p}: output must end in {' or '.join(suffixes)}; rename it.")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"{p}: folder {parent} does not exist; create it or choose another output path.")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"{p}: folder {parent} is not writable; choose another output path.")
    if p.is_dir():
        raise OutputError(f"{p}: is a folder; give a file name.")
    return p


def temp_path_beside(path: Path) -> Path:
    """A fresh temporary file in the same folder as `path`, with the same suffix (for atomic rename)."""
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".part{path.suffix}", dir=path.parent or ".")
    os.close(fd)
    # mkstemp makes the file private (0600); the renamed output should get the user's usual mode.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(name, 0o666 & ~umask)
    return Path(name)


def write_image(path: str | os.PathLike, rgb: np.ndarray, seal=None) -> Path:
    """Write an RGB uint8 image atomically (temporary file, then rename). Format from the suffix.
    seal(tmp, dest), when given, puts the finished file in place instead of the rename."""
    from PIL import Image

    p = check_output_path(path, (".png", ".jpg", ".jpeg", ".webp"))
    tmp = temp_path_beside(p)
    try:
        fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP"}[p.suffix.lower()]
        Image.fromarray(np.ascontiguousarray(rgb)).save(tmp, format=fmt, quality=95)
        if seal is not None:
            seal(tmp, p)
        else:
            os.replace(tmp, p)
    finally:
        tmp.unlink(missing_ok=True)
    return p
