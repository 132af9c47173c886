"""`ugoku verify FILE`: what a file's C2PA manifest, watermark and the local audit log say about it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ugoku.errors import InputError
from ugoku.provenance import keys as keyring
from ugoku.provenance import paths
from ugoku.provenance.audit import AuditLog
from ugoku.provenance.manifest import ManifestReport, read
from ugoku.provenance.watermark import PILOT_THRESHOLD, Detection, detect_frames

VIDEO = (".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi")


@dataclass
class Verification:
    path: Path
    manifest: ManifestReport
    watermark: Detection
    logged: dict | None          # the local audit log's generation entry for the record, if any

    @property
    def record(self) -> str | None:
        if self.watermark.found:
            return self.watermark.record
        gen = self.manifest.generation or {}
        return gen.get("record")

    @property
    def consistent(self) -> bool:
        gen = self.manifest.generation or {}
        return not (self.watermark.found and gen.get("record") and gen["record"] != self.watermark.record)

    @property
    def exit_code(self) -> int:
        """0: provenance found and consistent; 1: a manifest is invalid or disagrees with the
        watermark; 3: nothing found."""
        if (self.manifest.present and self.manifest.state == "Invalid") or not self.consistent:
            return 1
        return 0 if (self.manifest.present or self.watermark.found) else 3


def frames_of(path: Path, max_frames: int):
    if path.suffix.lower() in VIDEO:
        from ugoku.io.video import VideoSource

        with VideoSource(path) as v:
            for i, f in enumerate(v.frames()):
                if i >= max_frames:
                    return
                yield f
    else:
        from ugoku.io.image import read_image

        yield read_image(path)


def verify(path: str | os.PathLike, anchors: list[bytes] = (), max_frames: int = 300) -> Verification:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file; give the path of a video or image to verify.")
    anchors = list(anchors)
    local = paths.keys_dir()
    if keyring.exists(local):
        anchors.append((local / keyring.ROOT_CERT).read_bytes())
    manifest = read(p, anchors)
    mark = detect_frames(frames_of(p, max_frames), max_frames)
    audit = AuditLog(paths.audit_log())
    v = Verification(p, manifest, mark, None)
    if v.record:
        v.logged = audit.find("generate", "record", v.record)
    audit.append("verify", {"file": str(p.resolve()), "manifest": manifest.state, "watermark": mark.record,
                            "record": v.record})
    return v


def describe(v: Verification) -> list[str]:
    lines = [f"{v.path}"]
    m = v.manifest
    if not m.present:
        lines.append("  C2PA manifest: none (stripped, re-encoded, or never signed)")
    else:
        state = {"Trusted": "valid and trusted", "Valid": "valid signature, signer not in your trust anchors",
                 "Invalid": "INVALID: the file was changed after signing"}.get(m.state, m.state)
        lines.append(f"  C2PA manifest: {state}" + (f"; signed by {m.issuer}" if m.issuer else ""))
        if m.failures:
            lines.append(f"    failures: {', '.join(m.failures[:6])}")
        if m.software or m.digital_source_type:
            lines.append(f"    created by {m.software or '?'}; digital source type "
                         f"{m.digital_source_type.rsplit('/', 1)[-1] or '?'}")
        g = m.generation or {}
        if g:
            if "consent" in g:
                c = g["consent"]
                why = f"consent record {c.get('record')}" + (f" ({c['purpose']})" if c.get("purpose") else "")
            else:
                why = f"attestation {g.get('attestation')}"
            drv = g.get("driving") or {}
            lines.append(f"    record {g.get('record')}: {g.get('command')}; {why}")
            lines.append(f"    source sha256 {str(g.get('source_sha256'))[:16]}…; driving {drv.get('kind')} "
                         f"{drv.get('name', '')} {str(drv.get('sha256', ''))[:16]}".rstrip())
    w = v.watermark
    if w.found:
        lines.append(f"  ugoku watermark found: record {w.record}, confidence {w.confidence:.4f} "
                     f"(pilot {w.pilot_z:.1f} sd, {w.frames} frame{'s' if w.frames != 1 else ''})")
    elif w.pilot_z >= PILOT_THRESHOLD:
        lines.append(f"  ugoku watermark present (pilot {w.pilot_z:.1f} sd over {w.frames} frame{'s' if w.frames != 1 else ''}) "
                     "but its record could not be read")
    else:
        lines.append(f"  no watermark (pilot {w.pilot_z:.1f} sd over {w.frames} frame{'s' if w.frames != 1 else ''})")
    if not v.consistent:
        lines.append("  WARNING: the watermark and the manifest name different records")
    if v.logged:
        d = v.logged["data"]
        why = (f"consent record {d['consent']['record']} ({d['consent'].get('name', '')})" if "consent" in d
               else f"attestation {d.get('attestation')}")
        lines.append(f"  audit log entry {v.logged['seq']}: generated {v.logged['time']} by `{d.get('command')}` "
                     f"from {d.get('source')}; {why}; wrote {d.get('output')}")
    elif v.record:
        lines.append("  audit log: this record was not generated on this machine")
    return lines
