"""The admin program (virt-admin's protocol) on a real virtkitd, driven by Debian's
``virt-admin`` and by virtkit's own client (``virtkit.admin``, ``virtkit-admin``); and
virtkit's admin client against Debian's libvirtd."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import virtkit
import virtkit.admin
from virtkit.errors import VirtError
from virtkit.errtables import ErrorCode
from virtkit.rpc.admin_procs import ADMIN_PROGRAM, ADMIN_PROTOCOL_VERSION
from virtkit.rpc.client import Client
from virtkit.rpc.transport import connect_unix
from virtkit.testing.peers import Daemon, start_libvirtd, start_virtkitd

pytestmark = [pytest.mark.timeout(180), pytest.mark.interop]

VIRT_ADMIN = "/usr/bin/virt-admin"
CONF = 'log_level = 3\nlog_outputs = "3:stderr"\n'


def _admin_sock(daemon: Daemon) -> str:
    return str(daemon.root / "run" / "libvirt" / "libvirt-admin-sock")


def _uri(sock: str) -> str:
    return f"libvirtd:///system?socket={sock}"


Run = Callable[..., subprocess.CompletedProcess[str]]


def _runner(argv0: list[str], sock: str) -> Run:
    def run(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*argv0, "-c", _uri(sock), *args], capture_output=True,
                              text=True, timeout=60, **kw)  # type: ignore[call-overload]
    return run


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    with start_virtkitd(tmp_path, extra_conf=CONF) as d:
        yield d


@pytest.fixture
def vadm(daemon: Daemon) -> Run:
    """Debian's virt-admin against the daemon's admin socket."""
    return _runner([VIRT_ADMIN], _admin_sock(daemon))


@pytest.fixture
def vkadm(daemon: Daemon) -> Run:
    """virtkit-admin against the daemon's admin socket."""
    return _runner([sys.executable, "-m", "virtkit.cli.admintool"], _admin_sock(daemon))


