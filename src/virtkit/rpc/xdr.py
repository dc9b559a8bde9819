"""XDR (RFC 4506) types as data, compiled into fast encoders and decoders.

Types are declared as objects (``Struct("x", [("a", INT), ...])``) and each
one compiles, on first use, into a pair of Python functions generated from its
shape: runs of fixed-size fields become one ``struct`` call, nested structs and
array elements are inlined.  The rpcgen quirks libvirt depends on are
first-class types: ``char``/``u_char``/``short``/``u_short`` take a 4-byte word,
and ``char`` arrays (:class:`CharArray`, :class:`VarCharArray`) take one 4-byte
word per byte.

Python values: integers for every integer kind, ``bool`` for BOOL, ``float``,
``bytes`` for opaque data and char arrays, ``str`` for strings (UTF-8; bytes
that are not UTF-8 survive a round trip through ``surrogateescape``), ``list``
for arrays, ``None`` or the value for :class:`Optional`, ``dict`` for
structs, ``(discriminant, value)`` for unions and ``None`` for VOID.

Decoding never trusts the input: every malformed buffer raises
:class:`XDRError`, and lengths are checked against the declared maxima and the
bytes actually present before anything is allocated.  What the system XDR
library (libtirpc, which libvirtd decodes with) accepts is accepted and read
as it reads it: any non-zero boolean or optional flag is TRUE, a ``char`` or
``short`` keeps the low bits of its word, a string ends at its first NUL, and
padding bytes are not checked.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Any

__all__ = [
    "BOOL",
    "CHAR",
    "DOUBLE",
    "FLOAT",
    "HYPER",
    "INT",
    "SHORT",
    "UHYPER",
    "UINT",
    "UNBOUNDED",
    "U_CHAR",
    "U_SHORT",
    "VOID",
    "CharArray",
    "FixedArray",
    "Opaque",
    "Optional",
    "Primitive",
    "String",
    "Struct",
    "Union",
    "VarArray",
    "VarCharArray",
    "VarOpaque",
    "XDRError",
    "XDRType",
]

UNBOUNDED = 0xFFFFFFFF
"""The maximum rpcgen uses for ``<>`` (no declared bound)."""

Buffer = bytes | bytearray | memoryview
EncodeFn = Callable[[bytearray, Any], None]
DecodeFn = Callable[[Buffer, int], tuple[Any, int]]


class XDRError(ValueError):
    """Malformed XDR data, or a value that cannot be encoded as its type."""


_PAD = (b"", b"\0\0\0", b"\0\0", b"\0")
_U32 = struct.Struct(">I")


def _fail(msg: str) -> XDRError:
    return XDRError(msg)


class _Gen:
    """Accumulates the source of one generated encoder or decoder."""

    def __init__(self, ns: dict[str, Any]) -> None:
        self.lines: list[str] = []
        self.ns = ns
        self.depth = 1
        self._n = 0

    def var(self, prefix: str = "t") -> str:
        self._n += 1
        return f"_{prefix}{self._n}"

    def const(self, obj: object, prefix: str = "k") -> str:
        name = f"_{prefix}{len(self.ns)}"
        self.ns[name] = obj
        return name

    def emit(self, line: str) -> None:
        self.lines.append("    " * self.depth + line)

    def raise_(self, message: str) -> None:
        """Emit a raise, indented under the ``if`` just emitted."""
        self.emit(f"    raise _fail({message!r})")

    def source(self, header: str) -> str:
        return header + "\n" + "\n".join(self.lines) + "\n"


def _base_ns() -> dict[str, Any]:
    return {
        "_fail": _fail,
        "_U32": _U32,
        "_PAD": _PAD,
        "_pack": struct.pack,
        "_unpack_from": struct.unpack_from,
        "_str": str,
        "_bytes": bytes,
        "_len": len,
    }


class XDRType:
    """Base of all XDR types.  ``name`` is for messages; ``min_size`` is the
    smallest encoding in bytes (used to bound counts before allocating)."""

    name: str = "?"
    min_size: int = 0
    #: struct format of a fixed-size type that packs as one ``struct`` item
    fmt: str | None = None
    #: whether gen_enc_check / gen_dec_check emit anything
    enc_checked: bool = False
    dec_checked: bool = False

    _enc_fn: EncodeFn | None = None
    _dec_fn: DecodeFn | None = None

    # --- public API -------------------------------------------------------
    def encode(self, value: Any) -> bytes:
        """Encode ``value``; raises :class:`XDRError` if it does not fit the type."""
        buf = bytearray()
        self.encode_into(buf, value)
        return bytes(buf)

    def encode_into(self, buf: bytearray, value: Any) -> None:
        """Append the encoding of ``value`` to ``buf`` (on error, ``buf`` may
        hold a partial encoding: discard it)."""
        fn = self._enc_fn or self._compile_enc()
        try:
            fn(buf, value)
        except XDRError as e:
            raise XDRError(f"{self.name}: {e}") from None
        except (TypeError, KeyError, ValueError, AttributeError, struct.error,
                OverflowError, IndexError) as e:
            raise XDRError(f"{self.name}: cannot encode value: {type(e).__name__}: {e}") from None

    def decode(self, data: Buffer, *, exact: bool = True) -> Any:
        """Decode one value from ``data``; with ``exact``, trailing bytes are an error."""
        value, pos = self.decode_from(data, 0)
        if exact and pos != len(data):
            raise XDRError(f"{self.name}: {len(data) - pos} trailing bytes after value")
        return value

    def decode_from(self, data: Buffer, pos: int = 0) -> tuple[Any, int]:
        """Decode one value starting at ``pos``; returns it and the end offset."""
        fn = self._dec_fn or self._compile_dec()
        try:
            return fn(data, pos)
        except XDRError as e:
            raise XDRError(f"{self.name}: {e}") from None
        except struct.error:
            raise XDRError(f"{self.name}: truncated data") from None
        except (ValueError, TypeError, IndexError, OverflowError, MemoryError) as e:
            raise XDRError(f"{self.name}: malformed data: {e}") from None

    def compile(self) -> None:
        """Build the encoder and decoder now rather than on first use."""
        if self._enc_fn is None:
            self._compile_enc()
        if self._dec_fn is None:
            self._compile_dec()

    def source(self) -> str:
        """The generated encoder and decoder source (for debugging)."""
        return self._gen_enc_src(_base_ns()) + self._gen_dec_src(_base_ns())

    # --- compilation ------------------------------------------------------
    def _gen_enc_src(self, ns: dict[str, Any]) -> str:
        g = _Gen(ns)
        self.gen_enc(g, "v")
        if not g.lines:
            g.emit("pass")
        return g.source("def _enc(buf, v):")

    def _gen_dec_src(self, ns: dict[str, Any]) -> str:
        g = _Gen(ns)
        g.emit("_end = _len(data)")
        self.gen_dec(g, "r")
        g.emit("return r, pos")
        return g.source("def _dec(data, pos):")

    def _compile_enc(self) -> EncodeFn:
        ns = _base_ns()
        exec(compile(self._gen_enc_src(ns), f"<xdr enc {self.name}>", "exec"), ns)
        fn: EncodeFn = ns["_enc"]
        self._enc_fn = fn
        return fn

    def _compile_dec(self) -> DecodeFn:
        ns = _base_ns()
        exec(compile(self._gen_dec_src(ns), f"<xdr dec {self.name}>", "exec"), ns)
        fn: DecodeFn = ns["_dec"]
        self._dec_fn = fn
        return fn

    # --- code generation hooks (override) --------------------------------
    def gen_enc(self, g: _Gen, expr: str) -> None:
        """Emit code appending the encoding of Python expression ``expr`` to ``buf``."""
        raise NotImplementedError

    def gen_dec(self, g: _Gen, target: str) -> None:
        """Emit code decoding at ``pos`` into variable ``target``, advancing ``pos``."""
        raise NotImplementedError

    # Fixed-size types also support these, used to coalesce runs of fields.
    def gen_enc_check(self, g: _Gen, var: str) -> str:
        """Emit checks on ``var`` before packing; return the expression to pack."""
        return var

    def gen_dec_check(self, g: _Gen, var: str) -> None:
        """Emit checks/conversion of unpacked ``var`` (reassigning it if needed)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


