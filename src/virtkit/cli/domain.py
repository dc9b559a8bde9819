"""Domain commands: management (define, start, destroy ...) and monitoring (list, dominfo ...)."""

from __future__ import annotations

from collections.abc import Callable

from virtkit.cli.common import (
    BY_ID,
    BY_NAME,
    BY_UUID,
    exclusive,
    find_domain,
    lookup_domain,
    read_file,
    requires,
    yes_no,
)
from virtkit.cli.framework import Cmd, CmdFailed, CommandDef, Ctl, specs_to_defs
from virtkit.cli.output import format_table, to_json
from virtkit.cli.specs import GROUPS

TYPE_CHECKING = False  # typing is not imported at run time (startup speed)
if TYPE_CHECKING:
    from typing import Any

    from virtkit.handles import Domain

STATE_NAMES = (
    "no state",
    "running",
    "idle",
    "paused",
    "in shutdown",
    "shut off",
    "crashed",
    "pmsuspended",
)

REASONS: tuple[tuple[str, ...], ...] = (
    ("unknown",),
    (
        "unknown",
        "booted",
        "migrated",
        "restored",
        "from snapshot",
        "unpaused",
        "migration canceled",
        "save canceled",
        "event wakeup",
        "crashed",
        "post-copy",
        "post-copy failed",
    ),
    ("unknown",),
    (
        "unknown",
        "user",
        "migrating",
        "saving",
        "dumping",
        "I/O error",
        "watchdog",
        "from snapshot",
        "shutting down",
        "creating snapshot",
        "crashed",
        "starting up",
        "post-copy",
        "post-copy failed",
    ),
    ("unknown", "user"),
    (
        "unknown",
        "shutdown",
        "destroyed",
        "crashed",
        "migrated",
        "saved",
        "failed",
        "from snapshot",
        "daemon",
    ),
    ("unknown", "panicked"),
    ("unknown",),
)


def state_name(state: int) -> str:
    """virshDomainStateToString."""
    return STATE_NAMES[state] if 0 <= state < len(STATE_NAMES) else "no state"


def reason_name(state: int, reason: int) -> str:
    """virshDomainStateReasonToString."""
    if 0 <= state < len(REASONS) and 0 <= reason < len(REASONS[state]):
        return REASONS[state][reason]
    return "unknown"


def _id_text(dom: Domain) -> str:
    return "-" if dom.id < 0 else str(dom.id)


# ---------------------------------------------------------------------------
# Monitoring
# ---------------------------------------------------------------------------

_LIST_FILTERS = (
    ("persistent", "PERSISTENT"),
    ("transient", "TRANSIENT"),
    ("with-managed-save", "MANAGEDSAVE"),
    ("without-managed-save", "NO_MANAGEDSAVE"),
    ("autostart", "AUTOSTART"),
    ("no-autostart", "NO_AUTOSTART"),
    ("with-snapshot", "HAS_SNAPSHOT"),
    ("without-snapshot", "NO_SNAPSHOT"),
    ("with-checkpoint", "HAS_CHECKPOINT"),
    ("without-checkpoint", "NO_CHECKPOINT"),
    ("state-running", "RUNNING"),
    ("state-paused", "PAUSED"),
    ("state-shutoff", "SHUTOFF"),
    ("state-other", "OTHER"),
)


