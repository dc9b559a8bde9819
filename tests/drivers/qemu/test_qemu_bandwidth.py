"""``<bandwidth>`` and ``<link state>`` on tap interfaces of a running guest (QEMU driver),
checked on the host (tc, links) and in the live XML, and compared with libvirtd 9.0.

Taps live in network namespaces the tests make. This machine's kernel has htb, ingress and
u32 but no sfq qdisc, fw classifier or police action, so libvirt's tc shape cannot be
completed here: libvirtd 9.0 then fails the start, live update or hot-plug with tc's error
(VIR_ERR_INTERNAL_ERROR naming the command), leaving what tc did before it; virtkit must do
the same. ``test_virsh_round_trips_match_libvirtd`` runs one virsh scenario against virtkitd
and against libvirtd's QEMU driver and compares everything it sees.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from qemu_e2e import REPO, domain_xml, tg
from test_qemu_agent import AGENT

from virtkit.conf.devices import device_from_xml
from virtkit.drivers.qemu import command, netif
from virtkit.errors import ErrorCode, ErrorDomain, VirtError

sys.path.insert(0, str(REPO / "bench"))
import qemu_peers

pytestmark = pytest.mark.slow

MAC0, MAC1, MAC2 = "52:54:00:bb:00:01", "52:54:00:bb:00:02", "52:54:00:bb:00:03"
PORTS = ("<controller type='pci' index='0' model='pcie-root'/>"  # room to hot-plug (q35)
         + "<controller type='pci' model='pcie-root-port'/>" * 8)
BW = ("<bandwidth><inbound average='1000' peak='2000' burst='256'/>"
      "<outbound average='500' burst='64'/></bandwidth>")


def nic(mac: str, tap: str, extra: str = "") -> str:
    return (f"<interface type='ethernet'><mac address='{mac}'/><target dev='{tap}'/>"
            f"<model type='virtio'/>{extra}</interface>")


def sfq_error(tap: str) -> str:
    return (f"internal error: Child process (tc qdisc add dev {tap} parent 1:1 handle 2: sfq "
            "perturb 10) unexpected exit status 2: Error: Specified qdisc kind is unknown.\n")


# ----------------------------------------------------------------- the embedded driver

CHILD = r"""
import json, subprocess, sys, time
import virtkit
from virtkit.errors import VirtError
root, xml, nic0bw, nic0, nic1, nic2, mac2, mac1, here = sys.argv[1:10]
sys.path.insert(0, here)
from test_qemu_agent import exec_out, wait_agent
LIVE, CONFIG = 1, 2

def carrier(mac):
    # the guest's view of the NIC with that MAC: brought up, then its carrier ("" until
    # the hot-plugged device shows up)
    script = ("for i in /sys/class/net/*; do if [ \"$(cat $i/address)\" = " + mac + " ]; "
              "then ip link set ${i##*/} up; sleep 1; cat $i/carrier; fi; done")
    deadline = time.time() + 120  # a hang guard
    while time.time() < deadline:
        got = exec_out(dom, "/bin/sh", "-c", script).strip()
        if got:
            return got
        time.sleep(1)
    return "no such NIC in the guest"

def tc(tap):
    qd = subprocess.run(["tc", "-j", "qdisc", "show", "dev", tap], capture_output=True,
                        text=True)
    if qd.returncode:
        return None  # no such device
    cls = subprocess.run(["tc", "class", "show", "dev", tap], capture_output=True, text=True)
    return {"qdiscs": sorted(q["kind"] for q in json.loads(qd.stdout)),
            "classes": [" ".join(l.split()[:4]) for l in cls.stdout.splitlines()]}

def err(fn, *a):
    try:
        fn(*a)
    except VirtError as e:
        return [int(e.code), int(e.domain), str(e)]
    return None

