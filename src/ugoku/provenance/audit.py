"""A hash-chained, append-only audit log (JSON lines).

Each entry holds its sequence number, time, event, data, the hash of the previous entry and its own
hash (SHA-256 of the canonical JSON of everything else). Editing an entry breaks its hash; deleting
or reordering one breaks the chain; cutting entries off the end is caught by the head file, which
holds the last sequence number and hash. Someone who can rewrite both files and recompute every hash
can still forge history: publish the head (`ugoku audit verify` prints it) somewhere they cannot
reach to pin it. Appends take an exclusive lock, so parallel generations cannot interleave.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ugoku.errors import UgokuError

GENESIS = "0" * 64
MAX_LINE = 1 << 20


class AuditError(UgokuError):
    exit_code = 1


def _canonical(entry: dict) -> bytes:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _digest(entry: dict) -> str:
    return hashlib.sha256(_canonical({k: v for k, v in entry.items() if k != "hash"})).hexdigest()


@dataclass(frozen=True)
class AuditReport:
    ok: bool
    entries: int
    head: str
    problem: str = ""


class AuditLog:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.head_path = self.path.with_name(self.path.name + ".head")

    def append(self, event: str, data: dict) -> dict:
        """Append one entry and return it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a+b") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                prev = self._last(f)
                entry = {"seq": (prev["seq"] + 1) if prev else 1,
                         "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                         "event": event, "data": data, "prev": prev["hash"] if prev else GENESIS}
                entry["hash"] = _digest(entry)
                f.seek(0, os.SEEK_END)
                f.write(_canonical(entry) + b"\n")
                f.flush()
                os.fsync(f.fileno())
                tmp = self.head_path.with_name(self.head_path.name + ".tmp")
                tmp.write_text(json.dumps({"seq": entry["seq"], "hash": entry["hash"]}) + "\n")
                os.replace(tmp, self.head_path)
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)
        return entry

    def _last(self, f) -> dict | None:
        """The last entry's seq and hash: from the head file, or by reading the log when it is absent."""
        try:
            head = json.loads(self.head_path.read_text())
            if isinstance(head, dict) and {"seq", "hash"} <= set(head):
                return head
        except (OSError, ValueError):
            pass
        f.seek(0)
        last = None
        for line in f:
            if line.strip():
                last = line
        return json.loads(last) if last else None

    def entries(self):
        """Yield the parsed entries (AuditError for a line that is not JSON)."""
        if not self.path.exists():
            return
        with open(self.path, "rb") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                if len(line) > MAX_LINE:
                    raise AuditError(f"{self.path}: line {n} is too long; the log was tampered with.")
                try:
                    yield json.loads(line)
                except ValueError:
                    raise AuditError(f"{self.path}: line {n} is not JSON; the log was tampered with.") from None

    def find(self, event: str, key: str, value) -> dict | None:
        """The last entry of `event` whose data[key] == value (None when there is none or the log
        cannot be read)."""
        hit = None
        try:
            for e in self.entries():
                if e.get("event") == event and isinstance(e.get("data"), dict) and e["data"].get(key) == value:
                    hit = e
        except AuditError:
            return None
        return hit

    def verify(self) -> AuditReport:
        """Check every hash, the chain and the head. Never raises for a damaged log: it reports."""
        prev, seq, count = GENESIS, 0, 0
        try:
            for e in self.entries():
                count += 1
                if not isinstance(e, dict) or set(e) != {"seq", "time", "event", "data", "prev", "hash"}:
                    return AuditReport(False, count, prev, f"entry {count} is malformed")
                if e["seq"] != seq + 1:
                    return AuditReport(False, count, prev, f"entry {seq + 1} is missing (found {e['seq']} after {seq})")
                if e["prev"] != prev:
                    return AuditReport(False, count, prev, f"entry {e['seq']} does not follow entry {seq} "
                                       "(an entry before it was removed or changed)")
                if _digest(e) != e["hash"]:
                    return AuditReport(False, count, prev, f"entry {e['seq']} was edited (its hash does not match)")
                prev, seq = e["hash"], e["seq"]
        except AuditError as exc:
            return AuditReport(False, count, prev, str(exc))
        if self.head_path.exists():
            try:
                head = json.loads(self.head_path.read_text())
            except ValueError:
                return AuditReport(False, count, prev, f"{self.head_path} is not JSON")
            if head.get("seq") != seq or head.get("hash") != prev:
                return AuditReport(False, count, prev, f"the log ends at entry {seq} but its head file says "
                                   f"{head.get('seq')}: entries were cut off the end")
        elif count:
            return AuditReport(False, count, prev, f"{self.head_path} is missing")
        return AuditReport(True, count, prev)
