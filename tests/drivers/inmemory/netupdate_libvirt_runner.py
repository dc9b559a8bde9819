"""Run network-update cases through real libvirt-python (test:///default).

Run by /usr/bin/python3 (Debian's python3-libvirt). Reads a JSON list of cases (each a
list of steps) on stdin; each case runs on a fresh test:///default node (the last
connection is closed before the next case opens one). Prints, per case, one result per
step: {"ok": value} or {"err": [code, domain, message]}.
"""

import gc
import json
import sys
import time

import libvirt
import libvirt_loop

libvirt_loop.start()


def run_case(steps):
    conn = libvirt.open("test:///default")
    events = []
    cb = conn.networkEventRegisterAny(
        None, 0, lambda c, n, e, det, o: events.append(["net", n.name(), e, det]), None)

    def net(name):
        return conn.networkLookupByName(name)

    ops = {
        "update": lambda n, cmd, sec, idx, xml, flags: net(n).update(cmd, sec, idx, xml, flags),
        "xml": lambda n, flags=0: net(n).XMLDesc(flags),
        "define": lambda xml: conn.networkDefineXML(xml).name(),
        "create": lambda xml: conn.networkCreateXML(xml).name(),
        "start": lambda n: net(n).create(),
        "destroy": lambda n: net(n).destroy(),
        "events": lambda: (time.sleep(0.1), list(events), events.clear())[1],
    }
    out = []
    for op, *args in steps:
        try:
            out.append({"ok": ops[op](*args)})
        except libvirt.libvirtError as e:
            out.append({"err": [e.get_error_code(), e.get_error_domain(), e.get_error_message()]})
    conn.networkEventDeregisterAny(cb)
    # An event the loop thread is still dispatching holds a reference to the connection
    # until its callback returns: let it finish, so that closing frees the node and the
    # next case gets a fresh test:///default (libvirt keeps it while referenced).
    time.sleep(0.1)
    gc.collect()
    left = conn.close()
    assert left == 0, f"connection still referenced ({left})"
    return out


json.dump([run_case(case) for case in json.load(sys.stdin)], sys.stdout)