def _gen_fixed_run(g: _Gen, items: Sequence[tuple[XDRType, str]], encode: bool) -> list[str]:
    """Encode or decode a run of fixed-format items with one ``struct`` call.

    For encoding, ``items`` are (type, value expression); for decoding,
    (type, target variable)."""
    fmt = ">" + "".join(t.fmt or "" for t, _ in items)
    st = g.const(struct.Struct(fmt), "S")
    if encode:
        args = []
        for t, expr in items:
            if not t.enc_checked:
                args.append(expr)
            else:
                v = g.var("e")
                g.emit(f"{v} = {expr}")
                args.append(t.gen_enc_check(g, v))
        g.emit(f"buf += {st}.pack({', '.join(args)})")
        return []
    targets = [tgt for _, tgt in items]
    g.emit(f"{', '.join(targets)}, = {st}.unpack_from(data, pos)")
    g.emit(f"pos += {struct.calcsize(fmt)}")
    for t, tgt in items:
        t.gen_dec_check(g, tgt)
    return targets


class Primitive(XDRType):
    """A fixed-size scalar packed with one struct format character."""

    def __init__(self, name: str, fmt: str, size: int,
                 lo: int | None = None, hi: int | None = None) -> None:
        self.name = name
        self.fmt = fmt
        self.min_size = size
        self.lo, self.hi = lo, hi
        self.enc_checked = lo is not None
        # a narrow type (range given) decodes as C's cast of the 4-byte word
        self.dec_checked = lo is not None

    def gen_enc(self, g: _Gen, expr: str) -> None:
        _gen_fixed_run(g, [(self, expr)], True)

    def gen_dec(self, g: _Gen, target: str) -> None:
        _gen_fixed_run(g, [(self, target)], False)

    def gen_enc_check(self, g: _Gen, var: str) -> str:
        if self.lo is None:
            return var
        g.emit(f"if not {self.lo} <= {var} <= {self.hi}:")
        g.emit(f"    raise _fail('{self.name} value %r out of range' % ({var},))")
        return var

    def gen_dec_check(self, g: _Gen, var: str) -> None:
        if self.lo is None or self.hi is None:
            return
        # xdr_char / xdr_u_short ...: the word, cast to the narrow C type
        mask = self.hi - self.lo
        if self.lo < 0:
            g.emit(f"{var} = (({var} & {mask}) ^ {-self.lo}) - {-self.lo}")
        else:
            g.emit(f"{var} &= {mask}")


