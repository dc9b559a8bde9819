# ruff: noqa: E501  (batches of virsh commands read better on one line each)
"""iothread*, blkiotune and numatune: virtkit's CLI against Debian's virsh 9.0.

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
]


@pytest.mark.parametrize("batch", CASES, ids=[f"{i:02d}-{c.split()[0]}" for i, c in enumerate(CASES)])
def test_tuning_same_as_virsh(batch: str, tmp_path: Path) -> None:
    (tmp_path / "dom.xml").write_text(DOM_XML)
    batch = batch.replace("{dom}", str(tmp_path / "dom.xml"))
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


def test_iothreadinfo_json(tmp_path: Path) -> None:
    import json

    out, rc = _run([*_virtkit_argv(), "-c", URI,
                    "iothreadadd test 3; iothreadpin test 3 0,2-3; iothreadinfo test --json"],
                   {}, tmp_path)
    assert rc == 0
    assert json.loads(out) == [{"iothread_id": 3, "cpu_affinity": "0,2-3"}]
