"""virtkit's iface-* and nodedev-* commands against Debian's virsh 9.0 on test:///default.

Each case is one ';' batch run through both tools (the helpers and masks of
test_virsh_compat.py); output, errors and exit status must agree.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_virsh_compat import URI, VIRSH, _mask, _run, _virtkit_argv

pytestmark = pytest.mark.interop

FILES = {
    "eth.xml": "<interface type='ethernet' name='eth9'><start mode='onboot'/><mtu size='1500'/>"
               "<protocol family='ipv4'><dhcp peerdns='no'/><ip address='10.0.0.2' prefix='8'/>"
               "<route gateway='10.0.0.1'/></protocol><link state='up'/>"
               "<mac address='52:54:00:aa:bb:01'/></interface>",
    "br.xml": "<interface type='bridge' name='br0'><start mode='onboot'/><bridge stp='on' "
              "delay='0'><interface type='ethernet' name='eth5'><mac address='00:11:22:33:44:55'/>"
              "</interface><interface type='vlan' name='eth5.7'><vlan tag='7'>"
              "<interface name='eth5'/></vlan></interface></bridge></interface>",
    "bond.xml": "<interface type='bond' name='bond0'><bond mode='active-backup'>"
                "<miimon freq='100' carrier='ioctl'/><interface type='ethernet' name='eth6'/>"
                "</bond></interface>",
    "bad.xml": "<interface type='vlan' name='v0'><vlan tag='3'/></interface>",
    "badtype.xml": "<interface type='wifi' name='w0'/>",
    "vhba.xml": "<device><parent>scsi_host1</parent><capability type='scsi_host'>"
                "<capability type='fc_host'><wwnn>2001001b32a9da4e</wwnn>"
                "<wwpn>2101001b32a9da4e</wwpn></capability></capability></device>",
    "vhba-nowwn.xml": "<device><parent>scsi_host2</parent><capability type='scsi_host'>"
                      "<capability type='fc_host'/></capability></device>",
    "vhba-badparent.xml": "<device><parent>scsi_host11</parent><capability type='scsi_host'>"
                          "<capability type='fc_host'><wwnn>1</wwnn><wwpn>2</wwpn></capability>"
                          "</capability></device>",
    "vhba-noparent.xml": "<device><parent>nope</parent><capability type='scsi_host'>"
                         "<capability type='fc_host'><wwnn>1</wwnn><wwpn>2</wwpn></capability>"
                         "</capability></device>",
    "notfc.xml": "<device><capability type='system'/></device>",
    "notfc2.xml": "<device><capability type='system'><hardware><uuid>"
                  "11111111-2222-3333-4444-555555555555</uuid></hardware></capability></device>",
    "nocaps.xml": "<device><name>x</name></device>",
}

CASES = [
    "iface-define eth.xml; iface-list --all; iface-dumpxml eth9; iface-mac eth9",
    "iface-define br.xml; iface-dumpxml br0; iface-define bond.xml; iface-dumpxml bond0",
    "iface-define bad.xml",
    "iface-define badtype.xml",
    "iface-define missing.xml",
    "iface-define eth.xml; iface-start eth9; iface-list; iface-start eth9; iface-destroy eth9; "
    "iface-destroy eth9; iface-list --inactive",
    "iface-define eth.xml; iface-undefine eth9; iface-undefine eth9; iface-list --all",
    "iface-destroy 52:54:00:aa:bb:02; iface-destroy aa:bb:cc:dd:ee:ff; iface-list --all; "
    "iface-start eth1; iface-undefine nope",
    "iface-commit; iface-rollback; iface-begin; iface-begin; iface-define eth.xml; "
    "iface-list --all; iface-rollback; iface-list --all",
    "iface-begin; iface-undefine eth1; iface-commit; iface-list --all; iface-commit",
    "iface-dumpxml eth1 --inactive; iface-dumpxml eth1 --xpath //mtu",
    "help iface-define; help iface-begin; help iface-start; help nodedev-create",
    "help nodedev-destroy; help nodedev-list; help nodedev-info",
    "nodedev-create vhba.xml; nodedev-dumpxml scsi_host12; nodedev-info scsi_host12; "
    "nodedev-create vhba.xml; nodedev-destroy scsi_host12; nodedev-destroy scsi_host12",
    "nodedev-create vhba-nowwn.xml",
    "nodedev-create vhba-badparent.xml",
    "nodedev-create vhba-noparent.xml",
    "nodedev-create notfc.xml; nodedev-create notfc2.xml",
    "nodedev-create nocaps.xml",
    "nodedev-destroy scsi_host11; nodedev-create vhba.xml",
    "nodedev-destroy computer; nodedev-dumpxml computer; nodedev-info computer",
    "nodedev-dumpxml scsi_host1; nodedev-dumpxml nope; nodedev-dumpxml a,b,c",
    "nodedev-dumpxml 2000000012341234,1000000012341234",
    "nodedev-info scsi_host11; nodedev-info nope",
    "nodedev-list; nodedev-list --inactive; nodedev-list --tree --cap system",
    "nodedev-list --all --inactive; nodedev-list --cap bogus",
    "nodedev-dumpxml scsi_host2 --xpath //wwnn",
]


@pytest.mark.parametrize("batch", CASES, ids=[f"{i:02d}-{c.split()[0]}" for i, c in
                                              enumerate(CASES)])
def test_same_as_virsh(batch: str, tmp_path: Path) -> None:
    for name, text in FILES.items():
        (tmp_path / name).write_text(text)
    assert VIRSH is not None, "Debian's virsh (libvirt-clients) must be installed"
    want, want_rc = _run([VIRSH, "-c", URI, batch], {}, tmp_path)
    got, got_rc = _run([*_virtkit_argv(), "-c", URI, batch], {}, tmp_path)
    assert _mask(got) == _mask(want), f"batch: {batch}"
    assert got_rc == want_rc, f"batch: {batch}"
