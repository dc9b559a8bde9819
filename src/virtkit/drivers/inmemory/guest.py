"""The test driver's guest-side fakes: file systems, CPU statistics, disk errors, time,
passwords, signals, memory peeking and lifecycle actions (libvirt's test driver values).

Frozen file systems are per-domain runtime state (``priv->frozen`` in libvirt):
two mount points, ``/`` and ``/boot``.
"""

from __future__ import annotations

from virtkit.constants import DomainSetTimeFlags, DomainSetUserPasswordFlags, TypedParameterFlags
from virtkit.drivers.inmemory.common import (
    AFFECT_CONFIG,
    AFFECT_LIVE,
    Base,
    check_active,
    check_flags,
    err,
)
from virtkit.drivers.inmemory.domconfig import _defs
from virtkit.drivers.inmemory.node import DomainObj
from virtkit.errors import ErrorCode, ErrorDomain
from virtkit.types import DomainIdent, TypedParams

__all__ = ["LIFECYCLE_ACTIONS", "LIFECYCLE_TYPES", "GuestMixin", "check_lifecycle"]

_STRING_OKAY = int(TypedParameterFlags.OKAY)  # VIR_TYPED_PARAM_STRING_OKAY
_TOTAL_CPUTIME = 48772617035  # TEST_TOTAL_CPUTIME
_MOUNTS = ("/", "/boot")
_DISK_ERROR_LAST = 3  # VIR_DOMAIN_DISK_ERROR_LAST
_SIGNAL_LAST = 65  # VIR_DOMAIN_PROCESS_SIGNAL_LAST
_MEMORY_VIRTUAL, _MEMORY_PHYSICAL = 1, 2
_TIME_SYNC = int(DomainSetTimeFlags.SYNC)
_PASSWORD_ENCRYPTED = int(DomainSetUserPasswordFlags.ENCRYPTED)
LIFECYCLE_TYPES = ("poweroff", "reboot", "crash")
LIFECYCLE_ACTIONS = ("destroy", "restart", "rename-restart", "preserve", "coredump-destroy",
                     "coredump-restart")


def check_lifecycle(type: int, action: int) -> None:
    """virDomainSetLifecycleAction's own checks of its arguments."""
    if not 0 <= type < len(LIFECYCLE_TYPES):
        raise err(ErrorCode.INVALID_ARG, f"invalid lifecycle type '{type}'", ErrorDomain.DOMAIN)
    if not 0 <= action < len(LIFECYCLE_ACTIONS):
        raise err(ErrorCode.INVALID_ARG, f"invalid lifecycle action '{action}'",
                  ErrorDomain.DOMAIN)


