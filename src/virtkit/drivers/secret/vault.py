"""Secret values at rest: AES-256-GCM under a per-daemon master key.

The key is 32 random bytes in ``SecretPaths.key_file`` (mode 0600, its directory
0700), made on first use. A value file is ``VKS1`` + a 12-byte nonce + ciphertext and
tag; the secret's UUID is the associated data, so a value file copied to another
secret's name does not decrypt. libvirt 9.0 keeps values as plain ``UUID.base64``.
"""

from __future__ import annotations

import contextlib
import os
import threading

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from virtkit.drivers.persist import write_atomic
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error

__all__ = ["Vault"]

_MAGIC = b"VKS1"
_NONCE = 12
_KEY_BYTES = 32


def _err(detail: str) -> VirtError:
    return make_error(ErrorCode.INTERNAL_ERROR, ErrorDomain.SECRET, detail)


class Vault:
    """Encrypts and decrypts secret values with the master key in ``key_file``."""

    def __init__(self, key_file: str) -> None:
        self.key_file = key_file
        self._aead: AESGCM | None = None
        self._lock = threading.Lock()

    def _cipher(self) -> AESGCM:
        with self._lock:
            if self._aead is None:
                self._aead = AESGCM(self._load_or_create())
            return self._aead

    def has_key(self) -> bool:
        """Whether the master key exists (reading values never makes one: a lost key
        must not turn the stored values into files nothing can read)."""
        return self._aead is not None or os.path.exists(self.key_file)

    def _load_or_create(self) -> bytes:
        directory = os.path.dirname(self.key_file)
        os.makedirs(directory, mode=0o700, exist_ok=True)
        try:
            fd = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC,
                         0o600)
        except FileExistsError:
            return self._read_key()
        key = os.urandom(_KEY_BYTES)
        try:
            os.write(fd, key)
            os.fsync(fd)
        except OSError:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(self.key_file)
            raise
        os.close(fd)
        return key

    def _read_key(self) -> bytes:
        try:
            with open(self.key_file, "rb") as f:
                key = f.read(_KEY_BYTES + 1)
        except OSError as exc:
            raise _err(f"cannot read secret master key '{self.key_file}': "
                       f"{exc.strerror or exc}") from None
        if len(key) != _KEY_BYTES:
            raise _err(f"secret master key '{self.key_file}' is not {_KEY_BYTES} bytes")
        return key

    def seal(self, path: str, uuid: str, value: bytes) -> None:
        """Write ``value`` encrypted to ``path`` (atomically, mode 0600)."""
        nonce = os.urandom(_NONCE)
        data = self._cipher().encrypt(nonce, value, uuid.encode("ascii"))
        write_atomic(path, _MAGIC + nonce + data, mode=0o600)

    def open(self, path: str, uuid: str) -> bytes | None:
        """The value stored in ``path`` (None when there is none); INTERNAL_ERROR when
        the file does not decrypt with this key and UUID."""
        try:
            with open(path, "rb") as f:
                blob = f.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _err(f"cannot read '{path}': {exc.strerror or exc}") from None
        if not blob.startswith(_MAGIC) or len(blob) < len(_MAGIC) + _NONCE + 16:
            raise _err(f"'{path}' is not a virtkit secret value file")
        if not self.has_key():
            raise _err(f"secret master key '{self.key_file}' is missing")
        nonce = blob[len(_MAGIC):len(_MAGIC) + _NONCE]
        try:
            return self._cipher().decrypt(nonce, blob[len(_MAGIC) + _NONCE:],
                                          uuid.encode("ascii"))
        except InvalidTag:
            raise _err(f"'{path}' does not decrypt with this daemon's master key") from None
