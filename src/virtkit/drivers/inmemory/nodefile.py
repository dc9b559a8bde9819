"""Loading a node description (``<node>``) into a ``TestNode``.

The root's children may be inline or name a file with ``file='...'``,
resolved relative to the node file: ``<domain>``, ``<network>``,
``<interface>``, ``<pool>`` (with ``<volume>`` children), ``<device>``,
plus ``<cpu>``, ``<memory>`` and ``<auth>``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from virtkit.drivers.domainobj import RUNNING_BOOTED
from virtkit.drivers.inmemory.domains import set_numbers, shutdown_state, start_state
from virtkit.drivers.inmemory.lazy import lazy_module
from virtkit.drivers.inmemory.networks import parse_network
from virtkit.drivers.inmemory.node import Cell, DomainObj, HostObj, NetworkObj, TestNode
from virtkit.drivers.inmemory.snapshots import load_inline_snapshots
from virtkit.drivers.inmemory.storage import add_volume, new_pool, parse_pool
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error

if TYPE_CHECKING:
    from virtkit.conf import xmlutil
    from virtkit.conf.xmlutil import Element
    from virtkit.drivers.inmemory import defs
else:
    defs = lazy_module("virtkit.drivers.inmemory.defs")
    xmlutil = lazy_module("virtkit.conf.xmlutil")



def _xml_error(detail: str) -> VirtError:
    return make_error(ErrorCode.XML_ERROR, ErrorDomain.TEST, detail)


def read_node_file(path: str) -> bytes:
    """A node file's bytes; one that cannot be read is libvirt's parse error
    (virXMLParseFileCtxt: "failed to parse xml document")."""
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        raise _xml_error(f"failed to parse xml document '{path}'") from None


def _resolve(el: Element, base: str | None) -> Element:
    """testParseXMLDocFromFile: an element, or the root of the file it names."""
    rel = el.get("file")
    if rel is None:
        return el
    path = rel if os.path.isabs(rel) or base is None else os.path.join(os.path.dirname(base), rel)
    return xmlutil.parse_xml(read_node_file(path), os.path.basename(path))


def _uint(root: Element, path: str, what: str) -> int | None:
    el = root.find(path)
    if el is None:
        return None
    text = (el.text or "").strip()
    if not text.isdigit():
        raise _xml_error(f"invalid node {what} value")
    return int(text)


def load_node_info(node: TestNode, root: Element) -> None:
    """testParseNodeInfo."""
    info = node.node_info
    for field, path in (("nodes", "cpu/nodes"), ("sockets", "cpu/sockets"),
                        ("cores", "cpu/cores"), ("threads", "cpu/threads")):
        value = _uint(root, path, "cpu " + field)
        if value is not None:
            setattr(info, field, value)
    info.cpus = info.cores * info.threads * info.sockets * info.nodes
    active = _uint(root, "cpu/active", "cpu active")
    if active is not None and active < info.cpus:
        info.cpus = active
    mhz = _uint(root, "cpu/mhz", "cpu mhz")
    if mhz is not None:
        info.mhz = mhz
    model = root.find("cpu/model")
    if model is not None and model.text:
        info.model = model.text.strip()
    memory = _uint(root, "memory", "memory")
    if memory is not None:
        info.memory = memory


def load_node(node: TestNode, xml: str | bytes, path: str | None) -> None:
    """testOpenParse: fill ``node`` from a node document."""
    root = xmlutil.parse_xml(xml, "(test driver)" if path is None else os.path.basename(path))
    if root.tag != "node":
        raise make_error(ErrorCode.XML_ERROR, ErrorDomain.XML,
                         f"expecting root element of 'node', not '{root.tag}'")
    load_node_info(node, root)
    for el in root.findall("domain"):
        _load_domain(node, _resolve(el, path), path)
    for el in root.findall("network"):
        d = parse_network(xmlutil.dump_element(_resolve(el, path), 0))
        obj = NetworkObj(d, d.name or "", d.uuid or "", active=True, persistent=True)
        node.networks[obj.name] = obj
    for el in root.findall("interface"):
        iface = _resolve(el, path)
        name = iface.get("name") or ""
        mac_el = iface.find("mac")
        mac = mac_el.get("address", "") if mac_el is not None else ""
        node.interfaces[name] = HostObj(name, xmlutil.dump_element(iface, 0), mac)
    for el in root.findall("pool"):
        pool_el = _resolve(el, path)
        pool = new_pool(parse_pool(pool_el))
        pool.persistent = True
        pool.active = True
        node.pools[pool.name] = pool
        for vel in pool_el.findall("volume"):
            from virtkit.conf.storage_vol import StorageVolDef, validate_storage_vol_def

            v = StorageVolDef.from_element(_resolve(vel, path))
            validate_storage_vol_def(v, pool.pool_type)
            v.apply_pool_defaults(pool.pool_type)
            add_volume(pool, v)
    for el in root.findall("device"):
        dev = _resolve(el, path)
        name = (dev.findtext("name") or "").strip()
        parent = dev.findtext("parent")
        caps = [c.get("type", "") for c in dev.iter("capability")]
        node.devices[name] = HostObj(name, xmlutil.dump_element(dev, 0), parent=parent, caps=caps)
    for user in root.findall("auth/user"):
        username = (user.text or "").strip()
        if not username:
            raise _xml_error("missing username in /node/auth/user field")
        node.auth_users.append((username, user.get("password")))


def _load_domain(node: TestNode, el: Element, path: str | None) -> None:
    """testParseDomains for one domain."""
    d = defs.parse_domain(el)
    ns = defs.take_test_namespace(d)
    if d.uuid in node.domains_by_uuid or d.name in node.domains_by_name:
        other = node.domains_by_name.get(d.name or "") or node.domains_by_uuid[d.uuid]
        raise make_error(ErrorCode.OPERATION_FAILED, ErrorDomain.DOMAIN,
                         f"domain '{d.name}' already exists with uuid {other.uuid}")
    obj = DomainObj(d, d.name or "", d.uuid)
    set_numbers(obj)
    node.add_domain(obj)
    load_inline_snapshots(obj, ns.snapshots, path)
    obj.persistent = not ns.transient
    obj.managed_save = ns.has_managed_save
    if ns.runstate != 5:
        start_state(node, obj, RUNNING_BOOTED)
    else:
        shutdown_state(node, obj, 0)
    obj.set_state(ns.runstate, 0)


def default_cells() -> list[Cell]:
    """The two NUMA cells of test:///default (8 CPUs each; 2 and 4 GiB)."""
    return [Cell(8, (i + 1) * 2048 * 1024, (i + 1) * 1024 * 1024) for i in range(2)]
