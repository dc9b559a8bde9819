"""libvirt's ``<domainCapabilities>`` document: a small element tree and its writer.

Drivers build the tree (``Elem``, ``enum``, ``supported``) and ``Elem.format()``
writes it the way libvirt's ``virDomainCapsFormat`` does: two-space indent,
single-quoted attributes, empty elements self-closed, and a feature that is not
supported written without its children (``<mode name='...' supported='no'/>``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from virtkit.conf.xmlutil import escape_text, start_tag

__all__ = ["Elem", "enum", "supported"]


@dataclass
class Elem:
    """One element: tag, attributes in order, text or children."""

    tag: str
    attrs: list[tuple[str, str]] = field(default_factory=list)
    text: str | None = None
    children: list[Elem] = field(default_factory=list)

    def add(self, *children: Elem) -> Elem:
        """Append ``children``; returns self."""
        self.children.extend(children)
        return self

    def format(self, indent: int = 0) -> str:
        """The element as libvirt writes it, with a trailing newline."""
        out: list[str] = []
        self._write(indent, out)
        return "".join(out)

    def _write(self, indent: int, out: list[str]) -> None:
        pad = " " * indent
        head = pad + start_tag(self.tag, self.attrs)
        if self.text is not None:
            out.append(f"{head}>{escape_text(self.text)}</{self.tag}>\n")
        elif not self.children:
            out.append(f"{head}/>\n")
        else:
            out.append(f"{head}>\n")
            for child in self.children:
                child._write(indent + 2, out)
            out.append(f"{pad}</{self.tag}>\n")


def value(text: str) -> Elem:
    """``<value>text</value>``."""
    return Elem("value", text=text)


def enum(name: str, values: Iterable[str]) -> Elem:
    """``<enum name='NAME'>`` with one ``<value>`` per value (self-closed when none)."""
    return Elem("enum", [("name", name)], children=[value(v) for v in values])


def supported(tag: str, ok: bool, children: Iterable[Elem] = (),
              attrs: Iterable[tuple[str, str]] = ()) -> Elem:
    """``<TAG ... supported='yes|no'>``; the children only when supported."""
    return Elem(tag, [*attrs, ("supported", "yes" if ok else "no")],
                children=list(children) if ok else [])