def _sort_key(dom: Domain) -> tuple[int, int, str]:
    """virshDomainSorter: running by id, then inactive by name (ASCII case-insensitive)."""
    if dom.id >= 0:
        return (0, dom.id, "")
    return (1, 0, dom.name.translate(_ASCII_LOWER))


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def cmd_list(ctl: Ctl, cmd: Cmd) -> bool:
    from virtkit.constants import ConnectListAllDomainsFlags as F
    from virtkit.errors import VirtError

    flags = int(F.ACTIVE)
    if cmd.flag("inactive") or cmd.flag("state-shutoff"):
        flags = int(F.INACTIVE)
    if cmd.flag("all"):
        flags = int(F.INACTIVE | F.ACTIVE)
    for option, name in _LIST_FILTERS:
        if cmd.flag(option):
            flags |= int(F[name])
    for other in ("name", "uuid", "id"):
        exclusive(ctl, cmd, "table", other)
    opt_uuid, opt_name, opt_id = cmd.flag("uuid"), cmd.flag("name"), cmd.flag("id")
    table = cmd.flag("table") or not (opt_uuid or opt_name or opt_id)
    with ctl.failing("Failed to list domains"):
        domains = sorted(ctl.conn.list_domains(flags), key=_sort_key)
    rows: list[list[str]] = []
    records: list[dict[str, Any]] = []
    for dom in domains:
        try:
            state = int(dom.state)
        except VirtError:
            continue
        shown = state_name(state)
        if cmd.flag("managed-save") and state == 5 and dom.has_managed_save():
            shown = "saved"
        row = [_id_text(dom), dom.name, shown]
        if cmd.flag("title"):
            row.append(_title(dom))
        rows.append(row)
        records.append(
            {
                "id": None if dom.id < 0 else dom.id,
                "name": dom.name,
                "uuid": dom.uuid,
                "state": shown,
            }
        )
    if cmd.flag("json"):
        ctl.print(to_json(records))
        return True
    if table:
        header = ["Id", "Name", "State"] + (["Title"] if cmd.flag("title") else [])
        ctl.print(format_table(header, rows, show_header=not ctl.quiet))
        return True
    for dom in domains:
        parts: list[str] = []
        if opt_uuid:
            parts.append(dom.uuid)
        if opt_id:
            if dom.id < 0 and not opt_uuid and not opt_name:
                continue
            parts.append(_id_text(dom))
        if opt_name:
            parts.append(dom.name)
        ctl.print(" ".join(parts) + "\n")
    return True


def _title(dom: Domain) -> str:
    from virtkit.errors import VirtError

    try:
        title = dom.metadata(1)  # VIR_DOMAIN_METADATA_TITLE
    except VirtError:
        return ""
    return title.split("\n", 1)[0]


def cmd_dominfo(ctl: Ctl, cmd: Cmd) -> bool:
    from virtkit.errors import ErrorCode, VirtError

    dom, _ = lookup_domain(ctl, cmd)
    fields: list[tuple[str, str]] = [("Id:", _id_text(dom)), ("Name:", dom.name)]
    doc: dict[str, Any] = {"id": None if dom.id < 0 else dom.id, "name": dom.name}
    fields.append(("UUID:", dom.uuid))
    doc["uuid"] = dom.uuid
    ok = True
    try:
        os_type = dom.os_type()
        fields.append(("OS Type:", os_type))
        doc["os_type"] = os_type
    except VirtError:
        pass
    try:
        info = dom.info()
    except VirtError:
        ok = False
    else:
        fields.append(("State:", state_name(info.state)))
        fields.append(("CPU(s):", str(info.nr_virt_cpu)))
        doc.update(state=state_name(info.state), vcpus=info.nr_virt_cpu, cpu_time_ns=info.cpu_time)
        if info.cpu_time:
            fields.append(("CPU time:", f"{info.cpu_time / 1e9:.1f}s"))
        if info.max_mem != 2**32 - 1:
            fields.append(("Max memory:", f"{info.max_mem} KiB"))
        else:
            fields.append(("Max memory:", "no limit"))
        fields.append(("Used memory:", f"{info.memory} KiB"))
        doc.update(max_memory_kib=info.max_mem, used_memory_kib=info.memory)
    try:
        persistent = yes_no(dom.is_persistent())
    except VirtError:
        persistent = "unknown"
    fields.append(("Persistent:", persistent))
    doc["persistent"] = persistent
    try:
        autostart = dom.autostart
        fields.append(("Autostart:", "enable" if autostart else "disable"))
        doc["autostart"] = autostart
    except VirtError:
        pass
    try:
        managed = yes_no(dom.has_managed_save())
    except VirtError:
        managed = "unknown"
    fields.append(("Managed save:", managed))
    doc["managed_save"] = managed
    try:
        model = ctl.conn.node_security_model()
    except VirtError as exc:
        if exc.code != ErrorCode.NO_SUPPORT:
            _print_fields(ctl, cmd, fields, doc)
            raise
        model = None
    if model is not None and model.model:
        fields.append(("Security model:", model.model))
        fields.append(("Security DOI:", model.doi))
        doc.update(security_model=model.model, security_doi=model.doi)
        try:
            label = dom.security_label()
        except VirtError:
            _print_fields(ctl, cmd, fields, doc)
            raise
        if label.label:
            mode = "enforcing" if label.enforcing else "permissive"
            fields.append(("Security label:", f"{label.label} ({mode})"))
            doc.update(security_label=label.label, security_enforcing=label.enforcing)
    messages = _messages(dom)
    fields.extend(("Messages:" if i == 0 else "", text) for i, text in enumerate(messages))
    doc["messages"] = messages
    _print_fields(ctl, cmd, fields, doc)
    return ok


