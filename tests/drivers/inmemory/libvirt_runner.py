# ruff: noqa: E501  (tables of scripted calls read better on one line each)
"""Run a differential script through real libvirt-python (test:///default).

Run by /usr/bin/python3 (Debian's python3-libvirt): reads the script as JSON on
stdin and prints one JSON result per step: {"ok": value} or {"err": [code,
domain, message]}, each with the events delivered during the step.
"""

import json
import sys
import time

import libvirt
import libvirt_loop

libvirt_loop.start()
conn = libvirt.open(sys.argv[1] if len(sys.argv) > 1 else "test:///default")
events = []
conn.domainEventRegisterAny(None, 0, lambda c, d, e, det, o: events.append(["dom", d.name(), e, det]), None)
conn.domainEventRegisterAny(None, 23, lambda c, d, t, u, o: events.append(["meta", d.name(), t, u]), None)
conn.networkEventRegisterAny(None, 0, lambda c, n, e, det, o: events.append(["net", n.name(), e, det]), None)
conn.storagePoolEventRegisterAny(None, 0, lambda c, p, e, det, o: events.append(["pool", p.name(), e, det]), None)
conn.storagePoolEventRegisterAny(None, 1, lambda c, p, o: events.append(["poolrefresh", p.name()]), None)


def dom(name):
    return conn.lookupByName(name)


def snap(name, sname):
    return dom(name).snapshotLookupByName(sname)


