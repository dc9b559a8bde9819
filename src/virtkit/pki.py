"""Make a CA and the server and client certificates libvirt's TLS transport wants.

The certificates pass libvirt's sanity checks (``virnettlscontext.c``): the CA
has critical basic constraints ``CA:TRUE`` and the key usage "certificate
signing"; server and client certificates have ``CA:FALSE``, the key usages
"digital signature" and "key encipherment", and the purpose "TLS Web Server"
(with the host names and addresses as subjectAltName) or "TLS Web Client".

Files go where libvirt looks for them, either the system layout

    /etc/pki/CA/cacert.pem                  /etc/pki/CA/private/cakey.pem
    /etc/pki/libvirt/servercert.pem         /etc/pki/libvirt/private/serverkey.pem
    /etc/pki/libvirt/clientcert.pem         /etc/pki/libvirt/private/clientkey.pem

(under a ``root`` prefix), or one directory as libvirt's ``pkipath`` reads it
(``cacert.pem``, ``servercert.pem``, ``serverkey.pem``, ``clientcert.pem``,
``clientkey.pem``; the CA's key as ``cakey.pem``). Keys are written 0600 and
nothing is overwritten unless asked.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from virtkit.errors import LocalToolError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

__all__ = ["Layout", "PKIError", "ca_layout", "make_ca", "make_client", "make_server", "parse_dn"]

DEFAULT_DAYS_CA = 3650
DEFAULT_DAYS = 1095
DEFAULT_BITS = 3072


class PKIError(LocalToolError):
    """A certificate cannot be made or written; the message is for the user."""


@dataclass(frozen=True, slots=True)
class Layout:
    """The files of one PKI set-up (see the module docstring)."""

    cacert: str
    cakey: str
    servercert: str
    serverkey: str
    clientcert: str
    clientkey: str

    @classmethod
    def system(cls, root: str = "/") -> Layout:
        """libvirt's default paths, under ``root``."""
        pki = os.path.join(root, "etc", "pki")
        lib, priv = os.path.join(pki, "libvirt"), os.path.join(pki, "libvirt", "private")
        return cls(os.path.join(pki, "CA", "cacert.pem"),
                   os.path.join(pki, "CA", "private", "cakey.pem"),
                   os.path.join(lib, "servercert.pem"), os.path.join(priv, "serverkey.pem"),
                   os.path.join(lib, "clientcert.pem"), os.path.join(priv, "clientkey.pem"))

    @classmethod
    def directory(cls, path: str) -> Layout:
        """One directory, as ``?pkipath=`` reads it."""
        def j(name: str) -> str:
            return os.path.join(path, name)
        return cls(j("cacert.pem"), j("cakey.pem"), j("servercert.pem"), j("serverkey.pem"),
                   j("clientcert.pem"), j("clientkey.pem"))


def ca_layout(path: str) -> Layout:
    """The CA in directory ``path``: ``cacert.pem`` with ``cakey.pem`` beside it, or in
    ``private/`` (so ``/etc/pki/CA`` works as well as a ``--dir`` of pki-ca)."""
    layout = Layout.directory(path)
    private = os.path.join(path, "private", "cakey.pem")
    if not os.path.exists(layout.cakey) and os.path.exists(private):
        from dataclasses import replace

        layout = replace(layout, cakey=private)
    return layout


def parse_dn(text: str) -> x509.Name:
    """A DN as libvirt writes it in ``tls_allowed_dn_list`` (``C=GB,O=Example,CN=admin``).

    The RDNs are encoded in the order written, so libvirt (GnuTLS's
    ``gnutls_x509_crt_get_dn``, ``virt-pki-query-dn``) shows the DN exactly as
    written; RFC 4514 tools (openssl, ``certtool -i``) show it reversed."""
    from cryptography import x509

    try:
        name = x509.Name.from_rfc4514_string(text)
    except ValueError as e:
        detail = str(e) or "expected TYPE=value pairs separated by commas, e.g. O=Example,CN=admin"
        raise PKIError(f"invalid distinguished name '{text}': {detail}") from None
    if not list(name):
        raise PKIError(f"invalid distinguished name '{text}': it is empty")
    return x509.Name(list(reversed(name.rdns)))


def _new_key(bits: int) -> RSAPrivateKey:
    from cryptography.hazmat.primitives.asymmetric import rsa

    if bits < 2048 or bits > 16384:
        raise PKIError(f"key size {bits} out of range (2048 to 16384 bits)")
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def _builder(subject: x509.Name, issuer: x509.Name, key: RSAPrivateKey,
             days: int) -> x509.CertificateBuilder:
    from cryptography import x509

    if days < 1:
        raise PKIError(f"invalid validity of {days} days")
    now = datetime.datetime.now(datetime.UTC)
    return (x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False))


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    from cryptography import x509

    return x509.KeyUsage(digital_signature=not ca, content_commitment=False,
                         key_encipherment=not ca, data_encipherment=False, key_agreement=False,
                         key_cert_sign=ca, crl_sign=ca, encipher_only=False, decipher_only=False)


def _pem_cert(cert: x509.Certificate) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.PEM)


