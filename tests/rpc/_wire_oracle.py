"""A C oracle for the wire layout, built from libvirt's own ``.x`` files.

libvirt's protocol definitions (from Debian's source package, extracted into
``.cache`` by ``scripts/sysdeps.py``) go through ``rpcgen`` with the fix-ups of
libvirt's ``src/rpc/genprotocol.pl``, and are compiled with a small driver into
one program.  The driver serves many requests over a pipe: each names a type
of the ``.x`` files and carries XDR bytes; it decodes them with the system XDR
library (libtirpc, as libvirtd does) and answers whether that worked, how many
bytes it consumed, its re-encoding, and a JSON dump of the decoded C value
(field names from the ``.x`` file), so that layouts are compared field by field.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from virtkit.rpc import xdr
from virtkit.testing.repo import libvirt_source_file

# program -> its .x file in libvirt's tree (the programs virtkit speaks)
XFILES = {
    "virnet": "src/rpc/virnetprotocol.x",
    "remote": "src/remote/remote_protocol.x",
    "admin": "src/admin/admin_protocol.x",
}
KEEPALIVE_X = "src/rpc/virkeepaliveprotocol.x"
HEADERS = ("include/libvirt/libvirt-host.h", "include/libvirt/libvirt-common.h.in")

_SCALARS = {
    "int": "int", "unsigned int": "uint", "unsigned": "uint", "hyper": "int",
    "unsigned hyper": "uint", "char": "int", "unsigned char": "uint", "short": "int",
    "unsigned short": "uint", "bool": "bool", "double": "double", "float": "float",
}


@dataclass(frozen=True)
class Decl:
    """One declaration of a ``.x`` file: ``base name``, ``*name``, ``name[N]``, ``name<N>``."""

    base: str
    name: str
    shape: str = "plain"  # plain | ptr | fixed | var
    size: str = ""


@dataclass
class XFile:
    """The named types of one ``.x`` file, in order, and its procedure numbers."""

    types: dict[str, tuple[str, Any]]  # name -> (kind, detail)
    procedures: dict[int, str]  # number -> NAME (without the PREFIX_PROC_)


def _strip(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"^%.*$", "", text, flags=re.M)


def _decl(text: str) -> Decl | None:
    text = " ".join(text.split())
    if text == "void":
        return None
    m = re.fullmatch(r"([\w ]+?) ?(\*)? ?(\w+) ?(?:\[(.+)\]|<(.*)>)?", text)
    if not m:
        raise ValueError(f"cannot parse declaration {text!r}")
    base, star, name, fixed, var = m.groups()
    if star:
        return Decl(base, name, "ptr")
    if fixed is not None:
        return Decl(base, name, "fixed", fixed.strip())
    if var is not None:
        return Decl(base, name, "var", var.strip())
    return Decl(base, name)


def parse_x(text: str) -> XFile:
    """The named types and procedure numbers of a ``.x`` file."""
    body = _strip(text)
    types: dict[str, tuple[str, Any]] = {}
    procs: dict[int, str] = {}
    item = re.compile(
        r"\s*(const\s+\w+\s*=\s*[^;]+;"
        r"|typedef\s+([^;]+);"
        r"|enum\s+(\w+)\s*\{([^}]*)\}\s*;"
        r"|struct\s+(\w+)\s*\{([^}]*)\}\s*;"
        r"|union\s+(\w+)\s+switch\s*\(([^)]*)\)\s*\{(.*?)\}\s*;)", re.S)
    pos = 0
    while body[pos:].strip():
        m = item.match(body, pos)
        if not m:
            raise ValueError(f"cannot parse near {body[pos:pos + 60]!r}")
        pos = m.end()
        if m.group(2):
            d = _decl(m.group(2))
            assert d is not None
            types[d.name] = ("typedef", d)
        elif m.group(3):
            types[m.group(3)] = ("enum", None)
            if m.group(3).endswith("_procedure"):
                for name, num in re.findall(r"[A-Z]+_PROC_(\w+)\s*=\s*(\d+)", m.group(4)):
                    procs[int(num)] = name
        elif m.group(5):
            fields = [_decl(f) for f in m.group(6).split(";") if f.strip()]
            types[m.group(5)] = ("struct", fields)
        elif m.group(7):
            disc = _decl(m.group(8))
            arms = [(label, _decl(d)) for label, d in
                    re.findall(r"case\s+(\w+)\s*:\s*([^;]+);", m.group(9))]
            assert "default" not in m.group(9), "default arms are not handled"
            types[m.group(7)] = ("union", (disc, arms))
    return XFile(types, procs)


def header_constants() -> dict[str, str]:
    """The libvirt.h constants the ``.x`` files use, from libvirt's headers."""
    consts: dict[str, str] = {}
    for h in HEADERS:
        text = libvirt_source_file(h).read_text()
        consts.update(re.findall(r"#\s*define\s+(VIR_\w+_BUFLEN)\s+(\(.*\))", text))
        consts.update(re.findall(r"\b(VIR_TYPED_PARAM_[A-Z]+)\s*=\s*(\d+)", text))
    return consts


