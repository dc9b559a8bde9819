"""Migration capabilities and parameters (drivers/qemu/migration_params.py): the flag and
typed-parameter -> QMP mapping and libvirt's refusals (fast, no guest), then end-to-end
between two roots in one process (slow, TCG guests with a counter on the console):
compressed (xbzrle), parallel (multifd, 2 connections), auto-converge, post-copy switched
to with migrate-postcopy, TLS with certificates made by ``virtkit pki-qemu``, and the
post-copy failure state."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from qemu_e2e import (
    QemuRoot,
    console_log,
    domain_xml,
    kill_pid,
    lifecycle,
    qemu_pids,
    wait_marker,
    wait_until,
)
from test_qemu_migration import Counter, Hosts, _boot
from test_qemu_migration_hosts import _libvirtd, virsh
from test_qemu_migration_hosts import _start as _start_virtkitd
from test_qemu_migration_hosts import hosts as hosts_fixture

import virtkit
from virtkit.constants import DomainEventID, DomainMigrateFlags, DomainState
from virtkit.drivers.qemu import migration_params as mp
from virtkit.errors import ErrorCode, VirtError
from virtkit.testing.twohosts import TwoHosts

F = DomainMigrateFlags
SRC, DST = mp.Party.SOURCE, mp.Party.DESTINATION
MiB = 1024 * 1024


# ---------------------------------------------------------------- mapping (fast)


def test_flags_map_to_capabilities_per_side() -> None:
    flags = F.LIVE | F.AUTO_CONVERGE | F.POSTCOPY | F.PARALLEL
    src = mp.from_flags({}, flags, SRC)
    dst = mp.from_flags({}, flags, DST)
    assert src.caps == {"auto-converge", "postcopy-ram", "multifd", "return-path"}
    assert dst.caps == {"postcopy-ram", "multifd", "return-path"}  # auto-converge: source
    assert src.values == dst.values == {}
    # return-path is libvirt's for every migration but a tunnelled one
    assert mp.from_flags({}, F.LIVE | F.TUNNELLED | F.PEER2PEER, SRC).caps == set()


def test_typed_parameters_map_to_qemu_parameters() -> None:
    params: dict[str, Any] = {
        "auto_converge.initial": 30, "auto_converge.increment": 15,
        "parallel.connections": 2, "bandwidth.postcopy": 7, "tls.destination": "h.example",
        "compression": "mt", "compression.mt.level": 3, "compression.mt.threads": 2,
        "compression.mt.dthreads": 1}
    flags = F.LIVE | F.AUTO_CONVERGE | F.PARALLEL | F.COMPRESSED
    src = mp.from_flags(params, flags, SRC)
    assert src.values == {
        "cpu-throttle-initial": 30, "cpu-throttle-increment": 15, "multifd-channels": 2,
        "max-postcopy-bandwidth": 7 * MiB, "tls-hostname": "h.example", "compress-level": 3,
        "compress-threads": 2, "decompress-threads": 1}
    assert src.methods == ["mt"] and "compress" in src.caps and "xbzrle" not in src.caps
    dst = mp.from_flags(params, flags, DST)  # the throttle and the TLS host name: source
    assert dst.values == {"multifd-channels": 2, "max-postcopy-bandwidth": 7 * MiB,
                          "compress-level": 3, "compress-threads": 2, "decompress-threads": 1}


def test_compressed_defaults_to_xbzrle() -> None:
    got = mp.from_flags({}, F.LIVE | F.COMPRESSED, DST)
    assert got.methods == ["xbzrle"] and "xbzrle" in got.caps
    got = mp.from_flags({"compression": "xbzrle", "compression.xbzrle.cache": 64 * MiB},
                        F.LIVE | F.COMPRESSED, SRC)
    assert got.values == {"xbzrle-cache-size": 64 * MiB} and "compress" not in got.caps
    # without --compressed no method is implied
    assert "xbzrle" not in mp.from_flags({}, F.LIVE, SRC).caps


def test_several_compression_methods() -> None:
    """`compression` given several times (a list after the wire, rpc/typedparams.py):
    every method counts, a repeated one is refused as libvirt does; the driver's
    parameter check takes the list."""
    from virtkit.drivers.qemu.migration import check_params

    params: dict[str, Any] = {"compression": ["xbzrle", "mt"], "compression.mt.threads": 2}
    check_params(params)
    got = mp.from_flags(params, F.LIVE | F.COMPRESSED, SRC)
    assert got.methods == ["xbzrle", "mt"] and {"xbzrle", "compress"} <= got.caps
    with pytest.raises(VirtError) as exc:
        mp.from_flags({"compression": ["mt", "mt"]}, F.LIVE | F.COMPRESSED, SRC)
    assert exc.value.code == ErrorCode.INVALID_ARG
    assert "Compression method 'mt' is specified twice" in exc.value.message
    with pytest.raises(VirtError) as exc:
        check_params({"compression": ["xbzrle", 3]})
    assert exc.value.code == ErrorCode.INVALID_ARG


@pytest.mark.parametrize("params,flags,code,text", [
    ({"auto_converge.initial": 20}, F.LIVE, ErrorCode.INVALID_ARG,
     "Turn auto convergence on to tune it"),
    ({"parallel.connections": 4}, F.LIVE, ErrorCode.INVALID_ARG,
     "Turn parallel migration on to tune it"),
    ({"compression.mt.threads": 2}, F.LIVE | F.COMPRESSED, ErrorCode.INVALID_ARG,
     "Turn multithread compression on to tune it"),
    ({"compression": "mt", "compression.xbzrle.cache": MiB}, F.LIVE | F.COMPRESSED,
     ErrorCode.INVALID_ARG, "Turn xbzrle compression on to tune it"),
    ({"compression": "zlib"}, F.LIVE | F.COMPRESSED, ErrorCode.INVALID_ARG,
     "Unsupported compression method 'zlib'"),  # libvirt 9.0: xbzrle and mt only
    ({"bandwidth.postcopy": 1 << 60}, F.LIVE | F.POSTCOPY, ErrorCode.OVERFLOW,
     "migration parameter 'bandwidth.postcopy' must be less than 17592186044416"),
    ({}, F.LIVE | F.POSTCOPY | F.TUNNELLED, ErrorCode.ARGUMENT_UNSUPPORTED,
     "post-copy is not supported with tunnelled migration"),
])
def test_refusals_as_libvirt(params: dict[str, Any], flags: int, code: int,
                             text: str) -> None:
    for party in (SRC, DST):
        if party == DST and "auto_converge" in next(iter(params), ""):
            continue  # a source-only parameter: the destination ignores it
        with pytest.raises(VirtError) as exc:
            mp.from_flags(params, flags, party)
        assert exc.value.code == code and text in exc.value.message


def test_api_refusals_without_a_migration(qroot: QemuRoot, guest: Any) -> None:
    """A defined, inactive domain: libvirt's errors, nothing started."""
    conn = qroot.open()
    dom = conn.define_domain(domain_xml(guest, qroot.path, "mp-idle"))
    calls: tuple[Callable[[], object], ...] = (
                 lambda: dom.migrate_start_post_copy(0),
                 lambda: dom.migrate_compression_cache(),
                 lambda: dom.migrate_set_compression_cache(MiB),
                 lambda: dom.migrate_max_speed(1),
                 lambda: dom.migrate_set_max_speed(5, 1))
    for call in calls:
        with pytest.raises(VirtError) as exc:
            call()
        assert exc.value.code == ErrorCode.OPERATION_INVALID
        assert "domain is not running" in exc.value.message
    with pytest.raises(VirtError) as exc:
        dom.migrate_start_post_copy(1)
    assert exc.value.code == ErrorCode.INVALID_ARG
    with pytest.raises(VirtError) as exc:
        dom.migrate_set_max_speed(1 << 44, 1)  # POSTCOPY: ULLONG_MAX / 1 MiB
    assert exc.value.code == ErrorCode.OVERFLOW
    assert "bandwidth must be less than 17592186044416" in exc.value.message


