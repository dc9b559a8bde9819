"""SASL authentication: the daemon's AUTH_SASL_* procedures (daemon/saslauth.py), the
client side (rpc/saslclient.py), and both together through a real virtkitd."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from scramp import ScramClient

import virtkit
from virtkit.daemon import sasldb
from virtkit.daemon.dispatch import ClientState
from virtkit.daemon.saslauth import AuthFailure, SaslAuth, glob_match
from virtkit.errtables import ErrorCode, ErrorDomain
from virtkit.rpc import saslclient
from virtkit.rpc.saslclient import AuthConfig, auth_file_path
from virtkit.uri import parse_uri

# ------------------------------------------------------------------ server engine


def _session(transport: str = "unix", auth: str = "sasl") -> Any:
    return SimpleNamespace(auth=auth, authenticated=auth == "none", identity={},
                           peer=SimpleNamespace(transport=transport), tag="client=1")


@pytest.fixture
def sasl(tmp_path: Path) -> SaslAuth:
    db = str(tmp_path / "users.db")
    sasldb.add_user(db, "alice", "s3cret", iterations=4096)
    sasldb.add_user(db, "mallory", "m4llory", iterations=4096)
    conf = SimpleNamespace(sasl_allowed_username_list=("al*", "b?b"), tcp_min_ssf=56,
                           sasl_db_path=None)
    return SaslAuth(conf, db_path=db)


def _scram_login(sasl: SaslAuth, session: Any, state: ClientState, name: str,
                 password: str) -> ScramClient:
    client = ScramClient(["SCRAM-SHA-256"], name, password)
    assert sasl.init(session, state, None) == {"mechlist": "SCRAM-SHA-256"}
    ret = sasl.start(session, state, {"mech": "SCRAM-SHA-256", "nil": 0,
                                      "data": client.get_client_first().encode()})
    assert (ret["complete"], ret["nil"]) == (0, 0)
    client.set_server_first(ret["data"].decode())
    ret = sasl.step(session, state, {"nil": 0, "data": client.get_client_final().encode()})
    assert (ret["complete"], ret["nil"]) == (1, 0)
    client.set_server_final(ret["data"].decode())  # the server proved itself too
    return client


def test_scram_sha_256_login(sasl: SaslAuth) -> None:
    session, state = _session(), ClientState()
    _scram_login(sasl, session, state, "alice", "s3cret")
    assert session.authenticated
    assert session.identity["sasl-user-name"] == "alice"
    assert state.sasl is None


def test_wrong_password_fails_at_the_proof(sasl: SaslAuth) -> None:
    session, state = _session(), ClientState()
    with pytest.raises(AuthFailure, match="proof rejected") as info:
        _scram_login(sasl, session, state, "alice", "wrong")
    err = info.value.error
    assert (err.code, err.domain) == (ErrorCode.AUTH_FAILED, ErrorDomain.RPC)
    assert err.message == "authentication failed: authentication failed"
    assert not session.authenticated and "sasl-user-name" not in session.identity
    assert state.sasl is None  # the negotiation is gone (libvirt clears priv->sasl)


def test_unknown_user_looks_like_a_wrong_password(sasl: SaslAuth) -> None:
    """A made-up, stable salt: the replies do not reveal which users exist."""
    salts = []
    for _ in range(2):
        session, state = _session(), ClientState()
        client = ScramClient(["SCRAM-SHA-256"], "nobody", "x")
        sasl.init(session, state, None)
        ret = sasl.start(session, state, {"mech": "SCRAM-SHA-256", "nil": 0,
                                          "data": client.get_client_first().encode()})
        assert ret["complete"] == 0
        client.set_server_first(ret["data"].decode())
        salts.append(client.salt)
        with pytest.raises(AuthFailure, match="unknown user"):
            sasl.step(session, state, {"nil": 0, "data": client.get_client_final().encode()})
        assert not session.authenticated
    assert salts[0] == salts[1]


def test_user_not_in_allowed_list(sasl: SaslAuth) -> None:
    session, state = _session(), ClientState()
    with pytest.raises(AuthFailure, match="sasl_allowed_username_list"):
        _scram_login(sasl, session, state, "mallory", "m4llory")
    assert not session.authenticated


def test_nil_start_then_client_first_in_step(sasl: SaslAuth) -> None:
    """nil=1 (NULL) is not empty data: the server answers an empty challenge."""
    session, state = _session(), ClientState()
    client = ScramClient(["SCRAM-SHA-256"], "alice", "s3cret")
    sasl.init(session, state, None)
    ret = sasl.start(session, state, {"mech": "SCRAM-SHA-256", "nil": 1, "data": b""})
    assert ret == {"complete": 0, "nil": 0, "data": b""}
    ret = sasl.step(session, state, {"nil": 0, "data": client.get_client_first().encode()})
    client.set_server_first(ret["data"].decode())
    ret = sasl.step(session, state, {"nil": 0, "data": client.get_client_final().encode()})
    assert ret["complete"] == 1 and session.authenticated


def test_plain_tcp_offers_nothing_tls_adds_plain(sasl: SaslAuth) -> None:
    with pytest.raises(AuthFailure, match="SSF"):
        sasl.init(_session("tcp"), ClientState(), None)
    session, state = _session("tls"), ClientState()
    assert sasl.init(session, state, None) == {"mechlist": "SCRAM-SHA-256,PLAIN"}
    ret = sasl.start(session, state, {"mech": "PLAIN", "nil": 0, "data": b"\0alice\0s3cret"})
    assert ret == {"complete": 1, "nil": 1, "data": b""}
    assert session.identity["sasl-user-name"] == "alice"
    session, state = _session("tls"), ClientState()
    sasl.init(session, state, None)
    with pytest.raises(AuthFailure, match="wrong password"):
        sasl.start(session, state, {"mech": "PLAIN", "nil": 0, "data": b"\0alice\0nope"})


@pytest.mark.parametrize("calls", [
    ["start"],                      # no INIT
    ["step"],
    ["init", "init"],               # a second INIT
    ["init", "plain"],              # PLAIN is not offered on unix
    ["init", "step"],               # STEP before START
])
def test_protocol_misuse_fails(sasl: SaslAuth, calls: list[str]) -> None:
    session, state = _session(), ClientState()
    args = {"init": None, "start": {"mech": "SCRAM-SHA-256", "nil": 1, "data": b""},
            "step": {"nil": 1, "data": b""}, "plain": {"mech": "PLAIN", "nil": 1, "data": b""}}
    with pytest.raises(AuthFailure):
        for name in calls:
            getattr(sasl, "start" if name == "plain" else name)(session, state, args[name])
    assert not session.authenticated


def test_sasl_on_a_listener_without_sasl(sasl: SaslAuth) -> None:
    with pytest.raises(AuthFailure, match="invalid SASL init"):
        sasl.init(_session(auth="none"), ClientState(), None)


@pytest.mark.parametrize(("pattern", "name", "match"), [
    ("alice", "alice", True), ("al*", "alice", True), ("a?ice", "alice", True),
    ("*", "", True), ("al*", "bob", False), ("[a]lice", "alice", False),
    ("[a]lice", "[a]lice", True), ("a.ice", "alice", False),
])
def test_glob_is_g_pattern_match_simple(pattern: str, name: str, match: bool) -> None:
    assert glob_match(pattern, name) is match


# ------------------------------------------------------------------ client side


AUTH_CONF = """\
# libvirt's auth.conf
[credentials-test]
authname=alice
password=s3cret

