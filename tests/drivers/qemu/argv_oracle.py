"""libvirtd 9.0's QEMU driver as the oracle for virtkit's QEMU command line.

Every domain XML of the shared conformance data (and seeded variants of the
ones libvirt accepts) goes to Debian's libvirtd (``domainXMLToNative('qemu-argv')``
over one libvirt-python connection, run by ``/usr/bin/python3``) and to virtkit's
``command.build_command`` in-process; both argument vectors are normalised
(``normalise``; the rules are listed in docs/compat.md) and compared argument
group by argument group.

Run as a script to print today's measurement as the JSON of
``data/argv_oracle_expected.json`` (``--write`` rewrites it; review the diff)::

    .venv/bin/python tests/drivers/qemu/argv_oracle.py [--write]
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import shlex
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
sys.path.insert(0, str(REPO / "bench"))

import qemu_peers  # noqa: E402

from virtkit.conf.dev_common import Boot  # noqa: E402
from virtkit.conf.dev_net import Interface, InterfaceTarget  # noqa: E402
from virtkit.drivers.qemu import qemucaps  # noqa: E402
from virtkit.drivers.qemu.command import CommandContext, build_command  # noqa: E402
from virtkit.drivers.qemu.defs import parse_def  # noqa: E402
from virtkit.errors import VirtError  # noqa: E402
from virtkit.testing.repo import conformance_dir  # noqa: E402

EXPECTED = HERE / "data" / "argv_oracle_expected.json"
QEMU = "/usr/bin/qemu-system-x86_64"
SEED = 14
VARIANT_BASES = 40  # accepted inputs that get mutated variants
MUTATIONS = ("noaddr", "memvcpu", "diskbus")

# One libvirt-python connection; XML documents in, JSON results out (one line each).
WORKER = r"""
import json, sys
import libvirt
libvirt.registerErrorHandler(lambda *a: None, None)
conn = libvirt.open(sys.argv[1])
for line in sys.stdin:
    xml = json.loads(line)
    try:
        out = {"ok": True, "argv": conn.domainXMLToNative("qemu-argv", xml, 0)}
    except libvirt.libvirtError as e:
        out = {"ok": False, "code": e.get_error_code(), "message": e.get_error_message()}
        msg = e.get_error_message() or ""
        if "socket is closed" in msg or "End of file while reading" in msg:
            out["crashed"] = True
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
    if out.get("crashed"):
        break
"""

# libvirt 9.0's domxml-to-native frees an <interface type='hostdev'> while its <hostdev>
# half is still in use: libvirtd crashes (double free) or answers garbage. Not sent.
_CRASHES_LIBVIRT = re.compile(r"<interface\s[^>]*type=['\"]hostdev['\"]")
_NON_QEMU = re.compile(r"<domain[^>]*\stype=(['\"])(lxc|openvz|vz|hyperv|hvf|xen|test|vmware|"
                       r"bhyve|phyp|vbox|uml|parallels)\1")


# ============================================================================ inputs


def _x86(xml: str) -> str | None:
    """The input as both sides see it, or None when it is not an x86 QEMU domain.

    Emulator -> /usr/bin/qemu-system-x86_64 (the only one installed with x86 machines),
    arch i686 -> x86_64. Type kvm stays: libvirt builds a KVM command line here without
    starting anything, and virtkit is told KVM is available."""
    if _NON_QEMU.search(xml):
        return None
    arches = set(re.findall(r"<type[^>]*\sarch=['\"]([^'\"]+)", xml))
    if not arches <= {"x86_64", "i686"}:
        return None
    xml = re.sub(r"<emulator>[^<]*</emulator>", f"<emulator>{QEMU}</emulator>", xml)
    return re.sub(r"(<type[^>]*\sarch=)(['\"])i686\2", r"\1'x86_64'", xml)


def conformance_inputs() -> dict[str, str]:
    """``dir/file`` -> prepared XML, for every x86 QEMU domain of the conformance data,
    and ``virtkit/NAME.xml`` for the QEMU driver's own examples in data/."""
    base = conformance_dir("domain")
    out: dict[str, str] = {}
    for path in sorted((HERE / "data").glob("*.xml")):
        xml = _x86(path.read_text())
        if xml is not None:
            out[f"virtkit/{path.name}"] = xml
    for sub in ("in", "inout", "out"):
        if not (base / sub).is_dir():
            continue
        for path in sorted((base / sub).glob("*.xml")):
            xml = _x86(path.read_text())
            if xml is not None:
                out[f"{sub}/{path.name}"] = xml
    return out


