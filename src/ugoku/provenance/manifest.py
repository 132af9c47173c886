"""Signed provenance with C2PA (c2pa-python, offline): write a manifest into MP4, PNG, JPEG and WebP
files, and read one back with its validation state."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ugoku.errors import OutputError
from ugoku.provenance.keys import Keys

TRAINED = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
GENERATION_LABEL = "org.ugoku.generation"
MIME = {".mp4": "video/mp4", ".mov": "video/quicktime", ".png": "image/png", ".jpg": "image/jpeg",
        ".jpeg": "image/jpeg", ".webp": "image/webp"}


def _version() -> str:
    from ugoku import __version__

    return __version__


def build(title: str, generation: dict, soft_binding: tuple[str, str] | None) -> dict:
    """The manifest definition: created by ugoku, a trained-algorithm source type, ugoku's own
    generation assertion, and the watermark as a soft binding (algorithm, base64 payload)."""
    v = _version()
    assertions = [
        {"label": "c2pa.actions.v2", "data": {"actions": [{
            "action": "c2pa.created", "digitalSourceType": TRAINED,
            "softwareAgent": {"name": "ugoku", "version": v},
            "description": "a portrait animated by ugoku"}]}},
        {"label": GENERATION_LABEL, "data": generation},
    ]
    if soft_binding:
        assertions.append({"label": "c2pa.soft-binding",
                           "data": {"alg": soft_binding[0], "blocks": [{"scope": {}, "value": soft_binding[1]}]}})
    return {"claim_generator_info": [{"name": "ugoku", "version": v}], "title": title[:200],
            "assertions": assertions}


def sign(source: Path, dest: Path, manifest: dict, keys: Keys) -> None:
    """Write `source` with the signed manifest to `dest` (which must not be the user's final name:
    a failed signing can leave a partial file there)."""
    import c2pa

    mime = MIME.get(Path(dest).suffix.lower())
    if mime is None:
        raise OutputError(f"{dest}: ugoku cannot sign this kind of file; write MP4, MOV, PNG, JPEG or WebP.")
    ctx = c2pa.Context(c2pa.Settings.from_dict({"builder": {"thumbnail": {"enabled": False}}}))
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, keys.chain_pem, keys.key_pem, None))
    try:
        with c2pa.Builder.from_json(json.dumps(manifest), context=ctx) as builder, \
                open(source, "rb") as src, open(dest, "wb") as dst:
            builder.sign(signer, mime, src, dst)
    except c2pa.C2paError as exc:
        raise OutputError(f"{dest}: the C2PA manifest could not be written ({exc}); "
                          "check the signing keys with `ugoku keys init`.") from None
    finally:
        signer.close()


@dataclass
class ManifestReport:
    """What a file's C2PA manifest says. state: 'Trusted', 'Valid' (signature good, signer not a
    trust anchor), 'Invalid', or None when the file carries no manifest."""

    state: str | None
    issuer: str = ""
    generation: dict | None = None
    digital_source_type: str = ""
    software: str = ""
    failures: list[str] = field(default_factory=list)

    @property
    def present(self) -> bool:
        return self.state is not None


def read(path: str | os.PathLike, anchors: list[bytes] = ()) -> ManifestReport:
    """Read and validate the manifest of `path`, trusting the given root certificates (PEM)."""
    import c2pa

    settings: dict = {"verify": {"verify_trust": True}}
    if anchors:
        settings["trust"] = {"user_anchors": "\n".join(a.decode() for a in anchors)}
    ctx = c2pa.Context(c2pa.Settings.from_dict(settings))
    try:
        reader = c2pa.Reader.try_create(str(path), context=ctx)
    except c2pa.C2paError as exc:
        return ManifestReport("Invalid", failures=[str(exc)])
    if reader is None:
        return ManifestReport(None)
    with reader:
        state = reader.get_validation_state() or "Invalid"
        results = reader.get_validation_results() or {}
        active = reader.get_active_manifest() or {}
    failures = []
    for item in (results.get("activeManifest") or {}).get("failure", []):
        code = item.get("code", "")
        if code != "signingCredential.untrusted":
            failures.append(code)
    rep = ManifestReport(state, (active.get("signature_info") or {}).get("issuer", ""), failures=failures)
    for a in active.get("assertions", []):
        if a.get("label") == GENERATION_LABEL and isinstance(a.get("data"), dict):
            rep.generation = a["data"]
        if a.get("label", "").startswith("c2pa.actions"):
            for act in (a.get("data") or {}).get("actions", []):
                if act.get("action") == "c2pa.created":
                    rep.digital_source_type = act.get("digitalSourceType", "")
                    sw = act.get("softwareAgent") or {}
                    rep.software = f"{sw.get('name', '')} {sw.get('version', '')}".strip() if isinstance(sw, dict) else str(sw)
    return rep
