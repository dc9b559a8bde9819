"""scripts/test_guest.py: the offline-built test guest, and that it really boots under bare QEMU.

The fast cases check the pieces (cpio writer, module ordering, cache key); the slow ones build
(or reuse) the real guest and boot it with qemu-system-x86_64 under TCG (never /dev/kvm).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load_script() -> ModuleType:
    # loaded under its own name: a test module called test_guest could shadow a plain import
    spec = importlib.util.spec_from_file_location(
        "virtkit_test_guest", ROOT / "scripts" / "test_guest.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


tg = _load_script()
Guest = tg.Guest
ensure_guest = tg.ensure_guest

# --- pieces ----------------------------------------------------------------------------------

MODULES_DEP = """\
kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_legacy_dev.ko \
kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio.ko \
kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
kernel/drivers/virtio/virtio_pci_legacy_dev.ko:
kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko \
kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/net/core/failover.ko:
kernel/drivers/input/evdev.ko:
"""
BUILTIN = "kernel/drivers/acpi/button.ko\n"


def _assert_deps_first(order: list[str]) -> None:
    deps = tg._parse_modules_dep(MODULES_DEP)
    for i, mod in enumerate(order):
        for dep in deps.get(mod, []):
            assert dep in order[:i], f"{dep} must load before {mod}: {order}"


def test_module_order_puts_dependencies_first() -> None:
    order, builtin = tg.module_load_order(
        MODULES_DEP, BUILTIN, ["virtio_net", "virtio_pci", "evdev", "button"]
    )
    _assert_deps_first(order)
    assert builtin == ["button"]
    assert len(order) == len(set(order))
    names = [tg._mod_name(p) for p in order]
    assert names.index("virtio_ring") < names.index("virtio") < names.index("virtio_pci")
    assert names.index("failover") < names.index("net_failover") < names.index("virtio_net")
    assert "virtio_balloon" not in names  # only what was asked for, and what that needs


def test_module_order_rejects_unknown_module() -> None:
    with pytest.raises(tg.GuestBuildError, match="no module 'nope'"):
        tg.module_load_order(MODULES_DEP, BUILTIN, ["nope"])


def test_module_order_rejects_cycles() -> None:
    dep = "a.ko: b.ko\nb.ko: a.ko\n"
    with pytest.raises(tg.GuestBuildError, match="cycle"):
        tg.module_load_order(dep, "", ["a"])


def test_cpio_writer_output_is_read_by_gnu_cpio(tmp_path: Path) -> None:
    w = tg.CpioWriter()
    w.file("etc/acpi/PWRF/00000080", b"#!/bin/sh\npoweroff -f\n", 0o755)
    w.symlink("sbin/acpid", "/bin/busybox")
    w.chardev("dev/console", 5, 1)
    w.file("odd", b"abc")  # length not a multiple of 4: padding matters
    w.file("init", b"#!/bin/sh\n")
    archive = tmp_path / "a.cpio"
    archive.write_bytes(w.getvalue())
    listing = subprocess.run(
        ["cpio", "-itv", "--quiet"],
        stdin=archive.open("rb"),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = {
        line.split()[-1] if "->" not in line else line.split()[-3]: line
        for line in listing.splitlines()
    }
    assert set(lines) == {
        "etc", "etc/acpi", "etc/acpi/PWRF", "etc/acpi/PWRF/00000080",
        "sbin", "sbin/acpid", "dev", "dev/console", "odd", "init",
    }  # fmt: skip
    assert lines["etc/acpi/PWRF/00000080"].startswith("-rwxr-xr-x")
    assert lines["sbin/acpid"].startswith("lrwxrwxrwx") and "-> /bin/busybox" in lines["sbin/acpid"]
    assert lines["dev/console"].startswith("crw-------") and "5,   1" in lines["dev/console"]
    out = tmp_path / "x"
    out.mkdir()
    subprocess.run(
        ["cpio", "-id", "--quiet", "--no-absolute-filenames", "odd", "etc/acpi/PWRF/00000080"],
        stdin=archive.open("rb"),
        cwd=out,
        check=True,
    )
    assert (out / "odd").read_bytes() == b"abc"
    assert (out / "etc/acpi/PWRF/00000080").read_bytes() == b"#!/bin/sh\npoweroff -f\n"


PKGS = {
    "kernel_package": "linux-image-1-cloud-amd64",
    "kernel_version": "1:6.1-1",
    "busybox_version": "1",
    **{f"{p}_version": "1.0-1" for p in tg.EXTRA_PACKAGES},
}


def test_cache_key_follows_package_versions() -> None:
    a = dict(PKGS)
    b = dict(a, kernel_version="1:6.1-2")
    c = dict(a, busybox_version="2")
    d = dict(a, **{"qemu-guest-agent_version": "1:7.2+dfsg-8"})
    e = dict(a, **{"libglib2.0-0_version": "2.74.6-3"})
    keys = {tg.cache_key(a), tg.cache_key(b), tg.cache_key(c), tg.cache_key(d), tg.cache_key(e)}
    assert len(keys) == 5
    assert tg.cache_key(a) == tg.cache_key(dict(a))
    assert all(re.fullmatch(r"[A-Za-z0-9.+_-]+", k) for k in keys)


def test_wanted_debs_names_every_package() -> None:
    wanted = tg.wanted_debs(PKGS)
    assert wanted["linux-image-1-cloud-amd64"] == "1:6.1-1"
    assert wanted["busybox-static"] == "1"
    for name in ("qemu-guest-agent", "libc6", "libglib2.0-0", "libnuma1", "libudev1", "liburing2",
                 "libpcre2-8-0", "base-files"):
        assert wanted[name] == "1.0-1", name
    with pytest.raises(KeyError):  # an answer remembered by a recipe without the agent
        tg.wanted_debs({k: v for k, v in PKGS.items() if k != "libnuma1_version"})


def test_elf_dynamic_reads_loader_and_needed() -> None:
    data = Path("/bin/true").read_bytes()  # Debian's coreutils: dynamically linked with libc
    interp, needed = tg.elf_dynamic(data)
    assert interp == "/lib64/ld-linux-x86-64.so.2"
    assert "libc.so.6" in needed
    with pytest.raises(tg.GuestBuildError, match="ELF64"):
        tg.elf_dynamic(b"#!/bin/sh\n")


def test_library_closure_follows_needed_through_the_tree(tmp_path: Path) -> None:
    libdir = tmp_path / "lib" / "x86_64-linux-gnu"
    libdir.mkdir(parents=True)
    (tmp_path / "usr" / "bin").mkdir(parents=True)
    shutil.copyfile("/bin/true", tmp_path / "usr/bin/true")
    with pytest.raises(tg.GuestBuildError, match=r"libc\.so\.6 \(needed by usr/bin/true\)"):
        tg.library_closure(tmp_path, "usr/bin/true")
    for lib in ("libc.so.6", "ld-linux-x86-64.so.2"):
        shutil.copyfile(Path("/lib/x86_64-linux-gnu") / lib, libdir / lib)
    interp, libs = tg.library_closure(tmp_path, "usr/bin/true")
    assert interp == "lib64/ld-linux-x86-64.so.2"
    assert libs == ["lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "lib/x86_64-linux-gnu/libc.so.6"]


def test_cache_root_honours_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VIRTKIT_GUEST_CACHE", str(tmp_path / "g"))
    assert tg.cache_root() == tmp_path / "g"
    monkeypatch.delenv("VIRTKIT_GUEST_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert tg.cache_root() == tmp_path / "xdg" / "virtkit" / "guest"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert tg.cache_root() == tmp_path / "home" / ".cache" / "virtkit" / "guest"


def test_init_script_prints_the_markers_in_order() -> None:
    text = tg._init_text("6.1.0-x", ["kernel/a.ko", "kernel/b.ko"])
    assert text.startswith("#!/bin/busybox sh\n")
    assert "for m in kernel/a.ko kernel/b.ko; do" in text
    assert "/lib/modules/6.1.0-x/" in text
    pos = [text.index(m) for m in (Guest.BOOT_MARKER, Guest.DISK_OK_MARKER, Guest.READY_MARKER)]
    assert pos == sorted(pos)
    assert "@" not in text.replace("$@", "")  # every placeholder filled


# --- the real guest --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def guest() -> Guest:
    return ensure_guest()


@pytest.mark.slow
def test_guest_files_exist_and_are_cached(guest: Guest) -> None:
    root = tg.cache_root()
    assert root in guest.root.parents
    assert ROOT not in guest.root.parents  # outside the repository
    assert guest.kernel.stat().st_size > 1_000_000
    assert guest.initrd.read_bytes()[:2] == b"\x1f\x8b"  # gzip
    assert guest.kernel_version.endswith("-cloud-amd64")
    assert guest.cmdline.startswith("console=ttyS0")
    info = subprocess.run(
        ["qemu-img", "info", "--output=json", str(guest.qcow2)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    meta = json.loads(info)
    assert meta["format"] == "qcow2" and meta["virtual-size"] == tg.DISK_SIZE
    assert guest.raw.stat().st_size == tg.DISK_SIZE
    built = (guest.root / "manifest.json").read_text()
    again = ensure_guest()
    assert again == guest
    assert (guest.root / "manifest.json").read_text() == built  # cached: not built again


@pytest.mark.slow
def test_initramfs_holds_busybox_modules_and_init(guest: Guest, tmp_path: Path) -> None:
    archive = tmp_path / "initrd.cpio"
    archive.write_bytes(gzip.decompress(guest.initrd.read_bytes()))
    names = subprocess.run(
        ["cpio", "-it", "--quiet"],
        stdin=archive.open("rb"),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for need in (
        "init",
        "bin/busybox",
        "dev/console",
        "sbin/acpid",
        "sbin/udhcpc",
        "sbin/syslogd",
        "sbin/shutdown",
        "etc/acpi/PWRF/00000080",
        "etc/hostname",
        "etc/passwd",
        "etc/os-release",  # base-files: a link to usr/lib/os-release, both there
        "usr/lib/os-release",
        "usr/sbin/qemu-ga",  # qemu-guest-agent, its loader and libraries at Debian's paths
        "lib64/ld-linux-x86-64.so.2",
        "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
        "lib/x86_64-linux-gnu/libc.so.6",
        "lib/x86_64-linux-gnu/libm.so.6",
        "usr/lib/x86_64-linux-gnu/libglib-2.0.so.0",
        "usr/lib/x86_64-linux-gnu/libgmodule-2.0.so.0",
        "usr/lib/x86_64-linux-gnu/libpcre2-8.so.0",
        "usr/lib/x86_64-linux-gnu/libnuma.so.1",
        "usr/lib/x86_64-linux-gnu/libudev.so.1",
        "usr/lib/x86_64-linux-gnu/liburing.so.2",
    ):
        assert need in names, need
    # only what qemu-ga's NEEDED entries reach: no gio, no gconv modules
    assert not [n for n in names if "libgio" in n or "gconv" in n]
    print(f"initramfs: {guest.initrd.stat().st_size} bytes gzip, {archive.stat().st_size} cpio")
    modules = [n.rsplit("/", 1)[-1] for n in names if n.endswith(".ko")]
    for mod in (
        "virtio_ring",
        "virtio",
        "virtio_pci",
        "virtio_blk",
        "virtio_net",
        "evdev",
        "button",
    ):
        assert f"{mod}.ko" in modules, mod
    init = subprocess.run(
        ["cpio", "-i", "--quiet", "--to-stdout", "init"],
        stdin=archive.open("rb"),
        capture_output=True,
        check=True,
    ).stdout.decode()
    loop = re.search(r"for m in (.*); do", init)
    assert loop is not None
    order = [p.rsplit("/", 1)[-1] for p in loop.group(1).split()]
    assert order.index("virtio_ring.ko") < order.index("virtio.ko") < order.index("virtio_pci.ko")
    assert (
        order.index("failover.ko") < order.index("net_failover.ko") < order.index("virtio_net.ko")
    )


class Qemu:
    """One bare qemu-system-x86_64 (TCG) running the guest; always killed on exit."""

    def __init__(self, guest: Guest, *extra: str, machine: str = "q35") -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="vkq-", dir="/tmp"))  # short unix socket path
        self.log = self.dir / "serial.log"
        self.qmp = self.dir / "qmp.sock"
        self.argv = [
            "qemu-system-x86_64", "-machine", f"{machine},accel=tcg", "-m", "256",
            "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
            "-serial", f"file:{self.log}",
            "-qmp", f"unix:{self.qmp},server=on,wait=off",
            *guest.qemu_boot_args(), *extra,
        ]  # fmt: skip
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = 0.0

    def __enter__(self) -> Qemu:
        self.started = time.monotonic()
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)
        if self.proc.stderr:
            self.proc.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def console(self) -> str:
        return self.log.read_text(errors="replace") if self.log.is_file() else ""

    def wait_for(self, marker: str, timeout: float = 60.0) -> float:
        """Seconds from QEMU start until ``marker`` is on the serial console."""
        assert self.proc is not None
        while time.monotonic() - self.started < timeout:
            if marker in self.console():
                return time.monotonic() - self.started
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        err = (
            self.proc.stderr.read().decode()
            if self.proc.poll() is not None and self.proc.stderr
            else ""
        )
        pytest.fail(f"no {marker!r} on the console; console:\n{self.console()}\nqemu: {err}")

    def qmp_command(self, cmd: str) -> object:
        async def run() -> object:
            from qemu.qmp import QMPClient

            client = QMPClient("virtkit-test")
            await client.connect(str(self.qmp))
            try:
                return await client.execute(cmd)
            finally:
                await client.disconnect()

        return asyncio.run(run())


@pytest.mark.slow
@pytest.mark.parametrize("machine", ["q35", "pc"])
def test_boots_to_ready_marker(guest: Guest, machine: str) -> None:
    with Qemu(guest, machine=machine) as vm:
        booted = vm.wait_for(Guest.BOOT_MARKER)
        ready = vm.wait_for(Guest.READY_MARKER)
        text = vm.console()
    print(f"[{machine}] boot marker after {booted:.2f}s, ready after {ready:.2f}s")
    assert "WARN" not in text  # every module loaded
    # no NIC, no disk: nothing claimed about them
    assert Guest.IP_MARKER not in text and Guest.DISK_OK_MARKER not in text
    assert text.index(Guest.BOOT_MARKER) < text.index(Guest.READY_MARKER)


@pytest.mark.slow
def test_acpi_power_button_powers_the_guest_off(guest: Guest) -> None:
    with Qemu(guest) as vm:
        vm.wait_for(Guest.READY_MARKER)
        assert vm.qmp_command("system_powerdown") == {}
        assert vm.proc is not None
        t0 = time.monotonic()
        with contextlib.suppress(subprocess.TimeoutExpired):
            vm.proc.wait(timeout=15)
        took = time.monotonic() - t0
        assert vm.proc.returncode == 0, f"QEMU still running {took:.1f}s after system_powerdown"
        assert Guest.POWEROFF_MARKER in vm.console()
    print(f"powered off {took:.2f}s after system_powerdown")


def _agent(sock: Path, *commands: dict[str, object]) -> list[object]:
    """Send line-delimited JSON commands to qemu-ga; the replies (none for guest-shutdown)."""
    import socket

    replies: list[object] = []
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(30)  # a bound against a hang, not a timing claim
        s.connect(str(sock))
        f = s.makefile("rwb")
        for cmd in commands:
            f.write(json.dumps(cmd).encode() + b"\n")
            f.flush()
            if cmd["execute"] != "guest-shutdown":
                replies.append(json.loads(f.readline()))
    return replies


@pytest.mark.slow
@pytest.mark.parametrize(
    ("mode", "marker", "flag"),
    [("powerdown", Guest.POWEROFF_MARKER, "-P"), ("reboot", Guest.REBOOT_MARKER, "-r")],
)
def test_qemu_ga_runs_on_its_port(guest: Guest, mode: str, marker: str, flag: str) -> None:
    """Debian's qemu-ga answers on org.qemu.guest_agent.0 and its guest-shutdown works."""
    d = Path(tempfile.mkdtemp(prefix="vka-", dir="/tmp"))
    sock = d / "ga.sock"
    try:
        with Qemu(
            guest,
            "-chardev", f"socket,path={sock},server=on,wait=off,id=ga",
            "-device", "virtio-serial",
            "-device", f"virtserialport,chardev=ga,name={Guest.AGENT_PORT}",
        ) as vm:  # fmt: skip
            vm.wait_for(Guest.READY_MARKER)
            sync, info, host = _agent(
                sock,
                {"execute": "guest-sync", "arguments": {"id": 4242}},
                {"execute": "guest-info"},
                {"execute": "guest-get-host-name"},
            )
            assert sync == {"return": 4242}
            assert isinstance(info, dict) and info["return"]["version"].startswith("7.2.")
            assert host == {"return": {"host-name": Guest.HOSTNAME}}
            _agent(sock, {"execute": "guest-shutdown", "arguments": {"mode": mode}})
            assert vm.proc is not None
            vm.proc.wait(timeout=60)  # -no-reboot: a reboot ends QEMU too
            text = vm.console()
    finally:
        shutil.rmtree(d, ignore_errors=True)
    assert f"{marker} (shutdown -h {flag} +0 hypervisor initiated shutdown)" in text, text


