"""The ``-o`` options and size argument of ``qemu-img create`` for a new volume, as
libvirt 9.0's storage driver builds them (storage_util.c,
virStorageBackendCreateQemuImgSetInfo and storageBackendCreateQemuImgOpts).

Order of the options: ``backing_fmt``, the encryption ones, ``preallocation``
(``metadata`` when the volume is larger than its allocation, else ``falloc``),
``nocow``, ``compat`` (``0.10`` for qcow2 when none is given: libvirt's default),
``cluster_size``, then the qcow2 features (``lazy_refcounts``, ``extended_l2=on``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from virtkit.drivers.storage.backend import storage_error
from virtkit.errors import ErrorCode, VirtError

__all__ = ["ImgOptions", "check", "create_options", "size_arg"]

QCOW2 = "qcow2"
DEFAULT_QCOW2_COMPAT = "0.10"


@dataclass(frozen=True)
class ImgOptions:
    """What of a volume definition becomes qemu-img options."""

    fmt: str
    capacity: int  # bytes
    allocation: int = 0  # bytes
    prealloc: bool = False  # VIR_STORAGE_VOL_CREATE_PREALLOC_METADATA
    compat: str | None = None
    cluster_size: int | None = None  # bytes
    features: Sequence[str] | None = None  # None: no <features> element
    nocow: bool = False
    backing_fmt: str | None = None  # with a backing store
    encryption: Sequence[str] = field(default_factory=tuple)  # already formatted


def _unsupported(detail: str) -> VirtError:
    return storage_error(ErrorCode.CONFIG_UNSUPPORTED, detail)


def check(opts: ImgOptions) -> None:
    """libvirt's refusals of options a non-qcow2 format cannot take."""
    if opts.prealloc and opts.fmt != QCOW2:
        raise _unsupported("metadata preallocation only available with qcow2")
    if opts.compat and opts.fmt != QCOW2:
        raise _unsupported("compatibility option only available with qcow2")
    if opts.features is not None and opts.fmt != QCOW2:
        raise _unsupported("format features only available with qcow2")


def _kib(value: int) -> int:
    return -(-value // 1024)  # VIR_DIV_UP(value, 1024)


def size_arg(capacity: int) -> str:
    """The size argument: whole KiB rounded up (libvirt's ``%lluK``)."""
    return f"{_kib(capacity)}K"


def create_options(opts: ImgOptions) -> list[str]:
    """The ``-o`` option list (joined with ``,`` by the caller); refusals as libvirt's."""
    check(opts)
    out: list[str] = []
    if opts.backing_fmt:
        out.append(f"backing_fmt={opts.backing_fmt}")
    out += opts.encryption
    if opts.prealloc:
        metadata = _kib(opts.capacity) > _kib(opts.allocation)
        out.append("preallocation=metadata" if metadata else "preallocation=falloc")
    if opts.nocow:
        out.append("nocow=on")
    if opts.compat:
        out.append(f"compat={opts.compat}")
    elif opts.fmt == QCOW2:
        out.append(f"compat={DEFAULT_QCOW2_COMPAT}")
    if opts.cluster_size:
        out.append(f"cluster_size={opts.cluster_size}")
    if opts.features is not None and opts.fmt == QCOW2:
        old = opts.compat == DEFAULT_QCOW2_COMPAT
        if "lazy_refcounts" in opts.features:
            if old:
                raise _unsupported(f"lazy_refcounts not supported with compat level "
                                   f"{opts.compat}")
            out.append("lazy_refcounts")
        if "extended_l2" in opts.features:
            if old:
                raise _unsupported(f"'extended_l2' not supported with compat level "
                                   f"{opts.compat}")
            out.append("extended_l2=on")
    return out
