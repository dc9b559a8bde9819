"""Run by Debian's /usr/bin/python3 (libvirt-python): one sequence of secret calls against
the URI in argv[1]; prints one JSON line per step: the result, or libvirt's error
(code, domain, message) with UUIDs the daemon generated replaced by a placeholder.

The same script runs against libvirtd 9.0 and virtkitd; the test compares the lines.
"""

from __future__ import annotations

import json
import re
import sys

import libvirt  # type: ignore[import-not-found]

U1 = "11111111-2222-3333-4444-555555555555"
U2 = "66666666-7777-8888-9999-aaaaaaaaaaaa"
U3 = "0d0d0d0d-7777-8888-9999-aaaaaaaaaaaa"
_GEN = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def secret_xml(uuid: str | None, usage: str = "", attrs: str = "", desc: str = "") -> str:
    u = f"<uuid>{uuid}</uuid>" if uuid else ""
    return f"<secret {attrs}>{u}{desc}{usage}</secret>"


def vol(path: str) -> str:
    return f"<usage type='volume'><volume>{path}</volume></usage>"


def main() -> None:
    conn = libvirt.open(sys.argv[1])
    libvirt.registerErrorHandler(lambda *a: None, None)
    out: list[object] = []

    def step(name: str, fn) -> object:  # type: ignore[no-untyped-def]
        try:
            value = fn()
        except libvirt.libvirtError as e:
            msg = e.get_error_message() or ""
            for known in (U1, U2, U3):
                msg = msg.replace(known, "<" + known[:2] + ">")
            out.append([name, "error", e.get_error_code(), e.get_error_domain(),
                        _GEN.sub("<generated>", msg)])
            return None
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        out.append([name, "ok", value])
        return value

    step("define", lambda: conn.secretDefineXML(secret_xml(
        U1, vol("/pool/a.qcow2"), "ephemeral='no' private='no'",
        "<description>a &amp; b</description>")).UUIDString())
    step("xml", lambda: conn.secretLookupByUUIDString(U1).XMLDesc())
    step("no-value", lambda: conn.secretLookupByUUIDString(U1).value())
    step("set", lambda: conn.secretLookupByUUIDString(U1).setValue(b"pass\x00word\xff"))
    step("get", lambda: conn.secretLookupByUUIDString(U1).value())
    step("usage", lambda: conn.secretLookupByUsage(
        libvirt.VIR_SECRET_USAGE_TYPE_VOLUME, "/pool/a.qcow2").UUIDString())
    step("usage-missing", lambda: conn.secretLookupByUsage(
        libvirt.VIR_SECRET_USAGE_TYPE_VOLUME, "/nope/../etc/passwd"))
    step("usage-wrong-type", lambda: conn.secretLookupByUsage(
        libvirt.VIR_SECRET_USAGE_TYPE_CEPH, "/pool/a.qcow2"))
    step("uuid-missing", lambda: conn.secretLookupByUUIDString(U2))
    step("dup-usage", lambda: conn.secretDefineXML(secret_xml(U2, vol("/pool/a.qcow2"))))
    step("dup-uuid", lambda: conn.secretDefineXML(secret_xml(U1, vol("/pool/b.qcow2"))))
    step("private", lambda: conn.secretDefineXML(secret_xml(
        U2, "<usage type='ceph'><name>client.admin</name></usage>",
        "ephemeral='yes' private='yes'")).UUIDString())
    step("private-set", lambda: conn.secretLookupByUUIDString(U2).setValue(b"cephkey"))
    step("private-get", lambda: conn.secretLookupByUUIDString(U2).value())
    step("private-unflag", lambda: conn.secretDefineXML(secret_xml(
        U2, "<usage type='ceph'><name>client.admin</name></usage>", "private='no'")))
    step("list", lambda: sorted(s.UUIDString() for s in conn.listAllSecrets()))
    for flag in ("EPHEMERAL", "NO_EPHEMERAL", "PRIVATE", "NO_PRIVATE"):
        f = getattr(libvirt, f"VIR_CONNECT_LIST_SECRETS_{flag}")
        step(f"list-{flag}", lambda f=f: sorted(s.UUIDString() for s in conn.listAllSecrets(f)))
    step("list-badflag", lambda: conn.listAllSecrets(1 << 20))
    step("num", lambda: conn.numOfSecrets())
    step("tls", lambda: conn.secretDefineXML(secret_xml(
        None, "<usage type='tls'><name>t1</name></usage>")).usageID())
    step("vtpm", lambda: conn.secretDefineXML(secret_xml(
        U3, "<usage type='vtpm'><name>vm1</name></usage>")).usageType())
    step("iscsi", lambda: conn.secretDefineXML(secret_xml(
        None, "<usage type='iscsi'><target>iqn.x</target></usage>")).usageID())
    for name, bad in (
        ("bad-root", "<domain/>"),
        ("bad-xml", "<secret><uuid>"),
        ("bad-uuid", secret_xml("not-a-uuid")),
        ("bad-ephemeral", "<secret ephemeral='maybe'/>"),
        ("bad-private", "<secret private='1'/>"),
        ("bad-usage-type", "<secret><usage type='disk'/></secret>"),
        ("no-usage-type", "<secret><usage/></secret>"),
        ("vol-no-path", "<secret><usage type='volume'/></secret>"),
        ("ceph-no-name", "<secret><usage type='ceph'/></secret>"),
        ("iscsi-no-target", "<secret><usage type='iscsi'/></secret>"),
        ("tls-no-name", "<secret><usage type='tls'/></secret>"),
        ("vtpm-no-name", "<secret><usage type='vtpm'/></secret>"),
    ):
        step(name, lambda bad=bad: conn.secretDefineXML(bad))
    step("count-after-bad", lambda: conn.numOfSecrets())
    step("define-badflag", lambda: conn.secretDefineXML(secret_xml(None), 1 << 8))
    step("xml-badflag", lambda: conn.secretLookupByUUIDString(U1).XMLDesc(1))
    step("set-badflag", lambda: conn.secretLookupByUUIDString(U1).setValue(b"x", 1))
    step("hostile-uuid", lambda: conn.secretLookupByUUIDString("../../etc/passwd"))
    step("undefine", lambda: conn.secretLookupByUUIDString(U1).undefine())
    step("undefine-again", lambda: conn.secretLookupByUUID(
        bytes.fromhex(U1.replace("-", ""))).undefine())
    step("list-end", lambda: len(conn.listAllSecrets()))
    for line in out:
        print(json.dumps(line))


if __name__ == "__main__":
    main()
