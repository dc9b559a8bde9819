"""A domain definition's metadata: title, description and namespaced ``<metadata>`` elements.

libvirt's virDomainObjGetMetadata / virDomainDefSetMetadata rules (conf/domain_conf.c), on
any definition with ``title``, ``description`` and ``metadata`` (a raw ``<metadata>``
element); shared by the drivers (the test driver and the QEMU driver). Errors are
reported from VIR_FROM_DOMAIN, as libvirt's domain_conf.c reports them.
"""

from __future__ import annotations

import copy
from typing import Any

from lxml import etree

from virtkit.conf import xmlutil
from virtkit.constants import DomainMetadataType
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error

__all__ = ["check_type", "get_metadata", "set_metadata"]

_DESCRIPTION = int(DomainMetadataType.DESCRIPTION)
_TITLE = int(DomainMetadataType.TITLE)
_ELEMENT = int(DomainMetadataType.ELEMENT)


def _err(code: int, detail: str) -> VirtError:
    return make_error(code, ErrorDomain.DOMAIN, detail)


def check_type(type: int) -> None:
    """The metadata type must be one libvirt knows."""
    if not 0 <= type <= _ELEMENT:
        raise _err(ErrorCode.INVALID_ARG, f"unknown metadata type '{type}'")


def _in_ns(el: Any, uri: str | None) -> bool:
    return isinstance(el.tag, str) and uri is not None and el.tag.startswith("{" + uri + "}")


def _without_ns(el: Any, uri: str) -> Any:
    """A copy of ``el`` with ``uri`` removed from it and its descendants, and the
    namespace declaration gone (virXMLExtractNamespaceXML)."""
    out = copy.deepcopy(el)
    prefix = "{" + uri + "}"
    for node in out.iter():
        if isinstance(node.tag, str) and node.tag.startswith(prefix):
            node.tag = node.tag[len(prefix):]
    etree.cleanup_namespaces(out)
    return out


def get_metadata(defn: Any, type: int, uri: str | None) -> str:
    """The title, the description, or the element in namespace ``uri`` (without it)."""
    check_type(type)
    value: str | None = None
    if type == _DESCRIPTION:
        value = defn.description
    elif type == _TITLE:
        value = defn.title
    elif defn.metadata is not None and uri is not None:
        for child in defn.metadata:
            if _in_ns(child, uri):
                # formatted as libvirt's xmlNodeDump(..., format=1) shows it
                value = etree.tostring(_without_ns(child, uri), encoding="unicode",
                                       with_tail=False, pretty_print=True).rstrip("\n")
                break
    if value is None:
        raise _err(ErrorCode.NO_DOMAIN_METADATA, "Requested metadata element is not present")
    return value


def _inject_ns(el: Any, uri: str, key: str | None) -> Any:
    """virXMLInjectNamespace: ``el`` and its descendants without a namespace go into
    ``uri``, declared with the prefix ``key`` (which must be an XML NCName)."""
    if not key or not _is_ncname(key):
        raise _err(ErrorCode.INTERNAL_ERROR, "failed to validate prefix for a new XML namespace")
    root = etree.Element(f"{{{uri}}}{etree.QName(el).localname}", nsmap={key: uri})
    for k, v in el.attrib.items():
        root.set(k, v)
    root.text = el.text
    for child in el:
        child = copy.deepcopy(child)
        for node in child.iter():
            if isinstance(node.tag, str) and not node.tag.startswith("{"):
                node.tag = f"{{{uri}}}{node.tag}"
        root.append(child)
    return root


def _is_ncname(key: str) -> bool:
    try:
        etree.QName(None, key)
    except ValueError:
        return False
    return ":" not in key


def set_metadata(defn: Any, type: int, metadata: str | None, key: str | None,
                 uri: str | None) -> None:
    """virDomainDefSetMetadata: an empty or missing value removes the title, the
    description, or the elements in ``uri``."""
    check_type(type)
    if type == _DESCRIPTION:
        defn.description = metadata or None
        return
    if type == _TITLE:
        defn.title = metadata or None
        return
    new_el = None
    if metadata:
        parsed = xmlutil.parse_xml(metadata, "metadata_xml", ErrorDomain.DOMAIN)
        new_el = _inject_ns(parsed, uri or "", key)
        if defn.metadata is None:
            defn.metadata = etree.Element("metadata")
    if defn.metadata is not None:
        for child in list(defn.metadata):
            if _in_ns(child, uri or ""):
                defn.metadata.remove(child)
        if new_el is not None:
            defn.metadata.append(new_el)
