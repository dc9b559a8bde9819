"""TLS with x509 certificates, as libvirt's ``src/rpc/virnettlscontext.c`` does it.

libvirt uses GnuTLS; this module uses Python's :mod:`ssl` (OpenSSL) for the
record layer and the :mod:`cryptography` library for libvirt's own certificate
checks, so that the same files pass or fail with the same messages:

* where the credentials are (:func:`locate_credentials`: ``pkipath``, then
  ``~/.pki/libvirt`` for a non-root client, then ``/etc/pki``);
* the sanity checks of our own certificate and CA (validity times, basic
  constraints, key usage, TLS Web Server/Client purpose, signed by the CA);
* after the handshake, the peer's certificate: chain (OpenSSL, with the CRL
  when there is one), then libvirt's checks, the DN allow-list
  (``tls_allowed_dn_list``, glob wildcards) on the server and the host name on
  the client;
* the wire protocol: TLS starts on the first byte; once the server has checked
  the client's certificate it sends one encrypted byte ``\\x01``, and closes the
  connection otherwise.

The server side (:class:`ServerTLSContext`, :class:`ServerTLS`) works on memory
BIOs so :mod:`virtkit.rpc.server` keeps its own non-blocking socket handling;
the client side (:func:`connect_tls`) returns a socket object whose ``recv`` and
``sendall`` are safe to call from two threads at once, as the RPC client does.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import socket
import ssl
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from virtkit.errors import VirtError, make_error
from virtkit.errtables import ErrorCode, ErrorDomain

if TYPE_CHECKING:
    from collections.abc import Sequence

    from cryptography import x509

__all__ = [
    "DEFAULT_TLS_PORT",
    "Credentials",
    "ServerTLS",
    "ServerTLSContext",
    "TLSClientSocket",
    "connect_tls",
    "distinguished_name",
    "dn_matches",
    "locate_credentials",
]

log = logging.getLogger("virtkit.rpc.tls")

DEFAULT_TLS_PORT = 16514
PKI_DIR = "/etc/pki"
CONFIRM_BYTE = b"\x01"
"""What the server sends (encrypted) once the client's certificate passed its checks."""

_OID_SERVER_AUTH = "1.3.6.1.5.5.7.3.1"
_OID_CLIENT_AUTH = "1.3.6.1.5.5.7.3.2"
_OID_ANY_PURPOSE = "2.5.29.37.0"
_RECORD = 16384  # the largest TLS record payload: what one SSL_read returns at most
_RAW_RECV = 256 * 1024


def _error(message: str, code: ErrorCode = ErrorCode.SYSTEM_ERROR) -> VirtError:
    return make_error(code, ErrorDomain.RPC, message)


def _system_error(message: str, err: int) -> VirtError:
    return _error(f"{message}: {os.strerror(err)}")


# --------------------------------------------------------------------------- files


@dataclass(frozen=True, slots=True)
class Credentials:
    """Where one side's files are: CA certificate(s), CRL, own certificate and key."""

    cacert: str
    cacrl: str | None
    cert: str | None
    key: str | None


def locate_credentials(pkipath: str | None, *, is_server: bool, try_user_pki_path: bool = False,
                       pki_dir: str = PKI_DIR, home: str | None = None) -> Credentials:
    """libvirt's ``virNetTLSContextLocateCredentials``.

    An explicit ``pkipath`` is used whether or not the files exist. Otherwise,
    with ``try_user_pki_path`` (a non-root client), each file found in
    ``~/.pki/libvirt`` is used (certificate and key as a pair) and the rest
    falls back to the system-wide ``pki_dir`` layout."""
    own = "server" if is_server else "client"
    if pkipath:
        return Credentials(os.path.join(pkipath, "cacert.pem"),
                           os.path.join(pkipath, "cacrl.pem"),
                           os.path.join(pkipath, f"{own}cert.pem"),
                           os.path.join(pkipath, f"{own}key.pem"))
    cacert = cacrl = cert = key = None
    if try_user_pki_path:
        user = os.path.join(home or os.path.expanduser("~"), ".pki", "libvirt")
        cacert = os.path.join(user, "cacert.pem")
        cacrl = os.path.join(user, "cacrl.pem")
        cert = os.path.join(user, f"{own}cert.pem")
        key = os.path.join(user, f"{own}key.pem")
        if not os.path.exists(cacert):
            cacert = None
        if not os.path.exists(cacrl):
            cacrl = None
        if not (os.path.exists(cert) and os.path.exists(key)):
            cert = key = None
    if cacert is None:
        cacert = os.path.join(pki_dir, "CA", "cacert.pem")
    if cacrl is None:
        cacrl = os.path.join(pki_dir, "CA", "cacrl.pem")
    if cert is None and key is None:
        cert = os.path.join(pki_dir, "libvirt", f"{own}cert.pem")
        key = os.path.join(pki_dir, "libvirt", "private", f"{own}key.pem")
    return Credentials(cacert, cacrl, cert, key)


