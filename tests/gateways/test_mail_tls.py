"""SMTP over TLS (implicit and STARTTLS) against aiosmtpd with a throwaway certificate.

The certificate is checked: the gateway trusts only the CA it is given (tls_context),
and with the system's CAs a self-signed server is refused, as a retryable failure.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from pathlib import Path

import pytest

from gateways.mail import Mail, MailUnavailable
from gateways.smtp import SmtpGateway

x509 = pytest.importorskip("cryptography.x509")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

try:
    from tests.smtp_server import SmtpTestServer
except ModuleNotFoundError:
    from smtp_server import SmtpTestServer

MAIL = Mail(message_id="<tls-1@grantflow>", sender="subventions@agglo-sq.fr",
            to=("contact@faubourg-numerique.fr",), subject="Échéance chiffrée",
            text="Déjà transmis ?", html="<p>Déjà transmis ?</p>")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def server_context(certificate) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(*map(str, certificate))
    return ctx


def trusting(certificate) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate[0]))


@pytest.fixture
def implicit_tls_server(certificate):
    server = SmtpTestServer(ssl_context=server_context(certificate))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def starttls_server(certificate):
    server = SmtpTestServer(tls_context=server_context(certificate), require_starttls=True)
    server.start()
    yield server
    server.stop()


def test_implicit_tls_with_the_trusted_certificate(implicit_tls_server, certificate):
    gw = SmtpGateway(host=implicit_tls_server.host, port=implicit_tls_server.port,
                     sender="retours@agglo-sq.fr", use_ssl=True, timeout=5,
                     tls_context=trusting(certificate))
    gw.send(MAIL)
    assert implicit_tls_server.messages[0]["Subject"] == "Échéance chiffrée"


def test_starttls_with_the_trusted_certificate(starttls_server, certificate):
    gw = SmtpGateway(host=starttls_server.host, port=starttls_server.port,
                     sender="retours@agglo-sq.fr", starttls=True, timeout=5,
                     tls_context=trusting(certificate))
    with gw:
        gw.send(MAIL)
    assert starttls_server.messages[0].get_body(("plain",)).get_content().strip() == "Déjà transmis ?"


def test_an_unknown_certificate_is_refused_and_retryable(starttls_server):
    gw = SmtpGateway(host=starttls_server.host, port=starttls_server.port,
                     sender="retours@agglo-sq.fr", starttls=True, timeout=5)
    with pytest.raises(MailUnavailable, match="CERTIFICATE_VERIFY_FAILED|certificate verify"):
        gw.send(MAIL)
    assert starttls_server.messages == []


def test_plain_text_to_a_server_requiring_starttls_is_retryable(starttls_server):
    gw = SmtpGateway(host=starttls_server.host, port=starttls_server.port,
                     sender="retours@agglo-sq.fr", timeout=5)
    with pytest.raises(MailUnavailable):
        gw.send(MAIL)


def test_starttls_and_ssl_together_is_a_configuration_error():
    with pytest.raises(ValueError):
        SmtpGateway(host="127.0.0.1", port=25, sender="a@b.fr", starttls=True, use_ssl=True)