def _messages(dom: Domain) -> list[str]:
    """virDomainGetMessages(flags=0), whose errors dominfo ignores."""
    from virtkit.errors import VirtError

    try:
        return dom.messages()
    except VirtError:
        return []


def _print_fields(
    ctl: Ctl, cmd: Cmd, fields: list[tuple[str, str]], doc: dict[str, Any], width: int = 15
) -> None:
    if cmd.flag("json"):
        ctl.print(to_json(doc))
    else:
        ctl.print("".join(f"{label:<{width}} {value}\n" for label, value in fields))


def cmd_domstate(ctl: Ctl, cmd: Cmd) -> bool:
    dom, _ = lookup_domain(ctl, cmd)
    state, reason = dom.state_reason()
    if cmd.flag("json"):
        ctl.print(to_json({"state": state_name(state), "reason": reason_name(state, reason)}))
    elif cmd.flag("reason"):
        ctl.print(f"{state_name(state)} ({reason_name(state, reason)})\n")
    else:
        ctl.print(f"{state_name(state)}\n")
    return True


def cmd_domid(ctl: Ctl, cmd: Cmd) -> bool:
    dom, _ = lookup_domain(ctl, cmd, BY_NAME | BY_UUID)
    ctl.print(f"{_id_text(dom)}\n")
    return True


def cmd_domname(ctl: Ctl, cmd: Cmd) -> bool:
    dom, _ = lookup_domain(ctl, cmd, BY_ID | BY_UUID)
    ctl.print(f"{dom.name}\n")
    return True


def cmd_domuuid(ctl: Ctl, cmd: Cmd) -> bool:
    dom, _ = lookup_domain(ctl, cmd, BY_NAME | BY_ID)
    ctl.print(f"{dom.uuid}\n")
    return True


_STATS_GROUPS = (
    "state",
    "cpu-total",
    "balloon",
    "vcpu",
    "interface",
    "block",
    "perf",
    "iothread",
    "memory",
    "dirtyrate",
    "vm",
)
_STATS_LISTS = (
    ("list-active", 1),
    ("list-inactive", 2),
    ("list-persistent", 4),
    ("list-transient", 8),
    ("list-running", 16),
    ("list-paused", 32),
    ("list-shutoff", 64),
    ("list-other", 128),
    ("nowait", 1 << 29),
    ("backing", 1 << 30),
    ("enforce", 1 << 31),
)


def _param_text(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:f}"
    return str(value)


def cmd_domstats(ctl: Ctl, cmd: Cmd) -> bool:
    stats = 0
    for bit, option in enumerate(_STATS_GROUPS):
        if cmd.flag(option):
            stats |= 1 << bit
    flags = 0
    for option, value in _STATS_LISTS:
        if cmd.flag(option):
            flags |= value
    domains = None
    if cmd.has("domain"):
        domains = [find_domain(ctl, name) for name in cmd.argv("domain")]
    records = ctl.conn.all_domain_stats(stats, flags, domains)
    if cmd.flag("json"):
        ctl.print(to_json([{"name": dom.name, "stats": dict(params)} for dom, params in records]))
        return True
    chunks: list[str] = []
    for dom, params in records:
        lines = [f"Domain: '{dom.name}'\n"]
        lines += [f"  {key}={_param_text(value)}\n" for key, value in params.items()]
        chunks.append("".join(lines))
    ctl.print("\n".join(chunks))
    return True


# ---------------------------------------------------------------------------
# Management
# ---------------------------------------------------------------------------


def cmd_define(ctl: Ctl, cmd: Cmd) -> bool:
    path = ctl.opt_required(cmd, "file")
    xml = read_file(ctl, path)
    flags = 1 if cmd.flag("validate") else 0  # VIR_DOMAIN_DEFINE_VALIDATE
    with ctl.failing(f"Failed to define domain from {path}"):
        dom = ctl.conn.define_domain(xml, flags)
    ctl.print_extra(f"Domain '{dom.name}' defined from {path}\n")
    return True


def cmd_create(ctl: Ctl, cmd: Cmd) -> bool:
    path = ctl.opt_required(cmd, "file")
    xml = read_file(ctl, path)
    flags = 0
    for option, bit in (("paused", 1), ("autodestroy", 2), ("validate", 16), ("reset-nvram", 32)):
        if cmd.flag(option):
            flags |= bit
    with ctl.failing(f"Failed to create domain from {path}"):
        dom = ctl.conn.create_domain(xml, flags)
    ctl.print_extra(f"Domain '{dom.name}' created from {path}\n")
    return True


