"""The ssh transport's command lines and the far-side helper (``virtkit-ssh-helper``).

The argv cases check libvirt's ``virNetSocketNewConnectSSH`` order and the
remote command of each proxy mode; the remote commands are run by a real
``sh`` here (with stub helpers) to check which branch each one takes.  The
helper runs as a subprocess against a real unix socket.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from virtkit.errors import VirtError
from virtkit.errtables import ErrorCode, ErrorDomain
from virtkit.rpc.ssh import remote_command, sh_quote, ssh_argv
from virtkit.sshhelper import socket_for_uri
from virtkit.uri import parse_uri

HELPER = [str(Path(sys.executable).parent / "virtkit-ssh-helper")]  # the console script


def _argv(uri: str, readonly: bool = False) -> list[str]:
    parsed = parse_uri(uri)
    return ssh_argv(parsed, parsed.remote_options(), readonly)


def test_argv_order_is_libvirts() -> None:
    argv = _argv("qemu+ssh://alice@host.example:2222/system?keyfile=/k/id&no_tty=1"
                 "&no_verify=1&known_hosts=/k/kh&command=/opt/ssh")
    assert argv[:-1] == ["/opt/ssh", "-p", "2222", "-l", "alice", "-i", "/k/id",
                         "-T", "-e", "none", "-o", "BatchMode=yes",
                         "-o", "UserKnownHostsFile=/k/kh", "-o", "StrictHostKeyChecking=no",
                         "--", "host.example"]
    assert argv[-1].startswith("sh -c ")


def test_argv_minimal() -> None:
    argv = _argv("qemu+ssh://host/system")
    assert argv[:-1] == ["ssh", "-T", "-e", "none", "--", "host"]
    assert "qemu:///system" in argv[-1]


def test_known_hosts_with_space_is_quoted_and_verify_modes() -> None:
    argv = _argv("qemu+ssh://h/system?known_hosts=/a%20b/kh&known_hosts_verify=auto")
    assert 'UserKnownHostsFile="/a b/kh"' in argv
    assert "StrictHostKeyChecking=accept-new" in argv
    assert "StrictHostKeyChecking=no" in _argv("qemu+ssh://h/system?known_hosts_verify=ignore")


def test_driver_uri_keeps_passthrough_params() -> None:
    cmd = _argv("test+ssh://h/default?keyfile=/k&foo=bar")[-1]
    assert "test:///default?foo=bar" in cmd
    assert "/k" not in cmd


def test_readonly_picks_ro_socket_and_flag() -> None:
    cmd = _argv("qemu+ssh://h/system?proxy=netcat", readonly=True)[-1]
    assert "-U /var/run/libvirt/libvirt-sock-ro" in cmd
    cmd = _argv("qemu+ssh://h/system?proxy=native", readonly=True)[-1]
    assert "virtkit-ssh-helper -r qemu:///system" in cmd


def test_native_with_netcat_is_invalid() -> None:
    with pytest.raises(VirtError) as exc:
        _argv("qemu+ssh://h/system?proxy=native&netcat=nc")
    assert exc.value.code == ErrorCode.INVALID_ARG
    assert exc.value.domain == ErrorDomain.RPC
    assert "netcat path not valid with native proxy mode" in str(exc.value)


def test_direct_mode_is_unsupported_over_ssh() -> None:
    with pytest.raises(VirtError) as exc:
        _argv("qemu+ssh://h/system?mode=direct")
    assert exc.value.code == ErrorCode.OPERATION_UNSUPPORTED
    assert "Cannot use direct socket mode for ssh transport" in str(exc.value)


def test_sh_quote() -> None:
    assert sh_quote("qemu:///system") == "qemu:///system"
    assert sh_quote("a b") == "'a b'"
    assert sh_quote("it's") == "'it'\\''s'"
    assert sh_quote("") == "''"
    assert sh_quote("test:///default?x=$(id)") == "'test:///default?x=$(id)'"


# ---------------------------------------------------------------- the remote command, run by sh

def _stub(bindir: Path, name: str) -> None:
    path = bindir / name
    path.write_text(f'#!/bin/sh\necho "{name} $*"\n')
    path.chmod(0o755)


def _run_remote(command: str, bindir: Path) -> str:
    """Run ``command`` as sshd would (the login shell gets it as one string)."""
    for tool in ("sh", "grep"):  # the only outside tools the commands use: keep /usr/bin off PATH
        link = bindir / tool
        if not link.exists():
            link.symlink_to(shutil.which(tool) or f"/bin/{tool}")
    env = {"PATH": str(bindir)}
    out = subprocess.run(["/bin/sh", "-c", command], env=env, capture_output=True,
                         text=True, timeout=10, check=False)
    return out.stdout.strip()


@pytest.mark.parametrize("stubs, proxy, explicit, want", [
    (("virtkit-ssh-helper", "virt-ssh-helper", "nc"), "auto", False,
     "virtkit-ssh-helper test:///default"),
    (("virt-ssh-helper", "nc"), "auto", False, "virt-ssh-helper test:///default"),
    (("nc",), "auto", False, "nc -U /s p/sock"),
    (("virtkit-ssh-helper", "nc"), "auto", True, "virtkit-ssh-helper -s /s p/sock test:///default"),
    (("virt-ssh-helper", "nc"), "auto", True, "nc -U /s p/sock"),  # it cannot take a socket
    (("virtkit-ssh-helper", "nc"), "netcat", False, "nc -U /s p/sock"),
    (("virtkit-ssh-helper", "virt-ssh-helper"), "native", False,
     "virtkit-ssh-helper test:///default"),
    (("virt-ssh-helper",), "native", False, "virt-ssh-helper test:///default"),
])
def test_remote_command_branches(tmp_path: Path, stubs: tuple[str, ...], proxy: str,
                                 explicit: bool, want: str) -> None:
    for name in stubs:
        _stub(tmp_path, name)
    cmd = remote_command(proxy, netcat=None, sock_path="/s p/sock", explicit_socket=explicit,
                         driver_uri="test:///default", readonly=False)
    assert _run_remote(cmd, tmp_path) == want


def test_remote_command_netcat_q_probe(tmp_path: Path) -> None:
    # A netcat whose -q wants an argument (Debian's netcat-traditional) gets -q0, as in libvirt.
    nc = tmp_path / "my nc"
    nc.write_text('#!/bin/sh\nif [ "$1" = -q ] && [ $# = 1 ]; then '
                  'echo "option requires an argument -- q" >&2; exit 1; fi\necho "nc $*"\n')
    nc.chmod(0o755)
    cmd = remote_command("auto", netcat=str(nc), sock_path="/sock", explicit_socket=False,
                         driver_uri="qemu:///system", readonly=False)
    assert _run_remote(cmd, tmp_path) == "nc -q0 -U /sock"


# ---------------------------------------------------------------- the helper

@pytest.mark.parametrize("uri, ro, want", [
    ("qemu:///system", False, "/var/run/libvirt/libvirt-sock"),
    ("qemu:///system", True, "/var/run/libvirt/libvirt-sock-ro"),
    ("test:///default", False, "/var/run/libvirt/libvirt-sock"),
    ("", False, "/var/run/libvirt/libvirt-sock"),
])
def test_helper_socket_for_system_uri(monkeypatch: pytest.MonkeyPatch, uri: str, ro: bool,
                                      want: str) -> None:
    monkeypatch.delenv("VIRTKIT_ROOT", raising=False)
    monkeypatch.setattr(os.path, "exists", lambda p: False)
    if uri == "":
        with pytest.raises(ValueError):
            socket_for_uri(uri, ro)
        return
    assert socket_for_uri(uri, ro) == want


def test_helper_socket_modular_daemon_and_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VIRTKIT_ROOT", raising=False)
    monkeypatch.setattr(os.path, "exists", lambda p: p == "/var/run/libvirt/virtqemud-sock")
    assert socket_for_uri("qemu:///system", False) == "/var/run/libvirt/virtqemud-sock"
    monkeypatch.setenv("VIRTKIT_ROOT", "/srv/vk")
    assert socket_for_uri("qemu:///system", True) == "/srv/vk/run/libvirt/libvirt-sock-ro"


def test_helper_socket_session(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1000")
    assert socket_for_uri("qemu:///session", False) == "/run/user/1000/libvirt/libvirt-sock"
    assert socket_for_uri("qemu:///system", False).startswith("/")


def test_helper_rejects_other_transports() -> None:
    with pytest.raises(ValueError, match="unexpected URI transport"):
        socket_for_uri("qemu+tcp://h/system", False)


def _echo_server(path: Path) -> tuple[socket.socket, threading.Thread, list[bytes]]:
    """A unix server: echoes one connection upper-cased; records what it got."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)
    got: list[bytes] = []

    def run() -> None:
        conn, _ = listener.accept()
        with conn:
            while data := conn.recv(65536):
                got.append(data)
                conn.sendall(data.upper())
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return listener, thread, got