out = {}
conn = virtkit.open(f"qemu:///embed?root={root}")
dom = conn.define_domain(xml)
try:
    out["defined_xml"] = "<outbound average='500' burst='64'/>" in dom.xml()
    out["start_bw"] = err(dom.start)
    out["after_failed_start"] = [dom.is_active(), tc("vkbw0")]
    dom.update_device(nic0, CONFIG)
    dom.start()
    out["started"] = tc("vkbw0")
    deadline = time.time() + 600  # a hang guard: the guest must answer hot-unplug
    while time.time() < deadline:
        text = open(root + "/bw1.console", errors="replace").read()
        if "VIRTKIT-GUEST-READY" in text:
            break
        time.sleep(0.5)
    wait_agent(dom)
    out["update_live_bw"] = err(dom.update_device, nic0bw, LIVE)
    out["after_update"] = ["<bandwidth>" in dom.xml(), tc("vkbw0")]
    out["attach_down"] = err(dom.attach_device, nic1, LIVE)
    out["attached"] = [tc("vkbw1"), "<target dev='vkbw1'/>" in dom.xml()]
    out["guest_carrier_down"] = carrier(mac1)
    live = dom.xml()
    i = live.find("dev='vkbw1'")
    out["attached_xml"] = live[live.rindex("<interface", 0, i):live.index("</interface>", i)] \
        if i >= 0 else live
    out["link_up"] = err(dom.update_device, nic1.replace("'down'", "'up'"), LIVE)
    out["guest_carrier_up"] = carrier(mac1)
    out["attach_bw"] = err(dom.attach_device, nic2, LIVE)
    out["after_attach_bw"] = [tc("vkbw2"), mac2 in dom.xml()]
    out["detach"] = err(dom.detach_device, nic1, LIVE)
    out["after_detach"] = [tc("vkbw1"), "vkbw1" in dom.xml()]
    out["update_config_bw"] = err(dom.update_device, nic0bw, CONFIG)
    out["config_xml"] = "<inbound average='1000' peak='2000' burst='256'/>" in dom.xml(2)
finally:
    if dom.is_active():
        dom.destroy()
    out["after_destroy"] = tc("vkbw0")
    dom.undefine()
    conn.close()
