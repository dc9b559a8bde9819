"""test:///default is built from data with lazily parsed definitions; it must match the XML."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from virtkit.drivers.inmemory import TestDriver, _build_default
from virtkit.drivers.inmemory import node as nodemod
from virtkit.drivers.inmemory.defaults import DEFAULT_NODE_XML
from virtkit.drivers.inmemory.node import DomainObj, Pending
from virtkit.drivers.inmemory.nodefile import default_cells, load_node
from virtkit.types import NetworkIdent, StoragePoolIdent


def _parsed_default() -> nodemod.TestNode:
    node = nodemod.TestNode("/default")
    node.cells = default_cells()
    load_node(node, DEFAULT_NODE_XML, None)
    return node


def _state(node: nodemod.TestNode) -> list[Any]:
    dom = next(iter(node.domains_by_uuid.values()))
    net = next(iter(node.networks.values()))
    pool = next(iter(node.pools.values()))
    return [
        (dom.name, dom.uuid, dom.id, dom.state, dom.reason, dom.persistent, dom.autostart,
         dom.managed_save, dom.max_mem, dom.memory, dom.vcpus, dom.ident, node.next_id,
         list(node.domains_by_id), dom.new_def is dom.defn),
        (net.name, net.uuid, net.active, net.persistent, net.autostart, net.new_def),
        (pool.name, pool.uuid, pool.pool_type, pool.target_path, pool.capacity, pool.allocation,
         pool.available, pool.active, pool.persistent, pool.autostart, pool.volumes),
        node.node_info,
    ]


def _xml(node: nodemod.TestNode) -> list[str]:
    drv = TestDriver(node, "test:///default")
    dom = next(iter(node.domains_by_uuid.values())).ident
    net = next(iter(node.networks.values()))
    pool = next(iter(node.pools.values()))
    return [drv.domain_get_xml_desc(dom, 0), drv.domain_get_xml_desc(dom, 2),
            drv.network_get_xml_desc(NetworkIdent(net.name, net.uuid), 0),
            drv.storage_pool_get_xml_desc(StoragePoolIdent(pool.name, pool.uuid), 0)]


def test_lazy_default_matches_parsed_node() -> None:
    lazy, parsed = _build_default(), _parsed_default()
    dom = next(iter(lazy.domains_by_uuid.values()))
    assert isinstance(dom, DomainObj)
    assert type(dom._defn) is Pending  # nothing parsed yet
    assert _xml(lazy) == _xml(parsed)
    assert _state(lazy) == _state(parsed)


def test_listing_the_default_node_imports_no_xml_code() -> None:
    code = (
        "import sys\n"
        "import virtkit\n"
        "c = virtkit.open('test:///default')\n"
        "doms = c.list_domains(); c.list_networks(); c.list_storage_pools()\n"
        "assert [(d.name, d.id) for d in doms] == [('test', 1)]\n"
        "assert [d.info() for d in doms]\n"
        "print(sorted(m for m, mod in sys.modules.items()\n"
        "             if m.startswith(('lxml', 'virtkit.conf.'))\n"
        "             and type(mod).__name__ != '_LazyModule'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
