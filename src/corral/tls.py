"""Certificates for `corral up --domain`: a local CA made once, and the server certificate it signs.

With a custom domain the E2B SDK speaks only HTTPS, to `api.{domain}` and `{port}-{id}.{domain}`
(e2b-wire-protocol.md §1.2), so it needs a certificate valid for `*.{domain}`. A user with a
real one passes it; everyone else gets a CA of their own under `<data-dir>/tls/`, kept across
starts so that trusting it once is enough, and a leaf re-issued from it when the domain changes
or the leaf nears its end. The SDK verifies with rustls, which refuses a self-signed leaf that
is also a CA (`CaUsedAsEndEntity`), hence CA + leaf rather than one certificate.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_LIFETIME = datetime.timedelta(days=3650)
LEAF_LIFETIME = datetime.timedelta(days=397)
"""Below the 398 days some clients (Apple's) accept for a server certificate."""
RENEW_BEFORE = datetime.timedelta(days=30)
"""A leaf with less than this left is re-issued at start."""

_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


class TlsSetupError(Exception):
    """The domain or a certificate cannot serve `corral up --domain`; the message says why."""


@dataclass(frozen=True)
class ServerCerts:
    """What the TLS listener serves, and what a client has to trust (None: not ours to say)."""

    cert: Path
    key: Path
    ca: Path | None = None
    trust_bundle: Path | None = None
    """The system's CAs plus ours, for `SSL_CERT_FILE` without losing the public ones."""


def check_domain(domain: str) -> str:
    """The domain in lowercase, or `TlsSetupError`: a DNS name of two labels or more, no port.

    The port of the HTTPS listener is a separate option: E2B_DOMAIN carries it, the
    certificate and the Host routing do not.
    """
    name = domain.strip().lower().rstrip(".")
    labels = name.split(".")
    if (
        len(labels) < 2
        or len(name) > 240
        or not all(_LABEL.fullmatch(label) for label in labels)
        or _is_ip(name)
    ):
        raise TlsSetupError(
            f"--domain {domain!r} is not a DNS name like sandboxes.example.com "
            "(no scheme, no port: the port is --https-port)"
        )
    return name


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def server_names(domain: str) -> list[str]:
    """The SANs: the wildcard covers `api.` and every `{port}-{id}.`; the apex is for people."""
    return [f"*.{domain}", f"api.{domain}", domain]


def local_certs(
    directory: Path, domain: str, *, now: datetime.datetime | None = None
) -> ServerCerts:
    """The local CA (made on first use) and a leaf for `domain` signed by it, under `directory`."""
    now = now or datetime.datetime.now(datetime.UTC)
    # Readable by all: the SDK may run as another user and read ca.pem; keys are 0600 each.
    directory.mkdir(parents=True, exist_ok=True, mode=0o755)
    ca_pem, ca_key_pem = directory / "ca.pem", directory / "ca.key"
    cert_pem, key_pem = directory / "cert.pem", directory / "key.pem"
    if ca_pem.exists() and ca_key_pem.exists():
        ca = x509.load_pem_x509_certificate(ca_pem.read_bytes())
        ca_key = serialization.load_pem_private_key(ca_key_pem.read_bytes(), password=None)
        if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
            raise TlsSetupError(f"{ca_key_pem} is not the EC key Corral made")
    else:
        ca, ca_key = _issue_ca(now)
        _write_private(ca_key_pem, _key_bytes(ca_key))
        ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    if not _leaf_fits(cert_pem, key_pem, ca, domain, now):
        leaf, leaf_key = _issue_leaf(ca, ca_key, domain, now)
        _write_private(key_pem, _key_bytes(leaf_key))
        cert_pem.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    bundle = directory / "trust.pem"
    bundle.write_bytes(_system_cas() + ca_pem.read_bytes())
    return ServerCerts(cert=cert_pem, key=key_pem, ca=ca_pem, trust_bundle=bundle)


def given_certs(cert: Path, key: Path, domain: str) -> ServerCerts:
    """A user's certificate and key, checked to load together and to cover `*.{domain}`."""
    try:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        leaf = x509.load_pem_x509_certificate(cert.read_bytes())
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise TlsSetupError(f"cannot use --tls-cert {cert} with --tls-key {key}: {exc}") from exc
    if f"*.{domain}" not in _dns_names(leaf):
        raise TlsSetupError(
            f"{cert} has no *.{domain} name: the SDK reaches api.{domain} and "
            f"{{port}}-{{id}}.{domain} with it"
        )
    return ServerCerts(cert=cert, key=key)


def _issue_ca(now: datetime.datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    common_name = f"Corral local CA ({os.uname()[1]})"
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        _builder(name, name, key.public_key(), now, now + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _issue_leaf(
    ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, domain: str, now: datetime.datetime
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    until = min(now + LEAF_LIFETIME, ca.not_valid_after_utc)  # never past its CA
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"*.{domain}")])
    ca_ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        _builder(subject, ca.subject, key.public_key(), now, until)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in server_names(domain)]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    now: datetime.datetime,
    until: datetime.datetime,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))  # clocks a little behind
        .not_valid_after(until)
    )


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _leaf_fits(
    cert_path: Path, key_path: Path, ca: x509.Certificate, domain: str, now: datetime.datetime
) -> bool:
    """Signed by this CA, for this domain, with its key, not near its end: else a new one."""
    try:
        leaf = x509.load_pem_x509_certificate(cert_path.read_bytes())
        leaf.verify_directly_issued_by(ca)
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError, InvalidSignature):
        return False
    return (
        key.public_key() == leaf.public_key()
        and set(server_names(domain)) <= set(_dns_names(leaf))
        and leaf.not_valid_after_utc - now > RENEW_BEFORE
    )


def _dns_names(cert: x509.Certificate) -> list[str]:
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [name.lower() for name in sans.get_values_for_type(x509.DNSName)]


def _key_bytes(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_private(path: Path, data: bytes) -> None:
    """Written 0600 from the start (never world-readable, even for an instant)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _system_cas() -> bytes:
    """The CAs this machine trusts: OpenSSL's default file, else certifi's (httpx's own)."""
    cafile = ssl.get_default_verify_paths().cafile
    if cafile and os.path.exists(cafile):
        return Path(cafile).read_bytes().rstrip(b"\n") + b"\n"
    try:
        import certifi
    except ImportError:
        return b""
    return Path(certifi.where()).read_bytes().rstrip(b"\n") + b"\n"
