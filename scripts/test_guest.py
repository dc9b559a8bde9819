#!/usr/bin/env python3
"""Build (once) and locate a tiny bootable Linux guest for the QEMU tests, bench and demo.

The guest is made offline from Debian packages that apt already knows about: the kernel and its
modules come from ``linux-image-cloud-amd64`` (fetched with ``apt-get download`` and unpacked with
``dpkg-deb -x``; nothing is installed on the host), ``/bin/busybox`` from ``busybox-static``, the
guest agent from Debian's ``qemu-guest-agent`` (``/usr/sbin/qemu-ga`` with the shared libraries its
ELF ``NEEDED`` entries reach, at their Debian paths) and ``/etc/os-release`` from ``base-files``.
The initramfs (cpio newc, gzip) is written here in Python, so no root-only ``mknod`` is needed.

The result lives outside the repository, in ``$VIRTKIT_GUEST_CACHE`` or
``$XDG_CACHE_HOME/virtkit/guest`` (``~/.cache/virtkit/guest``), in a folder named after the package
versions and this recipe; it is rebuilt only when one of them changes, and built atomically (in a
temporary folder that is renamed into place).

Usage as a library (``sys.path.insert(0, "scripts")``)::

    from test_guest import ensure_guest
    guest = ensure_guest()
    argv = ["qemu-system-x86_64", *guest.qemu_boot_args(), ...]

As a command: ``python scripts/test_guest.py [--rebuild] [--print] [--boot]``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import gzip
import hashlib
import json
import lzma
import os
import re
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import ClassVar

# What the guest prints on its serial console (ttyS0), in this order.
BOOT_MARKER = "VIRTKIT-GUEST-BOOTED"
IP_MARKER = "VIRTKIT-GUEST-IP"  # followed by " <address>" once DHCP configured eth0
DISK_OK_MARKER = "VIRTKIT-GUEST-DISK-OK"  # the disk marker was written to /dev/vda
READY_MARKER = "VIRTKIT-GUEST-READY"
POWEROFF_MARKER = "VIRTKIT-GUEST-POWEROFF"  # the power button was pressed, or shutdown ran
REBOOT_MARKER = "VIRTKIT-GUEST-REBOOT"  # shutdown -r ran (qemu-ga's guest-shutdown mode=reboot)
# What the guest writes at offset 0 of /dev/vda (one line, NUL padded to 512 bytes).
DISK_MARKER = "VIRTKIT-DISK-MARKER"

CMDLINE = "console=ttyS0 quiet loglevel=1 panic=-1"
KERNEL_META_PACKAGE = "linux-image-cloud-amd64"
BUSYBOX_PACKAGE = "busybox-static"
HOSTNAME = "virtkit-guest"
AGENT_PACKAGE = "qemu-guest-agent"
AGENT_BINARY = "usr/sbin/qemu-ga"
AGENT_PORT = "org.qemu.guest_agent.0"
# Where qemu-ga's libraries come from: its Depends and theirs, as far as the ELF NEEDED closure of
# qemu-ga reaches (checked at build time: a soname none of them ships fails the build).
AGENT_LIB_PACKAGES = ("libc6", "libglib2.0-0", "libpcre2-8-0", "libnuma1", "libudev1", "liburing2")
OS_RELEASE_PACKAGE = "base-files"
EXTRA_PACKAGES = (AGENT_PACKAGE, *AGENT_LIB_PACKAGES, OS_RELEASE_PACKAGE)
# The dynamic loader's search path on Debian amd64 (no ld.so.cache in the guest).
LIB_DIRS = ("lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu")
DISK_SIZE = 64 * 1024 * 1024

# Modules the guest loads (when not built into the kernel), by module name.
MODULES = (
    "button",
    "evdev",
    "virtio_ring",
    "virtio",
    "virtio_pci_modern_dev",
    "virtio_pci_legacy_dev",
    "virtio_pci",
    "virtio_blk",
    "failover",
    "net_failover",
    "virtio_net",
    "virtio_console",
    "virtio_balloon",
)

INITRAMFS_DIRS: tuple[str, ...] = (
    "bin",
    "sbin",
    "usr/bin",
    "usr/sbin",
    "dev",
    "proc",
    "sys",
    "run",
    "tmp",
    "etc",
)
INITRAMFS_DIRS += ("root", "var/log")

# Bump when the layout or the files written below change in a way the init text does not show.
RECIPE_VERSION = 6

INIT_TEMPLATE = r"""#!/bin/busybox sh
# virtkit test guest: PID 1. Never exits.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /run /tmp /var/log
mount -t devpts devpts /dev/pts
exec </dev/console >/dev/console 2>&1
hostname -F /etc/hostname
for m in @MODULES@; do
    insmod "/lib/modules/@KVER@/$m" || echo "VIRTKIT-GUEST-WARN insmod $m failed"
