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
groups), ``{"call": "sleep", "args": [SECONDS]}``, ``{"call": "wait_marker", "args":
[PATH, TEXT, SECONDS]}`` (True once the file holds TEXT, False at the deadline).

Each result is ``{"ok": VALUE}`` (handles become their name, tuples lists) or
``{"error": {"code": N, "domain": N, "message": TEXT}}``; a step's failure does not
stop the ones after it.
"""

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
