"""Run daemons side by side for interop tests and benchmarks: virtkitd and Debian's libvirtd.

Each daemon gets a private directory (its sockets, pid file, config and
logs), listens on a unix socket and on a loopback TCP port, and serves the
``test`` driver, so ``test+unix:///default?socket=...`` and
``test+tcp://127.0.0.1:PORT/default`` reach a fresh ``test:///default``
node. Stop them with :meth:`Daemon.stop` (or use them as context managers);
only the process started here is signalled, by pid.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from virtkit.testing import terminate

__all__ = ["Daemon", "free_port", "libvirtd_available", "start_libvirtd", "start_virtkitd"]

LIBVIRTD = "/usr/sbin/libvirtd"


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def libvirtd_available() -> bool:
    """True when Debian's libvirtd is installed."""
    return os.access(LIBVIRTD, os.X_OK)


class Daemon:
    """A daemon process with its sockets and its log."""

    def __init__(self, kind: str, proc: subprocess.Popen[bytes], root: Path, sock: str,
                 sock_ro: str, port: int, log: Path, tls_port: int = 0) -> None:
        self.kind = kind
        self.proc = proc
        self.root = root
        self.sock = sock
        self.sock_ro = sock_ro
        self.port = port
        self.tls_port = tls_port
        self.log = log

    @property
    def pid(self) -> int:
        return self.proc.pid

    def uri(self, transport: str = "unix", path: str = "/default", driver: str = "test") -> str:
        """A client URI for this daemon (``unix``, ``unix-ro``, ``tcp`` or ``tls``; add
        ``?pkipath=`` to a ``tls`` one)."""
        if transport == "tls":
            return f"{driver}+tls://127.0.0.1:{self.tls_port}{path}"
        if transport == "tcp":
            return f"{driver}+tcp://127.0.0.1:{self.port}{path}"
        sock = self.sock_ro if transport == "unix-ro" else self.sock
        return f"{driver}+unix://{path}?socket={sock}"

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, wait, SIGKILL if it will not go; returns the exit status."""
        return terminate(self.proc, timeout)

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def __enter__(self) -> Daemon:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def _tcp_listening(port: int) -> bool:
    """Whether a socket of this network namespace listens on TCP ``port`` (read from
    /proc, so no connection is made that the daemon would count as a client)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                return True
    return False


def _serves(path: str) -> bool:
    """Whether the daemon answers a call on its unix socket ``path`` (REMOTE_PROC_AUTH_LIST,
    answered before authentication). Daemons accept clients only once their drivers are
    initialised, so this also waits for that."""
    from virtkit.rpc.message import FrameReader, Header, MessageType, encode_message
    from virtkit.rpc.protocol import REMOTE_PROGRAM, REMOTE_PROTOCOL_VERSION

    auth_list = 66  # REMOTE_PROC_AUTH_LIST
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.5)
            sock.connect(path)
            sock.sendall(encode_message(Header(REMOTE_PROGRAM, REMOTE_PROTOCOL_VERSION,
                                               auth_list, MessageType.CALL, 1), b""))
            reader = FrameReader()
            while True:
                data = sock.recv(4096)
                if not data:
                    return False
                if reader.feed(data):
                    return True
    except OSError:
        return False


