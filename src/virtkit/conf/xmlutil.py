"""Safe XML parsing and libvirt-style XML writing.

Parsing never resolves external entities, never touches the network and
bounds the input size. Writing follows libvirt's formatter: two-space
indentation, single-quoted attributes, ``<empty/>`` elements, and libvirt's
escaping (``virBufferEscapeString``). Subtrees kept verbatim (``<metadata>``
children) are written as libxml2's ``xmlNodeDump`` writes them, with double
quotes, which is what libvirt emits for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lxml import etree

from virtkit.errors import ErrorCode, ErrorDomain, XMLError, format_message

if TYPE_CHECKING:
    from collections.abc import Iterable

# libvirt refuses XML documents larger than this (VIR_XML_MAX_SIZE-like bound).
MAX_XML_SIZE = 10 * 1024 * 1024

_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    huge_tree=False,
    remove_comments=True,
    remove_pis=True,
    load_dtd=False,
    dtd_validation=False,
)

Element = etree._Element


def parse_xml(
    text: str | bytes, context: str = "xml", error_domain: int = ErrorDomain.XML
) -> Element:
    """Parse ``text`` into an element tree, raising ``XMLError`` (VIR_ERR_XML_DETAIL).

    The message is libvirt's (``catchXMLError``): ``(context):LINE: reason``,
    then the offending line and a ``---^`` pointer under the column.
    ``error_domain`` is the caller's, as in libvirt (DOMAIN for domain XML).
    """
    data = text.encode("utf-8") if isinstance(text, str) else text
    if len(data) > MAX_XML_SIZE:
        raise XMLError(
            format_message(ErrorCode.XML_ERROR, f"document is larger than {MAX_XML_SIZE} bytes"),
            code=ErrorCode.XML_ERROR,
            domain=error_domain,
        )
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        line = exc.lineno or 1
        reason = str(exc.msg).split(", line ")[0]
        column = exc.offset if isinstance(exc.offset, int) else 0
        where, pointer = _error_context(data, line, column)
        detail = f"({context}):{line}: {reason}\n{where}\n{pointer}"
        raise XMLError(detail, code=ErrorCode.XML_DETAIL, domain=error_domain) from None
    for node in root.iter():
        if isinstance(node, etree._Entity):
            raise XMLError(
                format_message(ErrorCode.XML_ERROR, "entity references are not allowed"),
                code=ErrorCode.XML_ERROR,
                domain=error_domain,
            )
    return root


def _error_context(data: bytes, line: int, column: int) -> tuple[str, str]:
    """The source line at the parser's position and a pointer under the column.

    Mirrors libvirt's scan from libxml2's current input position; an empty
    line prints as ``(null)``, as libvirt's C string formatting does.
    """
    starts = [0]
    for index, byte in enumerate(data):
        if byte == 0x0A:
            starts.append(index + 1)
            if len(starts) > line:
                break
    cur = min(starts[min(line, len(starts)) - 1] + column, len(data))
    buf = data + b"\0"
    while cur > 0 and buf[cur] in b"\r\n":
        cur -= 1
    while cur > 0 and buf[cur] not in b"\r\n":
        cur -= 1
    if buf[cur] in b"\r\n":
        cur += 1
    col = min(starts[min(line, len(starts)) - 1] + column, len(data)) - cur
    end = cur
    while buf[end] not in b"\0\r\n":
        end += 1
    where = data[cur:end].decode("utf-8", "replace")
    pointer = "".join("\t" if ch == "\t" else "-" for ch in where[: max(col, 0)]) + "^"
    return (where or "(null)"), pointer


_ATTR_ESCAPES = str.maketrans(
    {"<": "&lt;", ">": "&gt;", "&": "&amp;", "'": "&apos;", '"': "&quot;", "\n": "&#10;",
     "\r": "&#13;", "\t": "&#9;"}
)
# A raw CR in text would read back as LF (XML end-of-line handling), so unlike libvirt's
# virBufferEscapeString it is written as a character reference: a name survives a restart.
_TEXT_ESCAPES = str.maketrans(
    {"<": "&lt;", ">": "&gt;", "&": "&amp;", "'": "&apos;", '"': "&quot;", "\r": "&#13;"}
)


def escape_attr(value: str) -> str:
    """Escape an attribute value as libvirt's ``virBufferEscapeString`` does."""
    return value.translate(_ATTR_ESCAPES)