OPS = {
    "define": lambda xml, flags=0: conn.defineXMLFlags(xml, flags).name(),
    "createxml": lambda xml, flags=0: conn.createXML(xml, flags).name(),
    "lookup": lambda n: [dom(n).name(), dom(n).ID()],
    "lookup_id": lambda i: conn.lookupByID(i).name(),
    "lookup_uuid": lambda u: conn.lookupByUUIDString(u).name(),
    "create": lambda n, flags=0: dom(n).createWithFlags(flags),
    "destroy": lambda n, flags=0: dom(n).destroyFlags(flags),
    "shutdown": lambda n: dom(n).shutdown(),
    "reboot": lambda n, flags=0: dom(n).reboot(flags),
    "reset": lambda n: dom(n).reset(0),
    "suspend": lambda n: dom(n).suspend(),
    "resume": lambda n: dom(n).resume(),
    "undefine": lambda n, flags=0: dom(n).undefineFlags(flags),
    "state": lambda n: dom(n).state(),
    "info": lambda n: dom(n).info()[:4],
    "xml": lambda n, flags=0: dom(n).XMLDesc(flags),
    "managedsave": lambda n: dom(n).managedSave(0),
    "hasms": lambda n: dom(n).hasManagedSaveImage(0),
    "msremove": lambda n: dom(n).managedSaveRemove(0),
    "setmem": lambda n, kib, flags=0: dom(n).setMemoryFlags(kib, flags),
    "maxmem": lambda n: dom(n).maxMemory(),
    "setvcpus": lambda n, v, flags=0: dom(n).setVcpusFlags(v, flags),
    "vcpus": lambda n, flags=0: dom(n).vcpusFlags(flags),
    "list": lambda flags=0: sorted(d.name() for d in conn.listAllDomains(flags)),
    "numdoms": lambda: [conn.numOfDomains(), conn.numOfDefinedDomains()],
    "listdefined": lambda: sorted(conn.listDefinedDomains()),
    "rename": lambda n, new: dom(n).rename(new, 0),
    "setautostart": lambda n, v: dom(n).setAutostart(v),
    "autostart": lambda n: dom(n).autostart(),
    "active": lambda n: [dom(n).isActive(), dom(n).isPersistent()],
    "metaset": lambda n, t, v, k, u, flags=0: dom(n).setMetadata(t, v, k, u, flags),
    "metaget": lambda n, t, u, flags=0: dom(n).metadata(t, u, flags),
    "seclabel": lambda n: dom(n).securityLabel(),
    "memstats": lambda n: sorted(dom(n).memoryStats().items()),
    "blockinfo": lambda n, p: dom(n).blockInfo(p, 0),
    "blockstats": lambda n, p: len(dom(n).blockStats(p)),
    "ifstats": lambda n, p: len(dom(n).interfaceStats(p)),
    "ifaddr": lambda n: dom(n).interfaceAddresses(0),
    "hostname": lambda n: dom(n).hostname(0),
    "stats": lambda flags=0: sorted([d.name(), s] for d, s in conn.getAllDomainStats(0, flags)),
    "save": lambda n, path: dom(n).save(path),
    "restore": lambda path: conn.restore(path),
    "saveimagexml": lambda path: conn.saveImageGetXMLDesc(path, 0),
    "snapcreate": lambda n, xml, flags=0: dom(n).snapshotCreateXML(xml, flags).getName(),
    "snaplist": lambda n, flags=0: sorted(dom(n).snapshotListNames(flags)),
    "snapnum": lambda n, flags=0: dom(n).snapshotNum(flags),
    "snapchildren": lambda n, s, flags=0: sorted(snap(n, s).listChildrenNames(flags)),
    "snapcurrent": lambda n: dom(n).snapshotCurrent().getName(),
    "snaphascurrent": lambda n: dom(n).hasCurrentSnapshot(),
    "snapparent": lambda n, s: snap(n, s).getParent().getName(),
    "snaprevert": lambda n, s, flags=0: dom(n).revertToSnapshot(snap(n, s), flags),
    "snapdelete": lambda n, s, flags=0: snap(n, s).delete(flags),
    "snapstate": lambda n, s: snap(n, s).getXMLDesc().split("<state>")[1].split("<")[0],
    "netdefine": lambda xml: conn.networkDefineXML(xml).name(),
    "netcreatexml": lambda xml: conn.networkCreateXML(xml).name(),
    "netstart": lambda n: conn.networkLookupByName(n).create(),
    "netdestroy": lambda n: conn.networkLookupByName(n).destroy(),
    "netundefine": lambda n: conn.networkLookupByName(n).undefine(),
    "netbridge": lambda n: conn.networkLookupByName(n).bridgeName(),
    "netxml": lambda n: conn.networkLookupByName(n).XMLDesc(0),
    "netlist": lambda flags=0: sorted(x.name() for x in conn.listAllNetworks(flags)),
    "netactive": lambda n: [conn.networkLookupByName(n).isActive(), conn.networkLookupByName(n).isPersistent()],
    "pooldefine": lambda xml: conn.storagePoolDefineXML(xml, 0).name(),
    "poolcreatexml": lambda xml: conn.storagePoolCreateXML(xml, 0).name(),
    "poolstart": lambda n: conn.storagePoolLookupByName(n).create(0),
    "pooldestroy": lambda n: conn.storagePoolLookupByName(n).destroy(),
    "poolundefine": lambda n: conn.storagePoolLookupByName(n).undefine(),
    "poolbuild": lambda n: conn.storagePoolLookupByName(n).build(0),
    "pooldelete": lambda n: conn.storagePoolLookupByName(n).delete(0),
    "poolrefresh": lambda n: conn.storagePoolLookupByName(n).refresh(0),
    "poolinfo": lambda n: conn.storagePoolLookupByName(n).info(),
    "poolxml": lambda n: conn.storagePoolLookupByName(n).XMLDesc(0),
    "poolsetautostart": lambda n, v: conn.storagePoolLookupByName(n).setAutostart(v),
    "poolautostart": lambda n: conn.storagePoolLookupByName(n).autostart(),
    "poollist": lambda flags=0: sorted(x.name() for x in conn.listAllStoragePools(flags)),
    "volcreate": lambda n, xml: conn.storagePoolLookupByName(n).createXML(xml, 0).name(),
    "volclone": lambda n, xml, src: conn.storagePoolLookupByName(n).createXMLFrom(
        xml, conn.storagePoolLookupByName(n).storageVolLookupByName(src), 0).name(),
    "volinfo": lambda n, v: conn.storagePoolLookupByName(n).storageVolLookupByName(v).info(),
    "volpath": lambda n, v: conn.storagePoolLookupByName(n).storageVolLookupByName(v).path(),
    "volxml": lambda n, v: conn.storagePoolLookupByName(n).storageVolLookupByName(v).XMLDesc(0),
    "voldelete": lambda n, v: conn.storagePoolLookupByName(n).storageVolLookupByName(v).delete(0),
    "volbykey": lambda k: conn.storageVolLookupByKey(k).name(),
    "volbypath": lambda p: conn.storageVolLookupByPath(p).name(),
    "vollist": lambda n: sorted(conn.storagePoolLookupByName(n).listVolumes()),
    "nodeinfo": lambda: conn.getInfo()[:1] + conn.getInfo()[2:],
    "caps": lambda: conn.getCapabilities(),
    "cellsfree": lambda s, m: conn.getCellsFreeMemory(s, m),
    "cpumap": lambda: conn.getCPUMap(0),
    "sysinfo": lambda: conn.getSysinfo(0),
    "nodedevxml": lambda n: conn.nodeDeviceLookupByName(n).XMLDesc(0),
    "ifacexml": lambda n: conn.interfaceLookupByName(n).XMLDesc(0),
}


def main():
    script = json.load(sys.stdin)
    out = []
    for op, *args in script:
        try:
            value = OPS[op](*args)
            res = {"ok": value}
        except libvirt.libvirtError as e:
            res = {"err": [e.get_error_code(), e.get_error_domain(), e.get_error_message()]}
        deadline = time.time() + 0.05
        while time.time() < deadline:
            time.sleep(0.005)
        res["events"] = list(events)
        events.clear()
        out.append(res)
    json.dump(out, sys.stdout)


main()
