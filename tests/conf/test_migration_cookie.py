"""libvirt's QEMU migration cookie: parsed and written as qemu_migration_cookie.c does."""

from __future__ import annotations

import pytest

from virtkit.conf.migration_cookie import (
    CookieFlag,
    CookieGraphics,
    CookieNBD,
    CookieStats,
    MigrationCookie,
)
from virtkit.errors import ErrorCode, ErrorDomain, VirtError

UUID = "6b5d6006-d485-4bb3-b7e4-b49f9afa9710"
SRC_HOST = "0f0e0d0c-0b0a-0908-0706-050403020100"
DST_HOST = "11111111-2222-3333-4444-555555555555"
ALL = CookieFlag(0xFFF)

# What libvirtd 9.0 writes (every section this model knows, in libvirt's order).
LIBVIRT_COOKIE = f"""<qemu-migration>
  <name>vm1</name>
  <uuid>{UUID}</uuid>
  <hostname>src.example</hostname>
  <hostuuid>{SRC_HOST}</hostuuid>
  <feature name='memory-hotplug'/>
  <feature name='cpu-hotplug'/>
  <graphics type='spice' port='5901' listen='0.0.0.0' tlsPort='5902'>
    <cert info='subject' value='C=GB,O=Example'/>
  </graphics>
  <lockstate driver='sanlock'>
    <leases>lease-data</leases>
  </lockstate>
  <domain type='kvm'>
    <name>vm1</name>
    <uuid>{UUID}</uuid>
    <memory unit='KiB'>262144</memory>
  </domain>
  <network>
    <interface index='0' vporttype='openvswitch'>
      <portdata>port-0</portdata>
    </interface>
  </network>
  <nbd port='49153'>
    <disk target='vda' capacity='1073741824'/>
  </nbd>
  <statistics>
    <started>1700000000000</started>
    <stopped>1700000001000</stopped>
    <sent>1700000001500</sent>
    <delta>-3</delta>
    <time_elapsed>1500</time_elapsed>
    <downtime>40</downtime>
    <setup_time>2</setup_time>
    <memory_total>268435456</memory_total>
    <memory_processed>50000000</memory_processed>
    <memory_remaining>0</memory_remaining>
    <memory_bps>125000000</memory_bps>
    <memory_constant>60000</memory_constant>
    <memory_normal>12000</memory_normal>
    <memory_normal_bytes>49152000</memory_normal_bytes>
    <memory_dirty_rate>0</memory_dirty_rate>
    <memory_iteration>3</memory_iteration>
    <memory_postcopy_requests>0</memory_postcopy_requests>
    <memory_page_size>4096</memory_page_size>
    <disk_total>0</disk_total>
    <disk_processed>0</disk_processed>
    <disk_remaining>0</disk_remaining>
    <disk_bps>0</disk_bps>
    <auto_converge_throttle>0</auto_converge_throttle>
  </statistics>
  <cpu mode='custom' match='exact' check='full'>
    <model fallback='forbid'>qemu64</model>
  </cpu>
  <capabilities>
    <cap name='xbzrle' auto='no'/>
  </capabilities>
</qemu-migration>
"""


def _parse(text: str, **kw: object) -> MigrationCookie:
    args: dict[str, object] = {"accept": ALL, "name": "vm1", "uuid": UUID,
                               "local_hostuuid": DST_HOST}
    args.update(kw)
    return MigrationCookie.parse(text.encode() + b"\0", **args)  # type: ignore[arg-type]


def test_libvirt_cookie_round_trips_byte_for_byte() -> None:
    cookie = _parse(LIBVIRT_COOKIE)
    assert cookie.to_bytes() == LIBVIRT_COOKIE.encode() + b"\0"


def test_parsed_sections() -> None:
    c = _parse(LIBVIRT_COOKIE)
    assert (c.name, c.uuid, c.hostname, c.hostuuid) == ("vm1", UUID, "src.example", SRC_HOST)
    assert c.features == CookieFlag.MEMORY_HOTPLUG | CookieFlag.CPU_HOTPLUG
    assert c.graphics == CookieGraphics("spice", 5901, "0.0.0.0", 5902, "C=GB,O=Example")
    assert c.nbd == CookieNBD(49153, [("vda", 1073741824)])
    assert c.stats is not None and c.stats.delta == -3
    assert c.stats.values["downtime"] == 40 and c.stats.values["memory_page_size"] == 4096
    assert "compression_cache" not in c.stats.values
    assert c.persistent is not None and c.persistent.startswith("<domain type='kvm'>")
    assert c.network[0].portdata == "port-0"


