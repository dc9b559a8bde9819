"""virsh's secret commands: secret-define, -dumpxml, -set-value, -get-value, -undefine,
-list (virsh-secret.c)."""

from __future__ import annotations

from virtkit.cli.common import exclusive, read_file
from virtkit.cli.framework import Cmd, CmdFailed, CommandDef, Ctl, specs_to_defs
from virtkit.cli.output import format_table, to_json
from virtkit.cli.specs import GROUPS
from virtkit.constants import ConnectListAllSecretsFlags, SecretDefineFlags, SecretEventID
from virtkit.errors import ErrorCode, NoSupportError, VirtError
from virtkit.handles import Secret

TYPE_CHECKING = False  # typing is not imported at run time (startup speed)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from virtkit.events import EventHandle

__all__ = ["COMMANDS", "EVENT_NAMES"]

# virsh's secret event names, indexed by virSecretEventID; lifecycle events' names
EVENT_NAMES = ("lifecycle", "value-changed")
_LIFECYCLE = ("Defined", "Undefined")

# virSecretUsageType's names (virSecretUsageTypeToString)
_USAGE_NAMES = ("none", "volume", "ceph", "iscsi", "tls", "vtpm")
_VALUE_FILE_MAX = 1024  # virsh reads a value file with virFileReadAll(path, 1024)
_LIST_FLAGS = (("ephemeral", ConnectListAllSecretsFlags.EPHEMERAL),
               ("no-ephemeral", ConnectListAllSecretsFlags.NO_EPHEMERAL),
               ("private", ConnectListAllSecretsFlags.PRIVATE),
               ("no-private", ConnectListAllSecretsFlags.NO_PRIVATE))


def _lookup(ctl: Ctl, cmd: Cmd) -> tuple[Secret, str]:
    """virshCommandOptSecret: the secret named by UUID, and the text given."""
    text = ctl.opt_required(cmd, "secret")
    with ctl.failing(f"failed to get secret '{text}'"):
        return ctl.conn.lookup_secret_by_uuid(text), text


def _usage_text(secret: Secret) -> str:
    kind = secret.usage_type
    if not kind:
        return "Unused"
    name = _USAGE_NAMES[kind] if 0 <= kind < len(_USAGE_NAMES) else ""
    return f"{name} {secret.usage_id}"


def _collect(ctl: Ctl, flags: int) -> list[Secret]:
    """virshSecretListCollect: ListAll, else (no support) the old count-and-list calls."""
    conn = ctl.conn
    try:
        secrets = conn.list_secrets(flags)
    except NoSupportError:
        if flags:
            ctl.error("Filtering is not supported by this libvirt")
            raise CmdFailed from None
        with ctl.failing("Failed to count secrets"):
            count = conn.num_of_secrets()
        secrets = []
        if count:
            with ctl.failing("Failed to list secrets"):
                uuids = conn.list_secret_uuids()
            for uuid in uuids:
                try:
                    secrets.append(conn.lookup_secret_by_uuid(uuid))
                except VirtError:
                    continue  # gone since it was listed
    except VirtError:
        ctl.error("Failed to list node secrets")
        raise
    return sorted(secrets, key=lambda s: s.uuid)


def cmd_secret_list(ctl: Ctl, cmd: Cmd) -> bool:
    flags = 0
    for option, bit in _LIST_FLAGS:
        if cmd.flag(option):
            flags |= bit
    secrets = _collect(ctl, flags)
    if cmd.flag("json"):
        ctl.print(to_json([{"uuid": s.uuid, "usage": _USAGE_NAMES[s.usage_type]
                            if 0 <= s.usage_type < len(_USAGE_NAMES) else None,
                            "usage_id": s.usage_id if s.usage_type else None}
                           for s in secrets]))
        return True
    ctl.print(format_table(["UUID", "Usage"], [[s.uuid, _usage_text(s)] for s in secrets]))
    return True


def cmd_secret_define(ctl: Ctl, cmd: Cmd) -> bool:
    path = ctl.opt_required(cmd, "file")
    flags = SecretDefineFlags.VALIDATE if cmd.flag("validate") else 0
    xml = read_file(ctl, path)
    with ctl.failing(f"Failed to set attributes from {path}"):
        secret = ctl.conn.define_secret(xml, flags)
    ctl.print_extra(f"Secret {secret.uuid} created\n")
    return True


def cmd_secret_dumpxml(ctl: Ctl, cmd: Cmd) -> bool:
    from virtkit.cli.xmltools import dump_xml

    secret, _ = _lookup(ctl, cmd)
    xpath = cmd.raw("xpath")
    return dump_xml(ctl, secret.xml(), xpath, cmd.flag("wrap"))


def cmd_secret_undefine(ctl: Ctl, cmd: Cmd) -> bool:
    secret, text = _lookup(ctl, cmd)
    with ctl.failing(f"Failed to delete secret {text}"):
        secret.undefine()
    ctl.print_extra(f"Secret {text} deleted\n")
    return True


def _read_value_file(path: str) -> bytes:
    """virFileReadAll(path, 1024) with libvirt's errors."""
    import os

    try:
        with open(path, "rb") as handle:
            data = handle.read(_VALUE_FILE_MAX + 1)
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise VirtError(f"Failed to open file '{path}': {reason}",
                        code=ErrorCode.SYSTEM_ERROR) from None
    if len(data) > _VALUE_FILE_MAX:
        import errno

        raise VirtError(f"Failed to read file '{path}': {os.strerror(errno.EOVERFLOW)}",
                        code=ErrorCode.SYSTEM_ERROR)
    return data


