# ruff: noqa: E501  (command lines read better whole)
"""``net-update`` through virtkit's CLI against Debian's virsh 9.0 on test:///default.

Each batch runs once through ``virsh -c test:///default`` and once through
``virtkit -c test:///default``; output (stdout and stderr together) and exit status
must be the same. The helpers are test_virsh_compat's.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_virsh_compat import URI, VIRSH, _mask, _run, _virtkit_argv

pytestmark = pytest.mark.interop

HOST9 = "\"<host mac='52:54:00:00:00:09' ip='192.168.122.9'/>\""
# MACs outside 52:54:00 are not masked by test_virsh_compat's MASKS.
HOST7 = "\"<host mac='00:16:3e:00:00:07' name='seven' ip='192.168.122.7'/>\""

BATCHES: list[str] = [
    f"net-update default add ip-dhcp-host {HOST9} --live --config",
    f"net-update default add ip-dhcp-host {HOST7} --live --config; net-dumpxml default",
    f"net-update default add-first ip-dhcp-host {HOST7}; net-dumpxml default; "
    f"net-update default add ip-dhcp-host {HOST7}",
    f"net-update default add ip-dhcp-host {HOST7} --config; net-dumpxml default; "
    f"net-dumpxml default --inactive; net-update default add ip-dhcp-host {HOST7} --config",
    f"net-destroy default; net-update default add ip-dhcp-host {HOST7} --live; "
    f"net-update default add ip-dhcp-host {HOST7}; net-dumpxml default",
    "net-update default modify ip-dhcp-host \"<host mac='00:16:3e:00:00:07' ip='192.168.122.70'/>\"",
    "net-update default delete ip-dhcp-range "
    "\"<range start='192.168.122.2' end='192.168.122.254'/>\"; net-dumpxml default",
    "net-update default add dns-host \"<host ip='192.168.122.50'><hostname>web</hostname></host>\"; "
    "net-update default add dns-txt \"<txt name='t' value='v'/>\"; "
    "net-update default add dns-srv \"<srv service='sip' protocol='udp'/>\"; "
    "net-update default add portgroup \"<portgroup name='pg' default='yes'/>\"; "
    "net-update default add forward-interface \"<interface dev='eth0'/>\"; net-dumpxml default",
    "net-update default modify bridge \"<bridge name='x'/>\"",
    "net-update default add ip-dhcp-host \"<host name='x' ip='192.168.122.9'/>\" --parent-index 3",
    "net-update default add ip-dhcp-host \"<host\"",
    "net-update default add nope \"<host/>\"",
    "net-update default frob ip-dhcp-host \"<host/>\"",
    f"net-update default add ip-dhcp-host {HOST7} --current --live",
]


@pytest.mark.parametrize("batch", BATCHES, ids=[f"{i:02d}" for i in range(len(BATCHES))])
def test_net_update_same_as_virsh(batch: str, tmp_path: Path) -> None:
    assert VIRSH is not None, "Debian's virsh (libvirt-clients) must be installed"
    want, want_rc = _run([VIRSH, "-c", URI, batch], {}, tmp_path, tries=3)
    got, got_rc = _run([*_virtkit_argv(), "-c", URI, batch], {}, tmp_path)
    assert _mask(got) == _mask(want), f"batch: {batch}"
    assert got_rc == want_rc, f"batch: {batch}"


def test_brief_example_output(tmp_path: Path) -> None:
    """The documented example prints virsh's confirmation line, and the host lands."""
    batch = f"{BATCHES[0]}; net-dumpxml default"
    got, rc = _run([*_virtkit_argv(), "-c", URI, batch], {}, tmp_path)
    assert rc == 0
    assert "Updated network default persistent config and live state" in got
    assert "<host mac='52:54:00:00:00:09' ip='192.168.122.9'/>" in got
