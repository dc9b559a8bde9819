"""virtkitd's SASL user database: user name -> SCRAM-SHA-256 verifier, never a password.

libvirtd keeps its SASL users in cyrus-sasl's ``sasldb`` (``saslpasswd2 -a libvirt``);
virtkitd keeps them in one JSON file, by default ``/etc/libvirt/virtkit-sasl.db``
(under the daemon's ``--root``).  Each entry holds what RFC 5802 lets a server keep:
the salt, the iteration count, StoredKey and ServerKey.  A stolen file does not give
the passwords, nor lets anyone log in without cracking them.

Writers (``virtkit sasl-user-add``/``-delete``) take a lock file, write a temporary file,
fsync it and rename it over the old one (mode 0600), so the daemon never reads half a
file; the daemon re-reads the file when its (inode, size, mtime) changes, so users
added or deleted take effect on the next login without a restart.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import hmac
import json
import logging
import os
import secrets
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from virtkit.errors import LocalToolError

__all__ = [
    "DB_NAME",
    "DEFAULT_ITERATIONS",
    "MECHANISM",
    "SaslDBError",
    "SaslUser",
    "UserDB",
    "add_user",
    "default_db_path",
    "delete_user",
    "load_users",
    "make_user",
    "normalize_name",
]

log = logging.getLogger("virtkit.daemon.sasldb")

DB_NAME = "virtkit-sasl.db"
MECHANISM = "SCRAM-SHA-256"
DEFAULT_ITERATIONS = 10000  # cyrus-sasl's scram_iteration_counter default
MIN_ITERATIONS = 4096  # RFC 7677's minimum for SCRAM-SHA-256
_FORMAT = "virtkit-sasl-db"
_VERSION = 1
_SALT_BYTES = 16


class SaslDBError(LocalToolError):
    """The database cannot be read or written, or a request on it is invalid."""


@dataclass(frozen=True)
class SaslUser:
    """One user's SCRAM-SHA-256 verifier (RFC 5802 section 3)."""

    name: str
    salt: bytes
    iterations: int
    stored_key: bytes
    server_key: bytes

    def to_json(self) -> dict[str, object]:
        return {
            "mechanism": MECHANISM,
            "iterations": self.iterations,
            "salt": base64.b64encode(self.salt).decode(),
            "stored_key": base64.b64encode(self.stored_key).decode(),
            "server_key": base64.b64encode(self.server_key).decode(),
        }

    @classmethod
    def from_json(cls, name: str, data: object) -> SaslUser:
        if not isinstance(data, dict) or data.get("mechanism") != MECHANISM:
            raise SaslDBError(f"user '{name}': not a {MECHANISM} entry")
        try:
            user = cls(name, base64.b64decode(data["salt"], validate=True),
                       int(data["iterations"]),
                       base64.b64decode(data["stored_key"], validate=True),
                       base64.b64decode(data["server_key"], validate=True))
        except (KeyError, TypeError, ValueError) as e:
            raise SaslDBError(f"user '{name}': malformed entry ({e})") from None
        if len(user.stored_key) != 32 or len(user.server_key) != 32 or len(user.salt) < 12 \
                or user.iterations < MIN_ITERATIONS:
            raise SaslDBError(f"user '{name}': malformed entry")
        return user

    def check_password(self, password: str) -> bool:
        """Whether ``password`` is this user's (constant time in the comparison)."""
        return hmac.compare_digest(stored_key_for(password, self.salt, self.iterations),
                                   self.stored_key)


def saslprep(text: str) -> str:
    """RFC 4013 SASLprep (what SCRAM applies to names and passwords)."""
    from scramp.utils import ScramException
    from scramp.utils import saslprep as _saslprep

    try:
        return str(_saslprep(text))
    except ScramException as e:
        raise SaslDBError(str(e.args[0])) from None


def normalize_name(name: str) -> str:
    """The user name as SCRAM carries it (SASLprep'd); refuses empty or unprintable names."""
    prepped = saslprep(name)
    if not prepped or any(ord(c) < 32 or ord(c) == 127 for c in prepped):
        raise SaslDBError(f"invalid user name '{name}'")
    return prepped


def salted_password(password: str, salt: bytes, iterations: int) -> bytes:
    """SCRAM's Hi(Normalize(password), salt, i) for SHA-256."""
    return hashlib.pbkdf2_hmac("sha256", saslprep(password).encode(), salt, iterations)


def stored_key_for(password: str, salt: bytes, iterations: int) -> bytes:
    """StoredKey = H(HMAC(SaltedPassword, "Client Key"))."""
    client_key = hmac.new(salted_password(password, salt, iterations), b"Client Key",
                          hashlib.sha256).digest()
    return hashlib.sha256(client_key).digest()


