"""A private OpenSSH server on a loopback port, for tests of the ``ssh`` transport.

:func:`start_sshd` generates a host key and a client key pair with
``ssh-keygen`` in its own directory, writes an ``sshd_config`` (127.0.0.1
only, public-key log-in only, its own pid file, no PAM) and runs
``/usr/sbin/sshd -D -e -f CONFIG -p PORT``.  ``known_hosts`` holds the host
key under ``[127.0.0.1]:PORT``; :meth:`SSHServer.uri` builds a
``driver+ssh://`` URI that uses the client key and that file, with
``no_tty=1`` so ssh never prompts.  Sessions get ``PATH`` with the running
interpreter's bin directory first, so the far side finds
``virtkit-ssh-helper``.  Stop it with :meth:`SSHServer.stop` (by pid).
"""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from virtkit.testing import terminate
from virtkit.testing.peers import free_port

__all__ = ["SSHD", "SSHServer", "keygen", "sshd_available", "start_sshd"]

SSHD = "/usr/sbin/sshd"
_PRIVSEP_DIR = "/run/sshd"


def sshd_available() -> bool:
    """True when OpenSSH's server (Debian: openssh-server) is installed."""
    return os.access(SSHD, os.X_OK)


def keygen(path: Path, comment: str = "virtkit-test") -> Path:
    """A new passphrase-less ed25519 key at ``path`` (public half at ``path.pub``)."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                   check=True, stdin=subprocess.DEVNULL, capture_output=True)
    return path


class SSHServer:
    """A running sshd with its client key and known_hosts file."""

    def __init__(self, proc: subprocess.Popen[bytes], directory: Path, port: int) -> None:
        self.proc = proc
        self.dir = directory
        self.port = port
        self.user = getpass.getuser()
        self.client_key = directory / "client_key"
        self.known_hosts = directory / "known_hosts"
        self.host_key = directory / "host_key"
        self.log = directory / "sshd.log"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def uri(self, driver: str = "qemu", path: str = "/system", **params: str) -> str:
        """``driver+ssh://USER@127.0.0.1:PORT/path`` with keyfile, known_hosts, no_tty=1
        and ``params`` (a value of ``None``-like ``""`` drops that default)."""
        query = {"keyfile": str(self.client_key), "known_hosts": str(self.known_hosts),
                 "no_tty": "1", **params}
        q = "&".join(f"{k}={v}" for k, v in query.items() if v != "")
        return f"{driver}+ssh://{self.user}@127.0.0.1:{self.port}{path}?{q}"

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM the listener (by pid), SIGKILL if it will not go."""
        return terminate(self.proc, timeout)

    def __enter__(self) -> SSHServer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def _config(directory: Path, user: str, env: dict[str, str], helper_on_path: bool) -> Path:
    dirs = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
    if helper_on_path:
        dirs.insert(0, os.path.dirname(sys.executable))
    setenv = {"PATH": os.pathsep.join(dirs), **env}
    conf = directory / "sshd_config"
    conf.write_text("\n".join([
        "ListenAddress 127.0.0.1",
        f"HostKey {directory / 'host_key'}",
        f"PidFile {directory / 'sshd.pid'}",
        f"AuthorizedKeysFile {directory / 'authorized_keys'}",
        "AuthenticationMethods publickey",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitRootLogin prohibit-password",
        f"AllowUsers {user}",
        "UsePAM no",
        "StrictModes no",
        "UseDNS no",
        "PrintMotd no",
        "X11Forwarding no",
        "AllowTcpForwarding no",
        "MaxStartups 50:30:100",
        "SetEnv " + " ".join(f'"{k}={v}"' for k, v in setenv.items()),
        "LogLevel VERBOSE",
        "",
    ]))
    return conf


def start_sshd(directory: str | os.PathLike[str], *, env: dict[str, str] | None = None,
               helper_on_path: bool = True, timeout: float = 15.0) -> SSHServer:
    """Generate keys and config in ``directory`` and start sshd on a free loopback port.

    ``env`` is set in every session (sshd's ``SetEnv``); ``helper_on_path=False``
    leaves this interpreter's bin directory (``virtkit-ssh-helper``) off ``PATH``."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    keygen(d / "host_key", "virtkit-test-host")
    keygen(d / "client_key")
    (d / "authorized_keys").write_text((d / "client_key.pub").read_text())
    os.makedirs(_PRIVSEP_DIR, mode=0o755, exist_ok=True)
    user = getpass.getuser()
    conf = _config(d, user, env or {}, helper_on_path)
    for _ in range(3):  # the port may be taken between free_port() and sshd's bind
        port = free_port()
        log = d / "sshd.log"
        with open(log, "ab") as out:
            proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(conf), "-p", str(port)],
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                    start_new_session=True)
        server = SSHServer(proc, d, port)
        if _wait_listening(proc, port, timeout):
            host_pub = (d / "host_key.pub").read_text().split()
            server.known_hosts.write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
            return server
        server.stop()
    raise RuntimeError(f"sshd did not come up:\n{(d / 'sshd.log').read_text(errors='replace')}")


def _wait_listening(proc: subprocess.Popen[bytes], port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
                s.settimeout(2.0)
                if s.recv(4).startswith(b"SSH-"):
                    return True
        except OSError:
            pass
        time.sleep(0.02)
    return False
