"""Shared fixtures. Unit tests make their own data; tests that read ../shared/data skip without it."""

from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# Every generation in the tests states why it may animate the face, as a user must: the bundled
# astronaut is NASA's (public domain); LivePortrait's published example assets are used under the
# consent their publishers obtained.
PUBLIC_DOMAIN = "public-domain"
CONSENT_ON_FILE = "consent-on-file"


@pytest.fixture(autouse=True, scope="session")
def ugoku_home(tmp_path_factory):
    """Keep consent registry, keys and audit log of the tests out of the user's own folder."""
    import os

    home = tmp_path_factory.mktemp("ugoku-home")
    old = os.environ.get("UGOKU_HOME")
    os.environ["UGOKU_HOME"] = str(home)
    yield home
    if old is None:
        os.environ.pop("UGOKU_HOME", None)
    else:
        os.environ["UGOKU_HOME"] = old


def attested(kind: str = PUBLIC_DOMAIN, **kw):
    """AnimateOptions with an attestation (and any other options)."""
    from ugoku.api import AnimateOptions
    from ugoku.provenance.generation import ProvenanceOptions

    return AnimateOptions(provenance=ProvenanceOptions(attest=kind), **kw)


def shared_data() -> Path:
    if not (SHARED / "portraits").is_dir():
        pytest.skip(f"real test data not found at {SHARED} (it lives beside the repository in CI)")
    return SHARED


@pytest.fixture(scope="session")
def astronaut_rgb() -> np.ndarray:
    from ugoku.demo import astronaut

    return astronaut()


@pytest.fixture(scope="session")
def astronaut_face():
    from ugoku.demo import astronaut_face as make

    return make()


@pytest.fixture(scope="session")
def astronaut_png(tmp_path_factory, astronaut_rgb) -> Path:
    from ugoku.io.image import write_image

    return write_image(tmp_path_factory.mktemp("src") / "astronaut.png", astronaut_rgb)


@pytest.fixture(scope="session")
def synth_driver(tmp_path_factory) -> Path:
    """A 40-frame 512x512 driving clip: the astronaut moved by the built-in motion."""
    from ugoku.bench import synth_driver as make

    return make(tmp_path_factory.mktemp("drv") / "driver.mp4", 40, fps=25.0)
