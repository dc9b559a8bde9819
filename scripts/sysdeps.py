#!/usr/bin/env python3
"""Install the Debian packages virtkit drives and its tests use as peers; unpack
the few files tests need from packages that must not be installed.

Run by ``make sysdeps`` (and so by ``make demo`` and ``make test``) with the
system's ``python3``: the standard library only. ``sysdeps.py NAME...`` installs
just those packages (the venv step uses it for python3-venv). It prints one line per step;
apt's and dpkg's own output goes to ``.cache/sysdeps.log`` (its path is
printed, and its end is shown when a step fails).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache"
LOG = CACHE / "sysdeps.log"

# What virtkit drives (QEMU, dnsmasq, nft, ip, LVM, mkfs, scrub, ssh) and the peers the
# tests compare with (Debian's virsh, libvirt-python, libvirtd, virt-install).
PACKAGES = (
    "libvirt-clients", "python3-libvirt", "libvirt-daemon", "libvirt-doc",
    "qemu-system-x86", "qemu-utils", "kmod", "cpio", "nftables", "dnsmasq-base", "virtinst",
    "iproute2", "lvm2", "e2fsprogs", "util-linux", "scrub", "openssh-server",
    "netcat-openbsd", "libsasl2-modules",
    # the wire-layout oracle: rpcgen compiles libvirt's .x files into C (dpkg-dev
    # unpacks the source package they come from)
    "rpcsvc-proto", "libtirpc-dev", "gcc", "libc6-dev", "dpkg-dev",
    # udhcpc, the DHCP client of the network tests (run in their namespaces)
    "busybox",
    # the behaviour oracle (tests/oracles): libvirtd's QEMU driver module, and the
    # iptables its network driver (9.0) runs for NAT networks (iptables-nft)
    "libvirt-daemon-driver-qemu", "iptables",
)

# Cockpit's Machines page and what it drives virtkitd through (tests/interop/
# test_cockpit_machines.py), and the headless browser that loads it. cockpit-machines and
# libvirt-dbus pull in libvirt-daemon-system, which expects systemd: installed without
# recommends, keeping existing config files, under a policy-rc.d that starts nothing.
CONTAINED = ("cockpit-ws", "cockpit-bridge", "cockpit-machines", "libvirt-dbus", "chromium",
             # virt-manager (tests/interop/test_virt_manager.py) with the SPICE viewer it
             # only recommends, under Xvfb, driven through its accessibility tree (dogtail,
             # AT-SPI on a private session bus) and xdotool; xauth/xwd for screenshots
             "virt-manager", "gir1.2-spiceclientgtk-3.0", "gir1.2-spiceclientglib-2.0",
             "xvfb", "xauth", "x11-apps", "python3-dogtail", "xdotool", "dbus-x11",
             "at-spi2-core")
# Their dependencies' maintainer scripts write a "default" network and libvirt's stock
# nwfilters into /etc/libvirt on first install. libvirtd peers of the tests read /etc
# (bench/qemu_peers.py overlays it), so those objects would appear there and not in
# virtkitd: removed again when this script installed the package and the file is still
# the package's template (a copy someone changed is kept).
GENERATED_CONFIGS = {
    "libvirt-daemon-config-network": ("/usr/share/libvirt/networks",
                                      "/etc/libvirt/qemu/networks"),
    "libvirt-daemon-config-nwfilter": ("/usr/share/libvirt/nwfilter", "/etc/libvirt/nwfilter"),
}
POLICY_RC_D = Path("/usr/sbin/policy-rc.d")
POLICY_DENY = "#!/bin/sh\n# written by virtkit's scripts/sysdeps.py: start no service\nexit 101\n"

# Files taken from packages that are downloaded and unpacked: the pristine
# libvirtd.conf of libvirt-daemon-system is the file the config tests read (the package
# itself is installed only as CONTAINED's dependency, and /etc may hold an edited copy).
# The version is the installed libvirt-daemon's, so the file matches the peer.
UNPACKED = {
    "libvirt-daemon-system": ("libvirt-daemon", ("etc/libvirt/libvirtd.conf",)),
}

# Files taken from libvirt's Debian *source* package at the installed libvirt-daemon's
# version (into .cache/debian/libvirt-source): the XDR definitions of the programs
# virtkit speaks, and the public headers that define the constants they use.
SOURCE_FILES = (
    "src/remote/remote_protocol.x", "src/rpc/virnetprotocol.x",
    "src/rpc/virkeepaliveprotocol.x", "src/admin/admin_protocol.x",
    "include/libvirt/libvirt-host.h", "include/libvirt/libvirt-common.h.in",
)
# deb-src line written (only when no deb-src source is configured) so that
# ``apt-get source`` works on a fresh machine.
DEBSRC = Path("/etc/apt/sources.list.d/virtkit-debsrc.sources")


def say(text: str) -> None:
    print(f"sysdeps: {text}", flush=True)


def run_logged(argv: list[str], what: str) -> None:
    """Run ``argv`` with its output appended to the log; on failure show the log's end."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    with LOG.open("ab") as log:
        log.write(f"\n$ {' '.join(argv)}\n".encode())
        log.flush()
        done = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, env=env,
                              stdin=subprocess.DEVNULL, check=False)
    if done.returncode != 0:
        tail = LOG.read_text(errors="replace").splitlines()[-40:]
        sys.stderr.write("\n".join(tail) + "\n")
        sys.exit(f"sysdeps: {what} failed (exit {done.returncode}); full log: {LOG}")


