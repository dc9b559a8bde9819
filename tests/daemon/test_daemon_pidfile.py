"""The pid file: libvirt's acquire/lock/release semantics."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from virtkit.daemon.pidfile import PidFile, PidFileError, read_pid


def test_acquire_writes_pid_without_newline_and_release_removes(tmp_path: Path) -> None:
    path = tmp_path / "d.pid"
    pf = PidFile(str(path))
    pf.acquire()
    assert pf.held
    assert path.read_text() == str(os.getpid())
    assert read_pid(str(path)) == os.getpid()
    assert oct(path.stat().st_mode & 0o777) == oct(0o644 & ~_umask())
    pf.release()
    assert not path.exists() and not pf.held
    pf.release()  # twice is harmless


def _umask() -> int:
    old = os.umask(0)
    os.umask(old)
    return old


def test_second_holder_is_refused_with_libvirts_message(tmp_path: Path) -> None:
    path = str(tmp_path / "d.pid")
    with PidFile(path):
        other = PidFile(path)
        with pytest.raises(PidFileError) as info:
            other.acquire()
        assert str(info.value) == (f"Failed to acquire pid file '{path}': "
                                   "Resource temporarily unavailable")
        assert read_pid(path) == os.getpid()  # reading does not drop our lock
        with pytest.raises(PidFileError):
            other.acquire()
    assert not os.path.exists(path)


def test_lock_conflicts_with_libvirts_posix_lock(tmp_path: Path) -> None:
    """Another process holding an F_SETLK lock (what libvirtd takes) keeps us out."""
    path = tmp_path / "d.pid"
    path.write_text("1")
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, os, sys, time\n"
         f"fd = os.open({str(path)!r}, os.O_WRONLY)\n"
         "fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 0)\n"
         "print('locked', flush=True)\n"
         "sys.stdin.read()\n"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(PidFileError, match="Resource temporarily unavailable"):
            PidFile(str(path)).acquire()
    finally:
        holder.communicate("")
    with PidFile(str(path)) as pf:  # a dead holder's file is taken over
        assert pf.held and read_pid(str(path)) == os.getpid()
    # and we hold a lock libvirt's F_SETLK test sees
    with PidFile(str(path)):
        code = subprocess.run(
            [sys.executable, "-c",
             "import fcntl, os\n"
             f"fd = os.open({str(path)!r}, os.O_WRONLY)\n"
             "try:\n"
             "    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 0)\n"
             "except OSError:\n"
             "    raise SystemExit(3)\n"], check=False).returncode
        assert code == 3


def test_stale_file_is_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "d.pid"
    path.write_text("999999999 and more junk")
    with PidFile(str(path)):
        assert path.read_text() == str(os.getpid())


def test_explicit_pid_and_empty_path(tmp_path: Path) -> None:
    path = tmp_path / "d.pid"
    pf = PidFile(str(path))
    pf.acquire(pid=4242)
    assert read_pid(str(path)) == 4242
    pf.release()
    none = PidFile("")
    none.acquire()
    assert not none.held


def test_unopenable_path(tmp_path: Path) -> None:
    path = tmp_path / "missing-dir" / "d.pid"
    with pytest.raises(PidFileError, match=r"Failed to open pid file .*No such file"):
        PidFile(str(path)).acquire()


def test_read_pid_of_junk(tmp_path: Path) -> None:
    (tmp_path / "p").write_text("abc")
    assert read_pid(str(tmp_path / "p")) is None
    assert read_pid(str(tmp_path / "absent")) is None

