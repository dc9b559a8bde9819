# ruff: noqa: E501  (tables of scripted calls read better on one line each)
"""Domain tuning (IOThreads, blkio, NUMA, memory, perf) against real libvirt.

The same steps run through libvirt-python on libvirt's test:///default and through
virtkit's Domain handles; results, definitions (dumpxml) and errors (code, domain,
message) must agree, locally and over the wire through virtkitd.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

import virtkit
from virtkit.drivers.inmemory.tuning import format_bitmap, parse_bitmap
from virtkit.errors import VirtError
from virtkit.testing.peers import start_virtkitd

RUNNER = Path(__file__).parent / "tuning_libvirt_runner.py"
SYSTEM_PYTHON = "/usr/bin/python3"
LIVE, CONFIG = 1, 2

DOM_T = ("<domain type='test'><name>t</name><uuid>11111111-2222-3333-4444-777777777777</uuid>"
         "<memory>1048576</memory><vcpu placement='static' cpuset='1-2'>4</vcpu><iothreads>3</iothreads>"
         "<os><type>hvm</type></os><devices><disk type='file' device='disk'>"
         "<driver name='qemu' iothread='2'/><source file='/img/t'/><target dev='vda' bus='virtio'/>"
         "</disk></devices></domain>")
DOM_U = ("<domain type='test'><name>u</name><uuid>11111111-2222-3333-4444-888888888888</uuid><memory>1048576</memory><vcpu placement='auto'>2</vcpu>"
         "<iothreads>1</iothreads><iothreadids><iothread id='7'/></iothreadids>"
         "<cputune><iothreadpin iothread='7' cpuset='0,3'/></cputune>"
         "<numatune><memory mode='interleave' nodeset='0-1'/></numatune>"
         "<os><type>hvm</type></os></domain>")

SCRIPT: list[list[Any]] = [
    # IOThreads on the running default domain
    ["iothreadinfo", "test"], ["iothreadadd", "test", 3], ["iothreadadd", "test", 3],
    ["iothreadadd", "test", 1, CONFIG], ["iothreadinfo", "test"], ["iothreadinfo", "test", CONFIG],
    ["iothreadinfo", "test", LIVE | CONFIG], ["iothreadinfo", "test", 4],
    ["iothreadpin", "test", 3, [1, 0, 1, 0, 0, 1]], ["iothreadpin", "test", 3, [0, 0]],
    ["iothreadpin", "test", 9, [1]], ["iothreadpin", "test", 1, [0, 1], CONFIG],
    ["iothreadinfo", "test"], ["iothreadinfo", "test", CONFIG], ["xml", "test"], ["xml", "test", 2],
    ["iothreadset", "test", 3, {"poll_max_ns": 100}], ["iothreadset", "test", 3, {"poll_max_ns": 100}, CONFIG],
    ["iothreadset", "test", 9, {"poll_max_ns": 1}], ["iothreadset", "test", 1, {"poll_grow": 1}],
    ["iothreadset", "test", 0, {"poll_grow": 1}],
    ["iothreaddel", "test", 3], ["iothreaddel", "test", 3], ["iothreaddel", "test", 0],
    ["iothreadadd", "test", 0], ["iothreaddel", "test", 1, CONFIG], ["xml", "test"], ["xml", "test", 2],
    # an inactive domain: auto-filled ids, a disk using one, the <vcpu cpuset> default mask
    ["define", DOM_T], ["xml", "t"], ["iothreadinfo", "t"], ["iothreadinfo", "t", LIVE],
    ["iothreadadd", "t", 4, LIVE], ["iothreaddel", "t", 2], ["iothreaddel", "t", 9],
    ["iothreaddel", "t", 1], ["xml", "t"], ["iothreadinfo", "t"], ["iothreadset", "t", 3, {"poll_max_ns": 1}],
    ["iothreadadd", "t", 8], ["iothreadset", "t", 8, {"poll_max_ns": 1}], ["iothreadset", "t", 8, {"poll_max_ns": 1}, LIVE],
    ["iothreaddel", "t", 8], ["xml", "t"], ["iothreadpin", "t", 3, [0, 0, 0, 1]], ["xml", "t"],
    ["create", "t"], ["iothreadinfo", "t"], ["iothreadadd", "t", 6, LIVE], ["iothreadinfo", "t", CONFIG],
    ["iothreadinfo", "t", LIVE], ["destroy", "t"], ["iothreadinfo", "t"],
    ["define", DOM_U], ["xml", "u"], ["iothreadinfo", "u"], ["iothreaddel", "u", 7], ["xml", "u"],
    ["numa", "u"], ["setnuma", "u", {"numa_mode": 0}], ["numa", "u"],
    ["iothreadadd", "u", 2], ["xml", "u"], ["iothreaddel", "u", 2], ["xml", "u"],
    # blkio
    ["blkio", "test"], ["setblkio", "test", {"weight": 500, "device_weight": "/dev/sda,100,/dev/sdb,0"}],
    ["blkio", "test"], ["xml", "test"],
    ["setblkio", "test", {"device_read_iops_sec": "/dev/sda,5,/dev/sdc,7", "device_write_bytes_sec": "/dev/sdc,9"}],
    ["setblkio", "test", {"device_weight": "/dev/sda,0"}], ["blkio", "test"], ["xml", "test"],
    ["setblkio", "test", {"device_weight": "/dev/sda"}], ["setblkio", "test", {"device_weight": "/dev/sda,x"}],
    ["setblkio", "test", {"device_weight": "/dev/sda,5x"}], ["setblkio", "test", {"device_write_bytes_sec": "/dev/sda,-1"}],
    ["setblkio", "test", {"device_weight": "/dev/sda,99999999999"}], ["setblkio", "test", {"device_weight": ""}],
    ["setblkio", "test", {"weight": 0, "device_read_iops_sec": "/dev/sda,0,/dev/sdc,0", "device_write_bytes_sec": "/dev/sdc,0"}],
    ["blkio", "test"], ["xml", "test"],
    ["blkio", "test", CONFIG], ["setblkio", "t", {"weight": 10}, LIVE], ["blkio", "test", LIVE | CONFIG],
    ["setblkio", "t", {"weight": 10}], ["blkio", "t"], ["xml", "t"],
    # NUMA
    ["numa", "test"], ["setnuma", "test", {"numa_mode": 1}], ["setnuma", "test", {"numa_nodeset": "0-1"}],
    ["numa", "test"], ["xml", "test"], ["setnuma", "test", {"numa_mode": 2}],
    ["setnuma", "test", {"numa_mode": 2}, CONFIG], ["numa", "test", CONFIG], ["xml", "test", 2],
    ["setnuma", "test", {"numa_mode": 7}], ["setnuma", "test", {"numa_nodeset": "x"}],
    ["setnuma", "test", {"numa_nodeset": "20000"}], ["setnuma", "test", {"numa_nodeset": "0,^0"}],
    ["setnuma", "test", {"numa_nodeset": " 1 - 3 , 5"}], ["numa", "test"],
    ["setnuma", "t", {"numa_mode": 3, "numa_nodeset": "2"}], ["numa", "t"], ["xml", "t"],
    # memory
    ["mem", "test"], ["setmem", "test", {"hard_limit": 1048576}], ["setmem", "test", {"hard_limit": 10, "swap_hard_limit": 5}],
    ["setmem", "test", {"soft_limit": 1024, "swap_hard_limit": 2097152}], ["mem", "test"], ["xml", "test"],
    ["setmem", "test", {"hard_limit": 9007199254740991, "soft_limit": 9007199254740991}], ["mem", "test"], ["xml", "test"],
    # perf, launch security
    ["perf", "test"], ["setperf", "test", {"cmt": True, "cpu_cycles": False}], ["perf", "test"], ["xml", "test"],
    ["perf", "test", CONFIG], ["launchsec", "test"],
    ["iothreadinfo", "nope"],
]


DOM_P = ("<domain type='test'><name>p</name><uuid>11111111-2222-3333-4444-666666666666</uuid>"
         "<memory>1048576</memory><vcpu placement='static' cpuset='2-3' current='2'>4</vcpu>"
         "<cputune><vcpupin vcpu='3' cpuset='1'/></cputune><os><type>hvm</type></os><devices>"
         "<disk type='file' device='cdrom'><source file='/img/cd'/><target dev='hdc' bus='ide'/></disk>"
         "<disk type='file' device='disk'><source file='/img/p'/><target dev='vdb' bus='virtio'/>"
         "<iotune><read_bytes_sec>5</read_bytes_sec><read_bytes_sec_max>9</read_bytes_sec_max></iotune></disk>"
         "<interface type='network'><mac address='52:54:00:00:00:01'/><source network='default'/>"
         "<bandwidth><inbound average='1' peak='2'/></bandwidth><target dev='tap7'/></interface>"
         "</devices></domain>")

# pinning, device tuning and the guest-side calls (libvirt's test driver fakes)
SCRIPT_MORE: list[list[Any]] = [
    ["vcpupininfo", "test"], ["vcpus", "test"], ["pinvcpu", "test", 0, [0, 1, 0, 1]], ["pinvcpu", "test", 1, [1], LIVE],
    ["pinvcpu", "test", 2, [1]], ["pinvcpu", "test", 1, [0, 0, 0, 0, 0, 0, 0, 0, 0, 1]], ["vcpupininfo", "test"],
    ["vcpupininfo", "test", CONFIG], ["vcpupininfo", "test", LIVE | CONFIG], ["vcpus", "test"], ["xml", "test"], ["xml", "test", 2],
    ["emupininfo", "test"], ["pinemu", "test", [0, 0]], ["pinemu", "test", [1, 1, 0, 1], CONFIG], ["pinemu", "test", [0, 0, 1]],
    ["pinemu", "test", [1], 4], ["emupininfo", "test"], ["emupininfo", "test", CONFIG], ["emupininfo", "test", LIVE | CONFIG],
    ["xml", "test"], ["xml", "test", 2],
    ["define", DOM_P], ["vcpupininfo", "p"], ["vcpupininfo", "p", LIVE], ["emupininfo", "p"], ["vcpus", "p"], ["pinvcpu", "p", 0, [1]],
    ["pinemu", "p", [0, 1]], ["xml", "p"],
    # interface bandwidth
    ["iftune", "test", "testnet0"], ["iftune", "test", "aa:bb:cc:dd:ee:ff", CONFIG], ["iftune", "test", "nope"],
    ["iftune", "test", "00:11:22:33:44:55"],
    ["setiftune", "test", "testnet0", {"inbound.average": 10, "inbound.peak": 20, "inbound.burst": 30, "inbound.floor": 40, "outbound.average": 5}],
    ["iftune", "test", "testnet0"], ["xml", "test"], ["setiftune", "test", "testnet0", {"inbound.average": 0}],
    ["setiftune", "test", "testnet0", {"outbound.peak": 7}], ["xml", "test"], ["setiftune", "test", "testnet0", {"outbound.average": 0}],
    ["xml", "test"], ["setiftune", "test", "vnet9", {"inbound.average": 1}],
    ["iftune", "p", "tap7"], ["setiftune", "p", "52:54:00:00:00:01", {"outbound.average": 3, "outbound.burst": 4}], ["xml", "p"],
    ["setiftune", "p", "tap7", {"inbound.peak": 3}], ["iftune", "p", "tap7"], ["setiftune", "p", "tap7", {"inbound.floor": 2}, LIVE],
    # disk I/O throttling
    ["iotune", "test", "vda"], ["iotune", "test", "/guest/diskimage1"], ["iotune", "test", "vdz"], ["iotune", "test", "vda", LIVE | CONFIG],
    ["setiotune", "test", "vda", {"total_bytes_sec": 100}],
    ["setiotune", "test", "vda", {"total_bytes_sec": 100, "total_bytes_sec_max": 200, "group_name": "g"}], ["iotune", "test", "vda"],
    ["xml", "test"], ["setiotune", "test", "vda", {"read_bytes_sec": 5}], ["setiotune", "test", "vda", {"total_iops_sec_max": 5, "write_iops_sec_max": 1}],
    ["setiotune", "test", "vda", {"size_iops_sec": 10**16}],
    ["setiotune", "test", "vda", {"total_bytes_sec": 0, "total_bytes_sec_max": 0, "size_iops_sec": 4, "read_iops_sec_max_length": 3}],
    ["iotune", "test", "vda"], ["xml", "test"], ["setiotune", "test", "vda", {"size_iops_sec": 0, "read_iops_sec_max_length": 0, "group_name": ""}],
    ["xml", "test"], ["iotune", "p", "vdb"], ["iotune", "p", "hdc"], ["setiotune", "p", "vdb", {"write_bytes_sec_max": 3}], ["xml", "p"],
    ["setiotune", "test", "vda", {"read_iops_sec": 3, "read_iops_sec_max": 4}, CONFIG], ["iotune", "test", "vda", CONFIG], ["xml", "test", 2],
    # statistics and guest-agent fakes
    ["cpustats", "test", True], ["cpustats", "test", False], ["cpustats", "p", True], ["diskerrors", "test"], ["diskerrors", "p"],
    ["fsinfo", "test"], ["fsinfo", "p"], ["fsfreeze", "test"], ["fsfreeze", "test"], ["fsthaw", "test", ["/"]], ["fsfreeze", "test", ["/", "/boot"]],
    ["fsthaw", "test", ["/x"]], ["fsthaw", "test"], ["fsthaw", "test"], ["fsfreeze", "test", ["/boot"], 1], ["fsfreeze", "p"],
    ["fstrim", "test"], ["fstrim", "test", "/boot", 10], ["fstrim", "test", "/srv"], ["fstrim", "p"],
    ["gettime", "test"], ["settime", "test", 1234, 5], ["gettime", "test"], ["settime", "test", 1, 0, 2], ["settime", "p", 1], ["gettime", "p"],
    ["setpw", "test", "root", "pw"], ["setpw", "test", "root", "pw", 1], ["setpw", "test", "root", "pw", 2], ["setpw", "p", "root", "pw"],
    ["signal", "test", 1, 9], ["signal", "test", 2, 9], ["signal", "test", 1, 65], ["signal", "test", 0, 1], ["signal", "p", 1, 0], ["signal", "test", 1, 1, 1],
    ["peek", "test", 250, 10, 1], ["peek", "test", 0, 4, 2], ["peek", "test", 0, 4], ["peek", "test", 0, 4, 3], ["peek", "test", 0, 0, 1], ["peek", "p", 0, 4, 1],
    ["lifecycle", "test", 0, 3], ["lifecycle", "test", 2, 4, CONFIG], ["lifecycle", "test", 1, 4], ["lifecycle", "test", 3, 0],
    ["lifecycle", "test", 0, 6], ["lifecycle", "test", 1, 2, LIVE | CONFIG], ["xml", "test"], ["xml", "test", 2],
    ["lifecycle", "p", 2, 5], ["lifecycle", "p", 0, 1, LIVE], ["xml", "p"],
]


def _vk_ops(conn: Any) -> dict[str, Any]:
    def dom(name: str) -> Any:
        return conn.lookup_domain(name)

    return {
        "define": lambda xml: conn.define_domain(xml).name,
        "create": lambda n: dom(n).start(),
        "destroy": lambda n: dom(n).destroy(),
        "xml": lambda n, flags=0: dom(n).xml(flags),
        "iothreadinfo": lambda n, flags=0: dom(n).iothread_info(flags),
        "iothreadadd": lambda n, i, flags=0: dom(n).add_iothread(i, flags),
        "iothreaddel": lambda n, i, flags=0: dom(n).del_iothread(i, flags),
        "iothreadpin": lambda n, i, cpumap, flags=0: dom(n).pin_iothread(i, [bool(b) for b in cpumap], flags),
        "iothreadset": lambda n, i, params, flags=0: dom(n).set_iothread_params(i, params, flags),
        "blkio": lambda n, flags=0: dom(n).blkio_parameters(flags),
        "setblkio": lambda n, params, flags=0: dom(n).set_blkio_parameters(params, flags),
        "numa": lambda n, flags=0: dom(n).numa_parameters(flags),
        "setnuma": lambda n, params, flags=0: dom(n).set_numa_parameters(params, flags),
        "mem": lambda n, flags=0: dom(n).memory_parameters(flags),
        "setmem": lambda n, params, flags=0: dom(n).set_memory_parameters(params, flags),
        "perf": lambda n, flags=0: dom(n).perf_events(flags),
        "setperf": lambda n, params, flags=0: dom(n).set_perf_events(params, flags),
        "launchsec": lambda n, flags=0: dom(n).launch_security_info(flags),
        "vcpus": lambda n: _vcpus(dom(n).vcpus()),
        "pinvcpu": lambda n, v, cpumap, flags=0: dom(n).pin_vcpu(v, [bool(b) for b in cpumap], flags),
        "vcpupininfo": lambda n, flags=0: dom(n).vcpu_pin_info(flags),
        "pinemu": lambda n, cpumap, flags=0: dom(n).pin_emulator([bool(b) for b in cpumap], flags),
        "emupininfo": lambda n, flags=0: dom(n).emulator_pin_info(flags),
        "iftune": lambda n, dev, flags=0: dom(n).interface_parameters(dev, flags),
        "setiftune": lambda n, dev, params, flags=0: dom(n).set_interface_parameters(dev, params, flags),
        "iotune": lambda n, disk, flags=0: dom(n).block_io_tune(disk, flags),
        "setiotune": lambda n, disk, params, flags=0: dom(n).set_block_io_tune(disk, params, flags),
        "cpustats": lambda n, total, flags=0: dom(n).cpu_stats(total, flags),
        "diskerrors": lambda n, flags=0: dom(n).disk_errors(flags),
        "fsfreeze": lambda n, mounts=None, flags=0: dom(n).fs_freeze(mounts, flags),
        "fsthaw": lambda n, mounts=None, flags=0: dom(n).fs_thaw(mounts, flags),
        "fstrim": lambda n, mount=None, minimum=0, flags=0: dom(n).fs_trim(mount, minimum, flags),
        "fsinfo": lambda n, flags=0: dom(n).fs_info(flags),
        "gettime": lambda n: sorted(dom(n).get_time()),
        "settime": lambda n, s, ns=0, flags=0: dom(n).set_time(s, ns, flags),
        "setpw": lambda n, user, pw, flags=0: dom(n).set_user_password(user, pw, flags),
        "signal": lambda n, pid, sig, flags=0: dom(n).send_process_signal(pid, sig, flags),
        "peek": lambda n, start, size, flags=0: list(dom(n).memory_peek(start, size, flags)),
        "lifecycle": lambda n, t, a, flags=0: dom(n).set_lifecycle_action(t, a, flags),
    }


def _vcpus(result: Any) -> Any:
    infos, maps = result
    return [[v.number, v.state, v.cpu] for v in infos], maps


def run_virtkit(script: list[list[Any]], uri: str = "test:///default") -> list[Any]:
    conn = virtkit.open(uri)
    ops = _vk_ops(conn)
    out: list[Any] = []
    try:
        for op, *args in script:
            try:
                value = ops[op](*args)
                out.append({"ok": 0 if value is None else value})  # libvirt-python's setters return 0
            except VirtError as e:
                out.append({"err": [e.code, e.domain, e.message]})
    finally:
        conn.close()
    return json.loads(json.dumps(out))  # type: ignore[no-any-return]


def run_libvirt(script: list[list[Any]], uri: str = "test:///default") -> list[Any]:
    proc = subprocess.run([SYSTEM_PYTHON, str(RUNNER), uri], input=json.dumps(script),
                          capture_output=True, text=True, timeout=300, check=True)
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def _compare(theirs: list[Any], ours: list[Any], who: str,
             script: list[list[Any]] = SCRIPT) -> None:
    assert len(theirs) == len(ours) == len(script)
    bad = [f"{step!r:.160}\n  libvirt: {t!r:.700}\n  {who}: {o!r:.700}"
           for step, t, o in zip(script, theirs, ours, strict=True) if t != o]
    assert not bad, f"{len(bad)} steps differ:\n" + "\n".join(bad)


@pytest.fixture(scope="module")
def theirs() -> list[Any]:
    assert os.path.exists(SYSTEM_PYTHON), "Debian's python3 with python3-libvirt is required"
    return run_libvirt(SCRIPT)


def test_tuning_matches_libvirt(theirs: list[Any]) -> None:
    _compare(theirs, run_virtkit(SCRIPT), "virtkit")


@pytest.mark.interop
@pytest.mark.parametrize("client", ["virtkit", "libvirt-python"])
def test_tuning_over_rpc(client: str, theirs: list[Any], tmp_path: Path) -> None:
    with start_virtkitd(tmp_path / "d") as daemon:
        run = run_virtkit if client == "virtkit" else run_libvirt
        ours = run(SCRIPT, daemon.uri("unix"))
        assert daemon.proc.poll() is None, daemon.log_text()
    _compare(theirs, ours, f"{client}->virtkitd")


@pytest.fixture(scope="module")
def theirs_more() -> list[Any]:
    return run_libvirt(SCRIPT_MORE)


def test_pinning_devtune_guest_match_libvirt(theirs_more: list[Any]) -> None:
    _compare(theirs_more, run_virtkit(SCRIPT_MORE), "virtkit", SCRIPT_MORE)


@pytest.mark.interop
@pytest.mark.parametrize("client", ["virtkit", "libvirt-python"])
def test_pinning_devtune_guest_over_rpc(client: str, theirs_more: list[Any], tmp_path: Path) -> None:
    with start_virtkitd(tmp_path / "d") as daemon:
        run = run_virtkit if client == "virtkit" else run_libvirt
        ours = run(SCRIPT_MORE, daemon.uri("unix"))
        assert daemon.proc.poll() is None, daemon.log_text()
    _compare(theirs_more, ours, f"{client}->virtkitd", SCRIPT_MORE)


@pytest.mark.parametrize(("text", "bits", "formatted"), [
    ("0", {0}, "0"), ("0-3,^2,7", {0, 1, 3, 7}, "0-1,3,7"), (" 1 - 3 , 5", {1, 2, 3, 5}, "1-3,5"),
    ("4,5,6,9", {4, 5, 6, 9}, "4-6,9"),
])
def test_bitmap_round_trip(text: str, bits: set[int], formatted: str) -> None:
    assert parse_bitmap(text) == bits
    assert format_bitmap(bits) == formatted


@pytest.mark.parametrize("text", ["", "x", "1-", "3-1", "^1-2", "16384", "1,,2", "-1"])
def test_bitmap_refuses(text: str) -> None:
    with pytest.raises(VirtError, match="Failed to parse bitmap"):
        parse_bitmap(text)