class _Bool(Primitive):
    def __init__(self) -> None:
        super().__init__("bool", "I", 4)
        self.enc_checked = self.dec_checked = True

    def gen_enc_check(self, g: _Gen, var: str) -> str:
        return f"(1 if {var} else 0)"

    def gen_dec_check(self, g: _Gen, var: str) -> None:
        # xdr_bool: any non-zero word is TRUE
        g.emit(f"{var} = {var} != 0")


class _Void(XDRType):
    name = "void"

    def gen_enc(self, g: _Gen, expr: str) -> None:
        g.emit(f"if {expr} is not None:")
        g.emit("    raise _fail('void takes None')")

    def gen_dec(self, g: _Gen, target: str) -> None:
        g.emit(f"{target} = None")


INT = Primitive("int", "i", 4)
UINT = Primitive("unsigned int", "I", 4)
HYPER = Primitive("hyper", "q", 8)
UHYPER = Primitive("unsigned hyper", "Q", 8)
FLOAT = Primitive("float", "f", 4)
DOUBLE = Primitive("double", "d", 8)
BOOL: XDRType = _Bool()
VOID: XDRType = _Void()
# rpcgen widens these to a 4-byte word each.
CHAR = Primitive("char", "i", 4, -128, 127)
U_CHAR = Primitive("unsigned char", "I", 4, 0, 255)
SHORT = Primitive("short", "i", 4, -32768, 32767)
U_SHORT = Primitive("unsigned short", "I", 4, 0, 65535)


