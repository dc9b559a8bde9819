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


def test_cache_key_follows_package_versions() -> None:
    a = {
        "kernel_package": "linux-image-1-cloud-amd64",
        "kernel_version": "1:6.1-1",
        "busybox_version": "1",
    }
    b = dict(a, kernel_version="1:6.1-2")
    c = dict(a, busybox_version="2")
    keys = {tg.cache_key(a), tg.cache_key(b), tg.cache_key(c)}
    assert len(keys) == 3
    assert tg.cache_key(a) == tg.cache_key(dict(a))
    assert all(re.fullmatch(r"[A-Za-z0-9.+_-]+", k) for k in keys)


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
    t0 = time.perf_counter()
    again = ensure_guest()
    took = time.perf_counter() - t0
    assert again == guest
    assert took < 0.5, f"cached ensure_guest took {took:.2f}s"


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
        "etc/acpi/PWRF/00000080",
    ):
        assert need in names, need
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
    assert booted < 30
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
