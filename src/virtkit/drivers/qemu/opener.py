"""Opening ``qemu://`` URIs: embedded in this process, or the daemon's system node."""

from __future__ import annotations

from typing import Any

from virtkit.drivers import registry
from virtkit.drivers.base import DriverTables
from virtkit.errors import ErrorCode, ErrorDomain, make_error

__all__ = ["open_connection"]


def open_connection(uri: Any, flags: int = 0) -> DriverTables | None:
    """``qemu:///embed?root=DIR`` here; ``qemu:///system`` only inside virtkitd (elsewhere
    the remote driver takes it to the daemon, as in libvirt). None declines the URI."""
    from virtkit.drivers.hostif import HostInterfaceDriver
    from virtkit.drivers.qemu.driver import QemuDriver
    from virtkit.drivers.qemu.node import node_for
    from virtkit.drivers.qemu.paths import QemuPaths

    path = uri.path or ""
    if path == "/embed":
        root = uri.params.get("root") if hasattr(uri, "params") else None
        if not root:
            raise make_error(ErrorCode.INVALID_ARG, ErrorDomain.QEMU,
                             "URI must be qemu:///embed?root=...")
        node = node_for(QemuPaths.embed(root))
        return DriverTables(QemuDriver(node, str(uri)), interface=HostInterfaceDriver())
    if path == "/system" and registry.daemon_root is not None:
        node = node_for(QemuPaths.system(registry.daemon_root), autostart=True)
        return DriverTables(QemuDriver(node, "qemu:///system"), interface=HostInterfaceDriver())
    return None
