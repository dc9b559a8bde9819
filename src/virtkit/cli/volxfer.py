"""Volume data and maintenance commands: vol-upload, vol-download (with a progress bar on a
terminal), vol-resize, vol-wipe, vol-clone, pool-build, pool-capabilities."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from virtkit.cli.common import lookup_pool, lookup_volume
from virtkit.cli.framework import Cmd, Ctl
from virtkit.streams import PACKET_MAX, Hole

TYPE_CHECKING = False  # typing is not imported at run time (startup speed)
if TYPE_CHECKING:
    from typing import BinaryIO

    from virtkit.streams import DataStream

__all__ = [
    "cmd_pool_build",
    "cmd_pool_capabilities",
    "cmd_vol_clone",
    "cmd_vol_download",
    "cmd_vol_resize",
    "cmd_vol_upload",
    "cmd_vol_wipe",
]

_RESIZE_ALLOCATE, _RESIZE_DELTA, _RESIZE_SHRINK = 1, 2, 4
_SPARSE_STREAM = 1  # VIR_STORAGE_VOL_{UP,DOWN}LOAD_SPARSE_STREAM
_WIPE_ALGORITHMS = ("zero", "nnsa", "dod", "bsi", "gutmann", "schneier", "pfitzner7",
                    "pfitzner33", "random", "trim")


@contextmanager
def _progress(what: str, total: int | None) -> Iterator[Any]:
    """A rich progress bar on stderr when it is a terminal; a no-op otherwise (scripts, tests)."""
    if not sys.stderr.isatty():
        class _Quiet:
            def advance(self, n: int) -> None:
                pass
        yield _Quiet()
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                  TransferSpeedColumn(), TimeRemainingColumn(), transient=True) as bar:
        task = bar.add_task(what, total=total)

        class _Bar:
            def advance(self, n: int) -> None:
                bar.advance(task, n)
        yield _Bar()


def cmd_vol_upload(ctl: Ctl, cmd: Cmd) -> bool:
    vol, name = lookup_volume(ctl, cmd)
    path = ctl.opt_required(cmd, "file")
    offset = ctl.opt_int(cmd, "offset", lo=0, hi=2**63 - 1) or 0
    length = ctl.opt_int(cmd, "length", lo=0, hi=2**63 - 1) or 0
    try:
        f = open(path, "rb")  # noqa: SIM115  (closed below, after the stream)
    except OSError as exc:
        ctl.error(f"cannot read {path}: {exc.strerror}")
        return False
    sparse = cmd.flag("sparse")
    with f, ctl.failing(f"cannot upload to volume {name}"):
        size = os.fstat(f.fileno()).st_size
        stream = vol.upload(offset, length, _SPARSE_STREAM if sparse else 0)
        try:
            with _progress(f"upload {name}", length or size) as bar:
                _send_file(stream, f, length or None, sparse, bar.advance)
            stream.finish()
        except BaseException:
            stream.abort()
            raise
    return True


def _send_file(stream: DataStream, f: BinaryIO, limit: int | None, sparse: bool,
               advance: Any) -> None:
    """Send ``f`` (up to ``limit`` bytes); with ``sparse`` its holes go as holes
    (virStreamSparseSendAll with virsh's in-data callback)."""
    from virtkit.sparse import section_at

    fd = f.fileno()
    end = os.fstat(fd).st_size if sparse else 0
    if sparse and limit is not None:
        end = min(end, limit)
    pos = 0
    while limit is None or pos < limit:
        section = limit - pos if limit is not None else PACKET_MAX
        if sparse:
            in_data, section = section_at(fd, pos, end)
            if not section:
                break
            if not in_data:
                stream.send_hole(section)  # type: ignore[attr-defined]
                pos += section
                advance(section)
                continue
        chunk = os.pread(fd, min(PACKET_MAX, section), pos)
        if not chunk:
            break
        stream.send(chunk)
        pos += len(chunk)
        advance(len(chunk))


def cmd_vol_download(ctl: Ctl, cmd: Cmd) -> bool:
    vol, name = lookup_volume(ctl, cmd)
    path = ctl.opt_required(cmd, "file")
    offset = ctl.opt_int(cmd, "offset", lo=0, hi=2**63 - 1) or 0
    length = ctl.opt_int(cmd, "length", lo=0, hi=2**63 - 1) or 0
    created = not os.path.exists(path)
    try:
        f = open(path, "wb")  # noqa: SIM115  (closed below, after the stream)
    except OSError as exc:
        ctl.error(f"cannot create {path}: {exc.strerror}")
        return False
    ok = False
    try:
        with f, ctl.failing(f"cannot download from volume {name}"):
            total = length or max(vol.info().capacity - offset, 0)
            sparse = cmd.flag("sparse")
            stream = vol.download(offset, length, _SPARSE_STREAM if sparse else 0)
            with _progress(f"download {name}", total) as bar:
                while True:
                    chunk = (stream.recv_sparse(PACKET_MAX)  # type: ignore[attr-defined]
                             if sparse else stream.recv(PACKET_MAX))
                    if isinstance(chunk, Hole):
                        # virsh's virshStreamSkip: seek over it, growing the file sparse
                        f.seek(chunk, os.SEEK_CUR)
                        f.truncate()
                    elif not chunk:
                        break
                    else:
                        f.write(chunk)
                    bar.advance(len(chunk) if isinstance(chunk, bytes) else chunk)
            stream.finish()
            ok = True
    finally:
        if not ok and created:
            os.unlink(path)  # nothing half-written left behind
    return ok


def cmd_vol_resize(ctl: Ctl, cmd: Cmd) -> bool:
    from virtkit.cli.framework import parse_scaled

    vol, _ = lookup_volume(ctl, cmd)
    text = ctl.opt_required(cmd, "capacity").lstrip()
    flags = _RESIZE_ALLOCATE if cmd.flag("allocate") else 0
    shrink = cmd.flag("shrink")
    if shrink:
        flags |= _RESIZE_SHRINK
    delta = cmd.flag("delta")
    if text.startswith("-"):
        if not shrink:
            ctl.error("negative size requires --shrink")
            return False
        text, delta = text[1:], True
    if delta:
        flags |= _RESIZE_DELTA
    capacity = parse_scaled(text, 1, 2**64 - 1)
    if capacity is None:
        ctl.error(f"Malformed size {text}")
        return False
    how = "by" if delta else "to"
    with ctl.failing(f"Failed to change size of volume '{vol.name}' {how} {text}"):
        vol.resize(capacity, flags)
    ctl.print_extra(f"Size of volume '{vol.name}' successfully changed {how} {text}\n")
    return True


def cmd_vol_wipe(ctl: Ctl, cmd: Cmd) -> bool:
    vol, name = lookup_volume(ctl, cmd)
    algorithm = ctl.opt_string(cmd, "algorithm") or "zero"
    if algorithm not in _WIPE_ALGORITHMS:
        ctl.error(f"Unsupported algorithm '{algorithm}'")
        return False
    with ctl.failing(f"Failed to wipe vol {name}"):
        if algorithm == "zero":
            vol.wipe(0)
        else:
            vol.wipe_pattern(_WIPE_ALGORITHMS.index(algorithm), 0)
    ctl.print_extra(f"Vol {name} wiped\n")
    return True


def cmd_vol_clone(ctl: Ctl, cmd: Cmd) -> bool:
    from lxml import etree

    from virtkit.conf.xmlutil import parse_xml

    vol, _ = lookup_volume(ctl, cmd)
    newname = ctl.opt_required(cmd, "newname")
    pool = vol.pool()
    # As virsh does: the source's own XML with only the name replaced (key and path are
    # ignored by create-from, which picks them for the new volume).
    root = parse_xml(vol.xml(0))
    name_el = root.find("name")
    if name_el is not None:
        name_el.text = newname
    xml = etree.tostring(root, encoding="unicode")
    if cmd.flag("print-xml"):
        ctl.print(xml)
        return True
    flags = (1 if cmd.flag("prealloc-metadata") else 0) | (2 if cmd.flag("reflink") else 0)
    with ctl.failing(f"Failed to clone vol from {vol.name}"):
        pool.create_volume_from(xml, vol, flags)
    ctl.print_extra(f"Vol {newname} cloned from {vol.name}\n")
    return True


def cmd_pool_build(ctl: Ctl, cmd: Cmd) -> bool:
    pool, name = lookup_pool(ctl, cmd)
    flags = (4 if cmd.flag("no-overwrite") else 0) | (8 if cmd.flag("overwrite") else 0)
    with ctl.failing(f"Failed to build pool {name}"):
        pool.build(flags)
    ctl.print_extra(f"Pool {name} built\n")
    return True


def cmd_pool_capabilities(ctl: Ctl, cmd: Cmd) -> bool:
    with ctl.failing("unable to get storage pool capabilities"):
        xml = ctl.conn.storage_pool_capabilities()
    ctl.print(xml)
    return True
