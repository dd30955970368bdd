"""The broker's own small PKI: a local CA, the broker's server certificate, device certificates.

Generated on the machine by the set-up into the broker's directory (under
``var/``), never committed. A device certificate's common name is the device
id, so the broker (``use_identity_as_username``) applies the same ACL as to a
password login. Private keys are written readable by the owner only.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS = 3650
CERT_DAYS = 825
Key = ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class BrokerPki:
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path


def new_key() -> Key:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "GridCrew"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def make_ca(common_name: str = "GridCrew local CA") -> tuple[Key, x509.Certificate]:
    key = new_key()
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def issue(
    ca_key: Key,
    ca_cert: x509.Certificate,
    common_name: str,
    *,
    server_names: tuple[str, ...] = (),
) -> tuple[Key, x509.Certificate]:
    """A leaf certificate: a server's when *server_names* are given, else a client's."""
    key = new_key()
    now = datetime.now(UTC)
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server_names else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=CERT_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    if server_names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_general_name(n) for n in server_names]), critical=False
        )
    return key, builder.sign(ca_key, hashes.SHA256())


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def write_key(path: Path, key: Key) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def write_cert(path: Path, cert: x509.Certificate) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def load(pki: BrokerPki) -> tuple[Key, x509.Certificate]:
    key = serialization.load_pem_private_key(pki.ca_key.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{pki.ca_key} is not the EC key this module writes")
    return key, x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())


def ensure_broker_pki(directory: Path, hosts: tuple[str, ...] = ("127.0.0.1",)) -> BrokerPki:
    """The CA and the broker's certificate in *directory*, created when missing (idempotent)."""
    pki = BrokerPki(
        directory / "ca.crt",
        directory / "ca.key",
        directory / "server.crt",
        directory / "server.key",
    )
    if not (pki.ca_cert.exists() and pki.ca_key.exists()):
        ca_key, ca_cert = make_ca()
        write_key(pki.ca_key, ca_key)
        write_cert(pki.ca_cert, ca_cert)
        pki.server_cert.unlink(missing_ok=True)
    if not (pki.server_cert.exists() and pki.server_key.exists()):
        ca_key, ca_cert = load(pki)
        names = tuple(dict.fromkeys((*hosts, "localhost", "127.0.0.1")))
        key, cert = issue(ca_key, ca_cert, "gridcrew-broker", server_names=names)
        write_key(pki.server_key, key)
        write_cert(pki.server_cert, cert)
    return pki


def issue_device_cert(pki: BrokerPki, device_id: str, directory: Path) -> tuple[Path, Path]:
    """Write ``<device>.crt`` and ``<device>.key`` (CN = device id) into *directory*."""
    ca_key, ca_cert = load(pki)
    key, cert = issue(ca_key, ca_cert, device_id)
    cert_path, key_path = directory / f"{device_id}.crt", directory / f"{device_id}.key"
    write_cert(cert_path, cert)
    write_key(key_path, key)
    return cert_path, key_path
