"""Tunnelled migration (``virsh migrate --p2p --tunnelled``): QEMU's migration stream
carried over the RPC connection between the two daemons (DOMAIN_MIGRATE_PREPARE_TUNNEL3_
PARAMS and its stream), between two virtkitd hosts (virtkit.testing.twohosts) and between
virtkitd and Debian's libvirtd 9.0, both ways. The guest's console counter proves the
guest kept running; ``domjobinfo`` shows the stream's progress; ``domjobabort`` during the
stream leaves the source running. Every guest is TCG (domain type 'qemu')."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from qemu_e2e import console_log, domain_xml, kill_pid, qemu_pids, wait_marker, wait_until
from test_qemu_migration import Counter
from test_qemu_migration_hosts import VIRTKIT, _boot, _libvirtd, _start, hosts, virsh

import virtkit
from virtkit.constants import DomainMigrateFlags as F
from virtkit.constants import DomainState
from virtkit.drivers.qemu import migration_tunnel
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error
from virtkit.testing.twohosts import TwoHosts

__all__ = ["hosts"]  # the fixture, shared with test_qemu_migration_hosts.py


def _migrating(uri: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(["virsh", "-c", uri, "migrate", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait(run: subprocess.Popen[str], timeout: float = 240) -> tuple[int, str]:
    try:
        _, err = run.communicate(timeout=timeout)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait(10)
    return run.returncode, err


def _jobinfo(uri: str, name: str) -> dict[str, str]:
    done = virsh(uri, "domjobinfo", name, check=False)
    rows = (line.split(":", 1) for line in done.stdout.splitlines() if ":" in line)
    return {k.strip(): v.strip() for k, v in rows}


# ---------------------------------------------------------------- the pump, without QEMU


class _Sink:
    """A DataStream that keeps what it is sent (or fails after ``fail_after`` bytes)."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.data = bytearray()
        self.fail_after = fail_after
        self.ended: str | None = None

    def recv(self, nbytes: int = 0) -> bytes:
        return b""

    def send(self, data: bytes) -> None:
        if self.fail_after is not None and len(self.data) >= self.fail_after:
            raise make_error(ErrorCode.SYSTEM_ERROR, ErrorDomain.STREAMS, "stream I/O failed")
        self.data += data

    def finish(self) -> None:
        self.ended = "finish"

    def abort(self) -> None:
        self.ended = "abort"


def _fake_qemu(payload: bytes) -> Callable[[str], None]:
    """What QMP ``migrate unix:PATH`` does: connect, write everything, close; a write
    that fails is QEMU's failed migration."""
    def migrate(uri: str) -> None:
        assert uri.startswith("unix:")
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(uri[5:])
            view = memoryview(payload)
            for off in range(0, len(view), 65536):
                try:
                    sock.sendall(view[off:off + 65536])
                except OSError as exc:
                    raise make_error(ErrorCode.OPERATION_FAILED, ErrorDomain.QEMU,
                                     f"job 'migration out' failed: {exc}") from None
                time.sleep(0.001)

    return migrate


def test_pump_moves_every_byte_then_finishes(tmp_path: Path) -> None:
    payload = os.urandom(3 << 20)
    sink = _Sink()
    dom = SimpleNamespace(name="vm", run_dir=str(tmp_path))
    tunnel = migration_tunnel.run_tunnelled(dom, sink, _fake_qemu(payload))  # type: ignore[arg-type]
    assert bytes(sink.data) == payload and tunnel.sent == len(payload)
    assert sink.ended == "finish"
    assert not os.path.exists(tunnel.path)  # the socket is removed


def test_a_failed_stream_fails_qemus_migration_and_aborts(tmp_path: Path) -> None:
    sink = _Sink(fail_after=1 << 20)
    dom = SimpleNamespace(name="vm", run_dir=str(tmp_path))
    with pytest.raises(VirtError) as exc:  # QEMU's write fails: the pump closed its socket
        migration_tunnel.run_tunnelled(dom, sink, _fake_qemu(os.urandom(64 << 20)))  # type: ignore[arg-type]
    assert exc.value.code == ErrorCode.OPERATION_FAILED
    assert len(sink.data) < 64 << 20 and sink.ended == "abort"