def mutate(xml: str, kind: str, rng: random.Random) -> str | None:
    """A seeded variant of ``xml`` (None when the mutation changes nothing)."""
    if kind == "noaddr":
        new = re.sub(r"<address\s[^>]*/>", "", xml)
    elif kind == "memvcpu":
        mib = rng.choice((256, 768, 1536, 4096))
        new = re.sub(r"<memory[^>]*>\d+</memory>", f"<memory unit='MiB'>{mib}</memory>", xml)
        new = re.sub(r"<currentMemory[^>]*>\d+</currentMemory>",
                     f"<currentMemory unit='MiB'>{mib}</currentMemory>", new)
        if "<topology" not in new and "current=" not in new.split("</vcpu>")[0]:
            new = re.sub(r"(<vcpu[^>]*>)\d+(</vcpu>)", rf"\g<1>{rng.choice((2, 3, 4))}\2", new)
    else:  # diskbus: the first disk with a bus gets another one, its addresses dropped
        m = re.search(r"<disk\s(?:(?!</disk>).)*?<target dev=['\"](\w+)['\"] bus=['\"](\w+)"
                      r"['\"](?:(?!</disk>).)*</disk>", xml, re.S)
        if m is None:
            return None
        bus = rng.choice([b for b in ("virtio", "sata", "scsi") if b != m.group(2)])
        prefix = "vd" if bus == "virtio" else "sd"
        disk = re.sub(r"<address\s[^>]*/>", "", m.group(0))
        disk = re.sub(r"<target dev=['\"]\w+['\"] bus=['\"]\w+['\"]",
                      f"<target dev='{prefix}{m.group(1)[-1]}' bus='{bus}'", disk)
        new = xml[:m.start()] + disk + xml[m.end():]
    return None if new == xml else new


def variants(accepted: dict[str, str]) -> dict[str, str]:
    """Seeded mutations of ``VARIANT_BASES`` of the ``accepted`` inputs (those virtkit
    builds: chosen without asking libvirt, so the choice is the same every run)."""
    rng = random.Random(SEED)
    names = sorted(accepted)
    out: dict[str, str] = {}
    for name in sorted(rng.sample(names, min(VARIANT_BASES, len(names)))):
        for kind in MUTATIONS:
            new = mutate(accepted[name], kind, rng)
            if new is not None:
                out[f"variant/{name}#{kind}"] = new
    return out


# ============================================================================ the two sides


class Libvirt:
    """Debian's libvirtd (QEMU driver) in a private mount namespace plus one worker."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.generation = 0
        self.peer: qemu_peers.LibvirtdQemu | None = None
        self.worker: subprocess.Popen[str] | None = None
        self.crashes: list[str] = []
        self._start()

    def _start(self) -> None:
        self.generation += 1
        self.peer = qemu_peers.start_libvirtd_qemu(self.root / f"d{self.generation}")
        self.worker = subprocess.Popen(
            ["/usr/bin/python3", "-c", WORKER, self.peer.uri], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True)

    def _stop(self) -> None:
        if self.worker is not None:
            with contextlib.suppress(OSError):
                assert self.worker.stdin is not None
                self.worker.stdin.close()
            try:
                self.worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.worker.kill()
                self.worker.wait()
            self.worker = None
        if self.peer is not None:
            self.peer.stop()
            self.peer = None

    def close(self) -> None:
        self._stop()

    def argv(self, name: str, xml: str) -> dict[str, Any]:
        """libvirt's answer for ``xml``; a crash of libvirtd restarts it."""
        assert self.worker is not None and self.worker.stdin and self.worker.stdout
        self.worker.stdin.write(json.dumps(xml) + "\n")
        self.worker.stdin.flush()
        line = self.worker.stdout.readline()
        out: dict[str, Any] = json.loads(line) if line else {"ok": False, "crashed": True}
        if out.get("crashed"):
            self.crashes.append(name)
            self._stop()
            self._start()
        return out


