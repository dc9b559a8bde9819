# ruff: noqa: E501  (batches of virsh commands read better on one line each)
"""Domain tuning and guest commands: virtkit's CLI against Debian's virsh 9.0.

iothread*, blkiotune, numatune, vcpuinfo, vcpupin, emulatorpin, memtune, perf, domiftune,
blkdeviotune, cpu-stats, domtime, domfs*, domblkerror, set-user-password,
send-process-signal and set-lifecycle-action.

Same method as test_virsh_compat.py (whose helpers this reuses): one ';' batch
through ``virsh -c test:///default`` and through ``virtkit -c test:///default``,
stdout and stderr together plus the exit status must agree. The last test runs
stock virsh against virtkitd, so the typed parameters' wire types show too
(virsh names the NUMA mode only when it comes as an INT).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_virsh_compat import URI, VIRSH, _mask, _run, _virtkit_argv

from virtkit.testing.peers import start_virtkitd

pytestmark = pytest.mark.interop

DOM_XML = """<domain type='test'>
  <name>vt</name>
  <uuid>11111111-2222-3333-4444-999999999999</uuid>
  <memory unit='KiB'>1048576</memory>
  <vcpu placement='static'>4</vcpu>
  <iothreads>2</iothreads>
  <os>
    <type arch='i686'>hvm</type>
  </os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' iothread='1'/>
      <source file='/img/vt'/>
      <target dev='vda' bus='virtio'/>
    </disk>
  </devices>
</domain>
"""

GUEST_XML = """<domain type='test'>
  <name>vg</name>
  <uuid>11111111-2222-3333-4444-aaaaaaaaaaaa</uuid>
  <memory unit='KiB'>1048576</memory>
  <vcpu placement='static' cpuset='1-2' current='2'>4</vcpu>
  <os>
    <type arch='i686'>hvm</type>
  </os>
  <devices>
    <disk type='file' device='disk'>
      <source file='/img/vg'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='network'>
      <mac address='52:54:00:00:00:07'/>
      <source network='default'/>
      <target dev='tap7'/>
    </interface>
  </devices>
</domain>
"""

# Hot-pluggable vCPUs: the inactive vcpuinfo lists the enabled ones (0 and 2) only.
VCPUS_XML = """<domain type='test'>
  <name>vh</name>
  <memory unit='KiB'>1048576</memory>
  <vcpu placement='static' current='2'>4</vcpu>
  <vcpus>
    <vcpu id='0' enabled='yes' hotpluggable='no' order='1'/>
    <vcpu id='1' enabled='no' hotpluggable='yes'/>
    <vcpu id='2' enabled='yes' hotpluggable='yes' order='2'/>
    <vcpu id='3' enabled='no' hotpluggable='yes'/>
  </vcpus>
  <os>
    <type arch='i686'>hvm</type>
  </os>
