"""netfs pools: the mount command lines (libvirt's) and start/stop with a fake runner.

No real NFS mount here: the test kernel has neither the NFS client nor nfsd
(``nfs``/``nfsd`` absent from /proc/filesystems, no loadable modules).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from virtkit.conf.storage_pool import StoragePoolDef
from virtkit.drivers.storage.backend_netfs import NetfsBackend, mount_argv, source_spec
from virtkit.errors import ErrorCode, VirtError

FS_NS = "http://libvirt.org/schemas/storagepool/fs/1.0"


def netfs(target: str, fmt: str | None = "nfs", host: str = "127.0.0.1",
          directory: str = "/export", extra: str = "", opts: Sequence[str] = ()) -> StoragePoolDef:
    f = f"<format type='{fmt}'/>" if fmt else ""
    mo = ("<fs:mount_opts>" + "".join(f"<fs:option name='{o}'/>" for o in opts)
          + "</fs:mount_opts>") if opts else ""
    return StoragePoolDef.from_xml(
        f"<pool type='netfs' xmlns:fs='{FS_NS}'><name>n</name><source><host name='{host}'/>"
        f"<dir path='{directory}'/>{f}{extra}</source><target><path>{target}</path></target>"
        f"{mo}</pool>")


def test_nfs_command_line() -> None:
    assert mount_argv(netfs("/mnt/p")) == [
        "mount", "-o", "nodev,nosuid,noexec", "-t", "nfs", "127.0.0.1:/export", "/mnt/p"]
    assert mount_argv(netfs("/mnt/p", extra="<protocol ver='4'/>", opts=["sync", "ro"])) == [
        "mount", "-o", "nodev,nosuid,noexec,nfsvers=4,sync,ro", "-t", "nfs",
        "127.0.0.1:/export", "/mnt/p"]


def test_auto_format_gives_no_type() -> None:
    for fmt in (None, "auto"):
        assert mount_argv(netfs("/mnt/p", fmt=fmt)) == [
            "mount", "-o", "nodev,nosuid,noexec", "127.0.0.1:/export", "/mnt/p"]


def test_gluster_and_cifs_command_lines() -> None:
    assert mount_argv(netfs("/mnt/p", fmt="glusterfs", directory="/vol")) == [
        "mount", "-o", "nodev,nosuid,noexec,direct-io-mode=1", "-t", "glusterfs",
        "127.0.0.1:/vol", "/mnt/p"]
    assert mount_argv(netfs("/mnt/p", fmt="cifs", host="srv", directory="share")) == [
        "mount", "-o", "nodev,nosuid,noexec,guest", "-t", "cifs", "//srv/share", "/mnt/p"]


def test_bad_sources_are_refused() -> None:
    with pytest.raises(VirtError) as ei:
        source_spec(netfs("/mnt/p", host="-oremount"))
    assert ei.value.code == ErrorCode.INVALID_ARG
    no_host = StoragePoolDef.from_xml(
        "<pool type='netfs'><name>n</name><source><dir path='/e'/></source>"
        "<target><path>/mnt/p</path></target></pool>")
    with pytest.raises(VirtError, match="missing source host"):
        mount_argv(no_host)


class Fake:
    def __init__(self, status: int = 0, err: str = "") -> None:
        self.calls: list[list[str]] = []
        self.status, self.err = status, err

    def __call__(self, argv: Sequence[str]) -> tuple[int, str, str]:
        self.calls.append(list(argv))
        return self.status, "", self.err


def test_start_runs_mount_and_reports_failure(tmp_path: Path) -> None:
    target = tmp_path / "mnt"
    run = Fake(32, "mount: unknown filesystem type 'nfs'")
    b = NetfsBackend(netfs(str(target)), runner=run)
    with pytest.raises(VirtError, match="cannot open directory"):
        b.start()  # target not built yet
    assert run.calls == []
    target.mkdir()
    with pytest.raises(VirtError) as ei:
        b.start()
    assert ei.value.code == ErrorCode.INTERNAL_ERROR
    assert "unexpected exit status 32: mount: unknown filesystem type 'nfs'" in str(ei.value)
    assert run.calls == [mount_argv(b.pool)]
    assert not b.check()
    b.stop()  # not mounted: nothing to run
    assert len(run.calls) == 1
