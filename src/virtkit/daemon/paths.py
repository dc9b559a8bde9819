"""Where ``virtkitd`` keeps things: libvirtd's layout for a privileged daemon.

Every path hangs off a *root* (``/`` normally; ``--root DIR`` or
``$VIRTKIT_ROOT`` for a private tree), keeping libvirt's shape underneath,
so ``DIR/run/libvirt/libvirt-sock`` is what ``/run/libvirt/libvirt-sock``
is on a real host.  The names are libvirtd's own (``libvirtd.conf``,
``libvirtd.pid``): virtkitd is a drop-in replacement.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

__all__ = ["DAEMON_NAME", "SOCK_PREFIX", "DaemonPaths"]

DAEMON_NAME = "libvirtd"
SOCK_PREFIX = "libvirt"

# Directory modes used when virtkitd creates a directory (existing ones are
# left alone).  /var/log/libvirt holds logs that may name guests and paths.
_DIR_MODE = 0o755
_LOG_DIR_MODE = 0o700


@dataclass(frozen=True)
class DaemonPaths:
    """The daemon's files and directories under ``root``.

    ``unix_sock_dir`` is libvirtd.conf's setting of that name (a host path:
    it is moved under ``root`` like every other); ``pid_file`` is the
    ``--pid-file`` argument, used exactly as given ("" means no pid file).
    """

    root: str = "/"
    unix_sock_dir: str | None = None
    pid_file_override: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", os.path.abspath(self.root or "/"))

    def under(self, path: str) -> str:
        """``path`` (a path as it would be on a real host) moved under the root.

        A relative path is taken relative to the root when a root is set,
        and to the current directory otherwise; ``..`` cannot climb out of
        the root.
        """
        if self.root == "/":
            return os.path.abspath(path)
        inside = os.path.normpath("/" + path).lstrip("/")
        return os.path.join(self.root, inside) if inside else self.root

    def with_settings(self, *, unix_sock_dir: str | None = None,
                      pid_file: str | None = None) -> DaemonPaths:
        """A copy with the config file's socket dir and ``--pid-file`` applied."""
        return replace(self,
                       unix_sock_dir=unix_sock_dir if unix_sock_dir is not None
                       else self.unix_sock_dir,
                       pid_file_override=pid_file if pid_file is not None
                       else self.pid_file_override)

    # -- libvirt's directories ------------------------------------------------

    @property
    def runstate_dir(self) -> str:
        """``/run``."""
        return self.under("/run")

    @property
    def config_dir(self) -> str:
        """``/etc/libvirt``: libvirtd.conf and drivers' persistent config."""
        return self.under("/etc/libvirt")

    @property
    def run_dir(self) -> str:
        """``/run/libvirt``: live status of drivers (and the sockets by default)."""
        return self.under("/run/libvirt")

    @property
    def state_dir(self) -> str:
        """``/var/lib/libvirt``: drivers' state (images, dnsmasq leases, ...)."""
        return self.under("/var/lib/libvirt")

    @property
    def log_dir(self) -> str:
        """``/var/log/libvirt``: the daemon's and guests' logs."""
        return self.under("/var/log/libvirt")

    @property
    def cache_dir(self) -> str:
        """``/var/cache/libvirt``."""
        return self.under("/var/cache/libvirt")

    @property
    def pki_dir(self) -> str:
        """``/etc/pki``: TLS certificates (libvirt's defaults live here)."""
        return self.under("/etc/pki")

    # -- files ------------------------------------------------------------------

    @property
    def config_file(self) -> str:
        """The default config file, ``/etc/libvirt/libvirtd.conf``."""
        return os.path.join(self.config_dir, f"{DAEMON_NAME}.conf")

    @property
    def sock_dir(self) -> str:
        """Where the unix sockets live: ``unix_sock_dir`` or ``/run/libvirt``."""
        if self.unix_sock_dir is not None:
            return self.under(self.unix_sock_dir)
        return self.run_dir

    @property
    def sock_rw(self) -> str:
        """The read-write socket, ``libvirt-sock``."""
        return os.path.join(self.sock_dir, f"{SOCK_PREFIX}-sock")

    @property
    def sock_ro(self) -> str:
        """The read-only socket, ``libvirt-sock-ro``."""
        return os.path.join(self.sock_dir, f"{SOCK_PREFIX}-sock-ro")

    @property
    def sock_admin(self) -> str:
        """The admin socket, ``libvirt-admin-sock``."""
        return os.path.join(self.sock_dir, f"{SOCK_PREFIX}-admin-sock")

    @property
    def pid_file(self) -> str:
        """``--pid-file`` if given, else ``/run/libvirtd.pid``; "" means none."""
        if self.pid_file_override is not None:
            return self.pid_file_override
        return os.path.join(self.runstate_dir, f"{DAEMON_NAME}.pid")

    @property
    def log_file(self) -> str:
        """The daemon's own log when it runs in the background."""
        return os.path.join(self.log_dir, f"{DAEMON_NAME}.log")

    @property
    def tls_ca_cert(self) -> str:
        """libvirt's default CA certificate."""
        return os.path.join(self.pki_dir, "CA", "cacert.pem")

    @property
    def tls_ca_crl(self) -> str:
        """libvirt's default certificate revocation list."""
        return os.path.join(self.pki_dir, "CA", "cacrl.pem")

    @property
    def tls_server_cert(self) -> str:
        """libvirt's default server certificate."""
        return os.path.join(self.pki_dir, "libvirt", "servercert.pem")

    @property
    def tls_server_key(self) -> str:
        """libvirt's default server private key."""
        return os.path.join(self.pki_dir, "libvirt", "private", "serverkey.pem")

    # -- creation ---------------------------------------------------------------

    def ensure_dirs(self) -> None:
        """Create the daemon's directories that do not exist yet.

        Missing parents are created too; modes are libvirt's (0755, the log
        directory 0700) and apply only to directories created here.  Raises
        ``OSError`` naming the directory that could not be made.
        """
        wanted = [
            (self.runstate_dir, _DIR_MODE),
            (self.run_dir, _DIR_MODE),
            (self.sock_dir, _DIR_MODE),
            (self.config_dir, _DIR_MODE),
            (self.state_dir, _DIR_MODE),
            (self.cache_dir, _DIR_MODE),
            (self.log_dir, _LOG_DIR_MODE),
        ]
        if self.pid_file:
            wanted.append((os.path.dirname(os.path.abspath(self.pid_file)), _DIR_MODE))
        for path, mode in wanted:
            _makedirs(path, mode)


def _makedirs(path: str, mode: int) -> None:
    if os.path.isdir(path):
        return
    parent = os.path.dirname(path)
    if parent and parent != path:
        _makedirs(parent, _DIR_MODE)
    try:
        os.mkdir(path)
    except FileExistsError:
        if not os.path.isdir(path):
            raise
        return
    os.chmod(path, mode)  # exact mode, whatever the umask
