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
    # pinning, device tuning, guest calls
    "vcpus": lambda n: _vcpus(dom(n).vcpus()),
    "pinvcpu": lambda n, v, cpumap, flags=0: dom(n).pinVcpuFlags(v, tuple(cpumap), flags),
    "vcpupininfo": lambda n, flags=0: dom(n).vcpuPinInfo(flags),
    "pinemu": lambda n, cpumap, flags=0: dom(n).pinEmulator(tuple(cpumap), flags),
    "emupininfo": lambda n, flags=0: dom(n).emulatorPinInfo(flags),
    "iftune": lambda n, dev, flags=0: dom(n).interfaceParameters(dev, flags),
    "setiftune": lambda n, dev, params, flags=0: dom(n).setInterfaceParameters(dev, params, flags),
    "iotune": lambda n, disk, flags=0: dom(n).blockIoTune(disk, flags),
    "setiotune": lambda n, disk, params, flags=0: dom(n).setBlockIoTune(disk, params, flags),
    "cpustats": lambda n, total, flags=0: dom(n).getCPUStats(total, flags),
    "diskerrors": lambda n, flags=0: dom(n).diskErrors(flags),
    "fsfreeze": lambda n, mounts=None, flags=0: dom(n).fsFreeze(mounts, flags),
    "fsthaw": lambda n, mounts=None, flags=0: dom(n).fsThaw(mounts, flags),
    "fstrim": lambda n, mount=None, minimum=0, flags=0: dom(n).fSTrim(mount, minimum, flags),
    "fsinfo": lambda n, flags=0: dom(n).fsInfo(flags),
    "gettime": lambda n: sorted(dom(n).getTime().values()),
    "settime": lambda n, s, ns=0, flags=0: dom(n).setTime({"seconds": s, "nseconds": ns}, flags),
    "setpw": lambda n, user, pw, flags=0: dom(n).setUserPassword(user, pw, flags),
    "signal": lambda n, pid, sig, flags=0: dom(n).sendProcessSignal(pid, sig, flags),
    "peek": lambda n, start, size, flags=0: list(dom(n).memoryPeek(start, size, flags)),
    "lifecycle": lambda n, t, a, flags=0: dom(n).setLifecycleAction(t, a, flags),
}


def _vcpus(result):
    infos, maps = result
    return [[number, state, cpu] for number, state, _, cpu in infos], maps


def main():
    out = []
    for op, *args in json.load(sys.stdin):
        try:
            out.append({"ok": OPS[op](*args)})
        except libvirt.libvirtError as e:
            out.append({"err": [e.get_error_code(), e.get_error_domain(), e.get_error_message()]})
    json.dump(out, sys.stdout)


main()
