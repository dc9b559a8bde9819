"""What libvirt reads besides udev: PCI names (pci.ids, as libpciaccess), PCI config
space (virpci.c), and a network interface's link and offload features (virnetdev.c)."""

from __future__ import annotations

import array
import fcntl
import functools
import os
import socket
import struct

__all__ = ["PCIConfig", "net_features", "net_link", "pci_names"]


@functools.lru_cache(maxsize=4)
def _pci_table(path: str) -> dict[int, tuple[str, dict[int, str]]]:
    table: dict[int, tuple[str, dict[int, str]]] = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            current: dict[int, str] | None = None
            for line in f:
                if not line.strip() or line.startswith("#"):
                    continue
                if line.startswith("C "):
                    break  # the device classes follow the vendors
                if not line.startswith("\t"):
                    ident, _, name = line.partition("  ")
                    current = {}
                    table[int(ident, 16)] = (name.strip(), current)
                elif not line.startswith("\t\t") and current is not None:
                    ident, _, name = line.strip().partition("  ")
                    current[int(ident, 16)] = name.strip()
    except (OSError, ValueError):
        return {}
    return table


def pci_names(files: tuple[str, ...], vendor: int, product: int) -> tuple[str | None, str | None]:
    """libpciaccess' ``pci_get_strings``: (vendor name, device name), None when unknown."""
    for path in files:
        if os.path.exists(path):
            entry = _pci_table(path).get(vendor)
            if entry is None:
                return None, None
            return entry[0], entry[1].get(product)
    return None, None


_PCI_STATUS, _PCI_CAP_LIST_BIT, _PCI_CAPABILITY_LIST = 0x06, 0x10, 0x34
_PCI_HEADER_TYPE, _PCI_CONF_HEADER_LEN = 0x0E, 0x40
_PCI_CAP_ID_EXP, _PCI_CAP_ID_AF = 0x10, 0x13
_PCI_EXP_FLAGS, _PCI_EXP_LNKCAP, _PCI_EXP_LNKSTA = 2, 12, 18
_PCI_EXP_TYPE_ROOT_INT_EP, _PCI_EXP_TYPE_ROOT_EC = 0x9, 0xA
HEADER_TYPES = ("endpoint", "pci-bridge", "cardbus-bridge")
LINK_SPEEDS = ("", "2.5", "5", "8", "16", "32", "64")


class PCIConfig:
    """A PCI function's config space, read as virPCIDevice* reads it."""

    def __init__(self, path: str) -> None:
        self.path = path
        with open(path, "rb") as f:
            self.data = f.read(4096)
        self.length = os.path.getsize(path)

    def _u8(self, pos: int) -> int:
        if pos >= len(self.data):
            raise ValueError(pos)
        return self.data[pos]

    def _u16(self, pos: int) -> int:
        return self._u8(pos) | self._u8(pos + 1) << 8

    def _u32(self, pos: int) -> int:
        return self._u16(pos) | self._u16(pos + 2) << 16

    def header_type(self) -> int:
        """virPCIGetHeaderType (0 endpoint, 1 PCI bridge, 2 CardBus bridge)."""
        return self._u8(_PCI_HEADER_TYPE) & 0x7F

    def _cap_offset(self, cap: int) -> int | None:
        """virPCIDeviceFindCapabilityOffset: the offset, 0 when absent, None on failure."""
        try:
            if not self._u16(_PCI_STATUS) & _PCI_CAP_LIST_BIT:
                return None
            pos = self._u8(_PCI_CAPABILITY_LIST)
            seen = 0
            while pos >= _PCI_CONF_HEADER_LEN and pos != 0xFF and seen < 64:
                if self._u8(pos) == cap:
                    return pos
                pos = self._u8(pos + 1)
                seen += 1
        except ValueError:
            return None
        return None if pos == 0xFF else 0

    def _pcie_pos(self) -> tuple[bool, int]:
        """(is PCIe, PCIe capability offset) as virPCIDeviceInit decides them."""
        pos = self._cap_offset(_PCI_CAP_ID_EXP)
        if pos is None:
            return self.length != 256, 0  # libvirt's guess from the config file's length
        return pos != 0, pos

    def has_flr(self) -> bool:
        """virPCIDeviceDetectFunctionLevelReset: PCIe FLR or the Advanced Features one."""
        try:
            _, pos = self._pcie_pos()
            if pos and self._u32(pos + 4) & (1 << 28):  # PCI_EXP_DEVCAP_FLR
                return True
            af = self._cap_offset(_PCI_CAP_ID_AF)
            return af is not None and af != 0 and self._u8(af + 3) & 0x03 == 0x03  # TP|FLR
        except ValueError:
            return False

    def is_pcie(self) -> bool:
        return self._pcie_pos()[0]

    def link(self) -> tuple[tuple[int, int, int], tuple[int, int]] | None:
        """((cap port, cap speed, cap width), (sta speed, sta width)); None without a link."""
        _, pos = self._pcie_pos()
        if pos == 0:
            return None
        kind = (self._u16(pos + _PCI_EXP_FLAGS) & 0xF0) >> 4
        if kind in (_PCI_EXP_TYPE_ROOT_INT_EP, _PCI_EXP_TYPE_ROOT_EC):
            return None
        cap = self._u32(pos + _PCI_EXP_LNKCAP)
        sta = self._u16(pos + _PCI_EXP_LNKSTA)
        return (cap >> 24, cap & 0xF, (cap & 0x3F0) >> 4), (sta & 0xF, (sta & 0x3F0) >> 4)


