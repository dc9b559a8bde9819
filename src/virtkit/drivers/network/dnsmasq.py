"""dnsmasq for a virtual network: its config (libvirt's shape), hosts files, process and leases.

The config is what libvirt's networkDnsmasqConfContents writes, line for line, plus
``pid-file=``. dnsmasq is started as ``dnsmasq --conf-file=CONF --dhcp-leasefile=LEASES``:
it daemonizes (the leader exits once the pid file is written), so it outlives the process
that started it; the lease file is dnsmasq's own format, read by :func:`read_leases`.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import select
import shutil
import signal
import subprocess
from dataclasses import dataclass

from virtkit.conf.network import (
    DhcpHost,
    Lease,
    NetworkDef,
    NetworkIP,
    generated_file_values,
    ip_interface,
)
from virtkit.conf.safechars import check_values
from virtkit.drivers.persist import write_atomic
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error

__all__ = [
    "DnsmasqFiles",
    "LeaseEntry",
    "build_config",
    "dnsmasq_pid",
    "ip_interface",
    "needs_dnsmasq",
    "read_leases",
    "reload",
    "start",
    "stop",
]

_NET = ErrorDomain.NETWORK


def _err(code: int, detail: str) -> VirtError:
    return make_error(code, _NET, detail)


@dataclass(frozen=True)
class DnsmasqFiles:
    """The files of one network's dnsmasq."""

    conf: str
    hostsfile: str
    addnhosts: str
    leases: str
    pidfile: str

    def all(self) -> tuple[str, ...]:
        return (self.conf, self.hostsfile, self.addnhosts, self.leases, self.pidfile)


def _has_dhcp(ip: NetworkIP) -> bool:
    return ip.dhcp is not None and bool(ip.dhcp.ranges or ip.dhcp.hosts)


def needs_dnsmasq(d: NetworkDef) -> bool:
    """libvirt's networkStartDhcpDaemon test: some address, and DHCP, TFTP or DNS wanted."""
    if not d.ips:
        return False
    if any(_has_dhcp(ip) or (ip.tftp is not None and ip.tftp.root) for ip in d.ips):
        return True
    return not (d.dns is not None and d.dns.enable == "no")


def _lease_time(lease: Lease | None) -> str | None:
    if lease is None or lease.expiry is None:
        return None
    n = int(lease.expiry)
    if n == 0:
        return "infinite"
    return f"{n}{(lease.unit or 'minutes')[0]}"


def _host_line(h: DhcpHost, ipv6: bool) -> str | None:
    """One dhcp-hostsfile line (libvirt's hostsfileAdd)."""
    if not h.ip:
        return None
    ip = str(ipaddress.ip_address(h.ip))
    if ipv6:
        parts = []
        if h.id:
            parts.append(f"id:{h.id}")
        if h.name:
            parts.append(h.name)
        line = ",".join([*parts, f"[{ip}]"])
    elif h.name and h.mac:
        line = f"{h.mac},{ip},{h.name}"
    elif h.name:
        line = f"{h.name},{ip}"
    else:
        line = f"{h.mac},{ip}"
    lt = _lease_time(h.lease)
    return f"{line},{lt}" if lt else line


def _range_size(start: str, end: str) -> int:
    return int(ipaddress.ip_address(end)) - int(ipaddress.ip_address(start)) + 1


