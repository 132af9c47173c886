"""Enforcement: before a face is animated, look it up in the consent registry.

A valid matching record lets the generation go ahead and is cited in its provenance. Without one the
user must state an attestation (`--attest`), which is recorded; otherwise ugoku refuses with one
sentence saying how to add consent. A revoked or expired record that matches refuses whatever the
attestation says. There is no silent bypass.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ugoku.provenance import paths
from ugoku.provenance.consent import ConsentError, Record, Registry

ATTESTATIONS = {
    "self": "the person shown is the one generating this",
    "public-domain": "the source image is in the public domain",
    "synthetic": "the face is not a real person",
    "consent-on-file": "the person's consent is held outside ugoku's registry",
}


@dataclass(frozen=True)
class Authorization:
    """Why this face may be animated: a consent record (with its match distance) or an attestation."""

    record: Record | None = None
    distance: float | None = None
    attestation: str | None = None

    def describe(self) -> str:
        if self.record is not None:
            r = self.record
            until = f" until {r.expires}" if r.expires else ""
            purpose = f" for {r.purpose}" if r.purpose else ""
            return f"consent record {r.id} ({r.name}{purpose}{until}; face distance {self.distance:.2f})"
        return f"attestation: {self.attestation} ({ATTESTATIONS[self.attestation]})"

    def for_manifest(self) -> dict:
        """What goes into the public manifest: the record's number, purpose and expiry, never the
        person's name or face descriptor (those stay in the local registry and audit log)."""
        if self.record is not None:
            r = self.record
            return {"consent": {"record": r.id, "purpose": r.purpose, "expires": r.expires,
                                "evidence_sha256": r.evidence_sha256}}
        return {"attestation": self.attestation}

    def for_audit(self) -> dict:
        out = self.for_manifest()
        if self.record is not None:
            out["consent"]["name"] = self.record.name
            out["consent"]["distance"] = round(float(self.distance), 4)
        return out


def check_attestation(attest: str | None) -> str | None:
    if attest is not None and attest not in ATTESTATIONS:
        raise ConsentError(f"--attest {attest!r} is not one of {', '.join(ATTESTATIONS)}.")
    return attest


def authorize(crop: np.ndarray, source: str, attest: str | None = None,
              db: str | os.PathLike | None = None) -> Authorization:
    """Decide whether the face in `crop` (the source's working crop) may be animated.
    `source` names the photo in messages. Raises ConsentError with the fix when it may not."""
    from ugoku.provenance.identity import descriptor

    attest = check_attestation(attest)
    registry = Registry(Path(db) if db else paths.consent_db())
    how = (f"add the person's consent with `ugoku consent add --name NAME --photo {source} --evidence FORM`, "
           f"or state --attest {'|'.join(ATTESTATIONS)}")
    records = registry.records()
    if records:
        desc = descriptor(crop)
        if desc is None:
            if attest:
                return Authorization(attestation=attest)
            raise ConsentError(f"{source}: the consent check cannot see this face clearly enough to match it; {how}.")
        matches = registry.matches(desc, records=records)
        valid = [m for m in matches if m.record.status() == "valid"]
        if valid:
            return Authorization(valid[0].record, valid[0].distance, attest)
        if matches:
            r = matches[0].record
            when = f"revoked on {r.revoked[:10]}" if r.status() == "revoked" else f"expired on {r.expires}"
            raise ConsentError(f"{source}: this face matches consent record {r.id} ({r.name}), which was {when}; "
                               "ugoku will not animate it.")
    if attest:
        return Authorization(attestation=attest)
    raise ConsentError(f"{source}: no consent on record for this face; {how}.")