class GuestMixin(Base):
    """FSFreeze/Thaw/Trim, GetFSInfo, GetCPUStats, GetDiskErrors, SetTime, SetUserPassword,
    SendProcessSignal, MemoryPeek, SetLifecycleAction."""

    def _frozen(self, obj: DomainObj) -> list[bool]:
        table: dict[str, tuple[DomainObj, list[bool]]] | None = getattr(
            self._node, "_vk_frozen", None)
        if table is None:
            table = {}
            self._node._vk_frozen = table  # type: ignore[attr-defined]
        entry = table.get(obj.uuid)
        if entry is None or entry[0] is not obj:
            entry = (obj, [False, False])
            table[obj.uuid] = entry
        return entry[1]

    # ------------------------------------------------------------ file systems

    def _freeze(self, dom: DomainIdent, mountpoints: list[str], flags: int, api: str,
                frozen_to: bool) -> int:
        check_flags(flags, 0, api)
        with self._node.lock:
            obj = self._dom(dom)
            check_active(obj)
            state = self._frozen(obj)
            if not mountpoints:
                changed = sum(1 for f in state if f != frozen_to)
                state[:] = [frozen_to, frozen_to]
                return changed
            new = list(state)
            changed = 0
            for mount in mountpoints:
                if mount not in _MOUNTS:
                    raise err(ErrorCode.OPERATION_INVALID, f"mount point not found: {mount}")
                i = _MOUNTS.index(mount)
                if new[i] != frozen_to:
                    new[i] = frozen_to
                    changed += 1
            state[:] = new
            return changed

    def domain_fsfreeze(self, dom: DomainIdent, mountpoints: list[str], flags: int = 0) -> int:
        return self._freeze(dom, mountpoints, flags, "testDomainFSFreeze", True)

    def domain_fsthaw(self, dom: DomainIdent, mountpoints: list[str], flags: int = 0) -> int:
        return self._freeze(dom, mountpoints, flags, "testDomainFSThaw", False)

    def domain_fstrim(
        self, dom: DomainIdent, mount_point: str | None, minimum: int, flags: int = 0
    ) -> None:
        check_flags(flags, 0, "testDomainFSTrim")
        with self._node.lock:
            check_active(self._dom(dom))
            if mount_point and mount_point not in _MOUNTS:
                raise err(ErrorCode.OPERATION_INVALID, f"mount point not found: {mount_point}")

    def domain_get_fsinfo(
        self, dom: DomainIdent, flags: int = 0
    ) -> list[tuple[str, str, str, list[str]]]:
        check_flags(flags, 0, "testDomainGetFSInfo")
        with self._node.lock:
            obj = self._dom(dom)
            check_active(obj)
            devices = obj.defn.devices
            for disk in devices.disks if devices is not None else []:
                if (disk.device or "disk") == "disk":
                    name = disk.target.dev if disk.target is not None else ""
                    return [("/", f"{name}1", "ext4", [name]),
                            ("/boot", f"{name}2", "ext4", [name])]
            return []

    # ------------------------------------------------------------ statistics

    def domain_get_cpu_stats(
        self, dom: DomainIdent, nparams: int, start_cpu: int, ncpus: int, flags: int = 0
    ) -> tuple[int, list[TypedParams]]:
        check_flags(flags, _STRING_OKAY, "testDomainGetCPUStats")
        with self._node.lock:
            check_active(self._dom(dom))
            total_cpus = int(self._node.node_info.cores)
        if start_cpu == -1:
            if nparams == 0:
                return 3, []
            total: TypedParams = {"cpu_time": _TOTAL_CPUTIME, "user_time": 5540000000,
                     "system_time": 6460000000}
            wanted = dict(list(total.items())[:nparams])
            return len(wanted), [wanted]
        if nparams == 0 and ncpus != 0:
            return 2, []
        if ncpus == 0:
            return total_cpus, []
        if start_cpu >= total_cpus:
            raise err(ErrorCode.INVALID_ARG,
                      f"start_cpu {start_cpu} larger than maximum of {total_cpus - 1}")
        per_cpu = _TOTAL_CPUTIME // total_cpus
        out: list[TypedParams] = []
        for i in range(start_cpu, min(total_cpus, start_cpu + ncpus)):
            params: TypedParams = {"cpu_time": per_cpu + i}
            if nparams > 1:
                params["vcpu_time"] = per_cpu + i - 1234567890
            out.append(params)
        return (2 if nparams > 1 else 1), out

    def domain_get_disk_errors(self, dom: DomainIdent, flags: int = 0) -> list[tuple[str, int]]:
        check_flags(flags, 0, "testDomainGetDiskErrors")
        with self._node.lock:
            obj = self._dom(dom)
            check_active(obj)
            devices = obj.defn.devices
            disks = devices.disks if devices is not None else []
            return [(disk.target.dev if disk.target is not None else "",
                     i % (_DISK_ERROR_LAST - 1) + 1) for i, disk in enumerate(disks)]

    def domain_memory_peek(self, dom: DomainIdent, offset: int, size: int, flags: int = 0) -> bytes:
        check_flags(flags, _MEMORY_VIRTUAL | _MEMORY_PHYSICAL, "testDomainMemoryPeek")
        if flags not in (_MEMORY_VIRTUAL, _MEMORY_PHYSICAL):
            raise err(ErrorCode.INVALID_ARG,
                      "flags parameter must be VIR_MEMORY_VIRTUAL or VIR_MEMORY_PHYSICAL")
        with self._node.lock:
            check_active(self._dom(dom))
        return bytes((offset + i) & 0xFF for i in range(size))

    # ------------------------------------------------------------ guest agent fakes

    def domain_set_time(
        self, dom: DomainIdent, seconds: int, nseconds: int, flags: int = 0
    ) -> None:
        check_flags(flags, _TIME_SYNC, "testDomainSetTime")
        with self._node.lock:
            obj = self._dom(dom)
            check_active(obj)
            obj.seconds, obj.nseconds = seconds, nseconds

    def domain_set_user_password(
        self, dom: DomainIdent, user: str | None, password: str | None, flags: int = 0
    ) -> None:
        check_flags(flags, _PASSWORD_ENCRYPTED, "testDomainSetUserPassword")
        with self._node.lock:
            check_active(self._dom(dom))

    def domain_send_process_signal(
        self, dom: DomainIdent, pid_value: int, signum: int, flags: int = 0
    ) -> None:
        check_flags(flags, 0, "testDomainSendProcessSignal")
        if pid_value != 1:
            raise err(ErrorCode.INVALID_ARG, "only sending a signal to pid 1 is supported")
        if signum >= _SIGNAL_LAST:
            signed = signum - (1 << 32) if signum >= 1 << 31 else signum
            raise err(ErrorCode.INVALID_ARG, f"signum value {signed} is out of range")
        with self._node.lock:
            self._dom(dom)

    def domain_set_lifecycle_action(
        self, dom: DomainIdent, type: int, action: int, flags: int = 0
    ) -> None:
        check_flags(flags, AFFECT_LIVE | AFFECT_CONFIG, "testDomainSetLifecycleAction")
        check_lifecycle(type, action)
        if type in (0, 1) and action in (4, 5):
            raise err(ErrorCode.CONFIG_UNSUPPORTED,
                      f"Lifecycle event '{LIFECYCLE_TYPES[type]}' doesn't support "
                      f"'{LIFECYCLE_ACTIONS[action]}' action", ErrorDomain.DOMAIN)
        field = ("on_poweroff", "on_reboot", "on_crash")[type]
        with self._txn():
            live, pers = _defs(self._dom(dom), flags)
            for d in (live, pers):
                if d is not None:
                    setattr(d, field, LIFECYCLE_ACTIONS[action])
