"""Node devices of the test node (libvirt's testNodeDevice* calls).

Creating a device mocks a vHBA as libvirt's test driver does: the XML must
describe an fc_host ``scsi_host`` whose parent can do vport operations; the
new device is a copy of ``scsi_host11`` named ``scsi_host12`` carrying the
requested wwnn/wwpn. Destroy removes it. Both emit node device lifecycle
events (CREATED / DELETED).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from virtkit.drivers.base import NodeDeviceEventCallback
from virtkit.drivers.inmemory.common import Base, check_flags, err
from virtkit.drivers.inmemory.node import HostObj
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, XMLError, format_message
from virtkit.nodedev_caps import CAP_TYPES
from virtkit.types import NodeDeviceIdent

if TYPE_CHECKING:
    from virtkit.conf.xmlutil import Element

__all__ = ["NodeDeviceMixin"]


_FILTERS_CAP = (1 << len(CAP_TYPES)) - 1
_CREATE_VALIDATE = 1
_EVENT_CREATED, _EVENT_DELETED = 0, 1
_EVENT_ID_LAST = 2  # LIFECYCLE, UPDATE
_NEW_DEVICE = "new device"  # the name libvirt gives a definition being created
_MOCK_SOURCE, _MOCK_NAME = "scsi_host11", "scsi_host12"


def _internal(detail: str) -> VirtError:
    return err(ErrorCode.INTERNAL_ERROR, detail, ErrorDomain.NODEDEV)


def _unknown_cause() -> VirtError:
    return VirtError("An error occurred, but the cause is unknown",
                     code=ErrorCode.INTERNAL_ERROR, domain=ErrorDomain.NONE)


def _xml_attr_error(detail: str) -> XMLError:
    return XMLError(format_message(ErrorCode.XML_ERROR, detail), code=ErrorCode.XML_ERROR,
                    domain=ErrorDomain.XML)


def _parse(xml: str) -> Element:
    # imported here: listing the default node must not load the XML code (lxml)
    from virtkit.conf.xmlutil import parse_xml

    return parse_xml(xml, "node_device_definition", ErrorDomain.NODEDEV)


def top_caps(obj: HostObj) -> list[str]:
    """The device's own capabilities (libvirt's def->caps), in order."""
    root = _parse(obj.xml)
    return [c.get("type") or "" for c in root.findall("capability")]


def has_cap(obj: HostObj, cap: str) -> bool:
    """virNodeDeviceObjHasCap: own capabilities, plus fc_host/vports of a scsi_host."""
    if cap in top_caps(obj):
        return True
    if cap == "vports":
        return "vport_ops" in obj.caps
    return cap in ("fc_host", "mdev_types", "vpd") and cap in obj.caps


def _fc_host(root: Element) -> Element | None:
    """The fc_host capability of the first scsi_host capability that has one."""
    for cap in root.findall("capability"):
        if cap.get("type") == "scsi_host":
            fc = cap.find("capability[@type='fc_host']")
            if fc is not None:
                return fc
    return None


def _wwns(root: Element) -> tuple[str, str, str]:
    """(wwnn, wwpn, fabric_wwn) of a device's fc_host capability; '' when absent."""
    fc = _fc_host(root)
    if fc is None:
        return "", "", ""
    return tuple((fc.findtext(t) or "").strip() for t in ("wwnn", "wwpn", "fabric_wwn"))  # type: ignore[return-value]


class _CreateDef:
    """What virNodeDeviceDefParse (CREATE_DEVICE) keeps of a vHBA request."""

    def __init__(self, root: Element) -> None:
        parent = root.find("parent")
        self.parent = (parent.text or None) if parent is not None else None
        self.parent_wwnn = parent.get("wwnn") if parent is not None else None
        self.parent_wwpn = parent.get("wwpn") if parent is not None else None
        self.parent_fabric_wwn = parent.get("fabric_wwn") if parent is not None else None
        self.fc_wwns: tuple[str, str] | None = None