NET_FEATURES = ("rx", "tx", "sg", "tso", "gso", "gro", "lro", "rxvlan", "txvlan", "ntuple",
                "rxhash", "rdma", "txudptnl", "switchdev")
IF_STATES = ("", "unknown", "notpresent", "down", "lowerlayerdown", "testing", "dormant", "up")

_SIOCETHTOOL = 0x8946
_ETHTOOL_LEGACY = ((0x14, "rx"), (0x16, "tx"), (0x18, "sg"), (0x1E, "tso"), (0x23, "gso"),
                   (0x2B, "gro"))  # GRXCSUM GTXCSUM GSG GTSO GGSO GGRO
_ETHTOOL_GFLAGS, _ETHTOOL_GFEATURES = 0x25, 0x3A
_ETH_FLAGS = ((1 << 15, "lro"), (1 << 8, "rxvlan"), (1 << 7, "txvlan"), (1 << 27, "ntuple"),
              (1 << 28, "rxhash"))
_TX_UDP_TNL, _GFEATURES_SIZE = 25, 2


def _ethtool(sock: socket.socket, ifname: str, payload: bytes) -> bytes | None:
    buf = array.array("B", payload)
    addr, _ = buf.buffer_info()
    ifreq = struct.pack("16sP", ifname.encode()[:15], addr)
    try:
        fcntl.ioctl(sock.fileno(), _SIOCETHTOOL, ifreq)
    except OSError:
        return None
    return buf.tobytes()


def net_features(ifname: str) -> list[str]:
    """virNetDevGetFeatures through SIOCETHTOOL, in libvirt's feature order."""
    found: set[str] = set()
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    except OSError:
        return []
    with sock:
        for cmd, name in _ETHTOOL_LEGACY:
            out = _ethtool(sock, ifname, struct.pack("II", cmd, 0))
            if out is not None and struct.unpack("II", out)[1] > 0:
                found.add(name)
        out = _ethtool(sock, ifname, struct.pack("II", _ETHTOOL_GFLAGS, 0))
        if out is not None:
            flags = struct.unpack("II", out)[1]
            if flags:
                found.update(name for bit, name in _ETH_FLAGS if flags & bit)
        blocks = (struct.pack("II", _ETHTOOL_GFEATURES, _GFEATURES_SIZE)
                  + bytes(16 * _GFEATURES_SIZE))
        out = _ethtool(sock, ifname, blocks)
        if out is not None:
            word = _TX_UDP_TNL // 32
            active = struct.unpack_from("I", out, 8 + 16 * word + 8)[0]
            if active & (1 << (_TX_UDP_TNL % 32)):
                found.add("txudptnl")
    return [n for n in NET_FEATURES if n in found]


def net_link(net_class_dir: str, ifname: str) -> tuple[int, int] | None:
    """virNetDevGetLinkInfo: (state index in IF_STATES, speed); None: gone or unparsable."""
    base = os.path.join(net_class_dir, ifname)
    try:
        with open(os.path.join(base, "operstate")) as f:
            text = f.read(1024)
    except OSError:
        return None
    if "\n" not in text:
        return None
    word = text.split("\n", 1)[0]
    if word not in IF_STATES or not word:
        return None
    state = IF_STATES.index(word)
    if word != "up":
        return state, 0
    try:
        with open(os.path.join(base, "speed")) as f:
            speed_text = f.read(1024)
    except OSError:
        return state, 0
    try:
        speed = int(speed_text.strip())
    except ValueError:
        return None
    return state, speed & 0xFFFFFFFF  # libvirt parses it as an unsigned int