def installed_version(package: str) -> str | None:
    done = subprocess.run(["dpkg-query", "-W", "-f=${Status}\t${Version}", package],
                          capture_output=True, text=True, check=False)
    status, _, version = done.stdout.partition("\t")
    return version if done.returncode == 0 and status.endswith(" installed") else None


def install_missing(packages: tuple[str, ...]) -> None:
    missing = [p for p in packages if installed_version(p) is None]
    if not missing:
        return
    noun = "package" if len(missing) == 1 else "packages"
    say(f"installing {len(missing)} Debian {noun}: {' '.join(missing)} (log: {LOG})")
    started = time.monotonic()
    run_logged(["apt-get", "update", "-q"], "apt-get update")
    run_logged(["apt-get", "install", "-y", "-q", *missing],
               "apt-get install")
    say(f"installed in {time.monotonic() - started:.0f} s")


def _policy_denies() -> bool:
    """True when policy-rc.d exists and refuses to start a service (exit 101)."""
    if not os.access(POLICY_RC_D, os.X_OK):
        return False
    done = subprocess.run([str(POLICY_RC_D), "libvirtd.service", "start"],
                          capture_output=True, check=False)
    return done.returncode == 101


def install_contained(packages: tuple[str, ...]) -> None:
    """Install ``packages`` so that nothing is started or replaced: no recommends, old
    config files kept, and a policy-rc.d that refuses every start for the install's
    length (one already refusing is left alone; any other is put back afterwards)."""
    missing = [p for p in packages if installed_version(p) is None]
    if not missing:
        return
    fresh = [p for p in GENERATED_CONFIGS if installed_version(p) is None]
    say(f"installing {' '.join(missing)} without starting services (log: {LOG})")
    started = time.monotonic()
    saved = POLICY_RC_D.with_name("policy-rc.d.virtkit-saved")
    ours = not _policy_denies()
    if ours:
        if POLICY_RC_D.exists():
            POLICY_RC_D.rename(saved)
        POLICY_RC_D.write_text(POLICY_DENY)
        POLICY_RC_D.chmod(0o755)
    try:
        run_logged(["apt-get", "update", "-q"], "apt-get update")
        run_logged(["apt-get", "install", "-y", "-q", "--no-install-recommends",
                    "-o", "Dpkg::Options::=--force-confold",
                    "-o", "Dpkg::Options::=--force-confdef", *missing], "apt-get install")
    finally:
        if ours:
            POLICY_RC_D.unlink(missing_ok=True)
            if saved.exists():
                saved.rename(POLICY_RC_D)
    drop_generated_configs(fresh)
    say(f"installed in {time.monotonic() - started:.0f} s")


def drop_generated_configs(packages: list[str]) -> None:
    """Remove the files ``packages``' maintainer scripts copied from their templates
    (see GENERATED_CONFIGS) that still equal the template."""
    for package in packages:
        template_dir, config_dir = (Path(d) for d in GENERATED_CONFIGS[package])
        removed = 0
        for template in sorted(template_dir.glob("*.xml")):
            config = config_dir / template.name
            if config.is_file() and config.read_bytes() == template.read_bytes():
                config.unlink()
                removed += 1
        if removed:
            say(f"removed the {removed} stock files {package}'s install wrote in {config_dir}")


