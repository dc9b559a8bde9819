"""The declarative XML model framework: reading, writing, keeping unknown content."""

from __future__ import annotations

import pytest

from virtkit.conf.model import (
    INT,
    UINT,
    YESNO,
    XmlModel,
    attr,
    child,
    children,
    enum_conv,
    flag,
    model,
    raw,
    text,
    text_child,
    text_children,
)
from virtkit.errors import ErrorCode, XMLError


@model("target")
class _Target(XmlModel):
    dev: str | None = attr()
    bus: str | None = attr()


@model("size")
class _Size(XmlModel):
    unit: str | None = attr()
    value: int | None = text(UINT)


@model("thing")
class _Thing(XmlModel):
    type: str | None = attr(conv=enum_conv("file", "block"))
    index: int | None = attr(conv=INT)
    managed: bool | None = attr(conv=YESNO)
    name: str | None = text_child("name")
    size: _Size | None = child("size", _Size)
    targets: list[_Target] = children("target", _Target)
    aliases: list[str] = text_children("alias")
    readonly: bool = flag("readonly")
    metadata: object = raw("metadata")


def test_round_trip_keeps_declared_order_and_values() -> None:
    xml = (
        "<thing type='file' index='3' managed='yes'>\n"
        "  <name>a &amp; b</name>\n"
        "  <size unit='KiB'>1024</size>\n"
        "  <target dev='vda' bus='virtio'/>\n"
        "  <target dev='vdb'/>\n"
        "  <alias>x</alias>\n"
        "  <readonly/>\n"
        "</thing>\n"
    )
    thing = _Thing.from_xml(xml)
    assert thing.type == "file"
    assert thing.index == 3
    assert thing.managed is True
    assert thing.name == "a & b"
    assert thing.size is not None and thing.size.value == 1024
    assert [t.dev for t in thing.targets] == ["vda", "vdb"]
    assert thing.aliases == ["x"]
    assert thing.readonly is True
    assert thing.to_xml() == xml


def test_canonical_order_is_the_declaration_order() -> None:
    xml = "<thing><readonly/><target dev='a'/><name>n</name></thing>"
    assert _Thing.from_xml(xml).to_xml() == (
        "<thing>\n  <name>n</name>\n  <target dev='a'/>\n  <readonly/>\n</thing>\n"
    )


def test_unknown_content_is_kept_in_place() -> None:
    xml = (
        "<thing type='block' extra='1'>\n"
        "  <first a='1'/>\n"
        "  <name>n</name>\n"
        "  <mystery>\n"
        "    <deep x='&apos;'/>\n"
        "  </mystery>\n"
        "  <target dev='a'/>\n"
        "</thing>\n"
    )
    thing = _Thing.from_xml(xml)
    assert thing.to_xml() == xml
    assert sorted(thing.unknown_paths()) == ["/thing/@extra", "/thing/first", "/thing/mystery"]


def test_foreign_namespace_kept_with_declarations() -> None:
    xml = (
        "<thing>\n"
        "  <metadata>\n"
        '    <app:info xmlns:app="urn:app">\n'
        '      <app:item k="v"/>\n'
        "    </app:info>\n"
        "  </metadata>\n"
        "</thing>\n"
    )
    assert _Thing.from_xml(xml).to_xml() == xml


def test_modifying_a_field_changes_output() -> None:
    thing = _Thing.from_xml("<thing><name>a</name></thing>")
    thing.name = "b"
    thing.readonly = True
    assert thing.to_xml() == "<thing>\n  <name>b</name>\n  <readonly/>\n</thing>\n"


def test_copy_is_deep() -> None:
    thing = _Thing.from_xml("<thing><target dev='a'/><odd/></thing>")
    dup = thing.copy()
    dup.targets[0].dev = "b"
    assert thing.targets[0].dev == "a"
    assert dup.to_xml().count("<odd/>") == 1


@pytest.mark.parametrize(
    ("xml", "fragment"),
    [
        ("<thing index='abc'/>", "Invalid value for attribute 'index' in element 'thing': 'abc'"),
        ("<thing type='tape'/>", "Invalid value for attribute 'type' in element 'thing': 'tape'"),
        ("<thing managed='maybe'/>", "'managed'"),
        ("<thing><size>-5</size></thing>", "invalid value '-5' in element 'size'"),
    ],
)
def test_bad_values_are_xml_errors(xml: str, fragment: str) -> None:
    with pytest.raises(XMLError) as info:
        _Thing.from_xml(xml)
    assert info.value.code == ErrorCode.XML_ERROR
    assert fragment in info.value.message


def test_wrong_root_element() -> None:
    with pytest.raises(XMLError, match="expecting root element of 'thing', not 'other'"):
        _Thing.from_xml("<other/>")
