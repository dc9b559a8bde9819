"""Handles: thin objects (an identity plus the connection) for the things a connection manages."""

from virtkit.handles.domain import Domain
from virtkit.handles.hostdev import Interface, NodeDevice
from virtkit.handles.network import Network
from virtkit.handles.nwfilter import NWFilter, NWFilterBinding
from virtkit.handles.secret import Secret
from virtkit.handles.snapshot import Snapshot
from virtkit.handles.storage import StoragePool, StorageVolume

__all__ = ["Domain", "Interface", "NWFilter", "NWFilterBinding", "Network", "NodeDevice",
           "Secret", "Snapshot", "StoragePool", "StorageVolume"]
