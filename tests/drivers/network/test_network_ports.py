"""Network ports (virNetworkPort*) of the network driver, on real networks in a namespace.

Each ``hostns.py(...)`` call is a new process and a new driver instance on the same root,
so a port seen by a later call has survived a restart.
"""

from __future__ import annotations

import os

from netns_util import DriverNS

from virtkit.errors import ErrorCode, ErrorDomain

NAT = ("<network trustGuestRxFilters='yes'><name>{name}</name><forward mode='nat'/>"
       "<bridge stp='off' macTableManager='kernel'/>"
       "<ip address='{prefix}.1' prefix='24'><dhcp><range start='{prefix}.100' "
       "end='{prefix}.150'/></dhcp></ip></network>")
P1 = "11111111-2222-3333-4444-555555555555"
P2 = "0fffffff-2222-3333-4444-555555555555"
OWNER_UUID = "d54df46f-1ab5-4a22-8618-4560ef5fac2c"


def port_xml(uuid: str, extra: str = "", mac: str = "52:54:00:7b:35:93") -> str:
    return (f"<networkport><uuid>{uuid}</uuid><owner><name>vm1</name>"
            f"<uuid>{OWNER_UUID}</uuid></owner><mac address='{mac}'/>{extra}</networkport>")


def start_nat(ns: DriverNS, name: str = "pnet", prefix: str = "10.77.1") -> str:
    r = ns.py(f"""
        ident = drv.network_define_xml({NAT.format(name=name, prefix=prefix)!r})
        drv.network_create(ident)
        out['bridge'] = drv.network_get_bridge_name(ident)
    """)
    return str(r["bridge"])


def test_port_life_cycle_survives_restart(hostns: DriverNS) -> None:
    bridge = start_nat(hostns)
    r = hostns.py(f"""
        n = net('pnet')
        p = drv.network_port_create_xml(n, {port_xml(P1)!r})
        out['ident'] = [p.network.name, p.network.uuid, p.uuid]
        out['xml'] = drv.network_port_get_xml_desc(p)
        out['dup'] = err(drv.network_port_create_xml, n, {port_xml(P1.upper())!r})
        drv.network_port_create_xml(n, {port_xml(P2, mac="52:54:00:00:00:02")!r})
        out['netxml'] = drv.network_get_xml_desc(n)
        out['inactive'] = drv.network_get_xml_desc(n, 1)
    """)
    assert r["ident"][0] == "pnet" and r["ident"][2] == P1
    # allocated: plug filled from the network, trustGuestRxFilters inherited
    assert r["xml"] == (
        "<networkport>\n"
        f"  <uuid>{P1}</uuid>\n"
        "  <owner>\n    <name>vm1</name>\n"
        f"    <uuid>{OWNER_UUID}</uuid>\n  </owner>\n"
        "  <mac address='52:54:00:7b:35:93'/>\n"
        "  <rxfilters trustGuest='yes'/>\n"
        f"  <plug type='network' bridge='{bridge}' macTableManager='kernel'/>\n"
        "</networkport>\n")
    # libvirt's wording, doubled phrase included ("network port %s exists already")
    assert r["dup"] == [ErrorCode.NETWORK_PORT_EXIST, ErrorDomain.NETWORK,
                        f"network port Network port with UUID {P1} already exists "
                        "exists already"]
    assert "<network connections='2' trustGuestRxFilters='yes'>" in r["netxml"]
    assert "connections=" not in r["inactive"]
    port_file = os.path.join(hostns.root, "run/network/pnet/ports", f"{P1}.xml")
    assert os.path.exists(port_file)

    # a new driver instance (restart): the ports are back, in UUID order
    r = hostns.py(f"""
        n = net('pnet')
        out['list'] = [p.uuid for p in drv.network_list_all_ports(n)]
        p = drv.network_port_lookup_by_uuid(n, {P1!r})
        out['xml'] = drv.network_port_get_xml_desc(p)
        drv.network_port_delete(p)
        out['gone'] = err(drv.network_port_lookup_by_uuid, n, {P1!r})
        out['gone_xml'] = err(drv.network_port_get_xml_desc, p)
        out['gone_del'] = err(drv.network_port_delete, p)
        out['netxml'] = drv.network_get_xml_desc(n)
        out['list2'] = [p.uuid for p in drv.network_list_all_ports(n)]
    """)
    assert r["list"] == [P2, P1]
    assert f"bridge='{bridge}'" in r["xml"]
    missing = [ErrorCode.NO_NETWORK_PORT, ErrorDomain.NETWORK,
               f"network port not found: Network port with UUID {P1} does not exist"]
    assert r["gone"] == r["gone_xml"] == r["gone_del"] == missing
    assert "connections='1'" in r["netxml"]
    assert r["list2"] == [P2]
    assert not os.path.exists(port_file)


