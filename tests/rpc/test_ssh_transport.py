"""virtkit's client over ``qemu+ssh://`` / ``test+ssh://`` through a real sshd to virtkitd.

One sshd (testing/sshd.py: loopback port, its own host key, one authorized
client key, public-key log-in only) and one virtkitd serve the module.  The
sshd sets ``VIRTKIT_ROOT`` to virtkitd's root in its sessions, so the far
side's ``virtkit-ssh-helper`` finds the daemon's sockets from the URI alone;
other cases pass ``socket=``.  A second sshd without the helper on ``PATH``
checks the netcat fallback.  ssh always runs with ``BatchMode=yes``
(``no_tty=1``) and a private known_hosts file: it never prompts.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import virtkit
from virtkit.errtables import ErrorCode, ErrorDomain
from virtkit.rpc.ssh import connect_ssh
from virtkit.testing.peers import Daemon, start_virtkitd
from virtkit.testing.sshd import SSHServer, keygen, start_sshd
from virtkit.uri import parse_uri

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with start_virtkitd(tmp_path_factory.mktemp("virtkitd")) as d:
        yield d
        assert d.proc.poll() is None, d.log_text()


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory, daemon: Daemon) -> Iterator[SSHServer]:
    with start_sshd(tmp_path_factory.mktemp("sshd"), env={"VIRTKIT_ROOT": str(daemon.root)}) as s:
        yield s
        assert s.proc.poll() is None, s.log_text()


def _domains(uri: str, flags: int = 0) -> list[str]:
    conn = virtkit.open(uri, flags) if flags else virtkit.open(uri)
    try:
        return sorted(d.name for d in conn.list_domains())
    finally:
        conn.close()


@pytest.mark.parametrize("proxy", ["", "auto", "native", "netcat"])
def test_open_test_driver_with_socket(sshd: SSHServer, daemon: Daemon, proxy: str) -> None:
    assert _domains(sshd.uri("test", "/default", socket=daemon.sock, proxy=proxy)) == ["test"]


def test_helper_picks_socket_from_uri(sshd: SSHServer) -> None:
    # No socket=: the far side's helper derives $VIRTKIT_ROOT/run/libvirt/libvirt-sock.
    assert _domains(sshd.uri("test", "/default", proxy="native")) == ["test"]
    assert _domains(sshd.uri("test", "/default")) == ["test"]


def test_qemu_ssh_system_uri(sshd: SSHServer) -> None:
    conn = virtkit.open(sshd.uri("qemu", "/system"))
    try:
        assert conn.uri.startswith("qemu+ssh://")
        assert conn.is_encrypted() and conn.is_secure()
        assert isinstance(conn.list_domains(), list)
    finally:
        conn.close()


def test_readonly_goes_to_readonly_socket(sshd: SSHServer) -> None:
    conn = virtkit.open_readonly(sshd.uri("test", "/default"))
    try:
        dom = conn.lookup_domain("test")
        with pytest.raises(virtkit.VirtError) as exc:
            dom.suspend()
        assert exc.value.code == ErrorCode.OPERATION_DENIED
    finally:
        conn.close()


def test_wrong_key_is_refused(sshd: SSHServer, tmp_path: Path) -> None:
    other = keygen(tmp_path / "stranger")
    with pytest.raises(virtkit.VirtError) as exc:
        _domains(sshd.uri("test", "/default", keyfile=str(other)))
    assert exc.value.code == ErrorCode.SYSTEM_ERROR
    assert exc.value.domain == ErrorDomain.RPC
    assert "Permission denied (publickey)" in str(exc.value)
    fingerprint = subprocess.run(["ssh-keygen", "-l", "-f", str(other)], capture_output=True,
                                 text=True, check=True).stdout.split()[1]
    log = sshd.log_text()
    offered = [line for line in log.splitlines() if fingerprint in line]
    assert offered and not any("Accepted" in line for line in offered), offered


def test_unknown_host_key_is_refused_unless_no_verify(sshd: SSHServer, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text("")
    with pytest.raises(virtkit.VirtError) as exc:
        _domains(sshd.uri("test", "/default", known_hosts=str(known)))
    assert "Host key verification failed" in str(exc.value)
    assert exc.value.code == ErrorCode.SYSTEM_ERROR
    assert _domains(sshd.uri("test", "/default", known_hosts=str(known), no_verify="1")) == ["test"]
    assert "ssh-ed25519" in known.read_text()  # accepted, into the private file only


def test_changed_host_key_is_refused(sshd: SSHServer, tmp_path: Path) -> None:
    # (no_verify=1 is ssh's StrictHostKeyChecking=no: that would accept even this one.)
    wrong = keygen(tmp_path / "impostor")
    known = tmp_path / "known_hosts"
    key = Path(f"{wrong}.pub").read_text().split()
    known.write_text(f"[127.0.0.1]:{sshd.port} {key[0]} {key[1]}\n")
    with pytest.raises(virtkit.VirtError) as exc:
        _domains(sshd.uri("test", "/default", known_hosts=str(known)))
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in str(exc.value)
    assert "Host key verification failed" in str(exc.value)


def test_missing_daemon_socket_reports_helper_error(sshd: SSHServer, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-sock"
    with pytest.raises(virtkit.VirtError) as exc:
        _domains(sshd.uri("test", "/default", socket=str(missing)))
    assert str(exc.value) == (
        f"End of file while reading data: virtkit-ssh-helper: cannot connect to '{missing}': "
        f"Failed to connect socket to '{missing}': No such file or directory: "
        "Input/output error")


def test_remote_side_exits_cleanly(sshd: SSHServer) -> None:
    # Client hangs up -> ssh closes the channel -> the helper half-closes the daemon's
    # socket, the daemon hangs up, the helper exits 0 and so does ssh.
    uri = parse_uri(sshd.uri("test", "/default"))
    sock = connect_ssh(uri, uri.remote_options(), False)
    proc = sock.process
    assert proc is not None
    sock.shutdown(socket.SHUT_WR)
    assert sock.recv(1) == b""
    assert proc.wait(15) == 0
    sock.close()


@pytest.fixture(scope="module")
def sshd_without_helper(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHServer]:
    with start_sshd(tmp_path_factory.mktemp("sshd-nohelper"), helper_on_path=False) as s:
        yield s


def test_auto_falls_back_to_netcat(sshd_without_helper: SSHServer, daemon: Daemon) -> None:
    assert _domains(sshd_without_helper.uri("test", "/default", socket=daemon.sock)) == ["test"]
    with pytest.raises(virtkit.VirtError) as exc:  # and native mode then has no helper of ours
        _domains(sshd_without_helper.uri("test", "/default", socket=daemon.sock, proxy="native"))
    assert "virtkit-ssh-helper" in str(exc.value)