def _virtkit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "virtkit.cli.main", *args],
                          capture_output=True, text=True, timeout=120)


def test_cli_option_rules() -> None:
    """virsh's VSH_REQUIRE_OPTION rules of the new options (checked before connecting)."""
    for opts, text in ((["--postcopy-after-precopy"],
                        "Option --postcopy is required by option --postcopy-after-precopy"),
                       (["--tls-destination", "h"],
                        "Option --tls is required by option --tls-destination"),
                       (["--postcopy", "--timeout-postcopy", "--timeout-suspend"],
                        "Options --timeout-suspend and --timeout-postcopy are mutually "
                        "exclusive")):
        res = _virtkit("-c", "test:///default", "migrate", "test", "qemu:///x", *opts)
        assert res.returncode == 1 and text in res.stderr, res.stderr
    res = _virtkit("-c", "test:///default", "help", "migrate-postcopy")
    assert res.returncode == 0 and "migrate-postcopy <domain>" in res.stdout


# ---------------------------------------------------------------- end to end (slow)


@pytest.fixture
def hosts() -> Iterator[Hosts]:
    h = Hosts()
    try:
        yield h
    finally:
        left = h.cleanup()
    assert not left, f"QEMU processes left running: {left}"


def _mon(conn: Any, name: str) -> Any:
    return conn.tables.hypervisor._node.by_name[name].mon


