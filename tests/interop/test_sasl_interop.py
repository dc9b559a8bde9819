"""Debian's virsh and libvirt-python log in to virtkitd with SASL SCRAM-SHA-256.

libvirt's client runs cyrus-sasl's SCRAM plugin (libsasl2-modules) against the
daemon's AUTH_SASL_* procedures over the unix socket; credentials come from an
auth file (``?authfile=`` or $LIBVIRT_AUTH_FILE) or libvirt-python's openAuth
callback.  A wrong password is refused with libvirt's own message.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from virtkit.daemon import sasldb
from virtkit.testing.peers import Daemon, start_virtkitd

pytestmark = [pytest.mark.interop, pytest.mark.slow]

VIRSH = shutil.which("virsh") or "/usr/bin/virsh"
SYSTEM_PYTHON = "/usr/bin/python3"
SCRAM_PLUGIN = "/usr/lib/x86_64-linux-gnu/sasl2/libscram.so"

AUTH_CONF = """\
[credentials-{name}]
authname={user}
password={password}

[auth-libvirt-{host}]
credentials={name}
"""

OPEN_AUTH = r"""
import sys, libvirt
uri, user, password = sys.argv[1:4]
libvirt.registerErrorHandler(lambda ctx, err: None, None)
asked = []
def callback(creds, data):
    for cred in creds:
        asked.append(cred[0])
        if cred[0] == libvirt.VIR_CRED_AUTHNAME:
            cred[4] = user
        elif cred[0] == libvirt.VIR_CRED_PASSPHRASE:
            cred[4] = password
    return 0
auth = [[libvirt.VIR_CRED_AUTHNAME, libvirt.VIR_CRED_PASSPHRASE], callback, None]
try:
    conn = libvirt.openAuth(uri, auth, 0)
except libvirt.libvirtError as e:
    print("ERROR", e.get_error_code(), e.get_error_domain(), e.get_error_message(), asked)
    sys.exit(1)
print("OK", ",".join(d.name() for d in conn.listAllDomains()), asked)
conn.close()
"""


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    assert os.path.exists(SCRAM_PLUGIN), "libsasl2-modules is missing (make sysdeps)"
    root = tmp_path_factory.mktemp("virtkitd-sasl-interop")
    db = sasldb.default_db_path(str(root))
    sasldb.add_user(db, "alice", "s3cret")
    sasldb.add_user(db, "mallory", "m4llory")
    conf = 'auth_unix_rw = "sasl"\nsasl_allowed_username_list = ["alice"]\n'
    with start_virtkitd(root, extra_conf=conf) as d:
        yield d
        assert d.proc.poll() is None, d.log_text()


def _auth_file(tmp_path: Path, user: str, password: str, host: str = "localhost") -> Path:
    path = tmp_path / f"auth-{user}-{host}.conf"
    path.write_text(AUTH_CONF.format(name="c1", user=user, password=password, host=host))
    return path


def _virsh(uri: str, *args: str, env: dict[str, str] | None = None
           ) -> subprocess.CompletedProcess[str]:
    full = dict(os.environ, **(env or {}))
    full.pop("LIBVIRT_DEFAULT_URI", None)
    if env is None or "LIBVIRT_AUTH_FILE" not in env:
        full.pop("LIBVIRT_AUTH_FILE", None)
    return subprocess.run([VIRSH, "-c", uri, *args], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, env=full, timeout=60)


def _uri(daemon: Daemon, extra: str = "") -> str:
    return f"test+unix:///default?socket={daemon.sock}{extra}"


def test_virsh_logs_in_with_authfile(daemon: Daemon, tmp_path: Path) -> None:
    conf = _auth_file(tmp_path, "alice", "s3cret")
    r = _virsh(_uri(daemon, f"&authfile={conf}"), "list", "--name")
    assert r.returncode == 0, r.stderr + daemon.log_text()[-2000:]
    assert r.stdout.split() == ["test"]


def test_virsh_logs_in_with_libvirt_auth_file(daemon: Daemon, tmp_path: Path) -> None:
    conf = _auth_file(tmp_path, "alice", "s3cret", host="default")
    r = _virsh(_uri(daemon), "list", "--name", env={"LIBVIRT_AUTH_FILE": str(conf)})
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["test"]


@pytest.mark.parametrize(("user", "password"), [
    ("alice", "wrong"), ("nobody", "s3cret"), ("mallory", "m4llory"),
])
def test_virsh_refused(daemon: Daemon, tmp_path: Path, user: str, password: str) -> None:
    conf = _auth_file(tmp_path, user, password)
    r = _virsh(_uri(daemon, f"&authfile={conf}"), "list", "--name")
    assert r.returncode == 1
    assert r.stderr.splitlines() == ["error: failed to connect to the hypervisor",
                                     "error: authentication failed: authentication failed"]


def _open_auth(daemon: Daemon, user: str, password: str) -> Any:
    env = {k: v for k, v in os.environ.items() if k not in ("LIBVIRT_AUTH_FILE",)}
    return subprocess.run([SYSTEM_PYTHON, "-c", OPEN_AUTH, _uri(daemon), user, password],
                          capture_output=True, text=True, env=env, timeout=60)


def test_libvirt_python_open_auth(daemon: Daemon) -> None:
    r = _open_auth(daemon, "alice", "s3cret")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == "OK test [2, 5]"  # asked for VIR_CRED_AUTHNAME, PASSPHRASE


def test_libvirt_python_wrong_password(daemon: Daemon) -> None:
    r = _open_auth(daemon, "alice", "nope")
    assert r.returncode == 1
    # VIR_ERR_AUTH_FAILED (45) from VIR_FROM_RPC (7)
    assert r.stdout.strip() == "ERROR 45 7 authentication failed: authentication failed [2, 5]"


def test_readonly_socket_unaffected(daemon: Daemon) -> None:
    r = _virsh(f"test+unix:///default?socket={daemon.sock_ro}", "list", "--name")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["test"]


@pytest.mark.parametrize(("tool", "password", "ok"), [
    ("virsh", "s3cret", True), ("virtkit", "s3cret", True), ("virtkit", "wrong", False),
])
def test_cli_prompts_for_credentials(daemon: Daemon, tool: str, password: str,
                                     ok: bool) -> None:
    """Without an auth file both CLIs ask for the name and the password (no terminal
    here: the answers come on stdin)."""
    argv = ([VIRSH] if tool == "virsh"
            else [sys.executable, "-m", "virtkit.cli.main"])
    env = {k: v for k, v in os.environ.items()
           if k not in ("LIBVIRT_DEFAULT_URI", "LIBVIRT_AUTH_FILE")}
    r = subprocess.run([*argv, "-c", _uri(daemon), "list", "--name"], capture_output=True,
                       text=True, input=f"alice\n{password}\n", env=env, timeout=60,
                       start_new_session=True)  # no controlling terminal: stdin it is
    assert "Please enter your authentication name: " in r.stdout
    if ok:
        assert r.returncode == 0, r.stderr
        assert r.stdout.split()[-1] == "test"
    else:
        assert r.returncode == 1
        assert "authentication failed" in r.stderr
