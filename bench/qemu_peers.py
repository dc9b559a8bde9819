"""Daemons for the QEMU benchmarks: Debian's libvirtd with its QEMU driver, kept private.

A privileged libvirtd's QEMU driver reads /etc/libvirt/qemu.conf and keeps its
state in /etc/libvirt/qemu, /run/libvirt/qemu, /var/lib/libvirt/qemu,
/var/log/libvirt/qemu and /var/cache/libvirt/qemu; no option or environment
variable moves them. So libvirtd runs here in a private mount namespace
(``unshare --mount``) where /etc and /var are overlays whose upper layers live on
a tmpfs only that namespace sees, and /run/libvirt is that tmpfs too. The
``libvirt-qemu`` user and the ``kvm`` group it insists on (see
shared/reference/libvirtd-peer.md) and qemu.conf are written into the overlay.
Nothing on the host's /etc, /var or /run changes; everything goes away with the
namespace. The client socket lives in the run directory, outside the namespace.

libvirt detaches QEMU (double fork), so QEMU's parent is whoever reaps orphans.
PID 1 here reaps only every ~1.7 s, and libvirt's destroy() waits for the reap.
libvirtd therefore runs under a small *subreaper* (this file run as a script:
``prctl(PR_SET_CHILD_SUBREAPER)`` and a ``waitpid`` loop), which reaps at once,
as systemd would. virtkitd starts QEMU as its own child and reaps it itself.

Run as a script: ``python qemu_peers.py reaper PIDFILE -- ARGV...``.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from virtkit.testing import terminate
from virtkit.testing.peers import Daemon, start_virtkitd

LIBVIRTD = "/usr/sbin/libvirtd"
QEMU_MODULE = "/usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so"
PR_SET_CHILD_SUBREAPER = 36

QEMU_CONF = """\
# written by virtkit's bench/qemu_peers.py (private overlay; see libvirtd-peer.md)
stdio_handler = "file"
security_driver = "none"
user = "root"
group = "root"
"""


def _libvirtd_conf(sock_dir: Path) -> str:
    return "\n".join([
        "listen_tls = 0", "listen_tcp = 0", f'unix_sock_dir = "{sock_dir}"',
        'auth_unix_rw = "none"', 'auth_unix_ro = "none"', 'log_outputs = "3:stderr"', "",
    ])


def _setup_script(root: Path, conf: Path, pid_file: Path) -> str:
    """The shell run inside the new mount namespace before it execs libvirtd."""
    ns = root / "ns"
    q = shlex.quote
    lines = [
        "set -e",
        f"mount -t tmpfs -o mode=0755 tmpfs {q(str(ns))}",
        f"mkdir -p {q(str(ns))}/etc-u {q(str(ns))}/etc-w {q(str(ns))}/var-u {q(str(ns))}/var-w"
        f" {q(str(ns))}/run",
        f"mount -t overlay overlay -o lowerdir=/etc,upperdir={q(str(ns))}/etc-u,"
        f"workdir={q(str(ns))}/etc-w /etc",
        f"mount -t overlay overlay -o lowerdir=/var,upperdir={q(str(ns))}/var-u,"
        f"workdir={q(str(ns))}/var-w /var",
        # /run/libvirt exists only where libvirtd once ran: make the mount point (an
        # empty directory on the host's /run, as libvirt-daemon's own start makes it)
        "mkdir -p /run/libvirt",
        f"mount --bind {q(str(ns))}/run /run/libvirt",
        "getent group libvirt-qemu >/dev/null || echo 'libvirt-qemu:x:64055:' >> /etc/group",
        "getent group kvm >/dev/null || echo 'kvm:x:64056:libvirt-qemu' >> /etc/group",
        "getent passwd libvirt-qemu >/dev/null || echo 'libvirt-qemu:x:64055:64055:"
        "Libvirt Qemu,,,:/var/lib/libvirt:/usr/sbin/nologin' >> /etc/passwd",
        "mkdir -p /etc/libvirt",
        f"cp {q(str(root / 'qemu.conf'))} /etc/libvirt/qemu.conf",
        f"exec {LIBVIRTD} -f {q(str(conf))} -p {q(str(pid_file))}",
    ]
    return "\n".join(lines) + "\n"


@dataclass
class LibvirtdQemu:
    """libvirtd (QEMU driver) under its subreaper, in a private mount namespace."""

    reaper: subprocess.Popen[bytes]
    root: Path
    sock: str
    pid: int  # libvirtd itself (for its memory and CPU), not the subreaper
    log: Path

    @property
    def uri(self) -> str:
        return f"qemu+unix:///system?socket={self.sock}"

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM the subreaper (it passes it on, then kills what is left); wait."""
        return terminate(self.reaper, timeout)

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""