def _caps(conn: Any, name: str) -> dict[str, bool]:
    return {c["capability"]: c["state"]
            for c in _mon(conn, name).execute("query-migrate-capabilities")}


def _qparams(conn: Any, name: str) -> dict[str, Any]:
    return dict(_mon(conn, name).execute("query-migrate-parameters"))


def _start(hosts: Hosts, dom: Any, flags: int, params: dict[str, Any],
           dest: Any = None) -> tuple[threading.Thread, list[Any]]:
    """A migration throttled to 1 MiB/s, in a thread, once it streams."""
    dom.migrate_set_max_speed(1)
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(dom.migrate(dest or hosts.cdst, flags, params))
        except VirtError as exc:
            out.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    wait_until(lambda: bool(out) or (dom.job_info().type == 2
                                     and dom.job_info().data_processed > 0),
               60, "the migration to stream")
    assert not out, out
    return t, out


def _finish(dom: Any, t: threading.Thread, out: list[Any]) -> Any:
    dom.migrate_set_max_speed(100000)  # the rest at full speed
    t.join(300)
    assert not t.is_alive() and out
    if isinstance(out[0], VirtError):
        raise out[0]
    return out[0]


def _goes_on(moved: Any, seen: int) -> None:
    after = Counter(moved)
    wait_until(lambda: after.last() > seen + 5, 30, "the counter on the destination")


def _reset(conn: Any, name: str, *caps: str) -> None:
    got = _caps(conn, name)
    assert not any(got[c] for c in caps), got


@pytest.mark.slow
def test_compressed_xbzrle(hosts: Hosts, guest: Any) -> None:
    dom = _boot(hosts, guest, "mp-xbzrle")
    counter = Counter(dom)
    counter.start()
    # migrate-compcache: the running QEMU's xbzrle cache, set and read back
    dom.migrate_set_compression_cache(32 * MiB)
    assert dom.migrate_compression_cache() == 32 * MiB
    t, out = _start(hosts, dom, F.LIVE | F.COMPRESSED,
                    {"compression": "xbzrle", "compression.xbzrle.cache": 16 * MiB})
    src, dst = _caps(hosts.csrc, "mp-xbzrle"), _caps(hosts.cdst, "mp-xbzrle")
    assert src["xbzrle"] and dst["xbzrle"] and src["return-path"] and not src["multifd"]
    assert _qparams(hosts.csrc, "mp-xbzrle")["xbzrle-cache-size"] == 16 * MiB
    assert _qparams(hosts.cdst, "mp-xbzrle")["xbzrle-cache-size"] == 16 * MiB
    assert dom.migrate_compression_cache() == 16 * MiB
    dom.migrate_set_compression_cache(8 * MiB)  # also during the migration (MIGRATION_OP)
    assert dom.migrate_compression_cache() == 8 * MiB
    seen = counter.last()
    moved = _finish(dom, t, out)
    assert moved.state_reason() == (DomainState.RUNNING, 2)  # RUNNING_MIGRATED
    _goes_on(moved, seen)
    _reset(hosts.cdst, "mp-xbzrle", "xbzrle", "return-path")  # a later save starts clean