# --- C generation ------------------------------------------------------------

def _genprotocol_fixups(src: str) -> str:
    """What libvirt's ``genprotocol.pl`` changes in rpcgen's output on Linux."""
    src = src.replace("u_quad_t", "uint64_t").replace("quad_t", "int64_t")
    src = re.sub(r"(?<!IXDR_GET_INT32 )IXDR_GET_LONG", "IXDR_GET_INT32", src)
    src = re.sub(r"\bIXDR_PUT_((U_)?)LONG\b", r"(void)IXDR_PUT_\1INT32", src)
    return re.sub(r"\bXDR_INLINE\b", "(int32_t*)XDR_INLINE", src)


def _dump(d: Decl, lval: str, named: set[str]) -> list[str]:
    """C statements printing declaration ``d`` (value at ``lval``) as JSON."""
    base = " ".join(d.base.split())
    if d.shape == "ptr":
        inner = _dump(Decl(base, d.name), f"(*{lval})", named)
        return [f"if ({lval}) {{", *inner, "} else P(\"null\");"]
    if d.shape == "fixed":
        if base in ("opaque", "char"):
            return [f"HEX((const unsigned char *)({lval}), {d.size});"]
        return ["P(\"[\");", f"for (u_int i_{d.name} = 0; i_{d.name} < {d.size}; i_{d.name}++) {{",
                f"if (i_{d.name}) P(\",\");",
                *_dump(Decl(base, d.name), f"({lval})[i_{d.name}]", named), "}", "P(\"]\");"]
    if d.shape == "var":
        if base == "string":
            return [f"HEX((const unsigned char *)({lval}), strlen({lval}));"]
        val, n = f"({lval}).{d.name}_val", f"({lval}).{d.name}_len"
        if base in ("opaque", "char"):
            return [f"HEX((const unsigned char *){val}, {n});"]
        return ["P(\"[\");", f"for (u_int i_{d.name} = 0; i_{d.name} < {n}; i_{d.name}++) {{",
                f"if (i_{d.name}) P(\",\");",
                *_dump(Decl(base, d.name), f"{val}[i_{d.name}]", named), "}", "P(\"]\");"]
    kind = _SCALARS.get(base)
    if kind == "int":
        return [f"fprintf(J, \"%lld\", (long long)({lval}));"]
    if kind == "uint":
        return [f"fprintf(J, \"%llu\", (unsigned long long)({lval}));"]
    if kind == "bool":
        return [f"P(({lval}) ? \"true\" : \"false\");"]
    if kind == "double":
        return [f"{{ uint64_t b_; double v_ = {lval}; memcpy(&b_, &v_, 8);"
                " fprintf(J, \"%llu\", (unsigned long long)b_); }"]
    if kind == "float":
        return [f"{{ uint32_t b_; float v_ = {lval}; memcpy(&b_, &v_, 4);"
                " fprintf(J, \"%u\", b_); }"]
    if base in named:
        return [f"d_{base}(&({lval}));"]
    raise ValueError(f"unknown type {base!r}")


def _dump_function(name: str, kind: str, detail: Any, named: set[str]) -> list[str]:
    out = [f"static void d_{name}(const {name} *p) {{"]
    if kind == "enum":
        out.append("fprintf(J, \"%d\", (int)*p);")
    elif kind == "typedef":
        out += _dump(detail, "(*p)", named)
    elif kind == "struct":
        out.append("P(\"{\");")
        for i, f in enumerate(detail):
            out.append(f"P(\"{',' if i else ''}\\\"{f.name}\\\":\");")
            out += _dump(f, f"p->{f.name}", named)
        out.append("P(\"}\");")
    else:
        disc, arms = detail
        out.append(f"fprintf(J, \"[%lld,\", (long long)p->{disc.name});")
        out.append(f"switch (p->{disc.name}) {{")
        for label, arm in arms:
            out.append(f"case {label}:")
            out += (_dump(arm, f"p->{name}_u.{arm.name}", named) if arm else ["P(\"null\");"])
            out.append("break;")
        out.append("default: P(\"null\");")
        out += ["}", "P(\"]\");"]
    return [*out, "}"]


