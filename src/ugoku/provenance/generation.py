"""One generation's provenance: it is authorised, gets a random 64-bit record number, marks every
frame with it, and seals the written file (C2PA manifest, then an audit-log entry)."""

from __future__ import annotations

import base64
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ugoku.provenance import keys as keyring
from ugoku.provenance import manifest, paths
from ugoku.provenance.audit import AuditLog
from ugoku.provenance.consent import ConsentError, sha256_file
from ugoku.provenance.gate import Authorization, authorize
from ugoku.provenance.watermark import Embedder, WatermarkOptions

WATERMARK_ALG = "org.ugoku.chroma-ss.v1"


@dataclass(frozen=True)
class ProvenanceOptions:
    """attest: a stated attestation (see gate.ATTESTATIONS) used when no consent record matches.
    db: the consent registry (None: the one in the user's ugoku folder)."""

    attest: str | None = None
    db: Path | None = None
    watermark: WatermarkOptions = field(default_factory=WatermarkOptions)


def fingerprint(path: str | os.PathLike) -> str:
    return sha256_file(path, limit=1 << 62)


def ensure_keys() -> tuple[keyring.Keys, bool]:
    """The signing keys, created (for an unnamed organisation) when there are none yet."""
    folder = paths.keys_dir()
    if keyring.exists(folder):
        return keyring.load(folder), False
    k = keyring.create(folder, "ugoku user (unnamed)")
    AuditLog(paths.audit_log()).append("keys.init", {"folder": str(folder), "organisation": k.organisation,
                                                     "automatic": True})
    return k, True


class Generation:
    """Created before rendering (so a refusal costs nothing); `mark` every frame; `seal` the file."""

    def __init__(self, command: str, crop: np.ndarray, source: str, source_sha256: str, driving: dict,
                 options: ProvenanceOptions = ProvenanceOptions()):
        self.command = command
        self.source = source
        self.audit = AuditLog(paths.audit_log())
        try:
            self.authorization: Authorization = authorize(crop, source, options.attest, options.db)
        except ConsentError as exc:
            self.audit.append("refuse", {"command": command, "source": source, "source_sha256": source_sha256,
                                         "reason": str(exc)})
            raise
        self.keys, self.created_keys = ensure_keys()
        self.id = secrets.randbits(64) | 1
        self.record = f"{self.id:016x}"
        self.source_sha256 = source_sha256
        self.driving = driving
        self.mark = Embedder(self.id, options.watermark)

    def generation_data(self) -> dict:
        return {"record": self.record, "command": self.command, "source_sha256": self.source_sha256,
                "driving": self.driving, **self.authorization.for_manifest(),
                "watermark": {"alg": WATERMARK_ALG, "payload": self.record}}

    def seal(self, tmp: Path, dest: Path) -> None:
        """Sign `tmp` into `dest` (through a second temporary file, then a rename) and log it.
        `tmp` is removed either way."""
        tmp, dest = Path(tmp), Path(dest)
        signed = dest.with_name(f".{dest.stem}.signed{dest.suffix}")
        try:
            binding = (WATERMARK_ALG, base64.b64encode(self.id.to_bytes(8, "big")).decode())
            manifest.sign(tmp, signed, manifest.build(dest.name, self.generation_data(), binding), self.keys)
            digest = fingerprint(signed)
            os.replace(signed, dest)
        finally:
            signed.unlink(missing_ok=True)
            tmp.unlink(missing_ok=True)
        self.audit.append("generate", {**self.generation_data(), **self.authorization.for_audit(),
                                       "source": self.source, "output": str(dest.resolve()),
                                       "output_sha256": digest, "signer": self.keys.organisation})
