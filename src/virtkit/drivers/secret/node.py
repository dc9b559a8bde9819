"""The secrets of one root (libvirt's virSecretObjList plus the secret driver's state).

Lock order: ``op`` (one state-changing call at a time: define, undefine, set value;
disk I/O happens under it) before ``lock`` (the object table only; no I/O). Events
are queued under ``lock`` and delivered by ``events.flush()`` after it.

A value is held in memory while the daemon runs (as libvirt does) and stored encrypted
(``vault.py``) unless the secret is ephemeral; it never appears in a log line, an XML
document or an error message.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from virtkit.conf.common import parse_uuid
from virtkit.conf.secret import SecretDef, usage_type_name
from virtkit.constants import (
    ConnectListAllSecretsFlags,
    SecretEventID,
    SecretEventLifecycleType,
    SecretUsageType,
)
from virtkit.drivers.eventbus import EventBus
from virtkit.drivers.noderegistry import NodeRegistry
from virtkit.drivers.persist import fsync_dir, quarantine, write_atomic
from virtkit.drivers.secret.paths import SecretPaths
from virtkit.drivers.secret.vault import Vault
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error
from virtkit.types import SecretIdent

__all__ = ["EVENT_KIND", "SecretNode", "SecretObj", "loaded", "node_for", "release"]

log = logging.getLogger("virtkit.drivers.secret")

EVENT_KIND = "secret"
_SEC = ErrorDomain.SECRET


def _err(code: int, detail: str) -> VirtError:
    return make_error(code, _SEC, detail)


def _no_uuid(uuid: str) -> VirtError:
    return _err(ErrorCode.NO_SECRET, f"no secret with matching uuid '{uuid}'")


@dataclass
class SecretObj:
    """One secret: its definition and, once set, its value."""

    definition: SecretDef
    value: bytes | None = None

    @property
    def ident(self) -> SecretIdent:
        d = self.definition
        return SecretIdent(d.uuid, d.usage_type, d.usage_id)


class SecretNode:
    """Every secret under one root, shared by the connections to it."""

    def __init__(self, paths: SecretPaths) -> None:
        paths.ensure()
        self.paths = paths
        self.refs = 0
        self.vault = Vault(paths.key_file)
        self.events = EventBus()
        self.lock = threading.Lock()
        self.op = threading.Lock()
        self.secrets: dict[str, SecretObj] = {}
        self._load()

    # ------------------------------------------------------------------ loading

    def reload(self) -> None:
        """Load the definitions written since (the known ones stay as they are)."""
        with self.op:
            self._load()

    def _load(self) -> None:
        """virSecretLoadAllConfigs: every UUID.xml and its value; bad files quarantined."""
        try:
            names = sorted(os.listdir(self.paths.config_dir))
        except FileNotFoundError:
            return
        for entry in names:
            if not entry.endswith(".xml") or entry.startswith("."):
                continue
            if entry[:-4] in self.secrets:
                continue
            path = os.path.join(self.paths.config_dir, entry)
            try:
                obj = self._load_one(entry, path)
            except VirtError as exc:
                log.error("cannot load secret %s: %s; moved to %s", path, exc.message,
                          quarantine(path))
                continue
            except OSError as exc:
                log.error("cannot read secret %s: %s", path, exc.strerror or exc)
                continue
            with self.lock:
                self.secrets[obj.definition.uuid] = obj

    def _load_one(self, entry: str, path: str) -> SecretObj:
        with open(path, "rb") as f:
            d = SecretDef.from_xml(f.read())
        if entry != f"{d.uuid}.xml":
            raise _err(ErrorCode.INTERNAL_ERROR,
                       f"<uuid> does not match secret file name '{path}'")
        if self._by_usage(d.usage_type, d.usage_id) is not None:
            raise _err(ErrorCode.INTERNAL_ERROR,
                       f"a secret with UUID {d.uuid} already defined for use with {d.usage_id}")
        obj = SecretObj(d)
        value_file = self.paths.value_file(d.uuid)
        if os.path.exists(value_file) and not self.vault.has_key():
            log.error("secret %s: its value is kept in %s but the master key %s is missing; "
                      "the value is not loaded", d.uuid, value_file, self.vault.key_file)
            return obj
        try:
            obj.value = self.vault.open(value_file, d.uuid)
        except VirtError as exc:  # the definition stays; the value file is set aside
            log.error("cannot load the value of secret %s: %s; moved to %s", d.uuid,
                      exc.message, quarantine(value_file))
        return obj

    # ------------------------------------------------------------------ lookups

    def _by_usage(self, usage_type: int, usage_id: str) -> SecretObj | None:
        if usage_type == SecretUsageType.NONE:
            return None  # virSecretObjSearchName: a 'none' secret has no usage to match
        for obj in self.secrets.values():
            d = obj.definition
            if d.usage_type == usage_type and d.usage_id == usage_id:
                return obj
        return None

    def get(self, uuid: str) -> SecretObj:
        """The secret ``uuid`` (any spelling virUUIDParse reads); VIR_ERR_NO_SECRET."""
        canonical = parse_uuid(uuid) if isinstance(uuid, str) else None
        obj = self.secrets.get(canonical) if canonical is not None else None
        if obj is None:
            raise _no_uuid(canonical or str(uuid)[:64])
        return obj

    def by_usage(self, usage_type: int, usage_id: str) -> SecretObj:
        obj = self._by_usage(usage_type, usage_id)
        if obj is None:
            raise _err(ErrorCode.NO_SECRET, f"no secret with matching usage '{usage_id}'")
        return obj

    def list_all(self, flags: int) -> list[SecretObj]:
        """virSecretObjListExport's filters (VIR_CONNECT_LIST_SECRETS_*)."""
        f = ConnectListAllSecretsFlags

        def keep(on: int, off: int, value: bool) -> bool:
            if flags & (on | off) and (flags & (on | off)) != (on | off):
                return value if flags & on else not value
            return True

        return [o for o in self.secrets.values()
                if keep(f.EPHEMERAL, f.NO_EPHEMERAL, o.definition.ephemeral)
                and keep(f.PRIVATE, f.NO_PRIVATE, o.definition.private)]

    # ------------------------------------------------------------------ changes

    def _save_config(self, d: SecretDef) -> None:
        write_atomic(self.paths.config_file(d.uuid), d.to_xml(), mode=0o600)

    def _save_value(self, obj: SecretObj) -> None:
        if obj.value is not None:
            self.vault.seal(self.paths.value_file(obj.definition.uuid), obj.definition.uuid,
                            obj.value)

    def _delete(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
            fsync_dir(os.path.dirname(path))

    def _check_add(self, d: SecretDef) -> SecretObj | None:
        """virSecretObjListAdd's checks; the existing object of the same UUID, if any."""
        old = self.secrets.get(d.uuid)
        if old is not None:
            od = old.definition
            if od.usage_id != d.usage_id:
                raise _err(ErrorCode.INTERNAL_ERROR,
                           f"a secret with UUID {d.uuid} is already defined for use with "
                           f"{od.usage_id}")
            if od.private and not d.private:
                raise _err(ErrorCode.INTERNAL_ERROR,
                           "cannot change private flag on existing secret")
            return old
        other = self._by_usage(d.usage_type, d.usage_id)
        if other is not None:
            raise _err(ErrorCode.INTERNAL_ERROR,
                       f"a secret with UUID {other.definition.uuid} already defined for use "
                       f"with {d.usage_id}")
        return None

    def define(self, d: SecretDef) -> SecretIdent:
        """secretDefineXML: add or replace; the files follow the ephemeral flag."""
        with self.op:
            with self.lock:
                old = self._check_add(d)
            obj = old if old is not None else SecretObj(d)
            was_ephemeral = old is not None and old.definition.ephemeral
            if not d.ephemeral:
                if was_ephemeral:
                    self._save_value(obj)
                try:
                    self._save_config(d)
                except OSError as exc:
                    if was_ephemeral:
                        self._delete(self.paths.value_file(d.uuid))
                    raise _err(ErrorCode.SYSTEM_ERROR,
                               f"cannot write secret '{d.uuid}': {exc.strerror}") from None
            elif old is not None and not old.definition.ephemeral:
                self._delete(self.paths.config_file(d.uuid))
                self._delete(self.paths.value_file(d.uuid))
            with self.lock:
                obj.definition = d
                self.secrets[d.uuid] = obj
                self.events.queue(EVENT_KIND, obj.ident, SecretEventID.LIFECYCLE,
                                  (SecretEventLifecycleType.DEFINED, 0))
                ident = obj.ident
        self.events.flush()
        return ident

    def undefine(self, uuid: str) -> None:
        with self.op:
            with self.lock:
                obj = self.get(uuid)
            d = obj.definition
            self._delete(self.paths.config_file(d.uuid))
            self._delete(self.paths.value_file(d.uuid))
            with self.lock:
                self.secrets.pop(d.uuid, None)
                self.events.queue(EVENT_KIND, obj.ident, SecretEventID.LIFECYCLE,
                                  (SecretEventLifecycleType.UNDEFINED, 0))
        self.events.flush()

    def set_value(self, uuid: str, value: bytes) -> None:
        """virSecretObjSetValue: stored unless ephemeral; the old value back on failure."""
        with self.op:
            with self.lock:
                obj = self.get(uuid)
            old = obj.value
            obj.value = bytes(value)
            if not obj.definition.ephemeral:
                try:
                    self._save_value(obj)
                except OSError as exc:
                    obj.value = old
                    raise _err(ErrorCode.SYSTEM_ERROR,
                               f"cannot write secret value '{obj.definition.uuid}': "
                               f"{exc.strerror}") from None
            with self.lock:
                self.events.queue(EVENT_KIND, obj.ident, SecretEventID.VALUE_CHANGED, ())
        self.events.flush()

    def value_of(self, obj: SecretObj) -> bytes:
        """virSecretObjGetValue: the value, or VIR_ERR_NO_SECRET when none was set."""
        if obj.value is None:
            raise _err(ErrorCode.NO_SECRET,
                       f"secret '{obj.definition.uuid}' does not have a value")
        return obj.value

    def secret_value(self, usage_type: int, uuid: str | None,
                     usage_id: str | None = None) -> bytes:
        """A value for another driver of this daemon (virSecretGetSecretString): found by
        UUID or by usage, of ``usage_type``; private secrets too, since the value stays
        inside the daemon."""
        with self.lock:
            obj = (self.get(uuid) if uuid is not None
                   else self.by_usage(usage_type, usage_id or ""))
            d = obj.definition
            if d.usage_type not in (SecretUsageType.NONE, usage_type):
                raise make_error(  # util/virsecret.c reports it without a domain
                    ErrorCode.INVALID_ARG, ErrorDomain.NONE,
                    f"secret with uuid {d.uuid} is of type '{usage_type_name(d.usage_type)}' "
                    f"not expected '{usage_type_name(usage_type)}' type")
            return self.value_of(obj)

    def __iter__(self) -> Iterator[SecretObj]:
        return iter(list(self.secrets.values()))


_nodes: NodeRegistry[SecretNode] = NodeRegistry()


def node_for(paths: SecretPaths) -> SecretNode:
    """The node for ``paths`` in this process (created and loaded once)."""
    return _nodes.acquire(paths, lambda: SecretNode(paths))


def loaded(paths: SecretPaths) -> SecretNode | None:
    return _nodes.loaded(paths)


def release(node: SecretNode) -> None:
    _nodes.release(node)
