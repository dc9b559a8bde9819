"""Unit tests for the domain XML model (everything outside <devices>)."""

from __future__ import annotations

import re

import pytest

from virtkit.conf.domain import DomainDef, parse_uuid, validate_domain_def
from virtkit.conf.domain_memory import scale_integer
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, XMLError

UUID = "c7a5fdbd-edaf-9455-926a-d65c16db1809"
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

MINIMAL = f"""<domain type='kvm'>
  <name>web1</name>
  <uuid>{UUID}</uuid>
  <memory unit='KiB'>219136</memory>
  <currentMemory unit='KiB'>219136</currentMemory>
  <vcpu placement='static'>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <boot dev='hd'/>
  </os>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
  </devices>
</domain>
"""


def dom(body: str, head: str = "<domain type='kvm'>") -> DomainDef:
    return DomainDef.from_xml(f"{head}<name>d</name>{body}</domain>")


def memory_kib_of(value: str, unit: str | None) -> int:
    u = f" unit='{unit}'" if unit is not None else ""
    return dom(f"<memory{u}>{value}</memory>").memory_kib


# ----------------------------------------------------------------------------- round trip


def test_minimal_round_trips_byte_for_byte() -> None:
    d = DomainDef.from_xml(MINIMAL)
    assert d.to_xml() == MINIMAL
    assert (d.type, d.id, d.name, d.uuid, d.os_type) == ("kvm", None, "web1", UUID, "hvm")
    assert (d.memory_kib, d.current_memory_kib, d.vcpus_max, d.vcpus_current) == (
        219136, 219136, 1, 1)


def test_full_top_level_order_is_libvirts() -> None:
    xml = """<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>full</name>
  <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>
  <genid>e9392370-2917-565e-692b-d057f46512d6</genid>
  <title>A title</title>
  <description>Some &apos;text&apos; &amp; more</description>
  <maxMemory slots='16' unit='KiB'>1524288</maxMemory>
  <memory dumpCore='off' unit='KiB'>219136</memory>
  <currentMemory unit='KiB'>219000</currentMemory>
  <blkiotune>
    <weight>800</weight>
  </blkiotune>
  <memtune>
    <hard_limit unit='KiB'>9007199254740991</hard_limit>
  </memtune>
  <memoryBacking>
    <hugepages>
      <page size='2048' unit='KiB' nodeset='0'/>
    </hugepages>
    <nosharepages/>
    <locked/>
    <source type='file'/>
    <access mode='shared'/>
    <allocation mode='immediate' threads='8'/>
    <discard/>
  </memoryBacking>
  <vcpu placement='static' cpuset='1-3' current='2'>4</vcpu>
  <iothreads>2</iothreads>
  <cputune>
    <shares>2048</shares>
    <vcpupin vcpu='0' cpuset='1'/>
    <emulatorpin cpuset='1'/>
  </cputune>
  <numatune>
    <memory mode='strict' nodeset='0'/>
  </numatune>
  <resource>
    <partition>/machine</partition>
  </resource>
  <sysinfo type='smbios'>
    <bios>
      <entry name='vendor'>LENOVO</entry>
    </bios>
  </sysinfo>
  <os firmware='efi'>
    <type arch='x86_64' machine='q35'>hvm</type>
    <loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE.fd</loader>
    <nvram>/var/lib/libvirt/qemu/nvram/full_VARS.fd</nvram>
    <kernel>/boot/vmlinuz</kernel>
    <cmdline>console=ttyS0</cmdline>
    <boot dev='hd'/>
    <bootmenu enable='yes' timeout='3000'/>
    <smbios mode='sysinfo'/>
  </os>
  <features>
    <acpi/>
    <apic/>
    <hyperv mode='custom'>
      <relaxed state='on'/>
      <spinlocks state='on' retries='4096'/>
    </hyperv>
    <kvm>
      <hidden state='on'/>
    </kvm>
    <vmport state='off'/>
    <smm state='on'/>
  </features>
  <cpu mode='custom' match='exact' check='partial'>
    <model fallback='allow'>Haswell</model>
    <topology sockets='1' dies='1' cores='2' threads='2'/>
    <feature policy='require' name='vmx'/>
    <numa>
      <cell id='0' cpus='0-3' memory='219136' unit='KiB'/>
    </numa>
  </cpu>
  <clock offset='variable' adjustment='-3600' basis='utc'>
    <timer name='rtc' tickpolicy='catchup'/>
  </clock>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>coredump-destroy</on_crash>
  <pm>
    <suspend-to-mem enabled='no'/>
    <suspend-to-disk enabled='no'/>
  </pm>
  <perf>
    <event name='cmt' enabled='yes'/>
  </perf>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
  </devices>
  <seclabel type='dynamic' model='selinux' relabel='yes'/>
  <seclabel type='none' model='dac'/>
  <keywrap>
    <cipher name='aes' state='on'/>
  </keywrap>
  <launchSecurity type='sev'>
    <cbitpos>47</cbitpos>
    <policy>0x0003</policy>
  </launchSecurity>
  <qemu:commandline>
    <qemu:arg value='-unknown'/>
    <qemu:env name='A' value='b'/>
  </qemu:commandline>
</domain>
"""
    d = DomainDef.from_xml(xml)
    assert d.to_xml() == xml
    assert d.max_memory_kib == 1524288
    assert (d.vcpus_max, d.vcpus_current) == (4, 2)
    assert d.cpu is not None and d.cpu.topology is not None and d.cpu.topology.cores == 2
    assert d.features is not None and d.features.hyperv is not None
    assert d.features.hyperv.spinlocks is not None
    assert d.features.hyperv.spinlocks.retries == "4096"
    assert [s.type for s in d.seclabels] == ["dynamic", "none"]
    assert d.namespaces == [("qemu", "http://libvirt.org/schemas/domain/qemu/1.0")]
    validate_domain_def(d)


