"""Events and keepalive through stock libvirt-python (run by /usr/bin/python3).

usage: libvirt_events_client.py events URI     (actions as JSON on stdin)
       libvirt_events_client.py keepalive URI

``events``: one connection registers lifecycle callbacks for domains,
networks and storage pools (plus pool refresh); a second connection runs the
actions, each ``[op, name, xml-or-null]``; once the events stop arriving the
received sequence is printed as JSON, one ``[kind, name, event, detail]`` each.

``keepalive``: ``setKeepAlive(1, 2)`` on a connection with a close callback,
prints ``ready``, then waits (up to 20 s) for the connection to be found dead
and prints JSON: close reason, seconds waited, ``isAlive()`` and the error of a
call made afterwards.
"""

import json
import sys
import threading
import time

import libvirt

libvirt.registerErrorHandler(lambda *a: None, None)
libvirt.virEventRegisterDefaultImpl()


def _loop():
    while True:
        libvirt.virEventRunDefaultImpl()


threading.Thread(target=_loop, daemon=True).start()


def _run_action(conn, op, name, xml):
    if op == "define":
        conn.defineXML(xml)
    elif op == "createxml":
        conn.createXML(xml, 0)
    elif op in ("create", "suspend", "resume", "destroy", "undefine", "shutdown"):
        getattr(conn.lookupByName(name), op)()
    elif op.startswith("net-"):
        if op == "net-define":
            conn.networkDefineXML(xml)
        else:
            getattr(conn.networkLookupByName(name), op[4:])()
    elif op.startswith("pool-"):
        if op == "pool-define":
            conn.storagePoolDefineXML(xml, 0)
        elif op == "pool-refresh":
            conn.storagePoolLookupByName(name).refresh(0)
        else:
            getattr(conn.storagePoolLookupByName(name), op[5:])()
    else:
        raise ValueError(op)


def events(uri):
    actions = json.load(sys.stdin)
    watcher = libvirt.open(uri)
    got = []
    lock = threading.Lock()

    def add(*item):
        with lock:
            got.append(list(item))

    watcher.domainEventRegisterAny(
        None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
        lambda c, d, e, det, o: add("dom", d.name(), e, det), None)
    watcher.networkEventRegisterAny(
        None, libvirt.VIR_NETWORK_EVENT_ID_LIFECYCLE,
        lambda c, n, e, det, o: add("net", n.name(), e, det), None)
    watcher.storagePoolEventRegisterAny(
        None, libvirt.VIR_STORAGE_POOL_EVENT_ID_LIFECYCLE,
        lambda c, p, e, det, o: add("pool", p.name(), e, det), None)
    watcher.storagePoolEventRegisterAny(
        None, libvirt.VIR_STORAGE_POOL_EVENT_ID_REFRESH,
        lambda c, p, o: add("pool-refresh", p.name(), None, None), None)
    actor = libvirt.open(uri)
    errors = []
    for op, name, xml in actions:
        try:
            _run_action(actor, op, name, xml)
        except libvirt.libvirtError as e:
            errors.append([op, name, e.get_error_code(), e.get_error_message()])
    # wait until nothing new arrives for 0.5 s (at most 10 s)
    deadline = time.monotonic() + 10
    seen, quiet_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        with lock:
            n = len(got)
        if n != seen:
            seen, quiet_since = n, time.monotonic()
        elif time.monotonic() - quiet_since > 0.5:
            break
        time.sleep(0.05)
    actor.close()
    with lock:
        print(json.dumps({"events": got, "errors": errors}))


def keepalive(uri):
    conn = libvirt.open(uri)
    closed = threading.Event()
    reason = []

    def on_close(c, r, opaque):
        reason.append(r)
        closed.set()

    conn.registerCloseCallback(on_close, None)
    conn.setKeepAlive(1, 2)
    conn.lookupByName("test")  # the connection works
    print("ready", flush=True)
    sys.stdin.readline()  # the test stops the daemon, then tells us to go on
    start = time.monotonic()
    closed.wait(20)
    waited = time.monotonic() - start
    try:
        conn.lookupByName("test")
        call_error = None
    except libvirt.libvirtError as e:
        call_error = [e.get_error_code(), e.get_error_domain(), e.get_error_message()]
    print(json.dumps({"reason": reason[0] if reason else None, "waited": waited,
                      "alive": conn.isAlive(), "call_error": call_error}), flush=True)


if __name__ == "__main__":
    {"events": events, "keepalive": keepalive}[sys.argv[1]](sys.argv[2])
