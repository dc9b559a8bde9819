"""virtkitd's SASL user database (daemon/sasldb.py) and the sasl-user-* commands."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from scramp import ScramMechanism

from virtkit.daemon import sasldb
from virtkit.daemon.sasldb import SaslDBError, UserDB


def test_verifier_is_rfc5802_scram_sha_256(tmp_path: Path) -> None:
    """The stored keys are what scramp (an independent SCRAM implementation) derives."""
    salt = b"0123456789abcdef"
    user = sasldb.make_user("alice", "pencil", 4096, salt=salt)
    _, stored, server, _ = ScramMechanism("SCRAM-SHA-256").make_auth_info(
        "pencil", iteration_count=4096, salt=salt)
    assert (user.stored_key, user.server_key) == (stored, server)
    assert user.check_password("pencil") and not user.check_password("pencil ")


def test_add_list_delete_file_is_0600_and_holds_no_password(tmp_path: Path) -> None:
    db = str(tmp_path / "etc" / "sasl.db")
    sasldb.add_user(db, "alice", "correct horse")
    sasldb.add_user(db, "bob", "battery staple", iterations=5000)
    assert stat.S_IMODE(os.stat(db).st_mode) == 0o600
    text = Path(db).read_text()
    assert "correct horse" not in text and "battery" not in text
    users = sasldb.load_users(db)
    assert sorted(users) == ["alice", "bob"] and users["bob"].iterations == 5000
    assert users["alice"].check_password("correct horse")
    sasldb.add_user(db, "alice", "new one")  # a password change replaces the entry
    assert sasldb.load_users(db)["alice"].check_password("new one")
    sasldb.delete_user(db, "bob")
    assert sorted(sasldb.load_users(db)) == ["alice"]
    with pytest.raises(SaslDBError, match="user 'bob' not found"):
        sasldb.delete_user(db, "bob")
    # atomic writes leave no temporary file behind
    assert sorted(p.name for p in (tmp_path / "etc").iterdir()) == ["sasl.db", "sasl.db.lock"]


@pytest.mark.parametrize(("name", "password", "message"), [
    ("", "x", "invalid user name"),
    ("a\x07b", "x", "control characters forbidden"),
    ("alice", "", "empty password"),
])
def test_invalid_entries_refused(tmp_path: Path, name: str, password: str,
                                 message: str) -> None:
    with pytest.raises(SaslDBError, match=message):
        sasldb.add_user(str(tmp_path / "db"), name, password)


def test_iterations_below_rfc7677_minimum_refused() -> None:
    with pytest.raises(SaslDBError, match="below 4096"):
        sasldb.make_user("alice", "pw", 1000)


@pytest.mark.parametrize("text", [
    "not json", '{"format": "other"}', '{"format": "virtkit-sasl-db", "version": 9}',
    '{"format": "virtkit-sasl-db", "version": 1, "users": {"a": {"mechanism": "PLAIN"}}}',
])
def test_malformed_database(tmp_path: Path, text: str) -> None:
    db = tmp_path / "db"
    db.write_text(text)
    with pytest.raises(SaslDBError):
        sasldb.load_users(str(db))
    assert UserDB(str(db)).lookup("a") is None  # the daemon fails closed


def test_userdb_rereads_on_change(tmp_path: Path) -> None:
    db = str(tmp_path / "db")
    view = UserDB(db)
    assert view.lookup("alice") is None  # no file yet
    sasldb.add_user(db, "alice", "one")
    first = view.lookup("alice")
    assert first is not None and first.check_password("one")
    sasldb.add_user(db, "alice", "two")
    second = view.lookup("alice")
    assert second is not None and second.check_password("two")
    sasldb.delete_user(db, "alice")
    assert view.lookup("alice") is None


def test_default_path_under_root(tmp_path: Path) -> None:
    assert sasldb.default_db_path("/") == "/etc/libvirt/virtkit-sasl.db"
    assert sasldb.default_db_path(str(tmp_path)) == f"{tmp_path}/etc/libvirt/virtkit-sasl.db"


def _virtkit(*args: str, stdin: str = "", root: Path | None = None
             ) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if root is not None:
        env["VIRTKIT_ROOT"] = str(root)
    return subprocess.run([sys.executable, "-m", "virtkit.cli.main", *args], input=stdin,
                          capture_output=True, text=True, env=env, timeout=60)


def test_cli_commands_need_no_connection(tmp_path: Path) -> None:
    db = tmp_path / "users.db"
    pwfile = tmp_path / "pw"
    pwfile.write_text("from-a-file\n")
    r = _virtkit("sasl-user-add", "alice", "--password-file", str(pwfile), "--db", str(db))
    assert r.returncode == 0, r.stderr
    r = _virtkit("sasl-user-add", "bob", "--db", str(db), stdin="from-stdin\n")
    assert r.returncode == 0, r.stderr
    users = sasldb.load_users(str(db))
    assert users["alice"].check_password("from-a-file")
    assert users["bob"].check_password("from-stdin")
    r = _virtkit("sasl-user-list", "--db", str(db), "--json")
    assert r.returncode == 0, r.stderr
    assert [u["name"] for u in json.loads(r.stdout)] == ["alice", "bob"]
    r = _virtkit("sasl-user-delete", "alice", "--db", str(db))
    assert r.returncode == 0, r.stderr
    r = _virtkit("sasl-user-list", "--db", str(db))
    assert "bob" in r.stdout and "alice" not in r.stdout
    r = _virtkit("sasl-user-delete", "alice", "--db", str(db))
    assert r.returncode == 1 and "error: user 'alice' not found" in r.stderr


def test_cli_default_database_follows_virtkit_root(tmp_path: Path) -> None:
    r = _virtkit("sasl-user-add", "carol", stdin="pw\n", root=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "carol" in sasldb.load_users(sasldb.default_db_path(str(tmp_path)))
