"""Node device capability names (virNodeDevCapType), shared by drivers and the CLI."""

from __future__ import annotations

__all__ = ["CAP_TYPES"]

# virNodeDevCapType, in order: bit i of virConnectListAllNodeDevices' flags selects
# CAP_TYPES[i].
CAP_TYPES = ("system", "pci", "usb_device", "usb", "net", "scsi_host", "scsi_target", "scsi",
             "storage", "fc_host", "vports", "scsi_generic", "drm", "mdev_types", "mdev", "ccw",
             "css", "vdpa", "ap_card", "ap_queue", "ap_matrix", "vpd")
