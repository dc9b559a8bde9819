"""virsh's CPU model commands (virsh-host.c): cpu-models, cpu-compare, cpu-baseline,
hypervisor-cpu-compare, hypervisor-cpu-baseline."""

from __future__ import annotations

from virtkit.cli.framework import Cmd, CmdFailed, CommandDef, Ctl, specs_to_defs
from virtkit.cli.specs import GROUPS
from virtkit.constants import ConnectBaselineCPUFlags, ConnectCompareCPUFlags, CPUCompareResult

__all__ = ["COMMANDS", "extract_cpu_xmls"]

# vshExtractCPUDefXMLs: a bare <cpu>, a domain, host capabilities or domain capabilities
# (whose supported host-model <mode> stands for a <cpu>)
_CPU_PATHS = ("/container/cpu|/container/domain/cpu|/container/capabilities/host/cpu|"
              "/container/domainCapabilities/cpu/mode[@name='host-model' and @supported='yes']")


def extract_cpu_xmls(ctl: Ctl, path: str) -> list[str]:
    """Every CPU definition in file ``path``, as virsh's vshExtractCPUDefXMLs finds and
    serialises them (a failure is printed, then CmdFailed)."""
    from lxml import etree

    from virtkit.cli.common import read_file
    from virtkit.conf.xmlutil import parse_xml
    from virtkit.errors import XMLError

    text = read_file(ctl, path)
    if text.startswith("<?xml") and "?>" in text:  # the XML declaration goes
        text = text[text.index("?>") + 2:]
    try:
        root = parse_xml(f"<container>{text}</container>", path)
    except XMLError as exc:  # libvirt names the file without parentheses
        message = exc.message
        if message.startswith(f"({path}):"):
            message = path + message[len(path) + 2:]
        ctl.error(message)
        raise CmdFailed from None
    nodes = root.xpath(_CPU_PATHS)
    assert isinstance(nodes, list)
    if not nodes:
        ctl.error(f"File '{path}' does not contain any <cpu> element or valid domain XML, "
                  "host capabilities XML, or domain capabilities XML")
        raise CmdFailed
    cpus: list[str] = []
    for node in nodes:
        assert isinstance(node, etree._Element)
        if node.tag == "mode":
            node.tag = "cpu"
            node.attrib.clear()
        cpus.append(etree.tostring(node, encoding="unicode", with_tail=False))
    return cpus


def _hypervisor_opts(ctl: Ctl, cmd: Cmd) -> dict[str, str | None]:
    """--virttype, --emulator, --arch, --machine (None when not given)."""
    return {name: ctl.opt_string(cmd, name)
            for name in ("virttype", "emulator", "arch", "machine")}


def _compare_flags(cmd: Cmd) -> int:
    flags = 0
    if cmd.flag("error"):
        flags |= ConnectCompareCPUFlags.FAIL_INCOMPATIBLE
    if cmd.flag("validate"):
        flags |= ConnectCompareCPUFlags.VALIDATE_XML
    return flags


def _baseline_flags(cmd: Cmd) -> int:
    flags = 0
    if cmd.flag("features"):
        flags |= ConnectBaselineCPUFlags.EXPAND_FEATURES
    if cmd.flag("migratable"):
        flags |= ConnectBaselineCPUFlags.MIGRATABLE
    return flags


def cmd_cpu_models(ctl: Ctl, cmd: Cmd) -> bool:
    arch = ctl.opt_required(cmd, "arch")
    with ctl.failing("failed to get CPU model names"):
        models = ctl.conn.cpu_model_names(arch)
    if not models:
        ctl.print_extra("all CPU models are accepted\n")
    else:
        ctl.print("".join(f"{m}\n" for m in models))
    return True


def cmd_cpu_compare(ctl: Ctl, cmd: Cmd) -> bool:
    flags = _compare_flags(cmd)
    path = ctl.opt_required(cmd, "file")
    cpus = extract_cpu_xmls(ctl, path)
    with ctl.failing(f"Failed to compare host CPU with {path}"):
        result = ctl.conn.compare_cpu(cpus[0], flags)
    if result == CPUCompareResult.INCOMPATIBLE:
        ctl.print(f"CPU described in {path} is incompatible with host CPU\n")
        return False
    if result == CPUCompareResult.IDENTICAL:
        ctl.print(f"CPU described in {path} is identical to host CPU\n")
    elif result == CPUCompareResult.SUPERSET:
        ctl.print(f"Host CPU is a superset of CPU described in {path}\n")
    else:
        ctl.error(f"Failed to compare host CPU with {path}")
        return False
    return True


def cmd_cpu_baseline(ctl: Ctl, cmd: Cmd) -> bool:
    flags = _baseline_flags(cmd)
    path = ctl.opt_required(cmd, "file")
    cpus = extract_cpu_xmls(ctl, path)
    ctl.print(ctl.conn.baseline_cpu(cpus, flags))
    return True


def cmd_hypervisor_cpu_compare(ctl: Ctl, cmd: Cmd) -> bool:
    flags = _compare_flags(cmd)
    path = ctl.opt_required(cmd, "file")
    where = _hypervisor_opts(ctl, cmd)
    cpus = extract_cpu_xmls(ctl, path)
    with ctl.failing(f"Failed to compare hypervisor CPU with {path}"):
        result = ctl.conn.compare_hypervisor_cpu(cpus[0], flags=flags, **where)
    if result == CPUCompareResult.INCOMPATIBLE:
        ctl.print(f"CPU described in {path} is incompatible with the CPU provided "
                  "by hypervisor on the host\n")
        return False
    if result == CPUCompareResult.IDENTICAL:
        ctl.print(f"CPU described in {path} is identical to the CPU provided by "
                  "hypervisor on the host\n")
    elif result == CPUCompareResult.SUPERSET:
        ctl.print("The CPU provided by hypervisor on the host is a superset "
                  f"of CPU described in {path}\n")
    else:
        ctl.error(f"Failed to compare hypervisor CPU with {path}")
        return False
    return True


def cmd_hypervisor_cpu_baseline(ctl: Ctl, cmd: Cmd) -> bool:
    flags = _baseline_flags(cmd)
    path = ctl.opt_string(cmd, "file")
    where = _hypervisor_opts(ctl, cmd)
    model = ctl.opt_string(cmd, "model")
    if path and model:
        ctl.error("Options --file and --model are mutually exclusive")
        return False
    if not path and not model:
        ctl.error("Either --file or --model must be provided")
        return False
    cpus = extract_cpu_xmls(ctl, path) if path else [f"<cpu><model>{model}</model></cpu>"]
    ctl.print(ctl.conn.baseline_hypervisor_cpu(cpus, flags=flags, **where))
    return True


COMMANDS: dict[str, CommandDef] = specs_to_defs(
    next(cmds for _, _, module, cmds in GROUPS if module == "cpu"),
    {
        "cpu-baseline": cmd_cpu_baseline,
        "cpu-compare": cmd_cpu_compare,
        "cpu-models": cmd_cpu_models,
        "hypervisor-cpu-baseline": cmd_hypervisor_cpu_baseline,
        "hypervisor-cpu-compare": cmd_hypervisor_cpu_compare,
    },
)