def make_user(name: str, password: str, iterations: int = DEFAULT_ITERATIONS,
              salt: bytes | None = None) -> SaslUser:
    """A fresh verifier for ``name``/``password`` (random salt unless given)."""
    if iterations < MIN_ITERATIONS:
        raise SaslDBError(f"iteration count {iterations} is below {MIN_ITERATIONS}")
    if not password:
        raise SaslDBError("empty password")
    salt = salt if salt is not None else secrets.token_bytes(_SALT_BYTES)
    salted = salted_password(password, salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return SaslUser(normalize_name(name), salt, iterations,
                    hashlib.sha256(client_key).digest(), server_key)


def default_db_path(root: str = "/") -> str:
    """``/etc/libvirt/virtkit-sasl.db`` under ``root``."""
    from virtkit.daemon.paths import DaemonPaths

    return os.path.join(DaemonPaths(root).config_dir, DB_NAME)


def _parse(text: str, path: str) -> dict[str, SaslUser]:
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise SaslDBError(f"{path}: not a SASL user database: {e}") from None
    if not isinstance(doc, dict) or doc.get("format") != _FORMAT:
        raise SaslDBError(f"{path}: not a SASL user database")
    if doc.get("version") != _VERSION:
        raise SaslDBError(f"{path}: unsupported database version {doc.get('version')!r}")
    users = doc.get("users")
    if not isinstance(users, dict):
        raise SaslDBError(f"{path}: not a SASL user database")
    return {name: SaslUser.from_json(name, entry) for name, entry in users.items()}


def load_users(path: str) -> dict[str, SaslUser]:
    """Every user in the database at ``path`` ({} when the file does not exist)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise SaslDBError(f"cannot read {path}: {e.strerror}") from None
    return _parse(text, path)


def _write(path: str, users: dict[str, SaslUser]) -> None:
    doc = {"format": _FORMAT, "version": _VERSION,
           "users": {name: users[name].to_json() for name in sorted(users)}}
    data = json.dumps(doc, indent=2).encode() + b"\n"
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=directory)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


@contextlib.contextmanager
def _locked(path: str) -> Iterator[dict[str, SaslUser]]:
    """Read-modify-write under ``path.lock``: yields the users, writes them back."""
    directory = os.path.dirname(path) or "."
    try:
        os.makedirs(directory, mode=0o755, exist_ok=True)
        lock_fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as e:
        raise SaslDBError(f"cannot lock {path}: {e.strerror}") from None
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        users = load_users(path)
        yield users
        try:
            _write(path, users)
        except OSError as e:
            raise SaslDBError(f"cannot write {path}: {e.strerror}") from None
    finally:
        os.close(lock_fd)


def add_user(path: str, name: str, password: str,
             iterations: int = DEFAULT_ITERATIONS) -> SaslUser:
    """Add ``name`` or replace its password; returns the stored entry."""
    user = make_user(name, password, iterations)
    with _locked(path) as users:
        users[user.name] = user
    return user


def delete_user(path: str, name: str) -> None:
    """Remove ``name``; SaslDBError when it is not there."""
    key = normalize_name(name)
    with _locked(path) as users:
        if key not in users:
            raise SaslDBError(f"user '{name}' not found in {path}")
        del users[key]


class UserDB:
    """The daemon's view of the database: re-read whenever the file changes.

    A missing file means no users; an unreadable or malformed one is logged and
    also means no users (logins fail closed) until it is fixed."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._users: dict[str, SaslUser] = {}

    def lookup(self, name: str) -> SaslUser | None:
        """The verifier of ``name``, from the file as it is now."""
        with self._lock:
            self._refresh()
            return self._users.get(name)

    def _refresh(self) -> None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            if self._stamp != (0, 0, 0):
                log.warning("SASL user database %s does not exist: no SASL user can log in",
                            self.path)
            self._stamp, self._users = (0, 0, 0), {}
            return
        except OSError as e:
            log.error("cannot stat SASL user database %s: %s", self.path, e.strerror)
            self._stamp, self._users = None, {}
            return
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        if stamp == self._stamp:
            return
        if st.st_mode & 0o077:
            log.warning("SASL user database %s is accessible to other users (mode %04o)",
                        self.path, st.st_mode & 0o7777)
        try:
            self._users = load_users(self.path)
        except SaslDBError as e:
            log.error("%s", e)
            self._users = {}
        self._stamp = stamp
        log.info("loaded %d SASL user(s) from %s", len(self._users), self.path)