def virtkit_argv(name: str, xml: str) -> list[str]:
    """virtkit's argv for ``xml`` (parsed as the driver defines it) with libvirt's system
    paths and domxml-to-native's view of interfaces (each one an ``ethernet`` keeping only
    MAC, model, boot order and address: libvirt assigned addresses before converting)."""
    d = parse_def(xml)
    dname = d.name or "x"
    if d.devices is not None:
        new = []
        for i, old in enumerate(d.devices.interfaces):
            iface = Interface()
            iface.type = "ethernet"
            iface.mac, iface.model, iface.address = old.mac, old.model, old.address
            if old.boot is not None:
                iface.boot = Boot()
                iface.boot.order = old.boot.order
            iface.target = InterfaceTarget()
            iface.target.dev = f"vnet{i}"
            new.append(iface)
        d.devices.interfaces = new
        for g in d.devices.graphics:  # the driver allocates VNC ports; libvirt's is 5900
            if g.type == "vnc" and (g.autoport == "yes" or g.port in (None, "-1")):
                g.port = "5900"
            if g.type == "spice":  # domxml-to-native: 5901 (qemuProcessSPICEAllocatePorts)
                auto = g.autoport == "yes" or (g.port == "-1" and g.tlsPort == "-1")
                if auto:
                    g.port, g.tlsPort = "0", "0"
                listen = g.listens[0].type if g.listens else None
                if (auto and listen in (None, "address", "network")) or g.port == "-1":
                    g.port = "5901"
                if g.tlsPort == "-1":
                    g.tlsPort = "5902"
    short = dname[:20]  # libvirt's virDomainDefGetShortName
    domdir = f"/var/lib/libvirt/qemu/domain--1-{short}"
    ctx = CommandContext(
        emulator=QEMU, qmp_socket=f"{domdir}/monitor.sock",
        pid_file=f"/run/libvirt/qemu/{dname}.pid",
        log_file=f"/var/log/libvirt/qemu/{dname}.log",
        runtime_dir=f"/var/lib/libvirt/qemu/channel/target/domain--1-{short}",
        kvm_available=True, ovmf_code="/usr/share/OVMF/OVMF_CODE_4M.fd",
        ovmf_vars_template="/usr/share/OVMF/OVMF_VARS_4M.fd",
        nvram_path=f"/var/lib/libvirt/qemu/nvram/{dname}_VARS.fd",
        caps=qemucaps.probe(QEMU))
    return build_command(d, ctx)


# ============================================================================ normalisation

# options dropped on both sides, with their values (see docs/compat.md)
_DROPPED = {"-S": 0, "-pidfile": 1, "-sandbox": 1, "-msg": 1}
_RANDOM_MAC = "<generated mac>"


def split_libvirt(text: str) -> list[str]:
    """libvirt's printed command (``ENV=... /usr/bin/qemu-system-x86_64 args``) -> args."""
    words = shlex.split(text)
    while words and "=" in words[0] and not words[0].startswith("/"):
        words.pop(0)
    return words[1:]


_DOMAIN_DIR = re.compile(r"/var/lib/libvirt/qemu/(?:channel/target/)?domain--1-")


def _value(opt: str, value: str, xml: str) -> str:
    # per-domain directory: libvirt keeps channel sockets apart from the rest
    value = _DOMAIN_DIR.sub("<domain dir>/", value)
    if value.startswith("{"):
        props: dict[str, Any] = json.loads(value)
        if opt == "-netdev" and props.get("type") == "tap":
            props = {"type": "tap", "id": props.get("id")}
        mac = props.get("mac")
        if isinstance(mac, str) and mac.lower() not in xml.lower():
            props["mac"] = _RANDOM_MAC
        return json.dumps(props, sort_keys=True, separators=(",", ":"))
    if opt == "-uuid" and value not in xml:
        return "<generated uuid>"
    return value


