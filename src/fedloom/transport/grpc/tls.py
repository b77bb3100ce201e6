"""TLS material for the gRPC transport, and how a party's identity is bound to its certificate.

Identity check
--------------
Every organisation gets one certificate, signed by the federation's CA, whose subject
alternative names (SAN, DNS type) are the :attr:`~fedloom.core.roles.PartyId.dns_name` of each
role it plays: an organisation acting as ``host:10000`` and ``arbiter:10000`` holds one
certificate naming ``host-10000.fedloom`` and ``arbiter-10000.fedloom``.

Both directions of a connection are checked:

* **the server is the party we mean to reach.** The client verifies the server's chain against
  the CA and sets ``grpc.ssl_target_name_override`` to the *destination party's* DNS name, so the
  TLS host-name check passes only if the server's certificate names that party. The network
  address in the peer table therefore never has to be trusted: a wrong or hijacked address fails
  the handshake.
* **the sender is the party it claims to be** (mutual TLS only). The server requires a client
  certificate signed by the same CA and, for every message, compares the envelope's ``src`` with
  the DNS SAN names of the certificate the client presented (read from the call's
  ``auth_context()``). A message whose ``src`` is not named by the certificate is refused with
  ``PERMISSION_DENIED`` before its body is read; the same applies to failure notices.

With ``mutual=False`` only the first check holds: the server is authenticated and the traffic is
encrypted, but any client holding the CA certificate can claim any ``src``. Use it only where the
network itself authenticates the peers. Plaintext authenticates neither end.

Whatever the mode, the receiving mailbox then checks that the address's trailing ``src->dst``
names that (authenticated or merely declared) sender and this party, and that the sender is a
peer of the job (see :mod:`fedloom.transport.mailbox`); with mutual TLS this means a party can
write only to addresses that name it as the sender.

:func:`make_pki` builds a CA and the per-organisation certificates (EC P-256, ECDSA-SHA256) for
tests and for local federations; real deployments bring their own CA and load PEM files with
:meth:`TlsConfig.from_files`.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fedloom.core.errors import ConfigError
from fedloom.core.roles import PartyId

__all__ = ["TlsConfig", "cert_dns_names", "make_pki"]


@dataclass(frozen=True)
class TlsConfig:
    """One party's TLS material, as PEM bytes.

    Parameters
    ----------
    ca_cert
        The federation's CA certificate: peers' certificates must chain to it.
    cert
        This organisation's certificate; its DNS SAN names must include the ``dns_name`` of every
        role the organisation plays.
    key
        The private key of ``cert`` (PEM, unencrypted). Never leaves this party.
    mutual
        Require and check client certificates (the sender's identity). Default ``True``.
    """

    ca_cert: bytes
    cert: bytes
    key: bytes = field(repr=False)
    mutual: bool = True

    def __post_init__(self) -> None:
        for name in ("ca_cert", "cert", "key"):
            value = getattr(self, name)
            if not isinstance(value, bytes | bytearray) or b"-----BEGIN " not in value:
                raise ConfigError(f"TLS {name} must be PEM bytes (-----BEGIN ...).", field=name)
            object.__setattr__(self, name, bytes(value))

    @classmethod
    def from_files(
        cls, ca: str | Path, cert: str | Path, key: str | Path, *, mutual: bool = True
    ) -> TlsConfig:
        """Read the CA certificate, this party's certificate and its key from PEM files."""
        blobs = []
        for name, path in (("ca_cert", ca), ("cert", cert), ("key", key)):
            try:
                blobs.append(Path(path).read_bytes())
            except OSError as exc:
                raise ConfigError(
                    f"cannot read TLS {name} file '{path}': {exc.strerror}", field=name
                ) from None
        return cls(blobs[0], blobs[1], blobs[2], mutual=mutual)

    def dns_names(self) -> list[str]:
        """The DNS SAN names of this party's own certificate."""
        return cert_dns_names(self.cert)


def cert_dns_names(pem: bytes) -> list[str]:
    """The DNS names in the subject alternative name extension of a PEM certificate."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise ConfigError(f"TLS certificate cannot be parsed: {exc}", field="cert") from None
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return list(san.get_values_for_type(x509.DNSName))


def make_pki(parties: Sequence[PartyId | Sequence[PartyId]], *, days: int = 365) -> dict[str, TlsConfig]:
    """Create a CA and one certificate per organisation.

    Parameters
    ----------
    parties
        One entry per organisation: a :class:`PartyId`, or a list of the parties one organisation
        plays (``[PartyId.parse("host:10000"), PartyId.parse("arbiter:10000")]``), which then
        share one key and one certificate naming all of them.
    days
        Validity of the CA and of every certificate.

    Returns
    -------
    dict[str, TlsConfig]
        ``str(party) -> TlsConfig`` for every party given (an organisation's roles map to the
        same config), all trusting the same fresh CA.

    Examples
    --------
    >>> from fedloom.core.roles import PartyId
    >>> pki = make_pki([PartyId.parse("guest:9999"), [PartyId.parse("host:1"), PartyId.parse("arbiter:1")]])
    >>> sorted(pki)
    ['arbiter:1', 'guest:9999', 'host:1']
    >>> pki["host:1"] is pki["arbiter:1"]
    True
    """
    if not isinstance(days, int) or isinstance(days, bool) or days < 1:
        raise ConfigError(
            f"The 'days' parameter of make_pki must be an int >= 1. Got {days!r}.", field="days"
        )
    now = _dt.datetime.now(_dt.UTC) - _dt.timedelta(minutes=5)  # tolerate small clock skew
    until = now + _dt.timedelta(days=days)
    ca_key, ca_cert = _make_ca(now, until)
    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)

    out: dict[str, TlsConfig] = {}
    for entry in parties:
        org = [entry] if isinstance(entry, PartyId) else list(entry)
        if not org or not all(isinstance(p, PartyId) for p in org):
            raise ConfigError(
                f"make_pki takes PartyIds or lists of PartyIds (one list per organisation). Got {entry!r}.",
                field="parties",
            )
        names = list(dict.fromkeys(p.dns_name for p in org))
        config = _issue(names, ca_key, ca_cert.subject, ca_pem, now, until)
        for party in org:
            if str(party) in out:
                raise ConfigError(f"party {party} is listed twice in make_pki", field="parties")
            out[str(party)] = config
    return out


def _make_ca(now: _dt.datetime, until: _dt.datetime) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A self-signed CA key and certificate valid from ``now`` to ``until``."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fedloom federation CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(until)
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return ca_key, ca_cert


def _issue(
    names: list[str],
    ca_key: ec.EllipticCurvePrivateKey,
    ca_name: x509.Name,
    ca_pem: bytes,
    now: _dt.datetime,
    until: _dt.datetime,
) -> TlsConfig:
    """A fresh key and a certificate naming ``names`` (DNS SANs), signed by the CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return TlsConfig(
        ca_cert=ca_pem,
        cert=cert.public_bytes(serialization.Encoding.PEM),
        key=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
