"""The ``remote`` procedures that pass file descriptors, on the daemon side.

libvirt's remote_daemon_dispatch.c hand-writes these: the descriptors come
with the call (:mod:`virtkit.rpc.fdpass`) or go back with the reply.  They
call driver methods that only some drivers have (the QEMU driver's
``domain_open_graphics_fd`` ...); a driver without one answers libvirt's
"this function is not supported by the connection driver".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from virtkit.drivers import base
from virtkit.errors import ErrorDomain, no_support
from virtkit.rpc import fdpass
from virtkit.rpc import remote_procs as rp
from virtkit.rpc.wiretypes import converters

__all__ = ["FD_METHODS", "SERVER", "driver_method"]

Invoke = Callable[[base.DriverTables, Any], Any]

# procedure -> (hypervisor driver method, libvirt API it serves)
FD_METHODS: dict[str, tuple[str, str]] = {
    "domain_open_graphics": ("domain_open_graphics", "virDomainOpenGraphics"),
    "domain_open_graphics_fd": ("domain_open_graphics_fd", "virDomainOpenGraphicsFD"),
    "domain_create_xml_with_files": ("domain_create_xml_with_files",
                                     "virDomainCreateXMLWithFiles"),
    "domain_create_with_files": ("domain_create_with_files", "virDomainCreateWithFiles"),
    "domain_fd_associate": ("domain_fd_associate", "virDomainFDAssociate"),
    "domain_open_channel": ("domain_open_channel", "virDomainOpenChannel"),
}


def driver_method(driver: object, proc: str) -> Callable[..., Any]:
    """The driver's method for ``proc``, or libvirt's "not supported" error."""
    method, api = FD_METHODS[proc]
    fn: Callable[..., Any] | None = getattr(driver, method, None)
    if fn is None:  # libvirt-domain.c's virReportUnsupportedError
        raise no_support(api, ErrorDomain.DOMAIN)
    return fn


def _dom(value: Any) -> Any:
    to_py = converters(rp.remote_nonnull_domain)[0]
    assert to_py is not None
    return to_py(value)


def _wire_dom(ident: Any) -> Any:
    to_wire = converters(rp.remote_nonnull_domain)[1]
    assert to_wire is not None
    return to_wire(ident)


def _received() -> list[int]:
    """Copies of all the call's descriptors (the driver owns them)."""
    fds: list[int] = []
    try:
        for slot in range(fdpass.received_count()):
            fds.append(fdpass.dup_received(slot))
    except BaseException:
        fdpass.close_fds(fds)
        raise
    return fds


def _open_graphics(tables: base.DriverTables, args: Any) -> Any:
    fn = driver_method(tables.hypervisor, "domain_open_graphics")
    dom = _dom(args["dom"])
    fd = fdpass.dup_received(0)
    try:
        fn(dom, args["idx"], fd, args["flags"])
    finally:
        fdpass.close_fds((fd,))


def _open_graphics_fd(tables: base.DriverTables, args: Any) -> Any:
    fn = driver_method(tables.hypervisor, "domain_open_graphics_fd")
    fdpass.require_passing()  # before QEMU gets a client nobody could reach
    fd: int = fn(_dom(args["dom"]), args["idx"], args["flags"])
    try:
        fdpass.add_reply_fd(fd)
    finally:
        fdpass.close_fds((fd,))


def _with_files(proc: str, call: Callable[[Callable[..., Any], Any, list[int]], Any]) -> Invoke:
    def invoke(tables: base.DriverTables, args: Any) -> Any:
        fn = driver_method(tables.hypervisor, proc)
        fds = _received()
        try:
            return call(fn, args, fds)
        finally:
            fdpass.close_fds(fds)  # the driver keeps copies of what it holds on to

    return invoke


def _open_channel(tables: base.DriverTables, args: Any) -> Any:
    fn = driver_method(tables.hypervisor, "domain_open_channel")
    return None, fn(_dom(args["dom"]), args["name"], args["flags"])


SERVER: dict[str, Invoke] = {
    "domain_open_graphics": _open_graphics,
    "domain_open_graphics_fd": _open_graphics_fd,
    "domain_create_xml_with_files": _with_files(
        "domain_create_xml_with_files",
        lambda fn, a, fds: {"dom": _wire_dom(fn(a["xml_desc"], fds, a["flags"]))}),
    "domain_create_with_files": _with_files(
        "domain_create_with_files",
        lambda fn, a, fds: {"dom": _wire_dom(fn(_dom(a["dom"]), fds, a["flags"]))}),
    "domain_fd_associate": _with_files(
        "domain_fd_associate", lambda fn, a, fds: fn(_dom(a["dom"]), a["name"], fds, a["flags"])),
    "domain_open_channel": _open_channel,
}
"""Server-side bindings of the procedures above (``bindings.server_call`` serves them)."""
