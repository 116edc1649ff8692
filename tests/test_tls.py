"""corral.tls: the local CA and its server certificate, checked by real TLS handshakes in memory."""

from __future__ import annotations

import datetime
import ssl
from pathlib import Path

import pytest
from cryptography import x509

from corral.tls import (
    LEAF_LIFETIME,
    TlsSetupError,
    check_domain,
    given_certs,
    local_certs,
)


def handshake(cert: Path, key: Path, ca: Path, server_name: str) -> None:
    """A full TLS 1.3 handshake through memory buffers; raises what a client would."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(ca))
    pipes = [ssl.MemoryBIO() for _ in range(4)]
    client = client_ctx.wrap_bio(pipes[0], pipes[1], server_hostname=server_name)
    server = server_ctx.wrap_bio(pipes[2], pipes[3], server_side=True)
    done = {"client": False, "server": False}
    for _ in range(10):
        for side, conn, out, peer_in in (
            ("client", client, pipes[1], pipes[2]),
            ("server", server, pipes[3], pipes[0]),
        ):
            if not done[side]:
                try:
                    conn.do_handshake()
                    done[side] = True
                except ssl.SSLWantReadError:
                    pass
            peer_in.write(out.read())
        if all(done.values()):
            return
    raise AssertionError("handshake did not finish")


def leaf(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_local_ca_signs_a_leaf_for_api_and_sandbox_hosts(tmp_path: Path) -> None:
    certs = local_certs(tmp_path / "tls", "corral.test")
    assert certs.ca is not None and certs.trust_bundle is not None
    for name in ("api.corral.test", "49983-i1k2b3x9fz0e7q5yw4tj.corral.test", "corral.test"):
        handshake(certs.cert, certs.key, certs.ca, name)
    with pytest.raises(ssl.SSLCertVerificationError, match="match"):
        handshake(certs.cert, certs.key, certs.ca, "api.other.test")
    with pytest.raises(ssl.SSLCertVerificationError, match="match"):
        handshake(certs.cert, certs.key, certs.ca, "a.b.corral.test")  # one label only
    ca = leaf(certs.ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not leaf(certs.cert).extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_keys_are_private_and_the_bundle_keeps_the_system_cas(tmp_path: Path) -> None:
    certs = local_certs(tmp_path / "tls", "corral.test")
    assert (tmp_path / "tls" / "ca.key").stat().st_mode & 0o777 == 0o600
    assert certs.key.stat().st_mode & 0o777 == 0o600
    assert certs.ca is not None and certs.trust_bundle is not None
    bundle = certs.trust_bundle.read_text()
    assert bundle.endswith(certs.ca.read_text())
    assert bundle.count("BEGIN CERTIFICATE") > 1
    # Trusting the bundle is trusting the CA.
    handshake(certs.cert, certs.key, certs.trust_bundle, "api.corral.test")


def test_later_starts_reuse_the_ca_and_the_leaf(tmp_path: Path) -> None:
    def contents() -> list[bytes]:
        return [(tmp_path / name).read_bytes() for name in ("ca.pem", "cert.pem", "key.pem")]

    local_certs(tmp_path, "corral.test")
    first = contents()
    local_certs(tmp_path, "corral.test")
    assert contents() == first


def test_another_domain_gets_a_new_leaf_from_the_same_ca(tmp_path: Path) -> None:
    first = local_certs(tmp_path, "corral.test")
    assert first.ca is not None
    ca = first.ca.read_bytes()
    second = local_certs(tmp_path, "sandboxes.example.org")
    assert second.ca is not None and second.ca.read_bytes() == ca
    handshake(second.cert, second.key, second.ca, "49983-abc.sandboxes.example.org")
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(second.cert, second.key, second.ca, "api.corral.test")


def test_a_leaf_near_its_end_is_renewed(tmp_path: Path) -> None:
    first = local_certs(tmp_path, "corral.test")
    old_end = leaf(first.cert).not_valid_after_utc
    later = datetime.datetime.now(datetime.UTC) + LEAF_LIFETIME - datetime.timedelta(days=10)
    renewed = local_certs(tmp_path, "corral.test", now=later)
    assert leaf(renewed.cert).not_valid_after_utc > old_end


def test_a_leaf_without_its_key_is_replaced(tmp_path: Path) -> None:
    first = local_certs(tmp_path, "corral.test")
    other = local_certs(tmp_path / "other", "corral.test")
    first.key.write_bytes(other.key.read_bytes())  # a leaf and a key that do not belong together
    fixed = local_certs(tmp_path, "corral.test")
    assert fixed.ca is not None
    handshake(fixed.cert, fixed.key, fixed.ca, "api.corral.test")


@pytest.mark.parametrize(
    ("given", "expected"),
    [("corral.test", "corral.test"), ("Sandboxes.Example.COM.", "sandboxes.example.com")],
)
def test_domains_accepted(given: str, expected: str) -> None:
    assert check_domain(given) == expected


@pytest.mark.parametrize(
    "given",
    ["localhost", "corral.test:8443", "https://corral.test", "127.0.0.1", "-a.test", "a..test", ""],
)
def test_domains_refused(given: str) -> None:
    with pytest.raises(TlsSetupError):
        check_domain(given)


def test_given_certificate_must_cover_the_wildcard(tmp_path: Path) -> None:
    made = local_certs(tmp_path, "corral.test")
    assert given_certs(made.cert, made.key, "corral.test").ca is None
    with pytest.raises(TlsSetupError, match=r"\*\.other\.test"):
        given_certs(made.cert, made.key, "other.test")
    stranger = local_certs(tmp_path / "stranger", "corral.test")
    with pytest.raises(TlsSetupError, match="cannot use"):
        given_certs(made.cert, stranger.key, "corral.test")
