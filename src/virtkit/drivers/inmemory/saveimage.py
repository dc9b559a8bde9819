"""Save, restore and managed save: the test driver's save image file.

The file is libvirt's test driver format: the magic ``TestGuestMagic`` with
its NUL (15 bytes), the XML length as a native int, then the domain XML.
"""

from __future__ import annotations

import os
import struct
from typing import TYPE_CHECKING

from virtkit.constants import DomainSaveImageXMLFlags
from virtkit.drivers.domainobj import (
    EV_STARTED,
    EV_STOPPED,
    RUNNING_RESTORED,
    SHUTOFF_SAVED,
    STARTED_RESTORED,
    STOPPED_SAVED,
)
from virtkit.drivers.inmemory.common import Base, check_active, check_flags, err
from virtkit.drivers.inmemory.domains import shutdown_state, start_state
from virtkit.drivers.inmemory.lazy import lazy_module
from virtkit.drivers.inmemory.node import DomainObj
from virtkit.errors import ErrorCode
from virtkit.types import DomainIdent

if TYPE_CHECKING:
    from virtkit.drivers.inmemory import defs
else:
    defs = lazy_module("virtkit.drivers.inmemory.defs")

MAGIC = b"TestGuestMagic\0"
_LEN = struct.Struct("=i")
_SAVE_BYPASS_CACHE, _SAVE_RUNNING, _SAVE_PAUSED = 1, 2, 4


def _system_error(message: str, errno_value: int) -> Exception:
    return err(ErrorCode.SYSTEM_ERROR, f"{message}: {os.strerror(errno_value)}")


def write_image(path: str, xml: str, name: str) -> None:
    """testDomainSaveImageWrite."""
    data = xml.encode()
    try:
        fd = os.open(path, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
    except OSError as e:
        raise _system_error(
            f"saving domain '{name}' to '{path}': open failed", e.errno or 0
        ) from None
    try:
        os.write(fd, MAGIC + _LEN.pack(len(data)) + data)
    except OSError as e:
        os.close(fd)
        os.unlink(path)
        raise _system_error(
            f"saving domain '{name}' to '{path}': write failed", e.errno or 0
        ) from None
    os.close(fd)


def read_image(path: str) -> defs.DomainDef:
    """testDomainSaveImageOpen: the definition stored in a save image."""
    try:
        with open(path, "rb") as fh:
            magic = fh.read(len(MAGIC))
            if len(magic) != len(MAGIC):
                raise _system_error(f"incomplete save header in '{path}'", 0)
            if magic != MAGIC:
                raise err(ErrorCode.INTERNAL_ERROR, "mismatched header magic")
            raw_len = fh.read(_LEN.size)
            if len(raw_len) != _LEN.size:
                raise _system_error(f"failed to read metadata length in '{path}'", 0)
            (length,) = _LEN.unpack(raw_len)
            if length < 1 or length > 8192:
                raise err(ErrorCode.INTERNAL_ERROR, "length of metadata out of range")
            xml = fh.read(length)
            if len(xml) != length:
                raise _system_error(f"incomplete metadata in '{path}'", 0)
    except OSError as e:
        raise _system_error(f"cannot read domain image '{path}'", e.errno or 0) from None
    d = defs.parse_domain(xml.decode())
    defs.take_test_namespace(d)
    return d


class SaveImageMixin(Base):
    """virDomainSave/Restore, save image XML and managed save."""

    def domain_save(
        self, dom: DomainIdent, to: str, dxml: str | None = None, flags: int = 0
    ) -> None:
        check_flags(flags, 0, "testDomainSaveFlags")
        if dxml:
            raise err(ErrorCode.ARGUMENT_UNSUPPORTED, "xml modification unsupported")
        with self._txn() as node:
            obj = self._dom(dom)
            check_active(obj)
            write_image(to, defs.format_domain(obj.defn, obj.id, True), obj.name)
            self._saved(obj)
            if not obj.persistent:
                node.remove_domain(obj)

    def _saved(self, obj: DomainObj) -> None:
        shutdown_state(self._node, obj, SHUTOFF_SAVED)
        self._lifecycle(obj, EV_STOPPED, STOPPED_SAVED)

    def domain_restore(self, frm: str, dxml: str | None = None, flags: int = 0) -> None:
        check_flags(flags, 0, "testDomainRestoreFlags")
        if dxml:
            raise err(ErrorCode.ARGUMENT_UNSUPPORTED, "xml modification unsupported")
        d = read_image(frm)
        with self._txn() as node:
            obj, _ = self._add(d, live=True)  # type: ignore[attr-defined]
            start_state(node, obj, RUNNING_RESTORED)
            self._lifecycle(obj, EV_STARTED, STARTED_RESTORED)

    def domain_save_image_get_xml_desc(self, file: str, flags: int = 0) -> str:
        check_flags(flags, int(DomainSaveImageXMLFlags.SECURE), "testDomainSaveImageGetXMLDesc")
        return defs.format_domain(read_image(file), -1, True)

    def domain_save_image_define_xml(self, file: str, dxml: str, flags: int = 0) -> None:
        check_flags(flags, _SAVE_RUNNING | _SAVE_PAUSED, "testDomainSaveImageDefineXML")
        read_image(file)
        d = defs.parse_domain(dxml)
        write_image(file, defs.format_domain(d, -1, True), d.name or "")

    def domain_managed_save(self, dom: DomainIdent, flags: int = 0) -> None:
        check_flags(flags, _SAVE_BYPASS_CACHE | _SAVE_RUNNING | _SAVE_PAUSED,
                    "testDomainManagedSave")
        with self._txn():
            obj = self._dom(dom)
            check_active(obj)
            if not obj.persistent:
                raise err(ErrorCode.OPERATION_INVALID,
                          "cannot do managed save for transient domain")
            self._saved(obj)
            obj.managed_save = True

    def domain_has_managed_save_image(self, dom: DomainIdent, flags: int = 0) -> bool:
        check_flags(flags, 0, "testDomainHasManagedSaveImage")
        with self._node.lock:
            return self._dom(dom).managed_save

    def domain_managed_save_remove(self, dom: DomainIdent, flags: int = 0) -> None:
        check_flags(flags, 0, "testDomainManagedSaveRemove")
        with self._node.lock:
            self._dom(dom).managed_save = False