def test_incoming_tunnel_writes_into_qemus_socket() -> None:
    ours, qemus = socket.socketpair()
    with qemus:
        incoming = migration_tunnel.IncomingTunnel(ours)
        incoming.send(b"QEVM" + bytes(100))
        incoming.finish()
        got = b"".join(iter(lambda: qemus.recv(4096), b""))  # EOF: the write side is shut
    assert got == b"QEVM" + bytes(100) and incoming.received == 104
    with pytest.raises(VirtError):
        incoming.send(b"late")
    incoming.abort()  # after the end: nothing to do


@pytest.mark.parametrize("params,flags,code,text", [
    ({"migrate_uri": "tcp://h"}, F.TUNNELLED, ErrorCode.ARGUMENT_UNSUPPORTED,
     "migration URI is not supported by tunnelled migration"),
    ({"listen_address": "::"}, F.TUNNELLED, ErrorCode.ARGUMENT_UNSUPPORTED,
     "listen address is not supported by tunnelled migration"),
    ({"disks_port": 5}, F.TUNNELLED, ErrorCode.ARGUMENT_UNSUPPORTED,
     "disk port address is not supported by tunnelled migration"),
    ({}, F.TUNNELLED | F.OFFLINE, ErrorCode.OPERATION_INVALID,
     "tunnelled offline migration does not make sense"),
    ({}, F.TUNNELLED | F.POSTCOPY, ErrorCode.ARGUMENT_UNSUPPORTED,
     "post-copy is not supported with tunnelled migration"),
    ({}, F.TUNNELLED | F.NON_SHARED_INC, ErrorCode.OPERATION_UNSUPPORTED,
     "migration of non-shared storage is not supported with tunnelled migration"),
])
def test_peer2peer_checks(params: dict[str, Any], flags: int, code: int, text: str) -> None:
    with pytest.raises(VirtError) as exc:
        migration_tunnel.check_peer2peer(params, flags)
    assert exc.value.code == code and text in exc.value.message
    migration_tunnel.check_peer2peer(params, flags & ~F.TUNNELLED)  # not tunnelled: no say


# ---------------------------------------------------------------- end to end


@pytest.mark.slow
def test_virsh_tunnelled_between_virtkitd(hosts: TwoHosts, guest: Any) -> None:
    h = hosts
    ua, ub = _start(h, h.a), _start(h, h.b)
    dom = _boot(h, guest, ua)
    counter = Counter(dom)
    counter.start()
    # slow at first, so that domjobinfo catches the stream under way
    virsh(ua, "migrate-setspeed", "vm1", "2")
    run = _migrating(ua, "--live", "--p2p", "--tunnelled", "--persistent", "vm1",
                     h.b.tcp_uri())
    try:
        wait_until(lambda: dom.job_info().data_processed > 1 << 20, 60, "the tunnel's data")
        info = _jobinfo(ua, "vm1")
        assert info["Job type"] == "Unbounded"
        assert info["Operation"] == "Outgoing migration"
        assert float(info["Data processed"].split()[0]) > 0
        # the destination's QEMU is there, paused, waiting for the stream
        assert virsh(ub, "domstate", "--reason", "vm1").stdout.strip() == \
            "paused (migrating)"
        virsh(ua, "migrate-setspeed", "vm1", "8796093022207")
        code, err = _wait(run)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait(10)
    assert code == 0, err
    seen = counter.last()
    assert virsh(ub, "domstate", "--reason", "vm1").stdout.strip() == "running (migrated)"
    assert virsh(ua, "domstate", "--reason", "vm1").stdout.strip() == "shut off (migrated)"
    there = virtkit.open(ub).lookup_domain("vm1")
    assert there.is_persistent()
    after = Counter(there)
    wait_until(lambda: after.last() > seen + 5, 20, "the counter on host b")
    _, stats = dom.job_stats(1)  # COMPLETED: the source kept the tunnelled job's numbers
    assert stats["operation"] == 5 and stats["memory_processed"] > 0
    # back through virtkit's CLI, tunnelled again, onto the definition host a kept
    back = subprocess.run([*VIRTKIT, "-c", ub, "migrate", "--live", "--p2p", "--tunnelled",
                           "--undefinesource", "--verbose", "vm1", h.a.tcp_uri()],
                          capture_output=True, text=True, timeout=300)
    assert back.returncode == 0, back.stderr
    assert back.stderr.endswith("Migration: [100 %]")
    assert virsh(ua, "domstate", "--reason", "vm1").stdout.strip() == "running (migrated)"
    assert "vm1" not in virsh(ub, "list", "--all", "--name").stdout
    again = Counter(virtkit.open(ua).lookup_domain("vm1"))
    wait_until(lambda: again.last() > seen + 10, 20, "the counter back on host a")
    virsh(ua, "destroy", "vm1")