print(json.dumps(out))
"""


def test_start_update_hotplug_and_unplug(netns: str) -> None:
    guest = tg.ensure_guest()
    root = tempfile.mkdtemp(prefix="vkbw", dir="/tmp")
    xml = domain_xml(guest, Path(root), "bw1", memory_mib=128,
                     extra_devices=nic(MAC0, "vkbw0", BW) + PORTS + AGENT)
    try:
        r = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", CHILD, root,
                            xml, nic(MAC0, "vkbw0", BW), nic(MAC0, "vkbw0"),
                            nic(MAC1, "vkbw1", "<link state='down'/>"),
                            nic(MAC2, "vkbw2", BW), MAC2, MAC1, str(Path(__file__).parent)],
                           capture_output=True, text=True, timeout=900, cwd=REPO)
    finally:  # QEMU left by a failed child dies with the namespace (fixture)
        shutil.rmtree(root, ignore_errors=True)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["defined_xml"]
    # start: tc's sfq error as libvirtd reports it; no guest, no tap left
    assert out["start_bw"] == [1, 0, sfq_error("vkbw0")]
    assert out["after_failed_start"] == [False, None]
    # without bandwidth: noqueue on the tap (qemuDomainInterfaceSetDefaultQDisc)
    assert out["started"] == {"qdiscs": ["noqueue"], "classes": []}
    # live update: the same error; the live XML keeps no <bandwidth>; what tc did before
    # the failing sfq stays (the htb root and its class), as in libvirt
    assert out["update_live_bw"] == [1, 0, sfq_error("vkbw0")]
    assert out["after_update"] == [False, {"qdiscs": ["htb"],
                                           "classes": ["class htb 1:1 root"]}]
    # hot-plug with link down: the tap, the XML and QEMU's link state
    assert out["attach_down"] is None
    assert out["attached"] == [{"qdiscs": ["noqueue"], "classes": []}, True]
    assert "<link state='down'/>" in out["attached_xml"]
    assert out["guest_carrier_down"] == "0"  # the guest sees no carrier
    assert out["link_up"] is None and out["guest_carrier_up"] == "1"
    # hot-plug with bandwidth: refused with tc's error, nothing left behind
    assert out["attach_bw"] == [1, 0, sfq_error("vkbw2")]
    assert out["after_attach_bw"] == [None, False]
    # unplug: the tap goes with the device
    assert out["detach"] is None
    assert out["after_detach"] == [None, False]
    # config: accepted (start would apply it)
    assert out["update_config_bw"] is None and out["config_xml"]
    assert out["after_destroy"] is None


# ----------------------------------------------------------------- virsh vs libvirtd

DAEMON = r"""
import sys
from virtkit.testing.peers import start_virtkitd
d = start_virtkitd(sys.argv[1])
print(d.uri("unix", "/system", "qemu"), flush=True)
sys.stdin.read()
d.stop()
"""


def _virsh(uri: str, *args: str) -> list[str]:
    r = subprocess.run(["virsh", "-q", "-c", uri, *args], capture_output=True, text=True,
                       timeout=120)
    return [str(r.returncode), r.stdout.strip(), r.stderr.strip()]


def _scenario(uri: str, netns: str, root: Path) -> dict[str, Any]:
    """What virsh and the host show through one scenario (no guest OS needed)."""
    guest = tg.ensure_guest()

    def tc(tap: str) -> Any:
        qd = subprocess.run(["ip", "netns", "exec", netns, "tc", "-j", "qdisc", "show", "dev",
                             tap], capture_output=True, text=True)
        if qd.returncode:
            return None
        cls = subprocess.run(["ip", "netns", "exec", netns, "tc", "class", "show", "dev", tap],
                             capture_output=True, text=True)
        return [sorted(q["kind"] for q in json.loads(qd.stdout)),
                [" ".join(x.split()[:4]) for x in cls.stdout.splitlines()]]

    def iface_xml(flags: tuple[str, ...], tap: str) -> str:
        xml = _virsh(uri, "dumpxml", "bw2", *flags)[1]
        i = xml.find(f"<target dev='{tap}'/>")
        if i < 0:
            return ""
        lines = xml[xml.rindex("<interface", 0, i):xml.index("</interface>", i)].splitlines()
        return "\n".join(x.strip() for x in lines if "<address" not in x and "<alias" not in x)

    files = {}
    for key, text in {"bw": nic(MAC0, "vkbw0", BW), "plain": nic(MAC0, "vkbw0"),
                      "down": nic(MAC1, "vkbw1", "<link state='down'/>"),
                      "hotbw": nic(MAC2, "vkbw2", BW),
                      "floor": nic(MAC0, "vkbw0", "<bandwidth><inbound average='10' "
                                                  "floor='5'/></bandwidth>")}.items():
        files[key] = root / f"{key}.xml"
        files[key].write_text(text)
    dom = root / "bw2.xml"
    dom.write_text(domain_xml(guest, root, "bw2", memory_mib=128,
                              extra_devices=nic(MAC0, "vkbw0", BW) + PORTS))
    out: dict[str, Any] = {}
    step: Callable[..., list[str]] = lambda *a: _virsh(uri, *a)  # noqa: E731
    out["define"] = step("define", str(dom))[::2]
    out["defined"] = iface_xml(("--inactive",), "vkbw0")
    out["start_bw"] = step("start", "bw2")
    out["after_start_bw"] = [step("domstate", "bw2")[1], tc("vkbw0")]
    out["floor_config"] = step("update-device", "bw2", str(files["floor"]), "--config")
    out["plain_config"] = step("update-device", "bw2", str(files["plain"]), "--config")
    out["start"] = step("start", "bw2")[0]
    try:
        out["started"] = tc("vkbw0")
        out["update_live_bw"] = step("update-device", "bw2", str(files["bw"]), "--live")
        out["after_update"] = [iface_xml((), "vkbw0"), tc("vkbw0")]
        out["setlink_down"] = step("domif-setlink", "bw2", "vkbw0", "down")
        out["getlink_down"] = step("domif-getlink", "bw2", "vkbw0")
        out["live_down"] = iface_xml((), "vkbw0")
        out["setlink_up"] = step("domif-setlink", "bw2", "vkbw0", "up")
        out["getlink_up"] = step("domif-getlink", "bw2", "vkbw0")
        out["attach_down"] = step("attach-device", "bw2", str(files["down"]), "--live")
        out["attached"] = [iface_xml((), "vkbw1"), tc("vkbw1"),
                           step("domif-getlink", "bw2", "vkbw1")]
        out["attach_bw"] = step("attach-device", "bw2", str(files["hotbw"]), "--live")
        out["after_attach_bw"] = [iface_xml((), "vkbw2"), tc("vkbw2")]
        out["update_config_bw"] = step("update-device", "bw2", str(files["bw"]), "--config")
        out["config"] = iface_xml(("--inactive",), "vkbw0")
    finally:
        out["destroy"] = step("destroy", "bw2")[0]
        out["after_destroy"] = tc("vkbw0")
        step("undefine", "bw2")
    return dict(json.loads(json.dumps(out).replace(str(root), "ROOT")))


def test_virsh_round_trips_match_libvirtd(netns: str, netns2: str) -> None:
    """virsh start / update-device (live, config) / domif-setlink / domif-getlink /
    attach-device against virtkitd and against libvirtd 9.0's QEMU driver, each in a network
    namespace of its own: the same answers, live and inactive XML and tc state."""
    root = Path(tempfile.mkdtemp(prefix="vkbv", dir="/tmp"))
    proc = subprocess.Popen(["ip", "netns", "exec", netns, sys.executable, "-c", DAEMON,
                             str(root / "vk")], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, cwd=REPO)
    try:
        assert proc.stdout is not None and proc.stdin is not None
        uri = proc.stdout.readline().strip()
        assert uri, "virtkitd did not start"
        (root / "vkc").mkdir()
        ours = _scenario(uri, netns, root / "vkc")
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    try:
        peer = qemu_peers.start_libvirtd_qemu(root / "lv", netns=netns2)
        try:
            (root / "lvc").mkdir()
            theirs = _scenario(peer.uri, netns2, root / "lvc")
        finally:
            peer.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    # the facts first (a readable failure), then everything virsh and tc showed
    assert ours["start_bw"] == ["1", "", "error: Failed to start domain 'bw2'\nerror: "
                                + sfq_error("vkbw0").strip()]
    assert ours["after_start_bw"] == ["shut off", None]
    assert ours["started"] == [["noqueue"], []]
    assert ours["after_update"][1] == [["htb"], ["class htb 1:1 root"]]
    assert ours["getlink_down"][1].split()[-1] == "down"
    assert "<link state='down'/>" in ours["attached"][0]
    assert ours["after_attach_bw"] == ["", None]
    assert "<inbound average='1000' peak='2000' burst='256'/>" in ours["config"]
    assert ours == theirs


# ----------------------------------------------------------------- define-time checks


@pytest.mark.parametrize(("xml", "code", "message"), [
    (nic(MAC0, "t0", "<bandwidth><inbound average='10' floor='5'/></bandwidth>"),
     ErrorCode.CONFIG_UNSUPPORTED,
     "unsupported configuration: floor attribute is not supported for this config"),
    ("<interface type='user'><model type='virtio'/><bandwidth><inbound average='10'/>"
     "</bandwidth></interface>", ErrorCode.CONFIG_UNSUPPORTED,
     "unsupported configuration: element <bandwidth> of interface type 'user' is not "
     "supported by the qemu driver"),
    (nic(MAC0, "t0", "<bandwidth><outbound peak='5'/></bandwidth>"), ErrorCode.XML_DETAIL,
     "Missing mandatory average or floor attributes"),
])
def test_define_checks(xml: str, code: int, message: str) -> None:
    _, iface = device_from_xml(xml)
    with pytest.raises(VirtError) as exc:
        command.check_supported(iface, "domain/devices")
    assert (exc.value.code, str(exc.value)) == (code, message)


def test_define_accepts_tap_types_and_network_floor() -> None:
    for xml in (nic(MAC0, "t0", BW),
                f"<interface type='bridge'><source bridge='br0'/>{BW}</interface>",
                "<interface type='network'><source network='default'/><bandwidth>"
                "<inbound average='10' floor='5'/></bandwidth></interface>"):
        command.check_supported(device_from_xml(xml)[1], "domain/devices")


def test_floor_on_a_network_interface_needs_network_qos() -> None:
    """virtkit's networks have no QoS: libvirt's networkCheckBandwidth error at start."""
    _, iface = device_from_xml(
        f"<interface type='network'><mac address='{MAC0}'/><source network='n1'/><bandwidth>"
        "<inbound average='10' floor='5'/></bandwidth></interface>")
    with pytest.raises(VirtError) as exc:
        netif._spec(iface)
    assert (exc.value.code, exc.value.domain) == (ErrorCode.OPERATION_UNSUPPORTED,
                                                  ErrorDomain.NETWORK)
    assert str(exc.value) == ("Operation not supported: Invalid use of 'floor' on interface "
                              f"with MAC address {MAC0} - network 'n1' has no inbound QoS set")
