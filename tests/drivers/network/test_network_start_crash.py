"""Issue 13 item 7: a SIGKILL at any point of ``net-start`` never blocks the next start.

The start records its intent (a status with ``starting='yes'``) before making any part and
saves the status after each part; the next driver instance on the root removes what an
interrupted start made (bridge, nft rules, dnsmasq). Each kill point is hit exactly, by
killing the driver process right after the N-th step of the start."""

from __future__ import annotations

import json
import sys
import textwrap

from netns_util import PRELUDE, DriverNS

XML = ("<network><name>crash</name><forward mode='nat'/><bridge name='vkcrash0' stp='off'/>"
       "<ip address='10.213.7.1' prefix='24'><dhcp><range start='10.213.7.100' "
       "end='10.213.7.150'/></dhcp></ip></network>")

# The steps of a nat start with DHCP, in order; the driver is killed right after step N.
STEPS = ["save intent", "create bridge", "save", "add rules", "save", "start dnsmasq",
         "save (started)"]

KILLER = """
import os, signal
from virtkit.drivers.network import node as netnode
from virtkit.drivers.network.state import StatusFiles
KILL_AT, seen = int(sys.argv[2]), []
def _after(fn):
    def wrapped(*a, **k):
        r = fn(*a, **k)
        seen.append(fn.__name__)
        if len(seen) == KILL_AT:
            os.kill(os.getpid(), signal.SIGKILL)
        return r
    return wrapped
StatusFiles.save = _after(StatusFiles.save)
netnode.br.create_bridge = _after(netnode.br.create_bridge)
netnode.firewall.add_rules = _after(netnode.firewall.add_rules)
netnode.dnsmasq.start = _after(netnode.dnsmasq.start)
drv.network_create(net('crash'))
"""


def _kill_during_start(ns: DriverNS, step: int) -> int:
    script = PRELUDE + textwrap.dedent(KILLER)
    res = ns.exec(sys.executable, "-c", script, ns.root, str(step), check=False, timeout=60)
    return res.returncode


def test_sigkill_at_every_step_of_net_start(hostns: DriverNS) -> None:
    hostns.py(f"drv.network_define_xml({XML!r})")
    kills = failures = 0
    for step in range(1, len(STEPS) + 1):
        rc = _kill_during_start(hostns, step)
        assert rc == -9, f"step {step} ({STEPS[step - 1]}): not killed (rc {rc})"
        kills += 1
        after = hostns.py("""
            out['active'] = drv.network_is_active(net('crash'))
            if not out['active']:
                drv.network_create(net('crash'))
            out['restarted'] = drv.network_is_active(net('crash'))
            drv.network_destroy(net('crash'))
        """)
        completed = step == len(STEPS)  # killed after the last save: it is running
        if after["active"] != completed or not after["restarted"]:
            failures += 1
        assert "vkcrash0" not in hostns.link_names(), f"bridge left after step {step}"
        assert "virtkit:vkcrash0" not in hostns.nft(), f"rules left after step {step}"
        assert not _dnsmasq_pids(hostns), f"dnsmasq left after step {step}"
    print(f"net-start SIGKILLs: {kills} kills, {failures} failures")
    assert failures == 0


def _dnsmasq_pids(ns: DriverNS) -> list[int]:
    out = []
    for pid in ns.pids():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"dnsmasq" in f.read().split(b"\0")[0]:
                    out.append(pid)
        except OSError:
            pass
    return out


def test_status_written_before_the_bridge(hostns: DriverNS) -> None:
    """The intent record exists while the bridge is being made."""
    res = hostns.py(f"""
        from virtkit.drivers.network.state import StatusFiles
        ident = drv.network_define_xml({XML!r})
        orig, seen = br.create_bridge, []
        import virtkit.drivers.network.node as nn
        def spy(*a, **k):
            seen.append(open(node.statuses.path('crash')).read())
            return orig(*a, **k)
        nn.br.create_bridge = spy
        drv.network_create(ident)
        out['status'] = seen[0]
        drv.network_destroy(ident)
    """)
    assert "starting='yes'" in res["status"]
    assert json.dumps(res)  # the run completed
