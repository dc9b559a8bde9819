"""virtkit.uri: libvirt's URI syntax, errors and default resolution.

Expected values were checked against libvirt 9.0 (virsh -c / libvirt-python
open() and getURI()) where libvirt exposes them.
"""

from __future__ import annotations

import pytest

from virtkit.errors import VirtError
from virtkit.errtables import ErrorCode, ErrorDomain
from virtkit.uri import DEFAULT_URI, ParsedURI, connect_uri, default_uri, parse_uri


def parsed(uri: str) -> ParsedURI:
    result = parse_uri(uri)
    assert result is not None
    return result


def test_local_uri_parts() -> None:
    u = parsed("qemu:///system")
    assert (u.scheme, u.driver, u.transport) == ("qemu", "qemu", None)
    assert (u.user, u.host, u.port, u.path) == (None, None, None, "/system")
    assert u.query is None and u.params == {}
    assert not u.is_remote
    assert str(u) == "qemu:///system"


def test_full_remote_uri() -> None:
    u = parsed("qemu+ssh://root@node1.example.com:2222/system?keyfile=/k&no_tty=1")
    assert u.scheme == "qemu+ssh"
    assert (u.driver, u.transport) == ("qemu", "ssh")
    assert (u.user, u.host, u.port, u.path) == ("root", "node1.example.com", 2222, "/system")
    assert u.query == "keyfile=/k&no_tty=1"
    assert u.params == {"keyfile": "/k", "no_tty": "1"}
    assert u.is_remote
    assert str(u) == "qemu+ssh://root@node1.example.com:2222/system?keyfile=/k&no_tty=1"


@pytest.mark.parametrize(
    ("uri", "host", "port", "text"),
    [
        ("test://[::1]:22/default", "::1", 22, "test://[::1]:22/default"),
        ("qemu+tls://[fe80::1]/system", "fe80::1", None, "qemu+tls://[fe80::1]/system"),
        ("qemu+tcp://10.0.0.1:16509/system", "10.0.0.1", 16509, None),
    ],
)
def test_hosts(uri: str, host: str, port: int | None, text: str | None) -> None:
    u = parsed(uri)
    assert (u.host, u.port) == (host, port)
    assert str(u) == (text or uri)


def test_host_only_is_remote_and_transport_only_is_remote() -> None:
    assert parsed("test://localhost/default").is_remote
    assert parsed("qemu+unix:///system").is_remote
    assert not parsed("test:///default").is_remote


def test_test_driver_forms() -> None:
    assert parsed("test:///default").path == "/default"
    assert parsed("test:///tmp/node.xml").path == "/tmp/node.xml"
    # libvirt decodes the path: test:///tmp/a%20b.xml opens "/tmp/a b.xml".
    u = parsed("test:///tmp/a%20b.xml")
    assert u.path == "/tmp/a b.xml"
    assert str(u) == "test:///tmp/a%20b.xml"


def test_single_slash_form_is_canonicalised() -> None:
    # libvirt: open("test:/default").getURI() == "test:///default"
    assert str(parsed("test:/default")) == "test:///default"


def test_no_path() -> None:
    u = parsed("test:")
    assert u.path == "" and u.host is None


def test_query_decoding_and_cgi_rules() -> None:
    u = parsed("test:///default?a=%41&b=x%2Fy&=q&&c;d=1&flag&e=")
    assert u.param_list == (("a", "A"), ("b", "x/y"), ("c;d", "1"), ("flag", ""), ("e", ""))
    # the raw query is kept verbatim and str() gives it back
    assert u.query == "a=%41&b=x%2Fy&=q&&c;d=1&flag&e="
    assert str(u) == "test:///default?a=%41&b=x%2Fy&=q&&c;d=1&flag&e="


def test_semicolon_separates_when_no_ampersand_left() -> None:
    assert parsed("test:///default?a=1;b=2").param_list == (("a", "1"), ("b", "2"))


def test_repeated_parameter_last_wins_in_dict() -> None:
    u = parsed("test:///default?x=1&x=2")
    assert u.params == {"x": "2"}
    assert u.param_list == (("x", "1"), ("x", "2"))


def test_user_is_decoded() -> None:
    assert parsed("test://%41@h/x").user == "A"


def test_fragment_kept() -> None:
    u = parsed("test:///default#frag")
    assert u.fragment == "frag"
    assert str(u) == "test:///default#frag"


def test_relative_reference_has_no_scheme() -> None:
    assert parse_uri("foo") is None
    assert parse_uri("//host/path") is None


