"""Which driver opens a URI (libvirt's ``virConnectDriverTab`` walk).

Local drivers claim URIs by scheme and never see a host or transport. Every
URI they do not claim goes to the remote driver, exactly as in libvirt:
``qemu+ssh://host/system``, ``test+tcp://localhost/default``, or a bare
``qemu:///system`` when no local qemu driver is loaded.  Inside virtkitd the
remote driver declines a URI without a host (libvirt's ``inside_daemon``
check): ``lxc:///system`` is "no connection driver available", never a
connection to the system daemon's socket.

Drivers are imported only when a URI selects them, so ``import virtkit``
stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable

from virtkit.drivers.base import DriverTables
from virtkit.drivers.context import OpenContext
from virtkit.errors import make_error
from virtkit.errtables import ErrorCode, ErrorDomain
from virtkit.uri import TRANSPORTS, ParsedURI

__all__ = ["LOCAL_DRIVERS", "Opener", "open_tables", "remote_opener"]

Opener = Callable[[ParsedURI, int], DriverTables]
LocalOpener = Callable[[ParsedURI, int, OpenContext | None], DriverTables | None]


def _open_test(uri: ParsedURI, flags: int, ctx: OpenContext | None) -> DriverTables:
    from virtkit.drivers import inmemory

    return inmemory.open_connection(uri, flags)


def _open_qemu(uri: ParsedURI, flags: int, ctx: OpenContext | None) -> DriverTables | None:
    from virtkit.drivers.compose import open_connection

    return open_connection(uri, flags, ctx)


def _open_secret(uri: ParsedURI, flags: int, ctx: OpenContext | None) -> DriverTables | None:
    from virtkit.drivers.secret.driver import open_connection

    return open_connection(uri, flags, ctx)


def _open_nodedev(uri: ParsedURI, flags: int, ctx: OpenContext | None) -> DriverTables | None:
    from virtkit.drivers.nodedev.driver import open_connection

    return open_connection(uri, flags, ctx)


# scheme -> opener of the local (in-process) drivers; an opener may return None to
# decline a URI it cannot serve here (qemu:///system outside the daemon).
LOCAL_DRIVERS: dict[str, LocalOpener] = {
    "test": _open_test,
    "qemu": _open_qemu,
    "secret": _open_secret,
    "nodedev": _open_nodedev,
}


def _open_remote(uri: ParsedURI, flags: int) -> DriverTables:
    from virtkit.drivers import remote

    return remote.open_connection(uri, flags)


# The remote driver (one entry, like libvirt's "remote"); tests may swap it.
remote_opener: Opener | None = _open_remote


def open_tables(uri: ParsedURI, flags: int, ctx: OpenContext | None = None) -> DriverTables:
    """Open the driver tables for ``uri``; VIR_ERR_NO_CONNECT when no driver takes it.

    ``ctx`` is virtkitd's (its system drivers' root); None in any other process, where
    ``qemu:///system`` goes to the daemon through the remote driver."""
    if not uri.is_remote:
        opener = LOCAL_DRIVERS.get(uri.scheme)
        if opener is not None:
            tables = opener(uri, flags, ctx)
            if tables is not None:
                return tables
    if uri.transport is not None and uri.transport not in TRANSPORTS:
        raise make_error(
            ErrorCode.INVALID_ARG,
            ErrorDomain.REMOTE,
            "remote_open: transport in URL not recognised "
            "(should be tls|unix|ssh|ext|tcp|libssh2|libssh)",
        )
    if remote_opener is not None and not _remote_declines(uri, ctx):
        return remote_opener(uri, flags)
    raise make_error(ErrorCode.NO_CONNECT, ErrorDomain.NONE, str(uri))


def _remote_declines(uri: ParsedURI, ctx: OpenContext | None) -> bool:
    """Inside the daemon the remote driver takes only URIs naming a host."""
    return ctx is not None and not uri.host
