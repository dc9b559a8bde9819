"""``netfs`` pools: an exported directory (NFS, GlusterFS, CIFS) mounted at the pool's
target path while the pool is active; volumes are files in it, as in a ``dir`` pool.

The mount command line follows libvirt's (storage_util.c): source ``HOST:DIR`` (CIFS:
``//HOST/DIR``); options ``nodev,nosuid,noexec`` then ``nfsvers=N`` (``<protocol ver>``),
``direct-io-mode=1`` (GlusterFS) or ``guest`` (CIFS), then any ``<fs:mount_opts>``;
format ``auto`` gives no ``-t`` (``mount -t auto`` does not detect NFS, plain mount does).
"""

from __future__ import annotations

import re
import shlex
import subprocess
from collections.abc import Callable, Sequence

from virtkit.conf.storage_pool import PoolSource, StoragePoolDef
from virtkit.drivers.storage.backend import sources_xml, storage_error, xml_escape
from virtkit.drivers.storage.backend_dir import DirBackend
from virtkit.drivers.storage.backend_fs import is_mounted
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, invalid_flags

__all__ = ["DEFAULT_MOUNT_OPTS", "NetfsBackend", "find_pool_sources", "mount_argv", "source_spec"]

DEFAULT_MOUNT_OPTS = "nodev,nosuid,noexec"

# (argv) -> (exit status, stdout, stderr)
Runner = Callable[[Sequence[str]], tuple[int, str, str]]


def _run_command(argv: Sequence[str]) -> tuple[int, str, str]:
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=300,
                              stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise storage_error(ErrorCode.INTERNAL_ERROR,
                            f"Cannot find '{argv[0]}' in path") from None
    return proc.returncode, proc.stdout, proc.stderr


def _format(pool: StoragePoolDef) -> str:
    src = pool.source
    return (src.format.type if src and src.format and src.format.type else None) or "auto"


def source_spec(pool: StoragePoolDef) -> str:
    """What to mount: ``HOST:DIR``, or ``//HOST/DIR`` for CIFS."""
    src = pool.source
    host = src.hosts[0].name if src and src.hosts else None
    if not host:
        raise storage_error(ErrorCode.INVALID_ARG, "missing source host")
    directory = src.dir.path if src and src.dir else None
    if not directory:
        raise storage_error(ErrorCode.INVALID_ARG, "missing source path")
    if host.startswith("-") or any(c in host for c in "/, \t\n"):
        raise storage_error(ErrorCode.INVALID_ARG, f"invalid source host '{host}'")
    if _format(pool) == "cifs":
        return f"//{host}/{directory.lstrip('/')}"
    return f"{host}:{directory}"


def _xml_mount_opts(pool: StoragePoolDef) -> list[str]:
    """``<fs:mount_opts><fs:option name='...'/></fs:mount_opts>`` names."""
    el = pool.fs_mount_opts
    if el is None:
        return []
    return [name for child in list(el) if (name := child.get("name"))]


def mount_argv(pool: StoragePoolDef) -> list[str]:
    """libvirt's ``mount`` command line for a netfs pool."""
    fmt = _format(pool)
    src = pool.source
    target = (pool.target.path if pool.target else None) or ""
    if not target:
        raise storage_error(ErrorCode.INVALID_ARG, "missing target path")
    extra: str | None = None
    if fmt == "glusterfs":
        extra = "direct-io-mode=1"
    elif fmt == "cifs":
        extra = "guest"
    elif src is not None and src.protocol is not None and src.protocol.ver:
        extra = f"nfsvers={src.protocol.ver}"
    opts = ",".join([DEFAULT_MOUNT_OPTS, *([extra] if extra else []), *_xml_mount_opts(pool)])
    argv = ["mount", "-o", opts]
    if fmt != "auto":
        argv += ["-t", fmt]
    return [*argv, source_spec(pool), target]


_EXPORT_LINE = re.compile(r"^(/.*\S) +\S+$")


def find_pool_sources(spec: str | None, runner: Runner | None = None) -> str:
    """The NFS exports of the host named in ``spec`` (``showmount --no-headers
    --exports HOST``), as libvirt lists them. libvirt also asks ``gluster`` when that
    tool is installed; virtkit does not."""
    if not spec:
        raise storage_error(ErrorCode.INVALID_ARG,
                            "hostname must be specified for netfs sources")
    source = PoolSource.from_xml(spec)
    if len(source.hosts) != 1 or not source.hosts[0].name:
        raise storage_error(ErrorCode.CONFIG_UNSUPPORTED,
                            "Expected exactly 1 host for the storage pool")
    host = source.hosts[0].name
    dirs: list[str] | None = None
    try:
        status, out, _err = (runner or _run_command)(
            ["showmount", "--no-headers", "--exports", host])
        if status == 0:
            dirs = [m.group(1) for ln in out.splitlines()
                    if (m := _EXPORT_LINE.match(ln))]
            if any(d.endswith("/") for d in dirs):  # libvirt: "invalid netfs path"
                dirs = None
    except VirtError:  # no showmount: as libvirt, only the summary error is left
        dirs = None
    if dirs is None:
        raise storage_error(ErrorCode.OPERATION_FAILED,
                            f"no storage pools were found on host '{host}'")
    return sources_xml([[f"<host name='{xml_escape(host)}'/>",
                         f"<dir path='{xml_escape(d)}'/>", "<format type='nfs'/>"]
                        for d in dirs])


class NetfsBackend(DirBackend):
    """A network file system mounted on start, unmounted on stop."""

    type_name = "netfs"

    @classmethod
    def find_sources(cls, spec: str | None, flags: int = 0) -> str:
        if flags:
            raise invalid_flags(flags, "virStorageBackendFileSystemNetFindPoolSources",
                                ErrorDomain.STORAGE)
        return find_pool_sources(spec)

    def __init__(self, pool: StoragePoolDef, *, runner: Runner | None = None) -> None:
        super().__init__(pool)
        self.runner: Runner = runner or _run_command

    def _run(self, argv: list[str]) -> None:
        status, out, err = self.runner(argv)
        if status != 0:
            raise storage_error(
                ErrorCode.INTERNAL_ERROR,
                f"Child process ({shlex.join(argv)}) unexpected exit status {status}: "
                f"{(err or out).strip()}")

    def check(self) -> bool:
        return is_mounted(self.target_path)

    def start(self) -> None:
        argv = mount_argv(self.pool)  # validates the source before touching anything
        self._check_dir()
        if is_mounted(self.target_path):
            return
        self._run(argv)

    def stop(self) -> None:
        if is_mounted(self.target_path):
            self._run(["umount", self.target_path])