done
echo "@BOOT@"
acpid -c /etc/acpi -l /var/log/acpid.log
syslogd -O /var/log/messages  # where qemu-ga reports each command it runs
ip link set lo up
if [ -e /sys/class/net/eth0 ]; then
    udhcpc -i eth0 -s /etc/udhcpc.script -q -n -t 10 -T 1 >/dev/null 2>&1 \
        || echo "@IP@ none"
fi
if [ -e /sys/block/vda ]; then
    n=0
    while [ ! -b /dev/vda ] && [ $n -lt 50 ]; do usleep 20000; n=$((n + 1)); done
    if printf '%s\n' "@DISKMARK@" | dd of=/dev/vda bs=512 count=1 conv=sync,notrunc,fsync \
            2>/dev/null; then
        echo "@DISKOK@"
    else
        echo "VIRTKIT-GUEST-DISK-FAIL"
    fi
fi
(   # Debian's qemu-ga on its virtio port (ports appear once virtio_console probed them),
    # under the name udev would give it; started again whenever it exits
    n=0
    while [ $n -lt 50 ]; do
        for p in /sys/class/virtio-ports/*; do
            if [ "$(cat "$p/name" 2>/dev/null)" = "@AGENTPORT@" ] && [ -c "/dev/${p##*/}" ]; then
                mkdir -p /dev/virtio-ports
                ln -sf "../${p##*/}" /dev/virtio-ports/@AGENTPORT@
                while :; do
                    qemu-ga -m virtio-serial -p /dev/virtio-ports/@AGENTPORT@ \
                        -l /var/log/qemu-ga.log
                    sleep 1
                done
            fi
        done
        usleep 100000
        n=$((n + 1))
    done
) &
echo "@READY@"
while :; do
    setsid cttyhack sh -l
    sleep 1
done
"""

# What qemu-ga 7.2's guest-shutdown executes: ``/sbin/shutdown -h -P|-H|-r +0 "hypervisor initiated
# shutdown"`` (stdio on /dev/null; a non-zero exit is reported to the host as a failure).
SHUTDOWN_SCRIPT = """#!/bin/sh
what=poweroff
for a in "$@"; do
    case "$a" in -r) what=reboot ;; -H) what=halt ;; esac
done
if [ $what = reboot ]; then
    echo "@REBOOT@ (shutdown $*)" >/dev/console
else
    echo "@POWEROFF@ (shutdown $*)" >/dev/console
fi
sync
exec $what -f
"""

POWER_BUTTON_SCRIPT = """#!/bin/sh
echo "@POWEROFF@" >/dev/console
sync
poweroff -f
"""

UDHCPC_SCRIPT = """#!/bin/sh
# udhcpc event script: configure the interface and report the address on the console.
case "$1" in
deconfig)
    ip addr flush dev "$interface"
    ip link set "$interface" up
    ;;
bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    for r in $router; do ip route add default via "$r" dev "$interface"; break; done
    : >/etc/resolv.conf
    for d in $dns; do echo "nameserver $d" >>/etc/resolv.conf; done
    # report what the interface really has, not what the server offered
    for a in $(ip -4 -o addr show dev "$interface" | awk '{print $4}'); do
        echo "@IP@ ${a%/*}" >/dev/console
    done
    ;;
