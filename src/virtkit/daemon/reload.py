"""What ``virtkitd`` does on ``SIGHUP`` (libvirtd's ``daemonReloadHandler``), clients staying.

libvirtd 9.0 only calls ``virStateReload``: each state driver re-reads its
config dir and autostarts.  virtkitd does, in this order:

* the access policy file (``access_drivers = ["virtkit"]``) is read again and
  swapped in; one that does not load keeps the old policy (the reason is logged);
* the TLS listener's context is built again from the key, certificate, CA and
  CRL files: new handshakes use it, established sessions keep theirs; files that
  do not pass keep the old context (the reason is logged);
* the audit log is re-opened by its name (logrotate);
* the state drivers reload (drivers/state.py): the network and storage drivers
  pick up definitions added to their config dirs and the autostart links, then
  autostart.

``libvirtd.conf`` itself is not read again (as libvirtd): its other settings,
the listeners and the limits need a restart.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from virtkit.errors import VirtError

if TYPE_CHECKING:
    from virtkit.daemon.config import DaemonConfig
    from virtkit.daemon.paths import DaemonPaths
    from virtkit.drivers.state import StateDrivers
    from virtkit.rpc.server import Server

__all__ = ["reload_daemon"]

log = logging.getLogger("virtkit.daemon.reload")


def reload_daemon(dispatcher: Any, server: Server, config: DaemonConfig, paths: DaemonPaths,
                  states: StateDrivers, *, tls: bool) -> bool:
    """Reload everything listed above (``tls``: there is a TLS listener); errors are
    logged, never raised.  Returns whether everything reloaded."""
    ok = True
    reload = getattr(dispatcher, "reload", None)
    if reload is not None:
        try:
            ok = bool(reload())
        except Exception:
            log.exception("cannot reload the access policy or the audit log")
            ok = False
    if tls:
        ok = _reload_tls(server, config, paths) and ok
    ok = states.reload() and ok
    return ok


def _reload_tls(server: Server, config: DaemonConfig, paths: DaemonPaths) -> bool:
    """virt-admin's server-update-tls, its errors logged instead of returned."""
    from virtkit.daemon.admin import update_tls_files

    try:
        update_tls_files(server, config, paths)
    except VirtError as e:
        log.error("TLS credentials not reloaded, keeping the previous ones: %s", e)
        return False
    return True