@contextlib.contextmanager
def qemu_system_pair(root: Path) -> Iterator[tuple[str, str]]:
    """libvirtd (QEMU driver) and virtkitd side by side under ``root``: their
    ``qemu:///system`` URIs (libvirtd's, virtkitd's); both stopped by pid at the end."""
    lv = start_libvirtd_qemu(root / "libvirtd")
    vk: Daemon | None = None
    try:
        vk = start_virtkitd(root / "virtkitd")
        yield lv.uri, vk.uri("unix", "/system", "qemu")
    finally:
        if vk is not None:
            vk.stop()
        lv.stop()


def start_libvirtd_qemu(root: str | os.PathLike[str], timeout: float = 30.0,
                        extra_modules: tuple[str, ...] = (),
                        netns: str | None = None) -> LibvirtdQemu:
    """Start libvirtd with only its QEMU driver module (plus ``extra_modules``, e.g.
    ``"storage"`` for libvirt_driver_storage.so); wait for its socket. ``netns``: run it
    (and so its bridges, firewall rules, dnsmasq and taps) inside that existing network
    namespace (``ip netns exec NETNS``)."""
    root = Path(root)
    for d in ("run", "drivers", "ns"):
        (root / d).mkdir(parents=True, exist_ok=True)
    wanted = [QEMU_MODULE, *(os.path.join(os.path.dirname(QEMU_MODULE),
                                           f"libvirt_driver_{m}.so") for m in extra_modules)]
    for path in wanted:
        module = root / "drivers" / os.path.basename(path)
        if not module.exists():
            module.symlink_to(path)
    conf = root / "libvirtd.conf"
    conf.write_text(_libvirtd_conf(root / "run"))
    (root / "qemu.conf").write_text(QEMU_CONF)
    pid_file = root / "run" / "libvirtd.pid"
    script = root / "setup.sh"
    script.write_text(_setup_script(root, conf, pid_file))
    log = root / "libvirtd.log"
    env = dict(os.environ, LIBVIRT_DRIVER_DIR=str(root / "drivers"))
    env.pop("LIBVIRT_DEFAULT_URI", None)
    argv = ["unshare", "--mount", "--propagation", "private", "--", "sh", str(script)]
    if netns is not None:
        argv = ["ip", "netns", "exec", netns, *argv]
    with open(log, "wb") as out:
        reaper = subprocess.Popen(
            [sys.executable, __file__, "reaper", "--", *argv],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=root, start_new_session=True)
    sock = str(root / "run" / "libvirt-sock")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if reaper.poll() is not None:
            raise RuntimeError(f"libvirtd exited ({reaper.returncode}):\n{log.read_text()}")
        if os.path.exists(sock) and pid_file.exists():
            with socket.socket(socket.AF_UNIX) as s:
                try:
                    s.connect(sock)
                except OSError:
                    pass
                else:
                    pid = int(pid_file.read_text().split()[0])
                    return LibvirtdQemu(reaper, root, sock, pid, log)
        time.sleep(0.02)
    peer = LibvirtdQemu(reaper, root, sock, 0, log)
    peer.stop()
    raise RuntimeError(f"libvirtd did not come up in {timeout} s:\n{log.read_text()}")


# --- the subreaper (script mode) -------------------------------------------------------


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (orphans this subreaper adopted included)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(entry))
    return out


def reaper_main(argv: list[str]) -> int:
    """Become a child subreaper, run ``argv``, reap everything until it exits.

    SIGTERM/SIGINT go to the main child. When it has exited, adopted children still
    running (QEMUs libvirt left behind) are killed, reaped, and its status returned.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
    child = subprocess.Popen(argv)
    main_pid = child.pid

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(main_pid, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    status = 0
    main_done = False
    while True:
        try:
            pid, wstatus = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        if pid == main_pid:
            main_done = True
            status = os.waitstatus_to_exitcode(wstatus)
        if main_done:
            for left in _children(os.getpid()):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(left, signal.SIGKILL)
    return status if status >= 0 else 128 - status


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "reaper" and sys.argv[2] == "--":
        sys.exit(reaper_main(sys.argv[3:]))
    print(f"usage: {sys.argv[0]} reaper -- ARGV...", file=sys.stderr)
    sys.exit(2)