def test_minimal_cookie_format() -> None:
    c = MigrationCookie("a&b", UUID, "h<1>", SRC_HOST)
    assert c.to_xml() == (f"<qemu-migration>\n  <name>a&amp;b</name>\n  <uuid>{UUID}</uuid>\n"
                          f"  <hostname>h&lt;1&gt;</hostname>\n  <hostuuid>{SRC_HOST}"
                          "</hostuuid>\n</qemu-migration>\n")
    c.nbd = CookieNBD()
    c.stats = CookieStats(1, 2, 3, values={"time_elapsed": 4})
    text = c.to_xml()
    assert "  <nbd/>\n" in text
    assert "<delta>" not in text and "<downtime>" not in text
    assert "    <time_elapsed>4</time_elapsed>\n    <memory_total>0</memory_total>\n" in text


def test_sections_outside_the_phase_are_ignored() -> None:
    c = _parse(LIBVIRT_COOKIE, accept=CookieFlag.MEMORY_HOTPLUG | CookieFlag.CPU_HOTPLUG)
    assert c.graphics is None and c.persistent is None and c.stats is None and c.nbd is None


@pytest.mark.parametrize("mutate,message", [
    (lambda t: t.replace("<name>vm1</name>\n  <uuid>", "<uuid>", 1),
     "missing name element in migration data"),
    (lambda t: t, "Incoming cookie data had unexpected name vm1 vs other"),
    (lambda t: t.replace(f"<uuid>{UUID}</uuid>\n  <hostname>",
                         "<uuid>00000000-0000-0000-0000-000000000001</uuid>\n  <hostname>", 1),
     f"Incoming cookie data had unexpected UUID 00000000-0000-0000-0000-000000000001 vs {UUID}"),
    (lambda t: t.replace(SRC_HOST, DST_HOST, 1),
     f"Attempt to migrate guest to the same host {DST_HOST}"),
    (lambda t: t.replace(SRC_HOST, "nope", 1), "malformed hostuuid element in migration data"),
    (lambda t: t.replace("memory-hotplug", "teleport", 1),
     "Unknown migration cookie feature teleport"),
    (lambda t: t.replace("<hostname>src.example</hostname>\n", "", 1),
     "missing hostname element in migration data"),
    (lambda t: t.replace("port='5901' ", "", 1), "missing port attribute in migration data"),
    (lambda t: t.replace("capacity='1073741824'", "capacity='big'", 1),
     "Malformed disk capacity: 'big'"),
])
def test_libvirt_errors(mutate: object, message: str) -> None:
    text = mutate(LIBVIRT_COOKIE)  # type: ignore[operator]
    name = "other" if "unexpected name" in message else "vm1"
    with pytest.raises(VirtError) as exc:
        _parse(text, name=name)
    assert exc.value.code == ErrorCode.INTERNAL_ERROR and exc.value.domain == ErrorDomain.QEMU
    assert message in exc.value.message


def test_a_mandatory_feature_the_phase_does_not_take() -> None:
    with pytest.raises(VirtError) as exc:
        _parse(LIBVIRT_COOKIE, accept=CookieFlag.CPU_HOTPLUG)
    assert "Unsupported migration cookie feature memory-hotplug" in exc.value.message


def test_not_nul_terminated() -> None:
    with pytest.raises(VirtError) as exc:
        MigrationCookie.parse(LIBVIRT_COOKIE.encode(), accept=ALL)
    assert "Migration cookie was not NULL terminated" in exc.value.message


def test_malformed_xml_is_an_xml_error() -> None:
    with pytest.raises(VirtError) as exc:
        MigrationCookie.parse(b"<qemu-migration>\0", accept=ALL)
    assert exc.value.code == ErrorCode.XML_DETAIL