class Opaque(XDRType):
    """``opaque x[N]``: exactly N raw bytes, zero-padded to a multiple of 4."""

    def __init__(self, size: int, name: str | None = None) -> None:
        self.size = size
        self.name = name or f"opaque[{size}]"
        pad = -size & 3
        self.fmt = f"{size}s" + (f"{pad}x" if pad else "")
        self.min_size = size + pad
        self.enc_checked = True

    def gen_enc(self, g: _Gen, expr: str) -> None:
        _gen_fixed_run(g, [(self, expr)], True)

    def gen_dec(self, g: _Gen, target: str) -> None:
        _gen_fixed_run(g, [(self, target)], False)

    def gen_enc_check(self, g: _Gen, var: str) -> str:
        g.emit(f"if _len({var}) != {self.size}:")
        g.emit(f"    raise _fail('{self.name} needs exactly {self.size} bytes, got %d'"
               f" % _len({var}))")
        return var


def _gen_count(g: _Gen, what: str, maximum: int, unit: int) -> str:
    """Emit decoding of a u32 count bounded by ``maximum`` and by the bytes
    left (each item taking at least ``unit`` bytes); return its variable."""
    n = g.var("n")
    g.emit(f"{n}, = _U32.unpack_from(data, pos)")
    g.emit("pos += 4")
    if maximum < UNBOUNDED:
        g.emit(f"if {n} > {maximum}:")
        g.emit(f"    raise _fail('{what} length %d exceeds maximum {maximum}' % {n})")
    if unit:
        g.emit(f"if {n}{f' * {unit}' if unit > 1 else ''} > _end - pos:")
        g.emit(f"    raise _fail('{what} length %d exceeds the %d bytes left' % ({n}, _end - pos))")
    return n


class String(XDRType):
    """``string x<max>``: u32 length, UTF-8 bytes, padding.  NUL is refused when
    encoding; decoding ends the string at its first NUL, as a C peer reads it."""

    min_size = 4

    def __init__(self, maximum: int = UNBOUNDED, name: str | None = None) -> None:
        self.max = maximum
        self.name = name or f"string<{maximum}>"

    def gen_enc(self, g: _Gen, expr: str) -> None:
        b, n = g.var("b"), g.var("n")
        g.emit(f"{b} = {expr}.encode('utf-8', 'surrogateescape')")
        g.emit(f"{n} = _len({b})")
        if self.max < UNBOUNDED:
            g.emit(f"if {n} > {self.max}:")
            g.emit(f"    raise _fail('string of %d bytes exceeds maximum {self.max}' % {n})")
        g.emit(f"if b'\\0' in {b}:")
        g.raise_("string contains NUL")
        g.emit(f"buf += _U32.pack({n})")
        g.emit(f"buf += {b}")
        g.emit(f"buf += _PAD[{n} & 3]")

    def gen_dec(self, g: _Gen, target: str) -> None:
        n = _gen_count(g, "string", self.max, 1)
        g.emit(f"{target} = _str(data[pos:pos + {n}], 'utf-8', 'surrogateescape')")
        g.emit(f"if '\\0' in {target}:")
        g.emit(f"    {target} = {target}[:{target}.index('\\0')]")
        g.emit(f"pos += {n} + (-{n} & 3)")
        g.emit("if pos > _end:")
        g.raise_("truncated padding")


