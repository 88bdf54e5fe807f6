"""The secured stack's certificate authority and the PEM certificates of its servers.

Made once per state directory, under `<state_dir>/security/`, and reused on every later `up`
(a new CA would orphan every client's trust). The CA's key stays root's (0600); a server's key
is readable by its own server only: 0600 for the launcher's user (Kafka), 0640 with the group of
the unprivileged `imgsim` user for Elasticsearch (`share_with`).
"""

import datetime
import grp
import ipaddress
import os
import pwd
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from imgsim_stack.errors import StackError

CA_NAME = "imgsim stack CA"
# Long enough that a developer's stack never expires under them; it trusts only this machine.
VALIDITY = datetime.timedelta(days=3650)
SERVERS = ("kafka", "elasticsearch")


def security_dir(state_dir: Path) -> Path:
    return state_dir / "security"


@dataclass(frozen=True)
class ServerCertificate:
    certificate: Path
    """The server's certificate followed by the CA's (the chain a client verifies)."""
    key: Path
    """The server's private key, unencrypted PKCS#8 PEM."""


@dataclass(frozen=True)
class StackCertificates:
    directory: Path
    ca_certificate: Path
    ca_key: Path

    def server(self, name: str) -> ServerCertificate:
        if name not in SERVERS:
            raise ValueError(f"no certificate for {name!r}; servers: {', '.join(SERVERS)}")
        return ServerCertificate(self.directory / f"{name}.pem", self.directory / f"{name}-key.pem")

    @property
    def kafka(self) -> ServerCertificate:
        return self.server("kafka")

    @property
    def elasticsearch(self) -> ServerCertificate:
        return self.server("elasticsearch")


def stack_certificates(state_dir: Path) -> StackCertificates:
    """Where the certificates of a state directory's stack are (made or not)."""
    directory = security_dir(state_dir).resolve()
    return StackCertificates(directory, directory / "ca.pem", directory / "ca-key.pem")


def ensure_certificates(state_dir: Path, hosts: Sequence[str]) -> StackCertificates:
    """The CA and a certificate per server, each made only when missing; a server certificate
    that does not name every one of `hosts` (a changed IMGSIM_STACK_HOST) is made again."""
    paths = stack_certificates(state_dir)
    paths.directory.mkdir(parents=True, exist_ok=True)
    # Entered by Elasticsearch's user for its key and the CA; listed by no one else's tools.
    paths.directory.chmod(0o755)
    if not (paths.ca_certificate.exists() and paths.ca_key.exists()):
        ca_key = ec.generate_private_key(ec.SECP256R1())
        _write(paths.ca_key, _key_pem(ca_key), 0o600)
        _write(paths.ca_certificate, _ca_certificate(ca_key).public_bytes(_PEM), 0o644)
    ca_key = _load_key(paths.ca_key)
    ca = x509.load_pem_x509_certificate(paths.ca_certificate.read_bytes())
    names = _subject_names(hosts)
    for server in SERVERS:
        target = paths.server(server)
        if target.key.exists() and _names_all(target.certificate, names):
            continue
        key = ec.generate_private_key(ec.SECP256R1())
        certificate = _server_certificate(server, key.public_key(), names, ca, ca_key)
        _write(target.key, _key_pem(key), 0o600)
        _write(target.certificate, certificate.public_bytes(_PEM) + ca.public_bytes(_PEM), 0o644)
    return paths


def share_with(path: Path, user: str) -> None:
    """Lets `user` (and root) read a key: group `user`'s primary group, mode 0640."""
    try:
        entry = pwd.getpwnam(user)
    except KeyError as e:
        raise StackError("security", f"no user {user!r} to give {path.name} to") from e
    os.chown(path, 0 if os.geteuid() == 0 else -1, entry.pw_gid)
    path.chmod(0o640)
    if grp.getgrgid(entry.pw_gid).gr_gid != path.stat().st_gid:
        raise StackError("security", f"cannot give {path} to group of {user!r}")


def sha256_fingerprint(certificate: Path) -> str:
    """The certificate's SHA-256 fingerprint in hex, as Elasticsearch clients take it."""
    loaded = x509.load_pem_x509_certificate(certificate.read_bytes())
    return loaded.fingerprint(hashes.SHA256()).hex()


_PEM = serialization.Encoding.PEM


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    # PKCS#8: what Kafka's PEM keystore and Elasticsearch both read.
    return key.private_bytes(_PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise StackError("security", f"{path} is not the EC key this launcher writes")
    return key


def _write(path: Path, content: bytes, mode: int) -> None:
    # Created with its final mode, so a key is never readable by others even for a moment.
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "wb") as out:
        out.write(content)
    partial.chmod(mode)
    partial.replace(path)


def _subject_names(hosts: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys(["127.0.0.1", "localhost", *hosts]):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _names_all(certificate: Path, names: list[x509.GeneralName]) -> bool:
    if not certificate.exists():
        return False
    loaded = x509.load_pem_x509_certificate(certificate.read_bytes())
    held = loaded.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return all(name in held for name in names)


def _validity() -> tuple[datetime.datetime, datetime.datetime]:
    # A minute back: a client whose clock is slightly behind still accepts the certificate.
    now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=1)
    return now, now + VALIDITY


def _ca_certificate(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME)])
    not_before, not_after = _validity()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _server_certificate(
    server: str,
    public_key: ec.EllipticCurvePublicKey,
    names: list[x509.GeneralName],
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
) -> x509.Certificate:
    not_before, not_after = _validity()
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"imgsim {server}")]))
        .issuer_name(ca.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        # Kafka's inter-broker connections make the broker a TLS client of itself.
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
