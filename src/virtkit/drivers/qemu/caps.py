"""The QEMU driver's capabilities XML (virConnectGetCapabilities): host and guests.

The host section is libvirt 9.0's (virCapabilitiesFormatXML) from the real host:
the CPU decoded from CPUID through the CPU map (:mod:`virtkit.cpu`), NUMA cells
with memory, pages, distances and CPUs, level-3 cache banks, and the security
model virtkit has (``none``: QEMU runs as the daemon's own user, nothing is
relabelled). The guest section lists, per installed emulator
(``qemu-system-i386``, ``qemu-system-x86_64``), the machine types QEMU reports
(``query-machines``), ordered and aliased as virQEMUCapsInitGuestFromBinary
orders them, and ``kvm`` beside ``qemu`` when ``/dev/kvm`` can be opened.
"""

from __future__ import annotations

import os
import uuid as uuidlib
from dataclasses import dataclass
from functools import cache
from xml.sax.saxutils import escape

from virtkit import hostid
from virtkit.cpu import hosttopo
from virtkit.cpu.cpudef import HOST, CPUDef, format_cpu
from virtkit.cpu.host import host_cpu
from virtkit.drivers import nodeinfo
from virtkit.errors import VirtError

__all__ = ["EMULATOR", "GuestArch", "Machine", "capabilities_xml", "host_cpu_def",
           "machine_types", "probe_machines"]

EMULATOR = "/usr/bin/qemu-system-x86_64"
# guest arch -> (emulator, word size, extra features); libvirt's virArch order
GUEST_ARCHS: tuple[tuple[str, str, int], ...] = (
    ("i686", "/usr/bin/qemu-system-i386", 32),
    ("x86_64", EMULATOR, 64),
)
PREFERRED_MACHINE = "pc"  # libvirt's historical default for x86 (preferredMachines)
_PROBE_TIMEOUT = 30.0


@dataclass(frozen=True)
class Machine:
    """A machine type as query-machines reports it."""

    name: str
    alias: str | None
    max_cpus: int
    deprecated: bool
    default: bool


GuestArch = tuple[str, str, int]


@cache
def _probe_machines(binary: str, size: int, mtime: int) -> tuple[Machine, ...]:
    from virtkit.drivers.qemu.qemucaps_probe import probe_monitor

    with probe_monitor(binary, "tcg", _PROBE_TIMEOUT) as mon:
        reply = mon.execute("query-machines")
    return tuple(Machine(m["name"], m.get("alias"), int(m.get("cpu-max", 1)),
                         bool(m.get("deprecated")), bool(m.get("is-default")))
                 for m in reply if m["name"] != "none")


def probe_machines(binary: str) -> tuple[Machine, ...]:
    """The machine types of ``binary`` in QMP order, asked once per binary identity
    (path, size, mtime); () when the binary cannot run."""
    try:
        st = os.stat(binary)
        return _probe_machines(binary, st.st_size, st.st_mtime_ns)
    except Exception:  # a broken emulator is left out, as libvirt does
        return ()


def _ordered(machines: tuple[Machine, ...]) -> list[Machine]:
    """libvirt's preferred machine (else QEMU's default) moved to the front."""
    order = list(machines)
    idx = next((i for i, m in enumerate(order)
                if PREFERRED_MACHINE in (m.name, m.alias)), None)
    if idx is None:
        idx = next((i for i, m in enumerate(order) if m.default), None)
    if idx is not None:
        order.insert(0, order.pop(idx))
    return order


def machine_types(emulator: str = EMULATOR) -> tuple[tuple[str, str | None], ...]:
    """``(name, canonical)`` of each ``<machine>`` the capabilities list for
    ``emulator`` (aliases carry the versioned name they stand for)."""
    return tuple((name, canonical) for name, canonical, _, _ in _guest_machines(emulator))


def _guest_machines(emulator: str) -> list[tuple[str, str | None, int, bool]]:
    """virQEMUCapsGetMachineTypesCaps: an alias entry names its canonical machine,
    which gets its own entry just before it."""
    out: list[tuple[str, str | None, int, bool]] = []
    for m in _ordered(probe_machines(emulator)):
        if m.alias:
            out.append((m.name, None, m.max_cpus, m.deprecated))
            out.append((m.alias, m.name, m.max_cpus, m.deprecated))
        else:
            out.append((m.name, None, m.max_cpus, m.deprecated))
    return out


def host_cpu_def() -> CPUDef:
    """The host ``<cpu>`` (virCPUProbeHost): decoded CPUID plus the node's topology."""
    info = nodeinfo.node_info()
    topology = (info.sockets, 1, info.cores, info.threads)
    try:
        return host_cpu(topology)
    except (VirtError, OSError):  # CPUID unreadable or undecodable: arch and topology only
        return CPUDef(type=HOST, mode=None, arch=info.model, topology=topology)


