"""Debian's stock ``virsh -c 'test+ssh://...'`` to virtkitd through a real sshd.

libvirt 9.0's ssh transport runs the system ssh; with ``socket=`` its far
side is ``nc -U SOCKET`` (netcat-openbsd).  libvirt ignores ``known_hosts``
for this transport, so ``command=`` names a wrapper that gives ssh the
test's private known_hosts file; ``no_tty=1`` is ssh's BatchMode.  The
errors virsh prints for a refused key are compared with virtkit's own.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import virtkit
from virtkit.testing.peers import Daemon, start_virtkitd
from virtkit.testing.sshd import SSHServer, keygen, start_sshd

pytestmark = pytest.mark.interop

VIRSH = shutil.which("virsh") or "/usr/bin/virsh"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with start_virtkitd(tmp_path_factory.mktemp("virtkitd")) as d:
        yield d
        assert d.proc.poll() is None, d.log_text()


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHServer]:
    with start_sshd(tmp_path_factory.mktemp("sshd")) as s:
        yield s


@pytest.fixture(scope="module")
def ssh_wrapper(sshd: SSHServer) -> str:
    wrapper = sshd.dir / "ssh-private-known-hosts"
    wrapper.write_text(f'#!/bin/sh\nexec ssh -o UserKnownHostsFile={sshd.known_hosts} "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper)


def _virsh(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LIBVIRT_DEFAULT_URI", "DISPLAY",
                                                           "SSH_ASKPASS")}
    return subprocess.run([VIRSH, *args], capture_output=True, text=True, env=env,
                          stdin=subprocess.DEVNULL, timeout=60, check=False)


def _uri(sshd: SSHServer, daemon: Daemon, wrapper: str, **params: str) -> str:
    return sshd.uri("test", "/default", socket=daemon.sock, command=wrapper, **params)


def test_virsh_lists_domains_over_ssh(sshd: SSHServer, daemon: Daemon, ssh_wrapper: str) -> None:
    uri = _uri(sshd, daemon, ssh_wrapper)
    out = _virsh("-c", uri, "list", "--all")
    assert out.returncode == 0, out.stderr
    assert [line.split()[1] for line in out.stdout.splitlines()[2:] if line.strip()] == ["test"]
    out = _virsh("-c", uri, "uri")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == uri


def test_virsh_changes_state_over_ssh(sshd: SSHServer, daemon: Daemon, ssh_wrapper: str) -> None:
    uri = _uri(sshd, daemon, ssh_wrapper)
    out = _virsh("-c", uri, "suspend test ; domstate test ; resume test ; domstate test")
    assert out.returncode == 0, out.stderr
    assert "paused" in out.stdout and out.stdout.rstrip().endswith("running")


def test_virsh_readonly_over_ssh(sshd: SSHServer, daemon: Daemon, ssh_wrapper: str) -> None:
    uri = sshd.uri("test", "/default", socket=daemon.sock_ro, command=ssh_wrapper)
    out = _virsh("-r", "-c", uri, "domstate", "test")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "running"
    out = _virsh("-r", "-c", uri, "suspend", "test")
    assert out.returncode == 1
    assert "read only access prevents virDomainSuspend" in out.stderr


def test_wrong_key_refused_like_virtkit(sshd: SSHServer, daemon: Daemon, ssh_wrapper: str,
                                        tmp_path: Path) -> None:
    uri = _uri(sshd, daemon, ssh_wrapper, keyfile=str(keygen(tmp_path / "stranger")))
    out = _virsh("-c", uri, "list")
    assert out.returncode == 1
    assert "error: failed to connect to the hypervisor" in out.stderr
    assert "Permission denied (publickey)." in out.stderr
    with pytest.raises(virtkit.VirtError) as exc:
        virtkit.open(uri)
    virsh_error = out.stderr.strip().splitlines()[-1].removeprefix("error: ")
    assert str(exc.value) == virsh_error
