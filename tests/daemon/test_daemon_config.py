"""libvirtd.conf: the virconf syntax, typed settings, defaults, errors, listeners."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from virtkit.daemon.config import (
    ConfigError,
    DaemonConfig,
    Listener,
    ListenError,
    host_uuid,
    load_config,
    parse_config,
    parse_virconf,
    plan_listeners,
)
from virtkit.daemon.paths import DaemonPaths
from virtkit.testing.repo import debian_file


def debian_libvirtd_conf() -> str:
    """Debian's /etc/libvirt/libvirtd.conf as its package ships it.

    It lives in libvirt-daemon-system, which is not installed here (its maintainer
    scripts expect systemd and start services), so ``make test``'s install step
    (scripts/sysdeps.py) downloads that .deb at the installed libvirt's version and
    unpacks just this file into the repository's ``.cache/``. The host's own
    /etc/libvirt/libvirtd.conf, if any, may have been edited: it is not used."""
    return debian_file("libvirt-daemon-system", "etc/libvirt/libvirtd.conf").read_text()


def uncomment(text: str) -> str:
    return re.sub(r"(?m)^#(?=[a-z_]+\s*=)", "", text)


# --- the shipped file ----------------------------------------------------------


def test_debian_file_as_shipped_gives_the_defaults() -> None:
    config = parse_config(debian_libvirtd_conf(), "/etc/libvirt/libvirtd.conf")
    assert config.set_keys == frozenset()
    assert config.source == "/etc/libvirt/libvirtd.conf"
    assert replace(config, source=None) == DaemonConfig()


def test_debian_file_with_every_setting_uncommented() -> None:
    text = uncomment(debian_libvirtd_conf())
    config = parse_config(text, "/etc/libvirt/libvirtd.conf")
    assert len(config.set_keys) >= 50
    assert config.unknown_keys == ()
    assert (config.listen_tls, config.listen_tcp) == (False, True)
    assert (config.tls_port, config.tcp_port) == ("16514", "16509")
    assert config.listen_addr == "192.168.0.1"
    assert config.unix_sock_group == "libvirt"
    assert (config.unix_sock_ro_perms, config.unix_sock_rw_perms,
            config.unix_sock_admin_perms) == ("0777", "0770", "0700")
    assert config.unix_sock_dir == "/run/libvirt"
    assert (config.auth_unix_ro, config.auth_unix_rw, config.auth_tcp,
            config.auth_tls) == ("polkit", "polkit", "sasl", "none")
    assert config.access_drivers == ("polkit",)
    assert config.key_file == "/etc/pki/libvirt/private/serverkey.pem"
    assert config.crl_file == "/etc/pki/CA/crl.pem"
    assert config.tls_no_verify_certificate is True
    assert config.tls_allowed_dn_list == ("DN1", "DN2")
    assert config.sasl_allowed_username_list == ("joe@EXAMPLE.COM", "fred@EXAMPLE.COM")
    assert config.tls_priority == "NORMAL"
    assert config.tcp_min_ssf == 112
    assert (config.max_clients, config.max_queued_clients, config.max_anonymous_clients) == (
        5000, 1000, 20)
    assert (config.min_workers, config.max_workers, config.prio_workers,
            config.max_client_requests) == (5, 20, 5, 5)
    assert (config.admin_min_workers, config.admin_max_clients) == (1, 5)
    assert config.log_level == 3
    assert config.log_filters == "1:qemu 1:libvirt 4:object 4:json 4:event 1:util"
    assert config.log_outputs == "3:syslog:libvirtd"
    assert (config.audit_level, config.audit_logging) == (2, True)
    assert config.host_uuid == "00000000-0000-0000-0000-000000000000"
    assert config.host_uuid_source == "smbios"
    assert (config.keepalive_interval, config.keepalive_count) == (5, 5)
    assert config.keepalive_required is True
    assert config.ovs_timeout == 5


def test_every_key_of_libvirtd_conf_is_known() -> None:
    keys = {m.group(1) for m in re.finditer(r"(?m)^#([a-z_]+)\s*=", debian_libvirtd_conf())}
    assert keys <= set(DaemonConfig.keys())


# --- defaults --------------------------------------------------------------------


def test_defaults_are_libvirtds_without_polkit() -> None:
    c = DaemonConfig()
    assert (c.listen_tls, c.listen_tcp, c.tls_port, c.tcp_port) == (True, False, "16514",
                                                                    "16509")
    assert (c.auth_unix_rw, c.auth_unix_ro, c.auth_tcp, c.auth_tls) == ("none", "none",
                                                                        "sasl", "none")
    assert (c.unix_sock_rw_perms, c.unix_sock_ro_perms, c.unix_sock_admin_perms) == (
        "0700", "0777", "0700")
    assert (c.max_clients, c.max_anonymous_clients, c.max_workers, c.prio_workers) == (
        5000, 20, 20, 5)
    assert (c.keepalive_interval, c.keepalive_count, c.log_level) == (5, 5, 0)
    assert c.listen_addr is None and c.access_drivers is None


# --- virconf syntax ----------------------------------------------------------------


def test_syntax_variants() -> None:
    entries = parse_virconf(
        "a = 'single'; b = \"double\"  # trailing comment\n"
        "c = \"\"\"multi\nline\"\"\"\n"
        "d = -12\n"
        "e = +7\n"
        "f = 0777\n"
        "g = [ \"x\",\n      \"y\", ]\n"
        "h = []\n"
        "  \t\n"
        "i=\"no\\escapes\"\n", "f.conf")
    got = {e.name: (e.value, e.line) for e in entries}
    assert got == {"a": ("single", 1), "b": ("double", 1), "c": ("multi\nline", 2),
                   "d": (-12, 4), "e": (7, 5), "f": (777, 6), "g": (["x", "y"], 7),
                   "h": ([], 9), "i": ("no\\escapes", 11)}


def test_comments_inside_a_multiline_list() -> None:
    entries = parse_virconf('l = [\n  "a",  # first\n  # nothing\n  "b"\n]\nm = 1\n')
    assert [(e.name, e.value, e.line) for e in entries] == [("l", ["a", "b"], 1),
                                                            ("m", 1, 6)]


def test_first_of_duplicate_keys_wins() -> None:
    assert parse_config("max_clients = 10\nmax_clients = 20\n").max_clients == 10


@pytest.mark.parametrize(("text", "message"), [
    ('x = "abc\n', "f.conf:1: unterminated string"),
    ('\n\nx = """abc\n', "f.conf:4: unterminated string"),
    ("x = 1 2\n", "f.conf:1: expecting a separator"),
    ("x 1\n", "f.conf:1: expecting an assignment"),
    ("\n= 1\n", "f.conf:2: expecting a name"),
    ("x = \n", "f.conf:1: expecting a value"),
    ("x = abc\n", "f.conf:1: expecting a value"),
    ("x = -\n", "f.conf:1: unterminated number"),
    ('x = ["a" "b"]\n', "f.conf:1: expecting a separator in list"),
    ('x = ["a",\n "b"\n', "f.conf:3: list is not closed with ]"),
])
def test_syntax_errors_name_file_and_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_virconf(text, "f.conf")
    assert str(info.value) == f"configuration file syntax error: {message}"