@pytest.mark.slow
def test_abort_during_the_tunnel_leaves_the_source_running(hosts: TwoHosts,
                                                           guest: Any) -> None:
    h = hosts
    ua, ub = _start(h, h.a), _start(h, h.b)
    dom = _boot(h, guest, ua)
    counter = Counter(dom)
    counter.start()
    virsh(ua, "migrate-setspeed", "vm1", "1")
    run = _migrating(ua, "--live", "--p2p", "--tunnelled", "vm1", h.b.tcp_uri())
    wait_until(lambda: dom.job_info().data_processed > 0, 60, "the tunnel's data")
    virsh(ua, "domjobabort", "vm1")
    code, err = _wait(run)
    assert code != 0
    assert "canceled by client" in err
    assert dom.state == DomainState.RUNNING  # never paused: a live stream cut short
    seen = counter.last()
    wait_until(lambda: counter.last() > seen + 3, 20, "the counter on the source")
    # the destination's incoming QEMU is gone, and with it the transient domain
    wait_until(lambda: not qemu_pids(str(h.b.root)), 30, "the incoming QEMU to go")
    assert "vm1" not in virsh(ub, "list", "--all", "--name").stdout
    # the source migrates fine afterwards
    virsh(ua, "migrate-setspeed", "vm1", "8796093022207")
    virsh(ua, "migrate", "--live", "--p2p", "--tunnelled", "vm1", h.b.tcp_uri())
    assert virsh(ub, "domstate", "--reason", "vm1").stdout.strip() == "running (migrated)"


@pytest.mark.slow
def test_destination_qemu_killed_during_the_tunnel(hosts: TwoHosts, guest: Any) -> None:
    """The destination's stream fails (its QEMU is gone): the source learns it at its
    next send, closes QEMU's socket, QEMU's migration fails, the guest runs on."""
    h = hosts
    ua, ub = _start(h, h.a), _start(h, h.b)
    dom = _boot(h, guest, ua)
    counter = Counter(dom)
    counter.start()
    virsh(ua, "migrate-setspeed", "vm1", "1")
    run = _migrating(ua, "--live", "--p2p", "--tunnelled", "vm1", h.b.tcp_uri())
    wait_until(lambda: dom.job_info().data_processed > 0, 60, "the tunnel's data")
    pids = qemu_pids(str(h.b.root))
    assert len(pids) == 1
    kill_pid(pids[0])
    code, err = _wait(run, timeout=120)  # a hang guard: 1 MiB/s would take minutes
    assert code != 0 and err.startswith("error:"), \
        "the migration cannot succeed without its destination QEMU"
    assert dom.state == DomainState.RUNNING
    seen = counter.last()
    wait_until(lambda: counter.last() > seen + 3, 20, "the counter on the source")
    wait_until(lambda: "vm1" not in virsh(ub, "list", "--all", "--name").stdout, 30,
               "the destination's copy to go")


