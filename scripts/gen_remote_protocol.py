#!/usr/bin/env python3
"""Regenerate src/virtkit/rpc/remote_procs.py from libvirt's remote_protocol.x (facts only).

Usage: scripts/gen_remote_protocol.py /path/to/libvirt-9.0.0 > src/virtkit/rpc/remote_procs.py

Reads the constants, typedefs, enums, structs and the one union of the
``remote`` program, plus each procedure's number and annotations (@priority,
@acl, @aclfilter, @readstream/@writestream), and the permissions that
src/access/viraccessperm.h marks ``@anonymous`` (allowed on read-only
connections).  It emits Python declarations built from virtkit.rpc.xdr; the
emitted module is committed, so nothing parses .x files at run time.
"""

from __future__ import annotations

import os
import re
import sys

# Procedures that pass file descriptors (their dispatchers use the message's
# FD list); libvirt marks these only in hand-written code.
FD_PROCS = {
    "DOMAIN_OPEN_GRAPHICS", "DOMAIN_OPEN_GRAPHICS_FD", "DOMAIN_CREATE_XML_WITH_FILES",
    "DOMAIN_CREATE_WITH_FILES", "DOMAIN_FD_ASSOCIATE",
}

# Values of the libvirt.h macros the .x file refers to.
EXTERNAL = {
    "VIR_UUID_BUFLEN": 16,
    "VIR_SECURITY_MODEL_BUFLEN": 257,
    "VIR_SECURITY_LABEL_BUFLEN": 4097,
    "VIR_SECURITY_DOI_BUFLEN": 257,
    "VIR_TYPED_PARAM_INT": 1,
    "VIR_TYPED_PARAM_UINT": 2,
    "VIR_TYPED_PARAM_LLONG": 3,
    "VIR_TYPED_PARAM_ULLONG": 4,
    "VIR_TYPED_PARAM_DOUBLE": 5,
    "VIR_TYPED_PARAM_BOOLEAN": 6,
    "VIR_TYPED_PARAM_STRING": 7,
}

SCALARS = {
    "int": "INT", "unsigned int": "UINT", "unsigned": "UINT", "hyper": "HYPER",
    "unsigned hyper": "UHYPER", "char": "CHAR", "unsigned char": "U_CHAR", "short": "SHORT",
    "unsigned short": "U_SHORT", "double": "DOUBLE", "float": "FLOAT", "bool": "BOOL",
}

PERM_OBJECTS = {
    "Connect": "connect", "Domain": "domain", "Interface": "interface", "Network": "network",
    "NetworkPort": "network_port", "NodeDevice": "node_device", "NWFilter": "nwfilter",
    "NWFilterBinding": "nwfilter_binding", "Secret": "secret", "StoragePool": "storage_pool",
    "StorageVol": "storage_vol",
}


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def strip_comments(s: str) -> str:
    s = re.sub(r"/\*.*?\*/", "", s, flags=re.S)
    return re.sub(r"^%.*$", "", s, flags=re.M)


