"""Two test "hosts" on one machine, for migration tests: two network namespaces joined
by a veth pair (``10.231.N.1`` and ``10.231.N.2``), a virtkitd in each (its own root,
``listen_tcp = 1`` on the namespace's address, port 16509, ``auth_tcp = "none"``), and a
shared directory both can use (shared storage, console logs).

A client in the test's own namespace reaches each daemon through its unix socket
(``Host.unix_uri``: sockets are files, namespaces do not hide them); the daemons reach
each other over the veth (``Host.tcp_uri``), and so do their QEMUs (give
``--migrateuri tcp://ADDRESS`` to a managed direct migration: the destination's host
name resolves to loopback in every namespace). Namespace and link names are unique per
instance; ``close`` stops the daemons by pid and deletes the namespaces.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from virtkit.testing import terminate
from virtkit.testing.peers import Daemon

__all__ = ["PORT", "Host", "TwoHosts"]

PORT = 16509  # libvirt's TCP port: each namespace has a port space of its own
_counter = itertools.count()
_counter_lock = threading.Lock()


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@dataclass
class Host:
    """One namespace, its address on the veth, its root and its virtkitd."""

    netns: str
    address: str
    root: Path
    daemon: Daemon | None = None
    extra: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def tcp_uri(self, driver: str = "qemu") -> str:
        return f"{driver}+tcp://{self.address}/system"

    def unix_uri(self, driver: str = "qemu") -> str:
        assert self.daemon is not None
        return f"{driver}+unix:///system?socket={self.daemon.sock}"

    def exec_argv(self, argv: list[str]) -> list[str]:
        """``argv`` run inside this host's namespace."""
        return ["ip", "netns", "exec", self.netns, *argv]

    def can_connect(self, address: str, port: int) -> bool:
        """Whether a TCP connection from inside this namespace reaches ``address:port``."""
        probe = ("import socket,sys\ntry:\n socket.create_connection((sys.argv[1], "
                 "int(sys.argv[2])), 0.5).close()\nexcept OSError:\n sys.exit(1)\n")
        done = subprocess.run(self.exec_argv([sys.executable, "-c", probe, address, str(port)]),
                              capture_output=True, timeout=30)
        return done.returncode == 0

    def start_virtkitd(self, extra_conf: str = "", timeout: float = 30.0) -> Daemon:
        """virtkitd ``--root ROOT --listen`` in this namespace (``ip netns exec`` execs it:
        the process is the daemon itself, so its pid is the daemon's)."""
        conf_dir = self.root / "etc" / "libvirt"
        conf_dir.mkdir(parents=True, exist_ok=True)
        (conf_dir / "libvirtd.conf").write_text("\n".join([
            "listen_tls = 0", "listen_tcp = 1", f'listen_addr = "{self.address}"',
            f'tcp_port = "{PORT}"', 'auth_tcp = "none"', 'auth_unix_rw = "none"',
            'auth_unix_ro = "none"', 'log_outputs = "3:stderr"', extra_conf, ""]))
        log = self.root / "virtkitd.log"
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                self.exec_argv([sys.executable, "-m", "virtkit.daemon.main", "--root",
                                str(self.root), "--listen"]),
                stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        sock_dir = self.root / "run" / "libvirt"
        daemon = Daemon("virtkitd", proc, self.root, str(sock_dir / "libvirt-sock"),
                        str(sock_dir / "libvirt-sock-ro"), PORT, log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"virtkitd exited ({proc.returncode}):\n{log.read_text()}")
            if os.path.exists(daemon.sock) and _unix_ready(daemon.sock) \
                    and self.can_connect(self.address, PORT):
                self.daemon = daemon
                return daemon
            time.sleep(0.05)
        terminate(proc, 10)
        raise RuntimeError(f"virtkitd did not come up in {timeout} s:\n{log.read_text()}")


def _unix_ready(path: str) -> bool:
    with socket.socket(socket.AF_UNIX) as s:
        try:
            s.connect(path)
        except OSError:
            return False
    return True


class TwoHosts:
    """``a`` and ``b``: two namespaces on one veth pair, each with a root under ``base``;
    ``shared``: a directory both use. A context manager; ``close`` undoes everything."""

    def __init__(self, base: str | os.PathLike[str] | None = None) -> None:
        with _counter_lock:
            n = next(_counter)
        tag = f"{os.getpid() % 100000}x{n}"
        self.base = Path(base) if base is not None else Path(
            tempfile.mkdtemp(prefix="vk2h-", dir="/tmp"))
        self._own_base = base is None
        self.shared = self.base / "shared"
        self.shared.mkdir(parents=True, exist_ok=True)
        subnet = f"10.231.{n % 250}"
        self.a = Host(f"vkm{tag}a", f"{subnet}.1", self.base / "a")
        self.b = Host(f"vkm{tag}b", f"{subnet}.2", self.base / "b")
        self._links = (f"vkm{tag}a"[:15], f"vkm{tag}b"[:15])
        self._made: list[str] = []
        try:
            self._plumb()
        except BaseException:
            self.close()
            raise

    def _plumb(self) -> None:
        for host in (self.a, self.b):
            _ip("netns", "add", host.netns)
            self._made.append(host.netns)
            host.root.mkdir(parents=True, exist_ok=True)
            _ip("-n", host.netns, "link", "set", "lo", "up")
        link_a, link_b = self._links
        _ip("link", "add", link_a, "netns", self.a.netns, "type", "veth",
            "peer", "name", link_b, "netns", self.b.netns)
        for host, link in ((self.a, link_a), (self.b, link_b)):
            _ip("-n", host.netns, "addr", "add", f"{host.address}/24", "dev", link)
            _ip("-n", host.netns, "link", "set", link, "up")

    def cut(self) -> None:
        """Take the link down (a network failure between the hosts)."""
        _ip("-n", self.a.netns, "link", "set", self._links[0], "down")

    def close(self) -> None:
        for host in (self.a, self.b):
            for proc in host.extra:
                terminate(proc, 10)
            if host.daemon is not None:
                terminate(host.daemon.proc, 15)
        for ns in self._made:
            with contextlib.suppress(subprocess.SubprocessError):
                _ip("netns", "del", ns)
        self._made.clear()
        if self._own_base:
            shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> TwoHosts:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