def _pem_key(key: RSAPrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def _check_targets(paths: Sequence[str], force: bool) -> None:
    if force:
        return
    for path in paths:
        if os.path.lexists(path):
            raise PKIError(f"'{path}' already exists (use --force to overwrite it)")


def _write(path: str, data: bytes, mode: int) -> None:
    """Write atomically with ``mode`` from the start (a key is never readable by others)."""
    parent = os.path.dirname(path) or "."
    private = mode == 0o600
    try:
        os.makedirs(parent, mode=0o700 if private and os.path.basename(parent) == "private"
                    else 0o755, exist_ok=True)
        tmp = os.path.join(parent, f".{os.path.basename(path)}.{os.getpid()}.tmp")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError as e:
        raise PKIError(f"cannot write '{path}': {e.strerror or e}") from None


def _load_ca(cacert: str, cakey: str) -> tuple[x509.Certificate, RSAPrivateKey]:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    try:
        with open(cacert, "rb") as f:
            cert = x509.load_pem_x509_certificate(f.read())
    except OSError as e:
        raise PKIError(f"cannot read CA certificate '{cacert}': {e.strerror or e} "
                       "(make one with pki-ca)") from None
    except ValueError:
        raise PKIError(f"'{cacert}' is not a PEM certificate") from None
    try:
        with open(cakey, "rb") as f:
            key = serialization.load_pem_private_key(f.read(), password=None)
    except OSError as e:
        raise PKIError(f"cannot read CA key '{cakey}': {e.strerror or e}") from None
    except (ValueError, TypeError):
        raise PKIError(f"'{cakey}' is not an unencrypted PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise PKIError(f"'{cakey}' is not an RSA key")
    if key.public_key().public_numbers() != cert.public_key().public_numbers():  # type: ignore[union-attr]
        raise PKIError(f"'{cakey}' is not the key of '{cacert}'")
    return cert, key


def _sign(builder: x509.CertificateBuilder, key: RSAPrivateKey) -> x509.Certificate:
    from cryptography.hazmat.primitives import hashes

    return builder.sign(key, hashes.SHA256())


def make_ca(layout: Layout, *, dn: str = "O=virtkit,CN=virtkit CA", days: int = DEFAULT_DAYS_CA,
            bits: int = DEFAULT_BITS, force: bool = False) -> x509.Certificate:
    """Create the CA: ``layout.cacert`` (0644) and ``layout.cakey`` (0600)."""
    from cryptography import x509

    subject = parse_dn(dn)
    _check_targets([layout.cacert, layout.cakey], force)
    key = _new_key(bits)
    builder = (_builder(subject, subject, key, days)
               .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
               .add_extension(_key_usage(ca=True), critical=True))
    cert = _sign(builder, key)
    _write(layout.cakey, _pem_key(key), 0o600)
    _write(layout.cacert, _pem_cert(cert), 0o644)
    return cert


def _leaf(layout: Layout, ca_layout: Layout, subject: x509.Name, purpose: str,
          san: x509.SubjectAlternativeName | None, certpath: str, keypath: str, days: int,
          bits: int, force: bool) -> x509.Certificate:
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    copy_ca = os.path.abspath(layout.cacert) != os.path.abspath(ca_layout.cacert)
    _check_targets([certpath, keypath], force)
    ca_cert, ca_key = _load_ca(ca_layout.cacert, ca_layout.cakey)
    if copy_ca and os.path.exists(layout.cacert) and not force:
        with open(layout.cacert, "rb") as f:
            if f.read() != _pem_cert(ca_cert):
                raise PKIError(f"'{layout.cacert}' already exists and is another CA "
                               "(use --force to overwrite it)")
    key = _new_key(bits)
    oid = ExtendedKeyUsageOID.SERVER_AUTH if purpose == "server" else \
        ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (_builder(subject, ca_cert.subject, key, days)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(_key_usage(ca=False), critical=True)
               .add_extension(x509.ExtendedKeyUsage([oid]), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   ca_key.public_key()), critical=False))
    if san is not None:
        builder = builder.add_extension(san, critical=False)
    cert = _sign(builder, ca_key)
    _write(keypath, _pem_key(key), 0o600)
    _write(certpath, _pem_cert(cert), 0o644)
    if copy_ca:
        _write(layout.cacert, _pem_cert(ca_cert), 0o644)
    return cert


def _san(hosts: Sequence[str]) -> x509.SubjectAlternativeName:
    from cryptography import x509

    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host.strip("[]"))))
        except ValueError:
            if not host or any(c.isspace() or c in "/,@" for c in host):
                raise PKIError(f"invalid host name '{host}'") from None
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def make_server(layout: Layout, hosts: Sequence[str], *, ca: Layout | None = None,
                dn: str | None = None, days: int = DEFAULT_DAYS, bits: int = DEFAULT_BITS,
                force: bool = False) -> x509.Certificate:
    """Issue the server certificate for ``hosts`` (names and addresses)."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    hosts = [h for h in hosts if h]
    if not hosts:
        raise PKIError("at least one host name or address is needed")
    san = _san(hosts)
    if dn is not None:
        subject = parse_dn(dn)
    else:
        ca_subject = _load_ca((ca or layout).cacert, (ca or layout).cakey)[0].subject
        org = ca_subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, str(org[0].value))] if org \
            else []
        subject = x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])])
    return _leaf(layout, ca or layout, subject, "server", san, layout.servercert,
                 layout.serverkey, days, bits, force)


def make_client(layout: Layout, dn: str, *, ca: Layout | None = None, days: int = DEFAULT_DAYS,
                bits: int = DEFAULT_BITS, force: bool = False) -> x509.Certificate:
    """Issue a client certificate whose DN is ``dn``."""
    return _leaf(layout, ca or layout, parse_dn(dn), "client", None, layout.clientcert,
                 layout.clientkey, days, bits, force)