@pytest.mark.slow
def test_parallel_two_connections(hosts: Hosts, guest: Any) -> None:
    dom = _boot(hosts, guest, "mp-multifd")
    counter = Counter(dom)
    counter.start()
    t, out = _start(hosts, dom, F.LIVE | F.PARALLEL, {"parallel.connections": 2})
    for conn in (hosts.csrc, hosts.cdst):
        assert _caps(conn, "mp-multifd")["multifd"]
        assert _qparams(conn, "mp-multifd")["multifd-channels"] == 2
    seen = counter.last()
    moved = _finish(dom, t, out)
    _goes_on(moved, seen)
    _reset(hosts.cdst, "mp-multifd", "multifd")


@pytest.mark.slow
def test_auto_converge(hosts: Hosts, guest: Any) -> None:
    dom = _boot(hosts, guest, "mp-ac")
    counter = Counter(dom)
    counter.start()
    t, out = _start(hosts, dom, F.LIVE | F.AUTO_CONVERGE,
                    {"auto_converge.initial": 35, "auto_converge.increment": 5})
    assert _caps(hosts.csrc, "mp-ac")["auto-converge"]
    assert not _caps(hosts.cdst, "mp-ac")["auto-converge"]  # a source capability
    got = _qparams(hosts.csrc, "mp-ac")
    assert got["cpu-throttle-initial"] == 35 and got["cpu-throttle-increment"] == 5
    seen = counter.last()
    _goes_on(_finish(dom, t, out), seen)


@pytest.mark.slow
def test_postcopy_switched_by_migrate_postcopy(hosts: Hosts, guest: Any) -> None:
    dom = _boot(hosts, guest, "mp-post")
    counter = Counter(dom)
    counter.start()
    # not during a migration: libvirt's refusal
    with pytest.raises(VirtError) as exc:
        dom.migrate_start_post_copy(0)
    assert exc.value.code == ErrorCode.OPERATION_INVALID
    assert "post-copy can only be started while outgoing migration is in progress" \
        in exc.value.message
    dom.migrate_set_max_speed(3, 1)  # migrate-setspeed --postcopy: QEMU's own value
    assert dom.migrate_max_speed(1) == 3
    src_events, dst_events = hosts.csrc.domain_events(), hosts.cdst.domain_events()
    t, out = _start(hosts, dom, F.LIVE | F.POSTCOPY, {"bandwidth.postcopy": 2})
    assert _caps(hosts.csrc, "mp-post")["postcopy-ram"]
    assert _caps(hosts.cdst, "mp-post")["postcopy-ram"]
    assert dom.migrate_max_speed(1) == 2  # bandwidth.postcopy for this migration
    seen = counter.last()
    dom.migrate_start_post_copy(0)
    # the source pauses in post-copy while the destination runs the guest
    wait_until(lambda: dom.state_reason() == (DomainState.PAUSED, 12), 60,
               "paused/post-copy on the source")  # VIR_DOMAIN_PAUSED_POSTCOPY
    moved = hosts.cdst.lookup_domain("mp-post")
    wait_until(lambda: moved.state_reason() == (DomainState.RUNNING, 10), 60,
               "running/post-copy on the destination")  # VIR_DOMAIN_RUNNING_POSTCOPY
    moved = _finish(dom, t, out)
    assert moved.state_reason() == (DomainState.RUNNING, 2)  # RUNNING_MIGRATED at the end
    _goes_on(moved, seen)
    assert lifecycle(src_events, timeout=20, until=(5, 3)) == [
        (3, 1), (3, 7), (5, 3)]  # SUSPENDED_MIGRATED, SUSPENDED_POSTCOPY, STOPPED_MIGRATED
    got = lifecycle(dst_events, timeout=20, until=(4, 1))
    assert got == [(2, 1), (4, 3), (4, 1)]  # STARTED_MIGRATED, RESUMED_POSTCOPY, _MIGRATED