@pytest.mark.slow
def test_network_gets_a_dhcp_address(guest: Guest) -> None:
    with Qemu(guest, "-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0") as vm:
        vm.wait_for(Guest.READY_MARKER)
        text = vm.console()
    m = re.search(rf"{Guest.IP_MARKER} (\S+)", text)
    assert m is not None, text
    assert m.group(1) == "10.0.2.15"


@contextlib.contextmanager
def _disk_copy(guest: Guest, fmt: str) -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="vkd-"))
    try:
        yield guest.copy_disk(d / f"disk.{fmt}", fmt)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _first_bytes(image: Path, fmt: str, tmp: Path) -> bytes:
    raw = tmp / "back.raw"
    subprocess.run(
        ["qemu-img", "convert", "-f", fmt, "-O", "raw", str(image), str(raw)], check=True
    )
    with raw.open("rb") as fh:
        return fh.read(512)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["qcow2", "raw"])
def test_disk_marker_is_written(guest: Guest, fmt: str, tmp_path: Path) -> None:
    assert not _first_bytes(guest.qcow2 if fmt == "qcow2" else guest.raw, fmt, tmp_path).strip(
        b"\0"
    )
    with _disk_copy(guest, fmt) as disk:
        blockdev = f"driver={fmt},node-name=d0,file.driver=file,file.filename={disk}"
        with Qemu(guest, "-blockdev", blockdev, "-device", "virtio-blk-pci,drive=d0") as vm:
            vm.wait_for(Guest.READY_MARKER)
            assert Guest.DISK_OK_MARKER in vm.console()
        head = _first_bytes(disk, fmt, tmp_path)
    assert head.startswith(Guest.DISK_MARKER.encode() + b"\n")
    # the cached template was not touched
    assert not _first_bytes(guest.qcow2, "qcow2", tmp_path).strip(b"\0")


@pytest.mark.slow
def test_command_line_prints_paths(guest: Guest) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "test_guest.py"), "--print"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ},
    )
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["kernel"] == str(guest.kernel) and info["initrd"] == str(guest.initrd)
    assert info["qcow2"] == str(guest.qcow2) and info["kernel_version"] == guest.kernel_version
