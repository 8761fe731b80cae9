"""The local certificate authority and the servers' certificates (`sesshu tls init`).

    <dir>/ca.key  ca.pem                 the CA (its key 0600, the folder 0700)
    <dir>/<service>.key  <service>.pem   one server certificate per service, SANs
                                         localhost, 127.0.0.1, ::1

Services: `rabbitmq` (AMQPS), `postgres` (ssl = on), `desk` (the approval desk's HTTPS),
`kiosk` (the certificate center's HTTPS edge). Running it again keeps what is valid and
renews what expires within RENEW_WITHIN (every server certificate when the CA is new).
`install` copies one service's files where the OS user its server runs as can read them
(`scripts/services.sh` does it for the rabbitmq and postgres users).

Only the standard library and `cryptography` are imported, so `scripts/services.sh` can run
`python -m stack.tls` with any Python that has cryptography.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import pwd
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["RENEW_WITHIN", "SANS", "SERVICES", "init", "install", "write_atomically"]

SERVICES = ("rabbitmq", "postgres", "desk", "kiosk")
SANS = ("localhost", "127.0.0.1", "::1")
RENEW_WITHIN = timedelta(days=30)
CA_VALIDITY = timedelta(days=3650)
SERVER_VALIDITY = timedelta(days=397)  # what browsers accept for a server certificate
_KEY = ec.SECP256R1()


def init(
    directory: Path, *, services: Sequence[str] = SERVICES, now: datetime | None = None
) -> list[str]:
    """Make or renew the CA and each service's certificate in `directory`; what was made."""
    now = now or datetime.now(UTC)
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    made: list[str] = []
    ca_cert, ca_key = _load(directory, "ca")
    if ca_cert is None or ca_key is None or _due(ca_cert, now):
        ca_key = ec.generate_private_key(_KEY)
        ca_cert = _ca_certificate(ca_key, now)
        _write(directory, "ca", ca_cert, ca_key)
        made.append("ca")
    for service in services:
        cert, _ = _load(directory, service)
        if cert is None or _due(cert, now) or not _issued_by(cert, ca_cert):
            key = ec.generate_private_key(_KEY)
            _write(directory, service, _server_certificate(service, key, ca_cert, ca_key, now), key)
            made.append(service)
    return made


def install(directory: Path, service: str, target: Path, owner: str) -> bool:
    """Copy the CA and `service`'s certificate and key into `target` (0700), owned by the OS
    user `owner`, the key 0600; True if a file changed (the server must reread them)."""
    account = pwd.getpwnam(owner)
    target.mkdir(parents=True, exist_ok=True)
    os.chown(target, account.pw_uid, account.pw_gid)
    target.chmod(0o700)
    changed = False
    for name, mode in (("ca.pem", 0o644), (f"{service}.pem", 0o644), (f"{service}.key", 0o600)):
        data, copy = (directory / name).read_bytes(), target / name
        if copy.is_file() and not copy.is_symlink() and copy.read_bytes() == data:
            continue
        write_atomically(copy, data, mode, owner=(account.pw_uid, account.pw_gid))
        changed = True
    return changed


def _due(cert: x509.Certificate, now: datetime) -> bool:
    return cert.not_valid_after_utc - now < RENEW_WITHIN


def _issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _load(
    directory: Path, name: str
) -> tuple[x509.Certificate | None, ec.EllipticCurvePrivateKey | None]:
    cert_file, key_file = directory / f"{name}.pem", directory / f"{name}.key"
    if not cert_file.exists() or not key_file.exists():
        return None, None
    try:
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    except ValueError:  # a damaged file is made anew
        return None, None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        return None, None
    return cert, key


def _write(
    directory: Path, name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> None:
    # The traditional EC form ("EC PRIVATE KEY"): every server here reads it, Erlang's
    # ssl included.
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    write_atomically(directory / f"{name}.key", key_pem, 0o600)
    write_atomically(
        directory / f"{name}.pem", cert.public_bytes(serialization.Encoding.PEM), 0o644
    )


def write_atomically(
    path: Path, data: bytes, mode: int, *, owner: tuple[int, int] | None = None
) -> None:
    """Write `data` beside `path` with its mode (and owner) from the start, then put it in
    place whole: a key is never readable by others, not even for a moment, a reader never
    sees half a file, and a link at `path` is replaced, never followed."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(handle, mode)
        if owner is not None:
            os.fchown(handle, *owner)
        os.write(handle, data)
    finally:
        os.close(handle)
    Path(temporary).replace(path)


def _name(common: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Sesshu Hub (local)"),
            x509.NameAttribute(NameOID.COMMON_NAME, common),
        ]
    )


def _ca_certificate(key: ec.EllipticCurvePrivateKey, now: datetime) -> x509.Certificate:
    name = _name("Sesshu Hub local CA")
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_usage(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def _server_certificate(
    service: str,
    key: ec.EllipticCurvePrivateKey,
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    now: datetime,
) -> x509.Certificate:
    names: list[x509.GeneralName] = [x509.DNSName(SANS[0])]
    names += [x509.IPAddress(ipaddress.ip_address(address)) for address in SANS[1:]]
    ca_public = ca_key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(_name(f"sesshu {service}"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(min(now + SERVER_VALIDITY, ca.not_valid_after_utc))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_public), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )


def _ca_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m stack.tls init DIR` | `install DIR SERVICE TARGET OWNER` (prints `changed`
    when a file was replaced)."""
    parser = argparse.ArgumentParser(prog="python -m stack.tls")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("init").add_argument("directory", type=Path)
    placed = commands.add_parser("install")
    for argument in ("directory", "service", "target", "owner"):
        placed.add_argument(argument)
    arguments = parser.parse_args(argv)
    if arguments.command == "init":
        for name in init(arguments.directory):
            print(f"made {arguments.directory / name}.pem")
        return 0
    target = Path(arguments.target)
    if install(Path(arguments.directory), arguments.service, target, arguments.owner):
        print("changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
