"""TLS for the event bus: a private certificate authority and the broker's certificate, made once beside the
nkey seeds, so that a deployment (compose) encrypts every connection and every process checks it talks to
its own broker. ``python -m shared.bustls <dir> <host> [<host> ...]`` makes ``ca.pem``, ``server.pem`` and
``server-key.pem`` (kept when present) and prints the ``tls`` block for nats-server's configuration."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CA_FILE = "ca.pem"
CERT_FILE = "server.pem"
KEY_FILE = "server-key.pem"
VALID_DAYS = 3650


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def ensure_certificates(directory: Path, hosts: list[str]) -> None:
    """A CA and a broker certificate for ``hosts`` (names or IP addresses) in ``directory``, unless there."""
    if (directory / CA_FILE).exists() and (directory / CERT_FILE).exists() and (directory / KEY_FILE).exists():
        return
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("onestop bus CA")).issuer_name(_name("onestop bus CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    cert = (x509.CertificateBuilder().subject_name(_name(hosts[0])).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256()))
    (directory / CA_FILE).write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (directory / CERT_FILE).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path = directory / KEY_FILE
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)


def server_block(directory: Path) -> str:
    """The ``tls`` block of nats-server's configuration: every client connection encrypted."""
    return (f'tls {{\n  cert_file: "{directory / CERT_FILE}"\n  key_file: "{directory / KEY_FILE}"\n'
            f'  ca_file: "{directory / CA_FILE}"\n  timeout: 5\n}}\n')


def client_context(ca_file: Path) -> ssl.SSLContext:
    """What a process connects with: only a broker certified by this deployment's CA is trusted."""
    return ssl.create_default_context(cafile=str(ca_file))


if __name__ == "__main__":
    target = Path(sys.argv[1])
    ensure_certificates(target, sys.argv[2:] or ["localhost"])
    print(server_block(target))
