"""Save images of the QEMU driver: a header with the domain XML, then QEMU's migration stream.

Layout: 16-byte magic, then u32 version, XML length, "was running" flag and
the offset of the migration data (a multiple of 4 KiB), the XML, zero padding,
and from that offset the stream QEMU wrote with ``migrate`` to a file. Restore
starts QEMU with ``-incoming defer`` and feeds it the stream from the offset.
"""

from __future__ import annotations

import os
import shlex
import struct
import time
from typing import Any

from virtkit.drivers.domainjob import DomainJob, JobStatus
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error

__all__ = ["MAGIC", "SaveImage", "migrate_to_file", "migration_stats", "restore_from_file"]

MAGIC = b"VirtkitQemuSave\0"
_HEADER = struct.Struct(">16sIIII")
_VERSION = 1
_ALIGN = 4096


def _err(code: int, detail: str) -> VirtError:
    return make_error(code, ErrorDomain.QEMU, detail)


class SaveImage:
    """A save image's header: the domain XML, whether it ran, where QEMU's data begins."""

    def __init__(self, path: str, xml: str, was_running: bool, data_offset: int) -> None:
        self.path = path
        self.xml = xml
        self.was_running = was_running
        self.data_offset = data_offset

    @classmethod
    def create(cls, path: str, xml: str, was_running: bool) -> SaveImage:
        """Write the header of a new image (mode 0600); the caller appends the stream."""
        body = xml.encode()
        offset = -(-(_HEADER.size + len(body)) // _ALIGN) * _ALIGN
        header = _HEADER.pack(MAGIC, _VERSION, len(body), int(was_running), offset)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(header + body)
                f.write(b"\0" * (offset - _HEADER.size - len(body)))
        except OSError as exc:
            raise _err(ErrorCode.SYSTEM_ERROR,
                       f"Failed to create file '{path}': {exc.strerror or exc}") from None
        return cls(path, xml, was_running, offset)

    @classmethod
    def open(cls, path: str) -> SaveImage:
        """Read an image's header; libvirt's errors for a missing or foreign file."""
        try:
            with open(path, "rb") as f:
                raw = f.read(_HEADER.size)
                magic, version, xml_len, running, offset = _HEADER.unpack(raw) if len(
                    raw) == _HEADER.size else (b"", 0, 0, 0, 0)
                if magic != MAGIC:
                    raise _err(ErrorCode.OPERATION_FAILED, "image magic is incorrect")
                if version != _VERSION or offset < _HEADER.size + xml_len:
                    raise _err(ErrorCode.OPERATION_FAILED,
                               f"image version is not supported ({version} > {_VERSION})")
                xml = f.read(xml_len).decode()
        except OSError as exc:
            raise _err(ErrorCode.SYSTEM_ERROR,
                       f"Failed to open domain image file '{path}': "
                       f"{exc.strerror or exc}") from None
        return cls(path, xml, bool(running), offset)

    def set_xml(self, xml: str) -> None:
        """Replace the XML (virDomainSaveImageDefineXML): it must fit before the data."""
        body = xml.encode()
        if _HEADER.size + len(body) > self.data_offset:
            raise _err(ErrorCode.OPERATION_FAILED, "new xml too large to fit in file")
        with open(self.path, "r+b") as f:
            f.write(_HEADER.pack(MAGIC, _VERSION, len(body), int(self.was_running),
                                 self.data_offset) + body)
            f.write(b"\0" * (self.data_offset - _HEADER.size - len(body)))
        self.xml = xml


def migration_stats(reply: dict[str, Any]) -> dict[str, int]:
    """query-migrate's numbers as libvirt's job statistics (qemuMonitorJSONGetMigrationStats
    for a save or dump: the ``ram`` section; VIR_DOMAIN_JOB_* names)."""
    stats: dict[str, int] = {}
    downtime = reply.get("downtime" if reply.get("status") == "completed"
                         else "expected-downtime")
    if isinstance(downtime, int):
        stats["downtime"] = downtime
    if isinstance(reply.get("setup-time"), int):
        stats["setup_time"] = reply["setup-time"]
    ram = reply.get("ram")
    if not isinstance(ram, dict):
        return stats
    stats["memory_total"] = int(ram.get("total", 0))
    stats["memory_processed"] = int(ram.get("transferred", 0))
    stats["memory_remaining"] = int(ram.get("remaining", 0))
    mbps = ram.get("mbps")
    if isinstance(mbps, (int, float)) and mbps > 0:
        stats["memory_bps"] = int(mbps * (1000 * 1000 / 8))
    if "duplicate" in ram:
        stats["memory_constant"] = int(ram["duplicate"])
        stats["memory_normal"] = int(ram.get("normal", 0))
        stats["memory_normal_bytes"] = int(ram.get("normal-bytes", 0))
    stats["memory_dirty_rate"] = int(ram.get("dirty-pages-rate", 0))
    stats["memory_iteration"] = int(ram.get("dirty-sync-count", 0))
    stats["memory_postcopy_requests"] = int(ram.get("postcopy-requests", 0))
    if int(ram.get("page-size", 0)) > 0:
        stats["memory_page_size"] = int(ram["page-size"])
    return stats


def _wait_migration(mon: Any, what: str, job: DomainJob | None = None,
                    timeout: float = 600.0) -> None:
    """Poll query-migrate until the end; with ``job``, its progress goes to the job's
    data, and a cancel the client asked for fails as libvirt's qemuMigrationJobCheckStatus
    does: VIR_ERR_OPERATION_ABORTED "job '<name>' canceled by client"."""
    deadline = time.monotonic() + timeout
    data = job.current if job is not None else None
    while True:
        info = mon.execute("query-migrate")
        status = info.get("status")
        if data is not None:
            data.stats.update(migration_stats(info))
            data.update_time()
        if status == "completed":
            return
        if status in ("failed", "cancelled"):
            if job is not None and data is not None and (
                    status == "cancelled" or job.abort_requested):
                data.status = JobStatus.CANCELED
                raise _err(ErrorCode.OPERATION_ABORTED, f"job '{what}' canceled by client")
            if data is not None:
                data.status = JobStatus.FAILED
            raise _err(ErrorCode.OPERATION_FAILED,
                       f"{_FAILED.get(what, what)}: {info.get('error-desc', status)}")
        if time.monotonic() > deadline:
            raise _err(ErrorCode.OPERATION_TIMEOUT, f"{what}: no completion in {timeout} s")
        time.sleep(0.02)


# The error prefix of a failed stream (virtkit's wording before jobs had names).
_FAILED = {"domain save": "operation failed: migration to file",
           "restore": "operation failed: restore from file"}


def migrate_to_file(mon: Any, image: SaveImage, job: DomainJob | None = None,
                    what: str = "domain save") -> None:
    """Have (paused) QEMU append its state to ``image`` and wait for the end. With ``job``
    (the async job of a save, dump or snapshot, named ``what`` as libvirt's
    qemuMigrationJobName does), progress is reported and ``job.request_abort()`` cancels
    the stream (migrate_cancel)."""
    if job is not None:
        job.on_abort(lambda: mon.execute("migrate_cancel"))
        if job.current is not None:
            job.current.status = JobStatus.MIGRATING
    try:
        mon.execute("migrate", {"uri": f"exec:cat >> {shlex.quote(image.path)}"})
        if job is not None and job.abort_requested:  # asked before the stream began
            mon.execute("migrate_cancel")
        _wait_migration(mon, what, job)
    finally:
        if job is not None:
            job.on_abort(None)


def restore_from_file(mon: Any, image: SaveImage) -> None:
    """Feed an ``-incoming defer`` QEMU the state stored in ``image``."""
    cmd = f"tail -c +{image.data_offset + 1} {shlex.quote(image.path)}"
    mon.execute("migrate-incoming", {"uri": f"exec:{cmd}"})
    _wait_migration(mon, "restore")