def _check_file(what: str, path: str, allow_missing: bool) -> bool:
    """virNetTLSContextCheckCertFile: True if present, False if missing and allowed."""
    if os.path.exists(path):
        return True
    if allow_missing:
        return False
    raise _system_error(f"Cannot read {what} '{path}'", errno.ENOENT)


def _load_cert(path: str, is_server: bool) -> x509.Certificate:
    from cryptography import x509

    try:
        with open(path, "rb") as f:
            return x509.load_pem_x509_certificate(f.read())
    except OSError as e:
        raise _system_error(f"Unable to read certificate '{path}'", e.errno or errno.EIO) \
            from None
    except ValueError:
        side = "server" if is_server else "client"
        raise _error(f"Unable to import {side} certificate {path}") from None


def _load_ca_list(path: str) -> list[x509.Certificate]:
    from cryptography import x509

    try:
        with open(path, "rb") as f:
            certs = x509.load_pem_x509_certificates(f.read())
    except OSError as e:
        raise _system_error(f"Unable to read CA certificate '{path}'", e.errno or errno.EIO) \
            from None
    except ValueError:
        raise _error(f"Unable to import CA certificate list {path}") from None
    return certs[:16]  # libvirt's MAX_CERTS


# --------------------------------------------------------------------------- libvirt's checks


def distinguished_name(cert: x509.Certificate) -> str:
    """The subject as libvirt shows it (GnuTLS's ``gnutls_x509_crt_get_dn``, as
    ``virt-pki-query-dn`` prints it): the RDNs in their encoded order, so a subject
    encoded C, O, CN reads ``C=GB,O=Example,CN=client1`` (RFC 4514 reverses it)."""
    from cryptography.x509.oid import NameOID

    names = {NameOID.EMAIL_ADDRESS: "EMAIL"}
    return ",".join(rdn.rfc4514_string(names) for rdn in cert.subject.rdns)


def _glob_regex(pattern: str) -> re.Pattern[str]:
    parts = ("." if c == "?" else ".*" if c == "*" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.DOTALL)


def dn_matches(dn: str, patterns: Sequence[str]) -> bool:
    """``g_pattern_match_simple`` over the allow-list: ``*`` is any run of
    characters, ``?`` one character, everything else literal."""
    return any(_glob_regex(p).fullmatch(dn) for p in patterns)


def _check_times(cert: x509.Certificate, file: str, is_server: bool, is_ca: bool) -> None:
    now = datetime.now(UTC)
    what = ("The CA certificate" if is_ca else
            "The server certificate" if is_server else "The client certificate")
    if cert.not_valid_after_utc < now:
        raise _error(f"{what} {file} has expired")
    if cert.not_valid_before_utc > now:
        raise _error(f"{what} {file} is not yet active")


def _check_basic_constraints(cert: x509.Certificate, file: str, is_server: bool,
                             is_ca: bool) -> None:
    from cryptography import x509

    try:
        ca: bool | None = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        ca = None
    if ca:
        if not is_ca:
            side = "server" if is_server else "client"
            raise _error(f"The certificate {file} basic constraints show a CA, "
                         f"but we need one for a {side}")
    elif ca is False:
        if is_ca:
            raise _error(f"The certificate {file} basic constraints do not show a CA")
    elif is_ca:
        raise _error(f"The certificate {file} is missing basic constraints for a CA")