@pytest.mark.slow
def test_postcopy_needs_the_flag(hosts: Hosts, guest: Any) -> None:
    dom = _boot(hosts, guest, "mp-noflag")
    t, out = _start(hosts, dom, F.LIVE, {})
    with pytest.raises(VirtError) as exc:
        dom.migrate_start_post_copy(0)
    assert exc.value.code == ErrorCode.OPERATION_INVALID
    assert "switching to post-copy requires migration to be started with " \
        "VIR_MIGRATE_POSTCOPY flag" in exc.value.message
    _finish(dom, t, out)


@pytest.mark.slow
def test_postcopy_failure_leaves_the_source_paused(hosts: Hosts, guest: Any) -> None:
    """The destination dies during post-copy: the source can neither resume the guest
    (part of its memory was on the destination) nor lose it; libvirt's postcopy-failed."""
    dom = _boot(hosts, guest, "mp-fail")
    counter = Counter(dom)
    counter.start()
    src_events = hosts.csrc.domain_events()
    t, out = _start(hosts, dom, F.LIVE | F.POSTCOPY, {"bandwidth.postcopy": 1})
    dom.migrate_start_post_copy(0)
    wait_until(lambda: dom.state_reason() == (DomainState.PAUSED, 12), 60,
               "paused/post-copy on the source")
    pids = qemu_pids(str(hosts.dst.path))
    assert len(pids) == 1
    kill_pid(pids[0])
    t.join(120)
    assert not t.is_alive() and isinstance(out[0], VirtError)
    assert dom.state_reason() == (DomainState.PAUSED, 13)  # VIR_DOMAIN_PAUSED_POSTCOPY_FAILED
    assert lifecycle(src_events, timeout=20, until=(3, 8))[-2:] == [(3, 7), (3, 8)]
    # the failed migration's job stays: resume cannot take the domain
    with pytest.raises(VirtError) as exc:
        dom.resume()
    assert exc.value.code == ErrorCode.OPERATION_TIMEOUT
    assert dom.state_reason() == (DomainState.PAUSED, 13)
    assert dom.job_stats(0)[0] != 0  # a job is still there (domjobinfo)
    # kept by Confirm itself, released, in libvirt's phase postcopy_failed (status file)
    statuses = [f.read_text() for f in hosts.src.path.rglob("mp-fail.xml")]
    assert any("async='migration out' phase='postcopy_failed'" in text
               for text in statuses), statuses
    dom.destroy()  # an explicit destroy still ends it, and the job with it
    assert not dom.is_active()
    dom.start()  # no job is left to wait for
    assert dom.state_reason()[0] == DomainState.RUNNING
    dom.destroy()


def _pki(ca: Path, root: Path) -> None:
    for args in (("pki-qemu", "--root", str(root), "--ca-dir", str(ca),
                  "--host", "127.0.0.1,localhost"),):
        res = _virtkit(*args, "--bits", "2048")
        assert res.returncode == 0, res.stderr


