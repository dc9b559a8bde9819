"""The secret XML model (virtkit.conf.secret) against libvirt's secret_conf.c rules."""

from __future__ import annotations

import pytest

from virtkit.conf.secret import SecretDef
from virtkit.constants import SecretUsageType
from virtkit.errors import ErrorCode, ErrorDomain, VirtError

U = "0a81f5b2-8403-7b23-c8d6-21ccc2f80d6f"


@pytest.mark.parametrize(("usage", "kind", "ident"), [
    ("<usage type='volume'><volume>/var/lib/a.qcow2</volume></usage>",
     SecretUsageType.VOLUME, "/var/lib/a.qcow2"),
    ("<usage type='ceph'><name>client.admin secret</name></usage>", SecretUsageType.CEPH,
     "client.admin secret"),
    ("<usage type='iscsi'><target>libvirtiscsi</target></usage>", SecretUsageType.ISCSI,
     "libvirtiscsi"),
    ("<usage type='tls'><name>tls_example</name></usage>", SecretUsageType.TLS, "tls_example"),
    ("<usage type='vtpm'><name>VTPM_example</name></usage>", SecretUsageType.VTPM,
     "VTPM_example"),
])
def test_every_usage_round_trips(usage: str, kind: int, ident: str) -> None:
    d = SecretDef.from_xml(f"<secret ephemeral='yes' private='no'><uuid>{U}</uuid>"
                           f"<description>x &lt; y</description>{usage}</secret>")
    assert (d.uuid, d.ephemeral, d.private, d.usage_type, d.usage_id) == (U, True, False, kind,
                                                                            ident)
    assert d.description == "x < y"
    again = SecretDef.from_xml(d.to_xml())
    assert again == d
    assert d.to_xml().startswith("<secret ephemeral='yes' private='no'>\n  <uuid>")


def test_defaults_and_formatting_as_libvirt() -> None:
    d = SecretDef.from_xml("<secret/>")
    assert not d.ephemeral and not d.private and d.usage_type == SecretUsageType.NONE
    assert d.to_xml() == (f"<secret ephemeral='no' private='no'>\n  <uuid>{d.uuid}</uuid>\n"
                          "</secret>\n")
    # a UUID in any spelling virUUIDParse reads comes out canonical
    spaced = SecretDef.from_xml(f"<secret><uuid> {U.upper().replace('-', '')} </uuid></secret>")
    assert spaced.uuid == U
    # <usage type='none'> is accepted and not written
    assert "usage" not in SecretDef.from_xml("<secret><usage type='none'/></secret>").to_xml()


@pytest.mark.parametrize(("xml", "code", "domain", "message"), [
    ("<domain/>", ErrorCode.XML_ERROR, ErrorDomain.XML,
     "XML error: expecting root element of 'secret', not 'domain'"),
    ("<secret ephemeral='maybe'/>", ErrorCode.XML_ERROR, ErrorDomain.SECRET,
     "XML error: invalid value of 'ephemeral'"),
    ("<secret private='1'/>", ErrorCode.XML_ERROR, ErrorDomain.SECRET,
     "XML error: invalid value of 'private'"),
    ("<secret><uuid>../../etc</uuid></secret>", ErrorCode.INTERNAL_ERROR, ErrorDomain.SECRET,
     "internal error: malformed uuid element"),
    ("<secret><usage/></secret>", ErrorCode.XML_ERROR, ErrorDomain.SECRET,
     "XML error: unknown secret usage type"),
    ("<secret><usage type='disk'/></secret>", ErrorCode.CONFIG_UNSUPPORTED, ErrorDomain.SECRET,
     "unsupported configuration: unknown secret usage type disk"),
    ("<secret><usage type='volume'><volume></volume></usage></secret>",
     ErrorCode.INTERNAL_ERROR, ErrorDomain.SECRET,
     "internal error: volume usage specified, but volume path is missing"),
    ("<secret><usage type='ceph'/></secret>", ErrorCode.INTERNAL_ERROR, ErrorDomain.SECRET,
     "internal error: Ceph usage specified, but name is missing"),
    ("<secret><usage type='iscsi'/></secret>", ErrorCode.INTERNAL_ERROR, ErrorDomain.SECRET,
     "internal error: iSCSI usage specified, but target is missing"),
    ("<secret><usage type='tls'/></secret>", ErrorCode.INTERNAL_ERROR, ErrorDomain.SECRET,
     "internal error: TLS usage specified, but name is missing"),
    ("<secret><usage type='vtpm'/></secret>", ErrorCode.INTERNAL_ERROR, ErrorDomain.SECRET,
     "internal error: vTPM usage specified, but name is missing"),
])
def test_bad_documents_get_libvirts_errors(xml: str, code: int, domain: int,
                                           message: str) -> None:
    with pytest.raises(VirtError) as exc:
        SecretDef.from_xml(xml)
    assert (exc.value.code, exc.value.domain, str(exc.value)) == (code, domain, message)


def test_malformed_and_entity_documents_are_refused() -> None:
    with pytest.raises(VirtError) as exc:
        SecretDef.from_xml("<secret><uuid>")
    assert exc.value.code == ErrorCode.XML_DETAIL
    assert str(exc.value).startswith("(definition_of_secret):1: ")
    with pytest.raises(VirtError) as exc:
        SecretDef.from_xml("<!DOCTYPE s [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>"
                           "<secret><description>&x;</description></secret>")
    assert "root:" not in str(exc.value)
