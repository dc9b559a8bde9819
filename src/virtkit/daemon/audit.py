"""virtkitd's audit log: one JSON line per state-changing call and per access denial.

The file is ``audit_log_file`` (virtkit's own libvirtd.conf key; default
``<logdir>/virtkitd-audit.log`` under the daemon's ``--root``); ``audit_level = 0``
turns it off.  A line::

    {"time": "2025-01-31T12:00:00.123Z", "client": 7, "transport": "unix",
     "address": "/run/libvirt/libvirt-sock",
     "identity": {"unix-user-id": "1001", "user-name": "alice", ...},
     "procedure": "domain_create", "api": "virDomainCreate",
     "object": {"type": "domain", "name": "web1", "uuid": "..."},
     "result": "error", "error": {"code": 88, "name": "ACCESS_DENIED",
     "message": "access denied: 'Test' denied access"}}

``result`` is ``"ok"``, ``"error"`` or ``"denied"`` (an access denial).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Mapping
from typing import Any

from virtkit.errtables import ErrorCode

__all__ = ["AuditLog", "audit_path"]

log = logging.getLogger("virtkit.daemon.audit")

_MODE = 0o600


def audit_path(config: Any, paths: Any) -> str | None:
    """Where the audit log goes, or None when auditing is off (``audit_level = 0``)."""
    if getattr(config, "audit_level", 1) == 0:
        return None
    configured = getattr(config, "audit_log_file", None)
    if configured == "":
        return None
    if configured:
        return str(paths.under(configured))
    return os.path.join(paths.log_dir, "virtkitd-audit.log")


def _timestamp(now: float) -> str:
    secs = int(now)
    millis = int((now - secs) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{millis:03d}Z"


class AuditLog:
    """An append-only JSON-lines file, written under a lock, one ``write()`` per line."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd = self._open(path)
        self._lock = threading.Lock()
        self._failed = False

    @staticmethod
    def _open(path: str) -> int:
        parent = os.path.dirname(path)
        if parent:
            os.makedirs(parent, mode=0o700, exist_ok=True)
        return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, _MODE)

    def reopen(self) -> bool:
        """Open the file by its name again (after logrotate moved it: SIGHUP); on failure
        the old file stays in use and the error is logged.  Returns whether it worked."""
        try:
            fd = self._open(self.path)
        except OSError as e:
            log.error("cannot re-open the audit log %s: %s; still writing to the old file",
                      self.path, e.strerror)
            return False
        with self._lock:
            if self._fd < 0:  # closed (shutting down): stay closed
                old, closed = fd, True
            else:
                old, self._fd, closed = self._fd, fd, False
                self._failed = False
        os.close(old)
        return not closed

    def record(self, *, client: int, transport: str, address: str,
               identity: Mapping[str, str], procedure: str, api: str,
               obj: Mapping[str, str] | None, error: Any = None, denied: bool = False) -> None:
        """Write one line; ``error`` is the VirtError the call raised (None: success)."""
        entry: dict[str, Any] = {
            "time": _timestamp(time.time()),
            "client": client,
            "transport": transport,
            "address": address,
            "identity": dict(identity),
            "procedure": procedure,
            "api": api,
            "object": dict(obj) if obj else None,
        }
        if error is None:
            entry["result"] = "ok"
        else:
            code = int(getattr(error, "code", ErrorCode.INTERNAL_ERROR))
            try:
                name = ErrorCode(code).name
            except ValueError:
                name = str(code)
            entry["result"] = "denied" if denied else "error"
            entry["error"] = {"code": code, "name": name,
                              "message": str(getattr(error, "message", error))}
        line = (json.dumps(entry, separators=(",", ":"), ensure_ascii=False) + "\n").encode()
        with self._lock:
            try:
                os.write(self._fd, line)
            except OSError as e:
                if not self._failed:
                    log.error("cannot write the audit log %s: %s", self.path, e.strerror)
                self._failed = True
            else:
                self._failed = False

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
