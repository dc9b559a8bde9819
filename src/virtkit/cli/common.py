"""Helpers shared by the command families: object lookup as virsh does it, file reading, wording."""

from __future__ import annotations

from virtkit.cli.framework import Cmd, CmdFailed, Ctl

TYPE_CHECKING = False  # typing is not imported at run time (startup speed)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TypeVar

    from virtkit.handles import Domain, Network, StoragePool, StorageVolume

    T = TypeVar("T")

BY_ID = 1
BY_UUID = 2
BY_NAME = 4
UUID_STRING_LEN = 36


def _as_id(text: str) -> int | None:
    from virtkit.cli.framework import parse_c_integer

    number = parse_c_integer(text)
    if number is None or number < 0 or number > 2**31 - 1:
        return None
    return number


def lookup_domain(
    ctl: Ctl, cmd: Cmd, by: int = BY_ID | BY_UUID | BY_NAME, opt: str = "domain"
) -> tuple[Domain, str]:
    """virshCommandOptDomainBy: (domain, the string the user gave)."""
    name = ctl.opt_required(cmd, opt)
    return find_domain(ctl, name, by), name


def find_domain(ctl: Ctl, name: str, by: int = BY_ID | BY_UUID | BY_NAME) -> Domain:
    """Try ID, then UUID, then name; on failure "failed to get domain 'NAME'" only."""
    from virtkit.errors import VirtError

    conn = ctl.conn
    if by & BY_ID:
        ident = _as_id(name)
        if ident is not None:
            try:
                return conn.lookup_domain_by_id(ident)
            except VirtError:
                pass
    if by & BY_UUID and len(name) == UUID_STRING_LEN:
        try:
            return conn.lookup_domain_by_uuid(name)
        except VirtError:
            pass
    if by & BY_NAME:
        try:
            return conn.lookup_domain(name)
        except VirtError:
            pass
    ctl.error(f"failed to get domain '{name}'")
    raise CmdFailed


def lookup_network(
    ctl: Ctl, cmd: Cmd, opt: str = "network", by: int = BY_UUID | BY_NAME
) -> tuple[Network, str]:
    """virshCommandOptNetworkBy (UUID, then name): the lookup error is reported."""
    name = ctl.opt_required(cmd, opt)
    return find_network(ctl, name, by), name


def find_network(ctl: Ctl, name: str, by: int = BY_UUID | BY_NAME) -> Network:
    """UUID (when ``name`` has a UUID's length), then name; the last lookup error is raised."""
    conn = ctl.conn
    return _find_by(ctl, name, by, conn.lookup_network_by_uuid, conn.lookup_network, "network")


def _find_by(ctl: Ctl, name: str, by: int, by_uuid: Callable[[str], T],
             by_name: Callable[[str], T], what: str) -> T:
    from virtkit.errors import VirtError

    last: VirtError | None = None
    if by & BY_UUID and len(name) == UUID_STRING_LEN:
        try:
            return by_uuid(name)
        except VirtError as exc:
            last = exc
    if by & BY_NAME:
        try:
            return by_name(name)
        except VirtError as exc:
            last = exc
    ctl.error(f"failed to get {what} '{name}'")
    if last is not None:
        raise last
    raise CmdFailed


def lookup_pool(
    ctl: Ctl, cmd: Cmd, opt: str = "pool", by: int = BY_UUID | BY_NAME
) -> tuple[StoragePool, str]:
    """virshCommandOptPoolBy (UUID, then name): the lookup error is reported."""
    name = ctl.opt_required(cmd, opt)
    return find_pool(ctl, name, by), name


def find_pool(ctl: Ctl, name: str, by: int = BY_UUID | BY_NAME) -> StoragePool:
    """UUID (when ``name`` has a UUID's length), then name; the last lookup error is raised."""
    conn = ctl.conn
    return _find_by(ctl, name, by, conn.lookup_storage_pool_by_uuid, conn.lookup_storage_pool,
                    "pool")


def lookup_volume(
    ctl: Ctl, cmd: Cmd, opt: str = "vol", pool_opt: str | None = "pool"
) -> tuple[StorageVolume, str]:
    """virshCommandOptVolBy: name within the pool, then key, then path; last error reported."""
    from virtkit.errors import VirtError

    name = ctl.opt_required(cmd, opt)
    pool_name = ctl.opt_string(cmd, pool_opt) if pool_opt else None
    conn = ctl.conn
    pool = None
    if pool_name is not None:
        pool = find_pool(ctl, pool_name)
        if not pool.is_active():
            ctl.error(f"pool '{pool_name}' is not active")
            raise CmdFailed
    last: VirtError | None = None
    vol = None
    attempts = [conn.lookup_storage_volume_by_key, conn.lookup_storage_volume_by_path]
    if pool is not None:
        attempts.insert(0, pool.lookup_volume)
    for finder in attempts:
        try:
            vol = finder(name)
            break
        except VirtError as exc:
            last = exc
    if vol is None:
        if pool is not None or pool_opt is None:
            ctl.error(f"failed to get vol '{name}'")
        else:
            ctl.error(f"failed to get vol '{name}', specifying --{pool_opt} might help")
        if last is not None:
            raise last
        raise CmdFailed
    if pool is not None and vol.pool_name != pool.name:
        ctl.error(f"Requested volume '{name}' is not in pool '{pool.name}'")
        raise CmdFailed
    return vol, name


def read_file(ctl: Ctl, path: str) -> str:
    """virFileReadAll with libvirt's error wording (reported as the libvirt error)."""
    import os

    from virtkit.errors import VirtError

    try:
        with open(path, "rb") as handle:
            data = handle.read(10 * 1024 * 1024 + 1)
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise VirtError(f"Failed to open file '{path}': {reason}", code=38) from None
    if len(data) > 10 * 1024 * 1024:
        raise VirtError(f"File '{path}' is too large", code=38)
    return data.decode("utf-8", errors="replace")


def exclusive(ctl: Ctl, cmd: Cmd, first: str, second: str) -> None:
    """VSH_EXCLUSIVE_OPTIONS."""
    if cmd.flag(first) and cmd.flag(second):
        ctl.error(f"Options --{first} and --{second} are mutually exclusive")
        raise CmdFailed


def requires(ctl: Ctl, cmd: Cmd, option: str, needed: str) -> None:
    """VSH_REQUIRE_OPTION: ``option`` needs ``needed``."""
    if cmd.flag(option) and not cmd.flag(needed):
        ctl.error(f"Option --{needed} is required by option --{option}")
        raise CmdFailed


def yes_no(value: bool) -> str:
    return "yes" if value else "no"
