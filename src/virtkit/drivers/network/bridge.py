"""Linux bridges, addresses and routes through netlink (pyroute2), and the sysctls a
network needs. Everything acts on the network namespace of the calling process."""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
from collections.abc import Iterator
from typing import Any

from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error

__all__ = [
    "Address",
    "check_route_collision",
    "create_bridge",
    "delete_link",
    "link_exists",
    "set_sysctl",
]

_NET = ErrorDomain.NETWORK
IFA_F_NODAD = 0x02
IFNAMSIZ = 16

Address = ipaddress.IPv4Interface | ipaddress.IPv6Interface


@contextlib.contextmanager
def _ipr() -> Iterator[Any]:
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        yield ipr


def _sys_error(what: str, exc: BaseException) -> VirtError:
    code = getattr(exc, "code", None) or getattr(exc, "errno", None) or 0
    reason = os.strerror(code) if isinstance(code, int) and code > 0 else str(exc)
    return VirtError(f"{what}: {reason}", code=ErrorCode.SYSTEM_ERROR, domain=_NET,
                     int1=code if isinstance(code, int) else 0)


def link_index(name: str) -> int | None:
    """The interface index of ``name``, or None when there is no such device."""
    with _ipr() as ipr:
        found = ipr.link_lookup(ifname=name)
    return int(found[0]) if found else None


def link_exists(name: str) -> bool:
    return link_index(name) is not None


def is_bridge(name: str) -> bool:
    """Whether ``name`` exists and is a bridge."""
    with _ipr() as ipr:
        found = ipr.link_lookup(ifname=name)
        if not found:
            return False
        link = ipr.link("get", index=found[0])[0]
    return bool(link.get(("IFLA_LINKINFO", "IFLA_INFO_KIND")) == "bridge")


def create_bridge(
    name: str, *, mac: str | None, mtu: int | None, stp: bool, delay: int,
    addresses: list[Address], routes: list[tuple[str, str]],
) -> None:
    """Create bridge ``name``, configure it, add ``addresses`` and bring it up.

    ``routes`` are (destination/prefix, gateway) pairs routed through the bridge.
    The bridge is deleted again when a later step fails. An existing device of that
    name is never taken over (EEXIST is reported).
    """
    if len(name.encode()) >= IFNAMSIZ:
        raise make_error(ErrorCode.INTERNAL_ERROR, _NET,
                         f"Network interface name '{name}' is too long")
    with _ipr() as ipr:
        kwargs: dict[str, Any] = {"ifname": name, "kind": "bridge",
                                  "br_forward_delay": max(delay, 0) * 100}
        if mac:
            kwargs["address"] = mac
        try:
            ipr.link("add", **kwargs)
        except Exception as exc:
            raise _sys_error(f"Unable to create bridge {name}", exc) from None
        try:
            idx = ipr.link_lookup(ifname=name)[0]
            if stp:
                # Set after the delay, as libvirt does (the kernel clamps the delay to
                # its STP minimum of 2 seconds once STP is on).
                ipr.link("set", index=idx, kind="bridge", br_stp_state=1)
            if mtu:
                ipr.link("set", index=idx, mtu=mtu)
            if any(a.version == 6 for a in addresses):
                set_sysctl(f"net/ipv6/conf/{name}/disable_ipv6", "0", missing_ok=True)
                set_sysctl(f"net/ipv6/conf/{name}/accept_ra", "0", missing_ok=True)
                set_sysctl(f"net/ipv6/conf/{name}/autoconf", "0", missing_ok=True)
            for a in addresses:
                extra: dict[str, Any] = {}
                if a.version == 4:
                    extra["broadcast"] = str(a.network.broadcast_address)
                else:
                    extra["flags"] = IFA_F_NODAD  # no carrier yet: DAD would never finish
                try:
                    ipr.addr("add", index=idx, address=str(a.ip),
                             prefixlen=a.network.prefixlen, **extra)
                except Exception as exc:
                    raise _sys_error(
                        f"Failed to add IP address {a.ip}/{a.network.prefixlen} to {name}",
                        exc) from None
            try:
                ipr.link("set", index=idx, state="up")
            except Exception as exc:
                raise _sys_error(f"Unable to set flags on '{name}'", exc) from None
            for dest, gateway in routes:
                net = ipaddress.ip_network(dest, strict=False)
                try:
                    ipr.route("add", dst=str(net.network_address), dst_len=net.prefixlen,
                              gateway=gateway, oif=idx)
                except Exception as exc:
                    raise _sys_error(f"Failed to add route to {dest} via {gateway}",
                                     exc) from None
        except BaseException:
            with contextlib.suppress(Exception):
                ipr.link("del", ifname=name)
            raise


def delete_link(name: str) -> None:
    """Delete device ``name`` (a device that is already gone is fine)."""
    with _ipr() as ipr:
        found = ipr.link_lookup(ifname=name)
        if not found:
            return
        try:
            ipr.link("del", index=found[0])
        except Exception as exc:
            if getattr(exc, "code", None) == errno.ENODEV:
                return
            raise _sys_error(f"Unable to delete bridge {name}", exc) from None


def check_route_collision(addresses: list[Address]) -> None:
    """libvirt's networkCheckRouteCollision: refuse a subnet another device routes."""
    v4 = [a for a in addresses if a.version == 4]
    if not v4:
        return
    with _ipr() as ipr:
        routes = ipr.get_routes(family=2, table=254)
        names = {int(link["index"]): link.get("ifname") for link in ipr.get_links()}
    for r in routes:
        dst, dst_len = r.get("dst"), r["dst_len"]
        if not dst or dst_len == 0:
            continue
        net = ipaddress.ip_network(f"{dst}/{dst_len}", strict=False)
        for a in v4:
            if net == a.network:
                dev = names.get(int(r.get("oif") or 0), "?")
                raise make_error(ErrorCode.INTERNAL_ERROR, _NET,
                                 f"Network is already in use by interface {dev}")


def bridge_stp(name: str) -> tuple[bool, int]:
    """(stp on, forward delay in seconds) of bridge ``name`` (used by tests and status)."""
    with _ipr() as ipr:
        idx = ipr.link_lookup(ifname=name)[0]
        data = ipr.link("get", index=idx)[0].get(("IFLA_LINKINFO", "IFLA_INFO_DATA"))
    return bool(data.get("IFLA_BR_STP_STATE")), int(data.get("IFLA_BR_FORWARD_DELAY")) // 100


def addresses_of(name: str) -> list[str]:
    """``ADDR/PREFIX`` of every address on ``name``."""
    with _ipr() as ipr:
        found = ipr.link_lookup(ifname=name)
        if not found:
            return []
        return [f"{a.get('IFA_ADDRESS')}/{a['prefixlen']}" for a in ipr.get_addr(index=found[0])]


def set_sysctl(key: str, value: str, *, missing_ok: bool = False) -> None:
    """Write ``value`` to /proc/sys/KEY (per network namespace for net/*)."""
    path = os.path.join("/proc/sys", key)
    try:
        with open(path, "w") as f:
            f.write(value)
    except FileNotFoundError:
        if not missing_ok:
            raise make_error(ErrorCode.SYSTEM_ERROR, _NET,
                             f"cannot write to '{path}': no such file") from None
    except OSError as exc:
        raise _sys_error(f"cannot write to '{path}'", exc) from None


def get_sysctl(key: str) -> str | None:
    try:
        with open(os.path.join("/proc/sys", key)) as f:
            return f.read().strip()
    except OSError:
        return None
