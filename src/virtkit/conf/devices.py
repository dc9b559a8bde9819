"""The ``<devices>`` element of libvirt's domain XML (bootstrap version)."""

from __future__ import annotations

from virtkit.conf.model import XmlModel, model, text_child


@model("devices")
class Devices(XmlModel):
    """All devices of a domain, in libvirt's formatting order."""

    emulator: str | None = text_child("emulator")