def _check_key_usage(cert: x509.Certificate, file: str, is_ca: bool) -> None:
    from cryptography import x509

    try:
        ext = cert.extensions.get_extension_for_class(x509.KeyUsage)
    except x509.ExtensionNotFound:
        return  # libvirt assumes the usages it needs
    usage, critical = ext.value, ext.critical
    needs = [("certificate signing", usage.key_cert_sign)] if is_ca else [
        ("digital signature", usage.digital_signature),
        ("key encipherment", usage.key_encipherment)]
    for what, ok in needs:
        if ok:
            continue
        message = f"Certificate {file} usage does not permit {what}"
        if critical:
            raise _error(message)
        log.warning("%s", message)


def _check_key_purpose(cert: x509.Certificate, file: str, is_server: bool) -> None:
    from cryptography import x509

    try:
        ext = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        return  # no purpose at all: any use
    allow_server = allow_client = False
    for oid in ext.value:
        if oid.dotted_string == _OID_SERVER_AUTH:
            allow_server = True
        elif oid.dotted_string == _OID_CLIENT_AUTH:
            allow_client = True
        elif oid.dotted_string != _OID_ANY_PURPOSE:  # libvirt's rule, kept as it is
            allow_server = allow_client = True
    allowed = allow_server if is_server else allow_client
    if allowed:
        return
    message = (f"Certificate {file} purpose does not allow use for with a TLS "
               f"{'server' if is_server else 'client'}")
    if ext.critical:
        raise _error(message)
    log.warning("%s", message)


def check_certificate(cert: x509.Certificate, file: str, *, is_server: bool,
                      is_ca: bool) -> None:
    """virNetTLSContextCheckCert: times, basic constraints, key usage, purpose."""
    _check_times(cert, file, is_server, is_ca)
    _check_basic_constraints(cert, file, is_server, is_ca)
    _check_key_usage(cert, file, is_ca)
    if not is_ca:
        _check_key_purpose(cert, file, is_server)


def _issued_by(cert: x509.Certificate, cas: Sequence[x509.Certificate]) -> str | None:
    """None when one of ``cas`` signed ``cert``, else GnuTLS's reason."""
    reason = "The certificate hasn't got a known issuer."
    for ca in cas:
        if ca.subject != cert.issuer:
            continue
        try:
            cert.verify_directly_issued_by(ca)
        except Exception:  # bad signature, or an algorithm the CA key cannot do
            reason = "The certificate is not trusted."
            continue
        return None
    return reason


def sanity_check(*, is_server: bool, cacert: str, cert: str | None) -> None:
    """virNetTLSContextSanityCheckCredentials: our own certificate and the CA,
    each only when readable."""
    own = _load_cert(cert, is_server) if cert and os.access(cert, os.R_OK) else None
    cas = _load_ca_list(cacert) if os.access(cacert, os.R_OK) else []
    if own is not None and cert:
        check_certificate(own, cert, is_server=is_server, is_ca=False)
    for ca in cas:
        check_certificate(ca, cacert, is_server=is_server, is_ca=True)
    if own is not None and cert and cas:
        reason = _issued_by(own, cas)
        if reason is not None:
            raise _error(f"Our own certificate {cert} failed validation against "
                         f"{cacert}: {reason}")


def _hostname_matches(cert: x509.Certificate, hostname: str) -> bool:
    """``gnutls_x509_crt_check_hostname``: IP SANs for an address, else DNS SANs
    (a leading ``*.`` label matches one label), else the subject CN."""
    import ipaddress

    from cryptography import x509
    from cryptography.x509.oid import NameOID

    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        san = None
    try:
        address = ipaddress.ip_address(hostname.strip("[]"))
    except ValueError:
        address = None
    if address is not None:
        return san is not None and address in san.get_values_for_type(x509.IPAddress)
    host = hostname.rstrip(".").lower()
    names = san.get_values_for_type(x509.DNSName) if san is not None else []
    if not names:
        names = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    for name in names:
        name = name.rstrip(".").lower()
        if name == host:
            return True
        if name.startswith("*.") and "." in host:
            label, rest = host.split(".", 1)
            if label and rest == name[2:]:
                return True
    return False


def _ssl_reason(exc: ssl.SSLError) -> str:
    """GnuTLS's reason for a chain verification failure."""
    code = getattr(exc, "verify_code", None)
    if code in (2, 20, 21):  # unable to get issuer certificate / local issuer / leaf signature
        return "The certificate hasn't got a known issuer."
    if code == 23:
        return "The certificate has been revoked."
    return "The certificate is not trusted."


