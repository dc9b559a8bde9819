"""migrate, migrate-setmaxdowntime/getmaxdowntime, migrate-setspeed/getspeed (virsh-domain.c
cmdMigrate / doMigrate, cmdMigrateSetMaxDowntime ...).

``migrate`` builds libvirt's VIR_MIGRATE_PARAM_* typed parameters and VIR_MIGRATE_* flags
from virsh's options; without ``--p2p``/``--direct`` this client opens the destination and
drives the migration itself (virDomainMigrate3), with them the source daemon does
(virDomainMigrateToURI3). ``--verbose`` prints virsh's "Migration: [ NN %]" progress;
``--timeout N`` suspends the guest when a live migration has not finished after N s.
"""

from __future__ import annotations

import threading
from typing import Any

from virtkit.cli.common import lookup_domain
from virtkit.cli.domjob import watch_job
from virtkit.cli.framework import Cmd, CmdFailed, CommandDef, Ctl, specs_to_defs
from virtkit.cli.specs import GROUPS
from virtkit.constants import DomainMigrateFlags as F
from virtkit.constants import DomainMigrateMaxSpeedFlags
from virtkit.errors import VirtError
from virtkit.types import TypedParams

__all__ = ["COMMANDS", "migrate_params"]

# option -> VIR_MIGRATE_* flag, in doMigrate's order
_FLAGS = (("live", F.LIVE), ("p2p", F.PEER2PEER), ("tunnelled", F.TUNNELLED),
          ("persistent", F.PERSIST_DEST), ("undefinesource", F.UNDEFINE_SOURCE),
          ("suspend", F.PAUSED), ("copy-storage-all", F.NON_SHARED_DISK),
          ("copy-storage-inc", F.NON_SHARED_INC),
          ("copy-storage-synchronous-writes", F.NON_SHARED_SYNCHRONOUS_WRITES),
          ("change-protection", F.CHANGE_PROTECTION), ("unsafe", F.UNSAFE),
          ("compressed", F.COMPRESSED), ("auto-converge", F.AUTO_CONVERGE),
          ("rdma-pin-all", F.RDMA_PIN_ALL), ("offline", F.OFFLINE),
          ("abort-on-error", F.ABORT_ON_ERROR), ("postcopy", F.POSTCOPY),
          ("postcopy-resume", F.POSTCOPY_RESUME), ("zerocopy", F.ZEROCOPY), ("tls", F.TLS),
          ("parallel", F.PARALLEL))
# option -> (VIR_MIGRATE_PARAM_*, kind)
_PARAMS = (("migrateuri", "migrate_uri", "str"), ("graphicsuri", "graphics_uri", "str"),
           ("listen-address", "listen_address", "str"), ("disks-port", "disks_port", "int"),
           ("disks-uri", "disks_uri", "str"), ("dname", "destination_name", "str"),
           ("comp-mt-level", "compression.mt.level", "int"),
           ("comp-mt-threads", "compression.mt.threads", "int"),
           ("comp-mt-dthreads", "compression.mt.dthreads", "int"),
           ("comp-xbzrle-cache", "compression.xbzrle.cache", "ull"),
           ("auto-converge-initial", "auto_converge.initial", "int"),
           ("auto-converge-increment", "auto_converge.increment", "int"),
           ("postcopy-bandwidth", "bandwidth.postcopy", "ull"),
           ("parallel-connections", "parallel.connections", "int"),
           ("bandwidth", "bandwidth", "ull"), ("tls-destination", "tls.destination", "str"))


