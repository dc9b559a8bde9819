"""chr_inactive: what an inactive parse does not keep of character devices."""

from __future__ import annotations

from virtkit.conf.chr_inactive import drop_live_chr_details, drop_tty
from virtkit.conf.domain import DomainDef

XML = """<domain type='qemu'><name>c</name><memory>131072</memory>
<os><type>hvm</type></os><devices>
<serial type='pty'><source path='/dev/pts/1'/><target port='0'/></serial>
<serial type='pty'><source path='/dev/pts/2'><seclabel model='dac' relabel='no'/></source>
  <target port='1'/></serial>
<serial type='file'><source path='/var/log/s.log'/><target port='2'/></serial>
<console type='pty' tty='/dev/pts/1'><source path='/dev/pts/1'/>
  <target type='serial' port='0'/></console>
<channel type='unix'><source mode='bind' path='/run/a.sock'/>
  <target type='virtio' name='org.qemu.guest_agent.0' state='connected'/></channel>
<channel type='tcp'><source mode='connect' host='10.0.0.1' service='4600'/>
  <target type='guestfwd' address='10.0.2.1' port='4600'/></channel>
</devices></domain>"""


def test_drop_live_chr_details() -> None:
    d = DomainDef.from_xml(XML)
    drop_live_chr_details(d)
    assert d.devices is not None
    s0, s1, s2 = d.devices.serials
    assert s0.sources == []  # nothing left in <source>: it goes
    assert s1.sources[0].path is None and s1.sources[0].seclabels  # the seclabel stays
    assert s2.sources[0].path == "/var/log/s.log"  # not a pty
    assert d.devices.consoles[0].sources == []
    agent, fwd = d.devices.channels
    assert agent.target is not None and agent.target.state is None
    assert agent.sources[0].path == "/run/a.sock"
    assert fwd.target is not None and fwd.target.address == "10.0.2.1"
    assert d.devices.consoles[0].tty == "/dev/pts/1"  # tty is drop_tty's


def test_drop_tty() -> None:
    d = DomainDef.from_xml(XML)
    drop_tty(d)
    assert d.devices is not None
    assert "tty=" not in d.to_xml()
    assert d.devices.consoles[0].sources[0].path == "/dev/pts/1"