@pytest.mark.slow
def test_tls_migration_with_pki_qemu(hosts: Hosts, guest: Any, tmp_path: Path) -> None:
    dom = _boot(hosts, guest, "mp-tls")
    counter = Counter(dom)
    counter.start()
    params = {"migrate_uri": "tcp://127.0.0.1"}
    # no certificates yet: libvirt's error for the missing directory (destination first)
    with pytest.raises(VirtError) as exc:
        dom.migrate(hosts.cdst, F.LIVE | F.TLS, params)
    assert exc.value.code == ErrorCode.CONF_SYNTAX
    assert f"migrate_tls_x509_cert_dir directory '{hosts.dst.path}/etc/pki/qemu' does " \
        "not exist" in exc.value.message
    assert dom.state_reason()[0] == DomainState.RUNNING
    res = _virtkit("pki-ca", "--dir", str(tmp_path / "ca"), "--bits", "2048")
    assert res.returncode == 0, res.stderr
    for root in (hosts.src.path, hosts.dst.path):
        _pki(tmp_path / "ca", root)
    assert sorted(p.name for p in (hosts.dst.path / "etc/pki/qemu").iterdir()) == \
        sorted(mp.TLS_FILES)
    # a missing file: QEMU's own error through libvirt's
    key = hosts.dst.path / "etc/pki/qemu/server-key.pem"
    saved = key.read_bytes()
    key.unlink()
    with pytest.raises(VirtError) as exc:
        dom.migrate(hosts.cdst, F.LIVE | F.TLS, params)
    assert "server-key.pem" in exc.value.message
    assert hosts.cdst.list_domains() == []
    key.write_bytes(saved)
    t, out = _start(hosts, dom, F.LIVE | F.TLS, params)
    got = _qparams(hosts.csrc, "mp-tls")
    assert got["tls-creds"] == mp.TLS_ALIAS and got["tls-hostname"] == "127.0.0.1"
    assert _qparams(hosts.cdst, "mp-tls")["tls-creds"] == mp.TLS_ALIAS
    seen = counter.last()
    moved = _finish(dom, t, out)
    _goes_on(moved, seen)
    assert _qparams(hosts.cdst, "mp-tls")["tls-creds"] == ""  # reset after Finish


@pytest.mark.slow
def test_tls_destination_must_match_the_certificate(hosts: Hosts, guest: Any,
                                                    tmp_path: Path) -> None:
    """``tls.destination`` is the name the source checks the destination's certificate
    against: a name the certificate lacks fails the handshake, the guest stays."""
    dom = _boot(hosts, guest, "mp-tlsname")
    assert _virtkit("pki-ca", "--dir", str(tmp_path / "ca"), "--bits",
                    "2048").returncode == 0
    for root in (hosts.src.path, hosts.dst.path):
        _pki(tmp_path / "ca", root)
    with pytest.raises(VirtError) as exc:
        dom.migrate(hosts.cdst, F.LIVE | F.TLS, {"migrate_uri": "tcp://127.0.0.1",
                                                 "tls.destination": "elsewhere.example"})
    # the source's stream failed; libvirt's Version3Full lets a Finish error win (here the
    # destination QEMU, which quits on a failed incoming stream, may already be gone)
    assert exc.value.code in (ErrorCode.OPERATION_FAILED, ErrorCode.NO_DOMAIN), exc.value
    assert dom.state_reason()[0] == DomainState.RUNNING
    wait_until(lambda: hosts.cdst.list_domains() == [], 30, "the destination's copy to go")
    moved = dom.migrate(hosts.cdst, F.LIVE | F.TLS, {"migrate_uri": "tcp://127.0.0.1",
                                                     "tls.destination": "localhost"})
    assert moved.state_reason() == (DomainState.RUNNING, 2)


# ---------------------------------------------------------------- interop (slow)


# test_qemu_migration_hosts' two-namespace set-up and teardown, under this file's name
two = hosts_fixture