def normalise(argv: list[str], xml: str, values: bool = True) -> list[tuple[str, str]]:
    """Argument groups ``(option, value)`` without libvirt's own infrastructure (-S,
    -pidfile, -sandbox, -msg, the masterKey0 secret); ``values``: also normalise values
    (JSON key order, tap netdevs, generated MACs and UUIDs)."""
    groups: list[tuple[str, str]] = []
    i = 0
    while i < len(argv):
        opt = argv[i]
        takes = _DROPPED.get(opt)
        if takes is not None:
            i += 1 + takes
            continue
        if i + 1 < len(argv) and not argv[i + 1].startswith("-"):
            value = argv[i + 1]
            i += 2
        else:
            value = ""
            i += 1
        if opt == "-object" and '"id":"masterKey0"' in value:
            continue
        groups.append((opt, _value(opt, value, xml) if values else value))
    return groups


def kind(group: tuple[str, str]) -> str:
    """The kind of an argument group: ``-device:virtio-blk-pci``, ``-m``, ..."""
    opt, value = group
    if value.startswith("{"):
        props = json.loads(value)
        sub = props.get("driver") or props.get("qom-type") or props.get("type")
        return f"{opt}:{sub}"
    if opt in ("-chardev", "-netdev"):
        return f"{opt}:{value.split(',')[0]}"
    return opt


def differences(theirs: list[tuple[str, str]], ours: list[tuple[str, str]]) -> list[str]:
    """Sorted difference signature: ``+K`` only libvirt has a K group, ``-K`` only
    virtkit, ``~K`` both but with other values; ``order`` same groups, other order."""
    a, b = Counter(theirs), Counter(ours)
    only_l = Counter(kind(g) for g in (a - b).elements())
    only_v = Counter(kind(g) for g in (b - a).elements())
    sig = set()
    for k in set(only_l) | set(only_v):
        if only_l[k] and only_v[k]:
            sig.add(f"~{k}")
        elif only_l[k]:
            sig.add(f"+{k}")
        else:
            sig.add(f"-{k}")
    if not sig and theirs != ours:
        sig.add("order")
    return sorted(sig)


# ============================================================================ measurement


@dataclass
class Result:
    """Classification of one input."""

    # identical | normalised | differs | refused-by-libvirt | refused-by-virtkit |
    # crashes-libvirt (not sent, see _CRASHES_LIBVIRT)
    cls: str
    diffs: list[str] = field(default_factory=list)
    detail: str = ""


def classify(lv: dict[str, Any], name: str, xml: str) -> Result:
    if not lv["ok"]:
        return Result("refused-by-libvirt", detail=str(lv.get("message", "crashed")))
    raw_l = split_libvirt(lv["argv"])
    try:
        raw_v = virtkit_argv(name, xml)
    except VirtError as e:
        return Result("refused-by-virtkit", detail=str(e))
    if normalise(raw_l, xml, False) == normalise(raw_v, xml, False):
        return Result("identical")
    diffs = differences(normalise(raw_l, xml), normalise(raw_v, xml))
    return Result("differs", diffs) if diffs else Result("normalised")


@contextlib.contextmanager
def libvirt_oracle() -> Iterator[Libvirt]:
    with tempfile.TemporaryDirectory(prefix="vk-argv-oracle-") as tmp:
        lv = Libvirt(Path(tmp))
        try:
            yield lv
        finally:
            lv.close()


def measure(lv: Libvirt) -> dict[str, Result]:
    """Classify every conformance input and every variant."""
    inputs = conformance_inputs()
    inputs.update(variants({n: x for n, x in inputs.items() if _builds(n, x)}))
    out = {}
    for name in sorted(inputs):
        xml = inputs[name]
        if _CRASHES_LIBVIRT.search(xml):
            out[name] = Result("crashes-libvirt")
        else:
            out[name] = classify(lv.argv(name, xml), name, xml)
    return out


