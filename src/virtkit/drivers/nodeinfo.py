"""Facts about the real host, read from /proc and /sys (for drivers that manage it).

What libvirt's ``virhostcpu.c``, ``virhostmem.c`` and ``virnuma.c`` do on Linux, shared
by every driver that runs on the real host (QEMU, later LXC). :class:`Host` reads a
tree under ``root`` (``/`` on a real host; a tree a test built otherwise); the module
functions use the real host's.
"""

from __future__ import annotations

import os
import platform
import socket
from collections.abc import Callable, Mapping

from virtkit.constants import (
    NodeGetCPUStatsAllCPUs,
    NodeGetMemoryStatsAllCells,
    TypedParameterFlags,
)
from virtkit.errors import (
    ErrorCode,
    ErrorDomain,
    VirtError,
    invalid_arg,
    invalid_flags,
    make_error,
    no_support,
)
from virtkit.types import NodeInfo, TypedParams, TypedValue

__all__ = [
    "KSM_PARAMS",
    "Host",
    "cells_free_memory",
    "cpu_count",
    "cpu_map",
    "cpu_stats",
    "free_memory_bytes",
    "free_pages",
    "host",
    "hostname",
    "memory_kib",
    "memory_parameters",
    "memory_stats",
    "node_info",
    "online_cpus",
    "set_memory_parameters",
    "sev_info",
]

# virNodeGetCPUStats fields (VIR_NODE_CPU_STATS_KERNEL, _USER, _IDLE, _IOWAIT)
CPU_KERNEL, CPU_USER, CPU_IDLE, CPU_IOWAIT = "kernel", "user", "idle", "iowait"
# virNodeGetMemoryStats fields (VIR_NODE_MEMORY_STATS_TOTAL, _FREE, _BUFFERS, _CACHED)
_MEMINFO_FIELDS = (("MemTotal", "total"), ("MemFree", "free"), ("Buffers", "buffers"),
                   ("Cached", "cached"))
_MEMORY_STATS_CELL = 2  # LINUX_NB_MEMORY_STATS_CELL: a cell's meminfo has total and free

# virNodeGetMemoryParameters (VIR_NODE_MEMORY_SHARED_*): name -> (ksm file, libvirt's
# typed-parameter type name, settable), in libvirt's order.
KSM_PARAMS: dict[str, tuple[str, str, bool]] = {
    "shm_pages_to_scan": ("pages_to_scan", "uint", True),
    "shm_sleep_millisecs": ("sleep_millisecs", "uint", True),
    "shm_pages_shared": ("pages_shared", "ullong", False),
    "shm_pages_sharing": ("pages_sharing", "ullong", False),
    "shm_pages_unshared": ("pages_unshared", "ullong", False),
    "shm_pages_volatile": ("pages_volatile", "ullong", False),
    "shm_full_scans": ("full_scans", "ullong", False),
    "shm_merge_across_nodes": ("merge_across_nodes", "uint", True),
}
_UINT_MAX = 0xFFFFFFFF


def _parse_cpulist(text: str) -> list[int]:
    """``0-3,5`` -> [0, 1, 2, 3, 5] (the kernel's cpulist/nodelist format)."""
    out: list[int] = []
    for part in text.strip().split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