def unpack(package: str, version_of: str, files: tuple[str, ...]) -> None:
    """Download ``package`` at ``version_of``'s installed version; keep ``files``."""
    dest = CACHE / "debian" / package
    version = installed_version(version_of)
    stamp = dest / ".version"
    if version is None:
        sys.exit(f"sysdeps: {version_of} is not installed; cannot pick {package}'s version")
    if stamp.is_file() and stamp.read_text() == version and all(
            (dest / f).is_file() for f in files):
        return
    say(f"unpacking {package} {version} (not installed) into {dest} (log: {LOG})")
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        # apt's sandbox user cannot write the private temporary directory
        run_logged(["sh", "-c", f"cd {tmp} && apt-get download -q "
                    f"-o APT::Sandbox::User=root {package}={version}"],
                   f"apt-get download {package}")
        debs = list(Path(tmp).glob("*.deb"))
        run_logged(["dpkg-deb", "-x", str(debs[0]), f"{tmp}/root"], f"dpkg-deb -x {package}")
        shutil.rmtree(dest, ignore_errors=True)
        for f in files:
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(Path(tmp) / "root" / f, dest / f)
    stamp.write_text(version)


def _has_deb_src() -> bool:
    apt = Path("/etc/apt")
    files = [apt / "sources.list", *sorted((apt / "sources.list.d").glob("*"))]
    for f in files:
        if f.suffix not in (".list", ".sources") or not f.is_file():
            continue
        for line in f.read_text(errors="replace").splitlines():
            words = line.split()
            if words[:1] == ["deb-src"] or (words[:1] == ["Types:"] and "deb-src" in words):
                return True
    return False


def ensure_deb_src() -> None:
    """Add Debian's deb-src for this release (own file), then ``apt-get update``."""
    if _has_deb_src():
        return
    release = {}
    for line in Path("/etc/os-release").read_text().splitlines():
        key, _, value = line.partition("=")
        release[key] = value.strip('"')
    codename = release.get("VERSION_CODENAME") or "bookworm"
    say(f"adding Debian's deb-src ({codename} main) in {DEBSRC}")
    DEBSRC.write_text(
        "Types: deb-src\nURIs: http://deb.debian.org/debian\n"
        f"Suites: {codename}\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n")
    run_logged(["apt-get", "update", "-q"], "apt-get update")


def unpack_source(version_of: str, dest_name: str, files: tuple[str, ...]) -> None:
    """Download the source package of ``version_of`` at its installed version;
    keep ``files`` (paths in the source tree) in ``.cache/debian/DEST_NAME``."""
    dest = CACHE / "debian" / dest_name
    done = subprocess.run(["dpkg-query", "-W", "-f=${source:Package}\t${source:Version}",
                           version_of], capture_output=True, text=True, check=False)
    source, _, version = done.stdout.partition("\t")
    if done.returncode != 0 or not version or installed_version(version_of) is None:
        sys.exit(f"sysdeps: {version_of} is not installed; cannot pick its source's version")
    stamp = dest / ".version"
    if stamp.is_file() and stamp.read_text() == version and all(
            (dest / f).is_file() for f in files):
        return
    ensure_deb_src()
    say(f"unpacking {len(files)} files of source package {source} {version} into {dest}"
        f" (log: {LOG})")
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        run_logged(["sh", "-c", f"cd {tmp} && apt-get source -q --download-only "
                    f"-o APT::Sandbox::User=root {source}={version}"],
                   f"apt-get source {source}")
        (dsc,) = Path(tmp).glob("*.dsc")
        run_logged(["dpkg-source", "-x", str(dsc), f"{tmp}/tree"], f"dpkg-source -x {dsc.name}")
        shutil.rmtree(dest, ignore_errors=True)
        for f in files:
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(Path(tmp) / "tree" / f, dest / f)
    stamp.write_text(version)


def main(argv: list[str]) -> None:
    """No arguments: everything; package names: just those (the venv step's python3-venv)."""
    CACHE.mkdir(exist_ok=True)
    if argv:
        install_missing(tuple(argv))
        return
    install_missing(PACKAGES)
    install_contained(CONTAINED)
    for package, (version_of, files) in UNPACKED.items():
        unpack(package, version_of, files)
    unpack_source("libvirt-daemon", "libvirt-source", SOURCE_FILES)


if __name__ == "__main__":
    main(sys.argv[1:])