def _debug_monitor_log(libvirtd_uri: str, log: Path) -> None:
    """libvirtd's QMP traffic into ``log`` (virt-admin: its admin socket beside the
    connection socket), to see the capabilities libvirt's side of a migration sets."""
    sock = libvirtd_uri.split("socket=", 1)[1].replace("libvirt-sock", "libvirt-admin-sock")
    admin = f"libvirtd:///system?socket={sock}"
    for args in (("daemon-log-filters", "1:qemu.qemu_monitor"),
                 ("daemon-log-outputs", f"1:file:{log}")):
        done = subprocess.run(["virt-admin", "-c", admin, *args], capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr


def _virsh_parallel(src: str, dst: str, dst_addr: str) -> None:
    virsh(src, "migrate", "--live", "--persistent", "--undefinesource", "--parallel",
          "--parallel-connections", "2", "vm1", dst, "--migrateuri", f"tcp://{dst_addr}")


@pytest.mark.slow
def test_parallel_with_libvirtd_both_ways(two: TwoHosts, guest: Any) -> None:
    """virtkitd -> libvirtd 9.0 and back with --parallel: libvirt turns multifd on for its
    QEMU (as destination in Prepare, as source in Perform; its monitor log shows it), and
    a multifd stream only works when the virtkit side's QEMU has it on too."""
    h = two
    uv, ul = _start_virtkitd(h, h.a), _libvirtd(h, h.b)
    log = h.shared / "libvirtd-monitor.log"
    _debug_monitor_log(ul, log)
    xml = h.shared / "vm1.xml"
    xml.write_text(domain_xml(guest, h.shared, "vm1"))
    virsh(uv, "define", str(xml))
    virsh(uv, "start", "vm1")
    wait_marker(console_log(h.shared, "vm1"), guest.READY_MARKER, timeout=60)
    on = '{"capability":"multifd","state":true}'
    _virsh_parallel(uv, ul, h.b.address)
    assert virsh(ul, "domstate", "--reason", "vm1").stdout.strip() == "running (migrated)"
    first = log.read_text().count(on)
    assert first > 0  # libvirt's Prepare
    _virsh_parallel(ul, uv, h.a.address)
    assert virsh(uv, "domstate", "--reason", "vm1").stdout.strip() == "running (migrated)"
    assert log.read_text().count(on) > first  # and its Perform
    counter = Counter(virtkit.open(uv).lookup_domain("vm1"))
    counter.start()  # the guest answers after the round trip
    # stock virsh's migrate-compcache and migrate-postcopy against virtkitd
    done = virsh(uv, "migrate-compcache", "vm1", "--size", str(32 * MiB))
    assert "Compression cache: 32.000 MiB" in done.stdout
    done = virsh(uv, "migrate-postcopy", "vm1", check=False)
    assert done.returncode == 1
    assert "post-copy can only be started while outgoing migration is in progress" \
        in done.stderr
    # stock virsh --postcopy-after-precopy: virtkitd's MIGRATION_ITERATION events make
    # virsh switch (the guest rewrites memory, 1 ms downtime: pre-copy alone cannot end)
    _dirty_memory(counter)
    virsh(uv, "migrate-setmaxdowntime", "vm1", "1")
    virsh(uv, "migrate-setspeed", "vm1", "20")
    events = virtkit.open(uv).domain_events()
    virsh(uv, "migrate", "--live", "--postcopy", "--postcopy-after-precopy",
          "--postcopy-bandwidth", "2", "vm1", ul, "--migrateuri", f"tcp://{h.b.address}")
    assert virsh(ul, "domstate", "--reason", "vm1").stdout.strip() == "running (migrated)"
    got = lifecycle(events, timeout=20, until=(5, 3))
    assert got == [(3, 1), (3, 7), (5, 3)]  # SUSPENDED_POSTCOPY: virsh switched


def _dirty_memory(counter: Counter) -> None:
    """The guest copies 8 MiB of random data over and over (much faster than the 20 MiB/s
    the tests allow the stream): with a 1 ms downtime, pre-copy alone cannot end."""
    counter.con.send(b"dd if=/dev/urandom of=/tmp/a bs=1M count=8 2>/dev/null; "
                     b"echo DIRTY-$((1+1)); while :; do cp /tmp/a /tmp/b; rm /tmp/b; done &\r")
    wait_until(lambda: b"DIRTY-2" in b"".join(counter.buf), 60, "the guest's copy loop")


@pytest.mark.slow
def test_cli_postcopy_after_precopy(hosts: Hosts, guest: Any) -> None:
    """``virtkit migrate --postcopy --postcopy-after-precopy``: the client switches to
    post-copy once the first pre-copy pass is over (virsh's iteration-2 rule)."""
    from virtkit.cli.main import main

    dom = _boot(hosts, guest, "mp-cli")
    counter = Counter(dom)
    counter.start()
    # the guest rewrites 8 MiB of its memory over and over, the downtime allowed is 1 ms:
    # pre-copy alone cannot end, so the migration ends only if the client switched
    _dirty_memory(counter)
    src_events, dst_events = hosts.csrc.domain_events(), hosts.cdst.domain_events()
    passes = hosts.csrc.domain_events(DomainEventID.MIGRATION_ITERATION)
    dom.migrate_set_max_speed(20)
    dom.migrate_set_max_downtime(1)
    guard = threading.Timer(240, dom.abort_job)  # hang guard: never switched, never ends
    guard.start()
    try:
        status = main(["-c", hosts.src.uri, "migrate", "--live", "--postcopy",
                       "--postcopy-after-precopy", "--postcopy-bandwidth", "2", "mp-cli",
                       hosts.dst.uri])
    finally:
        guard.cancel()
    assert status == 0
    assert lifecycle(src_events, timeout=20, until=(5, 3)) == [
        (3, 1), (3, 7), (5, 3)]  # SUSPENDED_POSTCOPY: the client switched
    got = lifecycle(dst_events, timeout=20, until=(4, 1))
    assert got == [(2, 1), (4, 3), (4, 1)]  # RESUMED_POSTCOPY
    # MIGRATION_ITERATION for each pass, as virsh's own switch (iteration 2) wants them
    iterations = []
    while (ev := passes.get(timeout=2)) is not None:
        iterations.append(int(ev.payload[0]))
    assert iterations[:2] == [1, 2]
    assert iterations == list(range(1, len(iterations) + 1))
    moved = hosts.cdst.lookup_domain("mp-cli")
    _goes_on(moved, counter.last())


def _can_raise_memlock() -> bool:
    """CAP_SYS_RESOURCE (bit 24): what raising another process's RLIMIT_MEMLOCK needs."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) >> 24 & 1)
    return False


@pytest.mark.slow
def test_zerocopy_parallel(hosts: Hosts, guest: Any) -> None:
    """--zerocopy (with --parallel): zero-copy-send on the source, whose QEMU may lock
    the guest's memory meanwhile (libvirt's qemuDomainSetMaxMemLock). Where this process
    may not raise that limit (a container without CAP_SYS_RESOURCE), libvirt's error
    and the guest runs on at the source."""
    import resource

    dom = _boot(hosts, guest, "mp-zc")
    with pytest.raises(VirtError) as exc:
        dom.migrate(hosts.cdst, F.LIVE | F.ZEROCOPY, {})
    assert exc.value.code == ErrorCode.OPERATION_INVALID
    assert "zero-copy is only available for parallel migration" in exc.value.message
    counter = Counter(dom)
    counter.start()
    pid = hosts.csrc.tables.hypervisor._node.by_name["mp-zc"].proc.pid
    before = resource.prlimit(pid, resource.RLIMIT_MEMLOCK)
    flags, params = F.LIVE | F.PARALLEL | F.ZEROCOPY, {"parallel.connections": 2}
    if not _can_raise_memlock():
        with pytest.raises(VirtError) as exc:
            dom.migrate(hosts.cdst, flags, params)
        assert exc.value.code == ErrorCode.SYSTEM_ERROR
        assert f"cannot limit locked memory of process {pid} to {256 * MiB}" \
            in exc.value.message
        assert dom.state_reason()[0] == DomainState.RUNNING
        assert not _caps(hosts.csrc, "mp-zc")["zero-copy-send"]  # reset
        assert resource.prlimit(pid, resource.RLIMIT_MEMLOCK) == before
        wait_until(lambda: hosts.cdst.list_domains() == [], 30, "the destination's copy")
        seen = counter.last()
        wait_until(lambda: counter.last() > seen + 3, 20, "the counter on the source")
        return
    t, out = _start(hosts, dom, flags, params)
    assert _caps(hosts.csrc, "mp-zc")["zero-copy-send"]
    assert not _caps(hosts.cdst, "mp-zc")["zero-copy-send"]  # a source capability
    assert resource.prlimit(pid, resource.RLIMIT_MEMLOCK) == (256 * MiB, 256 * MiB)
    seen = counter.last()
    _goes_on(_finish(dom, t, out), seen)