class Emitter:
    def __init__(self) -> None:
        self.consts: dict[str, int] = dict(EXTERNAL)
        self.const_lines: list[str] = []
        self.decls: list[str] = []
        self.named: set[str] = set()
        self.structs: list[str] = []

    def value(self, tok: str) -> str:
        """A size expression as Python source (a constant name or a number)."""
        tok = tok.strip()
        if re.fullmatch(r"(0x[0-9a-fA-F]+|\d+)", tok):
            return str(int(tok, 0))
        if tok in EXTERNAL:
            return str(EXTERNAL[tok])
        if tok not in self.consts:
            raise SystemExit(f"unknown constant {tok}")
        return tok

    def typeref(self, tname: str) -> str:
        tname = " ".join(tname.split())
        if tname in SCALARS:
            return SCALARS[tname]
        if tname not in self.named:
            raise SystemExit(f"unknown type {tname!r}")
        return tname

    def decl(self, tname: str, name: str, suffix: str) -> str:
        """The xdr expression for ``tname name<suffix>``."""
        tname = " ".join(tname.split())
        m = re.fullmatch(r"\[(.+)\]", suffix)
        if m:
            n = self.value(m.group(1))
            if tname == "opaque":
                return f"Opaque({n})"
            if tname == "char":
                return f"CharArray({n})"
            return f"FixedArray({self.typeref(tname)}, {n})"
        m = re.fullmatch(r"<(.*)>", suffix)
        if m:
            n = self.value(m.group(1)) if m.group(1).strip() else "UNBOUNDED"
            if tname == "opaque":
                return f"VarOpaque({n})"
            if tname == "string":
                return f"String({n})"
            if tname == "char":
                return f"VarCharArray({n})"
            return f"VarArray({self.typeref(tname)}, {n})"
        return self.typeref(tname)

    def parse(self, text: str) -> None:
        pos = 0
        item = re.compile(
            r"\s*(const\s+(\w+)\s*=\s*([^;]+);"
            r"|typedef\s+([\w\s]+?)\s*(\*?)\s*(\w+)\s*(\[[^\]]*\]|<[^>]*>)?\s*;"
            r"|enum\s+(\w+)\s*\{([^}]*)\}\s*;"
            r"|struct\s+(\w+)\s*\{([^}]*)\}\s*;"
            r"|union\s+(\w+)\s+switch\s*\(\s*([\w\s]+?)\s+(\w+)\s*\)\s*\{(.*?)\}\s*;)",
            re.S)
        while pos < len(text):
            if not text[pos:].strip():
                break
            m = item.match(text, pos)
            if not m:
                raise SystemExit(f"cannot parse near: {text[pos:pos + 80]!r}")
            pos = m.end()
            if m.group(2):
                self.const(m.group(2), m.group(3))
            elif m.group(6):
                self.typedef(m.group(4), m.group(5), m.group(6), m.group(7) or "")
            elif m.group(8):
                self.enum(m.group(8), m.group(9))
            elif m.group(10):
                self.struct(m.group(10), m.group(11))
            else:
                self.union(m.group(12), m.group(13), m.group(15))

    def const(self, name: str, expr: str) -> None:
        v = self.value(expr)
        self.consts[name] = int(v) if v.isdigit() else self.consts[v]
        raw = expr.strip()
        py = raw if raw.startswith("0x") else v
        self.const_lines.append(f"{name} = {py}")

    def typedef(self, tname: str, star: str, name: str, suffix: str) -> None:
        if star:
            expr = f"Optional({self.typeref(tname)}, {name!r})"
        elif tname.strip() == "string":
            expr = f"String({self.value(suffix[1:-1])}, {name!r})"
        elif tname.strip() == "opaque" and suffix.startswith("["):
            expr = f"Opaque({self.value(suffix[1:-1])}, {name!r})"
        else:
            expr = self.decl(tname, name, suffix)
        self.decls.append(f"{name} = {expr}")
        self.named.add(name)

    def enum(self, name: str, body: str) -> None:
        if name == "remote_procedure":
            return
        self.decls.append(f"{name} = INT  # enum")
        self.named.add(name)
        for part in body.split(","):
            if part.strip():
                k, v = (x.strip() for x in part.split("="))
                self.consts[k] = int(v, 0)
                self.const_lines.append(f"{k} = {int(v, 0)}")

    def fields(self, body: str) -> list[tuple[str, str]]:
        out = []
        for line in body.split(";"):
            line = " ".join(line.split())
            if not line:
                continue
            m = re.fullmatch(r"([\w ]+?) (\w+)\s*(\[.*\]|<.*>)?", line)
            if not m:
                raise SystemExit(f"cannot parse field {line!r}")
            out.append((m.group(2), self.decl(m.group(1), m.group(2), m.group(3) or "")))
        return out

    def struct(self, name: str, body: str) -> None:
        fields = self.fields(body)
        if not fields:
            self.decls.append(f"{name} = Struct({name!r}, [])")
        else:
            lines = "".join(f"\n    ({f!r}, {t})," for f, t in fields)
            self.decls.append(f"{name} = Struct({name!r}, [{lines}\n])")
        self.named.add(name)
        self.structs.append(name)

    def union(self, name: str, disc: str, body: str) -> None:
        arms = []
        for m in re.finditer(r"case\s+(\w+)\s*:\s*([^;]+);", body):
            (fname, texpr), = self.fields(m.group(2))
            arms.append(f"\n    {self.value(m.group(1))}: ({fname!r}, {texpr}),")
        self.decls.append(f"{name} = Union({name!r}, {self.typeref(disc)}, {{{''.join(arms)}\n}})")
        self.named.add(name)