def test_empty_hyperv_keeps_libvirts_two_line_form() -> None:
    d = dom("<features><hyperv mode='passthrough'/></features>")
    assert "    <hyperv mode='passthrough'>\n    </hyperv>\n" in d.to_xml()


# ----------------------------------------------------------------------------- memory


@pytest.mark.parametrize(
    ("value", "unit", "kib"),
    [
        ("1024", None, 1024),  # default unit is KiB
        ("1024", "KiB", 1024),
        ("1024", "k", 1024),
        ("1024", "K", 1024),
        ("1048576", "b", 1024),
        ("1048576", "bytes", 1024),
        ("1000", "byte", 1),  # rounded up, as libvirt does
        ("1024", "KB", 1000),  # KB is 1000 bytes
        ("512", "M", 512 * 1024),
        ("512", "MiB", 512 * 1024),
        ("1", "MB", 977),  # 1,000,000 bytes -> 976.56 KiB, rounded up
        ("2", "G", 2 * 1024 * 1024),
        ("2", "GiB", 2 * 1024 * 1024),
        ("1", "GB", 976563),
        ("1", "T", 1024**3),
        ("1", "TiB", 1024**3),
        ("1", "TB", 10**12 // 1024),
        ("1", "P", 1024**4),
        ("1", "PB", -(-(10**15) // 1024)),
    ],
)
def test_memory_units_normalise_to_kib(value: str, unit: str | None, kib: int) -> None:
    d = dom(f"<memory unit='{unit}'>{value}</memory>" if unit else f"<memory>{value}</memory>")
    assert d.memory_kib == kib
    assert f"<memory unit='KiB'>{kib}</memory>" in d.to_xml()
    # currentMemory defaults to memory, as libvirt's post-parse does.
    assert f"<currentMemory unit='KiB'>{kib}</currentMemory>" in d.to_xml()


def test_other_sizes_normalise_to_kib() -> None:
    d = dom(
        "<memory unit='GiB'>4</memory><currentMemory unit='MiB'>1024</currentMemory>"
        "<maxMemory slots='4' unit='GiB'>8</maxMemory>"
        "<memtune><hard_limit unit='M'>1</hard_limit></memtune>"
        "<memoryBacking><hugepages><page size='1' unit='G'/></hugepages></memoryBacking>"
        "<cpu><numa><cell id='0' cpus='0' memory='2' unit='GiB'/></numa></cpu>"
    )
    assert (d.memory_kib, d.current_memory_kib, d.max_memory_kib) == (4 << 20, 1 << 20, 8 << 20)
    out = d.to_xml()
    assert "<hard_limit unit='KiB'>1024</hard_limit>" in out
    assert "<page size='1048576' unit='KiB'/>" in out
    assert "memory='2097152' unit='KiB'" in out


def test_memory_from_numa_cells_when_absent() -> None:
    d = dom("<cpu><numa><cell id='0' cpus='0' memory='1024'/>"
            "<cell id='1' cpus='1' memory='1' unit='MiB'/></numa></cpu>")
    assert d.memory_kib == 2048


def test_current_memory_above_memory_is_capped() -> None:
    d = dom("<memory>1024</memory><currentMemory>4096</currentMemory>")
    assert d.current_memory_kib == 1024


def test_scale_integer_rejects_like_libvirt() -> None:
    with pytest.raises(VirtError) as e:
        scale_integer(1, "XiB", 1024, 1 << 63)
    assert e.value.code == ErrorCode.INVALID_ARG
    assert str(e.value) == "invalid argument: unknown suffix 'XiB'"
    with pytest.raises(VirtError) as e:
        scale_integer(1 << 60, "EiB", 1024, (1 << 63) - 1)
    assert e.value.code == ErrorCode.OVERFLOW


@pytest.mark.parametrize("bad", ["abc", "-1", "1.5", "  "])
def test_non_numeric_memory_gets_libvirts_message(bad: str) -> None:
    with pytest.raises(VirtError) as e:
        dom(f"<memory unit='KiB'>{bad}</memory>")
    assert e.value.code == ErrorCode.XML_ERROR
    assert str(e.value) == (
        f"XML error: Invalid value '{bad}' for element or attribute './memory[1]'"
    )


def test_unknown_memory_unit_is_refused() -> None:
    with pytest.raises(VirtError, match="unknown suffix 'parsecs'"):
        dom("<memory unit='parsecs'>1</memory>")


def test_memory_setters() -> None:
    d = DomainDef(name="x", type="kvm")
    assert d.memory_kib == 0 and d.max_memory_kib is None
    d.memory_kib = 1024
    assert d.current_memory_kib == 1024
    d.current_memory_kib = 512
    d.max_memory_kib = 4096
    d.vcpus_max = 4
    d.vcpus_current = 2
    d.os_type = "hvm"
    out = d.to_xml()
    assert "<memory unit='KiB'>1024</memory>" in out
    assert "<currentMemory unit='KiB'>512</currentMemory>" in out
    assert "<maxMemory unit='KiB'>4096</maxMemory>" in out
    assert "<vcpu placement='static' current='2'>4</vcpu>" in out
    back = DomainDef.from_xml(out)
    assert (back.memory_kib, back.current_memory_kib, back.vcpus_current) == (1024, 512, 2)


# ----------------------------------------------------------------------------- uuid, vcpu


def test_uuid_generated_when_absent() -> None:
    a, b = dom(""), dom("")
    assert UUID_RE.match(a.uuid) and UUID_RE.match(b.uuid)
    assert a.uuid != b.uuid
    assert f"<uuid>{a.uuid}</uuid>" in a.to_xml()


def test_uuid_taken_from_sysinfo_when_absent() -> None:
    d = dom("<sysinfo type='smbios'><system>"
            f"<entry name='uuid'>{UUID.upper()}</entry></system></sysinfo>")
    assert d.uuid == UUID


def test_uuid_canonicalised() -> None:
    d = dom(f"<uuid> {UUID.replace('-', '').upper()} </uuid>")
    assert d.uuid == UUID
    assert parse_uuid("c7a5fdbd edaf 9455 926a d65c16db1809") == UUID


@pytest.mark.parametrize("bad", ["nope", UUID[:-1], UUID + "00", "g" * 32])
def test_malformed_uuid(bad: str) -> None:
    with pytest.raises(VirtError) as e:
        dom(f"<uuid>{bad}</uuid>")
    assert e.value.code == ErrorCode.INTERNAL_ERROR
    assert str(e.value) == "internal error: malformed uuid element"


def test_genid_generated_when_empty() -> None:
    d = dom("<genid/>")
    assert d.genid is not None and UUID_RE.match(d.genid)


def test_vcpu_count_must_be_an_integer() -> None:
    with pytest.raises(VirtError) as e:
        dom("<vcpu>many</vcpu>")
    assert e.value.code == ErrorCode.XML_ERROR
    assert str(e.value) == "XML error: maximum vcpus count must be an integer"


def test_vcpu_defaults() -> None:
    d = dom("")
    assert (d.vcpus_max, d.vcpus_current, d.os_type) == (1, 1, "hvm")


# ----------------------------------------------------------------------------- validation


def _valid() -> DomainDef:
    return DomainDef.from_xml(MINIMAL)


def test_validate_accepts_minimal() -> None:
    validate_domain_def(_valid())


def test_validate_missing_name() -> None:
    d = _valid()
    d.name = None
    with pytest.raises(VirtError) as e:
        validate_domain_def(d)
    assert e.value.code == ErrorCode.NO_NAME
    assert e.value.domain == ErrorDomain.DOMAIN
    assert str(e.value) == "missing name information"


@pytest.mark.parametrize(
    ("mutate", "code", "message"),
    [
        (lambda d: setattr(d, "type", None), ErrorCode.INTERNAL_ERROR,
         "internal error: missing domain type attribute"),
        (lambda d: setattr(d, "type", "bogus"), ErrorCode.CONFIG_UNSUPPORTED,
         "unsupported configuration: invalid domain type bogus"),
        (lambda d: setattr(d, "os_type", "dos"), ErrorCode.CONFIG_UNSUPPORTED,
         "unsupported configuration: unknown OS type 'dos'"),
        (lambda d: setattr(d, "os", None), ErrorCode.XML_ERROR,
         "XML error: an os <type> must be specified"),
        (lambda d: setattr(d, "memory", None), ErrorCode.XML_ERROR,
         "XML error: Memory size must be specified via <memory> or in the <numa> configuration"),
        (lambda d: setattr(d, "uuid", "xyz"), ErrorCode.INTERNAL_ERROR,
         "internal error: malformed uuid element"),
    ],
)
def test_validate_errors(mutate, code: int, message: str) -> None:  # type: ignore[no-untyped-def]
    d = _valid()
    mutate(d)
    with pytest.raises(VirtError) as e:
        validate_domain_def(d)
    assert e.value.code == code
    assert str(e.value) == message


def test_validate_current_vcpus_above_max() -> None:
    d = dom("<memory>1024</memory><vcpu current='4'>2</vcpu><os><type>hvm</type></os>")
    with pytest.raises(VirtError, match="maximum vCPU count must not be less than current"):
        validate_domain_def(d)


def test_unknown_elements_are_not_errors() -> None:
    d = _valid()
    d2 = DomainDef.from_xml(MINIMAL.replace("<clock", "<frobnicate level='3'/>\n  <clock"))
    validate_domain_def(d2)
    assert d2.unknown_paths() == ["/domain/frobnicate"]
    assert d.unknown_paths() == []


# ----------------------------------------------------------------------------- preservation


def test_unknown_elements_kept_in_place() -> None:
    xml = MINIMAL.replace(
        "  <vcpu placement='static'>1</vcpu>\n",
        "  <vcpu placement='static'>1</vcpu>\n  <future attr='x'>\n    <inner>t</inner>\n"
        "  </future>\n",
    ).replace("<os>", "<os weird='1'>").replace(
        "    <boot dev='hd'/>\n", "    <boot dev='hd'/>\n    <newboot/>\n")
    d = DomainDef.from_xml(xml)
    assert d.to_xml() == xml
    assert sorted(d.unknown_paths()) == [
        "/domain/future", "/domain/os/@weird", "/domain/os/newboot"]


def test_namespaced_metadata_kept_verbatim() -> None:
    xml = MINIMAL.replace(
        "  <memory",
        "  <metadata>\n"
        '    <app1:foo xmlns:app1="http://app1.org/app1/">fooish</app1:foo>\n'
        '    <app2:bar xmlns:app2="http://app2.org/app2/" a="b &amp; &quot;c&quot;">\n'
        '      <app2:baz>x</app2:baz>\n'
        "    </app2:bar>\n"
        "  </metadata>\n  <memory",
        1,
    )
    d = DomainDef.from_xml(xml)
    assert d.metadata is not None and len(d.metadata) == 2
    assert d.to_xml() == xml
    copy = d.copy()
    assert copy.to_xml() == xml and copy.metadata is not d.metadata


def test_root_namespace_declarations_not_repeated() -> None:
    xml = MINIMAL.replace(
        "<domain type='kvm'>",
        "<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>",
    ).replace(
        "</domain>",
        "  <qemu:commandline>\n    <qemu:arg value='-s &amp; x'/>\n  </qemu:commandline>\n"
        "</domain>",
    )
    assert DomainDef.from_xml(xml).to_xml() == xml


def test_live_id_written_after_type() -> None:
    d = _valid()
    d.id = 7
    assert d.to_xml().startswith("<domain type='kvm' id='7'>\n")
    assert DomainDef.from_xml(d.to_xml()).id == 7


# ----------------------------------------------------------------------------- hostile input


def test_malformed_xml_reports_line() -> None:
    with pytest.raises(XMLError) as e:
        DomainDef.from_xml("<domain type='kvm'>\n  <name>x</nam>\n</domain>")
    assert e.value.code == ErrorCode.XML_DETAIL
    assert str(e.value).startswith("(domain_definition):2: ")
    assert "mismatch" in str(e.value)


def test_empty_document() -> None:
    # libvirt 9.0 (virsh define of a blank file) says exactly this
    expected = r"\(domain_definition\):1: Start tag expected, '<' not found"
    with pytest.raises(XMLError, match=expected):
        DomainDef.from_xml("   ")


def test_wrong_root() -> None:
    with pytest.raises(XMLError, match="expecting root element of 'domain', not 'network'"):
        DomainDef.from_xml("<network/>")


def test_bad_id_attribute() -> None:
    with pytest.raises(XMLError, match="Invalid value for attribute 'id' in element 'domain'"):
        DomainDef.from_xml("<domain type='kvm' id='x'><name>a</name></domain>")


def test_billion_laughs_refused() -> None:
    lol = (
        '<?xml version="1.0"?>\n<!DOCTYPE domain [\n <!ENTITY lol "lol">\n'
        + "".join(
            f' <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'
            for i in range(1, 10)
        )
        + "]>\n<domain type='kvm'><name>&lol9;</name></domain>"
    )
    with pytest.raises(XMLError):
        DomainDef.from_xml(lol)


def test_external_entity_refused() -> None:
    xxe = (
        '<?xml version="1.0"?>\n<!DOCTYPE domain [ <!ENTITY x SYSTEM "file:///etc/passwd"> ]>\n'
        "<domain type='kvm'><name>&x;</name></domain>"
    )
    with pytest.raises(XMLError):
        DomainDef.from_xml(xxe)


def test_huge_document_refused() -> None:
    huge = "<domain type='kvm'><name>x</name><description>" + "a" * (11 << 20) + \
        "</description></domain>"
    with pytest.raises(XMLError, match="larger than"):
        DomainDef.from_xml(huge)
