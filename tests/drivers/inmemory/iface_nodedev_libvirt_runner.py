# ruff: noqa: E501
"""Run an interface/node-device script through libvirt-python (Debian's /usr/bin/python3).

Reads the script as JSON on stdin, prints one JSON result per step: {"ok": value}
or {"err": [code, domain, message]}, with the node device events of the step.
"""

import json
import sys
import time

import libvirt
import libvirt_loop

libvirt_loop.start()
conn = libvirt.open(sys.argv[1] if len(sys.argv) > 1 else "test:///default")
events = []
conn.nodeDeviceEventRegisterAny(None, 0, lambda c, d, e, det, o: events.append([d.name(), e, det]), None)


def iface(n):
    return conn.interfaceLookupByName(n)


def dev(n):
    return conn.nodeDeviceLookupByName(n)


OPS = {
    "idefine": lambda xml, flags=0: [conn.interfaceDefineXML(xml, flags).name(), conn.interfaceDefineXML(xml, flags).MACString()],
    "ixml": lambda n, flags=0: iface(n).XMLDesc(flags),
    "iactive": lambda n: iface(n).isActive(),
    "istart": lambda n, flags=0: iface(n).create(flags),
    "istop": lambda n, flags=0: iface(n).destroy(flags),
    "iundefine": lambda n: iface(n).undefine(),
    "ibymac": lambda m: [conn.interfaceLookupByMACString(m).name(), conn.interfaceLookupByMACString(m).MACString()],
    "ilist": lambda flags=0: sorted([i.name(), i.MACString(), i.isActive()] for i in conn.listAllInterfaces(flags)),
    "icounts": lambda: [conn.numOfInterfaces(), conn.numOfDefinedInterfaces(), sorted(conn.listInterfaces()), sorted(conn.listDefinedInterfaces())],
    "begin": lambda flags=0: conn.changeBegin(flags),
    "commit": lambda flags=0: conn.changeCommit(flags),
    "rollback": lambda flags=0: conn.changeRollback(flags),
    "dcreate": lambda xml, flags=0: conn.nodeDeviceCreateXML(xml, flags).name(),
    "ddestroy": lambda n: dev(n).destroy(),
    "dxml": lambda n: dev(n).XMLDesc(0),
    "dparent": lambda n: dev(n).parent(),
    "dcaps": lambda n: [dev(n).numOfCaps(), dev(n).listCaps()],
    "dlist": lambda flags=0: sorted(d.name() for d in conn.listAllDevices(flags)),
    "dnames": lambda cap=None: [conn.numOfDevices(cap, 0), sorted(conn.listDevices(cap, 0))],
    "dbywwn": lambda a, b: conn.nodeDeviceLookupSCSIHostByWWN(a, b, 0).name(),
    "dactive": lambda n: dev(n).isActive(),
}


def main():
    out = []
    for op, *args in json.load(sys.stdin):
        try:
            res = {"ok": OPS[op](*args)}
        except libvirt.libvirtError as e:
            res = {"err": [e.get_error_code(), e.get_error_domain(), e.get_error_message()]}
        time.sleep(0.05)
        res["events"] = list(events)
        events.clear()
        out.append(res)
    json.dump(out, sys.stdout)


main()