def anonymous_perms(root: str) -> list[str]:
    text = _read(os.path.join(root, "src/access/viraccessperm.h"))
    perms = []
    for body, tname in re.findall(r"typedef enum \{(.*?)\}\s*virAccessPerm(\w+);", text, re.S):
        obj = PERM_OBJECTS[tname]
        prefix = "VIR_ACCESS_PERM_" + obj.upper() + "_"
        for doc, const in re.findall(r"/\*\*(.*?)\*/\s*(VIR_ACCESS_PERM_\w+)", body, re.S):
            if re.search(r"@anonymous:\s*1", doc):
                perms.append(f"{obj}:{const[len(prefix):].lower()}")
    return perms


def procedures(raw: str) -> list[tuple[int, str, dict[str, list[str]]]]:
    body = re.search(r"enum remote_procedure \{(.*)\};", raw, re.S)
    assert body
    out = []
    for doc, name, num in re.findall(
            r"/\*\*((?:(?!\*/).)*?)\*/\s*REMOTE_PROC_(\w+)\s*=\s*(\d+)", body.group(1), re.S):
        ann: dict[str, list[str]] = {}
        for k, v in re.findall(r"@(\w+):\s*(.*)", doc):
            ann.setdefault(k, []).append(v.strip())
        out.append((int(num), name, ann))
    return out


def main(root: str) -> None:
    raw = _read(os.path.join(root, "src/remote/remote_protocol.x"))
    em = Emitter()
    text = strip_comments(raw)
    text = re.sub(r"enum remote_procedure \{.*?\};", "", text, flags=re.S)
    em.parse(text)
    structs = set(em.structs)
    procs = procedures(raw)
    assert [p[0] for p in procs] == list(range(1, len(procs) + 1)), "procedure numbers have gaps"

    w = sys.stdout.write
    w('"""The libvirt 9.0 ``remote`` program: types and procedure table.\n\n'
      "Generated by scripts/gen_remote_protocol.py from remote_protocol.x (facts:\n"
      "names, numbers, field orders, types, maxima).  Do not edit by hand.\n"
      '"""\n')
    w("# ruff: noqa: E501\n\n")
    w("from virtkit.rpc.xdr import (\n    CHAR,\n    DOUBLE,\n    HYPER,\n    INT,\n    U_CHAR,\n"
      "    U_SHORT,\n    UHYPER,\n    UINT,\n    VOID,\n    CharArray,\n    Opaque,\n"
      "    Optional,\n    String,\n    Struct,\n    Union,\n    VarArray,\n    VarCharArray,\n"
      "    VarOpaque,\n    XDRType,\n)\n\n")
    w("# --- constants ---\n")
    for line in em.const_lines:
        w(line + "\n")
    w("\n# --- types ---\n")
    for d in em.decls:
        w(d + "\n")
    w("\n# Permissions libvirt allows on read-only connections (``@anonymous: 1``).\n")
    w("ANONYMOUS_PERMS: frozenset[str] = frozenset({\n")
    for p in anonymous_perms(root):
        w(f"    {p!r},\n")
    w("})\n\n")
    w("# (number, NAME, args, ret, kind, priority, acl, aclfilter, stream)\n"
      "#   kind: 'call', 'event' (a MESSAGE whose args are the event body) or 'fds'\n"
      "#   (the call passes file descriptors); stream: 'read'/'write' (from the\n"
      "#   client's point of view) or None.\n")
    w("PROCEDURES: tuple[tuple[int, str, XDRType, XDRType, str, str, tuple[str, ...],"
      " tuple[str, ...], str | None], ...] = (\n")
    used: set[str] = set()
    for num, name, ann in procs:
        base = "remote_" + name.lower()
        kind = "call"
        if base + "_msg" in structs:
            args, ret, kind = base + "_msg", "VOID", "event"
        else:
            args = base + "_args" if base + "_args" in structs else "VOID"
            ret = base + "_ret" if base + "_ret" in structs else "VOID"
        if name in FD_PROCS:
            kind = "fds"
        used.update({args, ret})
        prio = (ann.get("priority") or ["low"])[0]
        acl = tuple(a for a in ann.get("acl", []) if a != "none")
        aclf = tuple(ann.get("aclfilter", []))
        stream = "read" if "readstream" in ann else "write" if "writestream" in ann else None
        w(f"    ({num}, {name!r}, {args}, {ret}, {kind!r}, {prio!r}, {acl!r}, {aclf!r},"
          f" {stream!r}),\n")
    w(")\n")
    unused = sorted(s for s in structs if s not in used
                    and re.search(r"_(args|ret|msg)$", s))
    if unused:
        sys.stderr.write("structs not matched to a procedure: " + ", ".join(unused) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