def _parse_create(xml: str) -> _CreateDef:
    """virNodeDeviceDefParse for creation: libvirt's checks, as far as a vHBA needs them."""
    root = _parse(xml)
    if root.tag != "device":
        raise _xml_attr_error(f"expecting root element of 'device', not '{root.tag}'")
    for devnode in root.findall("devnode"):
        kind = devnode.get("type")
        if kind is None:
            raise _xml_attr_error("Missing required attribute 'type' in element 'devnode'")
        if kind not in ("dev", "link"):
            raise _xml_attr_error(f"Invalid value for attribute 'type' in element 'devnode': "
                                  f"'{kind}'.")
    d = _CreateDef(root)
    if d.parent_wwnn and not d.parent_wwpn:
        raise err(ErrorCode.XML_ERROR, f"when providing parent wwnn='{d.parent_wwnn}', the wwpn "
                  "must also be provided", ErrorDomain.NODEDEV)
    if d.parent_wwpn and not d.parent_wwnn:
        raise err(ErrorCode.XML_ERROR, f"when providing parent wwpn='{d.parent_wwpn}', the wwnn "
                  "must also be provided", ErrorDomain.NODEDEV)
    caps = root.findall("capability")
    if not caps:
        raise _internal(f"no device capabilities for '{_NEW_DEVICE}'")
    for cap in caps:
        kind = cap.get("type")
        if kind is None:
            raise _xml_attr_error("Missing required attribute 'type' in element 'capability'")
        if kind not in CAP_TYPES:
            raise _xml_attr_error(
                f"Invalid value for attribute 'type' in element 'capability': '{kind}'.")
        if kind == "scsi_host":
            _parse_scsi_host(cap, d)
        elif kind == "system":
            _parse_system(cap)
    return d


def _parse_system(cap: Element) -> None:
    """virNodeDevCapSystemParseXML: the hardware UUID is required."""
    from virtkit.conf.common import parse_uuid

    text = cap.findtext("hardware/uuid")
    if not text:
        raise _internal(f"no system UUID supplied for '{_NEW_DEVICE}'")
    if parse_uuid(text) is None:
        raise _internal(f"malformed uuid element for '{_NEW_DEVICE}'")


def _parse_scsi_host(cap: Element, d: _CreateDef) -> None:
    for sub in cap.findall("capability"):
        kind = sub.get("type")
        if kind is None:
            raise _internal(f"missing SCSI host capability type for '{_NEW_DEVICE}'")
        if kind == "vport_ops":
            continue
        if kind != "fc_host":
            raise _internal(f"unknown SCSI host capability type '{kind}' for '{_NEW_DEVICE}'")
        wwnn, wwpn = (sub.findtext(t) or "" for t in ("wwnn", "wwpn"))
        # libvirt would generate missing WWNs; the test driver's generator always fails
        if not wwnn:
            raise _internal(f"no WWNN supplied for '{_NEW_DEVICE}', and auto-generation failed")
        if not wwpn:
            raise _internal(f"no WWPN supplied for '{_NEW_DEVICE}', and auto-generation failed")
        if d.fc_wwns is None:
            d.fc_wwns = (wwnn, wwpn)