def test_destroy_drops_ports(hostns: DriverNS) -> None:
    start_nat(hostns)
    hostns.py(f"drv.network_port_create_xml(net('pnet'), {port_xml(P1)!r})")
    r = hostns.py(f"""
        n = net('pnet')
        drv.network_destroy(n)
        out['list'] = err(drv.network_list_all_ports, n)
        out['create'] = err(drv.network_port_create_xml, n, {port_xml(P2)!r})
        out['lookup'] = err(drv.network_port_lookup_by_uuid, n, {P1!r})
        drv.network_create(n)
        out['after'] = drv.network_list_all_ports(n)
        out['netxml'] = drv.network_get_xml_desc(n)
    """)
    inactive = [ErrorCode.OPERATION_INVALID, ErrorDomain.NETWORK,
                "Requested operation is not valid: network 'pnet' is not active"]
    assert r["list"] == inactive and r["create"] == inactive
    assert r["lookup"][0] == ErrorCode.NO_NETWORK_PORT
    assert r["after"] == []
    assert "connections" not in r["netxml"]
    assert not os.path.exists(os.path.join(hostns.root, "run/network/pnet/ports", f"{P1}.xml"))


def test_port_create_errors(hostns: DriverNS) -> None:
    start_nat(hostns)
    plug = "<plug type='network' bridge='virbr0'/>"
    floor = "<bandwidth><inbound average='10' floor='5'/></bandwidth>"
    r = hostns.py(f"""
        n = net('pnet')
        out['reclaim_none'] = err(drv.network_port_create_xml, n, {port_xml(P1)!r}, 1)
        out['plug_no_reclaim'] = err(drv.network_port_create_xml, n, {port_xml(P1, plug)!r})
        out['vport'] = err(drv.network_port_create_xml, n,
                           {port_xml(P1, "<virtualport type='openvswitch'/>")!r})
        out['floor'] = err(drv.network_port_create_xml, n,
                           {port_xml(P1, floor)!r})
        out['unknown'] = err(drv.network_port_create_xml, n, {port_xml(P1, "<frob/>")!r})
        out['parse'] = err(drv.network_port_create_xml, n, "<networkport/>")
        out['flags'] = err(drv.network_port_create_xml, n, {port_xml(P1)!r}, 4)
        out['list_flags'] = err(drv.network_list_all_ports, n, 1)
        out['ports'] = drv.network_list_all_ports(n)
        p = drv.network_port_create_xml(n, {port_xml(P1, plug)!r}, 1)
        out['reclaimed'] = drv.network_port_get_xml_desc(p)
    """)
    assert r["reclaim_none"][:2] == [ErrorCode.INVALID_ARG, ErrorDomain.NETWORK]
    assert "Port reclaim requested but plug type is none" in r["reclaim_none"][2]
    assert r["plug_no_reclaim"][0] == ErrorCode.INVALID_ARG
    assert "Port reclaim not requested but plug type is not none" in r["plug_no_reclaim"][2]
    assert r["vport"][0] == ErrorCode.CONFIG_UNSUPPORTED
    assert ("<virtualport type='openvswitch'> not supported for network 'pnet' which uses "
            "IP forwarding") in r["vport"][2]
    assert r["floor"][0] == ErrorCode.OPERATION_UNSUPPORTED
    assert "network 'pnet' has no inbound QoS set" in r["floor"][2]
    assert r["unknown"][0] == ErrorCode.CONFIG_UNSUPPORTED and "frob" in r["unknown"][2]
    assert r["parse"][0] == ErrorCode.INTERNAL_ERROR and "network port has no uuid" in r["parse"][2]
    assert r["flags"][0] == ErrorCode.INVALID_ARG and r["list_flags"][0] == ErrorCode.INVALID_ARG
    assert r["ports"] == []
    assert "<plug type='network' bridge='virbr0'/>" in r["reclaimed"]