def cmd_start(ctl: Ctl, cmd: Cmd) -> bool:
    dom, _ = lookup_domain(ctl, cmd, BY_NAME | BY_UUID)
    if dom.id >= 0:
        ctl.error("Domain is already active")
        return False
    flags = 0
    for option, bit in (
        ("paused", 1),
        ("autodestroy", 2),
        ("bypass-cache", 4),
        ("force-boot", 8),
        ("reset-nvram", 32),
    ):
        if cmd.flag(option):
            flags |= bit
    with ctl.failing(f"Failed to start domain '{dom.name}'"):
        dom.start(flags)
    ctl.print_extra(f"Domain '{dom.name}' started\n")
    return True


_SHUTDOWN_MODES = {"acpi": 1, "agent": 2, "initctl": 4, "signal": 8, "paravirt": 16}


def _modes(ctl: Ctl, cmd: Cmd, expecting: str) -> int:
    mode = ctl.opt_string(cmd, "mode")
    flags = 0
    if mode is None:
        return 0
    for item in mode.split(","):
        if item not in _SHUTDOWN_MODES:
            ctl.error(f"Unknown mode {item} value, expecting {expecting}")
            raise CmdFailed
        flags |= _SHUTDOWN_MODES[item]
    return flags


def cmd_shutdown(ctl: Ctl, cmd: Cmd) -> bool:
    flags = _modes(ctl, cmd, "'acpi', 'agent', 'initctl', 'signal', or 'paravirt'")
    dom, name = lookup_domain(ctl, cmd)
    with ctl.failing(f"Failed to shutdown domain '{name}'"):
        dom.shutdown(flags)
    ctl.print_extra(f"Domain '{name}' is being shutdown\n")
    return True


def cmd_reboot(ctl: Ctl, cmd: Cmd) -> bool:
    flags = _modes(ctl, cmd, "'acpi', 'agent', 'initctl', 'signal' or 'paravirt'")
    dom, name = lookup_domain(ctl, cmd)
    with ctl.failing(f"Failed to reboot domain '{name}'"):
        dom.reboot(flags)
    ctl.print_extra(f"Domain '{name}' is being rebooted\n")
    return True


def cmd_destroy(ctl: Ctl, cmd: Cmd) -> bool:
    dom, name = lookup_domain(ctl, cmd)
    flags = (1 if cmd.flag("graceful") else 0) | (2 if cmd.flag("remove-logs") else 0)
    with ctl.failing(f"Failed to destroy domain '{name}'"):
        dom.destroy(flags)
    ctl.print_extra(f"Domain '{name}' destroyed\n")
    return True


def cmd_reset(ctl: Ctl, cmd: Cmd) -> bool:
    dom, name = lookup_domain(ctl, cmd)
    with ctl.failing(f"Failed to reset domain '{name}'"):
        dom.reset()
    ctl.print_extra(f"Domain '{name}' was reset\n")
    return True


def cmd_suspend(ctl: Ctl, cmd: Cmd) -> bool:
    dom, name = lookup_domain(ctl, cmd)
    with ctl.failing(f"Failed to suspend domain '{name}'"):
        dom.suspend()
    ctl.print_extra(f"Domain '{name}' suspended\n")
    return True


def cmd_resume(ctl: Ctl, cmd: Cmd) -> bool:
    dom, name = lookup_domain(ctl, cmd)
    with ctl.failing(f"Failed to resume domain '{name}'"):
        dom.resume()
    ctl.print_extra(f"Domain '{name}' resumed\n")
    return True


def cmd_autostart(ctl: Ctl, cmd: Cmd) -> bool:
    dom, name = lookup_domain(ctl, cmd)
    enable = not cmd.flag("disable")
    verb = "mark" if enable else "unmark"
    with ctl.failing(f"Failed to {verb} domain '{name}' as autostarted"):
        dom.autostart = enable
    ctl.print_extra(f"Domain '{name}' {verb}ed as autostarted\n")
    return True


def _save_flags(cmd: Cmd) -> int:
    flags = 0
    for option, bit in (("bypass-cache", 1), ("running", 2), ("paused", 4)):
        if cmd.flag(option):
            flags |= bit
    return flags


