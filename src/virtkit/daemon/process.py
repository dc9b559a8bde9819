"""Process-level plumbing for ``virtkitd``: going into the background with a
status handshake, becoming a child subreaper, and reaping adopted orphans.

``daemonize`` follows libvirt's ``virDaemonForkIntoBackground``: fork; the
child points stdio at /dev/null, starts a new session and forks again; the
grandchild is the daemon.  The original process waits on a pipe for one
status byte: 0 when the daemon is serving, a libvirt ``VIR_DAEMON_ERR_*``
number when it failed (reported as libvirtd reports it), and exits with 0
or 1 accordingly.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import sys
from collections.abc import Callable

__all__ = [
    "DAEMON_ERRORS",
    "OrphanReaper",
    "StatusPipe",
    "daemonize",
    "set_child_subreaper",
]

log = logging.getLogger("virtkit.daemon")

# libvirt's virDaemonErr, indexed by status code.
DAEMON_ERRORS = (
    "Initialization successful",
    "Unable to obtain pidfile",
    "Unable to create rundir",
    "Unable to initialize libvirt",
    "Unable to setup signal handlers",
    "Unable to drop privileges",
    "Unable to initialize network sockets",
    "Unable to load configuration file",
    "Unable to look for hook scripts",
    "Unable to re-execute daemon",
    "Unable to initialize audit system",
    "Unable to initialize driver",
)
ERR_PIDFILE = 1
ERR_RUNDIR = 2
ERR_INIT = 3
ERR_SIGNAL = 4
ERR_NETWORK = 6
ERR_CONFIG = 7

_PR_SET_CHILD_SUBREAPER = 36


class StatusPipe:
    """The daemon's end of the start-up handshake (a no-op when ``fd`` is None)."""

    def __init__(self, fd: int | None = None) -> None:
        self.fd = fd

    def _send(self, code: int) -> None:
        fd, self.fd = self.fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.write(fd, bytes([code]))
        os.close(fd)

    def ready(self) -> None:
        """Tell the waiting parent the daemon is serving."""
        self._send(0)

    def failed(self, code: int) -> None:
        """Tell the waiting parent start-up failed with ``code`` (VIR_DAEMON_ERR_*)."""
        self._send(code or ERR_INIT)


def daemonize(prog: str) -> StatusPipe | int:
    """Go into the background.

    Returns a :class:`StatusPipe` in the daemon, and in the original
    process (after the daemon reported) the exit status it should use.
    Raises ``OSError`` if the first fork or the pipe fails.
    """
    read_fd, write_fd = os.pipe()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    pid = os.fork()
    if pid == 0:  # intermediate child
        try:
            os.close(read_fd)
            null_in = os.open(os.devnull, os.O_RDONLY)
            null_out = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null_in, 0)
            os.dup2(null_out, 1)
            os.dup2(null_out, 2)
            os.close(null_in)
            os.close(null_out)
            os.setsid()
            if os.fork() == 0:  # the daemon
                return StatusPipe(write_fd)
        except BaseException:
            os._exit(1)
        os._exit(0)

    os.close(write_fd)
    try:
        _, status = os.waitpid(pid, 0)
        if status != 0:
            os.close(read_fd)
            sys.stderr.write(f"{prog}: error: Failed to fork as daemon\n")
            return 1
        try:
            data = os.read(read_fd, 1)
            err = None if data else "end of file"
        except OSError as e:
            data, err = b"", e.strerror
    finally:
        with contextlib.suppress(OSError):
            os.close(read_fd)
    if not data:
        sys.stderr.write(f"{prog}: error: unable to determine if daemon is running: {err}\n")
        return 1
    if data[0] != 0:
        reason = DAEMON_ERRORS[data[0]] if data[0] < len(DAEMON_ERRORS) else "Unknown error"
        sys.stderr.write(f"{prog}: error: {reason}. Check the log or run without "
                         "--daemon for more info.\n")
        return 1
    return 0


def set_child_subreaper() -> bool:
    """``prctl(PR_SET_CHILD_SUBREAPER, 1)``: orphans of our descendants
    (guests that double-forked) become our children, not init's, so their
    exit is seen at once.  Returns False (and logs) where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            err = ctypes.get_errno()
            log.warning("cannot become a child subreaper: %s", os.strerror(err))
            return False
    except (OSError, AttributeError) as e:
        log.warning("cannot become a child subreaper: %s", e)
        return False
    return True


def _zombie_children(pid: int) -> set[int]:
    """Our children that have exited and wait to be reaped (Linux /proc)."""
    children: set[int] = set()
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return children
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as f:
                children.update(int(c) for c in f.read().split())
        except OSError:
            continue
    zombies = set()
    for child in children:
        try:
            with open(f"/proc/{child}/stat", encoding="ascii", errors="replace") as f:
                stat = f.read()
        except OSError:
            continue
        if stat[stat.rfind(")") + 2:].startswith("Z"):
            zombies.add(child)
    return zombies


class OrphanReaper:
    """Reaps children we adopted as a subreaper.

    Children the daemon starts itself are reaped by whoever started them
    (asyncio's child watcher, ``subprocess``); reaping those here would
    steal their exit status.  So on SIGCHLD this only notes the exited
    children, and reaps those still unreaped ``grace`` seconds later:
    adopted orphans, which nobody else waits for.  ``on_exit`` callbacks
    get ``(pid, wait status)``.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, *, grace: float = 1.0) -> None:
        self.loop = loop
        self.grace = grace
        self.on_exit: list[Callable[[int, int], None]] = []
        self._suspects: set[int] = set()
        self._pending: asyncio.TimerHandle | None = None

    def notify(self) -> None:
        """Call on SIGCHLD."""
        if self._pending is None:
            self._pending = self.loop.call_later(self.grace, self.sweep)

    def sweep(self) -> None:
        """Reap children that were already unreaped at the previous sweep."""
        self._pending = None
        zombies = _zombie_children(os.getpid())
        for pid in zombies & self._suspects:
            try:
                got, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                continue
            if got:
                log.debug("reaped adopted process %d (status %#x)", pid, status)
                for callback in self.on_exit:
                    callback(pid, status)
        self._suspects = zombies - self._suspects
        if self._suspects:
            self.notify()

    def close(self) -> None:
        """Stop watching."""
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
