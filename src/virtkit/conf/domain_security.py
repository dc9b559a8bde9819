"""Domain security: <seclabel>, <keywrap>, <launchSecurity>."""

from __future__ import annotations

from virtkit.conf.domain_features import OpenCloseModel
from virtkit.conf.model import XmlModel, attr, children, model, text_child


@model("seclabel")
class SecLabel(XmlModel):
    """``<seclabel type= model= relabel=>`` with label, imagelabel, baselabel."""

    type: str | None = attr()
    model: str | None = attr()
    relabel: str | None = attr()
    label: str | None = text_child("label")
    imagelabel: str | None = text_child("imagelabel")
    baselabel: str | None = text_child("baselabel")


@model("cipher")
class Cipher(XmlModel):
    name: str | None = attr()
    state: str | None = attr()


@model("keywrap")
class KeyWrap(OpenCloseModel):
    ciphers: list[Cipher] = children("cipher", Cipher)


@model("launchSecurity")
class LaunchSecurity(XmlModel):
    """``<launchSecurity type='sev'|'s390-pv'>``."""

    type: str | None = attr()
    kernelHashes: str | None = attr()
    cbitpos: str | None = text_child("cbitpos")
    reducedPhysBits: str | None = text_child("reducedPhysBits")
    policy: str | None = text_child("policy")
    dhCert: str | None = text_child("dhCert")
    session: str | None = text_child("session")
