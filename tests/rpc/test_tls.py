"""TLS transport: virtkit.pki's certificates, libvirt's checks (virtkit.rpc.tls), the RPC
server's TLS listener and the client's ``connect_tls``, over real loopback sockets and
real handshakes; plus virtkitd itself with ``listen_tls``."""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
import socket
import ssl
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from virtkit import pki
from virtkit.errors import VirtError
from virtkit.errtables import ErrorCode
from virtkit.rpc import tls
from virtkit.rpc.client import Client
from virtkit.rpc.message import Header
from virtkit.rpc.server import Server, Session

pytestmark = pytest.mark.timeout(60)

T = TypeVar("T")
PROG, VERS, ECHO, WHOAMI = 0x20008086, 1, 1, 2
BITS = 2048  # fast keys for tests
ALLOWED = "C=GB,O=virtkit,CN=allowed-client"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pki.Layout]:
    """A CA with server and client certificates; a second CA with its own client."""
    base = tmp_path_factory.mktemp("pki")
    good = pki.Layout.directory(str(base / "good"))
    pki.make_ca(good, bits=BITS)
    pki.make_server(good, ["localhost", "127.0.0.1"], bits=BITS)
    pki.make_client(good, ALLOWED, bits=BITS)
    intruder = pki.Layout.directory(str(base / "intruder"))  # same CA, DN not listed
    pki.make_client(intruder, "C=GB,O=virtkit,CN=intruder", ca=good, bits=BITS)
    other = pki.Layout.directory(str(base / "other"))  # another CA, same DN
    pki.make_ca(other, dn="O=elsewhere,CN=other CA", bits=BITS)
    pki.make_client(other, ALLOWED, bits=BITS)
    nocert = base / "nocert"  # the CA only
    nocert.mkdir()
    (nocert / "cacert.pem").write_bytes(Path(good.cacert).read_bytes())
    return {"good": good, "intruder": intruder, "other": other,
            "nocert": pki.Layout.directory(str(nocert))}


class Dispatcher:
    def __init__(self) -> None:
        self.identities: list[dict[str, str]] = []

    def programs(self) -> list[tuple[int, int]]:
        return [(PROG, VERS)]

    def is_high_priority(self, prog: int, proc: int) -> bool:
        return False

    def dispatch(self, session: Session, header: Header, payload: bytes) -> bytes | None:
        if header.proc == WHOAMI:
            dn = session.identity.get("x509-distinguished-name", "")
            return dn.encode()
        return payload

    def session_opened(self, session: Session) -> None:
        pass

    def session_closed(self, session: Session) -> None:
        pass