def cmd_save(ctl: Ctl, cmd: Cmd) -> bool:
    dom, name = lookup_domain(ctl, cmd)
    path = ctl.opt_required(cmd, "file")
    flags = _save_flags(cmd)
    xml_path = ctl.opt_string(cmd, "xml")
    xml = read_file(ctl, xml_path) if xml_path else None
    with ctl.failing(f"Failed to save domain '{name}' to {path}"):
        from virtkit.cli.domjob import watch_job  # not at start-up: it loads the constants

        watch_job(ctl, dom, "Save", lambda: dom.save(path, xml, flags), cmd.flag("verbose"))
    ctl.print_extra(f"\nDomain '{name}' saved to {path}\n")
    return True


def cmd_restore(ctl: Ctl, cmd: Cmd) -> bool:
    path = ctl.opt_required(cmd, "file")
    flags = _save_flags(cmd) | (8 if cmd.flag("reset-nvram") else 0)
    xml_path = ctl.opt_string(cmd, "xml")
    xml = read_file(ctl, xml_path) if xml_path else None
    with ctl.failing(f"Failed to restore domain from {path}"):
        ctl.conn.restore_domain(path, xml, flags)
    ctl.print_extra(f"Domain restored from {path}\n")
    return True


def cmd_managedsave(ctl: Ctl, cmd: Cmd) -> bool:
    dom, name = lookup_domain(ctl, cmd)
    flags = _save_flags(cmd)
    with ctl.failing(f"Failed to save domain '{name}' state"):
        from virtkit.cli.domjob import watch_job

        watch_job(ctl, dom, "Managedsave", lambda: dom.managed_save(flags),
                  cmd.flag("verbose"))
    ctl.print_extra(f"\nDomain '{name}' state saved by libvirt\n")
    return True


def _xml_flags(cmd: Cmd) -> int:
    flags = 0
    for option, bit in (
        ("security-info", 1),
        ("inactive", 2),
        ("update-cpu", 4),
        ("migratable", 8),
    ):
        if cmd.flag(option):
            flags |= bit
    return flags


def cmd_dumpxml(ctl: Ctl, cmd: Cmd) -> bool:
    from virtkit.cli.xmltools import dump_xml

    flags = _xml_flags(cmd)
    dom, _ = lookup_domain(ctl, cmd)
    xml = dom.xml(flags)
    return dump_xml(ctl, xml, cmd.raw("xpath"), cmd.flag("wrap"))


def cmd_edit(ctl: Ctl, cmd: Cmd) -> bool:
    from virtkit.cli.editing import edit_loop

    dom, _ = lookup_domain(ctl, cmd)
    original = dom.xml(1 | 2)  # SECURE | INACTIVE
    flags = 0 if cmd.flag("skip-validate") else 1  # VIR_DOMAIN_DEFINE_VALIDATE

    def define(xml: str, validate: bool) -> str:
        new = ctl.conn.define_domain(xml, 1 if validate else 0)
        return new.name

    def changed_text(name: str) -> str:
        return f"Domain '{name}' XML configuration edited.\n"

    return edit_loop(
        ctl,
        original,
        define,
        validate=bool(flags),
        unchanged=f"Domain '{dom.name}' XML configuration not changed.\n",
        changed=changed_text,
    )


def _impact(cmd: Cmd, default: int) -> int:
    config, live, current = cmd.flag("config"), cmd.flag("live"), cmd.flag("current")
    if config or live or current:
        return (2 if config else 0) | (1 if live else 0)
    return default