esac
exit 0
"""


class GuestBuildError(RuntimeError):
    """The guest could not be built (a package could not be found, fetched or unpacked)."""


@dataclasses.dataclass(frozen=True)
class Guest:
    """A built guest: kernel, initramfs, template disk images and how to boot them.

    ``qcow2`` and ``raw`` are shared templates: copy them (``copy_disk``) before letting a guest
    write to them.
    """

    root: Path
    kernel: Path
    initrd: Path
    qcow2: Path
    raw: Path
    kernel_version: str
    cmdline: str = CMDLINE

    BOOT_MARKER: ClassVar[str] = BOOT_MARKER
    IP_MARKER: ClassVar[str] = IP_MARKER
    DISK_OK_MARKER: ClassVar[str] = DISK_OK_MARKER
    READY_MARKER: ClassVar[str] = READY_MARKER
    POWEROFF_MARKER: ClassVar[str] = POWEROFF_MARKER
    REBOOT_MARKER: ClassVar[str] = REBOOT_MARKER
    HOSTNAME: ClassVar[str] = HOSTNAME
    AGENT_PORT: ClassVar[str] = AGENT_PORT
    DISK_MARKER: ClassVar[str] = DISK_MARKER

    def qemu_boot_args(self) -> list[str]:
        """``-kernel``/``-initrd``/``-append`` arguments that boot this guest."""
        return ["-kernel", str(self.kernel), "-initrd", str(self.initrd), "-append", self.cmdline]

    def copy_disk(self, dest: Path, fmt: str = "qcow2") -> Path:
        """Copy the empty ``qcow2`` or ``raw`` template to ``dest`` and return ``dest``."""
        src = {"qcow2": self.qcow2, "raw": self.raw}[fmt]
        # cp keeps the 64 MiB raw image sparse; shutil.copyfile would write every zero
        subprocess.run(["cp", "--sparse=always", str(src), str(dest)], check=True)
        return dest


# --- where and which -------------------------------------------------------------------------


def cache_root() -> Path:
    """The folder holding every built guest."""
    env = os.environ.get("VIRTKIT_GUEST_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "virtkit" / "guest"


def _run(argv: list[str], cwd: Path | None = None) -> str:
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise GuestBuildError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def _candidates(packages: list[str]) -> dict[str, str]:
    """Candidate versions of packages, as ``apt-cache policy`` reports them."""
    out = _run(["apt-cache", "policy", *packages])
    found: dict[str, str] = {}
    current = None
    for line in out.splitlines():
        head = re.match(r"^(\S+?):\s*$", line)
        if head:
            current = head.group(1)
            continue
        m = re.match(r"^\s+Candidate:\s*(\S+)", line)
        if m and current and m.group(1) != "(none)":
            found[current] = m.group(1)
    return found


def _kernel_package() -> str | None:
    """The versioned ``linux-image-<ver>-cloud-amd64`` that the meta package depends on."""
    out = _run(["apt-cache", "depends", KERNEL_META_PACKAGE])
    names = re.findall(r"Depends:\s*(linux-image-\S+-cloud-amd64)\b", out)
    return names[0] if names else None


def _version_key(package: str) -> str:
    """The key of an extra package's version in the ``resolve_packages`` answer."""
    return f"{package}_version"


def _resolve_once() -> dict[str, str] | None:
    try:
        kpkg = _kernel_package()
        if kpkg is None:
            return None
        cands = _candidates([kpkg, BUSYBOX_PACKAGE, *EXTRA_PACKAGES])
    except (GuestBuildError, FileNotFoundError):
        return None
    if any(cands.get(p) is None for p in (kpkg, BUSYBOX_PACKAGE, *EXTRA_PACKAGES)):
        return None
    found = {
        "kernel_package": kpkg,
        "kernel_version": cands[kpkg],
        "busybox_version": cands[BUSYBOX_PACKAGE],
    }
    found.update({_version_key(p): cands[p] for p in EXTRA_PACKAGES})
    return found


def wanted_debs(pkgs: dict[str, str]) -> dict[str, str]:
    """Every package the guest is made from, name to version, from a ``resolve_packages`` answer."""
    wanted = {
        pkgs["kernel_package"]: pkgs["kernel_version"],
        BUSYBOX_PACKAGE: pkgs["busybox_version"],
    }
    wanted.update({p: pkgs[_version_key(p)] for p in EXTRA_PACKAGES})
    return wanted


def _apt_update() -> None:
    _run(["apt-get", "update", "-qq"])


APT_STATE_PATHS = (Path("/var/lib/apt/lists"), Path("/etc/apt"))