def _peer_checks(der: bytes | None, *, is_server: bool, hostname: str | None,
                 dn_acl: Sequence[str] | None) -> str | None:
    """virNetTLSContextValidCertificate after GnuTLS's chain check: returns the
    peer's DN, raises with libvirt's message for the first failed check.
    ``is_server``: we are the server (so the peer is a client)."""
    from cryptography import x509

    if der is None:
        raise _error("Unable to verify TLS peer: No certificate was found.")
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        raise _error("Unable to load certificate") from None
    _check_times(cert, "[session]", is_server, False)
    dn = distinguished_name(cert)
    if dn_acl is not None and not dn_matches(dn, dn_acl):
        raise _error("Client's Distinguished Name is not on the list of allowed clients "
                     "(tls_allowed_dn_list).  Use 'virt-pki-query-dn clientcert.pem' to view "
                     "the Distinguished Name field in the client certificate, or run this "
                     "daemon with --verbose option.")
    if hostname and not _hostname_matches(cert, hostname):
        raise _error(f"Certificate [session] owner does not match the hostname {hostname}",
                     ErrorCode.RPC)
    _check_basic_constraints(cert, "[session]", not is_server, False)
    _check_key_usage(cert, "[session]", False)
    _check_key_purpose(cert, "[session]", not is_server)
    return dn


def _peer_failed() -> VirtError:
    return _error("Failed to verify peer's certificate", ErrorCode.AUTH_FAILED)


def _tls_context(purpose: int, creds: Credentials, *, is_server: bool, verify: bool,
                 priority: str | None) -> ssl.SSLContext:
    """An SSLContext loaded as virNetTLSContextLoadCredentials loads GnuTLS's."""
    ctx = ssl.SSLContext(purpose)
    ctx.check_hostname = False  # libvirt checks the host name itself, after the handshake
    _check_file("CA certificate", creds.cacert, False)
    try:
        ctx.load_verify_locations(cafile=creds.cacert)
    except (ssl.SSLError, OSError) as e:
        raise _error(f"Unable to set x509 CA certificate: {creds.cacert}: {e}") from None
    if creds.cacrl and _check_file("CA revocation list", creds.cacrl, True):
        try:
            ctx.load_verify_locations(cafile=creds.cacrl)
        except (ssl.SSLError, OSError) as e:
            raise _error(f"Unable to set x509 certificate revocation list: {creds.cacrl}: "
                         f"{e}") from None
        ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    if (creds.cert and creds.key and _check_file("certificate", creds.cert, not is_server)
            and _check_file("private key", creds.key, not is_server)):
        try:
            ctx.load_cert_chain(creds.cert, creds.key)
        except (ssl.SSLError, OSError) as e:
            raise _error(f"Unable to set x509 key and certificate: {creds.key}, {creds.cert}: "
                         f"{e}") from None
    if priority and priority != "NORMAL":
        log.warning("tls_priority '%s' is a GnuTLS priority string; OpenSSL's defaults are "
                    "used instead", priority)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if is_server:
        # GnuTLS's GNUTLS_CERT_REQUEST: ask for a certificate, decide afterwards. OpenSSL
        # still refuses a presented certificate its chain check rejects.
        ctx.verify_mode = ssl.CERT_OPTIONAL if verify else ssl.CERT_NONE
        ctx.num_tickets = 0  # libvirt's clients never resume a session
    else:
        ctx.verify_mode = ssl.CERT_REQUIRED if verify else ssl.CERT_NONE
    return ctx


# --------------------------------------------------------------------------- server


class ServerTLSContext:
    """libvirt's server ``virNetTLSContext``: credentials, DN allow-list, policy."""

    def __init__(self, creds: Credentials, *, dn_acl: Sequence[str] | None = None,
                 priority: str | None = None, sanity: bool = True,
                 require_valid_cert: bool = True) -> None:
        if sanity:
            sanity_check(is_server=True, cacert=creds.cacert, cert=creds.cert)
        self.credentials = creds
        self.dn_acl = tuple(dn_acl) if dn_acl is not None else None
        self.require_valid_cert = require_valid_cert
        self.ssl = _tls_context(ssl.PROTOCOL_TLS_SERVER, creds, is_server=True,
                                verify=require_valid_cert, priority=priority)

    def session(self) -> ServerTLS:
        """The TLS state of one new connection."""
        return ServerTLS(self)