def build_config(d: NetworkDef, files: DnsmasqFiles) -> tuple[str, str, str]:
    """(config, dhcp hosts file, addn-hosts file) for network ``d`` (bridge name set).

    A value with a control character is refused here too (it would start a new option)."""
    check_values(generated_file_values(d), ErrorDomain.NETWORK)
    name, bridge = d.name or "", d.bridge_name or ""
    dns = d.dns
    want_dns = not (dns is not None and dns.enable == "no")
    out = [
        "##WARNING:  THIS IS AN AUTO-GENERATED FILE. CHANGES TO IT ARE LIKELY TO BE\n",
        "##OVERWRITTEN AND LOST.  Changes to this configuration should be made using:\n",
        f"##    virsh net-edit {name}\n",
        "## or other application using the libvirt API.\n",
        "##\n## dnsmasq conf file created by libvirt\n",
        "strict-order\n",
    ]
    if not want_dns:
        out.append("port=0\n")
    if want_dns and dns is not None and dns.forwarders:
        no_resolv = False
        for fwd in dns.forwarders:
            line = "server="
            if fwd.domain:
                line += f"/{fwd.domain}/"
            if fwd.addr:
                line += f"{ipaddress.ip_address(fwd.addr)}\n"
                if not fwd.domain:
                    no_resolv = True
            else:
                line += "#\n"
            out.append(line)
        if no_resolv:
            out.append("no-resolv\n")
    if d.domain is not None and d.domain.name:
        if d.domain.localOnly == "yes":
            out.append(f"local=/{d.domain.name}/\n")
        out.append(f"domain={d.domain.name}\nexpand-hosts\n")
    if want_dns:
        for ip in d.ips:
            if ip.localPtr == "yes":
                out.append(f"local=/{_ptr_domain(ip)}/\n")
    if want_dns and dns is not None and dns.forwardPlainNames == "no":
        out.append("domain-needed\nlocal=//\n")
    out.append(f"pid-file={files.pidfile}\n")
    out.append("except-interface=lo\n")
    out.append(f"bind-dynamic\ninterface={bridge}\n")
    if d.forward_mode is None:
        out.append("dhcp-option=3\nno-resolv\nra-param=*,0,0\n")
    if want_dns and dns is not None:
        for txt in dns.txts:
            out.append(f"txt-record={txt.name},{txt.value}\n")
        for srv in dns.srvs:
            out.append(_srv_line(srv, name))
    ipv4def: NetworkIP | None = None
    ipv6def: NetworkIP | None = None
    tftp = False
    for ip in d.ips:
        v6 = ip_interface(ip).version == 6
        if _has_dhcp(ip):
            if (ipv6def if v6 else ipv4def) is not None:
                fam = "IPv6" if v6 else "IPv4"
                raise _err(ErrorCode.CONFIG_UNSUPPORTED,
                           f"For {fam}, multiple DHCP definitions cannot be specified.")
            if v6:
                ipv6def = ip
            else:
                ipv4def = ip
        if not v6 and ip.tftp is not None and ip.tftp.root:
            if not tftp:
                out.append("enable-tftp\n")
                tftp = True
            out.append(f"tftp-root={ip.tftp.root}\n")
    nleases = 0
    hosts: list[str] = []
    for dhcp_ip in (ipv4def, ipv6def):
        if dhcp_ip is None or dhcp_ip.dhcp is None:
            continue
        ip, dhcp = dhcp_ip, dhcp_ip.dhcp
        iface = ip_interface(ip)
        v6 = iface.version == 6
        for r in dhcp.ranges:
            start = str(ipaddress.ip_address(r.start or ""))
            end = str(ipaddress.ip_address(r.end or ""))
            mask = str(iface.network.prefixlen) if v6 else str(iface.netmask)
            line = f"dhcp-range={start},{end},{mask}"
            lt = _lease_time(r.lease)
            out.append(f"{line},{lt}\n" if lt else f"{line}\n")
            nleases += _range_size(start, end)
        if not dhcp.ranges and dhcp.hosts:
            line = f"dhcp-range={iface.ip},static"
            out.append(f"{line},{iface.network.prefixlen}\n" if v6 else f"{line}\n")
        hosts.extend(h for h in (_host_line(x, v6) for x in dhcp.hosts) if h)
        if not v6:
            out.append("dhcp-no-override\ndhcp-authoritative\n")
            boot = dhcp.bootp
            if boot is not None and boot.file:
                out.append(f"dhcp-boot={boot.file},,{boot.server}\n" if boot.server
                           else f"dhcp-boot={boot.file}\n")
    if nleases > 0:
        out.append(f"dhcp-lease-max={nleases}\n")
    if ipv4def is not None or ipv6def is not None:
        out.append(f"dhcp-hostsfile={files.hostsfile}\n")
    if want_dns:
        out.append(f"addn-hosts={files.addnhosts}\n")
    if d.mtu is not None and d.mtu.size and int(d.mtu.size) > 0:
        out.append(f"dhcp-option=option:mtu,{int(d.mtu.size)}\n")
    if ipv6def is not None:
        out.append("enable-ra\n")
    else:
        for ip in d.ips:
            iface = ip_interface(ip)
            if iface.version == 6 and not _has_dhcp(ip):
                out.append(f"dhcp-range={iface.ip},ra-only\n")
    out.extend(f"{opt}\n" for opt in d.dnsmasq_options)
    return "".join(out), "".join(f"{h}\n" for h in hosts), _addn_hosts(d)