def _host_lines(host_uuid: str) -> list[str]:
    info = nodeinfo.node_info()
    host = nodeinfo.host()
    cpu_xml = format_cpu(host_cpu_def()).splitlines()
    pages = [f"  <pages unit='KiB' size='{size}'/>" for size in host.page_sizes()]
    lines = [f"<uuid>{host_uuid}</uuid>", *cpu_xml[:-1], *pages, cpu_xml[-1],
             "<power_management/>", f"<iommu support='{_iommu()}'/>",
             "<migration_features>", "  <live/>", "  <uri_transports>",
             "    <uri_transport>tcp</uri_transport>",  # no rdma: virtkit migrates over tcp
             "  </uri_transports>", "</migration_features>"]
    nodes = host.numa_nodes()
    cells: list[int | None] = list(nodes) if nodes else [None]
    lines += ["<topology>", f"  <cells num='{len(cells)}'>"]
    for node in cells:
        num = node if node is not None else 0
        mem = host.node_memory(node)[0] // 1024 if node is not None else info.memory
        lines += [f"    <cell id='{num}'>", f"      <memory unit='KiB'>{mem}</memory>"]
        page_node = node if node is not None else -1
        lines += [f"      <pages unit='KiB' size='{size}'>{host.page_info(page_node, size)[0]}"
                  "</pages>" for size in host.page_sizes(page_node)]
        distances = hosttopo.cell_distances(node, nodes) if node is not None else []
        if distances:
            lines.append("      <distances>")
            lines += [f"        <sibling id='{n}' value='{v}'/>" for n, v in distances]
            lines.append("      </distances>")
        cpus = hosttopo.cell_cpus(node, info.cpus)
        lines.append(f"      <cpus num='{len(cpus)}'>")
        lines += [f"        <cpu id='{c.id}' socket_id='{c.socket_id}' die_id='{c.die_id}' "
                  f"core_id='{c.core_id}' siblings='{c.siblings}'/>" for c in cpus]
        lines += ["      </cpus>", "    </cell>"]
    lines += ["  </cells>", "</topology>"]
    banks = hosttopo.cache_banks()
    if banks:
        lines.append("<cache>")
        for b in banks:
            size, unit = hosttopo.pretty_size(b.size)
            lines.append(f"  <bank id='{b.id}' level='{b.level}' type='{b.type}' "
                         f"size='{size}' unit='{unit}' cpus='{b.cpus}'/>")
        lines.append("</cache>")
    lines += ["<secmodel>", "  <model>none</model>", "  <doi>0</doi>", "</secmodel>"]
    return lines


def _iommu() -> str:
    """'yes' when the kernel has IOMMU groups (virHostHasIOMMU)."""
    try:
        return "yes" if os.listdir("/sys/kernel/iommu_groups") else "no"
    except OSError:
        return "no"


def _guest_lines(arch: str, emulator: str, wordsize: int) -> list[str]:
    machines = _guest_machines(emulator)
    if not machines:
        return []
    lines = ["<guest>", "  <os_type>hvm</os_type>", f"  <arch name='{arch}'>",
             f"    <wordsize>{wordsize}</wordsize>", f"    <emulator>{escape(emulator)}</emulator>"]
    for name, canonical, max_cpus, deprecated in machines:
        attrs = f" canonical='{_attr(canonical)}'" if canonical else ""
        attrs += f" maxCpus='{max_cpus}'"
        if deprecated:
            attrs += " deprecated='yes'"
        lines.append(f"    <machine{attrs}>{escape(name)}</machine>")
    lines.append("    <domain type='qemu'/>")
    if os.access("/dev/kvm", os.R_OK | os.W_OK):
        lines.append("    <domain type='kvm'/>")
    lines += ["  </arch>", "  <features>"]
    if arch == "i686":
        lines += ["    <pae/>", "    <nonpae/>"]
    lines += ["    <acpi default='on' toggle='yes'/>", "    <apic default='on' toggle='no'/>",
              "    <cpuselection/>", "    <deviceboot/>",
              "    <disksnapshot default='on' toggle='no'/>", "  </features>", "</guest>"]
    return lines


def _attr(text: str) -> str:
    return escape(text, {"'": "&apos;"})


def node_host_uuid(root: str, embedded: bool) -> str:
    """The UUID a node under ``root`` reports (capabilities' ``<host><uuid>``, the
    migration cookie's ``<hostuuid>``): the configured one (libvirtd.conf ``host_uuid``)
    as it is; else the machine's for the system root ``/`` and, for any other root, one
    derived from it and the root's path, so two roots on one machine are two hosts."""
    configured = hostid.configured()
    if configured is not None:
        return configured
    machine = _host_uuid()
    if root == "/" and not embedded:
        return machine
    return str(uuidlib.uuid5(uuidlib.UUID(machine), root))


def _host_uuid() -> str:
    configured = hostid.configured()
    if configured is not None:
        return configured
    for path in ("/sys/class/dmi/id/product_uuid", "/etc/machine-id"):
        try:
            with open(path) as f:
                text = f.read().strip()
        except OSError:
            continue
        if len(text) == 32:
            return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
        if len(text) == 36:
            return text.lower()
    return "00000000-0000-0000-0000-000000000000"


def capabilities_xml(emulator: str = EMULATOR, host_uuid: str | None = None) -> str:
    """The whole ``<capabilities>`` document for this host (``emulator``: the x86_64
    binary; i686 guests use ``qemu-system-i386`` beside it when installed; ``host_uuid``:
    the node's, :func:`node_host_uuid`, default the machine's)."""
    out = ["<capabilities>", "", "  <host>"]
    out += [f"    {line}" for line in _host_lines(host_uuid or _host_uuid())]
    out += ["  </host>", ""]
    for arch, binary, wordsize in GUEST_ARCHS:
        if arch == "x86_64":
            binary = emulator
        guest = _guest_lines(arch, binary, wordsize)
        if guest:
            out += [f"  {line}" for line in guest] + [""]
    out += ["</capabilities>", ""]
    return "\n".join(out)
