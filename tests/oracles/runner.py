"""Run a JSON list of libvirt-python steps against one daemon; print JSON results.

Run by Debian's ``/usr/bin/python3`` (the one with libvirt-python): ``runner.py URI``
with the steps on stdin, one JSON list. The same script drives libvirtd and virtkitd,
so what differs in the results comes from the daemons.

A step is ``{"on": TARGET, "call": METHOD, "args": [...]}``: ``METHOD`` is a
libvirt-python method of the target, called with ``args``. Targets: ``"conn"``,
``"dom:NAME"``, ``"net:NAME"``, ``"pool:NAME"``, ``"vol:POOL/NAME"`` (looked up when
the step runs). An argument ``{"dom": NAME}`` (or ``net``, ``pool``, ``vol``) is that
object, ``{"doms": [NAME, ...]}`` a list of domains. A few steps are conveniences:
``{"call": "stats", "on": "dom:NAME"}`` (``domainListGetStats`` of that domain, all
groups), ``{"call": "stats_types", "on": "dom:NAME"}`` (the same record read by libvirt's C
library: each key's typed-parameter type, "int", "uint", "llong", "ullong", "double",
"boolean" or "string", as a C client reading it with ``virTypedParamsGetInt`` sees it),
``{"call": "sleep", "args": [SECONDS]}``, ``{"call": "wait_marker", "args":
[PATH, TEXT, SECONDS]}`` (True once the file holds TEXT, False at the deadline).

Each result is ``{"ok": VALUE}`` (handles become their name, tuples lists) or
``{"error": {"code": N, "domain": N, "message": TEXT}}``; a step's failure does not
stop the ones after it.
"""

import ctypes
import json
import sys
import time

import libvirt


def _quiet(_ctx, _err):
    return None


def _target(conn, spec):
    kind, _, name = spec.partition(":")
    if kind == "conn":
        return conn
    if kind == "dom":
        return conn.lookupByName(name)
    if kind == "net":
        return conn.networkLookupByName(name)
    if kind == "pool":
        return conn.storagePoolLookupByName(name)
    if kind == "vol":
        pool, _, vol = name.partition("/")
        return conn.storagePoolLookupByName(pool).storageVolLookupByName(vol)
    raise ValueError(f"unknown target {spec!r}")


def _arg(conn, value):
    if isinstance(value, dict) and len(value) == 1:
        (key, name), = value.items()
        if key in ("dom", "net", "pool", "vol"):
            return _target(conn, f"{key}:{name}")
        if key == "doms":
            return [conn.lookupByName(n) for n in name]
    return value


def _plain(value):
    if isinstance(value, (libvirt.virDomain, libvirt.virNetwork, libvirt.virStoragePool,
                          libvirt.virStorageVol)):
        return value.name()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


_PARAM_TYPES = {1: "int", 2: "uint", 3: "llong", 4: "ullong", 5: "double", 6: "boolean",
                7: "string"}


class _TypedParameter(ctypes.Structure):
    """virTypedParameter: char field[VIR_TYPED_PARAM_FIELD_LENGTH]; int type; a union."""

    _fields_ = [("field", ctypes.c_char * 80), ("type", ctypes.c_int),
                ("value", ctypes.c_ulonglong)]


class _StatsRecord(ctypes.Structure):
    """virDomainStatsRecord."""

    _fields_ = [("dom", ctypes.c_void_p), ("params", ctypes.POINTER(_TypedParameter)),
                ("nparams", ctypes.c_int)]


def _stats_types(uri, name):
    """{key: type} of ``name``'s stats record, through libvirt's C API."""
    lib = ctypes.CDLL("libvirt.so.0")
    lib.virConnectOpen.restype = ctypes.c_void_p
    lib.virConnectOpen.argtypes = [ctypes.c_char_p]
    lib.virDomainLookupByName.restype = ctypes.c_void_p
    lib.virDomainLookupByName.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    records = ctypes.POINTER(ctypes.POINTER(_StatsRecord))()
    lib.virDomainListGetStats.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_uint,
                                          ctypes.c_void_p, ctypes.c_uint]
    lib.virDomainStatsRecordListFree.argtypes = [ctypes.c_void_p]
    lib.virDomainFree.argtypes = [ctypes.c_void_p]
    lib.virConnectClose.argtypes = [ctypes.c_void_p]
    conn = lib.virConnectOpen(uri.encode())
    if not conn:
        raise RuntimeError("virConnectOpen failed")
    try:
        dom = lib.virDomainLookupByName(conn, name.encode())
        if not dom:
            raise RuntimeError(f"no domain {name}")
        doms = (ctypes.c_void_p * 2)(dom, None)
        if lib.virDomainListGetStats(doms, 0, ctypes.byref(records), 0) < 0:
            raise RuntimeError("virDomainListGetStats failed")
        rec = records[0].contents
        out = {rec.params[i].field.decode(): _PARAM_TYPES.get(rec.params[i].type, "?")
               for i in range(rec.nparams)}
        lib.virDomainStatsRecordListFree(records)
        lib.virDomainFree(dom)
        return out
    finally:
        lib.virConnectClose(conn)


def run_step(conn, step):
    call = step["call"]
    if call == "sleep":
        time.sleep(float(step["args"][0]))
        return None
    if call == "wait_marker":
        path, text, seconds = step["args"]
        deadline = time.monotonic() + float(seconds)
        while time.monotonic() < deadline:
            try:
                with open(path, errors="replace") as f:
                    if text in f.read():
                        return True
            except OSError:
                pass
            time.sleep(0.05)
        return False
    if call == "stats_types":
        return _stats_types(conn.getURI(), step["on"].partition(":")[2])
    target = _target(conn, step.get("on", "conn"))
    if call == "stats":
        return conn.domainListGetStats([target], 0)[0][1]
    args = [_arg(conn, a) for a in step.get("args", [])]
    return getattr(target, call)(*args)


def main():
    libvirt.registerErrorHandler(_quiet, None)
    conn = libvirt.open(sys.argv[1])
    results = []
    for step in json.load(sys.stdin):
        try:
            results.append({"ok": _plain(run_step(conn, step))})
        except libvirt.libvirtError as e:
            results.append({"error": {"code": e.get_error_code(),
                                      "domain": e.get_error_domain(),
                                      "message": e.get_error_message()}})
    conn.close()
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