DRIVER_MAIN = r"""
static int read_all(void *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        size_t r = fread((char *)buf + got, 1, n - got, stdin);
        if (r == 0) return -1;
        got += r;
    }
    return 0;
}

int main(void) {
    uint32_t req[3];
    while (read_all(req, sizeof req) == 0) {
        uint32_t idx = req[0], full = req[1], len = req[2];
        char *in = malloc(len + 4), *out = malloc(2 * (size_t)len + 64), *jbuf = NULL;
        size_t jlen = 0;
        uint32_t resp[4] = {0, 0, 0, 0};
        if (!in || !out || read_all(in, len) != 0 || idx >= NTYPES) return 2;
        const struct entry *e = &TABLE[idx];
        void *obj = calloc(1, e->size);
        XDR x;
        xdrmem_create(&x, in, len, XDR_DECODE);
        if (!e->proc(&x, obj, 0)) {
            resp[0] = 1;
        } else {
            resp[1] = xdr_getpos(&x);
        }
        if (!resp[0] && full) {
            XDR y;
            xdrmem_create(&y, out, 2 * len + 64, XDR_ENCODE);
            if (!e->proc(&y, obj, 0)) {
                resp[0] = 2;
            } else {
                resp[2] = xdr_getpos(&y);
                J = open_memstream(&jbuf, &jlen);
                e->dump(obj);
                fclose(J);
                resp[3] = jlen;
            }
            xdr_destroy(&y);
        }
        xdr_destroy(&x);
        xdr_free(e->proc, obj);
        free(obj);
        fwrite(resp, sizeof resp, 1, stdout);
        fwrite(out, 1, resp[2], stdout);
        if (jbuf) fwrite(jbuf, 1, jlen, stdout);
        fflush(stdout);
        free(jbuf); free(in); free(out);
    }
    return 0;
}
"""


def _driver_source(xfiles: dict[str, XFile]) -> tuple[str, list[str]]:
    named = {n for xf in xfiles.values() for n in xf.types}
    names = [n for xf in xfiles.values() for n in xf.types]
    lines = ["#include <stdio.h>", "#include <stdlib.h>", "#include <string.h>",
             "#include <stdint.h>",
             *(f'#include "{prog}_protocol.h"' for prog in xfiles),
             "static FILE *J;", "#define P(s) fputs((s), J)",
             "static void HEX(const unsigned char *b, size_t n) {",
             "  fputc('\"', J); for (size_t i = 0; i < n; i++) fprintf(J, \"%02x\", b[i]);",
             "  fputc('\"', J); }"]
    lines += [f"static void d_{n}(const {n} *p);" for n in names]
    for xf in xfiles.values():
        for n, (kind, detail) in xf.types.items():
            lines += _dump_function(n, kind, detail, named)
    lines += ["struct entry { xdrproc_t proc; size_t size; void (*dump)(const void *); };",
              "static const struct entry TABLE[] = {"]
    lines += [f"  {{(xdrproc_t) xdr_{n}, sizeof({n}), (void (*)(const void *)) d_{n}}},"
              for n in names]
    lines += ["};", f"#define NTYPES {len(names)}", DRIVER_MAIN]
    return "\n".join(lines) + "\n", names