def _virsh(daemon: Daemon) -> subprocess.Popen[str]:
    """An interactive virsh session on the read-write socket, connected once it answers."""
    proc = subprocess.Popen(["stdbuf", "-oL", "virsh", "-c", daemon.uri()],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("uri\n")
    proc.stdin.flush()
    for line in proc.stdout:  # past the banner to the answer: the connection is set up
        if line.strip() == daemon.uri():
            break
    else:
        raise AssertionError(f"virsh ended: {proc.communicate()}")
    return proc


def _wait_client(daemon: Daemon, pid: int, timeout: float = 15.0) -> virtkit.admin.AdminClient:
    deadline = time.monotonic() + timeout
    with virtkit.admin.open(_uri(_admin_sock(daemon))) as conn:
        srv = conn.lookup_server("libvirtd")
        while time.monotonic() < deadline:
            for client in srv.list_clients():
                try:
                    info = client.get_info()
                except VirtError:
                    continue
                if info.get("unix_process_id") == pid:
                    return client
            time.sleep(0.05)
    raise AssertionError(f"no client with pid {pid}")


# ----------------------------------------------------------------------- the socket


def test_admin_socket_is_root_only(daemon: Daemon) -> None:
    st = os.stat(_admin_sock(daemon))
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o700


def test_srv_list_shows_both_servers(vadm: Run, vkadm: Run) -> None:
    res = vadm("srv-list")
    assert res.returncode == 0, res.stderr
    assert res.stdout == " Id   Name\n----------------\n 0    libvirtd\n 1    admin\n\n"
    mine = vkadm("srv-list")
    assert (mine.returncode, mine.stdout, mine.stderr) == (0, res.stdout, res.stderr)
    js = vkadm("srv-list", "--json")
    assert '"name": "admin"' in js.stdout and js.returncode == 0


@pytest.mark.parametrize("args", [
    ("version",),
    ("srv-threadpool-info", "libvirtd"),
    ("srv-clients-info", "libvirtd"),
    ("srv-clients-list", "libvirtd"),
    ("daemon-log-outputs",),
    ("daemon-log-filters",),
    ("srv-threadpool-info", "nope"),
    ("client-info", "libvirtd", "4242"),
    ("client-disconnect", "libvirtd", "4242"),
    ("srv-threadpool-set", "libvirtd"),
    ("srv-threadpool-set", "libvirtd", "--min-workers", "x"),
    ("srv-threadpool-set", "libvirtd", "--min-workers", "9", "--max-workers", "3"),
    ("srv-threadpool-set", "libvirtd", "--min-workers", "30"),
    ("srv-clients-set", "libvirtd", "--max-clients", "3"),
    ("server-update-tls", "libvirtd"),
    ("daemon-log-filters", "--filters", "x"),
    ("daemon-log-outputs", "--outputs", "9:stderr"),
    ("daemon-timeout",),
])
def test_virtkit_admin_prints_what_virt_admin_prints(vadm: Run, vkadm: Run,
                                                      args: tuple[str, ...]) -> None:
    theirs, mine = vadm(*args), vkadm(*args)
    assert (mine.returncode, mine.stdout, mine.stderr) == \
        (theirs.returncode, theirs.stdout, theirs.stderr)


def test_unknown_procedure_and_flags(daemon: Daemon) -> None:
    with Client(connect_unix(_admin_sock(daemon))) as client:
        with pytest.raises(VirtError) as exc:
            client.call(ADMIN_PROGRAM, ADMIN_PROTOCOL_VERSION, 99)
        assert exc.value.code == ErrorCode.RPC
        assert "unknown procedure: 99" in exc.value.message
        with pytest.raises(VirtError) as exc:  # CONNECT_OPEN with flags 8
            client.call(ADMIN_PROGRAM, ADMIN_PROTOCOL_VERSION, 1, b"\0\0\0\x08")
        assert exc.value.code == ErrorCode.INVALID_ARG
        assert "unsupported flags (0x8)" in exc.value.message


# ----------------------------------------------------------------------- clients


def test_clients_list_info_and_disconnect_a_virsh_session(daemon: Daemon, vadm: Run) -> None:
    virsh = _virsh(daemon)
    try:
        client = _wait_client(daemon, virsh.pid)
        listing = vadm("srv-clients-list", "libvirtd")
        assert re.search(rf"^ {client.id} +unix +\d{{4}}-\d\d-\d\d ", listing.stdout, re.M), \
            listing.stdout
        info = vadm("client-info", "libvirtd", str(client.id))
        assert info.returncode == 0, info.stderr
        assert f"unix_process_id: {virsh.pid}\n" in info.stdout
        assert "readonly       : no\n" in info.stdout
        assert "unix_user_name : root\n" in info.stdout

        res = vadm("client-disconnect", "libvirtd", str(client.id))
        assert (res.returncode, res.stdout) == (0, f"Client '{client.id}' disconnected\n"), \
            res.stderr
        assert f" {client.id} " not in vadm("srv-clients-list", "libvirtd").stdout
        out, err = virsh.communicate("list\nquit\n", timeout=30)
        assert "Disconnected from" in err, (out, err)
    finally:
        if virsh.poll() is None:
            virsh.kill()
            virsh.wait()


def test_virtkit_client_close_drops_a_virtkit_connection(daemon: Daemon) -> None:
    conn = virtkit.open(daemon.uri())
    try:
        assert conn.list_domains()
        with virtkit.admin.open(_uri(_admin_sock(daemon))) as adm:
            srv = adm.lookup_server("libvirtd")
            mine = [c for c in srv.list_clients()
                    if c.get_info().get("unix_process_id") == os.getpid()]
            assert len(mine) == 1 and mine[0].transport_name == "unix"
            assert srv.lookup_client(mine[0].id).id == mine[0].id
            mine[0].close()
            with pytest.raises(VirtError) as exc:
                srv.lookup_client(mine[0].id)
            assert exc.value.code == ErrorCode.NO_CLIENT
        with pytest.raises(VirtError):
            conn.list_domains()
    finally:
        conn.close()


def test_client_limits_are_applied(daemon: Daemon, vadm: Run) -> None:
    res = vadm("srv-clients-set", "libvirtd", "--max-clients", "2", "--max-unauth-clients", "1")
    assert res.returncode == 0, res.stderr
    info = vadm("srv-clients-info", "libvirtd").stdout
    assert "nclients_max        : 2\n" in info and "nclients_unauth_max : 1\n" in info
    first, second = virtkit.open(daemon.uri()), virtkit.open(daemon.uri())
    try:
        assert "nclients            : 2\n" in vadm("srv-clients-info", "libvirtd").stdout
        with pytest.raises(VirtError):
            virtkit.open(daemon.uri()).close()  # the third is turned away
        assert vadm("srv-clients-set", "libvirtd", "--max-clients", "3").returncode == 0
        third = virtkit.open(daemon.uri())
        assert third.list_domains()
        third.close()
    finally:
        first.close()
        second.close()


# ----------------------------------------------------------------------- worker pools


def test_threadpool_set_changes_the_pools(daemon: Daemon, vadm: Run) -> None:
    def info(server: str = "libvirtd") -> dict[str, int]:
        res = vadm("srv-threadpool-info", server)
        assert res.returncode == 0, res.stderr
        return {k.strip(): int(v) for k, v in
                (line.split(":") for line in res.stdout.splitlines() if ":" in line)}

    before = info()
    assert before["minWorkers"] == 5 and before["maxWorkers"] == 20
    assert before["nWorkers"] == 5 and before["prioWorkers"] == 5  # started up front
    res = vadm("srv-threadpool-set", "libvirtd", "--min-workers", "8", "--max-workers", "12",
               "--priority-workers", "2")
    assert res.returncode == 0, res.stderr
    grown = info()
    assert (grown["minWorkers"], grown["maxWorkers"], grown["nWorkers"]) == (8, 12, 8)
    assert grown["prioWorkers"] == 2

    res = vadm("srv-threadpool-set", "libvirtd", "--min-workers", "1", "--max-workers", "3")
    assert res.returncode == 0, res.stderr
    deadline = time.monotonic() + 10
    while info()["nWorkers"] != 3:  # surplus threads leave as they go idle
        assert time.monotonic() < deadline, info()
        time.sleep(0.05)
    with virtkit.open(daemon.uri()) as conn:  # the smaller pool still serves
        assert len(conn.list_domains()) == 1
    # the admin server's own pool, through virtkit's client
    with virtkit.admin.open(_uri(_admin_sock(daemon))) as adm:
        srv = adm.lookup_server("admin")
        srv.set_threadpool_parameters({"maxWorkers": 6, "prioWorkers": 1})
        params = srv.get_threadpool_parameters()
        assert (params["maxWorkers"], params["prioWorkers"]) == (6, 1)
        with pytest.raises(VirtError) as exc:
            srv.set_threadpool_parameters({"bogus": 1})
        assert exc.value.code == ErrorCode.ARGUMENT_UNSUPPORTED


# ----------------------------------------------------------------------- logging


def test_log_outputs_and_filters_change_at_run_time(daemon: Daemon, vadm: Run) -> None:
    log_file = daemon.root / "admin-debug.log"
    res = vadm("daemon-log-outputs", "--outputs", f"1:file:{log_file} 3:stderr")
    assert res.returncode == 0, res.stderr
    assert vadm("daemon-log-outputs").stdout == \
        f" Logging outputs: 1:file:{log_file} 3:stderr\n\n"
    assert vadm("daemon-log-filters", "--filters", "1:rpc.server 4:qemu").returncode == 0
    assert vadm("daemon-log-filters").stdout == \
        " Logging filters: 1:*rpc.server* 4:*qemu* \n\n"
    with virtkit.open(daemon.uri()) as conn:
        conn.list_domains()
    text = log_file.read_text()
    assert "info : virtkit.rpc.server:" in text  # the filter lets rpc.server's info through
    assert "virtkit.daemon.dispatch" not in text  # the default level (warning) still holds

    assert vadm("daemon-log-filters", "--filters", "").returncode == 0
    assert vadm("daemon-log-filters").stdout == " Logging filters: \n\n"
    size = log_file.stat().st_size
    with virtkit.open(daemon.uri()) as conn:
        conn.list_domains()
    assert log_file.stat().st_size == size  # without the filter: nothing below warning

    assert vadm("daemon-log-outputs", "--outputs", "").returncode == 0
    assert vadm("daemon-log-outputs").stdout == " Logging outputs: 3:stderr\n\n"


def test_daemon_timeout_makes_an_idle_daemon_exit(daemon: Daemon, vadm: Run) -> None:
    res = vadm("daemon-timeout", "--timeout", "1")
    assert res.returncode == 0, res.stderr
    assert daemon.proc.wait(20) == 0


# ----------------------------------------------------------------------- who may use it


def test_non_root_client_is_refused(daemon: Daemon) -> None:
    # A world-traversable copy of the path: /tmp/pytest-of-root is 0700.
    top = Path(tempfile.mkdtemp(prefix="vk-admin-"))
    try:
        top.chmod(0o755)
        link = top / "sock"
        # the socket itself opened up, so that the daemon's own check is what refuses
        os.chmod(_admin_sock(daemon), 0o777)
        for parent in list(Path(_admin_sock(daemon)).parents):
            if parent == Path("/"):
                break
            parent.chmod(parent.stat().st_mode | 0o011)
        link.symlink_to(_admin_sock(daemon))
        res = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                              VIRT_ADMIN, "-c", _uri(str(link)), "srv-list"],
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 1
        assert "Disallowing client" in res.stderr and "uid 65534" in res.stderr, res.stderr
    finally:
        shutil.rmtree(top, ignore_errors=True)
        os.chmod(_admin_sock(daemon), 0o700)
    assert "0    libvirtd" in _runner([VIRT_ADMIN], _admin_sock(daemon))("srv-list").stdout


