"""The ``ssh`` transport: the system ssh client carrying RPC to a far-side socket proxy.

As libvirt's ``virNetClientNewSSH`` / ``virNetSocketNewConnectSSH`` do, the
client runs::

    ssh [-p PORT] [-l USER] [-i KEYFILE] -T -e none [-o BatchMode=yes]
        [-o StrictHostKeyChecking=no] -- HOST "sh -c '...'"

with a socketpair as ssh's stdin/stdout.  The remote command (``proxy=``):

* ``native``: ``virtkit-ssh-helper [-r] [-s SOCKET] URI`` (see
  :mod:`virtkit.sshhelper`), or libvirt's ``virt-ssh-helper [-r] URI`` on a
  host without virtkit (only when no ``socket=`` was given: it takes none);
* ``netcat``: libvirt's snippet, ``nc [-q0] -U SOCKET`` (``netcat=`` names nc);
* ``auto``: the first of those helpers the far side has, else netcat.

virtkit extensions (libvirt's ssh transport ignores these, its libssh
transports honour them): ``known_hosts=FILE`` becomes ``-o
UserKnownHostsFile=FILE`` and ``known_hosts_verify=auto|ignore`` becomes
``StrictHostKeyChecking=accept-new|no``.
"""

from __future__ import annotations

import os

from virtkit.errors import make_error
from virtkit.errtables import ErrorCode, ErrorDomain
from virtkit.rpc.transport import CommandSocket, connect_command
from virtkit.uri import ParsedURI, RemoteOptions

__all__ = ["HELPER", "LIBVIRT_HELPER", "connect_ssh", "remote_command", "ssh_argv"]

HELPER = "virtkit-ssh-helper"
LIBVIRT_HELPER = "virt-ssh-helper"

_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                  "_-.,/:@+%^")


def sh_quote(text: str) -> str:
    """Quote ``text`` for a POSIX shell (bare when it needs no quoting)."""
    if text and all(c in _SAFE for c in text):
        return text
    return "'" + text.replace("'", "'\\''") + "'"


def _netcat_script(netcat: str | None, sock_path: str) -> str:
    nc = sh_quote(netcat or "nc")
    # libvirt's probe: a netcat whose -q wants an argument needs -q0 to exit at EOF.
    return (f'if {nc} -q 2>&1 | grep "requires an argument" >/dev/null 2>&1; then '
            f"ARG=-q0;else ARG=;fi;exec {nc} $ARG -U {sh_quote(sock_path)}")


def _helper_cmd(helper: str, driver_uri: str, readonly: bool, sock_path: str | None) -> str:
    parts = [helper]
    if readonly:
        parts.append("-r")
    if sock_path is not None:
        parts += ["-s", sh_quote(sock_path)]
    parts.append(sh_quote(driver_uri))
    return "exec " + " ".join(parts)


def remote_command(proxy: str, *, netcat: str | None, sock_path: str,
                   explicit_socket: bool, driver_uri: str, readonly: bool) -> str:
    """The command line ssh runs on the far side (libvirt's ``virNetClientSSHHelperCommand``)."""
    if proxy == "auto" and netcat is not None:
        proxy = "netcat"  # a netcat path means the user wants the nc proxy (as libvirt)
    ours = _helper_cmd(HELPER, driver_uri, readonly, sock_path if explicit_socket else None)
    branches = [(HELPER, ours)]
    if not explicit_socket:  # virt-ssh-helper cannot take a socket path
        branches.append((LIBVIRT_HELPER, _helper_cmd(LIBVIRT_HELPER, driver_uri, readonly, None)))
    if proxy == "netcat":
        script = _netcat_script(netcat, sock_path)
    elif proxy == "native":
        if netcat is not None:
            raise make_error(ErrorCode.INVALID_ARG, ErrorDomain.RPC,
                             "netcat path not valid with native proxy mode")
        script = _chain(branches[:-1], branches[-1][1])
    else:
        script = _chain(branches, _netcat_script(netcat, sock_path))
    return "sh -c " + sh_quote(script)


def _chain(branches: list[tuple[str, str]], fallback: str) -> str:
    if not branches:
        return fallback
    out = []
    for i, (prog, cmd) in enumerate(branches):
        out.append(f"{'if' if i == 0 else 'elif'} command -v {prog} >/dev/null 2>&1; then {cmd};")
    return " ".join(out) + f" else {fallback}; fi"


def _is_user(uri: ParsedURI) -> bool:
    """libvirt's REMOTE_DRIVER_OPEN_USER for a remote URI (remoteGetURIDaemonInfo)."""
    return (uri.path == "/session" or uri.driver == "test") and os.geteuid() > 0


def default_socket(uri: ParsedURI, readonly: bool) -> str:
    """The socket the netcat proxy uses when ``socket=`` is absent (libvirt's legacy path)."""
    if _is_user(uri):
        runtime = os.environ.get("XDG_RUNTIME_DIR") or os.path.join(
            os.path.expanduser("~"), ".cache")
        return os.path.join(runtime, "libvirt", "libvirt-sock")
    return "/var/run/libvirt/libvirt-sock" + ("-ro" if readonly else "")


def _option_value(path: str) -> str:
    # ssh splits -o values on whitespace; double quotes keep a path whole.
    return f'"{path}"' if any(c.isspace() for c in path) else path


def ssh_argv(uri: ParsedURI, opts: RemoteOptions, readonly: bool) -> list[str]:
    """The ssh command line for ``uri`` (``virNetSocketNewConnectSSH``'s argv)."""
    if opts.mode == "direct":
        raise make_error(ErrorCode.OPERATION_UNSUPPORTED, ErrorDomain.REMOTE,
                         "Cannot use direct socket mode for ssh transport")
    proxy = opts.proxy
    if proxy is None:
        # libvirt: native for session URIs; auto (helper, else nc) otherwise.  An explicit
        # socket makes libvirt use nc; virtkit's helper takes the path, so auto still works.
        proxy = "native" if _is_user(uri) and opts.socket is None else "auto"
    sock_path = opts.socket or default_socket(uri, readonly)
    command = remote_command(proxy, netcat=opts.netcat, sock_path=sock_path,
                             explicit_socket=opts.socket is not None,
                             driver_uri=uri.local_uri(), readonly=readonly)
    argv = [opts.command or "ssh"]
    if uri.port:
        argv += ["-p", str(uri.port)]
    if uri.user:
        argv += ["-l", uri.user]
    if opts.keyfile:
        argv += ["-i", opts.keyfile]
    argv += ["-T", "-e", "none"]
    if opts.no_tty:
        argv += ["-o", "BatchMode=yes"]
    if opts.known_hosts:
        argv += ["-o", "UserKnownHostsFile=" + _option_value(opts.known_hosts)]
    if opts.no_verify or opts.known_hosts_verify == "ignore":
        argv += ["-o", "StrictHostKeyChecking=no"]
    elif opts.known_hosts_verify == "auto":
        argv += ["-o", "StrictHostKeyChecking=accept-new"]
    argv += ["--", uri.host or "localhost", command]
    return argv


def connect_ssh(uri: ParsedURI, opts: RemoteOptions, readonly: bool) -> CommandSocket:
    """Run ssh for ``uri`` with a socketpair as its stdio; return our end."""
    return connect_command(ssh_argv(uri, opts, readonly))
