"""conf/metadata.py: libvirt's virDomainDefSetMetadata / virDomainObjGetMetadata rules."""

from __future__ import annotations

from typing import Any

import pytest

from virtkit.conf.domain import DomainDef
from virtkit.conf.metadata import get_metadata, set_metadata
from virtkit.constants import DomainMetadataType
from virtkit.errors import ErrorCode, ErrorDomain, VirtError

DESC, TITLE, ELEMENT = (int(DomainMetadataType.DESCRIPTION), int(DomainMetadataType.TITLE),
                        int(DomainMetadataType.ELEMENT))
NS1, NS2 = "http://example.org/one", "http://example.org/two"


def _def() -> Any:
    return DomainDef.from_xml("<domain type='qemu'><name>m</name><memory>1024</memory>"
                              "<os><type>hvm</type></os></domain>")


def test_title_and_description_set_replace_and_remove() -> None:
    d = _def()
    set_metadata(d, TITLE, "A title", None, None)
    set_metadata(d, DESC, "Some words", None, None)
    assert get_metadata(d, TITLE, None) == "A title"
    assert get_metadata(d, DESC, None) == "Some words"
    assert "<title>A title</title>" in d.to_xml()
    set_metadata(d, TITLE, "", None, None)  # empty removes, as libvirt
    set_metadata(d, DESC, None, None, None)
    with pytest.raises(VirtError) as exc:
        get_metadata(d, TITLE, None)
    assert exc.value.code == ErrorCode.NO_DOMAIN_METADATA
    assert exc.value.domain == ErrorDomain.DOMAIN
    assert str(exc.value) == "metadata not found: Requested metadata element is not present"
    assert "<title>" not in d.to_xml() and "<description>" not in d.to_xml()


def test_elements_by_namespace() -> None:
    d = _def()
    set_metadata(d, ELEMENT, "<app><role>db</role></app>", "one", NS1)
    set_metadata(d, ELEMENT, "<x a='1'/>", "two", NS2)
    xml = d.to_xml()
    assert f'<one:app xmlns:one="{NS1}">' in xml and "<one:role>db</one:role>" in xml
    assert f'<two:x xmlns:two="{NS2}" a="1"/>' in xml
    # read back without the namespace, formatted as libvirt formats it
    assert get_metadata(d, ELEMENT, NS1) == "<app>\n  <role>db</role>\n</app>"
    assert get_metadata(d, ELEMENT, NS2) == '<x a="1"/>'
    set_metadata(d, ELEMENT, "<other/>", "one", NS1)  # replaces the element of NS1 only
    assert get_metadata(d, ELEMENT, NS1) == "<other/>"
    assert get_metadata(d, ELEMENT, NS2) == '<x a="1"/>'
    set_metadata(d, ELEMENT, None, None, NS1)  # removes it
    with pytest.raises(VirtError) as exc:
        get_metadata(d, ELEMENT, NS1)
    assert exc.value.code == ErrorCode.NO_DOMAIN_METADATA
    assert get_metadata(d, ELEMENT, NS2) == '<x a="1"/>'


@pytest.mark.parametrize(("call", "code", "message"), [
    (lambda d: set_metadata(d, 3, "x", None, None), ErrorCode.INVALID_ARG,
     "invalid argument: unknown metadata type '3'"),
    (lambda d: get_metadata(d, -1, None), ErrorCode.INVALID_ARG,
     "invalid argument: unknown metadata type '-1'"),
    (lambda d: set_metadata(d, ELEMENT, "<a/>", "1bad", NS1), ErrorCode.INTERNAL_ERROR,
     "internal error: failed to validate prefix for a new XML namespace"),
    (lambda d: get_metadata(d, ELEMENT, NS1), ErrorCode.NO_DOMAIN_METADATA,
     "metadata not found: Requested metadata element is not present"),
])
def test_errors(call: Any, code: int, message: str) -> None:
    with pytest.raises(VirtError) as exc:
        call(_def())
    assert exc.value.code == code
    assert exc.value.domain == ErrorDomain.DOMAIN
    assert str(exc.value) == message


def test_bad_xml_is_reported_from_the_domain_module() -> None:
    with pytest.raises(VirtError) as exc:
        set_metadata(_def(), ELEMENT, "<a>", "k", NS1)
    assert exc.value.code == ErrorCode.XML_DETAIL
    assert exc.value.domain == ErrorDomain.DOMAIN
    assert str(exc.value).startswith("(metadata_xml):1: Premature end of data in tag a")