[credentials-other]
username=bob
password=with\\sspace

[auth-libvirt-localhost]
credentials=test

[auth-libvirt-default]
credentials=other

[auth-libvirt-broken]
credentials=missing
"""


def test_auth_conf_lookup() -> None:
    conf = AuthConfig("a.conf", AUTH_CONF)
    assert conf.lookup("libvirt", None, "authname") == "alice"
    assert conf.lookup("libvirt", "localhost", "password") == "s3cret"
    assert conf.lookup("libvirt", "elsewhere", "username") == "bob"
    assert conf.lookup("libvirt", "elsewhere", "password") == "with space"
    assert conf.lookup("esx", "localhost", "password") is None
    with pytest.raises(virtkit.VirtError, match="Missing group 'credentials-missing'"):
        conf.lookup("libvirt", "broken", "password")


def test_auth_file_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("LIBVIRT_AUTH_FILE", raising=False)
    assert auth_file_path("/from/uri") == "/from/uri"
    (tmp_path / "libvirt").mkdir()
    (tmp_path / "libvirt" / "auth.conf").write_text(AUTH_CONF)
    assert auth_file_path(None) == str(tmp_path / "libvirt" / "auth.conf")
    monkeypatch.setenv("LIBVIRT_AUTH_FILE", "/from/env")
    assert auth_file_path("/from/uri") == "/from/env"  # the environment wins, as in libvirt


def _loopback(sasl: SaslAuth, session: Any, tamper: bool = False) -> Any:
    """``driver._call`` answered in-process by the daemon's handlers."""
    state = ClientState()

    def call(name: str, args: Any) -> Any:
        if name == "auth_list":
            return {"types": [1]}
        ret = getattr(sasl, name.removeprefix("auth_sasl_"))(session, state, args)
        if tamper and name == "auth_sasl_step":
            ret = dict(ret, data=b"v=" + b"A" * 44)
        return ret
    return call