def test_bandwidth_parameters(hostns: DriverNS) -> None:
    start_nat(hostns)
    bw = "<bandwidth><inbound average='1000' peak='4000' burst='1024'/></bandwidth>"
    r = hostns.py(f"""
        n = net('pnet')
        p = drv.network_port_create_xml(n, {port_xml(P1, bw)!r})
        out['get'] = drv.network_port_get_parameters(p)
        drv.network_port_set_parameters(p, {{'outbound.average': 128, 'outbound.burst': 32}})
        out['floor'] = err(drv.network_port_set_parameters, p, {{'inbound.floor': 5}})
    """)
    assert r["get"] == {"inbound.average": 1000, "inbound.peak": 4000, "inbound.floor": 0,
                        "inbound.burst": 1024}
    assert r["floor"][0] == ErrorCode.OPERATION_UNSUPPORTED
    r = hostns.py(f"""
        p = drv.network_port_lookup_by_uuid(net('pnet'), {P1!r})
        out['get'] = drv.network_port_get_parameters(p)
        out['xml'] = drv.network_port_get_xml_desc(p)
    """)
    # libvirt's semantics: the new set replaces the old bandwidth; it is persisted
    assert r["get"] == {"outbound.average": 128, "outbound.peak": 0, "outbound.burst": 32}
    assert "<outbound average='128' burst='32'/>" in r["xml"] and "inbound" not in r["xml"]


def test_hypervisor_helpers_and_bridge_mode(hostns: DriverNS) -> None:
    start_nat(hostns)
    hostns.exec("ip", "link", "add", "hostbr0", "type", "bridge")
    r = hostns.py(f"""
        from virtkit.conf.networkport import NetworkPortDef
        port = NetworkPortDef.build({P1!r}, 'vm1', {OWNER_UUID!r}, '52:54:00:aa:bb:cc')
        got = node.port_allocate('pnet', port)
        out['plug'] = [got.plug.type, got.plug.bridge]
        out['same'] = node.port_reclaim('pnet', got).to_xml() == got.to_xml()
        node.port_release('pnet', {P1!r})
        node.port_release('pnet', {P1!r})      # already gone: silent
        node.port_release('nonet', {P1!r})     # no such network: silent
        out['left'] = drv.network_list_all_ports(net('pnet'))
        node.port_reclaim('pnet', got)         # the network lost it: recorded again
        out['again'] = [p.uuid for p in drv.network_list_all_ports(net('pnet'))]
        q = node.plug_interface('pnet', 'vm2', {OWNER_UUID!r}, '52:54:00:aa:bb:cd',
                                portgroup='nope')
        out['plugged'] = [len(q.uuid), q.plug.bridge, q.owner_name, q.group]
        node.port_release('pnet', q.uuid)
        r = node.reclaim_interface('pnet', q.uuid, 'vm2', {OWNER_UUID!r}, q.mac_address, 'virbr0')
        out['reclaimed'] = [r.uuid == q.uuid, r.plug.bridge]
        node.port_release('pnet', q.uuid)
        b = drv.network_define_xml("<network><name>hb</name><forward mode='bridge'/>"
                                   "<bridge name='hostbr0'/></network>")
        drv.network_create(b)
        p = drv.network_port_create_xml(b, {port_xml(P2)!r})
        out['bxml'] = drv.network_port_get_xml_desc(p)
        out['bvport'] = err(drv.network_port_create_xml, b,
                            {port_xml(P1, "<virtualport type='802.1Qbg'/>")!r})
    """)
    assert r["plug"] == ["network", "virbr0"]
    assert r["same"] is True
    assert r["left"] == []
    assert r["again"] == [P1]
    assert r["plugged"] == [36, "virbr0", "vm2", "nope"]
    assert r["reclaimed"] == [True, "virbr0"]
    assert "<plug type='bridge' bridge='hostbr0'/>" in r["bxml"]
    assert r["bvport"][0] == ErrorCode.CONFIG_UNSUPPORTED
    assert "which uses a bridge device" in r["bvport"][2]