def _apt_signature() -> str:
    """Changes whenever apt's lists or configuration change (cheap: stats only)."""
    h = hashlib.sha256()
    for top in APT_STATE_PATHS:
        if not top.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = sorted(d for d in dirnames if d != "partial")
            for name in sorted(filenames):
                with contextlib.suppress(OSError):
                    st = os.stat(os.path.join(dirpath, name))
                    h.update(f"{dirpath}/{name}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    return h.hexdigest()


def resolve_packages(update: bool = True) -> dict[str, str] | None:
    """Package names and candidate versions from apt's lists (``apt-get update`` if they lack them).

    apt-cache takes about a second here, so the answer is remembered in the cache folder together
    with a signature of apt's state, and asked again only when that changes.
    """
    # one memo per recipe: an older recipe's code, still running in a test session, must not
    # read an answer with other packages (it would build, and prune, under a key of its own)
    memo = cache_root() / f".resolved-{RECIPE_VERSION}.json"
    sig = _apt_signature()
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        saved = json.loads(memo.read_text())
        if saved["signature"] == sig:
            packages = dict(saved["packages"])
            wanted_debs(packages)  # KeyError: remembered by a recipe with other packages
            return packages
    found = _resolve_once()
    if found is None and update:
        with contextlib.suppress(GuestBuildError, FileNotFoundError):
            _apt_update()
        sig = _apt_signature()
        found = _resolve_once()
    if found is not None:
        with contextlib.suppress(OSError):
            memo.parent.mkdir(parents=True, exist_ok=True)
            tmp = memo.with_name(f".resolved.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"signature": sig, "packages": found}))
            os.replace(tmp, memo)
    return found


def _init_text(kver: str, modules: Iterable[str]) -> str:
    subst = {
        "@MODULES@": " ".join(modules),
        "@KVER@": kver,
        "@BOOT@": BOOT_MARKER,
        "@IP@": IP_MARKER,
        "@DISKMARK@": DISK_MARKER,
        "@DISKOK@": DISK_OK_MARKER,
        "@READY@": READY_MARKER,
        "@AGENTPORT@": AGENT_PORT,
    }
    text = INIT_TEMPLATE
    for key, value in subst.items():
        text = text.replace(key, value)
    return text


def cache_key(pkgs: dict[str, str]) -> str:
    """Folder name for a build from these package versions with this recipe."""
    h = hashlib.sha256()
    for part in (
        json.dumps(pkgs, sort_keys=True),
        str(RECIPE_VERSION),
        INIT_TEMPLATE,
        POWER_BUTTON_SCRIPT,
        SHUTDOWN_SCRIPT,
        UDHCPC_SCRIPT,
        " ".join(MODULES),
        " ".join(EXTRA_PACKAGES),
    ):
        h.update(part.encode())
        h.update(b"\0")
    safe = re.sub(r"[^A-Za-z0-9.+-]", "_", pkgs["kernel_version"])
    return f"{safe}-{h.hexdigest()[:12]}"


# --- public entry point ----------------------------------------------------------------------


def _load(folder: Path) -> Guest:
    meta = json.loads((folder / "manifest.json").read_text())
    with contextlib.suppress(OSError):
        os.utime(folder)  # last use: _prune keeps what was used recently
    return Guest(
        root=folder,
        kernel=folder / "vmlinuz",
        initrd=folder / "initrd.img",
        qcow2=folder / "disk.qcow2",
        raw=folder / "disk.raw",
        kernel_version=meta["kernel_release"],
        cmdline=meta["cmdline"],
    )


def _newest_build(root: Path) -> Path | None:
    builds = [p for p in root.glob("*/manifest.json") if not p.parent.name.startswith(".")]
    if not builds:
        return None
    return max(builds, key=lambda p: p.stat().st_mtime).parent


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_guest(rebuild: bool = False) -> Guest:
    """Return the guest for the current package versions, building it first if needed.

    Without apt metadata (and no way to refresh it) the newest earlier build is used.
    """
    root = cache_root()
    pkgs = resolve_packages(update=True)
    if pkgs is None:
        fallback = _newest_build(root) if root.is_dir() else None
        if fallback is None or rebuild:
            raise GuestBuildError(
                f"apt knows no candidate of {KERNEL_META_PACKAGE}, {BUSYBOX_PACKAGE} or one of"
                f" {', '.join(EXTRA_PACKAGES)}: cannot build the guest"
            )
        return _load(fallback)
    final = root / cache_key(pkgs)
    if not rebuild and (final / "manifest.json").is_file():
        return _load(final)
    with _locked(root):
        if rebuild and final.exists():
            shutil.rmtree(final)
        if not (final / "manifest.json").is_file():
            _build(root, final, pkgs)
    return _load(final)


# --- building --------------------------------------------------------------------------------


def _download(debs: Path, pkgs: dict[str, str]) -> dict[str, Path]:
    """Every ``.deb`` of ``wanted_debs(pkgs)``, fetched into ``debs`` unless already there."""
    debs.mkdir(parents=True, exist_ok=True)
    wanted = wanted_debs(pkgs)

    def find(name: str, version: str) -> Path | None:
        # apt escapes ':' in the epoch as %3a in the file name
        vers = {version, version.replace(":", "%3a")}
        for p in debs.glob(f"{name}_*.deb"):
            if p.name.split("_")[1] in vers:
                return p
        return None

    missing = [f"{n}={v}" for n, v in wanted.items() if find(n, v) is None]
    if missing:
        argv = ["apt-get", "download", "-q"]
        if os.geteuid() == 0:
            # root's apt drops to the _apt user, which cannot write into a root-owned cache
            argv += ["-o", "APT::Sandbox::User=root"]
        try:
            _run([*argv, *missing], cwd=debs)
        except GuestBuildError:
            # stale lists point at versions the mirror no longer has: refresh and retry once
            _apt_update()
            _run([*argv, *missing], cwd=debs)
    found = {n: find(n, v) for n, v in wanted.items()}
    paths = {n: p for n, p in found.items() if p is not None}
    if len(paths) != len(wanted):
        lacking = sorted(set(wanted) - set(paths))
        raise GuestBuildError(f"apt-get download did not produce {lacking}")
    return paths


def _modules_dir(tree: Path) -> Path:
    """``<tree>/lib/modules`` (moved there from ``usr/lib/modules``, where depmod -b won't look)."""
    mods = tree / "lib" / "modules"
    usr_mods = tree / "usr" / "lib" / "modules"
    if not mods.is_dir() and usr_mods.is_dir():
        mods.parent.mkdir(parents=True, exist_ok=True)
        usr_mods.rename(mods)
    if not mods.is_dir():
        raise GuestBuildError(f"no lib/modules in {tree}")
    return mods


def _parse_modules_dep(text: str) -> dict[str, list[str]]:
    deps: dict[str, list[str]] = {}
    for line in text.splitlines():
        if ":" not in line:
            continue
        mod, _, rest = line.partition(":")
        deps[mod.strip()] = rest.split()
    return deps


def _mod_name(path: str) -> str:
    base = path.rsplit("/", 1)[-1]
    base = base.split(".ko", 1)[0]
    return base.replace("-", "_")


def module_load_order(
    modules_dep: str, builtin: str, wanted: Iterable[str]
) -> tuple[list[str], list[str]]:
    """Order the wanted modules (and what they need) so dependencies load first.

    Takes the texts of ``modules.dep`` and ``modules.builtin``; returns ``(paths, builtins)``:
    the module paths (relative to the kernel's module folder) to insmod in order, and the wanted
    names that are built into the kernel. A wanted name that is neither raises GuestBuildError.
    """
    deps = _parse_modules_dep(modules_dep)
    by_name = {_mod_name(p): p for p in deps}
    builtin_names = {_mod_name(line.strip()) for line in builtin.splitlines() if line.strip()}
    order: list[str] = []
    seen: set[str] = set()

    def visit(path: str, stack: tuple[str, ...]) -> None:
        if path in seen:
            return
        if path in stack:
            raise GuestBuildError(f"module dependency cycle: {' -> '.join((*stack, path))}")
        for dep in deps.get(path, []):
            visit(dep, (*stack, path))
        seen.add(path)
        order.append(path)

    built_in: list[str] = []
    for name in wanted:
        key = name.replace("-", "_")
        if key in by_name:
            visit(by_name[key], ())
        elif key in builtin_names:
            built_in.append(name)
        else:
            raise GuestBuildError(f"kernel has no module {name!r}")
    return order, built_in


def elf_dynamic(data: bytes) -> tuple[str | None, list[str]]:
    """``(PT_INTERP path, DT_NEEDED sonames)`` of a little-endian ELF64 file."""
    if data[:4] != b"\x7fELF" or data[4:6] != b"\x02\x01":
        raise GuestBuildError("not a little-endian ELF64 file")
    (phoff,) = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    interp: str | None = None
    loads: list[tuple[int, int, int]] = []  # (vaddr, offset, filesz)
    dynamic: tuple[int, int] | None = None
    for i in range(phnum):
        at = phoff + i * phentsize
        ptype, _, offset, vaddr, _, filesz = struct.unpack_from("<IIQQQQ", data, at)
        if ptype == 1:  # PT_LOAD
            loads.append((vaddr, offset, filesz))
        elif ptype == 2:  # PT_DYNAMIC
            dynamic = (offset, filesz)
        elif ptype == 3:  # PT_INTERP
            interp = data[offset : offset + filesz].rstrip(b"\0").decode()
    if dynamic is None:
        return interp, []
    needed: list[int] = []
    strtab = None
    for off in range(dynamic[0], dynamic[0] + dynamic[1], 16):
        tag, val = struct.unpack_from("<qQ", data, off)
        if tag == 0:  # DT_NULL
            break
        if tag == 1:  # DT_NEEDED
            needed.append(val)
        elif tag == 5:  # DT_STRTAB (an address)
            strtab = val
    base = next((o + strtab - v for v, o, n in loads if strtab is not None and v <= strtab < v + n),
                None)
    if base is None:
        raise GuestBuildError("ELF file without a loaded string table")
    return interp, [data[base + n : data.index(b"\0", base + n)].decode() for n in needed]


def library_closure(tree: Path, binary: str) -> tuple[str, list[str]]:
    """The loader and the libraries (paths relative to ``tree``) ``binary`` needs, transitively.

    Sonames are looked up in ``LIB_DIRS`` of ``tree``, as Debian's loader does without a cache;
    one that is not there raises GuestBuildError naming it.
    """
    interp, needed = elf_dynamic((tree / binary).read_bytes())
    if interp is None:
        raise GuestBuildError(f"{binary} is not dynamically linked")
    found: dict[str, str] = {}
    todo = list(needed)
    while todo:
        soname = todo.pop(0)
        if soname in found:
            continue
        rel = next((f"{d}/{soname}" for d in LIB_DIRS if (tree / d / soname).exists()), None)
        if rel is None:
            raise GuestBuildError(f"{soname} (needed by {binary}) is in none of"
                                  f" {', '.join(AGENT_LIB_PACKAGES)}")
        found[soname] = rel
        todo += elf_dynamic((tree / rel).read_bytes())[1]
    return interp.lstrip("/"), sorted(found.values())


class CpioWriter:
    """A minimal cpio "newc" archive writer (what the kernel unpacks as initramfs)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._ino = 1
        self._names: set[str] = set()

    def _entry(
        self, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)
    ) -> None:
        name = name.strip("/")
        if name in self._names:
            return
        self._names.add(name)
        encoded = name.encode() + b"\0"
        fields = (
            self._ino, mode, 0, 0, 2 if stat.S_ISDIR(mode) else 1, 0, len(data),
            0, 0, rdev[0], rdev[1], len(encoded), 0,
        )  # fmt: skip
        self._ino += 1
        header = b"070701" + b"".join(b"%08X" % f for f in fields)
        self._parts.append(header + encoded + _pad(len(header) + len(encoded)))
        self._parts.append(data + _pad(len(data)))

    def dir(self, name: str, mode: int = 0o755) -> None:
        parts = name.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            self._entry("/".join(parts[:i]), stat.S_IFDIR | mode)

    def file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        self._parent(name)
        self._entry(name, stat.S_IFREG | mode, data)

    def symlink(self, name: str, target: str) -> None:
        self._parent(name)
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def chardev(self, name: str, major: int, minor: int, mode: int = 0o600) -> None:
        self._parent(name)
        self._entry(name, stat.S_IFCHR | mode, rdev=(major, minor))

    def _parent(self, name: str) -> None:
        parent = name.strip("/").rpartition("/")[0]
        if parent:
            self.dir(parent)

    def getvalue(self) -> bytes:
        trailer = CpioWriter()
        trailer._entry("TRAILER!!!", 0)
        return b"".join(self._parts + trailer._parts)


def _pad(n: int) -> bytes:
    return b"\0" * (-n % 4)


def _module_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if path.name.endswith(".ko.xz"):
        return lzma.decompress(data)
    if path.name.endswith(".ko.gz"):
        return gzip.decompress(data)
    if path.name.endswith(".ko"):
        return data
    raise GuestBuildError(f"cannot unpack module {path.name} (busybox insmod wants plain .ko)")


def _add_tree_file(cpio: CpioWriter, tree: Path, rel: str) -> None:
    """``tree/rel`` at ``rel``: a symlink as a symlink (and what it points to), a file as a file."""
    path = tree / rel
    if path.is_symlink():
        target = os.readlink(path)
        cpio.symlink(rel, target)
        dest = target.lstrip("/") if target.startswith("/") else f"{Path(rel).parent}/{target}"
        _add_tree_file(cpio, tree, os.path.normpath(dest))
    else:
        cpio.file(rel, path.read_bytes(), 0o755 if os.access(path, os.X_OK) else 0o644)


def _make_initramfs(trees: dict[str, Path], mod_root: Path, kver: str, order: list[str]) -> bytes:
    cpio = CpioWriter()
    for d in INITRAMFS_DIRS:
        cpio.dir(d)
    cpio.symlink("var/run", "/run")
    cpio.chardev("dev/console", 5, 1)
    cpio.chardev("dev/null", 1, 3, 0o666)
    busybox = trees[BUSYBOX_PACKAGE] / "bin" / "busybox"
    cpio.file("bin/busybox", busybox.read_bytes(), 0o755)
    applets = _run([str(busybox), "--list-full"]).split()
    for applet in applets:
        if applet != "bin/busybox":
            cpio.symlink(applet, "/bin/busybox")
    plain: list[str] = []
    for rel in order:
        name = rel.split(".ko", 1)[0] + ".ko"
        cpio.file(f"lib/modules/{kver}/{name}", _module_bytes(mod_root / rel))
        plain.append(name)
    cpio.file("init", _init_text(kver, plain).encode(), 0o755)
    cpio.file(
        "etc/acpi/PWRF/00000080",
        POWER_BUTTON_SCRIPT.replace("@POWEROFF@", POWEROFF_MARKER).encode(),
        0o755,
    )
    cpio.file("etc/udhcpc.script", UDHCPC_SCRIPT.replace("@IP@", IP_MARKER).encode(), 0o755)
    # qemu-ga, its loader and libraries at their Debian paths (one tree: they reach each other)
    libs = trees[AGENT_PACKAGE]
    interp, closure = library_closure(libs, AGENT_BINARY)
    for rel in (AGENT_BINARY, interp, *closure):
        _add_tree_file(cpio, libs, rel)
    shutdown = SHUTDOWN_SCRIPT.replace("@POWEROFF@", POWEROFF_MARKER)
    cpio.file("sbin/shutdown", shutdown.replace("@REBOOT@", REBOOT_MARKER).encode(), 0o755)
    base = trees[OS_RELEASE_PACKAGE]
    for rel in ("etc/os-release", "etc/debian_version"):
        _add_tree_file(cpio, base, rel)
    cpio.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
    cpio.file("etc/group", b"root:x:0:\n")
    cpio.file("etc/hostname", f"{HOSTNAME}\n".encode())
    cpio.file("etc/hosts", f"127.0.0.1\tlocalhost\n127.0.1.1\t{HOSTNAME}\n".encode())
    return gzip.compress(cpio.getvalue(), compresslevel=6, mtime=0)


def _build(root: Path, final: Path, pkgs: dict[str, str]) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=root))
    try:
        debs = _download(root / "debs", pkgs)
        kdeb = debs[pkgs["kernel_package"]]
        # the kernel, busybox and base-files each in their own tree; qemu-ga and its libraries
        # in one, as dpkg would lay them out
        trees = {
            name: tmp / "x" / name
            for name in (pkgs["kernel_package"], BUSYBOX_PACKAGE, AGENT_PACKAGE, OS_RELEASE_PACKAGE)
        }
        for name, deb in debs.items():
            tree = trees.get(name, trees[AGENT_PACKAGE])
            tree.mkdir(parents=True, exist_ok=True)
            _run(["dpkg-deb", "-x", str(deb), str(tree)])
        ktree = trees[pkgs["kernel_package"]]
        mods = _modules_dir(ktree)
        releases = [p.name for p in mods.iterdir() if p.is_dir()]
        if len(releases) != 1:
            raise GuestBuildError(f"expected one kernel release in {mods}, found {releases}")
        kver = releases[0]
        vmlinuz = ktree / "boot" / f"vmlinuz-{kver}"
        if not vmlinuz.is_file():
            raise GuestBuildError(f"{vmlinuz} missing from {kdeb.name}")
        # the package ships no modules.dep: make one (into the unpacked tree only)
        _run(["depmod", "-b", str(ktree), kver])
        mod_root = mods / kver
        builtin_path = mod_root / "modules.builtin"
        builtin = builtin_path.read_text() if builtin_path.is_file() else ""
        order, built_in = module_load_order(
            (mod_root / "modules.dep").read_text(), builtin, MODULES
        )
        shutil.copyfile(vmlinuz, tmp / "vmlinuz")
        (tmp / "initrd.img").write_bytes(_make_initramfs(trees, mod_root, kver, order))
        _run(["qemu-img", "create", "-q", "-f", "qcow2", str(tmp / "disk.qcow2"), str(DISK_SIZE)])
        _run(["qemu-img", "create", "-q", "-f", "raw", str(tmp / "disk.raw"), str(DISK_SIZE)])
        shutil.rmtree(tmp / "x")
        manifest = {
            **pkgs,
            "kernel_release": kver,
            "cmdline": CMDLINE,
            "modules": order,
            "builtin_modules": built_in,
            "recipe": RECIPE_VERSION,
            "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        os.chmod(tmp, 0o755)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _prune(root, final, pkgs)


STALE_AFTER = 2 * 24 * 3600  # seconds since a build's last use before _prune drops it


def _prune(root: Path, keep: Path, pkgs: dict[str, str]) -> None:
    """Drop builds nobody used for ``STALE_AFTER`` (a test session that started before a recipe
    change still boots its own) and ``.deb`` files other than ``wanted_debs(pkgs)``."""
    now = time.time()
    for p in root.iterdir():
        if p.is_dir() and p != keep and p.name != "debs" and not p.name.startswith("."):
            with contextlib.suppress(OSError):
                if now - p.stat().st_mtime > STALE_AFTER:
                    shutil.rmtree(p, ignore_errors=True)
    keep_debs = set()
    for name, version in wanted_debs(pkgs).items():
        keep_debs |= {f"{name}_{version}", f"{name}_{version.replace(':', '%3a')}"}
    for deb in (root / "debs").glob("*.deb"):
        if "_".join(deb.name.split("_")[:2]) not in keep_debs:
            deb.unlink(missing_ok=True)


# --- booting once (for --boot) ---------------------------------------------------------------


def boot_once(guest: Guest, timeout: float = 60.0, machine: str = "q35") -> float:
    """Boot the guest under bare QEMU (TCG) and return the seconds until the ready marker."""
    with tempfile.TemporaryDirectory(prefix="vkguest-") as td:
        log = Path(td) / "serial.log"
        argv = [
            "qemu-system-x86_64", "-machine", f"{machine},accel=tcg", "-m", "256",
            "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
            "-serial", f"file:{log}", *guest.qemu_boot_args(),
        ]  # fmt: skip
        start = time.monotonic()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            while time.monotonic() - start < timeout:
                if log.is_file() and READY_MARKER in log.read_text(errors="replace"):
                    return time.monotonic() - start
                if proc.poll() is not None:
                    break
                time.sleep(0.05)
            text = log.read_text(errors="replace") if log.is_file() else ""
            raise GuestBuildError(f"guest did not print {READY_MARKER}; console:\n{text}")
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--rebuild", action="store_true", help="build again even if cached")
    ap.add_argument("--print", action="store_true", help="print the paths as JSON")
    ap.add_argument("--boot", action="store_true", help="boot once with bare QEMU (TCG)")
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    guest = ensure_guest(rebuild=args.rebuild)
    took = time.monotonic() - t0
    info = {
        "kernel": str(guest.kernel),
        "initrd": str(guest.initrd),
        "qcow2": str(guest.qcow2),
        "raw": str(guest.raw),
        "cmdline": guest.cmdline,
        "kernel_version": guest.kernel_version,
    }
    if args.print:
        print(json.dumps(info, indent=2))
    else:
        for k, v in info.items():
            print(f"{k}: {v}")
        print(f"ensure_guest: {took:.2f}s")
    if args.boot:
        print(f"boot to {READY_MARKER}: {boot_once(guest):.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