# --- types -----------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "message"), [
    ("unix_sock_group = 5",
     "internal error: f.conf:1: expected a string for 'unix_sock_group' parameter"),
    ('listen_tcp = "1"', "internal error: f.conf:1: expected a bool for 'listen_tcp' parameter"),
    ("listen_tcp = 2",
     "internal error: f.conf:1: value for 'listen_tcp' parameter must be 0 or 1"),
    ("max_clients = -1",
     "internal error: f.conf:1: expected an unsigned integer for 'max_clients' parameter"),
    ("max_clients = 4294967296",
     "internal error: f.conf:1: value for 'max_clients' parameter must be in range "
     "0:4294967295"),
    ('keepalive_interval = "5"',
     "internal error: f.conf:1: expected a signed integer for 'keepalive_interval' parameter"),
    ('access_drivers = "polkit"',
     "configuration file syntax error: f.conf:1: expected a string list for "
     "'access_drivers' parameter"),
    ("tls_allowed_dn_list = [1]",
     "configuration file syntax error: f.conf:1: expected a string list for "
     "'tls_allowed_dn_list' parameter"),
    ('auth_tcp = "kerberos"',
     "unsupported configuration: f.conf:1: auth_tcp: unsupported auth kerberos"),
    ("\nmax_workers = 0",
     "internal error: f.conf:2: 'max_workers' must be greater than 0"),
    ("tcp_min_ssf = 40", "unsupported configuration: f.conf:1: minimum SSF levels lower "
     "than 56 are not supported"),
])
def test_type_errors_name_file_line_and_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "f.conf")
    assert str(info.value) == message


