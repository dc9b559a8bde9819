"""The QEMU driver's capabilities XML (virConnectGetCapabilities): host and guests.

virt-install and virt-manager read it to choose an emulator, a machine type
and a domain type, so the guest section lists what the installed
``qemu-system-x86_64`` offers: its machine types, and ``kvm`` beside
``qemu`` when ``/dev/kvm`` can be opened.
"""

from __future__ import annotations

import os
import subprocess
from functools import cache
from xml.sax.saxutils import quoteattr

from virtkit.drivers import nodeinfo

__all__ = ["capabilities_xml", "machine_types"]

EMULATOR = "/usr/bin/qemu-system-x86_64"


@cache
def machine_types(emulator: str = EMULATOR) -> tuple[tuple[str, str | None], ...]:
    """``(name, canonical)`` for each machine type ``-machine help`` lists (aliases carry
    the versioned name they stand for, e.g. ``("pc", "pc-i440fx-7.2")``)."""
    try:
        out = subprocess.run([emulator, "-machine", "help"], capture_output=True, text=True,
                             timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ()
    found: list[tuple[str, str | None]] = []
    for line in out.splitlines()[1:]:
        parts = line.split()
        if not parts or parts[0] == "none":
            continue
        canonical = None
        if "(alias of" in line:
            canonical = line.split("(alias of", 1)[1].split(")")[0].strip()
        entry = (parts[0], canonical)
        # QEMU's default machine first: tools (virt-install) take the first one listed
        if "(default)" in line:
            found.insert(0, entry)
        else:
            found.append(entry)
    return tuple(found)


def _host_uuid() -> str:
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


def capabilities_xml(emulator: str = EMULATOR) -> str:
    """The whole ``<capabilities>`` document for this host."""
    info = nodeinfo.node_info()
    host = nodeinfo.host()
    cell = 0 if host.numa_nodes() else -1  # the one cell written below (-1: no NUMA)
    machines = machine_types(emulator)
    lines = [
        "<capabilities>", "", "  <host>", f"    <uuid>{_host_uuid()}</uuid>", "    <cpu>",
        f"      <arch>{info.model}</arch>",
        f"      <topology sockets='{info.sockets}' dies='1' cores='{info.cores}' "
        f"threads='{info.threads}'/>",
        *(f"      <pages unit='KiB' size='{size}'/>" for size in host.page_sizes()),
        "    </cpu>",
        "    <power_management/>",
        "    <iommu support='no'/>",
        "    <migration_features>", "      <live/>", "      <uri_transports>",
        "        <uri_transport>tcp</uri_transport>", "      </uri_transports>",
        "    </migration_features>",
        "    <topology>", "      <cells num='1'>", "        <cell id='0'>",
        f"          <memory unit='KiB'>{info.memory}</memory>",
        *(f"          <pages unit='KiB' size='{size}'>{host.page_info(cell, size)[0]}</pages>"
          for size in host.page_sizes(cell)),
        f"          <cpus num='{info.cpus}'>",
    ]
    lines += [f"            <cpu id='{i}' socket_id='0' die_id='0' core_id='{i}' siblings='{i}'/>"
              for i in range(info.cpus)]
    lines += ["          </cpus>", "        </cell>", "      </cells>", "    </topology>",
              "    <secmodel>", "      <model>none</model>", "      <doi>0</doi>",
              "    </secmodel>", "  </host>", "", "  <guest>", "    <os_type>hvm</os_type>",
              "    <arch name='x86_64'>", "      <wordsize>64</wordsize>",
              f"      <emulator>{emulator}</emulator>"]
    for name, canonical in machines:
        if canonical:
            lines.append(f"      <machine canonical={quoteattr(canonical)} "
                         f"maxCpus='255'>{name}</machine>")
        else:
            lines.append(f"      <machine maxCpus='255'>{name}</machine>")
    lines.append("      <domain type='qemu'/>")
    if os.access("/dev/kvm", os.R_OK | os.W_OK):
        lines.append("      <domain type='kvm'/>")
    lines += ["    </arch>", "    <features>", "      <acpi default='on' toggle='yes'/>",
              "      <apic default='on' toggle='no'/>", "      <cpuselection/>",
              "      <deviceboot/>", "      <disksnapshot default='on' toggle='no'/>",
              "    </features>", "  </guest>", "", "</capabilities>", ""]
    return "\n".join(lines)
