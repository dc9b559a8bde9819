"""virtkitd end to end: start-up, sockets, keepalive, signals, exit statuses."""

from __future__ import annotations

import logging
import os
import signal
import socket
import stat
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from virtkit.daemon.logsetup import teardown_logging
from virtkit.daemon.main import main
from virtkit.daemon.pidfile import PidFile, read_pid

KEEPALIVE_PROGRAM = 0x6B656570
_HEADER = struct.Struct(">IIIiiIi")  # length, prog, vers, proc, type, serial, status


@pytest.fixture(autouse=True)
def _clean_logging() -> Iterator[None]:
    level = logging.getLogger().level
    yield
    teardown_logging()
    logging.getLogger().setLevel(level)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("VIRTKIT_", "LIBVIRT_"))}
    return env


def start(root: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "virtkit.daemon.main", "--root", str(root),
                             *args], env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for(path: Path, proc: subprocess.Popen[str] | None = None,
             timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"daemon exited {proc.returncode}: {proc.communicate()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear")
        time.sleep(0.02)


def ping(sock: socket.socket) -> tuple[int, int, int, int, int, int]:
    """Send a keepalive PING (header only) and return the reply's header fields."""
    sock.sendall(_HEADER.pack(_HEADER.size, KEEPALIVE_PROGRAM, 1, 1, 2, 0, 0))
    data = b""
    while len(data) < _HEADER.size:
        chunk = sock.recv(_HEADER.size - len(data))
        assert chunk, "connection closed before the reply"
        data += chunk
    length, prog, vers, proc, type_, serial, status = _HEADER.unpack(data)
    assert length == _HEADER.size
    return prog, vers, proc, type_, serial, status


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> tuple[int, str]:
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return proc.returncode, err


def test_serves_keepalive_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    sock_rw = tmp_path / "run/libvirt/libvirt-sock"
    sock_ro = tmp_path / "run/libvirt/libvirt-sock-ro"
    pid_file = tmp_path / "run/libvirtd.pid"
    proc = start(tmp_path)
    try:
        wait_for(sock_ro, proc)
        assert read_pid(str(pid_file)) == proc.pid
        assert stat.S_IMODE(os.stat(sock_rw).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(sock_ro).st_mode) == 0o777
        for path in (sock_rw, sock_ro):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(10)
                s.connect(str(path))
                assert ping(s) == (KEEPALIVE_PROGRAM, 1, 2, 2, 0, 0)  # PONG, MESSAGE
    finally:
        code, err = stop(proc)
    assert code == 0, err
    assert not pid_file.exists()
    assert not sock_rw.exists() and not sock_ro.exists()


def test_sighup_reloads_and_keeps_running(tmp_path: Path) -> None:
    proc = start(tmp_path, "--verbose")
    try:
        wait_for(tmp_path / "run/libvirt/libvirt-sock-ro", proc)
        proc.send_signal(signal.SIGHUP)
        time.sleep(0.3)
        assert proc.poll() is None
    finally:
        code, err = stop(proc, signal.SIGINT)
    assert code == 0
    assert "Reloading configuration on SIGHUP" in err
    assert "reload done" in err  # details: test_daemon_reload.py
    assert "virtkitd shutting down" in err
    assert ": info : virtkit.daemon: virtkitd " in err  # the start-up line


def test_timeout_exits_when_idle(tmp_path: Path) -> None:
    proc = start(tmp_path, "--timeout", "1")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert not (tmp_path / "run/libvirtd.pid").exists()


def test_tcp_listener_with_listen(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    conf = tmp_path / "d.conf"
    conf.write_text(f'listen_tcp = 1\nlisten_tls = 0\nauth_tcp = "none"\n'
                    f'listen_addr = "127.0.0.1"\ntcp_port = "{port}"\n')
    proc = start(tmp_path, "--listen", "-f", str(conf))
    try:
        wait_for(tmp_path / "run/libvirt/libvirt-sock-ro", proc)
        # the unix sockets are opened first: the TCP one may follow a moment later
        deadline = time.monotonic() + 10
        while True:
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=10)
                break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.02)
        with s:
            assert ping(s)[2] == 2
    finally:
        code, err = stop(proc)
    assert code == 0, err


def test_daemon_mode_returns_once_serving(tmp_path: Path) -> None:
    sock = tmp_path / "run/libvirt/libvirt-sock"
    result = subprocess.run([sys.executable, "-m", "virtkit.daemon.main", "--root",
                             str(tmp_path), "--daemon"], env=_env(), capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert sock.exists()  # the parent waited for the sockets
    pid = read_pid(str(tmp_path / "run/libvirtd.pid"))
    assert pid is not None
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(10)
            s.connect(str(sock))
            assert ping(s)[2] == 2
    finally:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while (tmp_path / "run/libvirtd.pid").exists():
        assert time.monotonic() < deadline, "daemon did not stop"
        time.sleep(0.05)
    assert not sock.exists()
    assert (tmp_path / "var/log/libvirt/libvirtd.log").exists()  # its default log output


def test_daemon_mode_reports_a_failed_start(tmp_path: Path) -> None:
    held = PidFile(str(tmp_path / "held.pid"))
    held.acquire()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "virtkit.daemon.main", "--root", str(tmp_path),
             "--daemon", "--pid-file", str(tmp_path / "held.pid")],
            env=_env(), capture_output=True, text=True, timeout=30)
    finally:
        held.release()
    assert result.returncode == 1
    assert result.stderr == ("virtkitd: error: Unable to obtain pidfile. Check the log or "
                             "run without --daemon for more info.\n")
    log = (tmp_path / "var/log/libvirt/libvirtd.log").read_text()
    assert "Failed to acquire pid file" in log