class ServerTLS:
    """One server-side TLS connection over memory BIOs.

    Not thread-safe: the session serialises :meth:`receive` and :meth:`wrap`."""

    __slots__ = ("_ctx", "_in", "_obj", "_out", "closed", "established")

    def __init__(self, ctx: ServerTLSContext) -> None:
        self._ctx = ctx
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._obj = ctx.ssl.wrap_bio(self._in, self._out, server_side=True)
        self.established = False
        self.closed = False
        """The peer sent close_notify."""

    def receive(self, raw: bytes | memoryview) -> bytes:
        """Feed bytes from the socket; returns the plaintext they complete (none
        while handshaking). Raises :class:`ssl.SSLError` when TLS fails."""
        self._in.write(raw)
        obj = self._obj
        if not self.established:
            try:
                obj.do_handshake()
            except ssl.SSLWantReadError:
                return b""
            self.established = True
        chunks: list[bytes] = []
        while True:
            try:
                chunk = obj.read(_RECORD)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                self.closed = True
                break
            if not chunk:
                break
            chunks.append(chunk)
        if len(chunks) == 1:
            return chunks[0]
        return b"".join(chunks)

    @property
    def has_output(self) -> bool:
        """Bytes wait to go out (handshake records, alerts) after :meth:`receive`."""
        return bool(self._out.pending)

    def wrap(self, data: bytes) -> bytes:
        """Encrypt ``data``; returns every byte due on the socket (handshake records
        and alerts included). ``b""`` just collects what is pending."""
        if data:
            self._obj.write(data)
        return self._out.read()

    def check_peer(self) -> str | None:
        """virNetTLSContextCheckCertificate: the client's DN (None if it sent no
        certificate and none is required); raises ``VIR_ERR_AUTH_FAILED`` with the
        reason logged, as libvirt does."""
        der = self._obj.getpeercert(binary_form=True)
        try:
            return _peer_checks(der, is_server=True, hostname=None, dn_acl=self._ctx.dn_acl)
        except VirtError as e:
            dn = self.peer_dn(der)
            log.warning("Certificate check failed %s%s", e,
                        f" (client DN '{dn}')" if dn else "")
            if self._ctx.require_valid_cert:
                raise _peer_failed() from None
            log.info("Ignoring bad certificate at user request")
            return dn

    @staticmethod
    def peer_dn(der: bytes | None) -> str | None:
        """The DN of a DER certificate, or None."""
        if der is None:
            return None
        from cryptography import x509

        try:
            return distinguished_name(x509.load_der_x509_certificate(der))
        except ValueError:
            return None


# --------------------------------------------------------------------------- client