def escape_text(value: str) -> str:
    """Escape element text as libvirt's ``virBufferEscapeString`` does (and CR, see above)."""
    return value.translate(_TEXT_ESCAPES)


def start_tag(tag: str, attrs: Iterable[tuple[str, str]]) -> str:
    """``<tag a='1' b='2'`` (without the closing bracket)."""
    parts = [f"<{tag}"]
    for name, value in attrs:
        parts.append(f" {name}='{escape_attr(value)}'")
    return "".join(parts)


def qualified_name(el: Element, tag: str | None = None) -> str:
    """The prefixed name (``qemu:commandline``) of an lxml element or attribute key."""
    name = el.tag if tag is None else tag
    assert isinstance(name, str)
    if name[0] != "{":
        return name
    uri, local = name[1:].split("}", 1)
    for prefix, ns in el.nsmap.items():
        if ns == uri:
            return f"{prefix}:{local}" if prefix else local
    return local


# libxml2's xmlNodeDump escaping (double quotes for attributes).
_DUMP_ATTR = str.maketrans({"<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;",
                            "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"})
_DUMP_TEXT = str.maketrans({"<": "&lt;", ">": "&gt;", "&": "&amp;", "\r": "&#13;"})


def dump_element(el: Element, indent: int, declared: dict[str | None, str] | None = None) -> str:
    """Write a kept-verbatim subtree the way libxml2's formatted dump does.

    Used for ``<metadata>`` children and other foreign-namespace content.
    ``declared`` holds the namespace prefixes already declared by ancestors.
    """
    out: list[str] = []
    _dump(el, indent, declared or {}, out)
    return "".join(out)


def _dump(el: Element, indent: int, declared: dict[str | None, str], out: list[str]) -> None:
    pad = " " * indent
    if not isinstance(el.tag, str):  # comments, PIs: not kept
        return
    name = qualified_name(el)
    attrs: list[str] = []
    scope = dict(declared)
    for prefix, uri in el.nsmap.items():
        if scope.get(prefix) != uri:
            scope[prefix] = uri
            decl = f"xmlns:{prefix}" if prefix else "xmlns"
            attrs.append(f' {decl}="{uri.translate(_DUMP_ATTR)}"')
    for key, value in el.attrib.items():
        attrs.append(f' {qualified_name(el, str(key))}="{str(value).translate(_DUMP_ATTR)}"')
    children = [c for c in el if isinstance(c.tag, str)]
    text = el.text or ""
    if not children:
        if text:
            out.append(f"{pad}<{name}{''.join(attrs)}>{text.translate(_DUMP_TEXT)}</{name}>\n")
        else:
            out.append(f"{pad}<{name}{''.join(attrs)}/>\n")
        return
    mixed = bool(text.strip()) or any((c.tail or "").strip() for c in children)
    if mixed:
        # libxml2 does not re-indent mixed content: write it as it stands.
        inner = etree.tostring(el, encoding="unicode", with_tail=False)
        out.append(pad + inner + "\n")
        return
    out.append(f"{pad}<{name}{''.join(attrs)}>\n")
    for child in children:
        _dump(child, indent + 2, scope, out)
    out.append(f"{pad}</{name}>\n")


def write_raw(el: Element, indent: int, out: list[str]) -> None:
    """Write an unknown element kept from input, in libvirt's own style.

    Unknown elements in libvirt's namespace are written as libvirt writes
    its own (single quotes); foreign-namespace ones as libxml2 dumps them.
    """
    tag = el.tag
    if not isinstance(tag, str):
        return
    if tag[0] == "{":
        out.append(dump_element(el, indent))
        return
    pad = " " * indent
    head = start_tag(tag, ((qualified_name(el, str(k)), str(v)) for k, v in el.attrib.items()))
    children = [c for c in el if isinstance(c.tag, str)]
    text = el.text or ""
    if not children:
        if text.strip():
            out.append(f"{pad}{head}>{escape_text(text)}</{tag}>\n")
        else:
            out.append(f"{pad}{head}/>\n")
        return
    out.append(f"{pad}{head}>\n")
    for child in children:
        write_raw(child, indent + 2, out)
    out.append(f"{pad}</{tag}>\n")