def _read_file(ctl: Ctl, path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as exc:
        ctl.error(f"Failed to open file '{path}': {exc.strerror or exc}")
        raise CmdFailed from None


def migrate_params(ctl: Ctl, cmd: Cmd) -> tuple[TypedParams, int]:
    """doMigrate's typed parameters and flags from the command's options."""
    params: TypedParams = {}
    for opt, name, kind in _PARAMS:
        if kind == "str":
            value: Any = ctl.opt_string(cmd, opt)
        elif kind == "int":
            value = ctl.opt_int(cmd, opt)
        else:
            value = ctl.opt_int(cmd, opt, lo=0, hi=2**64 - 1)
        if value is not None:
            params[name] = value
    for opt, name in (("migrate-disks", "migrate_disks"), ("comp-methods", "compression")):
        listed = ctl.opt_string(cmd, opt)
        if listed:  # libvirt takes one parameter per item; the dict keeps the first
            params[name] = listed.split(",")[0]
    for opt, name in (("xml", "destination_xml"), ("persistent-xml", "persistent_xml")):
        path = ctl.opt_string(cmd, opt)
        if path is not None:
            params[name] = _read_file(ctl, path)
    flags = 0
    for opt, flag in _FLAGS:
        if cmd.flag(opt):
            flags |= int(flag)
    return params, flags


def cmd_migrate(ctl: Ctl, cmd: Cmd) -> bool:
    import virtkit

    dom, _ = lookup_domain(ctl, cmd)
    desturi = ctl.opt_required(cmd, "desturi")
    params, flags = migrate_params(ctl, cmd)
    timeout = ctl.opt_int(cmd, "timeout", lo=0)
    if timeout is not None and (timeout < 1 or not flags & F.LIVE):
        ctl.error("migrate: Unexpected timeout for offline migration" if timeout >= 1
                  else "migrate: Invalid timeout")
        raise CmdFailed
    peer = cmd.flag("p2p") or cmd.flag("direct")

    def run() -> None:
        if peer:
            dom.migrate_to_uri3(desturi, flags, params)
            return
        dest = virtkit.open(desturi)
        try:
            dom.migrate(dest, flags, params)
        finally:
            dest.close()

    timer = None
    if timeout is not None:
        timer = threading.Timer(timeout, _suspend_on_timeout, (ctl, dom))
        timer.daemon = True
        timer.start()
    try:
        watch_job(ctl, dom, "Migration", run, cmd.flag("verbose"))
    finally:
        if timer is not None:
            timer.cancel()
    ctl.print("\n")  # as virsh: a newline after the (stderr) progress
    return True


def _suspend_on_timeout(ctl: Ctl, dom: Any) -> None:
    """virshMigrateTimeout: the migration took too long; pause the guest so it ends."""
    try:
        dom.suspend()
    except VirtError as exc:
        ctl.error(f"migrate: failed to suspend the domain after the timeout: {exc}")


def cmd_migrate_setmaxdowntime(ctl: Ctl, cmd: Cmd) -> bool:
    dom, _ = lookup_domain(ctl, cmd)
    downtime = ctl.opt_int(cmd, "downtime", lo=-(2**63), hi=2**64 - 1)
    if downtime is None or downtime < 1:
        ctl.error("migrate: Invalid downtime")
        raise CmdFailed
    dom.migrate_set_max_downtime(downtime)
    return True


def cmd_migrate_getmaxdowntime(ctl: Ctl, cmd: Cmd) -> bool:
    dom, _ = lookup_domain(ctl, cmd)
    ctl.print(f"{dom.migrate_max_downtime()}\n")
    return True


def _speed_flags(cmd: Cmd) -> int:
    return int(DomainMigrateMaxSpeedFlags.POSTCOPY) if cmd.flag("postcopy") else 0


def cmd_migrate_setspeed(ctl: Ctl, cmd: Cmd) -> bool:
    dom, _ = lookup_domain(ctl, cmd)
    bandwidth = ctl.opt_int(cmd, "bandwidth", lo=0, hi=2**64 - 1)
    assert bandwidth is not None
    dom.migrate_set_max_speed(bandwidth, _speed_flags(cmd))
    return True


def cmd_migrate_getspeed(ctl: Ctl, cmd: Cmd) -> bool:
    dom, _ = lookup_domain(ctl, cmd)
    ctl.print(f"{dom.migrate_max_speed(_speed_flags(cmd))}\n")
    return True


def _specs() -> dict[str, Any]:
    return next(cmds for _, _, module, cmds in GROUPS if module == "migrate")


COMMANDS: dict[str, CommandDef] = specs_to_defs(_specs(), {
    "migrate": cmd_migrate,
    "migrate-setmaxdowntime": cmd_migrate_setmaxdowntime,
    "migrate-getmaxdowntime": cmd_migrate_getmaxdowntime,
    "migrate-setspeed": cmd_migrate_setspeed,
    "migrate-getspeed": cmd_migrate_getspeed,
})