def _addn_hosts(d: NetworkDef) -> str:
    """libvirt's addnhosts file: ``IP<TAB>NAME<TAB>...`` per address."""
    if d.dns is None:
        return ""
    lines: dict[str, list[str]] = {}
    for h in d.dns.hosts:
        if not h.ip:
            continue
        lines.setdefault(str(ipaddress.ip_address(h.ip)), []).extend(h.hostnames)
    return "".join(ip + "\t" + "".join(f"{n}\t" for n in names) + "\n"
                   for ip, names in lines.items() if names)


def _srv_line(srv: object, net: str) -> str:
    service, protocol = getattr(srv, "service", None), getattr(srv, "protocol", None)
    if not service or not protocol:
        raise _err(ErrorCode.INTERNAL_ERROR,
                   f"Missing required 'service' attribute in SRV record of network '{net}'")
    line = f"srv-host=_{service}._{protocol}"
    domain, target = getattr(srv, "domain", None), getattr(srv, "target", None)
    if domain:
        line += f".{domain}"
    if target and target != ".":
        line += f",{target}"
        port, prio, weight = (int(getattr(srv, k, None) or 0)
                              for k in ("port", "priority", "weight"))
        if port or prio or weight:
            line += f",{port or 1}"
        if prio or weight:
            line += f",{prio}"
        if weight:
            line += f",{weight}"
    return line + "\n"