class NodeDeviceMixin(Base):
    """virNodeDeviceDriver for the test node."""

    def _device(self, name: str) -> HostObj:
        """testNodeDeviceObjFindByName."""
        obj = self._node.devices.get(name)
        if obj is None:
            raise err(ErrorCode.NO_NODE_DEVICE, f"no node device with matching name '{name}'")
        return obj

    def connect_list_all_node_devices(self, flags: int = 0) -> list[NodeDeviceIdent]:
        check_flags(flags, _FILTERS_CAP, "testConnectListAllNodeDevices")
        wanted = [c for i, c in enumerate(CAP_TYPES) if flags >> i & 1]
        with self._node.lock:
            return [NodeDeviceIdent(d.name) for d in self._node.devices.values()
                    if not wanted or any(has_cap(d, c) for c in wanted)]

    def node_num_of_devices(self, cap: str | None = None, flags: int = 0) -> int:
        check_flags(flags, 0, "testNodeNumOfDevices")
        with self._node.lock:
            return sum(1 for d in self._node.devices.values() if cap is None or has_cap(d, cap))

    def node_list_devices(self, cap: str | None, maxnames: int, flags: int = 0) -> list[str]:
        check_flags(flags, 0, "testNodeListDevices")
        with self._node.lock:
            return [d.name for d in self._node.devices.values()
                    if cap is None or has_cap(d, cap)][:maxnames]

    def node_device_lookup_by_name(self, name: str) -> NodeDeviceIdent:
        with self._node.lock:
            return NodeDeviceIdent(self._device(name).name)

    def node_device_get_xml_desc(self, dev: NodeDeviceIdent, flags: int = 0) -> str:
        check_flags(flags, 0, "testNodeDeviceGetXMLDesc")
        with self._node.lock:
            return self._device(dev.name).xml

    def node_device_get_parent(self, dev: NodeDeviceIdent) -> str | None:
        with self._node.lock:
            return self._device(dev.name).parent

    def node_device_num_of_caps(self, dev: NodeDeviceIdent) -> int:
        with self._node.lock:
            return len(top_caps(self._device(dev.name)))

    def node_device_list_caps(self, dev: NodeDeviceIdent, maxnames: int) -> list[str]:
        with self._node.lock:
            return top_caps(self._device(dev.name))[:maxnames]

    def _parent_host(self, d: _CreateDef) -> None:
        """virNodeDeviceObjListGetParentHost: a vport capable parent must exist."""
        devices = self._node.devices
        found: HostObj | None
        if d.parent:
            found = devices.get(d.parent)
        elif d.parent_wwnn and d.parent_wwpn:
            found = next((o for o in devices.values() if _vport_capable(o)
                          and _wwns(_root(o))[:2] == (d.parent_wwnn, d.parent_wwpn)), None)
        elif d.parent_fabric_wwn:
            found = next((o for o in devices.values() if _vport_capable(o)
                          and _wwns(_root(o))[2] == d.parent_fabric_wwn), None)
        else:
            found = next((o for o in devices.values() if has_cap(o, "vports")), None)
            if found is None:
                raise _internal("Could not find any vport capable device")
        if found is None:
            raise _internal(f"Could not find parent device for '{_NEW_DEVICE}'")
        if "scsi_host" not in top_caps(found) or "vport_ops" not in found.caps:
            raise _internal(f"Parent device {found.name} is not capable of vport operations")

    def node_device_create_xml(self, xml: str, flags: int = 0) -> NodeDeviceIdent:
        check_flags(flags, _CREATE_VALIDATE, "testNodeDeviceCreateXML")
        d = _parse_create(xml)
        if d.fc_wwns is None:
            raise _internal("Device is not a fibre channel HBA")
        wwnn, wwpn = d.fc_wwns
        with self._txn() as node:
            self._parent_host(d)
            source = node.devices.get(_MOCK_SOURCE)
            if source is None:
                raise _unknown_cause()
            new = HostObj(_MOCK_NAME, _mock_xml(source.xml, wwnn, wwpn), parent=source.parent,
                          caps=list(source.caps))
            node.devices[_MOCK_NAME] = new
            node.events.queue("nodedev", NodeDeviceIdent(_MOCK_NAME), 0, (_EVENT_CREATED, 0))
        return NodeDeviceIdent(_MOCK_NAME)

    def node_device_destroy(self, dev: NodeDeviceIdent) -> None:
        with self._txn() as node:
            obj = self._device(dev.name)
            # libvirt's test driver reports these two failures yet returns success
            if _fc_host(_root(obj)) is None:
                return
            if obj.parent is None or obj.parent not in node.devices:
                return
            del node.devices[obj.name]
            node.events.queue("nodedev", NodeDeviceIdent(obj.name), 0, (_EVENT_DELETED, 0))

    def connect_node_device_event_register_any(
        self, dev: NodeDeviceIdent | None, event_id: int, callback: NodeDeviceEventCallback
    ) -> int:
        """virConnectNodeDeviceEventRegisterAny (LIFECYCLE: payload (event, detail))."""
        if not 0 <= event_id < _EVENT_ID_LAST:
            raise err(ErrorCode.INVALID_ARG,
                      "eventID in virConnectNodeDeviceEventRegisterAny must be less than "
                      f"{_EVENT_ID_LAST}", ErrorDomain.NODEDEV)
        return self._node.events.register("nodedev", event_id,
                                          None if dev is None else dev.name, callback, self)

    def connect_node_device_event_deregister_any(self, callback_id: int) -> None:
        self._node.events.deregister(callback_id, self)


def _vport_capable(obj: HostObj) -> bool:
    """An fc_host scsi_host that can do vport operations (libvirt's WWN parent searches)."""
    return _fc_host(_root(obj)) is not None and "vport_ops" in obj.caps


def _root(obj: HostObj) -> Element:
    return _parse(obj.xml)


def _mock_xml(xml: str, wwnn: str, wwpn: str) -> str:
    """scsi_host11's XML renamed to scsi_host12, with the requested WWNs on its fc_host."""
    from virtkit.conf.xmlutil import escape_text

    out = xml.replace(f"<name>{_MOCK_SOURCE}</name>", f"<name>{_MOCK_NAME}</name>", 1)
    for tag, value in (("wwnn", wwnn), ("wwpn", wwpn)):
        start = out.find(f"<{tag}>")
        end = out.find(f"</{tag}>", start)
        if start >= 0 and end > start:
            out = out[:start] + f"<{tag}>{escape_text(value)}" + out[end:]
    return out
