"""The secret driver's tables (libvirt's secretDriver and secretHypervisorDriver).

``SecretDriverImpl`` is the virSecretDriver table of a connection over the root's
``SecretNode``. ``secret_get_value`` is the public call: it refuses private secrets
("secret is private", VIR_ERR_INVALID_SECRET), which is what libvirt's daemon answers
to every client; the other drivers of the daemon get values through the node's
``secret_value`` (a typed link made by ``drivers/compose.py``).

``open_connection`` serves ``secret:///embed?root=DIR`` anywhere and
``secret:///system`` inside virtkitd.
"""

from __future__ import annotations

from virtkit.conf.secret import SecretDef
from virtkit.constants import ConnectListAllSecretsFlags, SecretDefineFlags, SecretEventID
from virtkit.drivers import state
from virtkit.drivers.base import (
    DriverTables,
    SecondaryConnection,
    SecretDriver,
    SecretEventCallback,
)
from virtkit.drivers.secret import node as secret_nodes
from virtkit.drivers.secret.node import EVENT_KIND, SecretNode
from virtkit.drivers.secret.paths import SecretPaths
from virtkit.errors import ErrorCode, ErrorDomain, invalid_flags, make_error
from virtkit.types import SecretIdent
from virtkit.uri import ParsedURI

__all__ = ["SecretDriverImpl", "SecretEventCallback", "open_connection"]

_SEC = ErrorDomain.SECRET
_LIST_FILTERS = (ConnectListAllSecretsFlags.EPHEMERAL | ConnectListAllSecretsFlags.NO_EPHEMERAL
                 | ConnectListAllSecretsFlags.PRIVATE | ConnectListAllSecretsFlags.NO_PRIVATE)

# callback(secret, event_id, payload): lifecycle (event, detail); value-changed ()


def _check_flags(flags: int, allowed: int, function: str) -> None:
    extra = int(flags) & ~int(allowed)  # int: ~ of an IntFlag keeps only its members
    if extra:
        raise invalid_flags(extra, function, _SEC)


class SecretDriverImpl(SecretDriver):
    """virSecretDriver over one root's secrets."""

    def __init__(self, node: SecretNode) -> None:
        self.node = node

    def close(self) -> None:
        """The connection closed: its event callbacks go."""
        self.node.events.drop_owner(self)

    # ------------------------------------------------------------------ listing

    def connect_list_all_secrets(self, flags: int = 0) -> list[SecretIdent]:
        _check_flags(flags, _LIST_FILTERS, "secretConnectListAllSecrets")
        with self.node.lock:
            return [o.ident for o in self.node.list_all(flags)]

    def connect_num_of_secrets(self) -> int:
        with self.node.lock:
            return len(self.node.secrets)

    def connect_list_secrets(self, maxuuids: int) -> list[str]:
        with self.node.lock:
            return list(self.node.secrets)[:max(maxuuids, 0)]

    # ------------------------------------------------------------------ lookups

    def secret_lookup_by_uuid(self, uuid: str) -> SecretIdent:
        with self.node.lock:
            return self.node.get(uuid).ident

    def secret_lookup_by_usage(self, usage_type: int, usage_id: str) -> SecretIdent:
        with self.node.lock:
            return self.node.by_usage(usage_type, usage_id).ident

    # ------------------------------------------------------------------ definitions

    def secret_define_xml(self, xml: str, flags: int = 0) -> SecretIdent:
        _check_flags(flags, SecretDefineFlags.VALIDATE, "secretDefineXML")
        return self.node.define(SecretDef.from_xml(xml))

    def secret_get_xml_desc(self, secret: SecretIdent, flags: int = 0) -> str:
        _check_flags(flags, 0, "secretGetXMLDesc")
        with self.node.lock:
            return self.node.get(secret.uuid).definition.to_xml()

    def secret_undefine(self, secret: SecretIdent) -> None:
        self.node.undefine(secret.uuid)

    # ------------------------------------------------------------------ values

    def secret_set_value(self, secret: SecretIdent, value: bytes, flags: int = 0) -> None:
        _check_flags(flags, 0, "secretSetValue")
        self.node.set_value(secret.uuid, value)

    def secret_get_value(self, secret: SecretIdent, flags: int = 0) -> bytes:
        _check_flags(flags, 0, "secretGetValue")
        with self.node.lock:
            obj = self.node.get(secret.uuid)
            if obj.definition.private:
                raise make_error(ErrorCode.INVALID_SECRET, _SEC, "secret is private")
            return self.node.value_of(obj)

    # ------------------------------------------------------------------ events

    def connect_secret_event_register_any(
        self, secret: SecretIdent | None, event_id: int, callback: SecretEventCallback
    ) -> int:
        if event_id not in (SecretEventID.LIFECYCLE, SecretEventID.VALUE_CHANGED):
            raise make_error(ErrorCode.INVALID_ARG, ErrorDomain.NONE,
                             f"unsupported event ID {event_id}")
        uuid = self.node.get(secret.uuid).definition.uuid if secret is not None else None
        return self.node.events.register(EVENT_KIND, event_id, uuid, callback, self)

    def connect_secret_event_deregister_any(self, callback_id: int) -> None:
        self.node.events.deregister(callback_id, self)


def open_connection(uri: ParsedURI, flags: int = 0,
                    ctx: state.OpenContext | None = None) -> DriverTables | None:
    """``secret:///embed?root=DIR``; ``secret:///system`` inside virtkitd. None declines."""
    path = uri.path or ""
    if path == "/embed":
        root = uri.params.get("root")
        if not root:
            raise make_error(ErrorCode.INVALID_ARG, _SEC, "URI must be secret:///embed?root=...")
        paths = SecretPaths.embed(root)
    elif path == "/system" and ctx is not None:
        paths = SecretPaths.system(ctx.root)
    else:
        return None
    node = secret_nodes.node_for(paths)
    drv = SecretDriverImpl(node)
    hv = SecondaryConnection("secret", str(uri), [drv.close, lambda: secret_nodes.release(node)])
    return DriverTables(hv, secret=drv)