# ----------------------------------------------------------------------- TLS


def _cli(*args: str) -> None:
    res = subprocess.run([sys.executable, "-m", "virtkit.cli.main", *args, "--bits", "2048"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr


def _pki(base: Path, name: str) -> tuple[Path, Path]:
    ca = base / name / "ca"
    _cli("pki-ca", "--dir", str(ca), "--dn", f"O=virtkit,CN={name} CA")
    _cli("pki-server", "127.0.0.1,localhost", "--dir", str(base / name / "server"),
         "--ca-dir", str(ca))
    _cli("pki-client", "C=GB,O=virtkit,CN=admin", "--dir", str(base / name / "client"),
         "--ca-dir", str(ca))
    return base / name / "server", base / name / "client"


def test_server_update_tls_reloads_the_files(tmp_path: Path) -> None:
    old_server, old_client = _pki(tmp_path / "pki", "old")
    new_server, new_client = _pki(tmp_path / "pki", "new")
    live = tmp_path / "live"
    shutil.copytree(old_server, live)
    with start_virtkitd(tmp_path / "root", tls=live, extra_conf=CONF) as d:
        vadm = _runner([VIRT_ADMIN], _admin_sock(d))
        uri = d.uri("tls")
        with virtkit.open(f"{uri}?pkipath={old_client}") as conn:
            assert conn.hostname
        for name in ("cacert.pem", "servercert.pem", "serverkey.pem"):
            shutil.copy(new_server / name, live / name)
        res = vadm("server-update-tls", "libvirtd")
        assert (res.returncode, res.stdout) == (0, "update tls related files succeed\n\n"), \
            res.stderr
        with virtkit.open(f"{uri}?pkipath={new_client}") as conn:
            assert conn.hostname
        with pytest.raises(VirtError):
            virtkit.open(f"{uri}?pkipath={old_client}")
        (live / "servercert.pem").write_text("not a certificate\n")
        res = vadm("server-update-tls", "libvirtd")
        assert res.returncode == 1
        assert "Unable to update server's tls related files." in res.stderr
        with virtkit.open(f"{uri}?pkipath={new_client}") as conn:  # the old context stays
            assert conn.hostname
        res = vadm("server-update-tls", "admin")
        assert "no tls service found" in res.stderr


# ----------------------------------------------------------------------- URIs


def test_admin_uri_to_socket_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VIRTKIT_ROOT", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1000")
    path = virtkit.admin.socket_path
    assert path("libvirtd:///system") == "/run/libvirt/libvirt-admin-sock"
    assert path("virtkitd:///system") == "/run/libvirt/libvirt-admin-sock"
    assert path("virtqemud:///system") == "/run/libvirt/virtqemud-admin-sock"
    assert path("libvirtd:///session") == "/run/user/1000/libvirt/libvirt-admin-sock"
    assert path("anything:///x?socket=/tmp/s") == "/tmp/s"
    assert path("libvirtd:///system", root="/srv/vk") == "/srv/vk/run/libvirt/libvirt-admin-sock"
    monkeypatch.setenv("VIRTKIT_ROOT", "/srv/r")
    assert path("virtkitd:///system") == "/srv/r/run/libvirt/libvirt-admin-sock"
    for uri, message in (("foo:///system", "Unsupported URI scheme 'foo'"),
                         ("libvirtd:///bad", "Invalid URI path '/bad', try '/system'"),
                         ("libvirtd:///system?mode=x", "Unknown URI parameter 'mode'"),
                         ("plain", "No URI scheme specified")):
        with pytest.raises(VirtError) as exc:
            path(uri)
        assert exc.value.code == ErrorCode.CONFIG_UNSUPPORTED
        assert exc.value.message == f"unsupported configuration: {message}"


# ----------------------------------------------------------------------- Debian's libvirtd


def test_virtkit_admin_client_drives_libvirtd(tmp_path: Path) -> None:
    with start_libvirtd(tmp_path) as lv:
        sock = str(lv.root / "run" / "libvirt-admin-sock")
        with virtkit.admin.open(_uri(sock)) as adm:
            assert adm.get_lib_version() == 9000000
            # libvirtd lists its servers in hash order, virtkitd libvirtd first
            assert sorted(s.name for s in adm.list_servers()) == ["admin", "libvirtd"]
            srv = adm.lookup_server("libvirtd")
            assert list(srv.get_threadpool_parameters()) == [
                "minWorkers", "maxWorkers", "nWorkers", "freeWorkers", "prioWorkers",
                "jobQueueDepth"]
            srv.set_threadpool_parameters({"maxWorkers": 11})
            assert srv.get_threadpool_parameters()["maxWorkers"] == 11
            with virtkit.open(lv.uri()) as conn:
                mine = [c for c in srv.list_clients()
                        if c.get_info().get("unix_process_id") == os.getpid()]
                assert len(mine) == 1
                mine[0].close()
                with pytest.raises(VirtError):
                    conn.list_domains()
            with pytest.raises(VirtError) as exc:
                adm.lookup_server("nope")
            assert exc.value.code == ErrorCode.NO_SERVER
            assert adm.get_logging_outputs() == "3:stderr"
        for args in (("srv-list", "--json"), ("srv-threadpool-info", "admin"),
                     ("srv-clients-info", "libvirtd"), ("srv-threadpool-info", "nope"),
                     ("daemon-log-filters",)):
            mine_res = _runner([sys.executable, "-m", "virtkit.cli.admintool"], sock)(*args)
            if args[-1] == "--json":
                assert '"name": "libvirtd"' in mine_res.stdout, mine_res.stderr
                continue
            theirs = _runner([VIRT_ADMIN], sock)(*args)
            assert (mine_res.returncode, mine_res.stdout, mine_res.stderr) == \
                (theirs.returncode, theirs.stdout, theirs.stderr), args
