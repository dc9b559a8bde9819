"""A volume's ``<encryption>``: parsed as libvirt's storage_encryption_conf.c, checked as
storage_util.c checks it before ``qemu-img create``, and its passphrase fetched from the
secret driver (libvirt's storageBackendCreateQemuImgSecretPath, without the temp file:
the passphrase goes to qemu-img through a pipe).

Only LUKS can be created (qcow2 with ``encrypt.format=luks``, or raw, which libvirt
turns into a ``luks`` image); the other formats get libvirt's errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from virtkit.conf.common import parse_uuid
from virtkit.conf.xmlutil import Element
from virtkit.constants import SecretUsageType
from virtkit.drivers.links import SecretValues
from virtkit.drivers.storage.backend import VolState, storage_error, xml_escape
from virtkit.errors import ErrorCode

__all__ = [
    "FORMATS",
    "VolEncryption",
    "check_creatable",
    "encryption_secret",
    "encryption_xml",
    "parse_encryption",
    "passphrase",
    "source_encryption",
]

# virStorageEncryptionFormatType, in libvirt's order (the number appears in an error)
FORMATS = ("default", "qcow", "luks", "luks2")


@dataclass
class SecretRef:
    """``<secret type='passphrase' uuid='...'/>`` (or ``usage='...'``)."""

    uuid: str | None = None
    usage: str | None = None


@dataclass
class VolEncryption:
    format: str = "default"
    secrets: list[SecretRef] = field(default_factory=list)


def _secret(el: Element) -> SecretRef:
    kind = el.get("type")
    if not kind:
        raise storage_error(ErrorCode.XML_ERROR, "unknown volume encryption secret type")
    if kind != "passphrase":
        raise storage_error(ErrorCode.CONFIG_UNSUPPORTED,
                            f"unknown volume encryption secret type {kind}")
    uuid, usage = el.get("uuid"), el.get("usage")
    if uuid is None and usage is None:
        raise storage_error(ErrorCode.XML_ERROR, "missing secret uuid or usage attribute")
    if uuid is not None and usage is not None:
        raise storage_error(ErrorCode.XML_ERROR, "either secret uuid or usage expected")
    if uuid is not None:
        canonical = parse_uuid(uuid)
        if canonical is None:
            raise storage_error(ErrorCode.XML_ERROR, f"invalid secret uuid '{uuid}'")
        return SecretRef(uuid=canonical)
    return SecretRef(usage=usage)


def parse_encryption(el: Element) -> VolEncryption:
    """virStorageEncryptionParseNode (the parts a volume's creation uses)."""
    fmt = el.get("format")
    if not fmt:
        raise storage_error(ErrorCode.XML_ERROR, "unknown volume encryption format")
    if fmt not in FORMATS:
        raise storage_error(ErrorCode.CONFIG_UNSUPPORTED,
                            f"unknown volume encryption format type {fmt}")
    return VolEncryption(fmt, [_secret(s) for s in el.findall("secret")])


def encryption_secret(el: Element) -> tuple[str, str] | None:
    """The one secret of a parsed ``<encryption>``: ("uuid" or "usage", value)."""
    secrets = parse_encryption(el).secrets
    if len(secrets) != 1:
        return None
    ref = secrets[0]
    return ("uuid", ref.uuid) if ref.uuid is not None else ("usage", ref.usage or "")


def encryption_xml(fmt: str, secret: tuple[str, str] | None) -> str:
    """A volume's ``<encryption>`` as libvirt formats it."""
    if secret is None:
        return f"<encryption format='{fmt}'/>"
    return (f"<encryption format='{fmt}'><secret type='passphrase' "
            f"{secret[0]}='{xml_escape(secret[1])}'/></encryption>")


def source_encryption(src: VolState) -> VolEncryption:
    """The encryption of an existing volume as libvirt knows it: the secret its creation
    named (none after a pool refresh: libvirt then refuses to copy it)."""
    ref = src.encryption_secret
    secrets = [] if ref is None else [SecretRef(**{ref[0]: ref[1]})]
    return VolEncryption(src.encryption or "luks", secrets)


def check_creatable(enc: VolEncryption, vol_format: str) -> None:
    """storageBackendCreateQemuImgCmdFromVol's checks, in its order."""
    if enc.format in ("default", "qcow") and vol_format in ("qcow", "qcow2"):
        raise storage_error(ErrorCode.CONFIG_UNSUPPORTED,
                            "creation of qcow2 encrypted image is not supported")
    if vol_format not in ("raw", "qcow2"):
        raise storage_error(ErrorCode.CONFIG_UNSUPPORTED,
                            f"volume encryption unsupported with format {vol_format}")
    if enc.format != "luks":
        raise storage_error(ErrorCode.CONFIG_UNSUPPORTED,
                            f"unsupported volume encryption format {FORMATS.index(enc.format)}")


def passphrase(enc: VolEncryption, secrets: SecretValues | None) -> bytes:
    """The passphrase of ``enc``'s one secret, a 'volume' secret of the secret driver."""
    if len(enc.secrets) != 1:
        raise storage_error(ErrorCode.INVALID_ARG,
                            "A single <secret type='passphrase'...> element is expected "
                            "in encryption description")
    if secrets is None:
        raise storage_error(ErrorCode.NO_SUPPORT, "no secret driver to read the passphrase")
    ref = enc.secrets[0]
    return secrets.secret_value(SecretUsageType.VOLUME, ref.uuid, ref.usage)
