"""libvirt's RPC programs and their procedures, declared once as data.

Each :class:`Procedure` carries its number, snake-case name (the driver
method name in :mod:`virtkit.drivers.base`, used by the server to dispatch),
argument and return XDR types, priority, access-control annotations and
whether a read-only connection may call it.  The ``remote`` program's table
is generated into :mod:`virtkit.rpc.remote_procs`; keepalive is declared here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum

from virtkit.rpc import remote_procs
from virtkit.rpc.xdr import VOID, XDRType

__all__ = [
    "KEEPALIVE",
    "KEEPALIVE_PROC_PING",
    "KEEPALIVE_PROC_PONG",
    "KEEPALIVE_PROGRAM",
    "KEEPALIVE_PROTOCOL_VERSION",
    "PROGRAMS",
    "REMOTE",
    "REMOTE_PROGRAM",
    "REMOTE_PROTOCOL_VERSION",
    "AclRule",
    "ProcKind",
    "Procedure",
    "Program",
]

REMOTE_PROGRAM = remote_procs.REMOTE_PROGRAM
REMOTE_PROTOCOL_VERSION = remote_procs.REMOTE_PROTOCOL_VERSION
KEEPALIVE_PROGRAM = 0x6B656570
KEEPALIVE_PROTOCOL_VERSION = 1
KEEPALIVE_PROC_PING = 1
KEEPALIVE_PROC_PONG = 2


class ProcKind(Enum):
    """How a procedure travels."""

    CALL = "call"  #: CALL answered by REPLY
    EVENT = "event"  #: an asynchronous MESSAGE; ``args`` is its body
    FDS = "fds"  #: a call that passes file descriptors (CALL_WITH_FDS / REPLY_WITH_FDS)


@dataclass(frozen=True, slots=True)
class AclRule:
    """One ``@acl`` annotation: ``object:perm[:flag]`` or ``object:perm::param:value``.

    ``flag`` is libvirt's condition text (``VIR_DOMAIN_XML_SECURE`` or
    ``!VIR_DOMAIN_AFFECT_CONFIG|VIR_DOMAIN_AFFECT_LIVE``); the rule applies
    only when the call's flags match it.  ``anonymous`` permissions are
    allowed on read-only connections."""

    object: str
    perm: str
    flag: str | None = None
    param: str | None = None
    value: str | None = None
    anonymous: bool = False

    @classmethod
    def parse(cls, text: str) -> AclRule:
        parts = text.split(":")
        obj, perm = parts[0], parts[1]
        anon = f"{obj}:{perm}" in remote_procs.ANONYMOUS_PERMS
        rest = parts[2:]
        if len(rest) >= 3 and rest[0] == "":
            return cls(obj, perm, None, rest[1], rest[2], anon)
        return cls(obj, perm, rest[0] if rest and rest[0] else None, anonymous=anon)

    @property
    def conditional(self) -> bool:
        return self.flag is not None or self.param is not None


@dataclass(frozen=True, slots=True)
class Procedure:
    """One procedure of a program."""

    program: int
    number: int
    name: str  #: snake case, e.g. ``domain_get_info``
    args: XDRType
    ret: XDRType
    kind: ProcKind = ProcKind.CALL
    high_priority: bool = False  #: never blocks on a hypervisor monitor
    acl: tuple[AclRule, ...] = ()
    aclfilter: tuple[str, ...] = ()
    stream: str | None = None  #: "read" / "write" (client's view) for stream procedures
    #: allowed on a read-only connection: every unconditional ACL rule is
    #: anonymous (flag-conditional rules are in ``acl`` for the caller to check)
    readonly: bool = field(default=True)

    @property
    def const_name(self) -> str:
        return self.name.upper()

    @property
    def is_event(self) -> bool:
        return self.kind is ProcKind.EVENT


class Program:
    """A program: its number, version and procedures by number and by name."""

    def __init__(self, name: str, number: int, version: int,
                 procedures: Iterable[Procedure]) -> None:
        self.name = name
        self.number = number
        self.version = version
        self.by_number: Mapping[int, Procedure] = {p.number: p for p in procedures}
        self.by_name: Mapping[str, Procedure] = {p.name: p for p in self.by_number.values()}

    def get(self, number: int) -> Procedure | None:
        """The procedure with ``number``, or None (unknown procedure)."""
        return self.by_number.get(number)

    def __getitem__(self, name: str) -> Procedure:
        return self.by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self.by_name

    def __iter__(self) -> Iterator[Procedure]:
        return iter(self.by_number.values())

    def __len__(self) -> int:
        return len(self.by_number)

    def __repr__(self) -> str:
        return f"<Program {self.name} 0x{self.number:08x} v{self.version}: {len(self)} procedures>"


# Procedures whose @acl says only "read" although libvirt's public API refuses them on a
# read-only connection (virCheckReadOnlyGoto in virDomainSetSchedulerParameters).
_WRITE_DESPITE_READ_ACL = frozenset({"domain_set_scheduler_parameters"})
# Stream procedures remote_protocol.x does not annotate (@generate: none; libvirt's
# remote driver and daemon bind the stream by hand): the tunnelled migration's upload.
_STREAM_DESPITE_ANNOTATION = {"domain_migrate_prepare_tunnel3_params": "write"}


def _remote_procedures() -> Iterator[Procedure]:
    for num, name, args, ret, kind, prio, acl, aclf, stream in remote_procs.PROCEDURES:
        rules = tuple(AclRule.parse(a) for a in acl)
        yield Procedure(
            program=REMOTE_PROGRAM, number=num, name=name.lower(), args=args, ret=ret,
            kind=ProcKind(kind), high_priority=prio == "high", acl=rules, aclfilter=aclf,
            stream=stream or _STREAM_DESPITE_ANNOTATION.get(name.lower()),
            readonly=(all(r.anonymous for r in rules if not r.conditional)
                      and name.lower() not in _WRITE_DESPITE_READ_ACL),
        )


REMOTE = Program("remote", REMOTE_PROGRAM, REMOTE_PROTOCOL_VERSION, _remote_procedures())

KEEPALIVE = Program("keepalive", KEEPALIVE_PROGRAM, KEEPALIVE_PROTOCOL_VERSION, [
    Procedure(KEEPALIVE_PROGRAM, KEEPALIVE_PROC_PING, "ping", VOID, VOID, ProcKind.EVENT,
              high_priority=True),
    Procedure(KEEPALIVE_PROGRAM, KEEPALIVE_PROC_PONG, "pong", VOID, VOID, ProcKind.EVENT,
              high_priority=True),
])

PROGRAMS: Mapping[int, Program] = {p.number: p for p in (REMOTE, KEEPALIVE)}
"""The programs virtkit declares, by program number."""
