"""Run domain-tuning steps through real libvirt-python (test:///default by default).

Run by /usr/bin/python3 (Debian's python3-libvirt): reads a JSON list of steps on
stdin, prints one JSON result per step: {"ok": value} or {"err": [code, domain,
message]}. The step names are those of test_tuning.py's virtkit side.
"""

import json
import sys

import libvirt

libvirt.registerErrorHandler(lambda *a: None, None)
conn = libvirt.open(sys.argv[1] if len(sys.argv) > 1 else "test:///default")


def dom(name):
    return conn.lookupByName(name)


OPS = {
    "define": lambda xml: conn.defineXML(xml).name(),
    "create": lambda n: dom(n).create(),
    "destroy": lambda n: dom(n).destroy(),
    "xml": lambda n, flags=0: dom(n).XMLDesc(flags),
    "iothreadinfo": lambda n, flags=0: dom(n).ioThreadInfo(flags),
    "iothreadadd": lambda n, i, flags=0: dom(n).addIOThread(i, flags),
    "iothreaddel": lambda n, i, flags=0: dom(n).delIOThread(i, flags),
    "iothreadpin": lambda n, i, cpumap, flags=0: dom(n).pinIOThread(i, tuple(cpumap), flags),
    "iothreadset": lambda n, i, params, flags=0: dom(n).setIOThreadParams(i, params, flags),
    "blkio": lambda n, flags=0: dom(n).blkioParameters(flags),
    "setblkio": lambda n, params, flags=0: dom(n).setBlkioParameters(params, flags),
    "numa": lambda n, flags=0: dom(n).numaParameters(flags),
    "setnuma": lambda n, params, flags=0: dom(n).setNumaParameters(params, flags),
    "mem": lambda n, flags=0: dom(n).memoryParameters(flags),
    "setmem": lambda n, params, flags=0: dom(n).setMemoryParameters(params, flags),
    "perf": lambda n, flags=0: dom(n).perfEvents(flags),
    "setperf": lambda n, params, flags=0: dom(n).setPerfEvents(params, flags),
    "launchsec": lambda n, flags=0: dom(n).launchSecurityInfo(flags),
}


def main():
    out = []
    for op, *args in json.load(sys.stdin):
        try:
            out.append({"ok": OPS[op](*args)})
        except libvirt.libvirtError as e:
            out.append({"err": [e.get_error_code(), e.get_error_domain(), e.get_error_message()]})
    json.dump(out, sys.stdout)


main()