# --- failures before serving (in-process) ----------------------------------------------


def test_held_pid_file_refuses_start(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "run").mkdir()
    path = tmp_path / "run/libvirtd.pid"
    with PidFile(str(path)):
        assert main(["--root", str(tmp_path)]) == 1
    err = capfd.readouterr().err
    assert f"error : virtkit.daemon: Failed to acquire pid file '{path}': " \
           "Resource temporarily unavailable" in err


def test_bad_config_names_file_line_and_key(tmp_path: Path,
                                            capfd: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "bad.conf"
    conf.write_text("# x\nunix_sock_group = 5\n")
    assert main(["--root", str(tmp_path), "-f", str(conf)]) == 1
    err = capfd.readouterr().err
    assert (f"error : virtkit.daemon: Can't load config file: internal error: {conf}:2: "
            f"expected a string for 'unix_sock_group' parameter: {conf}") in err
    assert not (tmp_path / "run").exists()


def test_missing_explicit_config(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["--root", str(tmp_path), "--config", str(tmp_path / "nope.conf")]) == 1
    assert "Failed to open file" in capfd.readouterr().err


def test_listen_with_default_tls_and_no_certificates(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["--root", str(tmp_path), "--listen"]) == 6
    assert (f"Cannot read CA certificate '{tmp_path}/etc/pki/CA/cacert.pem': "
            "No such file or directory") in capfd.readouterr().err


def test_bad_log_outputs(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "etc/libvirt/libvirtd.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text('log_outputs = "1:printer"\n')
    assert main(["--root", str(tmp_path)]) == 1
    assert "Invalid log destination 'printer'" in capfd.readouterr().err


def test_help_and_version_and_bad_option(capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out, err = capfd.readouterr()
    assert "Usage:" in out and err == ""
    assert main(["-V"]) == 0
    assert capfd.readouterr().out.startswith("virtkitd (virtkit) ")
    assert main(["--nope"]) == 1
    assert capfd.readouterr().err.startswith("virtkitd: unrecognized option '--nope'")


def test_first_client_sees_autostarted_objects(tmp_path: Path) -> None:
    """As libvirtd (daemonRunStateInit), virtkitd accepts clients only once the state
    drivers have loaded and autostarted: the very first call, made as soon as the socket
    exists, finds the autostart pool running. (Before, a client could race the autostart
    and, say, destroy a network that autostart then started again.)"""
    import virtkit
    from virtkit.drivers.storage.paths import StoragePaths
    from virtkit.testing.peers import start_virtkitd

    paths = StoragePaths.system(str(tmp_path))
    Path(paths.config_dir, "autostart").mkdir(parents=True)
    target = tmp_path / "images"
    target.mkdir()
    conf = Path(paths.config_dir, "early.xml")
    conf.write_text(f"<pool type='dir'><name>early</name>"
                    f"<target><path>{target}</path></target></pool>")
    Path(paths.config_dir, "autostart", "early.xml").symlink_to(conf)
    with start_virtkitd(tmp_path) as daemon:
        conn = virtkit.open(f"qemu+unix:///system?socket={daemon.sock}")
        try:
            pool = conn.lookup_storage_pool("early")
            assert pool.is_active() and pool.autostart
        finally:
            conn.close()


def test_host_uuid_in_capabilities_and_migration_cookie(tmp_path: Path) -> None:
    """The node's host UUID is one: capabilities' <host><uuid> equals the migration
    cookie's <hostuuid> (Begin3), derived from the root for a root other than /; the
    libvirtd.conf ``host_uuid`` setting replaces it in both (libvirt's virSetHostUUIDStr)."""
    import re

    import virtkit
    from virtkit.constants import DomainMigrateFlags
    from virtkit.testing.peers import start_virtkitd

    def uuids(root: Path, conf: str) -> tuple[str, str]:
        with start_virtkitd(root, extra_conf=conf) as daemon:
            conn = virtkit.open(f"qemu+unix:///system?socket={daemon.sock}")
            try:
                caps = conn.capabilities()
                host = re.search(r"<host>\s*<uuid>([^<]+)</uuid>", caps)
                assert host is not None, caps
                dom = conn.define_domain(
                    "<domain type='qemu'><name>c1</name><memory>65536</memory>"
                    "<os><type arch='x86_64' machine='pc'>hvm</type></os></domain>")
                offline = int(DomainMigrateFlags.OFFLINE | DomainMigrateFlags.PERSIST_DEST)
                cookie, _ = conn._hv.domain_migrate_begin3_params(dom._ident, {}, offline)
                found = re.search(rb"<hostuuid>([^<]+)</hostuuid>", cookie)
                assert found is not None, cookie
                return host.group(1), found.group(1).decode()
            finally:
                conn.close()

    caps_a, cookie_a = uuids(tmp_path / "a", "")
    caps_b, cookie_b = uuids(tmp_path / "b", "")
    assert caps_a == cookie_a and caps_b == cookie_b and caps_a != caps_b
    fixed = "2f1c9a6e-4b7d-4e61-9a3c-0d5e8b7f6a21"
    assert uuids(tmp_path / "c", f'host_uuid = "{fixed}"') == (fixed, fixed)