class VarOpaque(XDRType):
    """``opaque x<max>``: u32 length, raw bytes, padding."""

    min_size = 4

    def __init__(self, maximum: int = UNBOUNDED, name: str | None = None) -> None:
        self.max = maximum
        self.name = name or f"opaque<{maximum}>"

    def gen_enc(self, g: _Gen, expr: str) -> None:
        b, n = g.var("b"), g.var("n")
        g.emit(f"{b} = {expr}")
        g.emit(f"if not isinstance({b}, (bytes, bytearray, memoryview)):")
        g.emit(f"    raise _fail('opaque needs bytes, got %s' % type({b}).__name__)")
        g.emit(f"{n} = _len({b})")
        if self.max < UNBOUNDED:
            g.emit(f"if {n} > {self.max}:")
            g.emit(f"    raise _fail('opaque of %d bytes exceeds maximum {self.max}' % {n})")
        g.emit(f"buf += _U32.pack({n})")
        g.emit(f"buf += {b}")
        g.emit(f"buf += _PAD[{n} & 3]")

    def gen_dec(self, g: _Gen, target: str) -> None:
        n = _gen_count(g, "opaque", self.max, 1)
        g.emit(f"{target} = _bytes(data[pos:pos + {n}])")
        g.emit(f"pos += {n} + (-{n} & 3)")
        g.emit("if pos > _end:")
        g.raise_("truncated padding")


def _to_words(g: _Gen, expr: str) -> str:
    """Emit conversion of a bytes-like value to signed-char words."""
    w = g.var("w")
    g.emit(f"if not isinstance({expr}, (bytes, bytearray)):")
    g.emit(f"    raise _fail('char array needs bytes, got %s' % type({expr}).__name__)")
    g.emit(f"{w} = [c - 256 if c > 127 else c for c in {expr}]")
    return w


def _from_words(g: _Gen, words: str, target: str) -> None:
    # xdr_char per element: the low byte of each word
    g.emit(f"{target} = _bytes([c & 255 for c in {words}])")


class CharArray(XDRType):
    """``char x[N]``: N bytes, each sent as a 4-byte word (rpcgen quirk).

    Encoding takes up to N bytes and pads with NUL; decoding returns N bytes.
    Bytes above 127 are sent sign-extended, as libvirt on x86 does."""

    def __init__(self, size: int, name: str | None = None) -> None:
        self.size = size
        self.name = name or f"char[{size}]"
        self.min_size = 4 * size
        self._st = struct.Struct(f">{size}i")

    def gen_enc(self, g: _Gen, expr: str) -> None:
        v = g.var("c")
        g.emit(f"{v} = {expr}")
        g.emit(f"if _len({v}) > {self.size}:")
        g.emit(f"    raise _fail('char[{self.size}] given %d bytes' % _len({v}))")
        w = _to_words(g, v)
        st = g.const(self._st, "S")
        g.emit(f"{w} += [0] * ({self.size} - _len({w}))")
        g.emit(f"buf += {st}.pack(*{w})")

    def gen_dec(self, g: _Gen, target: str) -> None:
        st = g.const(self._st, "S")
        w = g.var("w")
        g.emit(f"{w} = {st}.unpack_from(data, pos)")
        g.emit(f"pos += {4 * self.size}")
        _from_words(g, w, target)


class VarCharArray(XDRType):
    """``char x<max>``: u32 count, then one 4-byte word per byte (rpcgen quirk)."""

    min_size = 4

    def __init__(self, maximum: int = UNBOUNDED, name: str | None = None) -> None:
        self.max = maximum
        self.name = name or f"char<{maximum}>"

    def gen_enc(self, g: _Gen, expr: str) -> None:
        v = g.var("c")
        g.emit(f"{v} = {expr}")
        if self.max < UNBOUNDED:
            g.emit(f"if _len({v}) > {self.max}:")
            g.emit(f"    raise _fail('char array of %d exceeds maximum {self.max}' % _len({v}))")
        w = _to_words(g, v)
        g.emit(f"buf += _U32.pack(_len({w}))")
        g.emit(f"buf += _pack('>%di' % _len({w}), *{w})")

    def gen_dec(self, g: _Gen, target: str) -> None:
        n = _gen_count(g, "char array", self.max, 4)
        w = g.var("w")
        g.emit(f"{w} = _unpack_from('>%di' % {n}, data, pos)")
        g.emit(f"pos += 4 * {n}")
        _from_words(g, w, target)


def _plain_fixed(t: XDRType) -> bool:
    """A fixed-format type whose values pack as-is (no checks, no conversion)."""
    return (t.fmt is not None and len(t.fmt) == 1
            and not t.enc_checked and not t.dec_checked)