def _base64_decode(text: bytes) -> bytes:
    """g_base64_decode: characters outside the alphabet are skipped, padding is optional."""
    import base64
    import binascii
    import re

    digits = re.sub(rb"[^A-Za-z0-9+/]", b"", text.split(b"=", 1)[0])
    digits = digits[: len(digits) - len(digits) % 4] if len(digits) % 4 == 1 else digits
    try:
        return base64.b64decode(digits + b"=" * (-len(digits) % 4))
    except binascii.Error:
        return b""


def _getpass() -> bytes:
    """getpass(3) as glibc's: one line from the terminal (stdin when there is none), not
    echoed when it is a terminal; end of input is an empty value."""
    import contextlib
    import os
    import sys

    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
        owned = True
    except OSError:
        fd, owned = sys.stdin.fileno(), False
    try:
        restore = None
        with contextlib.suppress(ImportError, OSError):
            import termios

            if os.isatty(fd):
                old = termios.tcgetattr(fd)
                new = termios.tcgetattr(fd)
                new[3] &= ~termios.ECHO
                termios.tcsetattr(fd, termios.TCSAFLUSH, new)
                restore = (termios, old)
        try:
            line = bytearray()
            while not line.endswith(b"\n"):
                chunk = os.read(fd, 1)
                if not chunk:
                    break
                line += chunk
        finally:
            if restore is not None:
                restore[0].tcsetattr(fd, restore[0].TCSAFLUSH, restore[1])
                os.write(fd, b"\n")
        return bytes(line.removesuffix(b"\n"))
    finally:
        if owned:
            os.close(fd)


def _read_interactive(ctl: Ctl) -> bytes:
    """vshPrint's prompt, then virGetPassword (getpass(3))."""
    ctl.print("Enter new value for secret:")
    ctl.out.flush()
    try:
        return _getpass()
    except OSError:
        ctl.error("Failed to read secret")
        raise CmdFailed from None


def cmd_secret_set_value(ctl: Ctl, cmd: Cmd) -> bool:
    for first, second in (("file", "base64"), ("plain", "base64"), ("interactive", "base64"),
                          ("interactive", "plain"), ("interactive", "file")):
        exclusive(ctl, cmd, first, second)
    secret, _ = _lookup(ctl, cmd)
    encoded = ctl.opt_string(cmd, "base64")
    path = ctl.opt_string(cmd, "file")
    plain = cmd.flag("plain")
    if encoded is not None:
        ctl.error("Passing secret value as command-line argument is insecure!")
        value = encoded.encode()
    elif path is not None:
        value = _read_value_file(path)
    elif cmd.flag("interactive"):
        value, plain = _read_interactive(ctl), True
    else:
        ctl.error("Input secret value is missing")
        return False
    if not plain:
        value = _base64_decode(value)
    with ctl.failing("Failed to set secret value"):
        secret.set_value(value)
    ctl.print_extra("Secret value set\n")
    return True


def cmd_secret_event(ctl: Ctl, cmd: Cmd) -> bool:
    """virsh's cmdSecretEvent (a secret that is not found: every secret is watched)."""
    from virtkit.cli.poolmisc import run_event_command

    def find(ctl: Ctl, text: str) -> Secret:
        with ctl.failing(f"failed to get secret '{text}'"):
            return ctl.conn.lookup_secret_by_uuid(text)

    def subscribe(event_id: int, wanted: str, secret: Secret | None,
                  emit: Callable[[str], None]) -> EventHandle:
        def callback(obj: Secret, eid: int, *payload: Any) -> None:
            if eid == SecretEventID.LIFECYCLE:
                event = int(payload[0]) if payload else -1
                what = _LIFECYCLE[event] if 0 <= event < len(_LIFECYCLE) else "unknown"
                emit(f"event 'lifecycle' for secret {obj.uuid}: {what}\n")
            else:
                emit(f"event '{wanted}' for secret {obj.uuid}\n")

        return ctl.conn.on_secret_event(callback, event_id, secret)

    return run_event_command(ctl, cmd, EVENT_NAMES, "secret", find, subscribe)


def cmd_secret_get_value(ctl: Ctl, cmd: Cmd) -> bool:
    import base64

    secret, _ = _lookup(ctl, cmd)
    value = secret.get_value()
    if not cmd.flag("plain"):
        ctl.print(base64.b64encode(value).decode("ascii"))
        return True
    raw = getattr(ctl.out, "buffer", None)
    if raw is None:  # a text-only stream: bytes as they come
        ctl.print(value.decode("utf-8", errors="surrogateescape"))
        return True
    ctl.out.flush()
    raw.write(value)
    raw.flush()
    return True


COMMANDS: dict[str, CommandDef] = specs_to_defs(
    next(cmds for _, kw, _, cmds in GROUPS if kw == "secret"),
    {
        "secret-define": cmd_secret_define,
        "secret-dumpxml": cmd_secret_dumpxml,
        "secret-event": cmd_secret_event,
        "secret-get-value": cmd_secret_get_value,
        "secret-list": cmd_secret_list,
        "secret-set-value": cmd_secret_set_value,
        "secret-undefine": cmd_secret_undefine,
    },
    json_commands=("secret-list",),
)
