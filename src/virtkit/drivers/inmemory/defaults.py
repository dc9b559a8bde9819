"""The contents of ``test:///default`` (libvirt's defaultConnXML).

Node devices and the host interface are kept as libvirt formats them
(``virNodeDeviceDefFormat`` reports 0 for the vport counters it does not
read back from sysfs).
"""

from __future__ import annotations

# test:///default's objects: identities and states as data, definitions as
# XML parsed on first use (see virtkit.drivers.inmemory._build_default).
DEFAULT_DOMAIN_NAME = "test"
DEFAULT_DOMAIN_UUID = "6695eb01-f6a4-8304-79aa-97f2502e193f"
DEFAULT_DOMAIN_NUMBERS = (8388608, 2097152, 2)  # max memory, memory (KiB), vcpus
DEFAULT_NETWORK_NAME = "default"
DEFAULT_NETWORK_UUID = "dd8fe884-6c02-601e-7551-cca97df1c5df"
DEFAULT_POOL_NAME = "default-pool"
DEFAULT_POOL_UUID = "dfe224cb-28fb-8dd0-c4b2-64eb3f0f4566"
DEFAULT_POOL_TYPE = "dir"
DEFAULT_POOL_PATH = "/default-pool"

DEFAULT_DOMAIN_XML = """<domain type='test'>
  <name>test</name>
  <uuid>6695eb01-f6a4-8304-79aa-97f2502e193f</uuid>
  <memory>8388608</memory>
  <currentMemory>2097152</currentMemory>
  <vcpu>2</vcpu>
  <os>
    <type>hvm</type>
  </os>
  <devices>
    <disk type='file' device='disk'>
      <source file='/guest/diskimage1'/>
      <target dev='vda' bus='virtio'/>
      <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>
    </disk>
    <interface type='network'>
      <mac address='aa:bb:cc:dd:ee:ff'/>
      <source network='default' bridge='virbr0'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x1' function='0x0'/>
    </interface>
    <memballoon model='virtio'>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x2' function='0x0'/>
    </memballoon>
  </devices>
</domain>
"""

DEFAULT_NETWORK_XML = """<network>
  <name>default</name>
  <uuid>dd8fe884-6c02-601e-7551-cca97df1c5df</uuid>
  <bridge name='virbr0'/>
  <forward/>
  <ip address='192.168.122.1' netmask='255.255.255.0'>
    <dhcp>
      <range start='192.168.122.2' end='192.168.122.254'/>
    </dhcp>
  </ip>
</network>
"""

DEFAULT_POOL_XML = """<pool type='dir'>
  <name>default-pool</name>
  <uuid>dfe224cb-28fb-8dd0-c4b2-64eb3f0f4566</uuid>
  <target>
    <path>/default-pool</path>
  </target>
</pool>
"""

# The same node as one document (what load_node would read).
DEFAULT_NODE_XML = (
    "<node>\n" + DEFAULT_DOMAIN_XML + DEFAULT_NETWORK_XML + DEFAULT_POOL_XML + "</node>\n"
)

DEFAULT_INTERFACES = [
    ("eth1", "aa:bb:cc:dd:ee:ff", """<interface type='ethernet' name='eth1'>
  <start mode='onboot'/>
  <mtu size='1492'/>
  <protocol family='ipv4'>
    <ip address='192.168.0.5' prefix='24'/>
    <route gateway='192.168.0.1'/>
  </protocol>
  <mac address='aa:bb:cc:dd:ee:ff'/>
</interface>
"""),
]


def _scsi_host(name: str, parent: str, host: int, unique: int, wwnn: str, wwpn: str,
               fabric: str, vport: bool) -> tuple[str, str, list[str], str]:
    vport_ops = (
        "    <capability type='vport_ops'>\n"
        "      <max_vports>0</max_vports>\n"
        "      <vports>0</vports>\n"
        "    </capability>\n"
    ) if vport else ""
    xml = (
        "<device>\n"
        f"  <name>{name}</name>\n"
        f"  <parent>{parent}</parent>\n"
        "  <capability type='scsi_host'>\n"
        f"    <host>{host}</host>\n"
        f"    <unique_id>{unique}</unique_id>\n"
        "    <capability type='fc_host'>\n"
        f"      <wwnn>{wwnn}</wwnn>\n"
        f"      <wwpn>{wwpn}</wwpn>\n"
        f"      <fabric_wwn>{fabric}</fabric_wwn>\n"
        "    </capability>\n"
        f"{vport_ops}"
        "  </capability>\n"
        "</device>\n"
    )
    caps = ["scsi_host", "fc_host"] + (["vport_ops"] if vport else [])
    return name, parent, caps, xml


DEFAULT_DEVICES: list[tuple[str, str | None, list[str], str]] = [
    ("computer", None, ["system"], """<device>
  <name>computer</name>
  <capability type='system'>
    <hardware>
      <vendor>Libvirt</vendor>
      <version>Test driver</version>
      <serial>123456</serial>
      <uuid>11111111-2222-3333-4444-555555555555</uuid>
    </hardware>
    <firmware>
      <vendor>Libvirt</vendor>
      <version>Test Driver</version>
      <release_date>01/22/2007</release_date>
    </firmware>
  </capability>
</device>
"""),
    _scsi_host("scsi_host1", "computer", 1, 0, "2000000012341234", "1000000012341234",
               "2000000043214321", True),
    _scsi_host("scsi_host2", "computer", 2, 1, "2000000056785678", "1000000056785678",
               "2000000087658765", True),
    _scsi_host("scsi_host11", "scsi_host1", 11, 10, "2000000034563456", "1000000034563456",
               "2000000043214321", False),
]

SYSINFO_XML = """<sysinfo type='smbios'>
  <bios>
    <entry name='vendor'>LENOVO</entry>
    <entry name='version'>G4ETA1WW (2.61 )</entry>
    <entry name='date'>05/07/2014</entry>
    <entry name='release'>2.61</entry>
  </bios>
</sysinfo>
"""
