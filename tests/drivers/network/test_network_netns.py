"""The network driver on real bridges, dnsmasq and nftables, inside test namespaces.

Each ``hostns.py(...)`` call is a new process and a new driver instance on the same root,
so every step after the first also exercises re-attachment.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from netns_util import DriverNS, NetNS, attach_client, configure, dhcp, tcp_reachable, wait_for

NAT_XML = """<network>
  <name>{name}</name>
  <forward mode='nat'/>
  <bridge stp='off'/>
  <ip address='{prefix}.1' netmask='255.255.255.0'>
    <dhcp>
      <range start='{prefix}.100' end='{prefix}.150'/>
      <host mac='52:54:00:00:00:05' name='fixed' ip='{prefix}.5'/>
    </dhcp>
  </ip>
</network>"""


def simple_xml(name: str, mode: str | None, prefix: str, bridge: str = "") -> str:
    fwd = f"<forward mode='{mode}'/>" if mode else ""
    brname = f" name='{bridge}'" if bridge else ""
    return (f"<network><name>{name}</name>{fwd}<bridge{brname} stp='off'/>"
            f"<ip address='{prefix}.1' prefix='24'><dhcp>"
            f"<range start='{prefix}.100' end='{prefix}.150'/></dhcp></ip></network>")


def start(ns: DriverNS, xml: str) -> dict[str, object]:
    return ns.py(f"""
        ident = drv.network_define_xml({xml!r})
        drv.network_create(ident)
        out['bridge'] = drv.network_get_bridge_name(ident)
        out['pid'] = node.by_name[ident.name].status.dnsmasq_pid
        out['xml'] = drv.network_get_xml_desc(ident)
    """)


def read(path: str) -> str:
    with open(path) as f:
        return f.read()


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its reaper does not count)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_nat_network_bridge_dnsmasq_rules_lease_and_destroy(
    hostns: DriverNS, make_ns: Callable[[], NetNS]
) -> None:
    r = start(hostns, NAT_XML.format(name="default", prefix="192.168.122"))
    bridge, pid = r["bridge"], int(str(r["pid"]))
    assert bridge == "virbr0"  # auto-assigned and written into the XML, with a MAC
    assert "<bridge name='virbr0' stp='off' delay='0'/>" in str(r["xml"])
    assert "<mac address='52:54:00:" in str(r["xml"])
    addrs = hostns.py("out['a'] = br.addresses_of('virbr0')")["a"]
    assert "192.168.122.1/24" in addrs
    conf = read(os.path.join(hostns.root, "lib/network/default.conf"))
    for line in ("strict-order", "except-interface=lo", "bind-dynamic", "interface=virbr0",
                 "dhcp-range=192.168.122.100,192.168.122.150,255.255.255.0",
                 "dhcp-no-override", "dhcp-authoritative", "dhcp-lease-max=51",
                 f"pid-file={hostns.root}/run/network/default.pid",
                 f"dhcp-hostsfile={hostns.root}/lib/network/default.hostsfile",
                 f"addn-hosts={hostns.root}/lib/network/default.addnhosts"):
        assert line in conf.splitlines(), line
    assert read(f"/proc/{pid}/cmdline").split("\0")[0].endswith("dnsmasq")
    ruleset = hostns.nft()
    assert "table ip virtkit_nat" in ruleset and "table inet virtkit_filter" in ruleset
    assert ("ip saddr 192.168.122.0/24 ip daddr != 192.168.122.0/24 masquerade "
            'comment "virtkit:virbr0"') in ruleset
    assert hostns.exec("cat", "/proc/sys/net/ipv4/ip_forward").stdout.strip() == "1"

    guest = make_ns()
    attach_client(hostns, "virbr0", guest, "52:54:00:12:34:56")
    addr, router = dhcp(guest, "guest1")
    assert addr.startswith("192.168.122.") and addr.endswith("/24") and router == "192.168.122.1"
    ip = addr.split("/")[0]
    leases = hostns.py("""
        out['l'] = [[x.iface, x.expirytime, x.type, x.mac, x.ipaddr, x.prefix, x.hostname]
                    for x in drv.network_get_dhcp_leases(net('default'))]
        out['m'] = [x.ipaddr for x in node.leases_for_mac('52:54:00:12:34:56')]
        out['other'] = len(drv.network_get_dhcp_leases(net('default'), '52:54:00:99:99:99'))
        out['badmac'] = err(drv.network_get_dhcp_leases, net('default'), 'nope')
    """)
    assert len(leases["l"]) == 1
    iface, expiry, typ, mac, lip, prefix, hostname = leases["l"][0]
    assert (iface, typ, mac, lip, prefix, hostname) == (
        "virbr0", 0, "52:54:00:12:34:56", ip, 24, "guest1")
    assert expiry > 0
    assert leases["m"] == [ip] and leases["other"] == 0
    assert leases["badmac"][0] == 44  # VIR_ERR_INVALID_MAC

    hostns.py("drv.network_destroy(net('default'))")
    assert "virbr0" not in hostns.link_names()
    assert not pid_alive(pid)
    assert "virtkit" not in hostns.nft()
    left = sorted(os.listdir(os.path.join(hostns.root, "lib/network")))
    assert left == ["default.leases"]  # kept for the next start, removed on undefine
    assert os.listdir(os.path.join(hostns.root, "run/network")) == []
    hostns.py("drv.network_undefine(net('default'))")
    assert os.listdir(os.path.join(hostns.root, "lib/network")) == []


@pytest.mark.slow
def test_nat_masquerades_to_the_outside(hostns: DriverNS, make_ns: Callable[[], NetNS]) -> None:
    start(hostns, simple_xml("n", "nat", "10.77.0"))
    wan = make_ns()
    # the "uplink": host 198.51.100.1 <-> wan 198.51.100.2, no route back to 10.77.0.0/24
    os.system(f"ip link add up0 netns {hostns.name} type veth peer name up1 netns {wan.name}")
    hostns.exec("ip", "addr", "add", "198.51.100.1/24", "dev", "up0")
    hostns.exec("ip", "link", "set", "up0", "up")
    wan.exec("ip", "addr", "add", "198.51.100.2/24", "dev", "up1")
    wan.exec("ip", "link", "set", "up1", "up")
    guest = make_ns()
    attach_client(hostns, "virbr0", guest, "52:54:00:00:00:21")
    configure(guest, *dhcp(guest, "g"))
    assert tcp_reachable(guest, wan, "198.51.100.2") == "198.51.100.1"  # masqueraded


@pytest.mark.slow
def test_isolated_networks_cannot_reach_each_other_route_networks_can(
    hostns: DriverNS, make_ns: Callable[[], NetNS]
) -> None:
    start(hostns, simple_xml("iso1", None, "10.81.0"))
    start(hostns, simple_xml("iso2", None, "10.82.0"))
    hostns.exec("sysctl", "-qw", "net.ipv4.ip_forward=1")  # only our rules may stop it
    a, b = make_ns(), make_ns()
    attach_client(hostns, "virbr0", a, "52:54:00:00:00:31")
    attach_client(hostns, "virbr1", b, "52:54:00:00:00:32")
    addr_a, gw_a = dhcp(a, "a")
    addr_b, gw_b = dhcp(b, "b")
    assert gw_a == gw_b == ""  # isolated: dhcp-option=3 (no router)
    configure(a, addr_a, "10.81.0.1")
    configure(b, addr_b, "10.82.0.1")
    ruleset = hostns.nft()
    assert 'iifname "virbr0" reject comment "virtkit:virbr0"' in ruleset
    assert tcp_reachable(a, b, addr_b.split("/")[0]) is None
    assert "virtkit_nat" not in ruleset
    # the same topology with route networks forwards
    hostns.py("""
        for n in ('iso1', 'iso2'):
            drv.network_destroy(net(n)); drv.network_undefine(net(n))
    """)
    assert "virtkit" not in hostns.nft()
    start(hostns, simple_xml("r1", "route", "10.81.0", "virbr0"))
    start(hostns, simple_xml("r2", "route", "10.82.0", "virbr1"))
    for ns_, brname, mac in ((a, "virbr0", "52:54:00:00:00:31"),
                             (b, "virbr1", "52:54:00:00:00:32")):
        ns_.exec("ip", "link", "del", "eth0")
        attach_client(hostns, brname, ns_, mac)
    configure(a, addr_a, "10.81.0.1")
    configure(b, addr_b, "10.82.0.1")
    assert tcp_reachable(a, b, addr_b.split("/")[0]) == addr_a.split("/")[0]  # not NATed


def test_net_update_adds_static_host_live(hostns: DriverNS, make_ns: Callable[[], NetNS]) -> None:
    r = start(hostns, NAT_XML.format(name="n", prefix="10.60.0"))
    pid = int(str(r["pid"]))
    host = "<host mac='52:54:00:00:00:77' name='web' ip='10.60.0.77'/>"
    res = hostns.py(f"""
        drv.network_update(net('n'), 3, 4, -1, {host!r}, 0)   # ADD_LAST, IP_DHCP_HOST, CURRENT
        drv.network_update(net('n'), 3, 10, -1,
                           "<host ip='10.60.0.200'><hostname>db</hostname></host>", 3)
        out['dup'] = err(drv.network_update, net('n'), 3, 4, -1, {host!r}, 0)
        out['live'] = drv.network_get_xml_desc(net('n'))
        out['config'] = drv.network_get_xml_desc(net('n'), 1)
        out['pid'] = node.by_name['n'].status.dnsmasq_pid
    """)
    assert res["pid"] == pid  # SIGHUP, not a restart
    assert host in res["live"] and host not in res["config"]  # CURRENT on an active: live only
    assert "<hostname>db</hostname>" in res["live"] and "<hostname>db</hostname>" in res["config"]
    assert res["dup"][0] == 55  # OPERATION_INVALID
    hosts = read(os.path.join(hostns.root, "lib/network/n.hostsfile"))
    assert "52:54:00:00:00:77,10.60.0.77,web" in hosts.splitlines()
    addn = read(os.path.join(hostns.root, "lib/network/n.addnhosts"))
    assert addn == "10.60.0.200\tdb\t\n"
    guest = make_ns()
    attach_client(hostns, "virbr0", guest, "52:54:00:00:00:77")
    assert dhcp(guest, "whatever")[0] == "10.60.0.77/24"
    res = hostns.py("""
        drv.network_update(net('n'), 2, 4, -1, "<host mac='52:54:00:00:00:77'/>", 1)
        out['live'] = drv.network_get_xml_desc(net('n'))
        out['nosec'] = err(drv.network_update, net('n'), 1, 1, -1, "<bridge/>", 0)
    """)
    assert "52:54:00:00:00:77" not in res["live"]
    assert res["nosec"][0] == 84 and "can't update 'bridge' section" in res["nosec"][2]
    assert "52:54:00:00:00:77" not in read(os.path.join(hostns.root, "lib/network/n.hostsfile"))


def test_reattach_keeps_network_and_cleans_up_vanished_parts(hostns: DriverNS) -> None:
    r = start(hostns, simple_xml("keep", "nat", "10.90.0"))
    pid = int(str(r["pid"]))
    again = hostns.py("""
        out['active'] = drv.network_is_active(net('keep'))
        out['pid'] = node.by_name['keep'].status.dnsmasq_pid
        out['list'] = [n.name for n in drv.connect_list_all_networks(2)]
    """)
    assert again == {"active": True, "pid": pid, "list": ["keep"]}
    # dnsmasq killed behind our back: the next instance starts it again (libvirt does)
    os.kill(pid, 9)
    assert wait_for(lambda: not pid_alive(pid))
    res = hostns.py("out['pid'] = node.by_name['keep'].status.dnsmasq_pid")
    assert res["pid"] != pid and pid_alive(res["pid"])
    new_pid = res["pid"]
    # the bridge deleted behind our back: inactive, and the rest of it removed
    hostns.exec("ip", "link", "del", "virbr0")
    res = hostns.py("""
        out['active'] = drv.network_is_active(net('keep'))
        out['persistent'] = drv.network_is_persistent(net('keep'))
    """)
    assert res == {"active": False, "persistent": True}
    assert wait_for(lambda: not pid_alive(new_pid), 5)
    assert "virtkit" not in hostns.nft()
    # and it starts again
    hostns.py("drv.network_create(net('keep'))")
    assert "virbr0" in hostns.link_names()


def test_events_transient_autostart_and_errors(hostns: DriverNS) -> None:
    res = hostns.py(f"""
        seen = []
        drv.connect_network_event_register_any(None, 0,
            lambda ident, eid, payload: seen.append([ident.name, payload[0]]))
        ident = drv.network_define_xml({simple_xml('ev', 'nat', '10.91.0')!r})
        drv.network_create(ident)
        out['again'] = err(drv.network_create, ident)
        drv.network_destroy(ident)
        out['destroy2'] = err(drv.network_destroy, ident)
        drv.network_undefine(ident)
        t = drv.network_create_xml({simple_xml('tr', 'route', '10.92.0')!r})
        out['tr_persistent'] = drv.network_is_persistent(t)
        out['tr_autostart'] = err(drv.network_set_autostart, t, True)
        out['tr_undefine'] = err(drv.network_undefine, t)
        drv.network_destroy(t)
        out['tr_gone'] = err(drv.network_lookup_by_name, 'tr')
        out['events'] = list(seen)
        p = drv.network_define_xml({simple_xml('auto', 'nat', '10.93.0')!r})
        drv.network_set_autostart(p, True)
        out['inuse'] = err(drv.network_define_xml,
                           {simple_xml('clash', 'nat', '10.94.0', 'virbr0')!r})
        out['mode'] = err(drv.network_define_xml,
                          "<network><name>x</name><forward mode='vepa'/></network>")
        out['bw'] = err(drv.network_define_xml, "<network><name>y</name>"
                        "<bandwidth><inbound average='10'/></bandwidth></network>")
    """)
    assert res["events"] == [["ev", 0], ["ev", 2], ["ev", 3], ["ev", 1], ["tr", 2], ["tr", 3]]
    assert res["again"][0] == 55 and "already active" in res["again"][2]
    assert res["destroy2"][0] == 55 and "is not active" in res["destroy2"][2]
    assert res["tr_persistent"] is False
    assert res["tr_autostart"][0] == 55 and res["tr_undefine"][0] == 55
    assert res["tr_gone"][0] == 43  # VIR_ERR_NO_NETWORK
    assert res["inuse"][0] == 1 and "bridge name 'virbr0' already in use" in res["inuse"][2]
    assert res["mode"][0] == 67 and "vepa" in res["mode"][2]  # CONFIG_UNSUPPORTED
    assert res["bw"][0] == 67 and "<bandwidth>" in res["bw"][2]
    assert os.path.islink(os.path.join(hostns.root, "etc/network/autostart/auto.xml"))
    # a daemon-style open (autostart=True) starts it
    res = hostns.py("""
        node2 = node_for(NetworkPaths.embed(sys.argv[1]))
        node.autostart_all()
        out['active'] = drv.network_is_active(net('auto'))
        out['bridge'] = node.bridge_for('auto')
        out['down'] = err(node.bridge_for, 'nope')
    """)
    assert res["active"] is True and res["bridge"] == "virbr0"
    assert res["down"][0] == 43


def test_existing_device_is_never_taken_over_and_bridge_mode(hostns: DriverNS) -> None:
    hostns.exec("ip", "link", "add", "brx", "type", "bridge")
    res = hostns.py(f"""
        ident = drv.network_define_xml({simple_xml('taken', 'nat', '10.95.0', 'brx')!r})
        out['start'] = err(drv.network_create, ident)
        out['active'] = drv.network_is_active(ident)
        b = drv.network_define_xml("<network><name>hostbr</name><forward mode='bridge'/>"
                                   "<bridge name='brx'/></network>")
        drv.network_create(b)
        out['bridge'] = node.bridge_for('hostbr')
        out['auto'] = drv.network_get_bridge_name(
            drv.network_define_xml({simple_xml('auto', 'nat', '10.96.0')!r}))
    """)
    assert res["start"][0] == 38 and "File exists" in res["start"][2]  # SYSTEM_ERROR
    assert res["active"] is False and res["bridge"] == "brx" and res["auto"] == "virbr0"
    hostns.py("drv.network_destroy(net('hostbr'))")
    assert "brx" in hostns.link_names()  # not ours: left alone
    assert "virtkit" not in hostns.nft()


def test_status_file_shape(hostns: DriverNS) -> None:
    start(hostns, simple_xml("st", "nat", "10.97.0"))
    text = read(os.path.join(hostns.root, "run/network/st.xml"))
    assert text.startswith("<networkstatus>\n  <runtime ")
    assert "<runtime bridge='virbr0' bridgeCreated='yes' dnsmasqPid=" in text
    assert "<name>st</name>" in text