def cmd_setmem(ctl: Ctl, cmd: Cmd) -> bool:
    exclusive(ctl, cmd, "current", "live")
    exclusive(ctl, cmd, "current", "config")
    flags = _impact(cmd, 1)
    dom, _ = lookup_domain(ctl, cmd)
    size = ctl.opt_scaled(cmd, "size", scale=1024, maximum=2**64 - 1)
    assert size is not None
    dom.set_memory((size + 1023) // 1024, flags)
    return True


def cmd_setmaxmem(ctl: Ctl, cmd: Cmd) -> bool:
    exclusive(ctl, cmd, "current", "live")
    exclusive(ctl, cmd, "current", "config")
    flags = _impact(cmd, 0)
    dom, _ = lookup_domain(ctl, cmd)
    size = ctl.opt_scaled(cmd, "size", scale=1024, maximum=2**64 - 1)
    assert size is not None
    with ctl.failing("Unable to change MaxMemorySize"):
        dom.set_memory((size + 1023) // 1024, flags | 4)  # VIR_DOMAIN_MEM_MAXIMUM
    return True


def cmd_setvcpus(ctl: Ctl, cmd: Cmd) -> bool:
    exclusive(ctl, cmd, "current", "live")
    exclusive(ctl, cmd, "current", "config")
    exclusive(ctl, cmd, "guest", "config")
    requires(ctl, cmd, "maximum", "config")
    flags = 0
    for option, bit in (
        ("live", 1),
        ("config", 2),
        ("maximum", 4),
        ("guest", 8),
        ("hotpluggable", 16),
    ):
        if cmd.flag(option):
            flags |= bit
    dom, _ = lookup_domain(ctl, cmd)
    count = ctl.opt_int(cmd, "count", lo=0, hi=2**32 - 1)
    if not count:
        ctl.error("Can't set 0 processors for a VM")
        return False
    dom.set_vcpus(count, flags)
    return True


def cmd_undefine(ctl: Ctl, cmd: Cmd) -> bool:
    from virtkit.cli.domundefine import cmd_undefine as run

    return run(ctl, cmd)


def _console_cmd(name: str) -> Callable[[Ctl, Cmd], bool]:
    """Handlers living in cli/console.py (imported only when used)."""
    def handler(ctl: Ctl, cmd: Cmd) -> bool:
        from virtkit.cli import console

        result: bool = getattr(console, name)(ctl, cmd)
        return result

    return handler


def _lazy(module: str, name: str) -> Callable[[Ctl, Cmd], bool]:
    """A handler living in cli/MODULE.py, imported only when used."""
    def handler(ctl: Ctl, cmd: Cmd) -> bool:
        import importlib

        result: bool = getattr(importlib.import_module(f"virtkit.cli.{module}"), name)(ctl, cmd)
        return result

    return handler


def _devices(name: str) -> Callable[[Ctl, Cmd], bool]:
    """Handlers living in cli/domdevices.py (attach-*, detach-*)."""
    return _lazy("domdevices", name)


def _monitor(name: str) -> Callable[[Ctl, Cmd], bool]:
    """Handlers living in cli/dommonitor.py (domblklist, domifstat ...)."""
    return _lazy("dommonitor", name)


COMMANDS: dict[str, CommandDef] = {}
for _kw in ("domain", "monitor"):
    COMMANDS.update(
        specs_to_defs(
            next(cmds for _, kw, _, cmds in GROUPS if kw == _kw),
            {
                "list": cmd_list,
                "dominfo": cmd_dominfo,
                "domstate": cmd_domstate,
                "domid": cmd_domid,
                "domname": cmd_domname,
                "domuuid": cmd_domuuid,
                "domstats": cmd_domstats,
                "define": cmd_define,
                "undefine": cmd_undefine,
                "create": cmd_create,
                "start": cmd_start,
                "shutdown": cmd_shutdown,
                "destroy": cmd_destroy,
                "reboot": cmd_reboot,
                "reset": cmd_reset,
                "suspend": cmd_suspend,
                "resume": cmd_resume,
                "save": cmd_save,
                "restore": cmd_restore,
                "managedsave": cmd_managedsave,
                "dumpxml": cmd_dumpxml,
                "edit": cmd_edit,
                "autostart": cmd_autostart,
                "setmem": cmd_setmem,
                "setmaxmem": cmd_setmaxmem,
                "setvcpus": cmd_setvcpus,
                "console": _console_cmd("cmd_console"),
                "screenshot": _console_cmd("cmd_screenshot"),
                "attach-device": _devices("cmd_attach_device"),
                "attach-disk": _devices("cmd_attach_disk"),
                "attach-interface": _devices("cmd_attach_interface"),
                "detach-device": _devices("cmd_detach_device"),
                "detach-device-alias": _devices("cmd_detach_device_alias"),
                "detach-disk": _devices("cmd_detach_disk"),
                "detach-interface": _devices("cmd_detach_interface"),
                "domblkinfo": _monitor("cmd_domblkinfo"),
                "domblklist": _monitor("cmd_domblklist"),
                "domblkstat": _monitor("cmd_domblkstat"),
                "domifaddr": _monitor("cmd_domifaddr"),
                "domiflist": _monitor("cmd_domiflist"),
                "domifstat": _monitor("cmd_domifstat"),
                "dommemstat": _monitor("cmd_dommemstat"),
            },
            json_commands=("list", "dominfo", "domstate", "domstats", "domblklist", "domiflist"),
        )
    )