</domain>
"""

CASES: list[str] = [
    "iothreadinfo test; iothreadadd test 3; iothreadadd test 3; iothreadinfo test; "
    "iothreadinfo test --config; iothreadinfo test --live --current; iothreadinfo nope",
    "iothreadadd test 2 --config; iothreadpin test 2 0-1 --config; iothreadinfo test --config; "
    "iothreadpin test 2 1; iothreadadd test 2; iothreadpin test 2 0,2-3; iothreadinfo test; "
    "dumpxml test; dumpxml test --inactive",
    "iothreadpin test 1 99; iothreadpin test 1 x; iothreadpin test 1 ''; iothreadpin test -1 0; "
    "iothreadpin test 1 r; iothreadpin test 1 0",
    "iothreadadd test 0; iothreadadd test -1; iothreadadd test 99999999999; iothreaddel test 0; "
    "iothreaddel test 5; iothreadset test 1; iothreadset test 0 --poll-grow 1; "
    "iothreadset test 1 --poll-max-ns -1",
    "iothreadadd test 4; iothreadset test 4 --poll-max-ns 100 --poll-grow 2 --poll-shrink 3; "
    "iothreadset test 4 --poll-grow 1 --config; iothreadset test 4 --thread-pool-min 1; "
    "iothreadset test 9 --poll-grow 1; iothreaddel test 4; iothreaddel test 4; iothreadinfo test",
    "define {dom}; iothreadinfo vt; iothreadinfo vt --live; iothreaddel vt 1; iothreaddel vt 2; "
    "iothreadinfo vt; dumpxml vt; iothreadadd vt 7; iothreadpin vt 7 3; dumpxml vt; start vt; "
    "iothreadinfo vt; iothreaddel vt 7 --live; iothreadinfo vt --config; iothreadinfo vt",
    "blkiotune test; blkiotune test --weight 0; blkiotune test --weight 500 "
    "--device-weights /dev/sda,100,/dev/sdb,0; blkiotune test; dumpxml test; "
    "blkiotune test --device-read-iops-sec /dev/sda,5 --device-write-bytes-sec /dev/sdc,9; "
    "blkiotune test; blkiotune test --device-weights /dev/sda; blkiotune test --device-weights ''; "
    "blkiotune test --device-weights /dev/sda,x; blkiotune test --config; blkiotune test --live --config",
    "numatune test; numatune test --mode foo; numatune test --mode 1; numatune test --nodeset x; "
    "numatune test --nodeset 0-1; numatune test; numatune test --mode interleave; "
    "numatune test --mode 0x2 --config; numatune test --config; numatune test --nodeset ''; "
    "dumpxml test --inactive",
    "help iothreadinfo; help iothreadpin; help iothreadadd; help iothreadset; help iothreaddel; "
    "help blkiotune; help numatune",
    # pinning
    "vcpupin test; vcpupin test 0 1; vcpupin test; vcpupin test --config; vcpupin test --vcpu 1; "
    "vcpupin test --vcpu 5; vcpupin test --live --config; vcpupin test 0 ''; vcpupin test 0 99; "
    "vcpupin test --cpulist 1; vcpupin test 1 r; vcpupin test 1 0 --live; dumpxml test; vcpupin test 0 x",
    "emulatorpin test; emulatorpin test 1-2; emulatorpin test; emulatorpin test --config; "
    "emulatorpin test 0 --config; emulatorpin test --config; emulatorpin test ''; emulatorpin test 20; "
    "emulatorpin test --live --config; dumpxml test --inactive",
    # memory, perf
    "memtune test --live --config; memtune test; memtune test --hard-limit 1x; "
    "memtune test --hard-limit -1 --soft-limit 1G; memtune test; memtune test --min-guarantee 5; "
    "memtune test --hard-limit 10 --swap-hard-limit 5; memtune test --hard-limit abc; "
    "memtune test --swap-hard-limit 3M --config; memtune test --config; dumpxml test --inactive; memtune nope",
    "perf test --live --config; perf test; perf test --enable cmt,,mbmt --disable cpu_cycles; perf test; "
    "perf test --enable bogus; perf test --enable ''; perf test --config; dumpxml test",
    # device tuning
    "domiftune test testnet0; domiftune test aa:bb:cc:dd:ee:ff --inbound 10,20,30,40 --outbound 5; "
    "domiftune test testnet0; dumpxml test; domiftune test testnet0 --inbound 0; dumpxml test; "
    "domiftune test nope; domiftune test testnet0 --inbound ,5; domiftune test testnet0 --outbound 1,2,3,4; "
    "domiftune test testnet0 --outbound 0,2; domiftune test testnet0 --inbound 1,2,3,4,5; "
    "domiftune test testnet0 --inbound x; domiftune test testnet0 --inbound 99999999999; "
    "domiftune test testnet0 --outbound 0; dumpxml test; domiftune test testnet0 --live --config; "
    "domiftune test testnet0 --config --outbound 7",
    "blkdeviotune test vda; blkdeviotune test vda --total-bytes-sec 100; "
    "blkdeviotune test vda --total-bytes-sec 1K --total-bytes-sec-max 2K --group-name g; blkdeviotune test vda; "
    "dumpxml test; blkdeviotune test vda --read-bytes-sec 5; blkdeviotune test vdz; "
    "blkdeviotune test vdz --size-iops-sec 1; blkdeviotune test vda --live --config; "
    "blkdeviotune test vda --total-iops-sec x; blkdeviotune test vda --read-bytes-sec 1Q; "
    "blkdeviotune test vda --group-name ''; blkdeviotune test vda --size-iops-sec 10000000000000000; "
    "blkdeviotune test /guest/diskimage1 --config; "
    "blkdeviotune test vda --total-bytes-sec 0 --total-bytes-sec-max 0 --group-name ''; dumpxml test",
    # statistics and guest-agent fakes
    "cpu-stats test; cpu-stats test --total; cpu-stats test --start 1; cpu-stats test --start 1 --count 5; "
    "cpu-stats test --start 5; cpu-stats test --count 1; cpu-stats test --start -1; cpu-stats test --count -2; "
    "cpu-stats test --count 0; cpu-stats nope",
    "domtime test; domtime test --pretty; domtime test --time 5; domtime test; domtime test --sync; "
    "domtime test --now --sync; domtime test --time x; domtime test --time 5 --now; domblkerror test; "
    "domfsinfo test; domfsfreeze test; domfsfreeze test; domfsthaw test /; "
    "domfsfreeze --mountpoint / --mountpoint /boot test; domfsthaw test /x; domfsthaw test; domfstrim test; "
    "domfstrim test --mountpoint /x; domfstrim test --minimum -1; domfstrim test --minimum 5 --mountpoint /boot",
    "set-user-password test root x; set-user-password test root x --encrypted; set-user-password test '' x; "
    "send-process-signal test 1 sigkill; send-process-signal test 0 kill; send-process-signal test 1 foo; "
    "send-process-signal test 1 SIG_TERM; send-process-signal test 2 9; send-process-signal test 1 70; "
    "send-process-signal test 1 -3; send-process-signal test x 9; "
    "set-lifecycle-action test crash coredump-restart; set-lifecycle-action test reboot coredump-restart; "
    "set-lifecycle-action test foo destroy; set-lifecycle-action test poweroff bar; "
    "set-lifecycle-action test poweroff preserve --config; dumpxml test; dumpxml test --inactive; "
    "set-lifecycle-action test poweroff preserve --current --live",
    # an inactive domain, then running
    "define {guest}; vcpupin vg; vcpupin vg --live; vcpupin vg --vcpu 3; vcpupin vg --vcpu 4; vcpupin vg 1 0; "
    "vcpupin vg 1 0 --config; emulatorpin vg; emulatorpin vg 3; emulatorpin vg --live; memtune vg --live; "
    "memtune vg --hard-limit 5; domiftune vg tap7; domiftune vg 52:54:00:00:00:07 --inbound 5 --live; "
    "domiftune vg tap7 --outbound 9; blkdeviotune vg vda --read-iops-sec 3 --read-iops-sec-max 4; cpu-stats vg; "
    "domtime vg; domtime vg --time 3; domblkerror vg; domfsinfo vg; domfsfreeze vg; domfstrim vg; "
    "set-user-password vg a b; send-process-signal vg 1 1; set-lifecycle-action vg crash preserve --live; "
    "set-lifecycle-action vg crash preserve; perf vg --enable cmt; dumpxml vg; start vg; vcpupin vg; "
    "vcpupin vg --vcpu 3 --config; vcpupin vg --vcpu 3; emulatorpin vg; cpu-stats vg --total; domtime vg; "
    "domtime vg --time 7; domtime vg --pretty; dumpxml vg",
    # vcpuinfo: running, after pinning, shut off (the config's pinning, "N/A"), hot-pluggable vCPUs
    "vcpuinfo test; vcpuinfo test --pretty; vcpupin test 0 1; vcpupin test 1 0,2-3; vcpuinfo test; "
    "vcpuinfo --domain 1 --pretty; vcpuinfo nope; vcpuinfo ''; destroy test; vcpuinfo test; vcpuinfo test --pretty; "
    "define {guest}; vcpuinfo vg; vcpuinfo vg --pretty; setvcpus vg 3 --config; vcpuinfo vg; start vg; "
    "vcpupin vg 1 4-7; vcpuinfo vg; vcpuinfo 11111111-2222-3333-4444-aaaaaaaaaaaa --pretty; "
    "define {vcpus}; vcpuinfo vh; vcpuinfo vh --pretty; start vh; vcpuinfo vh; "
    "vcpuinfo vh --pretty; help vcpuinfo",
    "help vcpupin; help emulatorpin; help memtune; help perf; help domiftune; help blkdeviotune; "
    "help cpu-stats; help domtime; help domfsfreeze; help domfsthaw; help domfstrim; help domfsinfo; "
    "help domblkerror; help set-user-password; help send-process-signal; help set-lifecycle-action",
]


@pytest.mark.parametrize("batch", CASES, ids=[f"{i:02d}-{c.split()[0]}" for i, c in enumerate(CASES)])
def test_tuning_same_as_virsh(batch: str, tmp_path: Path) -> None:
    (tmp_path / "dom.xml").write_text(DOM_XML)
    (tmp_path / "guest.xml").write_text(GUEST_XML)
    (tmp_path / "vcpus.xml").write_text(VCPUS_XML)
    for name in ("dom", "guest", "vcpus"):
        batch = batch.replace(f"{{{name}}}", str(tmp_path / f"{name}.xml"))
    assert VIRSH is not None, "Debian's virsh (libvirt-clients) must be installed"
    want, want_rc = _run([VIRSH, "-c", URI, batch], {}, tmp_path)
    got, got_rc = _run([*_virtkit_argv(), "-c", URI, batch], {}, tmp_path)
    assert _mask(got) == _mask(want), f"batch: {batch}"
    assert got_rc == want_rc, f"batch: {batch}"


def test_virsh_through_virtkitd_same_as_libvirt(tmp_path: Path) -> None:
    batch = ("numatune test; numatune test --nodeset 0-1; numatune test; blkiotune test --weight 7; "
             "blkiotune test; iothreadadd test 2; iothreadpin test 2 1,3; iothreadinfo test; "
             "iothreadset test 2 --poll-grow 1 --thread-pool-max 2")
    assert VIRSH is not None
    want, want_rc = _run([VIRSH, "-c", URI, batch], {}, tmp_path)
    with start_virtkitd(tmp_path / "d") as daemon:
        got, got_rc = _run([VIRSH, "-c", daemon.uri("unix"), batch], {}, tmp_path)
    assert _mask(got) == _mask(want)
    assert got_rc == want_rc


def test_new_commands_through_virtkitd_same_as_libvirt(tmp_path: Path) -> None:
    batch = ("vcpupin test 0 1; vcpupin test; emulatorpin test 1-2 --config; emulatorpin test --config; "
             "memtune test --soft-limit 1G; memtune test; perf test --enable cmt; "
             "domiftune test testnet0 --inbound 10,20,30,40; domiftune test aa:bb:cc:dd:ee:ff; "
             "blkdeviotune test vda --total-bytes-sec 1K --total-bytes-sec-max 2K --group-name g; "
             "blkdeviotune test vda; blkdeviotune test vdz; cpu-stats test; domtime test --time 9; domtime test; "
             "domblkerror test; domfsinfo test; domfsfreeze test /; domfsthaw test; domfstrim test --mountpoint /x; "
             "set-user-password test root pw; send-process-signal test 1 kill; send-process-signal test 2 kill; "
             "set-lifecycle-action test reboot preserve; dumpxml test")
    assert VIRSH is not None
    want, want_rc = _run([VIRSH, "-c", URI, batch], {}, tmp_path)
    with start_virtkitd(tmp_path / "d") as daemon:
        got, got_rc = _run([VIRSH, "-c", daemon.uri("unix"), batch], {}, tmp_path)
    assert _mask(got) == _mask(want)
    assert got_rc == want_rc


def test_iothreadinfo_json(tmp_path: Path) -> None:
    import json

    out, rc = _run([*_virtkit_argv(), "-c", URI,
                    "iothreadadd test 3; iothreadpin test 3 0,2-3; iothreadinfo test --json"],
                   {}, tmp_path)
    assert rc == 0
    assert json.loads(out) == [{"iothread_id": 3, "cpu_affinity": "0,2-3"}]


def test_vcpuinfo_json(tmp_path: Path) -> None:
    import json

    out, rc = _run([*_virtkit_argv(), "-c", URI,
                    "vcpupin test 1 0,2-3; vcpuinfo test --json; destroy test; vcpuinfo test --json"],
                   {}, tmp_path)
    assert rc == 0
    running, _, inactive = out.partition("Domain 'test' destroyed\n\n")
    vcpus = json.loads(running)
    assert [{k: v for k, v in row.items() if k != "cpu_time"} for row in vcpus] == [
        {"vcpu": 0, "cpu": 15, "state": "running", "affinity": "0-7"},
        {"vcpu": 1, "cpu": 3, "state": "running", "affinity": "0,2-3"},
    ]
    assert all(isinstance(row["cpu_time"], int) and row["cpu_time"] > 0 for row in vcpus)
    assert json.loads(inactive) == [
        {"vcpu": 0, "cpu": None, "state": None, "cpu_time": None, "affinity": "0-7"},
        {"vcpu": 1, "cpu": None, "state": None, "cpu_time": None, "affinity": "0-7"},
    ]
