"""Where ugoku keeps its records: one folder per user (UGOKU_HOME, else $XDG_DATA_HOME/ugoku, else
~/.local/share/ugoku) holding the consent registry, the signing keys and the audit log."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    if os.environ.get("UGOKU_HOME"):
        return Path(os.environ["UGOKU_HOME"])
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "ugoku"


def consent_db() -> Path:
    return home() / "consent.sqlite"


def keys_dir() -> Path:
    return home() / "keys"


def audit_log() -> Path:
    return home() / "audit.jsonl"