class TLSClientSocket(socket.socket):
    """A connected TCP socket carrying TLS, for :class:`virtkit.rpc.client.Client`.

    ``recv`` (the reader thread) and ``sendall`` (callers) may run at the same
    time: every use of the TLS state is serialised by a lock, and ciphertext
    goes onto the wire in the order it was produced."""

    _obj: ssl.SSLObject
    _bio_in: ssl.MemoryBIO
    _bio_out: ssl.MemoryBIO
    _tls_lock: threading.Lock
    _wire_lock: threading.Lock
    _eof: bool

    def _setup(self, ctx: ssl.SSLContext) -> None:
        self._bio_in = ssl.MemoryBIO()
        self._bio_out = ssl.MemoryBIO()
        self._obj = ctx.wrap_bio(self._bio_in, self._bio_out, server_side=False)
        self._tls_lock = threading.Lock()
        self._wire_lock = threading.Lock()
        self._eof = False

    def _handshake(self) -> None:
        """Blocking handshake (before any other thread uses the socket)."""
        while True:
            try:
                self._obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush_raw(self._bio_out.read())
                data = super().recv(_RAW_RECV)
                if data:
                    self._bio_in.write(data)
                else:
                    self._bio_in.write_eof()
        self._flush_raw(self._bio_out.read())

    def _flush_raw(self, data: bytes) -> None:
        if data:
            super().sendall(data)

    def peer_certificate(self) -> bytes | None:
        """The server's certificate, DER."""
        return self._obj.getpeercert(binary_form=True)

    def sendall(self, data: bytes | bytearray | memoryview, flags: int = 0, /) -> None:  # type: ignore[override]
        with self._wire_lock:
            with self._tls_lock:
                try:
                    self._obj.write(data)
                except ssl.SSLError as e:
                    raise OSError(errno.EIO, f"TLS write failed: {e}") from None
                out = self._bio_out.read()
            super().sendall(out)

    def recv(self, bufsize: int, flags: int = 0, /) -> bytes:
        while True:
            with self._tls_lock:
                data = self._read_plain(bufsize)
                pending = self._bio_out.pending
            if pending and self._wire_lock.acquire(blocking=False):
                try:  # e.g. a key update answer; a sender flushes it otherwise
                    with self._tls_lock:
                        out = self._bio_out.read()
                    self._flush_raw(out)
                finally:
                    self._wire_lock.release()
            if data or self._eof:
                return data
            raw = super().recv(_RAW_RECV)
            with self._tls_lock:
                if raw:
                    self._bio_in.write(raw)
                else:
                    self._bio_in.write_eof()

    def _read_plain(self, bufsize: int) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while size < bufsize:
            try:
                chunk = self._obj.read(min(_RECORD, bufsize - size))
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:  # close_notify: a clean end of file
                self._eof = True
                break
            except ssl.SSLError as e:
                # GnuTLS reports a connection cut without close_notify as an I/O error too
                if chunks:
                    break  # hand over what decrypted; the error comes back next time
                raise OSError(errno.EIO, f"TLS read failed: {e}") from None
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)


def connect_tls(host: str, port: int, *, pkipath: str | None = None, verify: bool = True,
                sanity: bool = True, priority: str | None = None,
                timeout: float | None = None) -> TLSClientSocket:
    """libvirt's client side of ``qemu+tls://``: locate and load the credentials
    (``pkipath``, ``~/.pki/libvirt`` for non-root, ``/etc/pki``), connect, hand-
    shake, check the server's certificate (skipped with ``verify=False``,
    ``?no_verify=1``) and wait for the server's confirmation byte."""
    from virtkit.rpc import transport

    creds = locate_credentials(pkipath, is_server=False, try_user_pki_path=os.geteuid() != 0)
    if sanity:
        sanity_check(is_server=False, cacert=creds.cacert, cert=creds.cert)
    ctx = _tls_context(ssl.PROTOCOL_TLS_CLIENT, creds, is_server=False, verify=verify,
                       priority=priority)
    raw = transport.connect_tcp(host, port, timeout=timeout)
    sock = TLSClientSocket(raw.family, raw.type, raw.proto, fileno=raw.detach())
    try:
        sock._setup(ctx)
        sock.settimeout(timeout)
        _client_handshake(sock, host, verify)
        _read_confirmation(sock)
        sock.settimeout(None)
    except BaseException:
        sock.close()
        raise
    return sock


def _client_handshake(sock: TLSClientSocket, host: str, verify: bool) -> None:
    try:
        sock._handshake()
    except ssl.SSLCertVerificationError as e:
        log.warning("Certificate check failed Certificate failed validation: %s",
                    _ssl_reason(e))
        raise _peer_failed() from None
    except ssl.SSLError as e:
        raise _error(f"TLS handshake failed {e.reason or e}", ErrorCode.AUTH_FAILED) from None
    except OSError as e:
        raise _system_error("Cannot recv data", e.errno or errno.EIO) from None
    try:
        _peer_checks(sock.peer_certificate(), is_server=False, hostname=host, dn_acl=None)
    except VirtError as e:
        log.warning("Certificate check failed %s", e)
        if verify:
            raise _peer_failed() from None
        log.info("Ignoring bad certificate at user request")


def _read_confirmation(sock: TLSClientSocket) -> None:
    try:
        data = sock.recv(1)
    except OSError as e:
        if isinstance(e, TimeoutError):
            raise _system_error("Unable to read TLS confirmation", errno.ETIMEDOUT) from None
        raise _system_error("Unable to read TLS confirmation", errno.EIO) from None
    if data != CONFIRM_BYTE:
        raise _error("server verification (of our certificate or IP address) failed",
                     ErrorCode.RPC)

