"""The organisation's signing keys: a self-made root CA and an ES256 signing certificate under it.

C2PA refuses a lone self-signed certificate; it accepts a root -> signing-certificate chain whose
leaf has critical digitalSignature key usage, the document-signing / email-protection extended key
usages, CA:FALSE and key identifiers. The root stays on this machine; a reader trusts our files once
the root is added as a trust anchor (`ugoku verify --trust root.pem`, or the reader's own settings).
Private keys are written with mode 0600.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from ugoku.errors import UgokuError

ROOT_CERT, ROOT_KEY = "root-ca.pem", "root-ca.key"
SIGN_CERT, SIGN_KEY = "signing.pem", "signing.key"
DOCUMENT_SIGNING = "1.3.6.1.5.5.7.3.36"


class KeyError_(UgokuError):
    """Signing keys are missing, unreadable or already exist."""


@dataclass(frozen=True)
class Keys:
    folder: Path
    organisation: str
    chain_pem: bytes        # signing certificate then root, as C2PA wants the chain
    key_pem: bytes
    root_pem: bytes


def _name(cn: str, org: str):
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org[:64]),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn[:64])])


def _write_private(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def create(folder: Path, organisation: str, years: int = 5, force: bool = False) -> Keys:
    """Make a root CA and a signing certificate for `organisation` in `folder`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier

    folder = Path(folder)
    if (folder / SIGN_KEY).exists() and not force:
        raise KeyError_(f"{folder}: signing keys already exist; pass --force to replace them "
                        "(files signed with the old keys stay valid).")
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    until = now + dt.timedelta(days=365 * years)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name(f"{organisation} ugoku root CA", organisation)
    root = (x509.CertificateBuilder().subject_name(root_name).issuer_name(root_name)
            .public_key(root_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(until)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
            .sign(root_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder().subject_name(_name(f"{organisation} ugoku signing", organisation))
            .issuer_name(root_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(until)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION,
                                                  ObjectIdentifier(DOCUMENT_SIGNING)]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
            .sign(root_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    pkcs8 = serialization.PrivateFormat.PKCS8
    none = serialization.NoEncryption()
    _write_private(folder / ROOT_KEY, root_key.private_bytes(pem, pkcs8, none), 0o600)
    _write_private(folder / SIGN_KEY, key.private_bytes(pem, pkcs8, none), 0o600)
    _write_private(folder / ROOT_CERT, root.public_bytes(pem), 0o644)
    _write_private(folder / SIGN_CERT, leaf.public_bytes(pem), 0o644)
    return load(folder)


def exists(folder: Path) -> bool:
    return all((Path(folder) / n).is_file() for n in (ROOT_CERT, SIGN_CERT, SIGN_KEY))


def load(folder: Path) -> Keys:
    """Read the keys in `folder`; KeyError_ with the fix when they are missing or unreadable."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    folder = Path(folder)
    if not exists(folder):
        raise KeyError_(f"{folder}: no signing keys; create them with `ugoku keys init --org NAME`.")
    try:
        root = (folder / ROOT_CERT).read_bytes()
        leaf = (folder / SIGN_CERT).read_bytes()
        key = (folder / SIGN_KEY).read_bytes()
        cert = x509.load_pem_x509_certificate(leaf)
        org = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    except (OSError, ValueError) as exc:
        raise KeyError_(f"{folder}: signing keys cannot be read ({exc}); recreate them with "
                        "`ugoku keys init --org NAME --force`.") from None
    return Keys(folder, org[0].value if org else "", leaf + root, key, root)
