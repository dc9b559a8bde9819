"""libvirt's secret XML (``<secret>``, virSecretDef: src/conf/secret_conf.c)::

    <secret ephemeral='no' private='yes'>
      <uuid>0a81f5b2-8403-7b23-c8d6-21ccc2f80d6f</uuid>
      <description>LUKS passphrase of vm1's disk</description>
      <usage type='volume'><volume>/var/lib/libvirt/images/vm1.qcow2</volume></usage>
    </secret>

Parsing follows virSecretParseXML: ``ephemeral``/``private`` are yes/no, a missing
``<uuid>`` is generated, ``<usage type>`` is one of none/volume/ceph/iscsi/tls/vtpm and
names its object in ``<volume>``, ``<name>`` or ``<target>``; errors have libvirt's codes
and wording. ``to_xml`` writes what virSecretDefFormat writes. The value is never part
of the definition.
"""

from __future__ import annotations

from dataclasses import dataclass

from virtkit.conf.common import new_uuid, parse_uuid
from virtkit.conf.xmlutil import Element, escape_text, parse_xml
from virtkit.constants import SecretUsageType
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error

__all__ = ["USAGE_ELEMENT", "USAGE_NAMES", "SecretDef", "usage_type_name"]

_SEC = ErrorDomain.SECRET

# virSecretUsageType <-> its XML name
USAGE_NAMES: dict[int, str] = {
    SecretUsageType.NONE: "none", SecretUsageType.VOLUME: "volume",
    SecretUsageType.CEPH: "ceph", SecretUsageType.ISCSI: "iscsi",
    SecretUsageType.TLS: "tls", SecretUsageType.VTPM: "vtpm",
}
_BY_NAME = {v: k for k, v in USAGE_NAMES.items()}
# the element naming a usage's object, and libvirt's error when it is missing
USAGE_ELEMENT: dict[int, tuple[str, str]] = {
    SecretUsageType.VOLUME: ("volume", "volume usage specified, but volume path is missing"),
    SecretUsageType.CEPH: ("name", "Ceph usage specified, but name is missing"),
    SecretUsageType.ISCSI: ("target", "iSCSI usage specified, but target is missing"),
    SecretUsageType.TLS: ("name", "TLS usage specified, but name is missing"),
    SecretUsageType.VTPM: ("name", "vTPM usage specified, but name is missing"),
}


def usage_type_name(usage_type: int) -> str:
    """The XML name of a usage type ("volume", ...)."""
    return USAGE_NAMES.get(usage_type, str(usage_type))


def _err(code: int, detail: str) -> VirtError:
    return make_error(code, _SEC, detail)


def _string(el: Element, path: str) -> str | None:
    """virXPathString: the string value of the first match, None when empty or absent."""
    found = el.find(path)
    if found is None:
        return None
    value = "".join(str(t) for t in found.itertext())
    return value or None


def _yesno(el: Element, name: str) -> bool:
    value = el.get(name)
    if value is None or value == "":
        return False
    if value not in ("yes", "no"):
        raise _err(ErrorCode.XML_ERROR, f"invalid value of '{name}'")
    return value == "yes"


@dataclass
class SecretDef:
    """A secret's definition (never its value)."""

    uuid: str
    ephemeral: bool = False
    private: bool = False
    description: str | None = None
    usage_type: int = SecretUsageType.NONE
    usage_id: str = ""

    @classmethod
    def from_xml(cls, xml: str | bytes) -> SecretDef:
        """Parse a ``<secret>`` document as virSecretDefParse does."""
        root = parse_xml(xml, "definition_of_secret", _SEC)
        if root.tag != "secret":
            local = str(root.tag).rsplit("}", 1)[-1]
            raise make_error(ErrorCode.XML_ERROR, ErrorDomain.XML,  # virXMLParse's domain
                             f"expecting root element of 'secret', not '{local}'")
        ephemeral = _yesno(root, "ephemeral")
        private = _yesno(root, "private")
        uuid_text = _string(root, "uuid")
        if uuid_text is None:
            uuid = new_uuid()
        else:
            parsed = parse_uuid(uuid_text)
            if parsed is None:
                raise _err(ErrorCode.INTERNAL_ERROR, "malformed uuid element")
            uuid = parsed
        d = cls(uuid=uuid, ephemeral=ephemeral, private=private,
                description=_string(root, "description"))
        usage = root.find("usage")
        if usage is not None:
            d.usage_type, d.usage_id = _parse_usage(usage)
        return d

    def to_xml(self) -> str:
        """virSecretDefFormat's document."""
        yn = {True: "yes", False: "no"}
        out = [f"<secret ephemeral='{yn[self.ephemeral]}' private='{yn[self.private]}'>",
               f"  <uuid>{self.uuid}</uuid>"]
        if self.description is not None:
            out.append(f"  <description>{escape_text(self.description)}</description>")
        if self.usage_type != SecretUsageType.NONE:
            tag = USAGE_ELEMENT[self.usage_type][0]
            out += [f"  <usage type='{USAGE_NAMES[self.usage_type]}'>",
                    f"    <{tag}>{escape_text(self.usage_id)}</{tag}>",
                    "  </usage>"]
        out.append("</secret>")
        return "\n".join(out) + "\n"


def _parse_usage(usage: Element) -> tuple[int, str]:
    """virSecretDefParseUsage: (usage type, usage id)."""
    type_str = usage.get("type")
    if not type_str:
        raise _err(ErrorCode.XML_ERROR, "unknown secret usage type")
    usage_type = _BY_NAME.get(type_str)
    if usage_type is None:
        raise _err(ErrorCode.CONFIG_UNSUPPORTED, f"unknown secret usage type {type_str}")
    if usage_type == SecretUsageType.NONE:
        return usage_type, ""
    tag, missing = USAGE_ELEMENT[usage_type]
    usage_id = _string(usage, tag)
    if usage_id is None:
        raise _err(ErrorCode.INTERNAL_ERROR, missing)
    return usage_type, usage_id
