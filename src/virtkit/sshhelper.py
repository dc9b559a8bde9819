"""``virtkit-ssh-helper``: the far side of the ``ssh`` transport (libvirt's virt-ssh-helper).

The client's ssh runs ``virtkit-ssh-helper [-r] [-s SOCKET] URI`` on the
remote host; the helper connects to the daemon's unix socket and copies
bytes between its stdin/stdout (the ssh channel) and that socket until one
side ends.  The socket is ``-s SOCKET`` when given, else picked from the
URI as virt-ssh-helper picks it: the per-user runtime directory for a
``/session`` (or ``test+``) URI of an unprivileged user, else
``/var/run/libvirt/virt<driver>d-sock`` when that modular daemon's socket
exists, else ``/var/run/libvirt/libvirt-sock`` (``-sock-ro`` with ``-r``).
With ``$VIRTKIT_ROOT`` set (a virtkitd running with ``--root``), a system
socket is ``$VIRTKIT_ROOT/run/libvirt/libvirt-sock[-ro]``.

It runs once per connection, so it imports almost nothing (``_socket``,
``_thread``): start-up cost is the interpreter's.
"""

from __future__ import annotations

import _socket
import _thread
import os
import sys
import time

__all__ = ["main", "socket_for_uri"]

_USAGE = """\
Usage:
  {prog} [OPTION...] URI - libvirt socket proxy

Internal tool used to handle connections coming from remote
clients. Not intended to be called directly by the user.

Options:
  -r, --readonly       Connect read-only
  -s, --socket PATH    Connect to this unix socket instead of the URI's
  -V, --version        Display version information
"""
_CHUNK = 1024 * 1024
_LINGER = 5.0  # seconds to wait for the daemon to hang up after the client did


class _Usage(Exception):
    pass


def _split_uri(uri: str) -> tuple[str, str | None, str, bool]:
    """(driver, transport, path, has_server) of ``uri``, without importing virtkit.uri."""
    scheme, sep, rest = uri.partition(":")
    if not sep or not scheme or not scheme[0].isalpha():
        raise ValueError(f"Unable to parse URI {uri}")
    rest = rest.split("#", 1)[0].split("?", 1)[0]
    server = False
    if rest.startswith("//"):
        authority, slash, path = rest[2:].partition("/")
        server = bool(authority.rpartition("@")[2].split(":", 1)[0].strip("[]"))
        rest = slash + path
    driver, _, transport = scheme.partition("+")
    return driver.lower(), (transport.lower() or None), rest, server


def socket_for_uri(uri: str, readonly: bool) -> str:
    """The daemon socket virt-ssh-helper would pick for ``uri`` (see the module docstring)."""
    driver, transport, path, server = _split_uri(uri)
    if transport not in (None, "unix") or (transport is None and server):
        raise ValueError(f"unexpected URI transport '{uri}'")
    if (path == "/session" or (transport is not None and driver == "test")) and os.geteuid() > 0:
        runtime = os.environ.get("XDG_RUNTIME_DIR") or os.path.join(
            os.path.expanduser("~"), ".cache")
        return os.path.join(runtime, "libvirt", "libvirt-sock")
    suffix = "sock-ro" if readonly else "sock"
    root = os.environ.get("VIRTKIT_ROOT")
    if root and os.path.abspath(root) != "/":  # virtkitd --root: its run dir is under ROOT
        return os.path.join(os.path.abspath(root), "run", "libvirt", f"libvirt-{suffix}")
    if driver and driver != "remote":
        direct = f"/var/run/libvirt/virt{driver}d-{suffix}"
        if os.path.exists(direct):
            return direct
    return f"/var/run/libvirt/libvirt-{suffix}"


def _parse(argv: list[str]) -> tuple[bool, str | None, str]:
    readonly, sock_path, rest = False, None, list[str]()
    args = iter(argv)
    for arg in args:
        if arg in ("-r", "--readonly"):
            readonly = True
        elif arg in ("-s", "--socket"):
            sock_path = next(args, None)
            if sock_path is None:
                raise _Usage(f"Missing argument for {arg}")
        elif arg.startswith("--socket="):
            sock_path = arg.partition("=")[2]
        elif arg in ("-V", "--version"):
            raise _Usage("version")
        elif arg in ("-h", "--help"):
            raise _Usage("help")
        elif arg == "--":
            rest.extend(args)
        elif arg.startswith("-") and arg != "-":
            raise _Usage(f"Unknown option {arg}")
        else:
            rest.append(arg)
    if len(rest) != 1:
        raise _Usage("")
    return readonly, sock_path, rest[0]


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _hang_up(sock: _socket.socket) -> None:
    try:
        sock.shutdown(_socket.SHUT_RDWR)
    except OSError:
        return


def _pump_stdin(sock: _socket.socket, fd: int) -> None:
    """stdin -> socket; at EOF half-close the socket and give the daemon time to hang up."""
    try:
        while True:
            data = os.read(fd, _CHUNK)
            if not data:
                break
            sock.sendall(data)
        sock.shutdown(_socket.SHUT_WR)
    except OSError:
        _hang_up(sock)  # wakes the main thread's recv(): it ends the proxy
        return
    time.sleep(_LINGER)
    os._exit(0)


def _proxy(sock: _socket.socket, in_fd: int, out_fd: int) -> int:
    """Copy both ways until the daemon's side ends; the exit status."""
    _thread.start_new_thread(_pump_stdin, (sock, in_fd))
    try:
        while True:
            data = sock.recv(_CHUNK)
            if not data:
                return 0
            _write_all(out_fd, data)
    except OSError:
        return 0  # the client went away (EPIPE) or the connection was reset


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``virtkit-ssh-helper``."""
    args = sys.argv[1:] if argv is None else argv
    prog = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "virtkit-ssh-helper"
    try:
        readonly, sock_path, uri = _parse(args)
    except _Usage as e:
        if str(e) == "version":
            from virtkit import __version__

            print(f"{prog} (virtkit) {__version__}")
            return 0
        if str(e) and str(e) != "help":
            sys.stderr.write(f"option parsing failed: {e}\n")
        (sys.stdout if str(e) == "help" else sys.stderr).write(_USAGE.format(prog=prog))
        return 0 if str(e) == "help" else 1
    if sock_path is None:
        try:
            sock_path = socket_for_uri(uri, readonly)
        except ValueError as e:
            sys.stderr.write(f"{prog}: cannot parse URI transport '{uri}': {e}\n")
            return 1
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        address: str | bytes = sock_path
        if sock_path.startswith("@"):
            address = b"\0" + sock_path[1:].encode()
        sock.connect(address)
    except OSError as e:
        sys.stderr.write(f"{prog}: cannot connect to '{sock_path}': Failed to connect socket "
                         f"to '{sock_path}': {os.strerror(e.errno or 5)}\n")
        return 1
    status = _proxy(sock, sys.stdin.fileno(), sys.stdout.fileno())
    sys.stdout.flush()
    os._exit(status)  # the stdin thread may still be blocked in read()


if __name__ == "__main__":
    sys.exit(main())