def _ptr_domain(ip: NetworkIP) -> str:
    iface = ip_interface(ip)
    net = iface.network
    if net.version == 4:
        if net.prefixlen % 8:
            raise _err(ErrorCode.CONFIG_UNSUPPORTED,
                       f"PTR domain for IPv4 network with prefix {net.prefixlen} "
                       "cannot be automatically created")
        octets = str(net.network_address).split(".")[: net.prefixlen // 8]
        return ".".join(reversed(octets)) + ".in-addr.arpa"
    if net.prefixlen % 4:
        raise _err(ErrorCode.CONFIG_UNSUPPORTED,
                   f"PTR domain for IPv6 network with prefix {net.prefixlen} "
                   "cannot be automatically created")
    nibbles = net.network_address.exploded.replace(":", "")[: net.prefixlen // 4]
    return ".".join(reversed(nibbles)) + ".ip6.arpa"


# ----------------------------------------------------------------------------- process


def write_files(d: NetworkDef, files: DnsmasqFiles) -> None:
    """Write the config and both hosts files (0644: dnsmasq re-reads them unprivileged)."""
    conf, hosts, addn = build_config(d, files)
    try:
        for path, data in ((files.conf, conf), (files.hostsfile, hosts),
                           (files.addnhosts, addn)):
            write_atomic(path, data, mode=0o644)
    except OSError as exc:
        raise _err(ErrorCode.SYSTEM_ERROR,
                   f"couldn't write dnsmasq config file '{files.conf}': {exc.strerror}") from None


def _binary() -> str:
    path = shutil.which("dnsmasq") or next(
        (p for p in ("/usr/sbin/dnsmasq", "/sbin/dnsmasq") if os.access(p, os.X_OK)), None)
    if path is None:
        raise _err(ErrorCode.OPERATION_FAILED,
                   "Cannot find 'dnsmasq' on PATH: install dnsmasq(-base) to run virtual networks")
    return path


def start(d: NetworkDef, files: DnsmasqFiles) -> int:
    """Write the files and start dnsmasq; returns the daemon's pid."""
    write_files(d, files)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(files.pidfile)
    if not os.path.exists(files.leases):
        write_atomic(files.leases, b"", mode=0o644)
    argv = [_binary(), f"--conf-file={files.conf}", f"--dhcp-leasefile={files.leases}"]
    # The leader exits once the daemon has written its pid file.
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        msg = (proc.stderr or proc.stdout).strip()
        raise _err(ErrorCode.INTERNAL_ERROR,
                   f"Child process ({' '.join(argv)}) unexpected exit status "
                   f"{proc.returncode}: {msg}")
    pid = dnsmasq_pid(files)
    if pid is None:
        raise _err(ErrorCode.INTERNAL_ERROR,
                   f"dnsmasq started but no live process in pid file '{files.pidfile}'")
    return pid


def dnsmasq_pid(files: DnsmasqFiles, pid: int | None = None) -> int | None:
    """The pid of the dnsmasq running with ``files.conf`` (from the pid file unless given),
    or None: the process must exist and its command line must name our config."""
    if pid is None:
        try:
            with open(files.pidfile) as f:
                pid = int(f.read().strip() or "0")
        except (OSError, ValueError):
            return None
    if pid <= 0:
        return None
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return None
    if not argv or os.path.basename(argv[0]) != b"dnsmasq":
        return None
    if f"--conf-file={files.conf}".encode() not in argv:
        return None
    with contextlib.suppress(OSError), open(f"/proc/{pid}/stat", "rb") as f:
        if f.read().rsplit(b")", 1)[1].split()[0] == b"Z":
            return None
    return pid


def reload(d: NetworkDef, files: DnsmasqFiles, pid: int) -> None:
    """Rewrite the hosts files and SIGHUP dnsmasq (it re-reads them; the config stays)."""
    write_files(d, files)
    if dnsmasq_pid(files, pid) is None:
        raise _err(ErrorCode.OPERATION_FAILED, f"dnsmasq (pid {pid}) is not running")
    os.kill(pid, signal.SIGHUP)


def stop(files: DnsmasqFiles, pid: int | None, timeout: float = 5.0) -> None:
    """Stop our dnsmasq (only if ``pid`` is still it) and wait until it has exited.

    Waits on a pidfd, which is ready once the process has finished exiting (its sockets
    closed): ``/proc/PID/cmdline`` empties earlier in the exit, and a dnsmasq started
    right after (net-update of a range restarts it) would find its address in use."""
    if pid is None or dnsmasq_pid(files, pid) is None:
        return
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        if dnsmasq_pid(files, pid) is None:  # the pid is ours: the fd names our process
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(fd, sig)
            if select.select([fd], [], [], timeout)[0]:
                return
    finally:
        os.close(fd)


def remove_files(files: DnsmasqFiles) -> None:
    for path in files.all():
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


# ----------------------------------------------------------------------------- leases


@dataclass(frozen=True)
class LeaseEntry:
    """One lease from dnsmasq's lease file."""

    expiry: int  # seconds since the epoch, 0 = infinite
    mac: str
    ip: str
    hostname: str | None
    clientid: str | None
    iaid: str | None = None


def read_leases(path: str) -> list[LeaseEntry]:
    """Parse dnsmasq's lease file (IPv4 lines, then ``duid`` and IPv6 lines).

    IPv6 leases carry no MAC; it is taken from a link-layer DUID (types 1 and 3,
    Ethernet) and leases without one are left out.
    """
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return []
    out: list[LeaseEntry] = []
    v6 = False
    for line in lines:
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "duid":
            v6 = True
            continue
        if len(parts) < 4:
            continue
        try:
            expiry = int(parts[0])
        except ValueError:
            continue
        host = None if parts[3] == "*" else parts[3]
        cid = parts[4] if len(parts) > 4 and parts[4] != "*" else None
        if v6:
            mac = _mac_from_duid(cid)
            if mac is None:
                continue
            out.append(LeaseEntry(expiry, mac, parts[2], host, cid, iaid=parts[1]))
        else:
            out.append(LeaseEntry(expiry, parts[1].lower(), parts[2], host, cid))
    return out


def _mac_from_duid(duid: str | None) -> str | None:
    if not duid:
        return None
    octets = duid.split(":")
    if len(octets) < 4 or octets[2:4] != ["00", "01"]:
        return None
    kind = octets[:2]
    if kind == ["00", "01"] and len(octets) == 14:
        return ":".join(octets[8:]).lower()
    if kind == ["00", "03"] and len(octets) == 10:
        return ":".join(octets[4:]).lower()
    return None