@pytest.mark.slow
def test_tunnelled_refusals(hosts: TwoHosts, guest: Any) -> None:
    """libvirt's checks: tunnelled needs peer2peer, takes no migration URI or listen
    address, is never offline; copy-storage with it is refused."""
    h = hosts
    ua, ub = _start(h, h.a), _start(h, h.b)
    dom = _boot(h, guest, ua)
    dest = virtkit.open(ub)
    cases: list[tuple[Any, ErrorCode, str]] = [
        (lambda: dom.migrate(dest, F.LIVE | F.TUNNELLED, {}), ErrorCode.INVALID_ARG,
         "cannot perform tunnelled migration without using peer2peer flag"),
        (lambda: dom.migrate_to_uri3(h.b.tcp_uri(), F.LIVE | F.PEER2PEER | F.TUNNELLED,
                                     {"migrate_uri": f"tcp://{h.b.address}"}),
         ErrorCode.ARGUMENT_UNSUPPORTED, "migration URI is not supported by tunnelled "
         "migration"),
        (lambda: dom.migrate_to_uri3(h.b.tcp_uri(), F.LIVE | F.PEER2PEER | F.TUNNELLED,
                                     {"listen_address": "0.0.0.0"}),
         ErrorCode.ARGUMENT_UNSUPPORTED, "listen address is not supported by tunnelled "
         "migration"),
        (lambda: dom.migrate_to_uri3(h.b.tcp_uri(), F.OFFLINE | F.PERSIST_DEST | F.PEER2PEER
                                     | F.TUNNELLED, {}),
         ErrorCode.OPERATION_INVALID, "tunnelled offline migration does not make sense"),
        (lambda: dom.migrate_to_uri3(h.b.tcp_uri(), F.LIVE | F.PEER2PEER | F.TUNNELLED
                                     | F.NON_SHARED_DISK, {}),
         ErrorCode.OPERATION_UNSUPPORTED, "migration of non-shared storage is not "
         "supported with tunnelled migration and this QEMU"),
    ]
    for call, code, message in cases:
        with pytest.raises(VirtError) as exc:
            call()
        assert exc.value.code == code, exc.value
        assert message in str(exc.value)
        assert dom.state == DomainState.RUNNING
    # the destination's own check: PrepareTunnel3Params without the flag
    with pytest.raises(VirtError) as exc:
        dest._hv.domain_migrate_prepare_tunnel3_params(
            {"destination_xml": dom.xml()}, b"", F.LIVE)
    assert exc.value.code == ErrorCode.INTERNAL_ERROR
    assert "PrepareTunnel called but no TUNNELLED flag set" in str(exc.value)
    with pytest.raises(VirtError) as exc:  # PrepareTunnel3, without parameters
        dest._hv.domain_migrate_prepare_tunnel3(b"", F.LIVE, None, 0, dom.xml())
    assert exc.value.code == ErrorCode.INTERNAL_ERROR
    assert "PrepareTunnel called but no TUNNELLED flag set" in str(exc.value)
    with pytest.raises(VirtError) as exc:  # Prepare3Params with the flag: wrong method
        dest._hv.domain_migrate_prepare3_params({"destination_xml": dom.xml()}, b"",
                                                F.LIVE | F.TUNNELLED)
    assert exc.value.code == ErrorCode.INTERNAL_ERROR
    assert "Tunnelled migration requested but invalid RPC method called" in str(exc.value)
    # and stock virsh (libvirt's client library refuses by itself without --p2p)
    refused = virsh(ua, "migrate", "--live", "--tunnelled", "vm1", ub, check=False)
    assert refused.returncode != 0
    assert "without using peer2peer flag" in refused.stderr
    assert "vm1" not in virsh(ub, "list", "--all", "--name").stdout


@pytest.mark.slow
@pytest.mark.parametrize("first", ["virtkitd", "libvirtd"])
def test_tunnelled_interop_with_libvirtd(hosts: TwoHosts, guest: Any, first: str) -> None:
    """virtkitd -> libvirtd 9.0 and libvirtd -> virtkitd, tunnelled, driven by stock virsh
    on the source (the source daemon opens the destination's unix socket)."""
    h = hosts
    uv, ul = _start(h, h.a), _libvirtd(h, h.b)
    src, dst = (uv, ul) if first == "virtkitd" else (ul, uv)
    xml = h.shared / "vm1.xml"
    xml.write_text(domain_xml(guest, h.shared, "vm1"))
    virsh(src, "define", str(xml))
    virsh(src, "start", "vm1")
    wait_marker(console_log(h.shared, "vm1"), guest.READY_MARKER, timeout=60)
    counter = Counter(virtkit.open(uv).lookup_domain("vm1")) if src == uv else None
    if counter is not None:
        counter.start()
    virsh(src, "migrate", "--live", "--p2p", "--tunnelled", "--persistent",
          "--undefinesource", "vm1", dst)
    assert virsh(dst, "domstate", "--reason", "vm1").stdout.strip() == "running (migrated)"
    assert "vm1" not in virsh(src, "list", "--all", "--name").stdout
    # and back the other way, tunnelled too
    virsh(dst, "migrate", "--live", "--p2p", "--tunnelled", "--persistent",
          "--undefinesource", "vm1", src)
    assert virsh(src, "domstate", "--reason", "vm1").stdout.strip() == "running (migrated)"
    assert "vm1" not in virsh(dst, "list", "--all", "--name").stdout
    if counter is not None:  # virtkitd -> libvirtd -> virtkitd: still counting
        seen = counter.last()
        again = Counter(virtkit.open(uv).lookup_domain("vm1"))
        wait_until(lambda: again.last() > seen + 3, 20, "the counter after the round trip")
    virsh(src, "destroy", "vm1")
    virsh(src, "undefine", "vm1")