class _ArrayBase(XDRType):
    elem: XDRType

    def _gen_enc_items(self, g: _Gen, v: str, n: str) -> None:
        if _plain_fixed(self.elem):
            g.emit(f"buf += _pack('>%d{self.elem.fmt}' % {n}, *{v})")
            return
        it = g.var("i")
        g.emit(f"for {it} in {v}:")
        g.depth += 1
        self.elem.gen_enc(g, it)
        g.depth -= 1

    def _gen_dec_items(self, g: _Gen, n: str, target: str) -> None:
        if _plain_fixed(self.elem):
            g.emit(f"{target} = list(_unpack_from('>%d{self.elem.fmt}' % {n}, data, pos))")
            g.emit(f"pos += {self.elem.min_size} * {n}")
            return
        app, item = g.var("a"), g.var("x")
        g.emit(f"{target} = []")
        g.emit(f"{app} = {target}.append")
        g.emit(f"for _ in range({n}):")
        g.depth += 1
        self.elem.gen_dec(g, item)
        g.emit(f"{app}({item})")
        g.depth -= 1


class FixedArray(_ArrayBase):
    """``T x[N]``: exactly N elements, no count."""

    def __init__(self, elem: XDRType, size: int, name: str | None = None) -> None:
        self.elem, self.size = elem, size
        self.name = name or f"{elem.name}[{size}]"
        self.min_size = elem.min_size * size

    def gen_enc(self, g: _Gen, expr: str) -> None:
        v = g.var("l")
        g.emit(f"{v} = {expr}")
        g.emit(f"if _len({v}) != {self.size}:")
        g.emit(f"    raise _fail('array needs exactly {self.size} elements, got %d' % _len({v}))")
        self._gen_enc_items(g, v, str(self.size))

    def gen_dec(self, g: _Gen, target: str) -> None:
        self._gen_dec_items(g, str(self.size), target)


class VarArray(_ArrayBase):
    """``T x<max>``: u32 count then the elements."""

    min_size = 4

    def __init__(self, elem: XDRType, maximum: int = UNBOUNDED, name: str | None = None) -> None:
        self.elem, self.max = elem, maximum
        self.name = name or f"{elem.name}<{maximum}>"

    def gen_enc(self, g: _Gen, expr: str) -> None:
        v, n = g.var("l"), g.var("n")
        g.emit(f"{v} = {expr}")
        g.emit(f"{n} = _len({v})")
        if self.max < UNBOUNDED:
            g.emit(f"if {n} > {self.max}:")
            g.emit(f"    raise _fail('array of %d exceeds maximum {self.max}' % {n})")
        g.emit(f"buf += _U32.pack({n})")
        self._gen_enc_items(g, v, n)

    def gen_dec(self, g: _Gen, target: str) -> None:
        n = _gen_count(g, "array", self.max, max(self.elem.min_size, 1))
        self._gen_dec_items(g, n, target)


class Optional(XDRType):
    """``T *x``: a u32 0 (None) or 1 followed by the value."""

    min_size = 4

    def __init__(self, elem: XDRType, name: str | None = None) -> None:
        self.elem = elem
        self.name = name or f"{elem.name}*"

    def gen_enc(self, g: _Gen, expr: str) -> None:
        v = g.var("o")
        g.emit(f"{v} = {expr}")
        g.emit(f"if {v} is None:")
        g.emit("    buf += b'\\0\\0\\0\\0'")
        g.emit("else:")
        g.depth += 1
        g.emit("buf += b'\\0\\0\\0\\1'")
        self.elem.gen_enc(g, v)
        g.depth -= 1

    def gen_dec(self, g: _Gen, target: str) -> None:
        f = g.var("f")
        g.emit(f"{f}, = _U32.unpack_from(data, pos)")
        g.emit("pos += 4")
        # xdr_pointer reads the flag with xdr_bool: any non-zero word is TRUE
        g.emit(f"if {f} == 0:")
        g.emit(f"    {target} = None")
        g.emit("else:")
        g.depth += 1
        self.elem.gen_dec(g, target)
        g.depth -= 1