def test_client_against_engine(sasl: SaslAuth, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIBVIRT_AUTH_FILE", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    conf = tmp_path / "auth.conf"
    conf.write_text(AUTH_CONF)
    uri = parse_uri(f"test+unix:///default?authfile={conf}")
    session = _session()
    assert saslclient.authenticate(_loopback(sasl, session), uri, "unix") == "SCRAM-SHA-256"
    assert session.identity["sasl-user-name"] == "alice"
    # the libvirt-python openAuth form: called for what the file does not give
    asked: list[list[int]] = []

    def callback(creds: list[list[Any]], data: Any) -> int:
        asked.append([c[0] for c in creds])
        for c in creds:
            c[4] = {2: "alice", 5: "s3cret"}[c[0]]
        return 0

    plain = parse_uri("test+unix:///default")
    session = _session()
    saslclient.authenticate(_loopback(sasl, session), plain, "unix", [[2, 5], callback, None])
    assert asked == [[2, 5]] and session.authenticated
    with pytest.raises(virtkit.VirtError, match="No authentication callback available"):
        saslclient.authenticate(_loopback(sasl, _session()), plain, "unix", None)
    with pytest.raises(virtkit.VirtError, match="Failed to collect auth credentials"):
        saslclient.authenticate(_loopback(sasl, _session()), plain, "unix",
                                [[2, 5], lambda c, d: -1, None])
    # PLAIN is picked only when asked for, and only on an encrypted channel
    session = _session("tls")
    tls = parse_uri(f"test+tls://localhost/default?authfile={conf}&auth=sasl.PLAIN")
    assert saslclient.authenticate(_loopback(sasl, session), tls, "tls") == "PLAIN"
    # plain TCP: no mechanism gives a security layer
    with pytest.raises(virtkit.VirtError, match="No worthy mechs found"):
        saslclient.authenticate(lambda n, a: {"types": [1]} if n == "auth_list"
                                else {"mechlist": "SCRAM-SHA-256"}, plain, "tcp")


def test_client_checks_the_server_signature(sasl: SaslAuth) -> None:
    """Mutual authentication: a server that does not know the verifier is caught."""
    uri = parse_uri("test+unix:///default")
    with pytest.raises(virtkit.VirtError, match="Failed to step SASL negotiation"):
        saslclient.authenticate(_loopback(sasl, _session(), tamper=True), uri, "unix",
                                {"authname": "alice", "password": "s3cret"})


def test_client_auth_type_selection(sasl: SaslAuth) -> None:
    none = parse_uri("test+unix:///default")
    assert saslclient.authenticate(lambda n, a: {"types": []}, none, "unix") is None
    assert saslclient.authenticate(lambda n, a: {"types": [0]}, none, "unix") is None
    with pytest.raises(virtkit.VirtError, match="unsupported authentication type 2"):
        saslclient.authenticate(lambda n, a: {"types": [2]}, none, "unix")
    polkit = parse_uri("test+unix:///default?auth=polkit")
    with pytest.raises(virtkit.VirtError, match="requested authentication type polkit rejected"):
        saslclient.authenticate(lambda n, a: {"types": [1]}, polkit, "unix")
    bogus = parse_uri("test+unix:///default?auth=kerberos")
    with pytest.raises(virtkit.VirtError, match="unknown authentication type kerberos"):
        saslclient.authenticate(lambda n, a: {"types": [1]}, bogus, "unix")
    gssapi = parse_uri("test+unix:///default?auth=sasl.GSSAPI")
    with pytest.raises(virtkit.VirtError, match="SASL mechanism GSSAPI not supported by server"):
        saslclient.authenticate(_loopback(sasl, _session()), gssapi, "unix")


# ------------------------------------------------------------------ through virtkitd


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from virtkit.testing.peers import start_virtkitd

    root = tmp_path_factory.mktemp("virtkitd-sasl")
    db = sasldb.default_db_path(str(root))
    sasldb.add_user(db, "alice", "s3cret")
    sasldb.add_user(db, "mallory", "m4llory")
    conf = ('auth_unix_rw = "sasl"\nauth_tcp = "sasl"\n'
            'sasl_allowed_username_list = ["alice", "new*"]\n')
    with start_virtkitd(root, extra_conf=conf) as d:
        d.db = db
        yield d
        assert d.proc.poll() is None, d.log_text()


def _uri(daemon: Any, extra: str = "") -> str:
    return f"test+unix:///default?socket={daemon.sock}{extra}"


def _refused(uri: str, auth: Any) -> virtkit.VirtError:
    with pytest.raises(virtkit.VirtError) as info:
        virtkit.open(uri, auth=auth).close()
    return info.value


@pytest.mark.slow
def test_virtkit_client_logs_in(daemon: Any, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIBVIRT_AUTH_FILE", raising=False)
    conn = virtkit.open(_uri(daemon), auth={"authname": "alice", "password": "s3cret"})
    assert [d.name for d in conn.list_domains()] == ["test"]
    conn.close()
    conf = tmp_path / "auth.conf"
    conf.write_text(AUTH_CONF)
    virtkit.open(_uri(daemon, f"&authfile={conf}")).close()
    monkeypatch.setenv("LIBVIRT_AUTH_FILE", str(conf))
    virtkit.open(_uri(daemon)).close()


@pytest.mark.slow
@pytest.mark.parametrize(("name", "password"), [
    ("alice", "wrong"),       # wrong password
    ("nobody", "s3cret"),     # unknown user
    ("mallory", "m4llory"),   # right password, not in sasl_allowed_username_list
])
def test_virtkit_client_refused(daemon: Any, name: str, password: str,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIBVIRT_AUTH_FILE", raising=False)
    err = _refused(_uri(daemon), {"authname": name, "password": password})
    assert (err.code, err.domain) == (ErrorCode.AUTH_FAILED, ErrorDomain.RPC)
    assert str(err) == "authentication failed: authentication failed"


def _raw(path: str) -> tuple[Any, Any]:
    from virtkit.rpc import transport
    from virtkit.rpc.client import Client
    from virtkit.rpc.message import REMOTE_PROGRAM
    from virtkit.rpc.protocol import REMOTE, REMOTE_PROTOCOL_VERSION
    from virtkit.rpc.xdr import VOID

    client = Client(transport.connect_unix(path))

    def call(name: str, args: Any) -> Any:
        proc = REMOTE[name]
        payload = b"" if proc.args is VOID else proc.args.encode(args)
        reply = client.call(REMOTE_PROGRAM, REMOTE_PROTOCOL_VERSION, proc.number, payload)
        return None if proc.ret is VOID else proc.ret.decode(reply)
    return client, call


@pytest.mark.slow
def test_unauthenticated_calls_refused_and_failure_drops_client(daemon: Any) -> None:
    client, call = _raw(daemon.sock)
    try:
        assert call("auth_list", None) == {"types": [1]}
        with pytest.raises(virtkit.VirtError, match="authentication required") as info:
            call("connect_open", {"name": "test:///default", "flags": 0})
        assert info.value.code == ErrorCode.RPC
        assert call("auth_sasl_init", None) == {"mechlist": "SCRAM-SHA-256"}
        with pytest.raises(virtkit.VirtError, match="authentication failed"):
            call("auth_sasl_start", {"mech": "SCRAM-SHA-256", "nil": 0, "data": b"garbage"})
        deadline = time.monotonic() + 5
        while not client.closed and time.monotonic() < deadline:
            time.sleep(0.02)
        assert client.closed  # dropped after the failure: no second guess on this socket
    finally:
        client.close()


@pytest.mark.slow
def test_readonly_socket_keeps_auth_none(daemon: Any) -> None:
    conn = virtkit.open(f"test+unix:///default?socket={daemon.sock_ro}", 1)
    assert [d.name for d in conn.list_domains()] == ["test"]
    conn.close()


@pytest.mark.slow
def test_plain_tcp_refuses_sasl_without_a_security_layer(daemon: Any) -> None:
    err = _refused(f"test+tcp://127.0.0.1:{daemon.port}/default",
                   {"authname": "alice", "password": "s3cret"})
    assert err.code == ErrorCode.AUTH_FAILED


@pytest.mark.slow
def test_users_change_without_restart(daemon: Any) -> None:
    creds = {"authname": "newcomer", "password": "first"}
    assert _refused(_uri(daemon), creds).code == ErrorCode.AUTH_FAILED
    sasldb.add_user(daemon.db, "newcomer", "first")
    virtkit.open(_uri(daemon), auth=creds).close()
    sasldb.delete_user(daemon.db, "newcomer")
    assert _refused(_uri(daemon), creds).code == ErrorCode.AUTH_FAILED


@pytest.mark.slow
def test_parallel_logins(daemon: Any) -> None:
    errors: list[BaseException] = []

    def login() -> None:
        try:
            virtkit.open(_uri(daemon), auth={"authname": "alice", "password": "s3cret"}).close()
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=login) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