def _builds(name: str, xml: str) -> bool:
    try:
        virtkit_argv(name, xml)
    except VirtError:
        return False
    return True


# Why a difference is there: (reason, kinds it explains, when it applies). The first
# rules that explain all of a file's kinds win; docs/compat.md describes each reason.
_RULES: list[tuple[str, frozenset[str], str]] = [
    ("cpu-model-expansion", frozenset({"~-cpu"}), ""),
    ("scsi-lsi", frozenset({"+-device:lsi", "--device:virtio-scsi-pci", "~-device:scsi-hd",
                            "~-device:scsi-cd"}), ""),
    ("efi-autoselect", frozenset({"+-global", "~-blockdev:file", "~-machine"}),
     "firmware-auto"),
    ("reboot-action", frozenset({"+-no-shutdown", "--no-reboot"}), ""),
    ("usb-hubs", frozenset({"+-device:usb-hub", "~-device:usb-mouse", "~-device:usb-tablet"}),
     ""),
    ("channel-path", frozenset({"~-chardev:socket"}), "channel-unix-source-path"),
    ("oracle-net-conversion", frozenset({"+-device:virtio-net-pci", "--device:rtl8139"}),
     "net-vdpa"),
    ("oracle-net-conversion", frozenset({"~-device:virtio-net-pci"}), "pc-efi-kernel"),
    ("oracle-net-conversion", frozenset({"~-device:rtl8139"}), "net-user-addr"),
    ("oracle-net-conversion", frozenset({"~-device:rtl8139"}), "graphics-spice-timeout"),
    ("usb-companion-order", frozenset({"order"}), "ich9-ehci"),
]


def reasons_for(name: str, diffs: list[str]) -> list[str]:
    """The reason categories that explain ``diffs`` (raises if something is left)."""
    left = set(diffs)
    reasons = []
    for reason, kinds, applies in _RULES:
        if left & kinds and applies in name:
            reasons.append(reason)
            left -= kinds
    # q35: libvirt puts PCIe devices behind pcie-root-ports (and legacy PCI devices behind
    # a pcie-pci-bridge): those and every device placed elsewhere because of it
    pcie = {k for k in left if k.endswith(("pcie-root-port", "pcie-pci-bridge"))}
    if pcie or ("q35" in name and left and all(k.startswith("~-device:") for k in left)):
        reasons.append("pcie-root-ports")
        left = {k for k in left if not k.startswith(("~-device:", "+-device:pcie"))}
    if left:
        raise ValueError(f"{name}: no reason for {sorted(left)}")
    return sorted(reasons)


def summary(results: dict[str, Result]) -> dict[str, Any]:
    """The data file's shape: counts; per differing file its kinds and reasons; the files
    refused by virtkit only, under virtkit's error message."""
    counts = Counter(r.cls for r in results.values())
    differs: dict[str, Any] = {}
    refused: dict[str, list[str]] = {}
    for name, r in results.items():
        if r.cls == "differs":
            differs[name] = {"diffs": r.diffs, "reasons": reasons_for(name, r.diffs)}
        elif r.cls == "refused-by-virtkit":
            refused.setdefault(r.detail, []).append(name)
    return {"counts": dict(sorted(counts.items())), "differs": differs,
            "refused_by_virtkit": refused}


def main() -> int:
    with libvirt_oracle() as lv:
        results = measure(lv)
        crashes = list(lv.crashes)
    data = summary(results)
    if crashes:
        print("libvirtd crashed on:", crashes, file=sys.stderr)
        return 1
    if "--detail" in sys.argv:
        for name, r in results.items():
            print(name, r.cls, r.diffs, r.detail[:200])
    text = json.dumps(data, indent=0, sort_keys=True) + "\n"
    if "--write" in sys.argv:
        EXPECTED.write_text(text)
    print(json.dumps(data["counts"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