@pytest.mark.parametrize(
    "uri",
    [
        "te st://x",
        "test:///def ault",
        "test:///default?a=b c",
        "test:///default?a=|",
        "test:///default?a=%zz",
        "test:///%zz",
        "test:///a%4",
        "test:///a%",
        "test://us%er@h/x",
        "test://h%g1/x",
        "test://h:abc/x",
        "test://h:\u0661/x",
        "1test:///default",
        "test://[::1/default",
        "test://[zz]/default",
        "test:///default?a=\u00e9",
    ],
)
def test_unparseable(uri: str) -> None:
    with pytest.raises(VirtError) as info:
        parse_uri(uri)
    err = info.value
    assert err.code == ErrorCode.INTERNAL_ERROR
    assert err.domain == ErrorDomain.URI
    assert err.message == f"internal error: Unable to parse URI {uri}"


def test_missing_driver_name() -> None:
    with pytest.raises(VirtError) as info:
        connect_uri("foo")
    assert info.value.code == ErrorCode.NO_CONNECT
    assert info.value.domain == ErrorDomain.NONE
    assert info.value.message == (
        "no connection driver available for URI 'foo' does not include a driver name"
    )


def test_missing_slash_hint() -> None:
    with pytest.raises(VirtError) as info:
        connect_uri("qemu://system")
    assert info.value.code == ErrorCode.INTERNAL_ERROR
    assert info.value.message == (
        "internal error: invalid URI qemu://system (maybe you want qemu:///system)"
    )
    # only for drivers with /system and /session paths
    assert connect_uri("test://system/default").host == "system"


def test_default_uri_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VIRTKIT_DEFAULT_URI", raising=False)
    monkeypatch.delenv("LIBVIRT_DEFAULT_URI", raising=False)
    assert default_uri() == DEFAULT_URI == "qemu:///system"
    monkeypatch.setenv("LIBVIRT_DEFAULT_URI", "test:///libvirt")
    assert default_uri() == "test:///libvirt"
    monkeypatch.setenv("VIRTKIT_DEFAULT_URI", "test:///virtkit")
    assert default_uri() == "test:///virtkit"
    assert connect_uri(None).path == "/virtkit"
    assert connect_uri("").path == "/virtkit"
    assert connect_uri("test:///explicit").path == "/explicit"
    monkeypatch.setenv("VIRTKIT_DEFAULT_URI", "")
    assert default_uri() == "test:///libvirt"


def test_remote_options_typed() -> None:
    u = parsed(
        "qemu+libssh2://u@h/system?known_hosts=/kh&known_hosts_verify=ignore"
        "&sshauth=privkey,agent&no_verify=1&NO_TTY=0&mode=direct&proxy=native"
        "&socket=/run/s&netcat=/bin/nc&keyfile=/k&pkipath=/pki&tls_priority=NORMAL"
        "&command=/bin/ssh&name=qemu:///session&custom=x%20y"
    )
    o = u.remote_options()
    assert o.known_hosts == "/kh" and o.known_hosts_verify == "ignore"
    assert o.sshauth == ("privkey", "agent")
    assert o.no_verify is True and o.no_tty is False and o.no_sanity is False
    assert (o.mode, o.proxy, o.socket, o.netcat) == ("direct", "native", "/run/s", "/bin/nc")
    assert (o.keyfile, o.pkipath, o.tls_priority, o.command) == (
        "/k", "/pki", "NORMAL", "/bin/ssh"
    )
    assert o.name == "qemu:///session"
    assert o.passthrough == (("custom", "x y"),)


def test_remote_options_defaults() -> None:
    o = parsed("qemu+ssh://h/system").remote_options()
    assert o.name is None and o.no_verify is False and o.passthrough == ()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("no_verify=yes", "invalid argument: Failed to parse value of URI component no_verify"),
        ("mode=weird", "invalid argument: Unknown remote mode 'weird'"),
        ("proxy=weird", "invalid argument: Unnkown proxy type 'weird'"),
    ],
)
def test_remote_options_errors(query: str, message: str) -> None:
    with pytest.raises(VirtError) as info:
        parsed(f"qemu+ssh://h/system?{query}").remote_options()
    assert info.value.code == ErrorCode.INVALID_ARG
    assert info.value.domain == ErrorDomain.REMOTE
    assert info.value.message == message


def test_local_uri_strips_transport_host_and_remote_params() -> None:
    u = parsed("qemu+ssh://root@host:22/system?keyfile=/k&no_tty=1&extra=a%20b")
    assert u.local_uri() == "qemu:///system?extra=a%20b"
    assert parsed("test+tcp://localhost:5000/default").local_uri() == "test:///default"
    assert parsed("qemu+unix:///system?socket=/s").local_uri() == "qemu:///system"


def test_local_uri_name_param_and_remote_scheme() -> None:
    assert parsed("qemu+ssh://h/system?name=qemu:///session").local_uri() == "qemu:///session"
    assert parsed("remote+tcp://h/").local_uri() == ""
    assert parsed("remote://h/").local_uri() == ""


def test_parsed_uri_is_hashable_and_comparable() -> None:
    assert parsed("test:///default") == parsed("test:///default")
    assert len({parsed("test:///default"), parsed("test:///default")}) == 1