def _wait_for(proc: subprocess.Popen[bytes], paths: list[str], port: int, log: Path,
              timeout: float, tls_port: int = 0) -> None:
    """Until the sockets exist, the TCP ports listen and the daemon serves (its drivers
    initialised). No TCP connection is made: the limit tests count every client."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"daemon exited with {proc.returncode}:\n{log.read_text()}")
        if all(os.path.exists(p) for p in paths) \
                and all(_tcp_listening(p) for p in ((port, tls_port) if tls_port else (port,))) \
                and _serves(paths[0]):
            return
        time.sleep(0.02)
    proc.kill()
    proc.wait(5)
    raise RuntimeError(f"daemon did not come up in {timeout} s:\n{log.read_text()}")


def _conf(path: Path, port: int, sock_dir: str | None, extra: str) -> None:
    lines = [
        "listen_tls = 0", "listen_tcp = 1", 'listen_addr = "127.0.0.1"', f'tcp_port = "{port}"',
        'auth_tcp = "none"', 'auth_unix_rw = "none"', 'auth_unix_ro = "none"',
        'log_outputs = "3:stderr"',
    ]
    if sock_dir:
        lines.append(f'unix_sock_dir = "{sock_dir}"')
    # The first setting of a key wins (virConf): ``extra`` overrides by removing ours.
    given = {line.split("=", 1)[0].strip() for line in extra.splitlines() if "=" in line}
    lines = [line for line in lines if line.split("=", 1)[0].strip() not in given]
    path.write_text("\n".join(lines) + "\n" + extra)


def _tls_conf(tls: str | os.PathLike[str] | bool | None) -> tuple[int, str]:
    """``tls``: True for libvirt's default certificate paths, or a directory in the
    ``pkipath`` layout (cacert.pem, servercert.pem, serverkey.pem). Returns a free
    TLS port and the config lines that listen on it ("" without TLS)."""
    if tls is None or tls is False:
        return 0, ""
    port = free_port()
    lines = f'listen_tls = 1\ntls_port = "{port}"\n'
    if tls is not True:
        pki = Path(tls).resolve()
        lines += (f'ca_file = "{pki / "cacert.pem"}"\ncert_file = "{pki / "servercert.pem"}"\n'
                  f'key_file = "{pki / "serverkey.pem"}"\n')
    return port, lines


def start_virtkitd(root: str | os.PathLike[str], *, extra_conf: str = "",
                   args: tuple[str, ...] = (), timeout: float = 15.0,
                   tls: str | os.PathLike[str] | bool | None = None) -> Daemon:
    """Start ``virtkitd --root ROOT --listen`` (this interpreter) and wait for its sockets
    (``tls``: also listen for TLS, see :func:`_tls_conf`; ``Daemon.tls_port``)."""
    root = Path(root)
    (root / "etc" / "libvirt").mkdir(parents=True, exist_ok=True)
    port = free_port()
    tls_port, tls_lines = _tls_conf(tls)
    _conf(root / "etc" / "libvirt" / "libvirtd.conf", port, None, tls_lines + extra_conf)
    log = root / "virtkitd.log"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "virtkit.daemon.main", "--root", str(root), "--listen", *args],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    sock_dir = root / "run" / "libvirt"
    sock, sock_ro = str(sock_dir / "libvirt-sock"), str(sock_dir / "libvirt-sock-ro")
    _wait_for(proc, [sock, sock_ro], port, log, timeout, tls_port)
    return Daemon("virtkitd", proc, root, sock, sock_ro, port, log, tls_port)


def start_libvirtd(root: str | os.PathLike[str], *, extra_conf: str = "",
                   timeout: float = 15.0,
                   tls: str | os.PathLike[str] | bool | None = None) -> Daemon:
    """Start Debian's libvirtd with only its built-in test driver, in ``root``.

    ``LIBVIRT_DRIVER_DIR`` points at an empty directory so no other driver
    module (QEMU, network, storage ...) loads; see
    shared/reference/libvirtd-peer.md."""
    if not libvirtd_available():
        raise RuntimeError(f"{LIBVIRTD} is missing: apt-get install libvirt-daemon")
    root = Path(root)
    for d in ("run", "etc", "drivers"):
        (root / d).mkdir(parents=True, exist_ok=True)
    port = free_port()
    sock_dir = root / "run"
    conf = root / "etc" / "libvirtd.conf"
    tls_port, tls_lines = _tls_conf(tls)
    _conf(conf, port, str(sock_dir), tls_lines + extra_conf)
    log = root / "libvirtd.log"
    env = dict(os.environ, LIBVIRT_DRIVER_DIR=str(root / "drivers"))
    env.pop("LIBVIRT_DEFAULT_URI", None)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [LIBVIRTD, "--listen", "-f", str(conf), "-p", str(root / "run" / "libvirtd.pid")],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=root, start_new_session=True)
    sock, sock_ro = str(sock_dir / "libvirt-sock"), str(sock_dir / "libvirt-sock-ro")
    _wait_for(proc, [sock, sock_ro], port, log, timeout, tls_port)
    return Daemon("libvirtd", proc, root, sock, sock_ro, port, log, tls_port)


def cleanup(root: str | os.PathLike[str]) -> None:
    """Remove a daemon's directory (after it stopped)."""
    shutil.rmtree(root, ignore_errors=True)