class Harness:
    """A Server on a loop thread with one TLS listener on 127.0.0.1."""

    def __init__(self, ctx: tls.ServerTLSContext, **server_kw: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = Server(Dispatcher(), **server_kw)
        self.port = self.run(self.server.listen_tcp("127.0.0.1", 0, tls=ctx))

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def connect(self, layout: pki.Layout, **kw: Any) -> Client:
        sock = tls.connect_tls(kw.pop("host", "127.0.0.1"), self.port,
                               pkipath=os.path.dirname(layout.cacert), timeout=10, **kw)
        return Client(sock)

    def close(self) -> None:
        self.run(self.server.stop(1.0))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def _server_ctx(layout: pki.Layout, **kw: Any) -> tls.ServerTLSContext:
    creds = tls.Credentials(layout.cacert, kw.pop("crl", None), layout.servercert,
                            layout.serverkey)
    return tls.ServerTLSContext(creds, **kw)


@pytest.fixture
def harness(certs: dict[str, pki.Layout]) -> Iterator[Harness]:
    h = Harness(_server_ctx(certs["good"], dn_acl=["C=GB,O=virtkit,CN=allowed*"]))
    yield h
    h.close()


# --------------------------------------------------------------------------- PKI


def test_pki_files_modes_and_no_overwrite(tmp_path: Path) -> None:
    system = pki.Layout.system(str(tmp_path))
    pki.make_ca(system, bits=BITS)
    pki.make_server(system, ["host.example", "192.0.2.7"], bits=BITS)
    pki.make_client(system, "O=Example,CN=admin", bits=BITS)
    assert system.cacert == f"{tmp_path}/etc/pki/CA/cacert.pem"
    assert system.serverkey == f"{tmp_path}/etc/pki/libvirt/private/serverkey.pem"
    for key in (system.cakey, system.serverkey, system.clientkey):
        assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    for cert in (system.cacert, system.servercert, system.clientcert):
        assert stat.S_IMODE(os.stat(cert).st_mode) == 0o644
    before = Path(system.clientcert).read_bytes()
    with pytest.raises(pki.PKIError, match=r"already exists \(use --force"):
        pki.make_client(system, "O=Example,CN=admin", bits=BITS)
    assert Path(system.clientcert).read_bytes() == before
    pki.make_client(system, "O=Example,CN=admin", bits=BITS, force=True)
    assert Path(system.clientcert).read_bytes() != before
    # libvirt's sanity checks accept them, each for its role
    tls.sanity_check(is_server=True, cacert=system.cacert, cert=system.servercert)
    tls.sanity_check(is_server=False, cacert=system.cacert, cert=system.clientcert)


def test_pki_certificate_contents(certs: dict[str, pki.Layout]) -> None:
    good = certs["good"]
    server = x509.load_pem_x509_certificate(Path(good.servercert).read_bytes())
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(a) for a in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    eku = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert [o.dotted_string for o in eku] == ["1.3.6.1.5.5.7.3.1"]
    ku = server.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and ku.value.key_encipherment
    client = x509.load_pem_x509_certificate(Path(good.clientcert).read_bytes())
    assert tls.distinguished_name(client) == ALLOWED
    # encoded in the order written (libvirt/GnuTLS shows it so; RFC 4514 reverses it)
    assert client.subject.rfc4514_string() == "CN=allowed-client,O=virtkit,C=GB"
    ca = x509.load_pem_x509_certificate(Path(good.cacert).read_bytes())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    # a client directory gets its own copy of the CA certificate (pkipath layout)
    assert Path(certs["intruder"].cacert).read_bytes() == Path(good.cacert).read_bytes()


def test_pki_errors(tmp_path: Path, certs: dict[str, pki.Layout]) -> None:
    lay = pki.Layout.directory(str(tmp_path / "x"))
    with pytest.raises(pki.PKIError, match="cannot read CA certificate"):
        pki.make_client(lay, "CN=a", bits=BITS)
    with pytest.raises(pki.PKIError, match="invalid distinguished name 'nonsense'"):
        pki.make_client(lay, "nonsense", ca=certs["good"], bits=BITS)
    with pytest.raises(pki.PKIError, match="at least one host"):
        pki.make_server(lay, [], ca=certs["good"], bits=BITS)
    with pytest.raises(pki.PKIError, match="invalid host name"):
        pki.make_server(lay, ["bad host"], ca=certs["good"], bits=BITS)


def test_pki_cli_three_commands(tmp_path: Path) -> None:
    exe = [sys.executable, "-m", "virtkit.cli.main"]
    root = str(tmp_path / "root")
    for args in (["pki-ca", "--root", root, "--bits", "2048"],
                 ["pki-server", "127.0.0.1,localhost", "--root", root, "--bits", "2048"],
                 ["pki-client", "O=virtkit,CN=cli", "--root", root, "--bits", "2048"],
                 ["pki-client", "O=virtkit,CN=remote", "--dir", str(tmp_path / "remote"),
                  "--ca-dir", f"{root}/etc/pki/CA", "--bits", "2048"]):
        res = subprocess.run([*exe, *args], capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
    assert "Distinguished Name: O=virtkit,CN=remote" in res.stdout
    for name in ("cacert.pem", "clientcert.pem", "clientkey.pem"):
        assert (tmp_path / "remote" / name).exists()
    res = subprocess.run([*exe, "pki-ca", "--root", root], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 1
    assert "already exists (use --force to overwrite it)" in res.stderr
    res = subprocess.run([*exe, "help", "pki-client"], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0 and "pki-client <dn>" in res.stdout


# --------------------------------------------------------------------------- checks


def test_dn_glob_matching() -> None:
    acl = ["C=GB,O=virtkit,CN=allowed*", "CN=exact", "O=?b,CN=x"]
    assert tls.dn_matches("C=GB,O=virtkit,CN=allowed-client", acl)
    assert tls.dn_matches("CN=exact", acl)
    assert tls.dn_matches("O=ab,CN=x", acl)
    assert not tls.dn_matches("CN=exact2", acl)
    assert not tls.dn_matches("C=GB,O=virtkit,CN=intruder", acl)
    assert not tls.dn_matches("O=[b,CN=x", ["O=[ab],CN=x"])  # no character classes
    assert tls.dn_matches("O=[ab],CN=x", ["O=[ab],CN=x"])


def test_locate_credentials(tmp_path: Path) -> None:
    got = tls.locate_credentials("/p", is_server=False)
    assert got == tls.Credentials("/p/cacert.pem", "/p/cacrl.pem", "/p/clientcert.pem",
                                  "/p/clientkey.pem")
    got = tls.locate_credentials(None, is_server=True)
    assert got == tls.Credentials("/etc/pki/CA/cacert.pem", "/etc/pki/CA/cacrl.pem",
                                  "/etc/pki/libvirt/servercert.pem",
                                  "/etc/pki/libvirt/private/serverkey.pem")
    user = tmp_path / ".pki" / "libvirt"
    user.mkdir(parents=True)
    (user / "cacert.pem").write_text("x")
    (user / "clientcert.pem").write_text("x")  # without its key: both fall back
    got = tls.locate_credentials(None, is_server=False, try_user_pki_path=True,
                                 home=str(tmp_path))
    assert got.cacert == str(user / "cacert.pem")
    assert got.cert == "/etc/pki/libvirt/clientcert.pem"
    (user / "clientkey.pem").write_text("x")
    got = tls.locate_credentials(None, is_server=False, try_user_pki_path=True,
                                 home=str(tmp_path))
    assert (got.cert, got.key) == (str(user / "clientcert.pem"), str(user / "clientkey.pem"))


def test_sanity_checks_in_libvirts_words(certs: dict[str, pki.Layout], tmp_path: Path) -> None:
    good = certs["good"]
    with pytest.raises(VirtError, match=r"basic constraints show a CA, but we need one for a "
                                        r"server"):
        tls.sanity_check(is_server=True, cacert=good.cacert, cert=good.cacert)
    with pytest.raises(VirtError, match=r"basic constraints do not show a CA"):
        tls.sanity_check(is_server=True, cacert=good.servercert, cert=None)
    with pytest.raises(VirtError) as info:
        tls.sanity_check(is_server=False, cacert=good.cacert, cert=certs["other"].clientcert)
    assert str(info.value) == (f"Our own certificate {certs['other'].clientcert} failed "
                               f"validation against {good.cacert}: The certificate hasn't got "
                               "a known issuer.")
    with pytest.raises(VirtError) as info:
        tls.ServerTLSContext(tls.Credentials(str(tmp_path / "nope.pem"), None, good.servercert,
                                             good.serverkey))
    assert str(info.value) == (f"Cannot read CA certificate '{tmp_path}/nope.pem': "
                               "No such file or directory")
    assert info.value.code == ErrorCode.SYSTEM_ERROR


# --------------------------------------------------------------------------- server + client


def _call(client: Client, proc: int, payload: bytes = b"") -> bytes:
    return client.call(PROG, VERS, proc, payload, timeout=10)


def test_right_certificate_is_accepted(harness: Harness, certs: dict[str, pki.Layout]) -> None:
    with harness.connect(certs["good"]) as client:
        assert _call(client, ECHO, b"hello") == b"hello"
        assert _call(client, WHOAMI).decode() == ALLOWED
        big = os.urandom(3 * 1024 * 1024)  # many TLS records, partial socket writes
        assert _call(client, ECHO, big) == big
        # calls from several threads share the TLS session
        errors: list[BaseException] = []

        def worker(n: int) -> None:
            try:
                for i in range(30):
                    data = f"{n}-{i}".encode() * (1 + i * 50)
                    assert _call(client, ECHO, data) == data
            except BaseException as e:
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not errors
    # the server hands the DN to the session: libvirt's identity attribute
    sessions = harness.server.clients
    assert all("x509-distinguished-name" in s.identity for s in sessions)


def _refused(harness: Harness, layout: pki.Layout) -> VirtError:
    with pytest.raises(VirtError) as info:
        harness.connect(layout)
    return info.value


def test_no_client_certificate_is_refused(harness: Harness, certs: dict[str, pki.Layout],
                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "virtkit.rpc")
    err = _refused(harness, certs["nocert"])
    assert str(err) == "Unable to read TLS confirmation: Input/output error"
    assert "Unable to verify TLS peer: No certificate was found." in caplog.text
    assert "Failed to verify peer's certificate" in caplog.text


def test_certificate_from_another_ca_is_refused(harness: Harness,
                                                certs: dict[str, pki.Layout],
                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "virtkit.rpc")
    # the client trusts the server's CA but presents a certificate of another CA
    mixed = Path(certs["other"].cacert).parent.parent / "mixed"
    mixed.mkdir(exist_ok=True)
    (mixed / "cacert.pem").write_bytes(Path(certs["good"].cacert).read_bytes())
    for name in ("clientcert.pem", "clientkey.pem"):
        (mixed / name).write_bytes((Path(certs["other"].clientcert).parent / name).read_bytes())
    with pytest.raises(VirtError) as info:
        tls.connect_tls("127.0.0.1", harness.port, pkipath=str(mixed), sanity=False,
                        timeout=10)
    assert "Unable to read TLS confirmation" in str(info.value)
    # the server logs on its own thread, maybe after the client saw the refusal
    deadline = time.monotonic() + 10
    while "TLS handshake failed" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "TLS handshake failed" in caplog.text
    # and with its own CA the client does not trust our server either
    err = _refused(harness, certs["other"])
    assert str(err) == "authentication failed: Failed to verify peer's certificate"
    assert err.code == ErrorCode.AUTH_FAILED


def test_dn_not_listed_is_refused_and_logged(harness: Harness, certs: dict[str, pki.Layout],
                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "virtkit.rpc")
    err = _refused(harness, certs["intruder"])
    assert str(err) == "Unable to read TLS confirmation: Input/output error"
    assert "Client's Distinguished Name is not on the list of allowed clients" in caplog.text
    assert "C=GB,O=virtkit,CN=intruder" in caplog.text
    # the connection is gone (once the client closed: a refused client gets a moment to
    # read the alert, see Session._linger_close)
    deadline = time.monotonic() + 5
    while harness.server.clients:
        assert time.monotonic() < deadline, harness.server.clients
        time.sleep(0.02)


def test_revoked_certificate_is_refused(certs: dict[str, pki.Layout], tmp_path: Path) -> None:
    good = certs["good"]
    ca_cert = x509.load_pem_x509_certificate(Path(good.cacert).read_bytes())
    ca_key = serialization.load_pem_private_key(Path(good.cakey).read_bytes(), None)
    client = x509.load_pem_x509_certificate(Path(good.clientcert).read_bytes())
    now = datetime.datetime.now(datetime.UTC)
    crl = (x509.CertificateRevocationListBuilder()
           .issuer_name(ca_cert.subject).last_update(now)
           .next_update(now + datetime.timedelta(days=1))
           .add_revoked_certificate(x509.RevokedCertificateBuilder()
                                    .serial_number(client.serial_number)
                                    .revocation_date(now).build())
           .sign(ca_key, hashes.SHA256()))  # type: ignore[arg-type]
    crl_file = tmp_path / "cacrl.pem"
    crl_file.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    h = Harness(_server_ctx(good, crl=str(crl_file)))
    try:
        with pytest.raises(VirtError):
            h.connect(good)
        with h.connect(certs["intruder"]) as ok:  # not revoked
            assert _call(ok, ECHO, b"x") == b"x"
    finally:
        h.close()


def test_no_verify_certificate_lets_clients_without_one_in(certs: dict[str, pki.Layout]) -> None:
    h = Harness(_server_ctx(certs["good"], require_valid_cert=False))
    try:
        with h.connect(certs["nocert"]) as client:
            assert _call(client, WHOAMI) == b""
    finally:
        h.close()


def test_client_checks_the_server_host_name(certs: dict[str, pki.Layout],
                                            tmp_path: Path) -> None:
    other_host = pki.Layout.directory(str(tmp_path / "srv"))
    pki.make_server(other_host, ["server.example"], ca=certs["good"], bits=BITS)
    h = Harness(_server_ctx(other_host))
    try:
        with pytest.raises(VirtError) as info:
            h.connect(certs["good"])
        assert str(info.value) == "authentication failed: Failed to verify peer's certificate"
        with h.connect(certs["good"], verify=False) as client:  # ?no_verify=1
            assert _call(client, ECHO, b"ok") == b"ok"
    finally:
        h.close()
    h = Harness(_server_ctx(certs["good"]))
    try:
        with h.connect(certs["good"], host="localhost") as client:  # the DNS name matches too
            assert _call(client, ECHO, b"ok") == b"ok"
    finally:
        h.close()


def test_client_missing_ca_in_libvirts_words(tmp_path: Path) -> None:
    with pytest.raises(VirtError) as info:
        tls.connect_tls("127.0.0.1", 1, pkipath=str(tmp_path))
    assert str(info.value) == (f"Cannot read CA certificate '{tmp_path}/cacert.pem': "
                               "No such file or directory")


def test_plaintext_and_silent_clients_do_not_hurt(certs: dict[str, pki.Layout]) -> None:
    h = Harness(_server_ctx(certs["good"]), auth_timeout=0.5)
    try:
        # an RPC frame in clear text: not TLS, dropped
        with socket.create_connection(("127.0.0.1", h.port), timeout=5) as s:
            s.sendall(b"\x00\x00\x00\x1c" + b"\x00" * 24)
            assert _drained(s)
        # a client that never finishes its handshake is dropped after auth_timeout
        # (the socket's 5 s timeout makes _drained fail if the server never drops it)
        with socket.create_connection(("127.0.0.1", h.port), timeout=5) as s:
            assert _drained(s)
        with h.connect(certs["good"]) as client:
            assert _call(client, ECHO, b"still fine") == b"still fine"
    finally:
        h.close()


def _drained(s: socket.socket) -> bool:
    """Read until the server closes the connection."""
    try:
        while s.recv(4096):
            pass
    except (ConnectionResetError, ssl.SSLError):
        pass
    return True


# --------------------------------------------------------------------------- virtkitd


@pytest.mark.slow
def test_virtkitd_listen_tls_default_paths(tmp_path: Path) -> None:
    """virtkitd --root R reads libvirt's default files under R; the remote driver opens
    test+tls:// with ?pkipath= and the DN allow-list refuses another client of the CA."""
    import virtkit
    from virtkit.testing.peers import start_virtkitd

    root = tmp_path / "root"
    system = pki.Layout.system(str(root))
    pki.make_ca(system, bits=BITS)
    pki.make_server(system, ["127.0.0.1"], bits=BITS)
    ca = pki.ca_layout(os.path.dirname(system.cacert))
    pki.make_client(pki.Layout.directory(str(tmp_path / "admin")), "O=virtkit,CN=admin", ca=ca,
                    bits=BITS)
    pki.make_client(pki.Layout.directory(str(tmp_path / "guest")), "O=virtkit,CN=guest", ca=ca,
                    bits=BITS)
    with start_virtkitd(root, tls=True,
                        extra_conf='tls_allowed_dn_list = ["O=virtkit,CN=admin"]\n') as d:
        with virtkit.open(f"{d.uri('tls')}?pkipath={tmp_path / 'admin'}") as conn:
            assert conn.lookup_domain("test").name == "test"
            assert conn.is_encrypted()
        with pytest.raises(VirtError, match="Unable to read TLS confirmation"):
            virtkit.open(f"{d.uri('tls')}?pkipath={tmp_path / 'guest'}")
        assert "is not on the list of allowed clients" in d.log_text()
        assert "O=virtkit,CN=guest" in d.log_text()
        assert d.proc.poll() is None


@pytest.mark.slow
def test_virtkitd_refuses_to_start_with_a_bad_certificate(tmp_path: Path,
                                                          certs: dict[str, pki.Layout]) -> None:
    """libvirtd's start-up sanity check: a CA certificate as the server's is refused
    (exit status 6, VIR_DAEMON_ERR_NETWORK) with libvirt's message."""
    from virtkit.testing.peers import free_port

    good = certs["good"]
    conf = tmp_path / "etc" / "libvirt" / "libvirtd.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text(f'listen_tls = 1\nlisten_addr = "127.0.0.1"\ntls_port = "{free_port()}"\n'
                    f'ca_file = "{good.cacert}"\ncert_file = "{good.cacert}"\n'
                    f'key_file = "{good.cakey}"\n')
    res = subprocess.run([sys.executable, "-m", "virtkit.daemon.main", "--root", str(tmp_path),
                          "--listen", "--timeout", "5"], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 6, res.stderr
    assert (f"The certificate {good.cacert} basic constraints show a CA, but we need one "
            "for a server") in res.stderr
