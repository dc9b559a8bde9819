"""What the network and storage nodes share: named objects with a persistent and a live
definition, kept under one lock, loaded from a config store and autostarted.

A subclass names its kind (for messages and logs), its not-found error and how an
object is made from a stored definition; the rest (lookups, config loading, SIGHUP
reload, autostart, the lock-then-deliver-events pattern) lives here once.
"""

from __future__ import annotations

import abc
import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from virtkit.drivers.eventbus import EventBus
from virtkit.drivers.persist import ConfigStore
from virtkit.drivers.state import OpenContext
from virtkit.errors import VirtError, make_error

__all__ = ["NodeObject", "NodeStateDriver", "NodeTable", "ObjectNode"]

DefT = TypeVar("DefT")


class _Ident(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def uuid(self) -> str: ...


class NodeObject(Generic[DefT]):
    """One object: its persistent definition and, while active, its live one."""

    def __init__(self, name: str, uuid: str) -> None:
        self.name = name
        self.uuid = uuid
        self.config: DefT | None = None
        self.live: DefT | None = None
        self.autostart = False

    @property
    def active(self) -> bool:
        return self.live is not None

    @property
    def persistent(self) -> bool:
        return self.config is not None

    def definition(self, inactive: bool = False) -> DefT:
        """The live definition, or the persistent one when inactive (or asked for)."""
        if self.live is not None and not (inactive and self.config is not None):
            return self.live
        assert self.config is not None
        return self.config


ObjT = TypeVar("ObjT", bound=NodeObject[Any])


class ObjectNode(abc.ABC, Generic[ObjT]):
    """The objects of one kind under one root, shared by the connections to it."""

    kind: ClassVar[str]            # "network", "storage pool": used in messages and logs
    error_domain: ClassVar[int]
    not_found_code: ClassVar[int]  # VIR_ERR_NO_NETWORK, VIR_ERR_NO_STORAGE_POOL, ...

    def __init__(self, configs: ConfigStore, log: logging.Logger) -> None:
        self.lock = threading.RLock()
        self.by_name: dict[str, ObjT] = {}
        self.events = EventBus()
        self.refs = 0
        self.configs = configs
        self.log = log

    def error(self, code: int, detail: str) -> VirtError:
        return make_error(code, self.error_domain, detail)

    @contextlib.contextmanager
    def op(self) -> Iterator[None]:
        """Hold the node lock; deliver the queued events after releasing it."""
        try:
            with self.lock:
                yield
        finally:
            self.events.flush()

    # ------------------------------------------------------------ lookups (lock held)

    def get(self, name: str) -> ObjT:
        obj = self.by_name.get(name)
        if obj is None:
            raise self.error(self.not_found_code, f"no {self.kind} with matching name '{name}'")
        return obj

    def get_by_uuid(self, uuid: str) -> ObjT:
        for obj in self.by_name.values():
            if obj.uuid == uuid.lower():
                return obj
        raise self.error(self.not_found_code, f"no {self.kind} with matching uuid '{uuid}'")

    def lookup(self, ident: _Ident) -> ObjT:
        """The object behind a handle, by uuid (as libvirt's ``*ObjFromNetwork/Pool``)."""
        for obj in self.by_name.values():
            if obj.uuid == ident.uuid:
                return obj
        raise self.error(self.not_found_code,
                         f"no {self.kind} with matching uuid '{ident.uuid}' ({ident.name})")

    # ------------------------------------------------------------ loading

    @abc.abstractmethod
    def object_from_config(self, name: str, xml: str) -> ObjT:
        """A new inactive object for a stored definition (may raise VirtError)."""

    def load_configs(self) -> list[str]:
        """Read the config dir (lock held): add the objects not known yet, refresh the
        autostart flag of the persistent ones; returns the names added."""
        found, errors = self.configs.load_all()
        for bad in errors:
            self.log.error("ignoring %s config %s: %s", self.kind, bad.path, bad.reason)
        added: list[str] = []
        for name, xml in found.items():
            try:
                obj = self.object_from_config(name, xml)
            except VirtError as exc:
                self.log.error("ignoring %s config of %s: %s", self.kind, name, exc)
                continue
            known = self.by_name.get(obj.name)
            if known is not None:
                if known.config is not None:
                    known.autostart = self.configs.autostart(known.name)
                continue
            obj.autostart = self.configs.autostart(obj.name)
            self.by_name[obj.name] = obj
            added.append(obj.name)
        return added

    def reload(self) -> list[str]:
        """SIGHUP (part of libvirt's ``*StateReload``): pick up definitions written to the
        config dir meanwhile and the autostart links, then autostart. Definitions of known
        objects are not re-read. Returns the names added."""
        with self.op():
            added = self.load_configs()
        for name in added:
            self.log.info("%s %s: definition loaded on reload", self.kind, name)
        self.autostart_all()
        return added

    @abc.abstractmethod
    def start_object(self, obj: ObjT) -> None:
        """Start an inactive object (used by autostart)."""

    def autostart_all(self) -> None:
        """Start every inactive object marked autostart (errors are logged)."""
        with self.lock:
            todo = [o for o in self.by_name.values() if o.autostart and not o.active]
        for obj in todo:
            try:
                self.start_object(obj)
            except VirtError as exc:
                self.log.error("Failed to autostart %s '%s': %s", self.kind, obj.name, exc)


NodeT = TypeVar("NodeT", bound=ObjectNode[Any])


class NodeTable(Generic[NodeT]):
    """A connection's driver table over a shared node: closing it drops the connection's
    event callbacks and its reference to the node (the node's objects stay as they are)."""

    def __init__(self, node: NodeT, release: Callable[[NodeT], None]) -> None:
        self.node = node
        self._release = release
        self._closed = False

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.node.events.drop_owner(self)
            self._release(self.node)


class NodeStateDriver(Generic[NodeT]):
    """The state driver of an ``ObjectNode`` kind (drivers/state.py): the daemon holds one
    reference to the node of its root, as a connection does."""

    def __init__(self, name: str, acquire: Callable[[OpenContext], NodeT],
                 release: Callable[[NodeT], None]) -> None:
        self.name = name
        self._acquire = acquire
        self._release = release
        self.node: NodeT | None = None

    def initialize(self, ctx: OpenContext) -> bool:
        self.node = self._acquire(ctx)  # loads the definitions, re-attaches
        return True

    def autostart(self) -> None:
        if self.node is not None:
            self.node.autostart_all()

    def reload(self) -> None:
        if self.node is not None:
            self.node.reload()

    def cleanup(self) -> None:
        if self.node is not None:
            self._release(self.node)
            self.node = None
