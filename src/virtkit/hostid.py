"""The host UUID a libvirtd.conf may set (``host_uuid`` / ``host_uuid_source``): libvirt's
virSetHostUUIDStr / virGetHostUUID. The daemon sets it once at start; drivers read it for
capabilities and migration cookies (virtkit.drivers.qemu.caps.node_host_uuid)."""

from __future__ import annotations

__all__ = ["configured", "set_configured"]

_configured: str | None = None


def set_configured(value: str | None) -> None:
    """The UUID the daemon's configuration names (None: the machine's)."""
    global _configured
    _configured = value


def configured() -> str | None:
    """The configured host UUID, or None."""
    return _configured