class Host:
    """The host under ``root``: CPU, memory, NUMA, huge page and KSM facts as libvirt
    reports them. ``clock_ticks`` (USER_HZ) and ``page_kib`` default to this host's."""

    def __init__(self, root: str | os.PathLike[str] = "/", *, clock_ticks: int | None = None,
                 page_kib: int | None = None) -> None:
        self.root = os.fspath(root)
        self.clock_ticks = clock_ticks or os.sysconf("SC_CLK_TCK")
        self.page_kib = page_kib or os.sysconf("SC_PAGE_SIZE") // 1024

    def path(self, path: str) -> str:
        return os.path.join(self.root, path.lstrip("/"))

    def _read(self, path: str) -> str | None:
        try:
            with open(self.path(path)) as f:
                return f.read()
        except OSError:
            return None

    # ------------------------------------------------------------ CPUs

    def present_cpus(self) -> int:
        """virHostCPUGetCount: the highest present CPU id + 1."""
        text = self._read("/sys/devices/system/cpu/present")
        ids = _parse_cpulist(text) if text else []
        return max(ids) + 1 if ids else (os.cpu_count() or 1)

    def online_cpus(self) -> list[bool]:
        """Which CPUs are online, by number (as long as the present count)."""
        n = self.present_cpus()
        text = self._read("/sys/devices/system/cpu/online")
        if text is None:
            return [True] * n
        online = [False] * n
        for i in _parse_cpulist(text):
            if i < n:
                online[i] = True
        return online

    def cpu_map(self) -> tuple[int, list[bool], int]:
        """virNodeGetCPUMap: (CPUs present, online map, number online)."""
        online = self.online_cpus()
        return len(online), online, sum(online)

    def cpu_stats(self, cpu_num: int) -> dict[str, int]:
        """virNodeGetCPUStats from /proc/stat, in nanoseconds (virHostCPUGetStatsLinux)."""
        header = "cpu" if cpu_num == NodeGetCPUStatsAllCPUs.CPUS else f"cpu{cpu_num}"
        text = self._read("/proc/stat")
        if text is None:
            raise make_error(ErrorCode.SYSTEM_ERROR, ErrorDomain.NONE,
                             f"cannot open {self.path('/proc/stat')}: No such file or directory")
        nsec = 1_000_000_000 // self.clock_ticks
        for line in text.splitlines():
            fields = line.split()
            if len(fields) < 5 or fields[0] != header:
                continue
            v = [int(x) for x in fields[1:11]] + [0] * (10 - len(fields[1:11]))
            usr, nice, system, idle, iowait, irq, softirq = v[:7]
            return {CPU_KERNEL: (system + irq + softirq) * nsec, CPU_USER: (usr + nice) * nsec,
                    CPU_IDLE: idle * nsec, CPU_IOWAIT: iowait * nsec}
        raise invalid_arg("Invalid cpuNum in virHostCPUGetStatsLinux")

    # ------------------------------------------------------------ memory and NUMA

    def numa_nodes(self) -> list[int]:
        """NUMA node ids (empty without NUMA in the kernel: libvirt's one fake cell)."""
        base = "/sys/devices/system/node"
        try:
            names = os.listdir(self.path(base))
        except OSError:
            return []
        return sorted(int(n[4:]) for n in names if n.startswith("node") and n[4:].isdigit())

    def max_node(self) -> int:
        """virNumaGetMaxNode (0 on a host without NUMA)."""
        return max(self.numa_nodes(), default=0)

    def meminfo(self, cell: int = NodeGetMemoryStatsAllCells.CELLS) -> dict[str, int]:
        """/proc/meminfo, or a node's meminfo ("Node N " prefix dropped), in KiB."""
        path = ("/proc/meminfo" if cell == NodeGetMemoryStatsAllCells.CELLS
                else f"/sys/devices/system/node/node{cell}/meminfo")
        text = self._read(path)
        if text is None:
            raise make_error(ErrorCode.SYSTEM_ERROR, ErrorDomain.NONE,
                             f"cannot open {self.path(path)}: No such file or directory")
        out: dict[str, int] = {}
        for line in text.splitlines():
            if line.startswith("Node "):
                line = line.split(" ", 2)[2] if line.count(" ") >= 2 else ""
            key, _, rest = line.partition(":")
            parts = rest.split()
            if parts and parts[0].isdigit():
                out[key.strip()] = int(parts[0])
        return out

    def memory_stats(self, cell: int) -> dict[str, int]:
        """virNodeGetMemoryStats (KiB): total, free, buffers, cached; a cell: total, free."""
        nodes = self.numa_nodes()
        if not nodes and cell == 0:
            cell = NodeGetMemoryStatsAllCells.CELLS
        if cell != NodeGetMemoryStatsAllCells.CELLS and cell > self.max_node():
            raise invalid_arg("cellNum in virHostMemGetStats must be less than or equal "
                              f"to {self.max_node()}")
        info = self.meminfo(cell)
        fields = (_MEMINFO_FIELDS if cell == NodeGetMemoryStatsAllCells.CELLS
                  else _MEMINFO_FIELDS[:_MEMORY_STATS_CELL])
        out = {name: info[key] for key, name in fields if key in info}
        if not out:
            raise make_error(ErrorCode.INTERNAL_ERROR, ErrorDomain.NONE,
                             "no available memory line found")
        return out

    def node_memory(self, node: int) -> tuple[int, int]:
        """virNumaGetNodeMemory: (total, free) bytes of one node (0, 0 when unreadable)."""
        try:
            info = self.meminfo(node)
        except VirtError:
            return 0, 0
        return info.get("MemTotal", 0) * 1024, info.get("MemFree", 0) * 1024

    def memory_info(self) -> tuple[int, int]:
        """virHostMemGetInfo: (total, free) bytes, summed over NUMA nodes."""
        nodes = self.numa_nodes()
        if not nodes:
            info = self._meminfo_or_empty()
            return info.get("MemTotal", 0) * 1024, info.get("MemFree", 0) * 1024
        total = free = 0
        for n in nodes:
            t, f = self.node_memory(n)
            total, free = total + t, free + f
        return total, free

    def _meminfo_or_empty(self) -> dict[str, int]:
        try:
            return self.meminfo()
        except VirtError:
            return {}

    def cells_free_memory(self, start_cell: int, max_cells: int) -> list[int]:
        """virNodeGetCellsFreeMemory: free bytes of cells start_cell.. (at most max_cells)."""
        if not self.numa_nodes():
            if start_cell != 0:
                raise _start_cell_error(start_cell, 0)
            return [self.memory_info()[1]]
        last = self.max_node()
        if start_cell > last:
            raise _start_cell_error(start_cell, last)
        end = min(last, start_cell + max_cells - 1)
        return [self.node_memory(n)[1] for n in range(start_cell, end + 1)]

    # ------------------------------------------------------------ pages

    def _hugepages_dir(self, node: int) -> str:
        return ("/sys/kernel/mm/hugepages" if node == -1
                else f"/sys/devices/system/node/node{node}/hugepages")

    def page_sizes(self, node: int = -1) -> list[int]:
        """Page sizes (KiB) of the host or a node: the base page, then huge pages."""
        sizes = [self.page_kib]
        try:
            names = os.listdir(self.path(self._hugepages_dir(node)))
        except OSError:
            names = []
        huge = sorted(int(n[10:-2]) for n in names
                      if n.startswith("hugepages-") and n.endswith("kB") and n[10:-2].isdigit())
        return sizes + huge

    def _huge_page_value(self, node: int, size: int, what: str) -> int:
        path = f"{self._hugepages_dir(node)}/hugepages-{size}kB/{what}"
        text = self._read(path)
        if text is None:
            if node == -1:
                msg = f"page size {size} is not available"
            elif node not in self.numa_nodes():
                msg = f"NUMA node {node} is not available"
            else:
                msg = f"page size {size} is not available on node {node}"
            raise make_error(ErrorCode.OPERATION_FAILED, ErrorDomain.NONE, msg)
        try:
            return int(text.strip())
        except ValueError:
            raise make_error(ErrorCode.INTERNAL_ERROR, ErrorDomain.NONE,
                             f"unable to parse: {text.strip()}") from None

    def page_info(self, node: int, size: int) -> tuple[int, int]:
        """virNumaGetPageInfo: (pages available, pages free) of ``size`` KiB on ``node``
        (-1: the whole host). Base pages come from the memory left beside huge pages."""
        if size == self.page_kib:
            if node == -1:
                total, free = self.memory_info()
            else:
                total, free = self.node_memory(node)
            huge = sum(s * 1024 * self._huge_page_value(node, s, "nr_hugepages")
                       for s in self.page_sizes(node)[1:])
            page = size * 1024
            return (total - huge) // page, free // page
        return (self._huge_page_value(node, size, "nr_hugepages"),
                self._huge_page_value(node, size, "free_hugepages"))

    def free_pages(self, pages: list[int], start_cell: int, cell_count: int) -> list[int]:
        """virNodeGetFreePages: free page counts, for each cell then each page size."""
        last = self.max_node()
        if not self.numa_nodes() and last == 0 and start_cell == 0 and cell_count == 1:
            start_cell = -1
        if start_cell > last:
            raise _start_cell_error(start_cell, last)
        end = min(last, start_cell + cell_count - 1)
        counts = [self.page_info(cell, size)[1] for cell in range(start_cell, end + 1)
                  for size in pages]
        if not counts:
            raise make_error(ErrorCode.INTERNAL_ERROR, ErrorDomain.NONE, "no suitable info found")
        return counts

    # ------------------------------------------------------------ KSM

    def memory_parameters(self) -> TypedParams:
        """virNodeGetMemoryParameters: the KSM knobs and counters the kernel has."""
        out: TypedParams = {}
        for name, (file, _, _) in KSM_PARAMS.items():
            text = self._read(f"/sys/kernel/mm/ksm/{file}")
            if text is None:
                continue
            try:
                out[name] = int(text.strip())
            except ValueError:
                raise make_error(ErrorCode.INTERNAL_ERROR, ErrorDomain.NONE,
                                 f"failed to parse {file}") from None
        return out

    def set_memory_parameters(self, params: Mapping[str, TypedValue]) -> None:
        """virNodeSetMemoryParameters: write the settable KSM knobs (root only)."""
        for name, value in params.items():
            spec = KSM_PARAMS.get(name)
            if spec is None or not spec[2]:
                raise make_error(ErrorCode.ARGUMENT_UNSUPPORTED, ErrorDomain.NONE,
                                 f"parameter '{name}' not supported")
            if isinstance(value, bool) or not isinstance(value, int) or not (
                    0 <= value <= _UINT_MAX):
                raise make_error(ErrorCode.INVALID_ARG, ErrorDomain.NONE,
                                 f"invalid type '{_type_name(value)}' for parameter "
                                 f"'{name}', expected 'uint'")
        for name in params:
            if not os.path.exists(self.path(f"/sys/kernel/mm/ksm/{KSM_PARAMS[name][0]}")):
                raise make_error(ErrorCode.OPERATION_INVALID, ErrorDomain.NONE,
                                 f"Parameter '{name}' is not supported by this kernel")
        for name, value in params.items():
            path = self.path(f"/sys/kernel/mm/ksm/{KSM_PARAMS[name][0]}")
            try:
                with open(path, "w") as f:
                    f.write(str(value))
            except OSError as e:
                raise make_error(ErrorCode.SYSTEM_ERROR, ErrorDomain.NONE,
                                 f"failed to set {name}: {e.strerror}") from None

    def has_sev(self) -> bool:
        """Whether KVM on this host offers AMD SEV (kvm_amd's ``sev`` and /dev/sev)."""
        flag = (self._read("/sys/module/kvm_amd/parameters/sev") or "").strip()
        return flag in ("1", "Y") and os.path.exists(self.path("/dev/sev"))

    # ------------------------------------------------------------ summary

    def node_info(self) -> NodeInfo:
        """virNodeGetInfo: model, memory (KiB), CPUs, MHz and topology."""
        cpus = sum(self.online_cpus())
        mhz = 0
        sockets: set[str] = set()
        cores: set[tuple[str, str]] = set()
        phys = "0"
        for line in (self._read("/proc/cpuinfo") or "").splitlines():
            key, _, value = line.partition(":")
            key, value = key.strip(), value.strip()
            if key == "cpu MHz" and not mhz:
                mhz = int(float(value))
            elif key == "physical id":
                phys = value
                sockets.add(value)
            elif key == "core id":
                cores.add((phys, value))
        nsockets = max(1, len(sockets))
        ncores = max(1, len(cores) // nsockets) if cores else max(1, cpus // nsockets)
        threads = max(1, cpus // (nsockets * ncores))
        nodes = len(self.numa_nodes()) or 1
        return NodeInfo(platform.machine(), self.memory_info()[0] // 1024, cpus, mhz, nodes,
                        nsockets // nodes or 1, ncores, threads)


def _start_cell_error(start: int, last: int) -> VirtError:
    return make_error(ErrorCode.INTERNAL_ERROR, ErrorDomain.NONE,
                      f"start cell {start} out of range (0-{last})")


def _type_name(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "llong" if value < 0 else "ullong"
    return {float: "double", str: "string"}.get(type(value), "unknown")


_HOST = Host()


def host() -> Host:
    """The real host."""
    return _HOST


def hostname() -> str:
    """The host's name (libvirt's virGetHostname: the FQDN when resolvable)."""
    return socket.gethostname()


def memory_kib() -> int:
    """Total memory in KiB."""
    return _HOST.memory_info()[0] // 1024


def free_memory_bytes() -> int:
    """Free memory in bytes (libvirt's nodeGetFreeMemory: MemFree summed over cells)."""
    return _HOST.memory_info()[1]


def cpu_count() -> int:
    """CPUs present."""
    return _HOST.present_cpus()


def online_cpus() -> list[bool]:
    """Which CPUs are online, by number."""
    return _HOST.online_cpus()


def node_info() -> NodeInfo:
    """virNodeGetInfo for this host."""
    return _HOST.node_info()


# The node_* driver methods' bodies, with libvirt's flag checks (virhostcpu.c and
# virhostmem.c report in no error domain; ``domain`` is the driver's for its own checks).


def _check_flags(flags: int, allowed: int, function: str,
                 domain: int = ErrorDomain.NONE) -> None:
    if flags & ~allowed:
        raise invalid_flags(flags & ~allowed, function, domain)


def cpu_stats(cpu_num: int, flags: int = 0, h: Host | None = None) -> dict[str, int]:
    """virNodeGetCPUStats."""
    _check_flags(flags, 0, "virHostCPUGetStats")
    return (h or _HOST).cpu_stats(cpu_num)


def memory_stats(cell_num: int, flags: int = 0, h: Host | None = None) -> dict[str, int]:
    """virNodeGetMemoryStats."""
    _check_flags(flags, 0, "virHostMemGetStats")
    return (h or _HOST).memory_stats(cell_num)


def cells_free_memory(start_cell: int, max_cells: int, h: Host | None = None) -> list[int]:
    """virNodeGetCellsFreeMemory."""
    return (h or _HOST).cells_free_memory(start_cell, max_cells)


def cpu_map(flags: int = 0, h: Host | None = None) -> tuple[int, list[bool], int]:
    """virNodeGetCPUMap."""
    _check_flags(flags, 0, "virHostCPUGetMap")
    return (h or _HOST).cpu_map()


def free_pages(pages: list[int], start_cell: int, cell_count: int, flags: int = 0,
               h: Host | None = None, *, function: str = "qemuNodeGetFreePages",
               domain: int = ErrorDomain.NONE) -> list[int]:
    """virNodeGetFreePages (``function``/``domain``: the driver's, for the flag check)."""
    _check_flags(flags, 0, function, domain)
    return (h or _HOST).free_pages(pages, start_cell, cell_count)


def memory_parameters(flags: int = 0, h: Host | None = None) -> TypedParams:
    """virNodeGetMemoryParameters."""
    _check_flags(flags, TypedParameterFlags.OKAY, "virHostMemGetParameters")
    return (h or _HOST).memory_parameters()


def set_memory_parameters(params: Mapping[str, TypedValue], flags: int = 0,
                          h: Host | None = None) -> None:
    """virNodeSetMemoryParameters."""
    _check_flags(flags, 0, "virHostMemSetParameters")
    (h or _HOST).set_memory_parameters(params)


def sev_info(flags: int = 0, h: Host | None = None,
             domain: int = ErrorDomain.QEMU) -> TypedParams:
    """virNodeGetSEVInfo: libvirt's error on a host without SEV (the parameters of a
    SEV host come from QEMU's query-sev-capabilities, which is not probed yet)."""
    if not (h or _HOST).has_sev():
        raise make_error(ErrorCode.OPERATION_UNSUPPORTED, domain,
                         "QEMU does not support SEV guest")
    raise no_support("virNodeGetSEVInfo", domain)


# ---------------------------------------------------------------- sysinfo (SMBIOS)

DMIDECODE = "dmidecode"
# dmidecode record -> (libvirt element, [(dmidecode key, entry name)]), in libvirt's order
_SMBIOS_SECTIONS: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    ("BIOS Information", "bios", (("Vendor", "vendor"), ("Version", "version"),
                                  ("Release Date", "date"), ("BIOS Revision", "release"))),
    ("System Information", "system", (
        ("Manufacturer", "manufacturer"), ("Product Name", "product"), ("Version", "version"),
        ("Serial Number", "serial"), ("UUID", "uuid"), ("SKU Number", "sku"),
        ("Family", "family"))),
    ("Base Board Information", "baseBoard", (
        ("Manufacturer", "manufacturer"), ("Product Name", "product"), ("Version", "version"),
        ("Serial Number", "serial"), ("Asset Tag", "asset"),
        ("Location In Chassis", "location"))),
    ("Chassis Information", "chassis", (
        ("Manufacturer", "manufacturer"), ("Version", "version"), ("Serial Number", "serial"),
        ("Asset Tag", "asset"), ("SKU Number", "sku"))),
    ("Processor Information", "processor", (
        ("Socket Designation", "socket_destination"), ("Type", "type"), ("Family", "family"),
        ("Manufacturer", "manufacturer"), ("Signature", "signature"), ("Version", "version"),
        ("External Clock", "external_clock"), ("Max Speed", "max_speed"),
        ("Status", "status"), ("Serial Number", "serial_number"),
        ("Part Number", "part_number"))),
    ("Memory Device", "memory_device", (
        ("Size", "size"), ("Form Factor", "form_factor"), ("Locator", "locator"),
        ("Bank Locator", "bank_locator"), ("Type", "type"), ("Type Detail", "type_detail"),
        ("Speed", "speed"), ("Manufacturer", "manufacturer"),
        ("Serial Number", "serial_number"), ("Part Number", "part_number"))),
)
_REPEATED = frozenset({"baseBoard", "processor", "memory_device"})


def _dmi_records(text: str) -> list[tuple[str, dict[str, str], list[str]]]:
    """dmidecode -q output as (title, key -> value, OEM strings) per record."""
    records: list[tuple[str, dict[str, str], list[str]]] = []
    for block in text.split("\n\n"):
        lines = [ln for ln in block.splitlines() if ln.strip()]
        if not lines:
            continue
        fields: dict[str, str] = {}
        strings: list[str] = []
        for line in lines[1:]:
            key, sep, value = line.strip().partition(": ")
            if not sep:
                continue
            if key.startswith("String ") and key[7:].isdigit():
                strings.append(value.rstrip())
            else:
                fields.setdefault(key, value.rstrip())
        records.append((lines[0].strip(), fields, strings))
    return records


def sysinfo_from_dmidecode(text: str,
                           oem_string: Callable[[int], str | None] | None = None
                           ) -> str | None:
    """virSysinfoFormat of the SMBIOS tables in ``dmidecode -q -t 0,1,2,3,4,11,17`` output
    (empty sections are left out, memory slots without a module too). An OEM string with
    a dot may be an escaped newline: as libvirt, its raw value comes from ``oem_string(N)``
    (``dmidecode --dump --oem-string N``); None when that fails."""
    from xml.sax.saxutils import escape

    records = _dmi_records(text)
    out = ["<sysinfo type='smbios'>"]
    for title, element, keys in _SMBIOS_SECTIONS:
        for rec_title, fields, _ in records:
            if rec_title != title:
                continue
            if element == "memory_device" and fields.get("Size") == "No Module Installed":
                continue
            entries = [f"    <entry name='{name}'>{escape(fields[key])}</entry>"
                       for key, name in keys if fields.get(key)]
            if entries:
                out += [f"  <{element}>", *entries, f"  </{element}>"]
            if element not in _REPEATED:
                break
    oem = [s for title, _, strings in records if title == "OEM Strings" for s in strings]
    for i, value in enumerate(oem):
        if "." in value and oem_string is not None:
            raw = oem_string(i + 1)
            if raw is None:
                return None
            oem[i] = raw
    if oem:
        out += ["  <oemStrings>", *(f"    <entry>{escape(s)}</entry>" for s in oem),
                "  </oemStrings>"]
    out.append("</sysinfo>")
    return "\n".join(out) + "\n"


def host_sysinfo_xml() -> str | None:
    """The host's sysinfo XML from dmidecode (virSysinfoReadDMI), or None when dmidecode
    is missing or fails (no SMBIOS: libvirt's drivers then report it unavailable)."""
    import subprocess

    try:
        res = subprocess.run([DMIDECODE, "-q", "-t", "0,1,2,3,4,11,17"], capture_output=True,
                             text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if res.returncode != 0:
        return None
    return sysinfo_from_dmidecode(res.stdout, _dmidecode_oem_string)


def _dmidecode_oem_string(index: int) -> str | None:
    """The raw OEM string ``index`` (dmidecode exits 0 on a bad index but says so on
    stderr: that is a failure, as in libvirt)."""
    import subprocess

    try:
        res = subprocess.run([DMIDECODE, "--dump", "--oem-string", str(index)],
                             capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if res.returncode != 0 or res.stderr:
        return None
    return res.stdout