def test_negative_keepalive_interval_is_allowed() -> None:
    assert parse_config("keepalive_interval = -1").keepalive_interval == -1


def test_unknown_keys_are_ignored_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    config = parse_config("no_such_key = 1\nmax_clients = 3\n", "f.conf")
    assert config.unknown_keys == ("no_such_key",)
    assert config.max_clients == 3
    assert "f.conf:1: ignoring unknown setting 'no_such_key'" in caplog.text


# --- files -------------------------------------------------------------------------------


def test_missing_default_file_means_defaults(tmp_path: Path) -> None:
    config = load_config(None, DaemonPaths(str(tmp_path)))
    assert config == DaemonConfig() and config.source is None


def test_default_file_under_root_is_read(tmp_path: Path) -> None:
    (tmp_path / "etc/libvirt").mkdir(parents=True)
    (tmp_path / "etc/libvirt/libvirtd.conf").write_text("max_clients = 9\n")
    config = load_config(None, DaemonPaths(str(tmp_path)))
    assert config.max_clients == 9
    assert config.source == str(tmp_path / "etc/libvirt/libvirtd.conf")


def test_explicit_file_must_exist(tmp_path: Path) -> None:
    missing = tmp_path / "nope.conf"
    with pytest.raises(ConfigError, match=r"Failed to open file '.*nope.conf': No such file"):
        load_config(str(missing), DaemonPaths(str(tmp_path)))


def test_explicit_file_errors_carry_its_name(tmp_path: Path) -> None:
    path = tmp_path / "my.conf"
    path.write_text("# hi\nlisten_tcp = yes\n")
    with pytest.raises(ConfigError) as info:
        load_config(str(path), DaemonPaths(str(tmp_path)))
    assert str(info.value) == f"configuration file syntax error: {path}:2: expecting a value"


# --- host uuid ------------------------------------------------------------------------


def test_host_uuid(tmp_path: Path) -> None:
    paths = DaemonPaths(str(tmp_path))
    assert host_uuid(DaemonConfig(), paths) is None
    u = "8f1e3a52-49a1-4c8b-9a4e-0c2f2b1d7e11"
    assert host_uuid(parse_config(f'host_uuid = "{u}"'), paths) == u
    for bad in ("00000000-0000-0000-0000-000000000000", "nope"):
        with pytest.raises(ConfigError, match="invalid host UUID"):
            host_uuid(parse_config(f'host_uuid = "{bad}"'), paths)
    with pytest.raises(ConfigError, match="invalid UUID source: bios"):
        host_uuid(parse_config('host_uuid_source = "bios"'), paths)
    machine = parse_config('host_uuid_source = "machine-id"')
    with pytest.raises(ConfigError, match="Can't read"):
        host_uuid(machine, paths)
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/machine-id").write_text("8f1e3a5249a14c8b9a4e0c2f2b1d7e11\n")
    assert host_uuid(machine, paths) == u


# --- listeners ---------------------------------------------------------------------


