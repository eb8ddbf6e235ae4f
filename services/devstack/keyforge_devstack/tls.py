"""The local stack's TLS: a dev CA and one certificate for the three virtual hosts.

Both live in ``<data-dir>/tls/`` and are reused across restarts, so a
developer who trusted ``ca.pem`` once keeps trusting it. The CA is name
constrained to the fleet's domain: even if its key leaked, it could not vouch
for any other site. Production mounts real certificates instead.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from keyforge_shared.private_files import write_private

CA_LIFETIME = dt.timedelta(days=3650)
# Browsers refuse server certificates valid for longer than 398 days.
LEAF_LIFETIME = dt.timedelta(days=397)
RENEW_BEFORE = dt.timedelta(days=30)
# Certificates are dated a little in the past so a client whose clock is
# slightly behind does not see them as not yet valid.
BACKDATE = dt.timedelta(minutes=5)


def vhost_names(domain: str) -> list[str]:
    return [domain, f"api.{domain}", f"assets.{domain}"]


@dataclass(frozen=True)
class DevTls:
    ca_cert: Path
    cert: Path
    key: Path


def ensure_dev_tls(tls_dir: Path, domain: str) -> DevTls:
    """The CA and server certificate for ``domain``, made only when missing or stale."""
    tls = DevTls(tls_dir / "ca.pem", tls_dir / "server.pem", tls_dir / "server-key.pem")
    ca_key_file = tls_dir / "ca-key.pem"
    now = dt.datetime.now(dt.UTC)
    ca = _load_cert(tls.ca_cert)
    if ca is None or not ca_key_file.exists() or not _fits(ca, domain, now):
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = _issue_ca(ca_key, domain, now)
        write_private(ca_key_file, _key_pem(ca_key))
        tls_dir.chmod(0o700)
        tls.ca_cert.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        tls.cert.unlink(missing_ok=True)
    leaf = _load_cert(tls.cert)
    if leaf is None or not tls.key.exists() or not _fits(leaf, domain, now, issuer=ca):
        ca_key = _load_key(ca_key_file)
        key = ec.generate_private_key(ec.SECP256R1())
        leaf = _issue_leaf(key, ca, ca_key, domain, now)
        write_private(tls.key, _key_pem(key))
        chain = leaf.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(
            serialization.Encoding.PEM
        )
        tls.cert.write_bytes(chain)
    return tls


def _fits(
    cert: x509.Certificate,
    domain: str,
    now: dt.datetime,
    *,
    issuer: x509.Certificate | None = None,
) -> bool:
    """Valid for a while yet and made for ``domain``; a leaf must be ``issuer``'s."""
    if cert.not_valid_after_utc - RENEW_BEFORE < now:
        return False
    try:
        if issuer is None:
            constraints = cert.extensions.get_extension_for_class(x509.NameConstraints).value
            return [n.value for n in constraints.permitted_subtrees or []] == [domain]
        cert.verify_directly_issued_by(issuer)
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError, TypeError, InvalidSignature):
        return False
    return set(sans.get_values_for_type(x509.DNSName)) == set(vhost_names(domain))


def _issue_ca(key: ec.EllipticCurvePrivateKey, domain: str, now: dt.datetime) -> x509.Certificate:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "KeyForge local fleet"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"KeyForge dev CA for {domain}"),
        ]
    )
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.NameConstraints(permitted_subtrees=[x509.DNSName(domain)], excluded_subtrees=None),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def _issue_leaf(
    key: ec.EllipticCurvePrivateKey,
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    domain: str,
    now: dt.datetime,
) -> x509.Certificate:
    names = vhost_names(domain)
    ca_ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + LEAF_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


def _load_cert(path: Path) -> x509.Certificate | None:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (FileNotFoundError, ValueError):
        return None


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise TypeError(f"{path} is not an EC private key")
    return key


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
