"""``--xpath`` / ``--wrap`` support of the *dumpxml commands (virshDumpXML)."""

from __future__ import annotations

from virtkit.cli.framework import Ctl


def dump_xml(ctl: Ctl, xml: str, xpath: str | None, wrap: bool) -> bool:
    """Print ``xml``, or the nodes ``xpath`` selects (each on its own, or wrapped in <nodes>)."""
    if xpath is None:
        ctl.print(xml)
        return True
    from lxml import etree

    from virtkit.errors import VirtError

    parser = etree.XMLParser(remove_blank_text=True, resolve_entities=False, no_network=True)
    try:
        root = etree.fromstring(xml.encode(), parser)
        found = root.xpath(xpath)
    except etree.XMLSyntaxError as exc:
        raise VirtError(f"XML error: {exc}", code=27) from None
    except etree.XPathError:
        raise VirtError(f"XPath evaluation failed for '{xpath}'", code=9) from None
    nodes = found if isinstance(found, list) else [found]

    def text(node: object) -> str:
        if isinstance(node, etree._Element):
            return etree.tostring(node, pretty_print=True, encoding="unicode").rstrip("\n")
        return str(node)

    if wrap:
        wrapper = etree.Element("nodes")
        for node in nodes:
            if isinstance(node, etree._Element):
                from copy import deepcopy

                wrapper.append(deepcopy(node))
        ctl.print(text(wrapper) + "\n")
    else:
        for node in nodes:
            ctl.print(text(node) + "\n")
    return True