def test_default_listeners(tmp_path: Path) -> None:
    paths = DaemonPaths(str(tmp_path))
    got = plan_listeners(DaemonConfig(), paths, listen=False)
    assert got == [
        Listener("unix", path=f"{tmp_path}/run/libvirt/libvirt-sock", mode=0o700),
        Listener("unix", readonly=True, path=f"{tmp_path}/run/libvirt/libvirt-sock-ro",
                 mode=0o777),
    ]
    # listen_tcp without --listen does nothing, as in libvirtd
    tcp = parse_config('listen_tcp = 1\nlisten_tls = 0\nauth_tcp = "none"')
    assert len(plan_listeners(tcp, paths, listen=False)) == 2


def test_tcp_listener_with_listen(tmp_path: Path) -> None:
    config = parse_config('listen_tcp = 1\nlisten_tls = 0\nauth_tcp = "none"\n'
                          'listen_addr = "127.0.0.1"\ntcp_port = "16600"\n'
                          'unix_sock_group = "root"\nunix_sock_rw_perms = "0770"')
    got = plan_listeners(config, DaemonPaths(str(tmp_path)), listen=True)
    assert got[0].mode == 0o770 and got[0].gid == 0 and got[1].gid == 0
    assert got[2] == Listener("tcp", host="127.0.0.1", port=16600)
    assert got[2].describe() == "tcp:127.0.0.1:16600"


@pytest.mark.parametrize(("text", "message"), [
    ('unix_sock_group = "no-such-group-here"', "Failed to parse group 'no-such-group-here'"),
    ('unix_sock_rw_perms = "0999"', "Failed to parse mode '0999' (unix_sock_rw_perms)"),
    ('auth_unix_rw = "polkit"', 'auth_unix_rw = "polkit": virtkitd has no polkit'),
])
def test_listener_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        plan_listeners(parse_config(text), DaemonPaths(str(tmp_path)), listen=False)


def test_sasl_listeners(tmp_path: Path) -> None:
    """auth_* = "sasl" reaches the listeners (libvirtd's default auth_tcp is sasl)."""
    config = parse_config('listen_tcp = 1\nlisten_tls = 0\nauth_unix_rw = "sasl"')
    got = plan_listeners(config, DaemonPaths(str(tmp_path)), listen=True)
    assert [x.auth for x in got] == ["sasl", "none", "sasl"]


def test_tls_without_certificates_fails_like_libvirtd(tmp_path: Path) -> None:
    paths = DaemonPaths(str(tmp_path))
    with pytest.raises(ListenError) as info:
        plan_listeners(DaemonConfig(), paths, listen=True)
    assert str(info.value) == (f"Cannot read CA certificate '{tmp_path}/etc/pki/CA/cacert.pem'"
                               ": No such file or directory")
    with pytest.raises(ListenError, match="No CA certificate path set to match server key"):
        plan_listeners(parse_config('cert_file = "/c"\nkey_file = "/k"'), paths, listen=True)


def test_tls_listener_is_planned_on_the_tls_port(tmp_path: Path) -> None:
    paths = DaemonPaths(str(tmp_path))
    for path in (paths.tls_ca_cert, paths.tls_server_cert, paths.tls_server_key):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text("pem")
    got = plan_listeners(parse_config('listen_addr = "127.0.0.1"\ntls_port = "16600"'), paths,
                         listen=True)
    tls = [x for x in got if x.tls]
    assert [(x.kind, x.host, x.port, x.auth) for x in tls] == [("tcp", "127.0.0.1", 16600, "none")]
    assert tls[0].describe() == "tls:127.0.0.1:16600"
    assert not any(x.tls for x in plan_listeners(DaemonConfig(), paths, listen=False))


def test_perms_and_port_helpers() -> None:
    config = parse_config('tcp_port = "ssh"\ntls_port = "0"')
    assert config.perms("unix_sock_ro_perms") == 0o777
    assert config.port("tcp_port") == 22
    with pytest.raises(ConfigError, match="Invalid port '0' for 'tls_port'"):
        config.port("tls_port")
