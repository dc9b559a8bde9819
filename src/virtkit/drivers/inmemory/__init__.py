"""The ``test`` driver: a complete in-memory node with libvirt's test driver semantics.

``test:///default`` connections in one process share one node (reference
counted: it is thrown away when the last connection closes); each
``test:///ABSOLUTE/PATH.xml`` connection loads that node file into a private
node.
"""

from __future__ import annotations

import threading
from typing import Any

from virtkit.constants import ConnectFlags
from virtkit.drivers.base import (
    DriverTables,
    HypervisorDriver,
    InterfaceDriver,
    NetworkDriver,
    NodeDeviceDriver,
    StorageDriver,
)
from virtkit.drivers.inmemory import defaults as dflt
from virtkit.drivers.inmemory.common import check_flags
from virtkit.drivers.inmemory.devtune import DeviceTuningMixin
from virtkit.drivers.inmemory.domains import DomainLifecycleMixin, start_state
from virtkit.drivers.inmemory.domconfig import DomainConfigMixin
from virtkit.drivers.inmemory.guest import GuestMixin
from virtkit.drivers.inmemory.host import HostMixin
from virtkit.drivers.inmemory.lazy import lazy_module
from virtkit.drivers.inmemory.networks import NetworkMixin, parse_network
from virtkit.drivers.inmemory.node import DomainObj, HostObj, NetworkObj, Pending, PoolObj, TestNode
from virtkit.drivers.inmemory.nodefile import default_cells, load_node, read_node_file
from virtkit.drivers.inmemory.pinning import PinningMixin
from virtkit.drivers.inmemory.saveimage import SaveImageMixin
from virtkit.drivers.inmemory.snapshots import SnapshotMixin
from virtkit.drivers.inmemory.storage import DEFAULT_POOL_CAPACITY, StorageMixin, parse_pool
from virtkit.drivers.inmemory.tuning import DomainTuningMixin
from virtkit.errors import ErrorCode, ErrorDomain, make_error

__all__ = ["TestDriver", "open_connection"]

_default_lock = threading.Lock()
_default_node: TestNode | None = None
_CONNECT_RO = int(ConnectFlags.RO)


class TestDriver(
    DomainLifecycleMixin,
    PinningMixin,  # before DomainConfigMixin: its vCPU pinning lives in the definition
    DomainConfigMixin,
    DomainTuningMixin,
    DeviceTuningMixin,
    GuestMixin,
    SaveImageMixin,
    SnapshotMixin,
    HostMixin,
    NetworkMixin,
    StorageMixin,
    HypervisorDriver,
    NetworkDriver,
    StorageDriver,
    NodeDeviceDriver,
    InterfaceDriver,
):
    """One connection to a test node; it implements every table the test driver has."""

    name = "Test"
    nonblocking = True  # an in-memory node: every call returns at once
    __test__ = False  # not a pytest test class

    def __init__(self, node: TestNode, uri: str) -> None:
        self._node = node
        self._uri = uri
        self._closed = False

    def connect_close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._node.events.drop_owner(self)
        _release(self._node)


def _build_default() -> TestNode:
    """The node ``load_node(DEFAULT_NODE_XML)`` gives, without parsing any XML yet.

    Each object's definition is parsed from its XML on first use, so
    connecting and listing stay cheap (tests/drivers/inmemory/test_default_node.py
    checks the result against ``load_node``).
    """
    node = TestNode("/default")
    node.cells = default_cells()
    dom = DomainObj(Pending(_default_domain_def), dflt.DEFAULT_DOMAIN_NAME,
                    dflt.DEFAULT_DOMAIN_UUID)
    dom.max_mem, dom.memory, dom.vcpus = dflt.DEFAULT_DOMAIN_NUMBERS
    dom.persistent = True
    node.add_domain(dom)
    start_state(node, dom, 1)  # RUNNING_BOOTED
    dom.reason = 0  # as testParseDomains leaves it
    net = NetworkObj(Pending(lambda: parse_network(dflt.DEFAULT_NETWORK_XML)),
                     dflt.DEFAULT_NETWORK_NAME, dflt.DEFAULT_NETWORK_UUID,
                     active=True, persistent=True)
    node.networks[net.name] = net
    pool = PoolObj(None, dflt.DEFAULT_POOL_NAME, dflt.DEFAULT_POOL_UUID, dflt.DEFAULT_POOL_TYPE,
                   dflt.DEFAULT_POOL_PATH, DEFAULT_POOL_CAPACITY, 0, DEFAULT_POOL_CAPACITY,
                   active=True, persistent=True)
    pool.defn = Pending(lambda: _default_pool_def(pool))
    node.pools[pool.name] = pool
    for name, mac, xml in dflt.DEFAULT_INTERFACES:
        node.interfaces[name] = HostObj(name, xml, mac)
    for name, parent, caps, xml in dflt.DEFAULT_DEVICES:
        node.devices[name] = HostObj(name, xml, parent=parent, caps=caps)
    return node


def _default_domain_def() -> Any:
    defs = lazy_module("virtkit.drivers.inmemory.defs")
    d = defs.parse_domain(dflt.DEFAULT_DOMAIN_XML)
    defs.take_test_namespace(d)
    return d


def _default_pool_def(pool: PoolObj) -> Any:
    d = parse_pool(dflt.DEFAULT_POOL_XML)
    d.capacity, d.allocation, d.available = pool.capacity, pool.allocation, pool.available
    return d


def _release(node: TestNode) -> None:
    global _default_node
    with _default_lock:
        node.refs -= 1
        if node.refs <= 0 and node is _default_node:
            _default_node = None


def open_connection(uri: Any, flags: int = 0) -> DriverTables:
    """Open ``test:///default`` or ``test:///path/to/node.xml``."""
    global _default_node
    check_flags(flags, _CONNECT_RO, "testConnectOpen")
    path = getattr(uri, "path", None) or ""
    if path in ("", "/"):
        raise make_error(ErrorCode.INVALID_ARG, ErrorDomain.TEST,
                         "testOpen: supply a path or use test:///default")
    if path == "/default":
        with _default_lock:
            if _default_node is None:
                _default_node = _build_default()
            node = _default_node
            node.refs += 1
    else:
        node = TestNode(path)
        load_node(node, read_node_file(path), path)
        node.refs = 1
    driver = TestDriver(node, str(uri) if not isinstance(uri, str) else uri)
    return DriverTables(hypervisor=driver, network=driver, storage=driver, nodedev=driver,
                        interface=driver)