def build(workdir: Path) -> Oracle:
    """Generate, compile and start the oracle in ``workdir``."""
    for tool in ("rpcgen", "gcc"):
        if shutil.which(tool) is None:
            raise FileNotFoundError(f"{tool} not found; run 'make sysdeps'")
    consts = header_constants()
    prelude = ["#include <rpc/rpc.h>", "#include <stdint.h>",
               *(f"#define {k} {v}" for k, v in consts.items())]
    (workdir / "prelude.h").write_text("\n".join(prelude) + "\n")
    xfiles: dict[str, XFile] = {}
    sources = []
    for prog, rel in XFILES.items():
        text = libvirt_source_file(rel).read_text()
        xfiles[prog] = parse_x(text)
        text = re.sub(r"^%#include.*$", "", text, flags=re.M)
        xname = f"{prog}_protocol.x"
        (workdir / xname).write_text('%#include "prelude.h"\n' + text)
        for mode, out in (("-h", f"{prog}_protocol.h"), ("-c", f"{prog}_protocol.c")):
            done = subprocess.run(["rpcgen", mode, xname], cwd=workdir, capture_output=True,
                                  text=True, check=True)
            (workdir / out).write_text(_genprotocol_fixups(done.stdout))
        sources.append(f"{prog}_protocol.c")
    driver, names = _driver_source(xfiles)
    (workdir / "driver.c").write_text(driver)
    subprocess.run(["gcc", "-O1", "-w", "-I/usr/include/tirpc", "-o", "oracle", "driver.c",
                    *sources, "-ltirpc"], cwd=workdir, check=True, capture_output=True)
    return Oracle(workdir / "oracle", names, xfiles)


@dataclass
class Answer:
    """What the C side made of some bytes."""

    ok: bool  #: decoded (and re-encoded)
    consumed: int = 0
    encoded: bytes = b""
    dump: Any = None  #: the decoded value as JSON (see :func:`normalise`)


class Oracle:
    """The compiled driver, running; one request at a time."""

    def __init__(self, binary: Path, names: list[str], xfiles: dict[str, XFile]) -> None:
        self.index = {n: i for i, n in enumerate(names)}
        self.xfiles = xfiles
        self.types = {n: t for xf in xfiles.values() for n, t in xf.types.items()}
        self.proc = subprocess.Popen([str(binary)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE)

    def ask(self, ctype: str, data: bytes, full: bool = True) -> Answer:
        """Decode ``data`` as C type ``ctype``; with ``full``, re-encode and dump it."""
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(struct.pack("=III", self.index[ctype], full, len(data)))
        self.proc.stdin.write(data)
        self.proc.stdin.flush()
        status, consumed, n, jn = struct.unpack("=IIII", self._read(16))
        encoded = self._read(n)
        dump = json.loads(self._read(jn)) if jn else None
        return Answer(status == 0, consumed, encoded, dump)

    def _read(self, n: int) -> bytes:
        assert self.proc.stdout
        data = self.proc.stdout.read(n) if n else b""
        if len(data) != n:
            raise RuntimeError(f"oracle died (exit {self.proc.poll()})")
        return data

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(10)

    def procedure_types(self, prog: str, prefix: str) -> dict[int, tuple[str | None, str | None]]:
        """Procedure number -> (args type, ret type) as libvirt's gendispatch.pl
        names them: PREFIX_x_args, or PREFIX_x_msg for events; PREFIX_x_ret."""
        out: dict[int, tuple[str | None, str | None]] = {}
        types = self.xfiles[prog].types
        for num, name in self.xfiles[prog].procedures.items():
            base = f"{prefix}_{name.lower()}"
            args = next((base + s for s in ("_args", "_msg") if base + s in types), None)
            out[num] = (args, base + "_ret" if base + "_ret" in types else None)
        return out


def normalise(t: xdr.XDRType, value: Any) -> Any:
    """A virtkit value of ``t`` in the C dump's JSON form."""
    if isinstance(t, xdr.Struct):
        return {name: normalise(ft, value[name]) for name, ft in t.fields}
    if isinstance(t, xdr.Union):
        d, v = value
        _, arm = t.arms[d]
        return [d, normalise(arm, v)]
    if isinstance(t, xdr.Optional):
        return None if value is None else normalise(t.elem, value)
    if isinstance(t, xdr.VarArray | xdr.FixedArray):
        return [normalise(t.elem, v) for v in value]
    if isinstance(t, xdr.String):
        return str(value).encode("utf-8", "surrogateescape").hex()
    if isinstance(t, xdr.CharArray | xdr.Opaque):
        return bytes(value).ljust(t.size, b"\0").hex()
    if isinstance(t, xdr.VarOpaque | xdr.VarCharArray):
        return bytes(value).hex()
    if t is xdr.DOUBLE:
        return struct.unpack(">Q", struct.pack(">d", value))[0]
    if t is xdr.FLOAT:
        return struct.unpack(">I", struct.pack(">f", value))[0]
    if t is xdr.BOOL:
        return bool(value)
    if t is xdr.VOID:
        return None
    return value
