"""The connection and node calls and capabilities (host interfaces and node devices: the
mixins of ``interfaces.py`` and ``nodedevs.py``)."""

from __future__ import annotations

from virtkit.drivers.base import DomainEventCallback
from virtkit.drivers.inmemory.common import Base, check_flags, err
from virtkit.drivers.inmemory.defaults import SYSINFO_XML
from virtkit.drivers.inmemory.interfaces import InterfaceMixin
from virtkit.drivers.inmemory.node import TEST_EMULATOR, TestNode
from virtkit.drivers.inmemory.nodedevs import NodeDeviceMixin
from virtkit.errors import ErrorCode, ErrorDomain
from virtkit.types import NodeInfo, SecurityModel

# VIR_DRV_FEATURE_TYPED_PARAM_STRING, VIR_DRV_FEATURE_NETWORK_UPDATE_HAS_CORRECT_ORDER
_FEATURES = frozenset({9, 16})
# The domain events the test driver can emit (lifecycle and metadata change); any
# valid id may be registered, as in libvirt.
_MAX_DOMAIN_EVENT_ID = 26


def capabilities_xml(node: TestNode) -> str:
    """testBuildCapabilities formatted as virCapabilitiesFormatXML writes it."""
    out = ["<capabilities>\n\n", "  <host>\n", "    <cpu>\n", "      <arch>i686</arch>\n",
           "      <features>\n", "        <pae/>\n", "        <nonpae/>\n", "      </features>\n"]
    for size in (4, 8, 2048, 1048576):
        out.append(f"      <pages unit='KiB' size='{size}'/>\n")
    out += ["    </cpu>\n", "    <power_management/>\n", "    <iommu support='no'/>\n"]
    if node.cells:
        out += ["    <topology>\n", f"      <cells num='{len(node.cells)}'>\n"]
        cpu_id = 0
        for i, cell in enumerate(node.cells):
            first = 8 if i == 1 else 4
            out += [f"        <cell id='{i}'>\n",
                    f"          <memory unit='KiB'>{cell.mem}</memory>\n",
                    f"          <pages unit='KiB' size='{first}'>{cell.mem // first}</pages>\n",
                    "          <pages unit='KiB' size='2048'>0</pages>\n",
                    "          <pages unit='KiB' size='1048576'>0</pages>\n",
                    f"          <cpus num='{cell.cpus}'>\n"]
            for j in range(cell.cpus):
                out.append(f"            <cpu id='{cpu_id}' socket_id='{cpu_id // 8}' die_id='0' "
                           f"core_id='{j}' siblings='{cpu_id}'/>\n")
                cpu_id += 1
            out += ["          </cpus>\n", "        </cell>\n"]
        out += ["      </cells>\n", "    </topology>\n"]
    out += ["    <secmodel>\n", "      <model>testSecurity</model>\n", "      <doi></doi>\n",
            "    </secmodel>\n", "  </host>\n\n"]
    for os_type in ("hvm", "xen"):
        out += ["  <guest>\n", f"    <os_type>{os_type}</os_type>\n", "    <arch name='i686'>\n",
                "      <wordsize>32</wordsize>\n", f"      <emulator>{TEST_EMULATOR}</emulator>\n",
                "      <domain type='test'/>\n", "    </arch>\n", "    <features>\n",
                "      <pae/>\n", "      <nonpae/>\n", "    </features>\n", "  </guest>\n\n"]
    out.append("</capabilities>\n")
    return "".join(out)


class HostMixin(InterfaceMixin, NodeDeviceMixin, Base):
    """Connection facts, node information, events registration; interfaces and node devices
    through their mixins."""

    def connect_get_type(self) -> str:
        return "TEST"

    def connect_get_version(self) -> int:
        return 2

    def connect_get_lib_version(self) -> int:
        return 9000000

    def connect_get_hostname(self) -> str:
        return self._node.hostname

    def connect_get_uri(self) -> str:
        return self._uri

    def connect_get_sysinfo(self, flags: int = 0) -> str:
        check_flags(flags, 0, "testConnectGetSysinfo")
        return SYSINFO_XML

    def connect_get_max_vcpus(self, type: str | None = None) -> int:
        return 32

    def connect_get_capabilities(self) -> str:
        return capabilities_xml(self._node)

    def connect_is_secure(self) -> bool:
        return True

    def connect_is_encrypted(self) -> bool:
        return False

    def connect_is_alive(self) -> bool:
        return True

    def connect_supports_feature(self, feature: int) -> bool:
        return feature in _FEATURES

    # ------------------------------------------------------------------ node

    def node_get_info(self) -> NodeInfo:
        i = self._node.node_info
        return NodeInfo(i.model, i.memory, i.cpus, i.mhz, i.nodes, i.sockets, i.cores, i.threads)

    def node_get_free_memory(self) -> int:
        with self._node.lock:
            return sum(c.free_mem for c in self._node.cells)

    def node_get_cells_free_memory(self, start_cell: int, max_cells: int) -> list[int]:
        with self._node.lock:
            cells = self._node.cells
            if start_cell >= len(cells):
                raise err(ErrorCode.INVALID_ARG, "Range exceeds available cells")
            return [c.mem for c in cells[start_cell:start_cell + max_cells]]

    def node_get_security_model(self) -> SecurityModel:
        return SecurityModel("testSecurity", "")

    def node_get_cpu_map(self, flags: int = 0) -> tuple[int, list[bool], int]:
        check_flags(flags, 0, "testNodeGetCPUMap")
        return 8, [bool(0x15 >> i & 1) for i in range(8)], 3

    def node_get_cpu_stats(self, cpu_num: int, flags: int = 0) -> dict[str, int]:
        check_flags(flags, 0, "testNodeGetCPUStats")
        return {"user": 9797400000, "kernel": 34678723400000, "idle": 87264900000,
                "iowait": 763600000}

    # ------------------------------------------------------------------ domain events

    def connect_domain_event_register_any(
        self, dom: object, event_id: int, callback: DomainEventCallback
    ) -> int:
        if not 0 <= event_id <= _MAX_DOMAIN_EVENT_ID:
            raise err(ErrorCode.INVALID_ARG, f"unsupported event ID {event_id}", ErrorDomain.NONE)
        uuid = getattr(dom, "uuid", None)
        return self._node.events.register("domain", event_id, uuid, callback, self)

    def connect_domain_event_deregister_any(self, callback_id: int) -> None:
        self._node.events.deregister(callback_id, self)
