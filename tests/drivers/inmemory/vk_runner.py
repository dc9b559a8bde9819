# ruff: noqa: E501  (tables of scripted calls read better on one line each)
"""Run a differential script through virtkit's test driver, shaped like libvirt-python's results."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from virtkit.drivers import remote
from virtkit.drivers.inmemory import TestDriver, open_connection
from virtkit.errors import VirtError
from virtkit.types import DomainIdent, NetworkIdent, StoragePoolIdent
from virtkit.uri import parse_uri


class _URI:
    path = "/default"

    def __str__(self) -> str:
        return "test:///default"


def _norm(value: Any) -> Any:
    """JSON round trip with bools as ints, as libvirt-python returns them."""
    def fix(v: Any) -> Any:
        if isinstance(v, bool):
            return int(v)
        if isinstance(v, dict):
            return {str(k): fix(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [fix(x) for x in v]
        return v
    return json.loads(json.dumps(fix(value)))


def _settle(events: list[Any]) -> None:
    """Remote events arrive on another thread: wait until none came for a moment."""
    seen, quiet = -1, 0
    while quiet < 3:
        time.sleep(0.005)
        quiet = quiet + 1 if len(events) == seen else 0
        seen = len(events)


def run_script(script: list[list[Any]], uri: str | None = None) -> list[dict[str, Any]]:
    """Run ``script`` on the local test driver, or over RPC to the daemon at ``uri``."""
    if uri is None:
        tables = open_connection(_URI(), 0)
        assert isinstance(tables.hypervisor, TestDriver)
    else:
        tables = remote.open_connection(parse_uri(uri), 0)  # type: ignore[arg-type]
    h: Any = tables.hypervisor
    events: list[list[Any]] = []

    def on_dom(d: DomainIdent, event_id: int, payload: tuple[object, ...]) -> None:
        if event_id == 0:
            events.append(["dom", d.name, payload[0], payload[1]])
        else:
            events.append(["meta", d.name, payload[0], payload[1]])

    h.connect_domain_event_register_any(None, 0, on_dom)
    h.connect_domain_event_register_any(None, 23, on_dom)
    h.connect_network_event_register_any(
        None, 0, lambda n, e, p: events.append(["net", n.name, p[0], p[1]]))
    h.connect_storage_pool_event_register_any(
        None, 0, lambda p, e, a: events.append(["pool", p.name, a[0], a[1]]))
    h.connect_storage_pool_event_register_any(
        None, 1, lambda p, e, a: events.append(["poolrefresh", p.name]))

    def dom(n: str) -> DomainIdent:
        return h.domain_lookup_by_name(n)

    def net(n: str) -> NetworkIdent:
        return h.network_lookup_by_name(n)

    def pool(n: str) -> StoragePoolIdent:
        return h.storage_pool_lookup_by_name(n)

    def snap(n: str, s: str) -> Any:
        return h.domain_snapshot_lookup_by_name(dom(n), s)

    def info(n: str) -> list[int]:
        i = h.domain_get_info(dom(n))
        return [i.state, i.max_mem, i.memory, i.nr_virt_cpu]

    def stats(flags: int = 0) -> list[Any]:
        return sorted([r.domain.name, r.params] for r in h.connect_get_all_domain_stats(None, 0, flags))

    def ifaddr(n: str) -> dict[str, Any]:
        return {
            i.name: {"addrs": [{"addr": a.addr, "prefix": a.prefix, "type": a.type} for a in i.addrs],
                     "hwaddr": i.hwaddr}
            for i in h.domain_interface_addresses(dom(n), 0)
        }

    mem_names = {0: "swap_in", 1: "swap_out", 2: "major_fault", 3: "minor_fault", 4: "unused",
                 5: "available", 6: "actual", 7: "rss", 8: "usable", 9: "last_update",
                 10: "disk_caches", 11: "hugetlb_pgalloc", 12: "hugetlb_pgfail"}

    ops: dict[str, Callable[..., Any]] = {
        "define": lambda xml, flags=0: h.domain_define_xml(xml, flags).name,
        "createxml": lambda xml, flags=0: h.domain_create_xml(xml, flags).name,
        "lookup": lambda n: [dom(n).name, dom(n).id],
        "lookup_id": lambda i: h.domain_lookup_by_id(i).name,
        "lookup_uuid": lambda u: h.domain_lookup_by_uuid(u).name,
        "create": lambda n, flags=0: (h.domain_create(dom(n), flags), 0)[1],
        "destroy": lambda n, flags=0: (h.domain_destroy(dom(n), flags), 0)[1],
        "shutdown": lambda n: (h.domain_shutdown(dom(n)), 0)[1],
        "reboot": lambda n, flags=0: (h.domain_reboot(dom(n), flags), 0)[1],
        "reset": lambda n: (h.domain_reset(dom(n)), 0)[1],
        "suspend": lambda n: (h.domain_suspend(dom(n)), 0)[1],
        "resume": lambda n: (h.domain_resume(dom(n)), 0)[1],
        "undefine": lambda n, flags=0: (h.domain_undefine(dom(n), flags), 0)[1],
        "state": lambda n: list(h.domain_get_state(dom(n))),
        "info": info,
        "xml": lambda n, flags=0: h.domain_get_xml_desc(dom(n), flags),
        "managedsave": lambda n: (h.domain_managed_save(dom(n)), 0)[1],
        "hasms": lambda n: h.domain_has_managed_save_image(dom(n)),
        "msremove": lambda n: (h.domain_managed_save_remove(dom(n)), 0)[1],
        "setmem": lambda n, kib, flags=0: (h.domain_set_memory_flags(dom(n), kib, flags), 0)[1],
        "maxmem": lambda n: h.domain_get_max_memory(dom(n)),
        "setvcpus": lambda n, v, flags=0: (h.domain_set_vcpus_flags(dom(n), v, flags), 0)[1],
        "vcpus": lambda n, flags=0: h.domain_get_vcpus_flags(dom(n), flags),
        "list": lambda flags=0: sorted(d.name for d in h.connect_list_all_domains(flags)),
        "numdoms": lambda: [h.connect_num_of_domains(), h.connect_num_of_defined_domains()],
        "listdefined": lambda: sorted(h.connect_list_defined_domains(1000)),
        "rename": lambda n, new: (h.domain_rename(dom(n), new), 0)[1],
        "setautostart": lambda n, v: (h.domain_set_autostart(dom(n), bool(v)), 0)[1],
        "autostart": lambda n: h.domain_get_autostart(dom(n)),
        "active": lambda n: [h.domain_is_active(dom(n)), h.domain_is_persistent(dom(n))],
        "metaset": lambda n, t, v, k, u, flags=0: (
            h.domain_set_metadata(dom(n), t, v, k, u, flags), 0)[1],
        "metaget": lambda n, t, u, flags=0: h.domain_get_metadata(dom(n), t, u, flags),
        "seclabel": lambda n: [h.domain_get_security_label(dom(n)).label,
                               h.domain_get_security_label(dom(n)).enforcing],
        "memstats": lambda n: sorted(
            [mem_names[k], v] for k, v in h.domain_memory_stats(dom(n)).items()),
        "blockinfo": lambda n, p: [getattr(h.domain_get_block_info(dom(n), p), f)
                                   for f in ("capacity", "allocation", "physical")],
        "blockstats": lambda n, p: (h.domain_block_stats(dom(n), p), 5)[1],
        "ifstats": lambda n, p: (h.domain_interface_stats(dom(n), p), 8)[1],
        "ifaddr": ifaddr,
        "hostname": lambda n: h.domain_get_hostname(dom(n)),
        "stats": stats,
        "save": lambda n, path: (h.domain_save(dom(n), path), 0)[1],
        "restore": lambda path: (h.domain_restore(path), 0)[1],
        "saveimagexml": lambda path: h.domain_save_image_get_xml_desc(path),
        "snapcreate": lambda n, xml, flags=0: h.domain_snapshot_create_xml(dom(n), xml, flags).name,
        "snaplist": lambda n, flags=0: sorted(h.domain_snapshot_list_names(dom(n), 1000, flags)),
        "snapnum": lambda n, flags=0: h.domain_snapshot_num(dom(n), flags),
        "snapchildren": lambda n, s, flags=0: sorted(
            x.name for x in h.domain_snapshot_list_all_children(snap(n, s), flags)),
        "snapcurrent": lambda n: h.domain_snapshot_current(dom(n)).name,
        "snaphascurrent": lambda n: h.domain_has_current_snapshot(dom(n)),
        "snapparent": lambda n, s: h.domain_snapshot_get_parent(snap(n, s)).name,
        "snaprevert": lambda n, s, flags=0: (h.domain_revert_to_snapshot(snap(n, s), flags), 0)[1],
        "snapdelete": lambda n, s, flags=0: (h.domain_snapshot_delete(snap(n, s), flags), 0)[1],
        "snapstate": lambda n, s: h.domain_snapshot_get_xml_desc(snap(n, s))
        .split("<state>")[1].split("<")[0],
        "netdefine": lambda xml: h.network_define_xml(xml).name,
        "netcreatexml": lambda xml: h.network_create_xml(xml).name,
        "netstart": lambda n: (h.network_create(net(n)), 0)[1],
        "netdestroy": lambda n: (h.network_destroy(net(n)), 0)[1],
        "netundefine": lambda n: (h.network_undefine(net(n)), 0)[1],
        "netbridge": lambda n: h.network_get_bridge_name(net(n)),
        "netxml": lambda n: h.network_get_xml_desc(net(n)),
        "netlist": lambda flags=0: sorted(x.name for x in h.connect_list_all_networks(flags)),
        "netactive": lambda n: [h.network_is_active(net(n)), h.network_is_persistent(net(n))],
        "pooldefine": lambda xml: h.storage_pool_define_xml(xml).name,
        "poolcreatexml": lambda xml: h.storage_pool_create_xml(xml).name,
        "poolstart": lambda n: (h.storage_pool_create(pool(n)), 0)[1],
        "pooldestroy": lambda n: (h.storage_pool_destroy(pool(n)), 0)[1],
        "poolundefine": lambda n: (h.storage_pool_undefine(pool(n)), 0)[1],
        "poolbuild": lambda n: (h.storage_pool_build(pool(n)), 0)[1],
        "pooldelete": lambda n: (h.storage_pool_delete(pool(n)), 0)[1],
        "poolrefresh": lambda n: (h.storage_pool_refresh(pool(n)), 0)[1],
        "poolinfo": lambda n: [getattr(h.storage_pool_get_info(pool(n)), f)
                               for f in ("state", "capacity", "allocation", "available")],
        "poolxml": lambda n: h.storage_pool_get_xml_desc(pool(n)),
        "poolsetautostart": lambda n, v: (h.storage_pool_set_autostart(pool(n), bool(v)), 0)[1],
        "poolautostart": lambda n: h.storage_pool_get_autostart(pool(n)),
        "poollist": lambda flags=0: sorted(x.name for x in h.connect_list_all_storage_pools(flags)),
        "volcreate": lambda n, xml: h.storage_vol_create_xml(pool(n), xml).name,
        "volclone": lambda n, xml, src: h.storage_vol_create_xml_from(
            pool(n), xml, h.storage_vol_lookup_by_name(pool(n), src)).name,
        "volinfo": lambda n, v: [getattr(h.storage_vol_get_info(
            h.storage_vol_lookup_by_name(pool(n), v)), f) for f in ("type", "capacity", "allocation")],
        "volpath": lambda n, v: h.storage_vol_get_path(h.storage_vol_lookup_by_name(pool(n), v)),
        "volxml": lambda n, v: h.storage_vol_get_xml_desc(h.storage_vol_lookup_by_name(pool(n), v)),
        "voldelete": lambda n, v: (h.storage_vol_delete(h.storage_vol_lookup_by_name(pool(n), v)), 0)[1],
        "volbykey": lambda k: h.storage_vol_lookup_by_key(k).name,
        "volbypath": lambda p: h.storage_vol_lookup_by_path(p).name,
        "vollist": lambda n: sorted(h.storage_pool_list_volumes(pool(n), 1000)),
        "nodeinfo": lambda: [h.node_get_info().model] + [
            getattr(h.node_get_info(), f) for f in ("cpus", "mhz", "nodes", "sockets", "cores", "threads")],
        "caps": lambda: h.connect_get_capabilities(),
        "cellsfree": lambda s, m: h.node_get_cells_free_memory(s, m),
        "cpumap": lambda: list(h.node_get_cpu_map()),
        "sysinfo": lambda: h.connect_get_sysinfo(),
        "nodedevxml": lambda n: h.node_device_get_xml_desc(h.node_device_lookup_by_name(n)),
        "ifacexml": lambda n: h.interface_get_xml_desc(h.interface_lookup_by_name(n)),
    }
    out: list[dict[str, Any]] = []
    try:
        for op, *args in script:
            try:
                res: dict[str, Any] = {"ok": _norm(ops[op](*args))}
            except VirtError as e:
                res = {"err": [e.code, e.domain, e.message]}
            if uri is not None:
                _settle(events)
            res["events"] = _norm(events)
            events.clear()
            out.append(res)
    finally:
        h.connect_close()
    return out
