"""DaemonPaths: libvirtd's layout, kept under --root."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from virtkit.daemon.paths import DaemonPaths


def test_host_layout_is_libvirtds() -> None:
    p = DaemonPaths()
    assert p.root == "/"
    assert p.config_file == "/etc/libvirt/libvirtd.conf"
    assert (p.sock_rw, p.sock_ro, p.sock_admin) == (
        "/run/libvirt/libvirt-sock", "/run/libvirt/libvirt-sock-ro",
        "/run/libvirt/libvirt-admin-sock")
    assert p.pid_file == "/run/libvirtd.pid"
    assert (p.config_dir, p.run_dir, p.state_dir, p.log_dir, p.cache_dir) == (
        "/etc/libvirt", "/run/libvirt", "/var/lib/libvirt", "/var/log/libvirt",
        "/var/cache/libvirt")
    assert p.log_file == "/var/log/libvirt/libvirtd.log"
    assert p.tls_ca_cert == "/etc/pki/CA/cacert.pem"
    assert p.tls_server_key == "/etc/pki/libvirt/private/serverkey.pem"


def test_root_keeps_the_shape() -> None:
    p = DaemonPaths("/srv/vk/")
    assert p.root == "/srv/vk"
    assert p.sock_rw == "/srv/vk/run/libvirt/libvirt-sock"
    assert p.pid_file == "/srv/vk/run/libvirtd.pid"
    assert p.config_file == "/srv/vk/etc/libvirt/libvirtd.conf"
    assert p.state_dir == "/srv/vk/var/lib/libvirt"
    assert p.under("/etc/pki/CA/cacert.pem") == "/srv/vk/etc/pki/CA/cacert.pem"
    assert p.under("../../etc/passwd") == "/srv/vk/etc/passwd"  # cannot climb out
    assert p.under("rel/dir") == "/srv/vk/rel/dir"
    assert p.under("/") == "/srv/vk"


def test_relative_root_is_made_absolute(tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert DaemonPaths("r").root == str(tmp_path / "r")


def test_unix_sock_dir_from_config_goes_under_root() -> None:
    p = DaemonPaths("/srv/vk").with_settings(unix_sock_dir="/tmp/socks")
    assert p.sock_ro == "/srv/vk/tmp/socks/libvirt-sock-ro"
    assert p.run_dir == "/srv/vk/run/libvirt"
    assert DaemonPaths().with_settings(unix_sock_dir="/tmp/s").sock_rw == "/tmp/s/libvirt-sock"


def test_pid_file_option_is_taken_as_given() -> None:
    p = DaemonPaths("/srv/vk").with_settings(pid_file="/tmp/x.pid")
    assert p.pid_file == "/tmp/x.pid"
    assert DaemonPaths().with_settings(pid_file="").pid_file == ""
    # a later call without the setting keeps it
    assert p.with_settings(unix_sock_dir="/s").pid_file == "/tmp/x.pid"


def _mode(path: str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_ensure_dirs_creates_with_modes(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        p = DaemonPaths(str(tmp_path / "root")).with_settings(unix_sock_dir="/sock/dir")
        p.ensure_dirs()
    finally:
        os.umask(old)
    for d in (p.runstate_dir, p.run_dir, p.sock_dir, p.config_dir, p.state_dir, p.cache_dir):
        assert _mode(d) == 0o755, d
    assert _mode(p.log_dir) == 0o700
    p.ensure_dirs()  # idempotent


def test_ensure_dirs_leaves_existing_modes(tmp_path: Path) -> None:
    p = DaemonPaths(str(tmp_path))
    os.makedirs(p.state_dir)
    os.chmod(p.state_dir, 0o711)
    p.ensure_dirs()
    assert _mode(p.state_dir) == 0o711


def test_ensure_dirs_reports_the_failing_path(tmp_path: Path) -> None:
    (tmp_path / "run").write_text("not a directory")
    p = DaemonPaths(str(tmp_path))
    try:
        p.ensure_dirs()
    except OSError as e:
        assert e.filename is not None and str(tmp_path / "run") in e.filename
    else:
        raise AssertionError("ensure_dirs succeeded over a file")
