"""SPICE, qxl/virtio video, sound, spicevmc channels, USB redirection and Hyper-V
enlightenments (virt-install's defaults) against libvirtd 9.0.

Seeded random domains (``generate``) combine the SPICE options (ports, listen types,
channel modes, compression, mouse, clipboard, file transfer, password, keymap), video
models and sizes, sound models and codecs, spicevmc channels, redirdevs with filters,
USB controllers, Hyper-V features and the hypervclock timer on pc and q35. Each goes
to Debian's libvirtd (``domxml-to-native``) and to virtkit's builder (argv_oracle.py
does both and normalises): when both build, the command lines must be equal; when
libvirt refuses, virtkit must refuse with the same error code, and the other way round.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import argv_oracle as oracle
import pytest

from virtkit.errors import VirtError

SEED = 18
COUNT = 120


def _pick(rng: random.Random, *items: str) -> str:
    return rng.choice(items)


def _spice(rng: random.Random) -> str:
    # (port='-1' without autoport='yes' is left out: virtkit's post-parse
    # (conf/domain_implicit.spice_listen_none) makes it listen type 'none' where libvirt
    # allocates a port -- a known conf difference)
    attrs = [_pick(rng, "autoport='yes'", "port='5930' autoport='no'", "port='5930'",
                   "port='-1' tlsPort='-1' autoport='yes'", "port='5931' tlsPort='5932'")]
    if rng.random() < 0.3:
        attrs.append(f"defaultMode='{_pick(rng, 'any', 'insecure', 'secure')}'")
    if rng.random() < 0.3:
        attrs.append("passwd='pw'")
    if rng.random() < 0.2:
        attrs.append("keymap='de'")
    kids = [_pick(rng, "", "<listen type='address' address='0.0.0.0'/>",
                  "<listen type='address'/>", "<listen type='none'/>",
                  "<listen type='socket'/>", "<listen type='socket' socket='/tmp/s,x.sock'/>")]
    for name in rng.sample(["main", "display", "inputs", "cursor", "playback", "record",
                            "smartcard", "usbredir"], rng.choice((0, 0, 1, 2))):
        kids.append(f"<channel name='{name}' mode='{_pick(rng, 'any', 'insecure', 'secure')}'/>")
    for tag, values in (("image", ("auto_glz", "auto_lz", "quic", "glz", "lz", "off")),
                        ("jpeg", ("auto", "never", "always")),
                        ("zlib", ("auto", "never", "always")), ("playback", ("on", "off"))):
        if rng.random() < 0.3:
            kids.append(f"<{tag} compression='{rng.choice(values)}'/>")
    if rng.random() < 0.3:
        kids.append(f"<streaming mode='{_pick(rng, 'filter', 'all', 'off')}'/>")
    if rng.random() < 0.3:
        kids.append(f"<mouse mode='{_pick(rng, 'server', 'client')}'/>")
    if rng.random() < 0.2:
        kids.append(f"<clipboard copypaste='{_pick(rng, 'yes', 'no')}'/>")
    if rng.random() < 0.2:
        kids.append(f"<filetransfer enable='{_pick(rng, 'yes', 'no')}'/>")
    return f"<graphics type='spice' {' '.join(attrs)}>{''.join(kids)}</graphics>"


def _video(rng: random.Random) -> str:
    model = _pick(rng, "qxl", "qxl", "virtio", "vga", "cirrus", "none")
    attrs = f"type='{model}'"
    if model == "qxl":
        for name, values in (("ram", ("65536", "32768")), ("vram", ("65536", "16384")),
                             ("vgamem", ("16384", "8192")), ("heads", ("1", "2"))):
            if rng.random() < 0.4:
                attrs += f" {name}='{rng.choice(values)}'"
    elif model == "virtio" and rng.random() < 0.3:
        attrs += " heads='2'"
    out = f"<video><model {attrs}/></video>"
    if model in ("qxl", "virtio", "vga") and rng.random() < 0.2:
        out += f"<video><model type='{_pick(rng, 'qxl', 'virtio')}'/></video>"
    return out


def _sounds(rng: random.Random, machine: str, usb: bool) -> str:
    out = []
    models = ["ich9", "ich6", "ac97", "es1370"] + (["usb"] if usb else []) + (
        ["sb16"] if machine == "pc" else [])
    for model in rng.sample(models, rng.choice((0, 1, 1, 2))):
        codecs = ""
        if model in ("ich6", "ich9") and rng.random() < 0.4:
            codecs = "".join(f"<codec type='{_pick(rng, 'duplex', 'micro', 'output')}'/>"
                             for _ in range(rng.choice((1, 2))))
        out.append(f"<sound model='{model}'>{codecs}</sound>")
    return "".join(out)


def _usb(rng: random.Random, machine: str) -> tuple[str, int]:
    """A USB controller (or the machine's default) and its number of ports."""
    default = 2 if machine == "pc" else 4  # piix3-uhci / qemu-xhci
    return rng.choice((("", default), ("<controller type='usb' model='qemu-xhci' ports='15'/>",
                                       15), ("<controller type='usb' model='qemu-xhci'/>", 4),
                       ("<controller type='usb' model='none'/>", 0)))


def _redirs(rng: random.Random, ports: int) -> str:
    n = min(ports, rng.choice((0, 1, 2, 2)))
    out = "<redirdev bus='usb' type='spicevmc'/>" * n
    if n and rng.random() < 0.3:
        out += ("<redirfilter><usbdev class='0x08' vendor='0x15E1' product='0x2007' "
                "version='1.10' allow='yes'/><usbdev allow='no'/></redirfilter>")
    return out


def _hyperv(rng: random.Random) -> tuple[str, str]:
    """``<features>`` with Hyper-V enlightenments, and a hypervclock timer (or nothing)."""
    if rng.random() < 0.6:
        return "", ""
    feats = []
    for name in rng.sample(["relaxed", "vapic", "vpindex", "runtime", "synic", "stimer",
                            "reset", "frequencies", "tlbflush", "ipi"], rng.choice((1, 2, 3))):
        feats.append(f"<{name} state='{_pick(rng, 'on', 'on', 'off')}'/>")
    if rng.random() < 0.5:
        feats.append(f"<spinlocks state='on' retries='{_pick(rng, '8191', '4095', '100')}'/>")
    if rng.random() < 0.2:
        feats.append(f"<vendor_id state='on' value='{_pick(rng, 'KVMKVMKVM', 'x' * 13)}'/>")
    timer = ("<clock offset='utc'><timer name='hypervclock' present='yes'/></clock>"
             if rng.random() < 0.5 else "")
    return f"<features><acpi/><hyperv>{''.join(feats)}</hyperv></features>", timer


def generate(seed: int = SEED, count: int = COUNT) -> dict[str, str]:
    """``count`` seeded domains (name -> XML)."""
    rng = random.Random(seed)
    out = {}
    for i in range(count):
        machine = _pick(rng, "pc", "q35")
        graphics = _spice(rng) if rng.random() < 0.9 else "<graphics type='vnc' port='5900'/>"
        # libvirt adds USB hubs when the ports run out (virtkit does not): stay within them
        usb, ports = _usb(rng, machine)
        sounds = _sounds(rng, machine, ports > 0)
        ports -= sounds.count("'usb'")
        devices = [usb, graphics, _video(rng), sounds]
        if rng.random() < 0.6:
            devices.append("<channel type='spicevmc'><target type='virtio' "
                           "name='com.redhat.spice.0'/></channel>")
        if rng.random() < 0.5:
            devices.append("<input type='tablet' bus='usb'/>")
            ports -= 1
        devices.append(_redirs(rng, ports))
        features, clock = _hyperv(rng)
        out[f"spice-{i:03d}"] = (
            f"<domain type='qemu'><name>spice{i}</name>"
            f"<uuid>00000000-0000-4000-8000-{i:012d}</uuid><memory unit='MiB'>256</memory>"
            f"<os><type arch='x86_64' machine='{machine}'>hvm</type></os>{features}{clock}"
            f"<devices><emulator>{oracle.QEMU}</emulator>{''.join(devices)}</devices></domain>")
    return out


@pytest.fixture(scope="module")
def libvirt() -> Iterator[oracle.Libvirt]:
    with oracle.libvirt_oracle() as lv:
        yield lv


def _strip(groups: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Groups without PCI placement: on q35 libvirt puts PCIe devices behind
    pcie-root-ports it adds (a known difference, docs/compat.md "pcie-root-ports")."""
    out = []
    for opt, value in groups:
        if opt == "-device" and value.startswith("{"):
            props = json.loads(value)
            if props.get("driver") in ("pcie-root-port", "pcie-pci-bridge"):
                continue
            if str(props.get("bus", "")).startswith(("pci", "pcie")):
                props.pop("bus")
                props.pop("addr", None)
                props.pop("multifunction", None)
            value = json.dumps(props, sort_keys=True)
        out.append((opt, value))
    return out


def _compare(lv: oracle.Libvirt, name: str, xml: str) -> tuple[str, Any]:
    theirs = lv.argv(name, xml)
    try:
        ours: list[str] | VirtError = oracle.virtkit_argv(name, xml)
    except VirtError as exc:
        ours = exc
    if not theirs["ok"]:
        if isinstance(ours, VirtError):
            return ("both-refuse", (theirs["code"], ours.code, theirs["message"], ours.message))
        return ("libvirt-refuses", theirs["message"])
    if isinstance(ours, VirtError):
        if "tls-port=" in theirs["argv"] and "TLS" in ours.message:
            # domxml-to-native allocates no ports, so it skips the start-time refusal of
            # an automatic TLS port without spice_tls (qemuProcessSPICEAllocatePorts)
            return ("both-refuse-at-start", ours.message)
        return ("virtkit-refuses", ours.message)
    a = oracle.normalise(oracle.split_libvirt(theirs["argv"]), xml)
    b = oracle.normalise(ours, xml)
    if "machine='q35'" in xml:
        a, b = _strip(a), _strip(b)
    return ("same" if a == b else "differs", (a, b))


@pytest.mark.slow
@pytest.mark.interop
@pytest.mark.timeout(600)
def test_generated_spice_domains_as_libvirtd(libvirt: oracle.Libvirt) -> None:
    results = {name: _compare(libvirt, name, xml) for name, xml in generate().items()}
    bad = {n: r for n, r in results.items()
           if r[0] not in ("same", "both-refuse", "both-refuse-at-start")}
    assert not bad, "\n".join(f"{n}: {r}" for n, r in sorted(bad.items()))
    codes = {n: r[1] for n, r in results.items() if r[0] == "both-refuse"}
    wrong_code = {n: c for n, c in codes.items() if c[0] != c[1]}
    assert not wrong_code, wrong_code
    same = sum(1 for r in results.values() if r[0] == "same")
    assert same > COUNT // 3 and codes  # the generator reaches both outcomes
    assert libvirt.crashes == []