class Struct(XDRType):
    """``struct name { ... }``; values are dicts keyed by field name."""

    def __init__(self, name: str, fields: Sequence[tuple[str, XDRType]]) -> None:
        self.name = name
        self.fields = tuple(fields)
        self.min_size = sum(t.min_size for _, t in self.fields)

    def _runs(self) -> list[list[tuple[str, XDRType]]]:
        """Group consecutive fixed-format fields into runs."""
        runs: list[list[tuple[str, XDRType]]] = []
        for fname, t in self.fields:
            if t.fmt is not None and runs and runs[-1][0][1].fmt is not None:
                runs[-1].append((fname, t))
            else:
                runs.append([(fname, t)])
        return runs

    def gen_enc(self, g: _Gen, expr: str) -> None:
        v = g.var("s")
        g.emit(f"{v} = {expr}")
        for run in self._runs():
            if run[0][1].fmt is not None:
                _gen_fixed_run(g, [(t, f"{v}[{f!r}]") for f, t in run], True)
            else:
                f, t = run[0]
                t.gen_enc(g, f"{v}[{f!r}]")

    def gen_dec(self, g: _Gen, target: str) -> None:
        names: list[tuple[str, str]] = []
        for run in self._runs():
            if run[0][1].fmt is not None:
                tv = [(t, g.var("f")) for _, t in run]
                _gen_fixed_run(g, tv, False)
                names.extend((f, tgt) for (f, _), (_, tgt) in zip(run, tv, strict=True))
            else:
                f, t = run[0]
                tgt = g.var("f")
                t.gen_dec(g, tgt)
                names.append((f, tgt))
        body = ", ".join(f"{f!r}: {tgt}" for f, tgt in names)
        g.emit(f"{target} = {{{body}}}")


class Union(XDRType):
    """``union name switch (discriminant) { case N: T arm; ... }``.

    Values are ``(discriminant, value)``; a VOID arm's value is None.  Without
    a ``default`` arm, an unknown discriminant is an error."""

    def __init__(self, name: str, discriminant: XDRType,
                 arms: dict[int, tuple[str, XDRType]],
                 default: tuple[str, XDRType] | None = None) -> None:
        if not isinstance(discriminant, Primitive) or discriminant.fmt not in ("i", "I"):
            raise TypeError("union discriminant must be int, unsigned int or an enum")
        self.name = name
        self.discriminant = discriminant
        self.arms = dict(arms)
        self.default = default
        sizes = [t.min_size for _, t in self.arms.values()]
        if default:
            sizes.append(default[1].min_size)
        self.min_size = 4 + min(sizes, default=0)

    def gen_enc(self, g: _Gen, expr: str) -> None:
        d, v = g.var("d"), g.var("u")
        g.emit(f"{d}, {v} = {expr}")
        _gen_fixed_run(g, [(self.discriminant, d)], True)
        kw = "if"
        for value, (_, t) in self.arms.items():
            g.emit(f"{kw} {d} == {value}:")
            g.depth += 1
            t.gen_enc(g, v)
            g.emit("pass")
            g.depth -= 1
            kw = "elif"
        g.emit("else:" if self.arms else "if True:")
        g.depth += 1
        if self.default:
            self.default[1].gen_enc(g, v)
            g.emit("pass")
        else:
            g.emit(f"raise _fail('union discriminant %r has no arm' % ({d},))")
        g.depth -= 1

    def gen_dec(self, g: _Gen, target: str) -> None:
        d, v = g.var("d"), g.var("u")
        _gen_fixed_run(g, [(self.discriminant, d)], False)
        kw = "if"
        for value, (_, t) in self.arms.items():
            g.emit(f"{kw} {d} == {value}:")
            g.depth += 1
            t.gen_dec(g, v)
            g.depth -= 1
            kw = "elif"
        g.emit("else:" if self.arms else "if True:")
        g.depth += 1
        if self.default:
            self.default[1].gen_dec(g, v)
        else:
            g.emit(f"raise _fail('union discriminant %d has no arm' % {d})")
        g.depth -= 1
        g.emit(f"{target} = ({d}, {v})")
