"""Declarative XML models: typed dataclasses that read and write libvirt XML.

A model is a dataclass whose fields declare how they map to XML, in the
order libvirt formats them::

    @model("target")
    class DiskTarget(XmlModel):
        dev: str | None = attr()
        bus: str | None = attr()

    @model("disk")
    class Disk(XmlModel):
        type: str | None = attr()
        device: str | None = attr()
        target: DiskTarget | None = child("target", DiskTarget)
        readonly: bool = flag("readonly")

``Disk.from_xml(text)`` / ``disk.to_xml()`` then round-trip. Nothing the
user wrote is dropped: attributes and child elements a model does not
declare are kept (``unknown_attrs``, ``unknown_children``) and written back
at the place they had, right after the declared sibling that preceded them.
A driver that cannot honour them refuses with VIR_ERR_CONFIG_UNSUPPORTED
(see ``XmlModel.unknown_paths``).
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Self, TypeVar

from virtkit.conf.xmlutil import (
    Element,
    escape_text,
    parse_xml,
    start_tag,
    write_raw,
)
from virtkit.errors import ErrorCode, ErrorDomain, XMLError, format_message

T = TypeVar("T")
M = TypeVar("M", bound="XmlModel")

_SPEC = "virtkit.xml"


# ----------------------------------------------------------------------------- converters


@dataclass(frozen=True, slots=True)
class Conv(Generic[T]):
    """How a value is read from and written to an XML string."""

    parse: Callable[[str], T]
    format: Callable[[T], str]
    expected: str = ""


def _parse_int(s: str) -> int:
    s = s.strip()
    if s[:2].lower() == "0x":
        return int(s, 16)
    return int(s, 10)


def _parse_uint(s: str) -> int:
    v = _parse_int(s)
    if v < 0:
        raise ValueError(s)
    return v


def _parse_yesno(s: str) -> bool:
    if s == "yes":
        return True
    if s == "no":
        return False
    raise ValueError(s)


def _parse_onoff(s: str) -> bool:
    if s == "on":
        return True
    if s == "off":
        return False
    raise ValueError(s)


STR: Conv[str] = Conv(str, str)
INT: Conv[int] = Conv(_parse_int, str, "integer value")
UINT: Conv[int] = Conv(_parse_uint, str, "non-negative integer value")
YESNO: Conv[bool] = Conv(_parse_yesno, lambda b: "yes" if b else "no", "'yes' or 'no'")
ONOFF: Conv[bool] = Conv(_parse_onoff, lambda b: "on" if b else "off", "'on' or 'off'")


def enum_conv(*values: str) -> Conv[str]:
    """A string restricted to ``values`` (libvirt's enum attributes)."""
    allowed = frozenset(values)

    def parse(s: str) -> str:
        if s not in allowed:
            raise ValueError(s)
        return s

    return Conv(parse, str, "one of " + ", ".join(f"'{v}'" for v in values))


# ----------------------------------------------------------------------------- field specs


@dataclass(frozen=True, slots=True)
class Spec:
    """How one dataclass field maps to XML."""

    kind: str  # attr | text | child | children | text_child | text_children | flag | raw | raws
    xml: str | None = None  # attribute name or child tag
    conv: Conv[Any] = STR
    cls: type[XmlModel] | None = None
    # For text_child: also read an attribute-less ``<tag/>`` as the empty string.
    keep_empty: bool = False


def attr(xml: str | None = None, conv: Conv[Any] = STR, default: Any = None) -> Any:
    """An attribute of this element (``xml`` defaults to the field name)."""
    return dataclasses.field(default=default, metadata={_SPEC: Spec("attr", xml, conv)})


def text(conv: Conv[Any] = STR, default: Any = None) -> Any:
    """This element's own text content."""
    return dataclasses.field(default=default, metadata={_SPEC: Spec("text", None, conv)})


def child(tag: str, cls: type[XmlModel]) -> Any:
    """A single child element described by model ``cls``."""
    return dataclasses.field(default=None, metadata={_SPEC: Spec("child", tag, cls=cls)})


def children(tag: str, cls: type[XmlModel]) -> Any:
    """Repeated child elements described by model ``cls``, in document order."""
    return dataclasses.field(
        default_factory=list, metadata={_SPEC: Spec("children", tag, cls=cls)}
    )


def text_child(tag: str, conv: Conv[Any] = STR, default: Any = None) -> Any:
    """A child element holding only text: ``<name>web1</name>``."""
    return dataclasses.field(default=default, metadata={_SPEC: Spec("text_child", tag, conv)})


def text_children(tag: str, conv: Conv[Any] = STR) -> Any:
    """Repeated text-only child elements."""
    return dataclasses.field(
        default_factory=list, metadata={_SPEC: Spec("text_children", tag, conv)}
    )


def flag(tag: str) -> Any:
    """An empty child element whose presence is a boolean: ``<readonly/>``."""
    return dataclasses.field(default=False, metadata={_SPEC: Spec("flag", tag)})


def raw(tag: str) -> Any:
    """A child element kept verbatim (``<metadata>``, foreign namespaces)."""
    return dataclasses.field(default=None, metadata={_SPEC: Spec("raw", tag)})


def raws(tag: str) -> Any:
    """Repeated child elements kept verbatim."""
    return dataclasses.field(default_factory=list, metadata={_SPEC: Spec("raws", tag)})


# ----------------------------------------------------------------------------- the base


@dataclass(frozen=True, slots=True)
class _Compiled:
    attrs: dict[str, tuple[str, Conv[Any]]]  # xml name -> (field, conv)
    attr_order: tuple[tuple[str, str, Conv[Any]], ...]  # (field, xml name, conv)
    text: tuple[str, Conv[Any]] | None
    children: dict[str, tuple[str, Spec]]  # tag -> (field, spec)
    child_order: tuple[tuple[str, Spec], ...]  # (field, spec) in declaration order


def _compile(cls: type[XmlModel]) -> _Compiled:
    attrs: dict[str, tuple[str, Conv[Any]]] = {}
    attr_order: list[tuple[str, str, Conv[Any]]] = []
    text_spec: tuple[str, Conv[Any]] | None = None
    kids: dict[str, tuple[str, Spec]] = {}
    kid_order: list[tuple[str, Spec]] = []
    for f in cls._vk_fields:
        spec = f.spec
        if spec is None:
            continue
        if spec.kind == "attr":
            name = spec.xml or f.name
            attrs[name] = (f.name, spec.conv)
            attr_order.append((f.name, name, spec.conv))
        elif spec.kind == "text":
            text_spec = (f.name, spec.conv)
        else:
            tag = spec.xml
            assert tag is not None
            kids[tag] = (f.name, spec)
            kid_order.append((f.name, spec))
    return _Compiled(attrs, tuple(attr_order), text_spec, kids, tuple(kid_order))


@dataclass(frozen=True, slots=True)
class FieldInfo:
    """One declared model field: its default (or factory), its XML spec, and flags."""

    name: str
    default: Any
    factory: Callable[[], Any] | None
    spec: Spec | None
    compare: bool
    repr: bool


_NO_DEFAULT: Any = dataclasses.MISSING


def _own_fields(klass: type) -> list[FieldInfo]:
    """The fields a class declares itself, collected once and cached on the class.

    Class attributes that were ``dataclasses.field(...)`` objects are replaced
    by their plain default (or removed when they have a factory), as
    ``@dataclass`` would do.
    """
    cached = klass.__dict__.get("_vk_own_fields")
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    own: list[FieldInfo] = []
    # Own annotations only (get_annotations does not look at base classes).
    for name, annotation in inspect.get_annotations(klass).items():
        if "ClassVar" in str(annotation):
            continue
        value = klass.__dict__.get(name, _NO_DEFAULT)
        if isinstance(value, dataclasses.Field):
            factory = (
                None if value.default_factory is dataclasses.MISSING else value.default_factory
            )
            own.append(FieldInfo(name, value.default, factory, value.metadata.get(_SPEC),
                                 value.compare, value.repr))
            if factory is not None or value.default is dataclasses.MISSING:
                delattr(klass, name)
            else:
                setattr(klass, name, value.default)
        else:
            own.append(FieldInfo(name, value, None, None, True, True))
    klass._vk_own_fields = own  # type: ignore[attr-defined]
    return own


def _collect_fields(cls: type) -> tuple[FieldInfo, ...]:
    merged: dict[str, FieldInfo] = {}
    for klass in reversed(cls.__mro__):
        if klass is object:
            continue
        for info in _own_fields(klass):
            merged.pop(info.name, None)
            merged[info.name] = info
    # Keyword-only bookkeeping fields of the base (unknown_*) go last, as before.
    base = [
        merged.pop(n) for n in ("unknown_attrs", "unknown_children", "namespaces") if n in merged
    ]
    return (*merged.values(), *base)


def model(tag: str) -> Callable[[type[M]], type[M]]:
    """Class decorator: make ``cls`` the model of the element ``tag``.

    Models get one generic keyword ``__init__``, ``__eq__`` and ``__repr__``
    driven by the collected field list, instead of per-class generated code:
    importing several hundred models must stay cheap for a CLI process.
    """

    def wrap(cls: type[M]) -> type[M]:
        fields = _collect_fields(cls)
        cls._vk_fields = fields
        cls._vk_defaults = {
            f.name: f.default for f in fields if f.factory is None and f.default is not _NO_DEFAULT
        }
        cls._vk_required = frozenset(
            f.name for f in fields if f.factory is None and f.default is _NO_DEFAULT
        )
        cls._vk_factories = tuple((f.name, f.factory) for f in fields if f.factory is not None)
        cls._vk_names = frozenset(f.name for f in fields)
        cls._vk_compare = tuple(f.name for f in fields if f.compare)
        cls._vk_repr = tuple(f.name for f in fields if f.repr)
        cls._vk_post_init = cls.__post_init__ is not XmlModel.__post_init__
        cls.TAG = tag
        cls._compiled = _compile(cls)
        return cls

    return wrap


def invalid_value(element: str, attribute: str, value: str, expected: str) -> XMLError:
    """libvirt's message for an attribute value it cannot parse."""
    detail = f"Invalid value for attribute '{attribute}' in element '{element}': '{value}'."
    if expected:
        detail += f" Expected {expected}"
    return XMLError(
        format_message(ErrorCode.XML_ERROR, detail), code=ErrorCode.XML_ERROR,
        domain=ErrorDomain.XML,
    )


class XmlModel:
    """Base of every XML model. Subclasses use the ``@model(tag)`` decorator."""

    TAG: ClassVar[str] = ""
    # The context name libvirt gives parse errors for this document type.
    XML_CONTEXT: ClassVar[str] = "xml"
    # The error domain libvirt reports this document's parse errors under.
    ERROR_DOMAIN: ClassVar[int] = ErrorDomain.XML
    _compiled: ClassVar[_Compiled]
    _vk_fields: ClassVar[tuple[FieldInfo, ...]] = ()
    _vk_defaults: ClassVar[dict[str, Any]] = {}
    _vk_required: ClassVar[frozenset[str]] = frozenset()
    _vk_factories: ClassVar[tuple[tuple[str, Callable[[], Any]], ...]] = ()
    _vk_names: ClassVar[frozenset[str]] = frozenset()
    _vk_compare: ClassVar[tuple[str, ...]] = ()
    _vk_repr: ClassVar[tuple[str, ...]] = ()
    _vk_post_init: ClassVar[bool] = False

    unknown_attrs: list[tuple[str, str]] = dataclasses.field(
        default_factory=list, repr=False, compare=False, kw_only=True
    )
    # (field after which the element stood, or None for "first"), element
    unknown_children: list[tuple[str | None, Element]] = dataclasses.field(
        default_factory=list, repr=False, compare=False, kw_only=True
    )
    # Namespace declarations made on this element: (prefix, uri)
    namespaces: list[tuple[str | None, str]] = dataclasses.field(
        default_factory=list, repr=False, compare=False, kw_only=True
    )

    def __init__(self, **values: Any) -> None:
        cls = type(self)
        state = self.__dict__
        state.update(cls._vk_defaults)
        for name, factory in cls._vk_factories:
            state[name] = factory()
        if values:
            unknown = values.keys() - cls._vk_names
            if unknown:
                raise TypeError(f"{cls.__name__}() got unexpected fields: {sorted(unknown)}")
            state.update(values)
        missing = cls._vk_required - state.keys()
        if missing:
            raise TypeError(f"{cls.__name__}() missing fields: {sorted(missing)}")
        if cls._vk_post_init:
            self.__post_init__()

    def __post_init__(self) -> None:
        """Hook run at the end of ``__init__`` (as a dataclass's would)."""

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        mine, theirs = self.__dict__, other.__dict__
        return all(mine.get(n) == theirs.get(n) for n in self._vk_compare)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={self.__dict__.get(n)!r}" for n in self._vk_repr)
        return f"{type(self).__name__}({inner})"

    # ------------------------------------------------------------------ reading

    @classmethod
    def from_xml(cls, xml: str | bytes) -> Self:
        """Parse a document whose root element is this model's element."""
        root = parse_xml(xml, cls.XML_CONTEXT, cls.ERROR_DOMAIN)
        if root.tag != cls.TAG:
            # virXMLParse's wording; like libvirt it names the local name only.
            local = str(root.tag).rsplit("}", 1)[-1]
            raise XMLError(
                format_message(
                    ErrorCode.XML_ERROR,
                    f"expecting root element of '{cls.TAG}', not '{local}'",
                ),
                code=ErrorCode.XML_ERROR,
                domain=ErrorDomain.XML,
            )
        return cls.from_element(root)

    @classmethod
    def from_element(cls, el: Element) -> Self:
        """Build the model from a parsed element."""
        comp = cls._compiled
        kw: dict[str, Any] = {}
        unknown_attrs: list[tuple[str, str]] = []
        tag = cls.TAG
        for bkey, bvalue in el.attrib.items():
            key = str(bkey)
            value = str(bvalue)
            entry = comp.attrs.get(key)
            if entry is None:
                unknown_attrs.append((key, value))
                continue
            fname, conv = entry
            try:
                kw[fname] = conv.parse(value)
            except ValueError:
                raise invalid_value(tag, key, value, conv.expected) from None
        if comp.text is not None:
            content = el.text
            if content is not None and (content.strip() or comp.text[1] is STR):
                fname, conv = comp.text
                try:
                    kw[fname] = conv.parse(content.strip() if conv is not STR else content)
                except ValueError:
                    raise XMLError(
                        format_message(
                            ErrorCode.XML_ERROR, f"invalid value '{content}' in element '{tag}'"
                        ),
                        code=ErrorCode.XML_ERROR, domain=ErrorDomain.XML,
                    ) from None
        unknown_children: list[tuple[str | None, Element]] = []
        anchor: str | None = None
        for c in el:
            ctag = c.tag
            if not isinstance(ctag, str):
                continue
            entry2 = comp.children.get(ctag)
            if entry2 is None:
                unknown_children.append((anchor, c))
                continue
            fname, spec = entry2
            anchor = fname
            kind = spec.kind
            if fname in kw and kind in ("child", "text_child"):
                continue  # libvirt reads the first of repeated elements (./name[1])
            if kind == "child":
                assert spec.cls is not None
                kw[fname] = spec.cls.from_element(c)
            elif kind == "children":
                assert spec.cls is not None
                kw.setdefault(fname, []).append(spec.cls.from_element(c))
            elif kind == "text_child":
                kw[fname] = _child_text(c, spec)
            elif kind == "text_children":
                kw.setdefault(fname, []).append(_child_text(c, spec))
            elif kind == "flag":
                kw[fname] = True
            elif kind == "raw":
                kw[fname] = c
            else:  # raws
                kw.setdefault(fname, []).append(c)
        obj = cls(**kw)
        if unknown_attrs:
            obj.unknown_attrs = unknown_attrs
        if unknown_children:
            obj.unknown_children = unknown_children
        parent = el.getparent()
        parent_ns = parent.nsmap if parent is not None else {}
        if el.nsmap != parent_ns:
            obj.namespaces = [(p, u) for p, u in el.nsmap.items() if parent_ns.get(p) != u]
        obj.post_parse()
        return obj

    def post_parse(self) -> None:
        """Hook: normalise or validate after parsing (libvirt's post-parse)."""

    # ------------------------------------------------------------------ writing

    def to_xml(self) -> str:
        """Format as libvirt does (two-space indent, single quotes, newline at the end)."""
        out: list[str] = []
        self.write(out, 0)
        return "".join(out)

    def xml_attrs(self) -> list[tuple[str, str]]:
        """The attributes to write, in libvirt's order. Override for context-dependent output."""
        result: list[tuple[str, str]] = []
        for fname, xname, conv in self._compiled.attr_order:
            value = getattr(self, fname)
            if value is not None:
                result.append((xname, conv.format(value)))
        for prefix, uri in self.namespaces:
            result.append((f"xmlns:{prefix}" if prefix else "xmlns", uri))
        result.extend(self.unknown_attrs)
        return result

    def is_empty(self) -> bool:
        """Whether writing this element would produce nothing worth keeping (override)."""
        return False

    def write(self, out: list[str], indent: int, tag: str | None = None) -> None:
        """Append this element's lines to ``out``."""
        name = tag or self.TAG
        pad = " " * indent
        head = start_tag(name, self.xml_attrs())
        body: list[str] = []
        self.write_children(body, indent + 2)
        comp = self._compiled
        content = None
        if comp.text is not None:
            value = getattr(self, comp.text[0])
            if value is not None:
                content = comp.text[1].format(value)
        if body:
            out.append(f"{pad}{head}>\n")
            out.extend(body)
            out.append(f"{pad}</{name}>\n")
        elif content is not None:
            out.append(f"{pad}{head}>{escape_text(content)}</{name}>\n")
        else:
            out.append(f"{pad}{head}/>\n")

    def write_children(self, out: list[str], indent: int) -> None:
        """Append the child elements, in declaration order, unknown ones in place."""
        unknown = self.unknown_children
        if unknown:
            for anchor, el in unknown:
                if anchor is None:
                    write_raw(el, indent, out)
        for fname, spec in self._compiled.child_order:
            value = getattr(self, fname)
            self.write_field(out, indent, fname, spec, value)
            if unknown:
                for anchor, el in unknown:
                    if anchor == fname:
                        write_raw(el, indent, out)

    def write_field(self, out: list[str], indent: int, fname: str, spec: Spec, value: Any) -> None:
        """Write one declared child field (override to special-case a field)."""
        kind = spec.kind
        tag = spec.xml
        assert tag is not None
        if value is None:
            return
        if kind == "child":
            value.write(out, indent, tag)
        elif kind == "children":
            for item in value:
                item.write(out, indent, tag)
        elif kind == "text_child":
            _write_text_child(out, indent, tag, spec.conv.format(value))
        elif kind == "text_children":
            for item in value:
                _write_text_child(out, indent, tag, spec.conv.format(item))
        elif kind == "flag":
            if value:
                out.append(f"{' ' * indent}<{tag}/>\n")
        elif kind == "raw":
            write_raw(value, indent, out)
        else:
            for item in value:
                write_raw(item, indent, out)

    # ------------------------------------------------------------------ helpers

    def copy(self) -> Self:
        """A deep copy (kept elements included)."""
        return copy.deepcopy(self)

    def unknown_paths(self, prefix: str = "") -> list[str]:
        """XPath-like names of every element and attribute this model did not understand."""
        here = f"{prefix}/{self.TAG}" if self.TAG else prefix
        found = [f"{here}/@{name}" for name, _ in self.unknown_attrs]
        found += [f"{here}/{el.tag}" for _, el in self.unknown_children]
        for fname, spec in self._compiled.child_order:
            if spec.kind not in ("child", "children"):
                continue
            value = getattr(self, fname)
            items = value if isinstance(value, list) else [value] if value is not None else []
            for item in items:
                found += item.unknown_paths(here)
        return found


def _child_text(el: Element, spec: Spec) -> Any:
    content = el.text or ""
    try:
        return spec.conv.parse(content if spec.conv is STR else content.strip())
    except ValueError:
        raise XMLError(
            format_message(
                ErrorCode.XML_ERROR, f"invalid value '{content}' in element '{el.tag}'"
            ),
            code=ErrorCode.XML_ERROR, domain=ErrorDomain.XML,
        ) from None


def _write_text_child(out: list[str], indent: int, tag: str, value: str) -> None:
    pad = " " * indent
    if value == "":
        out.append(f"{pad}<{tag}/>\n")
    else:
        out.append(f"{pad}<{tag}>{escape_text(value)}</{tag}>\n")