def test_helper_copies_both_ways_and_exits_at_eof(tmp_path: Path) -> None:
    listener, thread, got = _echo_server(tmp_path / "sock")
    payload = b"abc" * 200_000  # bigger than any pipe/socket buffer
    try:
        proc = subprocess.run([*HELPER, "-s", str(tmp_path / "sock"), "qemu:///system"],
                              input=payload, capture_output=True, timeout=30, check=False)
    finally:
        listener.close()
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == payload.upper()
    assert b"".join(got) == payload
    thread.join(5)


def test_helper_exits_when_daemon_hangs_up(tmp_path: Path) -> None:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(tmp_path / "sock"))
    listener.listen(1)
    proc = subprocess.Popen([*HELPER, "--socket", str(tmp_path / "sock"), "qemu:///system"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        conn, _ = listener.accept()
        conn.sendall(b"bye")
        conn.close()
        out, err = proc.communicate(timeout=10)  # stdin stays open until here
    finally:
        listener.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert out == b"bye"


def test_helper_reports_missing_socket(tmp_path: Path) -> None:
    missing = tmp_path / "nothing"
    proc = subprocess.run([*HELPER, "-s", str(missing), "qemu:///system"], input="",
                          capture_output=True, text=True, timeout=10, check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        f"virtkit-ssh-helper: cannot connect to '{missing}': Failed to connect socket to "
        f"'{missing}': No such file or directory")


@pytest.mark.parametrize("args", [[], ["-x", "qemu:///system"], ["a", "b"], ["-s"]])
def test_helper_usage_errors(args: list[str]) -> None:
    proc = subprocess.run([*HELPER, *args], capture_output=True, text=True, timeout=10,
                          check=False)
    assert proc.returncode == 1
    assert "URI - libvirt socket proxy" in proc.stderr


def test_helper_imports_little() -> None:
    code = ("import json, sys; import virtkit.sshhelper; "
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('virtkit', 'socket', "
            "'threading', 'typing', 'urllib')))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=10, check=True).stdout
    loaded = json.loads(out)
    assert "socket" not in loaded and "threading" not in loaded and "virtkit.uri" not in loaded
    subprocess.run([*HELPER, "-V"], capture_output=True, timeout=10, check=True)
