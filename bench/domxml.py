"""Domain XML documents used by the benchmarks (stdlib only: both sides import it)."""

from __future__ import annotations

SMALL_TEMPLATE = (
    "<domain type='test'>"
    "<name>{name}</name>"
    "<memory unit='KiB'>65536</memory>"
    "<currentMemory unit='KiB'>65536</currentMemory>"
    "<vcpu>1</vcpu>"
    "<os><type arch='x86_64'>hvm</type></os>"
    "</domain>"
)


def small_domain(name: str) -> str:
    """A minimal persistent domain that libvirt's test driver accepts."""
    return SMALL_TEMPLATE.format(name=name)


def disk_suffix(index: int) -> str:
    """libvirt's disk-name suffix for an index: 0 -> a, 25 -> z, 26 -> aa."""
    out = ""
    index += 1
    while index > 0:
        index, rem = divmod(index - 1, 26)
        out = chr(ord("a") + rem) + out
    return out


def large_domain(name: str, disks: int = 200, nics: int = 200) -> str:
    """A domain with many disks and interfaces (about 100 KB of XML by default)."""
    parts = [
        "<domain type='test'>",
        f"<name>{name}</name>",
        "<uuid>4dea24b3-1d52-d8f3-2516-782e98a23fa0</uuid>",
        "<description>benchmark domain with many devices</description>",
        "<memory unit='KiB'>8388608</memory>",
        "<currentMemory unit='KiB'>8388608</currentMemory>",
        "<vcpu placement='static'>8</vcpu>",
        "<os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>",
        "<features><acpi/><apic/></features>",
        "<clock offset='utc'/>",
        "<on_poweroff>destroy</on_poweroff>",
        "<on_reboot>restart</on_reboot>",
        "<on_crash>destroy</on_crash>",
        "<devices>",
    ]
    for i in range(disks):
        parts.append(
            "<disk type='file' device='disk'>"
            "<driver name='qemu' type='qcow2' cache='none'/>"
            f"<source file='/var/lib/virtkit/images/{name}-disk{i}.qcow2'/>"
            f"<target dev='vd{disk_suffix(i)}' bus='virtio'/>"
            "</disk>"
        )
    for i in range(nics):
        parts.append(
            "<interface type='network'>"
            f"<mac address='52:54:00:{(i >> 16) & 0xFF:02x}:{(i >> 8) & 0xFF:02x}:{i & 0xFF:02x}'/>"
            "<source network='default'/>"
            "<model type='virtio'/>"
            "</interface>"
        )
    parts.append("</devices></domain>")
    return "".join(parts)
