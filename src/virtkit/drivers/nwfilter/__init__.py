"""The nwfilter driver: libvirt's network filters, instantiated on nftables."""

from virtkit.drivers.nwfilter.driver import Firewall, NWFilterDriverImpl

__all__ = ["Firewall", "NWFilterDriverImpl"]
