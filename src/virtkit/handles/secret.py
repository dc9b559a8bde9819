"""Secrets: the Secret handle and the Connection calls that make it
(``SecretObjectsMixin``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from virtkit.errors import invalid_arg
from virtkit.errtables import ErrorDomain
from virtkit.handles.base import Handle
from virtkit.types import SecretIdent

if TYPE_CHECKING:
    from virtkit.connection import Connection
    from virtkit.drivers.base import DriverTables
    from virtkit.events import EventHandle

__all__ = ["Secret", "SecretObjectsMixin"]

_S = ErrorDomain.SECRET
_REGISTER = "virConnectSecretEventRegisterAny"
_EVENT_ID_LAST = 2  # VIR_SECRET_EVENT_ID_LAST: LIFECYCLE, VALUE_CHANGED


class Secret(Handle[SecretIdent]):
    """A secret (virSecretPtr): a value kept by the node, known by UUID and usage."""

    __slots__ = ()

    @property
    def name(self) -> str:
        """The UUID (a secret has no name; virsh names secrets by UUID)."""
        return self._ident.uuid

    @property
    def uuid(self) -> str:
        """The secret's UUID."""
        return self._ident.uuid

    @property
    def usage_type(self) -> int:
        """virSecretGetUsageType: a ``SecretUsageType``."""
        return self._ident.usage_type

    @property
    def usage_id(self) -> str:
        """virSecretGetUsageID: the usage's key (volume path, ceph/iscsi/tls/vtpm name)."""
        return self._ident.usage_id

    def __repr__(self) -> str:
        return f"<Secret {self._ident.uuid} usage={self._ident.usage_id!r}>"

    def xml(self, flags: int = 0) -> str:
        """virSecretGetXMLDesc."""
        return self._conn.tables.secret.secret_get_xml_desc(self._ident, flags)

    def get_value(self, flags: int = 0) -> bytes:
        """virSecretGetValue (refused on read-only connections and for private secrets)."""
        self._conn._check_write("virSecretGetValue", _S)
        return bytes(self._conn.tables.secret.secret_get_value(self._ident, flags))

    def set_value(self, value: bytes, flags: int = 0) -> None:
        """virSecretSetValue."""
        self._conn._check_write("virSecretSetValue", _S)
        self._conn.tables.secret.secret_set_value(self._ident, bytes(value), flags)

    def undefine(self) -> None:
        """virSecretUndefine."""
        self._conn._check_write("virSecretUndefine", _S)
        self._conn.tables.secret.secret_undefine(self._ident)


class SecretObjectsMixin:
    """The Connection's secret calls (mixed into Connection)."""

    __slots__ = ()

    if TYPE_CHECKING:
        @property
        def tables(self) -> DriverTables: ...

        def _check_write(self, function: str, domain: int) -> None: ...

        def _track(self, callback_id: int, deregister: Callable[[int], None]) -> EventHandle: ...

    def _me(self) -> Connection:
        return self  # type: ignore[return-value]

    def list_secrets(self, flags: int = 0) -> list[Secret]:
        """virConnectListAllSecrets (flags: ConnectListAllSecretsFlags)."""
        return [Secret(self._me(), i) for i in self.tables.secret.connect_list_all_secrets(flags)]

    def num_of_secrets(self) -> int:
        """virConnectNumOfSecrets."""
        return self.tables.secret.connect_num_of_secrets()

    def list_secret_uuids(self) -> list[str]:
        """virConnectListSecrets: every secret's UUID."""
        drv = self.tables.secret
        n = drv.connect_num_of_secrets()
        return drv.connect_list_secrets(n) if n else []

    def lookup_secret_by_uuid(self, uuid: object) -> Secret:
        """virSecretLookupByUUIDString (str, ``uuid.UUID`` or 16 bytes; VIR_ERR_NO_SECRET)."""
        from virtkit.connection import canonical_uuid

        key = canonical_uuid(uuid, "virSecretLookupByUUIDString", _S)
        return Secret(self._me(), self.tables.secret.secret_lookup_by_uuid(key))

    def lookup_secret_by_usage(self, usage_type: int, usage_id: str) -> Secret:
        """virSecretLookupByUsage (usage_type: SecretUsageType)."""
        drv = self.tables.secret
        return Secret(self._me(), drv.secret_lookup_by_usage(int(usage_type), usage_id))

    def define_secret(self, xml: str, flags: int = 0) -> Secret:
        """virSecretDefineXML (flags: SecretDefineFlags)."""
        self._check_write("virSecretDefineXML", _S)
        return Secret(self._me(), self.tables.secret.secret_define_xml(xml, flags))

    def on_secret_event(
        self,
        callback: Callable[..., object],
        event_id: int = 0,
        secret: Secret | None = None,
    ) -> EventHandle:
        """Call ``callback(secret, event_id, *payload)`` for each secret event
        (virConnectSecretEventRegisterAny; ``secret``: only that secret's events).

        LIFECYCLE's (event id 0) payload is ``(SecretEventLifecycleType, detail)``;
        VALUE_CHANGED (1) has none.
        """
        from virtkit.constants import SecretEventLifecycleType
        from virtkit.events import make_relay

        event_id = int(event_id)
        # the public API's checks (libvirt-secret.c), whatever the driver
        if event_id < 0:
            raise invalid_arg(f"eventID in {_REGISTER} must be zero or greater", _S)
        if event_id >= _EVENT_ID_LAST:
            raise invalid_arg(f"eventID in {_REGISTER} must be less than {_EVENT_ID_LAST}", _S)
        drv = self.tables.secret
        relay = make_relay(lambda i: Secret(self._me(), i), callback, SecretEventLifecycleType)
        cid = drv.connect_secret_event_register_any(
            None if secret is None else secret._ident, event_id, relay)
        return self._track(cid, drv.connect_secret_event_deregister_any)
