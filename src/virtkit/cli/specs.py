"""virsh 9.0 command tables for the commands virtkit implements: name, help, description, options.

Facts taken from `virsh help COMMAND` (option names, kinds, order and help text), so that
parsing, positional arguments and `help` output match virsh.
"""

# ruff: noqa: E501
from __future__ import annotations

Spec = tuple[str, str | None, tuple[tuple[str, str, str, str], ...]]

# (group title, help keyword, handler module, {command: spec}) in virsh's group order
GROUPS: list[tuple[str, str, str, dict[str, Spec]]] = []

GROUPS.append(
    (
        "Host and Hypervisor",
        "host",
        "host",
        {
            "capabilities": (
                "capabilities",
                "Returns capabilities of hypervisor/driver.",
                (),
            ),
            "domcapabilities": (
                "domain capabilities",
                "Returns capabilities of emulator with respect to host and libvirt.",
                (
                    ("virttype", "STRING", "", "virtualization type (/domain/@type)"),
                    ("emulatorbin", "STRING", "",
                     "path to emulator binary (/domain/devices/emulator)"),
                    ("arch", "STRING", "", "domain architecture (/domain/os/type/@arch)"),
                    ("machine", "STRING", "", "machine type (/domain/os/type/@machine)"),
                ),
            ),
            "hostname": (
                "print the hypervisor hostname",
                None,
                (),
            ),
            "nodeinfo": (
                "node information",
                "Returns basic information about the node.",
                (),
            ),
            "uri": (
                "print the hypervisor canonical URI",
                None,
                (),
            ),
            "version": (
                "show version",
                "Display the system version information.",
                (("daemon", "BOOL", "", "report daemon version too"),),
            ),
        },
    )
)

# Host statistics commands (virtkit.cli.nodestats), merged into virsh's "host" group.
GROUPS.append(
    (
        "Host and Hypervisor",
        "host",
        "nodestats",
        {
            "freecell": (
                "NUMA free memory",
                "display available free memory for the NUMA cell.",
                (
                    ("cellno", "INT", "", "NUMA cell number"),
                    ("all", "BOOL", "", "show free memory for all NUMA cells"),
                ),
            ),
            "freepages": (
                "NUMA free pages",
                "display available free pages for the NUMA cell.",
                (
                    ("cellno", "INT", "", "NUMA cell number"),
                    ("pagesize", "INT", "", "page size (in kibibytes)"),
                    ("all", "BOOL", "", "show free pages for all NUMA cells"),
                ),
            ),
            "node-memory-tune": (
                "Get or set node memory parameters",
                "Get or set node memory parameters\n    To get the memory parameters, use following command: \n\n    virsh # node-memory-tune",
                (
                    ("shm-pages-to-scan", "INT", "", "number of pages to scan before the shared memory service goes to sleep"),
                    ("shm-sleep-millisecs", "INT", "", "number of millisecs the shared memory service should sleep before next scan"),
                    ("shm-merge-across-nodes", "INT", "", "Specifies if pages from different numa nodes can be merged"),
                ),
            ),
            "nodecpumap": (
                "node cpu map",
                "Displays the node's total number of CPUs, the number of online CPUs and the list of online CPUs.",
                (("pretty", "BOOL", "", "return human readable output"),),
            ),
            "nodecpustats": (
                "Prints cpu stats of the node.",
                "Returns cpu stats of the node, in nanoseconds.",
                (
                    ("cpu", "INT", "", "prints specified cpu statistics only."),
                    ("percent", "BOOL", "", "prints by percentage during 1 second."),
                ),
            ),
            "nodememstats": (
                "Prints memory stats of the node.",
                "Returns memory stats of the node, in kilobytes.",
                (("cell", "INT", "", "prints specified cell statistics only."),),
            ),
            "nodesevinfo": (
                "node SEV information",
                "Returns basic SEV information about the node.",
                (),
            ),
        },
    )
)

_HV_CPU_OPTS = (
    ("virttype", "STRING", "", "virtualization type (/domain/@type)"),
    ("emulator", "STRING", "", "path to emulator binary (/domain/devices/emulator)"),
    ("arch", "STRING", "", "CPU architecture (/domain/os/type/@arch)"),
    ("machine", "STRING", "", "machine type (/domain/os/type/@machine)"),
)
_CPU_COMPARE_OPTS = (
    ("error", "BOOL", "", "report error if CPUs are incompatible"),
    ("validate", "BOOL", "", "validate the XML document against schema"),
)
_CPU_BASELINE_OPTS = (
    ("features", "BOOL", "", "Show features that are part of the CPU model type"),
    ("migratable", "BOOL", "", "Do not include features that block migration"),
)

# CPU model commands (virtkit.cli.cpu), merged into virsh's "host" group.
GROUPS.append(
    (
        "Host and Hypervisor",
        "host",
        "cpu",
        {
            "cpu-baseline": (
                "compute baseline CPU",
                "Compute baseline CPU for a set of given CPUs.",
                (("file", "DATA", "REQ", "file containing XML CPU descriptions"),
                 *_CPU_BASELINE_OPTS),
            ),
            "cpu-compare": (
                "compare host CPU with a CPU described by an XML file",
                "compare CPU with host CPU",
                (("file", "DATA", "REQ", "file containing an XML CPU description"),
                 *_CPU_COMPARE_OPTS),
            ),
            "cpu-models": (
                "CPU models",
                "Get the CPU models for an arch.",
                (("arch", "DATA", "REQ", "architecture"),),
            ),
            "hypervisor-cpu-baseline": (
                "compute baseline CPU usable by a specific hypervisor",
                "Compute baseline CPU for a set of given CPUs. The result will be tailored to the specified hypervisor.",
                (("file", "STRING", "", "file containing XML CPU descriptions"),
                 *_HV_CPU_OPTS, *_CPU_BASELINE_OPTS,
                 ("model", "STRING", "", "Shortcut for calling the command with a single CPU model and no additional features")),
            ),
            "hypervisor-cpu-compare": (
                "compare a CPU with the CPU created by a hypervisor on the host",
                "compare CPU with hypervisor CPU",
                (("file", "DATA", "REQ", "file containing an XML CPU description"),
                 *_HV_CPU_OPTS, *_CPU_COMPARE_OPTS),
            ),
        },
    )
)

GROUPS.append(
    (
        "Domain Management",
        "domain",
        "domain",
        {
            "attach-device": (
                "attach device from an XML file",
                "Attach device from an XML <file>.",
                (
                    ("domain", "DATA", "REQ", "domain name, id or uuid"),
                    ("file", "DATA", "REQ", "XML file"),
                    ("persistent", "BOOL", "", "make live change persistent"),
                    ("config", "BOOL", "", "affect next boot"),
                    ("live", "BOOL", "", "affect running domain"),
                    ("current", "BOOL", "", "affect current domain"),
                ),
            ),
            "attach-disk": (
                "attach disk device",
                "Attach new disk device.",
                (
                    ("domain", "DATA", "REQ", "domain name, id or uuid"),
                    (
                        "source",
                        "DATA",
                        "REQ|EMPTY_OK",
                        "source of disk device or name of network disk",
                    ),
                    ("target", "DATA", "REQ", "target of disk device"),
                    ("targetbus", "STRING", "", "target bus of disk device"),
                    ("driver", "STRING", "", "driver of disk device"),
                    ("subdriver", "STRING", "", "subdriver of disk device"),
                    ("iothread", "STRING", "", "IOThread to be used by supported device"),
                    ("cache", "STRING", "", "cache mode of disk device"),
                    ("io", "STRING", "", "io policy of disk device"),
                    ("type", "STRING", "", "target device type"),
                    ("shareable", "ALIAS", "", "mode=shareable"),
                    ("mode", "STRING", "", "mode of device reading and writing"),
                    ("sourcetype", "STRING", "", "type of source (block|file|network)"),
                    ("serial", "STRING", "", "serial of disk device"),
                    ("wwn", "STRING", "", "wwn of disk device"),
                    ("alias", "STRING", "", "custom alias name of disk device"),
                    ("rawio", "BOOL", "", "needs rawio capability"),
                    ("address", "STRING", "", "address of disk device"),
                    ("multifunction", "BOOL", "", "use multifunction pci under specified address"),
                    ("print-xml", "BOOL", "", "print XML document rather than attach the disk"),
                    ("source-protocol", "STRING", "", "protocol used by disk device source"),
                    ("source-host-name", "STRING", "", "host name for source of disk device"),
                    (
                        "source-host-transport",
                        "STRING",
                        "",
                        "host transport for source of disk device",
                    ),
                    ("source-host-socket", "STRING", "", "host socket for source of disk device"),
                    ("persistent", "BOOL", "", "make live change persistent"),
                    ("config", "BOOL", "", "affect next boot"),
                    ("live", "BOOL", "", "affect running domain"),
                    ("current", "BOOL", "", "affect current domain"),
                ),
            ),
            "attach-interface": (
                "attach network interface",
                "Attach new network interface.",
                (
                    ("domain", "DATA", "REQ", "domain name, id or uuid"),
                    ("type", "DATA", "REQ", "network interface type"),
                    ("source", "DATA", "REQ", "source of network interface"),
                    ("target", "STRING", "", "target network name"),
                    ("mac", "STRING", "", "MAC address"),
                    ("script", "STRING", "", "script used to bridge network interface"),
                    ("model", "STRING", "", "model type"),
                    ("alias", "STRING", "", "custom alias name of interface device"),
                    ("inbound", "STRING", "", "control domain's incoming traffics"),
                    ("outbound", "STRING", "", "control domain's outgoing traffics"),
                    ("persistent", "BOOL", "", "make live change persistent"),
                    ("config", "BOOL", "", "affect next boot"),
                    ("live", "BOOL", "", "affect running domain"),
                    ("current", "BOOL", "", "affect current domain"),
                    (
                        "print-xml",
                        "BOOL",
                        "",
                        "print XML document rather than attach the interface",
                    ),
                    (
                        "managed",
                        "BOOL",
                        "",
                        "libvirt will automatically detach/attach the device from/to host",
                    ),
                    ("source-mode", "STRING", "", "mode attribute of <source/> element"),
                ),
            ),
            "autostart": (
                "autostart a domain",
                "Configure a domain to be automatically started at boot.",
                (
                    ("domain", "DATA", "REQ", "domain name, id or uuid"),
                    ("disable", "BOOL", "", "disable autostarting"),
                ),
            ),
            "create": (
                "create a domain from an XML file",
                "Create a domain.",
                (
                    ("file", "DATA", "REQ", "file containing an XML domain description"),
                    ("console", "BOOL", "", "attach to console after creation"),
                    ("paused", "BOOL", "", "leave the guest paused after creation"),
                    (
                        "autodestroy",
                        "BOOL",
                        "",
                        "automatically destroy the guest when virsh disconnects",
                    ),
                    ("pass-fds", "STRING", "", "pass file descriptors N,M,... to the guest"),
                    ("validate", "BOOL", "", "validate the XML against the schema"),
                    ("reset-nvram", "BOOL", "", "re-initialize NVRAM from its pristine template"),
                ),
            ),
            "define": (
                "define (but don't start) a domain from an XML file",
                "Define a domain.",
                (
                    ("file", "DATA", "REQ", "file containing an XML domain description"),
                    ("validate", "BOOL", "", "validate the XML against the schema"),
                ),
            ),
            "destroy": (
                "destroy (stop) a domain",
                "Forcefully stop a given domain, but leave its resources intact.",
                (
                    ("domain", "DATA", "REQ", "domain name, id or uuid"),
                    ("graceful", "BOOL", "", "terminate gracefully"),
                    ("remove-logs", "BOOL", "", "remove domain logs"),
                ),
            ),
            "detach-device": (
                "detach device from an XML file",
                "Detach device from an XML <file>",
                (
                    ("domain", "DATA", "REQ", "domain name, id or uuid"),
                    ("file", "DATA", "REQ", "XML file"),
                    ("persistent", "BOOL", "", "make live change persistent"),
                    ("config", "BOOL", "", "affect next boot"),
                    ("live", "BOOL", "", "affect running domain"),
                    ("current", "BOOL", "", "affect current domain"),
                ),
            ),
            "detach-device-alias": (
                "detach device from an alias",
                "Detach device identified by the given alias from a domain",
                (
                    ("domain", "DATA", "REQ", "domain name, id or uuid"),
                    ("alias", "DATA", "REQ", "device alias"),
                    ("config", "BOOL", "", "affect next boot"),
                    ("live", "BOOL", "", "affect running domain"),
                    ("current", "BOOL", "", "affect current domain"),
                ),
            ),
            "detach-disk": (
                "detach disk device",
                "Detach disk device.",
                (
                    ("domain", "DATA", "REQ", "domain name, id or uuid"),
                    ("target", "DATA", "REQ", "target of disk device"),
                    ("persistent", "BOOL", "", "make live change persistent"),
                    ("config", "BOOL", "", "affect next boot"),
                    ("live", "BOOL", "", "affect running domain"),
                    ("current", "BOOL", "", "affect current domain"),
                    ("print-xml", "BOOL", "", "print XML document rather than detach the disk"),
                ),
            ),
            "detach-interface": (
                "detach network interface",
                "Detach network interface.",
                (
                    ("domain", "DATA", "REQ", "domain name, id or uuid"),
                    ("type", "DATA", "REQ", "network interface type"),
                    ("mac", "STRING", "", "MAC address"),
                    ("persistent", "BOOL", "", "make live change persistent"),
                    ("config", "BOOL", "", "affect next boot"),
                    ("live", "BOOL", "", "affect running domain"),
                    ("current", "BOOL", "", "affect current domain"),
                    (
                        "print-xml",
                        "BOOL",
                        "",
                        "print XML document rather than detach the interface",
                    ),
                ),
            ),
            "domid": (
                "convert a domain name or UUID to domain id",
                None,
                (("domain", "DATA", "REQ", "domain name or uuid"),),
            ),
            "domname": (
                "convert a domain id or UUID to domain name",
                None,
                (("domain", "DATA", "REQ", "domain id or uuid"),),
            ),
            "domuuid": (
                "convert a domain name or id to domain UUID",
                None,
                (("domain", "DATA", "REQ", "domain id or name"),),
            ),
            "console": (
                "connect to the guest console",
                "Connect the virtual serial console for the guest",
                (
                    ("domain", "DATA", "REQ", "domain name, id or uuid"),
                    ("devname", "STRING", "", "character device name"),
                    ("force", "BOOL", "",
                     "force console connection (disconnect already connected sessions)"),
                    ("safe", "BOOL", "", "only connect if safe console handling is supported"),
                ),
            ),
            "dumpxml": (
                "domain information in XML",
                "Output the domain information as an XML dump to stdout.",
                (
                    ("domain", "DATA", "REQ", "domain name, id or uuid"),
                    ("inactive", "BOOL", "", "show inactive defined XML"),
                    (
                        "security-info",
                        "BOOL",
                        "",
                        "include security sensitive information in XML dump",
                    ),
                    ("update-cpu", "BOOL", "", "update guest CPU according to host CPU"),
                    ("migratable", "BOOL", "", "provide XML suitable for migrations"),
                    ("xpath", "STRING", "REQ_OPT", "xpath expression to filter the XML document"),
                    ("wrap", "BOOL", "", "wrap xpath results in an common root element"),
                ),
            ),
            "edit": (
                "edit XML configuration for a domain",
                "Edit the XML configuration for a domain.",
                (
                    ("domain", "DATA", "REQ", "domain name, id or uuid"),
                    ("skip-validate", "BOOL", "", "skip validation of the XML against the schema"),
                ),
            ),
            "managedsave": (
                "managed save of a domain state",
                "Save and destroy a running domain, so it can be restarted from\n    the same state at a later time.  When the virsh 'start'\n    command is next run for the domain, it will automatically\n    be started from this saved state.",
                (
                    ("domain", "DATA", "REQ", "domain name, id or uuid"),
                    ("bypass-cache", "BOOL", "", "avoid file system cache when saving"),
                    ("running", "BOOL", "", "set domain to be running on next start"),
                    ("paused", "BOOL", "", "set domain to be paused on next start"),
                    ("verbose", "BOOL", "", "display the progress of save"),
                ),
            ),
            "reboot": (
                "reboot a domain",
                "Run a reboot command in the target domain.",
                (
                    ("domain", "DATA", "REQ", "domain name, id or uuid"),
                    ("mode", "STRING", "", "shutdown mode: acpi|agent|initctl|signal|paravirt"),
                ),
            ),
            "reset": (
                "reset a domain",
                "Reset the target domain as if by power button",
                (("domain", "DATA", "REQ", "domain name, id or uuid"),),
            ),
            "restore": (
                "restore a domain from a saved state in a file",
                "Restore a domain.",
                (
                    ("file", "DATA", "REQ", "the state to restore"),
                    ("bypass-cache", "BOOL", "", "avoid file system cache when restoring"),
                    ("xml", "STRING", "", "filename containing updated XML for the target"),
                    ("running", "BOOL", "", "restore domain into running state"),
                    ("paused", "BOOL", "", "restore domain into paused state"),
                    ("reset-nvram", "BOOL", "", "re-initialize NVRAM from its pristine template"),
                ),
            ),
            "resume": (
                "resume a domain",
                "Resume a previously suspended domain.",
                (("domain", "DATA", "REQ", "domain name, id or uuid"),),
            ),
            "save": (
                "save a domain state to a file",
                "Save the RAM state of a running domain.",
                (
                    ("domain", "DATA", "REQ", "domain name, id or uuid"),
                    ("file", "DATA", "REQ", "where to save the data"),
                    ("bypass-cache", "BOOL", "", "avoid file system cache when saving"),
                    ("xml", "STRING", "", "filename containing updated XML for the target"),
                    ("running", "BOOL", "", "set domain to be running on restore"),
                    ("paused", "BOOL", "", "set domain to be paused on restore"),
                    ("verbose", "BOOL", "", "display the progress of save"),
                ),
            ),
            "setmaxmem": (
                "change maximum memory limit",
                "Change the maximum memory allocation limit in the guest domain.",
                (
                    ("domain", "DATA", "REQ", "domain name, id or uuid"),
                    (
                        "size",
                        "INT",
                        "REQ",
                        "new maximum memory size, as scaled integer (default KiB)",
                    ),
                    ("config", "BOOL", "", "affect next boot"),
                    ("live", "BOOL", "", "affect running domain"),
                    ("current", "BOOL", "", "affect current domain"),
                    ("kilobytes", "ALIAS", "", "size"),
                ),
            ),
            "screenshot": (
                "take a screenshot of a current domain console and store it into a file",
                "screenshot of a current domain console",
                (
                    ("domain", "DATA", "REQ", "domain name, id or uuid"),
                    ("file", "STRING", "", "where to store the screenshot"),
                    ("screen", "INT", "", "ID of a screen to take screenshot of"),
                ),
            ),
            "setmem": (
                "change memory allocation",
                "Change the current memory allocation in the guest domain.",
                (
                    ("domain", "DATA", "REQ", "domain name, id or uuid"),
                    ("size", "INT", "REQ", "new memory size, as scaled integer (default KiB)"),
                    ("config", "BOOL", "", "affect next boot"),
                    ("live", "BOOL", "", "affect running domain"),
                    ("current", "BOOL", "", "affect current domain"),
                    ("kilobytes", "ALIAS", "", "size"),
                ),
            ),
            "setvcpus": (
                "change number of virtual CPUs",
                "Change the number of virtual CPUs in the guest domain.",
                (
                    ("domain", "DATA", "REQ", "domain name, id or uuid"),
                    ("count", "INT", "REQ", "number of virtual CPUs"),
                    ("maximum", "BOOL", "", "set maximum limit on next boot"),
                    ("config", "BOOL", "", "affect next boot"),
                    ("live", "BOOL", "", "affect running domain"),
                    ("current", "BOOL", "", "affect current domain"),
                    ("guest", "BOOL", "", "modify cpu state in the guest"),
                    ("hotpluggable", "BOOL", "", "make added vcpus hot(un)pluggable"),
                ),
            ),
            "shutdown": (
                "gracefully shutdown a domain",
                "Run shutdown in the target domain.",
                (
                    ("domain", "DATA", "REQ", "domain name, id or uuid"),
                    ("mode", "STRING", "", "shutdown mode: acpi|agent|initctl|signal|paravirt"),
                ),
            ),
            "start": (
                "start a (previously defined) inactive domain",
                "Start a domain, either from the last managedsave\n    state, or via a fresh boot if no managedsave state\n    is present.",
                (
                    ("domain", "DATA", "REQ", "name of the inactive domain"),
                    ("console", "BOOL", "", "attach to console after creation"),
                    ("paused", "BOOL", "", "leave the guest paused after creation"),
                    (
                        "autodestroy",
                        "BOOL",
                        "",
                        "automatically destroy the guest when virsh disconnects",
                    ),
                    ("bypass-cache", "BOOL", "", "avoid file system cache when loading"),
                    ("force-boot", "BOOL", "", "force fresh boot by discarding any managed save"),
                    ("pass-fds", "STRING", "", "pass file descriptors N,M,... to the guest"),
                    ("reset-nvram", "BOOL", "", "re-initialize NVRAM from its pristine template"),
                ),
            ),
            "suspend": (
                "suspend a domain",
                "Suspend a running domain.",
                (("domain", "DATA", "REQ", "domain name, id or uuid"),),
            ),
            "undefine": (
                "undefine a domain",
                "Undefine an inactive domain, or convert persistent to transient.",
                (
                    ("domain", "DATA", "REQ", "domain name, id or uuid"),
                    ("managed-save", "BOOL", "", "remove domain managed state file"),
                    (
                        "storage",
                        "STRING",
                        "",
                        "remove associated storage volumes (comma separated list of targets or source paths) (see domblklist)",
                    ),
                    (
                        "remove-all-storage",
                        "BOOL",
                        "",
                        "remove all associated storage volumes (use with caution)",
                    ),
                    (
                        "delete-storage-volume-snapshots",
                        "BOOL",
                        "",
                        "delete snapshots associated with volume(s), requires --remove-all-storage (must be supported by storage driver)",
                    ),
                    ("wipe-storage", "BOOL", "", "wipe data on the removed volumes"),
                    (
                        "snapshots-metadata",
                        "BOOL",
                        "",
                        "remove all domain snapshot metadata (vm must be inactive)",
                    ),
                    (
                        "checkpoints-metadata",
                        "BOOL",
                        "",
                        "remove all domain checkpoint metadata (vm must be inactive)",
                    ),
                    ("nvram", "BOOL", "", "remove nvram file"),
                    ("keep-nvram", "BOOL", "", "keep nvram file"),
                    ("tpm", "BOOL", "", "remove TPM state"),
                    ("keep-tpm", "BOOL", "", "keep TPM state"),
                    ("delete-snapshots", "ALIAS", "", "delete-storage-volume-snapshots"),
                ),
            ),
        },
    )
)

# Domain tuning commands of virsh's "Domain Management" group, handled in cli/domtuning.py;
# `help` lists groups that share a keyword as one.
_IMPACT = (
    ("config", "BOOL", "", "affect next boot"),
    ("live", "BOOL", "", "affect running domain"),
    ("current", "BOOL", "", "affect current domain"),
)
_DOM = ("domain", "DATA", "REQ", "domain name, id or uuid")
GROUPS.append(
    (
        "Domain Management",
        "domain",
        "domjob",
        {
            "domjobabort": (
                "abort active domain job",
                "Aborts the currently running domain job",
                (
                    ("domain", "DATA", "REQ", "domain name, id or uuid"),
                    ("postcopy", "BOOL", "", "interrupt post-copy migration"),
                ),
            ),
            "domjobinfo": (
                "domain job information",
                "Returns information about jobs running on a domain.",
                (
                    ("domain", "DATA", "REQ", "domain name, id or uuid"),
                    ("completed", "BOOL", "", "return statistics of a recently completed job"),
                    ("keep-completed", "BOOL", "", "don't destroy statistics of a recently completed job when reading"),
                    ("anystats", "BOOL", "", "print statistics for any kind of job (even failed ones)"),
                    ("rawstats", "BOOL", "", "print the raw data returned by libvirt"),
                ),
            ),
        },
    )
)

_PER_DEVICE = "in the form of /path/to/device,"
GROUPS.append(
    (
        "Domain Management",
        "domain",
        "domtuning",
        {
            "blkiotune": (
                "Get or set blkio parameters",
                "Get or set the current blkio parameters for a guest domain.\n    To get the blkio parameters use following command: \n\n    virsh # blkiotune <domain>",
                (
                    _DOM,
                    ("weight", "INT", "", "IO Weight"),
                    ("device-weights", "STRING", "", f"per-device IO Weights, {_PER_DEVICE}weight,..."),
                    ("device-read-iops-sec", "STRING", "", f"per-device read I/O limit per second, {_PER_DEVICE}read_iops_sec,..."),
                    ("device-write-iops-sec", "STRING", "", f"per-device write I/O limit per second, {_PER_DEVICE}write_iops_sec,..."),
                    ("device-read-bytes-sec", "STRING", "", f"per-device bytes read per second, {_PER_DEVICE}read_bytes_sec,..."),
                    ("device-write-bytes-sec", "STRING", "", f"per-device bytes wrote per second, {_PER_DEVICE}write_bytes_sec,..."),
                    *_IMPACT,
                ),
            ),
            "iothreadinfo": (
                "view domain IOThreads",
                "Returns basic information about the domain IOThreads.",
                (_DOM, *_IMPACT),
            ),
            "iothreadpin": (
                "control domain IOThread affinity",
                "Pin domain IOThreads to host physical CPUs.",
                (
                    _DOM,
                    ("iothread", "INT", "REQ", "IOThread ID number"),
                    ("cpulist", "DATA", "REQ", "host cpu number(s) to set"),
                    *_IMPACT,
                ),
            ),
            "iothreadadd": (
                "add an IOThread to the guest domain",
                "Add an IOThread to the guest domain.",
                (_DOM, ("id", "INT", "REQ", "iothread for the new IOThread"), *_IMPACT),
            ),
            "iothreadset": (
                "modifies an existing IOThread of the guest domain",
                "Modifies an existing IOThread of the guest domain.",
                (
                    _DOM,
                    ("id", "INT", "REQ", "iothread id of existing IOThread"),
                    ("poll-max-ns", "INT", "", "set the maximum IOThread polling time in ns"),
                    ("poll-grow", "INT", "", "set the value to increase the IOThread polling time"),
                    ("poll-shrink", "INT", "", "set the value for reduction of the IOThread polling time"),
                    ("thread-pool-min", "INT", "", "lower boundary for worker thread pool"),
                    ("thread-pool-max", "INT", "", "upper boundary for worker thread pool"),
                    *_IMPACT,
                ),
            ),
            "iothreaddel": (
                "delete an IOThread from the guest domain",
                "Delete an IOThread from the guest domain.",
                (_DOM, ("id", "INT", "REQ", "iothread_id for the IOThread to delete"), *_IMPACT),
            ),
            "numatune": (
                "Get or set numa parameters",
                "Get or set the current numa parameters for a guest domain.\n    To get the numa parameters use following command: \n\n    virsh # numatune <domain>",
                (
                    _DOM,
                    ("mode", "STRING", "", "NUMA mode, one of strict, preferred and interleave \nor a number from the virDomainNumatuneMemMode enum"),
                    ("nodeset", "STRING", "", "NUMA node selections to set"),
                    *_IMPACT,
                ),
            ),
            "vcpuinfo": (
                "detailed domain vcpu information",
                "Returns basic information about the domain virtual CPUs.",
                (_DOM, ("pretty", "BOOL", "", "return human readable output")),
            ),
            "vcpupin": (
                "control or query domain vcpu affinity",
                "Pin domain VCPUs to host physical CPUs.",
                (
                    _DOM,
                    ("vcpu", "INT", "", "vcpu number"),
                    ("cpulist", "STRING", "", "host cpu number(s) to set, or omit option to query"),
                    *_IMPACT,
                ),
            ),
            "emulatorpin": (
                "control or query domain emulator affinity",
                "Pin domain emulator threads to host physical CPUs.",
                (
                    _DOM,
                    ("cpulist", "STRING", "", "host cpu number(s) to set, or omit option to query"),
                    *_IMPACT,
                ),
            ),
            "memtune": (
                "Get or set memory parameters",
                "Get or set the current memory parameters for a guest domain.\n    To get the memory parameters use following command: \n\n    virsh # memtune <domain>",
                (
                    _DOM,
                    ("hard-limit", "INT", "", "Max memory, as scaled integer (default KiB)"),
                    ("soft-limit", "INT", "", "Memory during contention, as scaled integer (default KiB)"),
                    ("swap-hard-limit", "INT", "", "Max memory plus swap, as scaled integer (default KiB)"),
                    ("min-guarantee", "INT", "", "Min guaranteed memory, as scaled integer (default KiB)"),
                    *_IMPACT,
                ),
            ),
            "perf": (
                "Get or set perf event",
                "Get or set the current perf events for a guest domain.\n    To get the perf events list use following command: \n\n    virsh # perf <domain>",
                (
                    _DOM,
                    ("enable", "STRING", "", "perf events which will be enabled"),
                    ("disable", "STRING", "", "perf events which will be disabled"),
                    *_IMPACT,
                ),
            ),
            "domiftune": (
                "get/set parameters of a virtual interface",
                "Get/set parameters of a domain's virtual interface.",
                (
                    _DOM,
                    ("interface", "DATA", "REQ", "interface device (MAC Address)"),
                    ("inbound", "STRING", "", "control domain's incoming traffics"),
                    ("outbound", "STRING", "", "control domain's outgoing traffics"),
                    *_IMPACT,
                ),
            ),
            "blkdeviotune": (
                "Set or query a block device I/O tuning parameters.",
                "Set or query disk I/O parameters such as block throttling.",
                (
                    _DOM,
                    ("device", "DATA", "REQ", "block device"),
                    ("total-bytes-sec", "INT", "", "total throughput limit, as scaled integer (default bytes)"),
                    ("read-bytes-sec", "INT", "", "read throughput limit, as scaled integer (default bytes)"),
                    ("write-bytes-sec", "INT", "", "write throughput limit, as scaled integer (default bytes)"),
                    ("total-iops-sec", "INT", "", "total I/O operations limit per second"),
                    ("read-iops-sec", "INT", "", "read I/O operations limit per second"),
                    ("write-iops-sec", "INT", "", "write I/O operations limit per second"),
                    ("total-bytes-sec-max", "INT", "", "total max, as scaled integer (default bytes)"),
                    ("read-bytes-sec-max", "INT", "", "read max, as scaled integer (default bytes)"),
                    ("write-bytes-sec-max", "INT", "", "write max, as scaled integer (default bytes)"),
                    ("total-iops-sec-max", "INT", "", "total I/O operations max"),
                    ("read-iops-sec-max", "INT", "", "read I/O operations max"),
                    ("write-iops-sec-max", "INT", "", "write I/O operations max"),
                    ("size-iops-sec", "INT", "", "I/O size in bytes"),
                    ("group-name", "STRING", "", "group name to share I/O quota between multiple drives"),
                    ("total-bytes-sec-max-length", "INT", "", "duration in seconds to allow total max bytes"),
                    ("read-bytes-sec-max-length", "INT", "", "duration in seconds to allow read max bytes"),
                    ("write-bytes-sec-max-length", "INT", "", "duration in seconds to allow write max bytes"),
                    ("total-iops-sec-max-length", "INT", "", "duration in seconds to allow total I/O operations max"),
                    ("read-iops-sec-max-length", "INT", "", "duration in seconds to allow read I/O operations max"),
                    ("write-iops-sec-max-length", "INT", "", "duration in seconds to allow write I/O operations max"),
                    *_IMPACT,
                ),
            ),
            "cpu-stats": (
                "show domain cpu statistics",
                "Display per-CPU and total statistics about the domain's CPUs",
                (
                    _DOM,
                    ("total", "BOOL", "", "Show total statistics only"),
                    ("start", "INT", "", "Show statistics from this CPU"),
                    ("count", "INT", "", "Number of shown CPUs at most"),
                ),
            ),
            "domfsfreeze": (
                "Freeze domain's mounted filesystems.",
                "Freeze domain's mounted filesystems.",
                (_DOM, ("mountpoint", "ARGV", "", "mountpoint path to be frozen")),
            ),
            "domfsthaw": (
                "Thaw domain's mounted filesystems.",
                "Thaw domain's mounted filesystems.",
                (_DOM, ("mountpoint", "ARGV", "", "mountpoint path to be thawed")),
            ),
            "domfstrim": (
                "Invoke fstrim on domain's mounted filesystems.",
                "Invoke fstrim on domain's mounted filesystems.",
                (
                    _DOM,
                    ("minimum", "INT", "", "Just a hint to ignore contiguous free ranges smaller than this (Bytes)"),
                    ("mountpoint", "STRING", "", "which mount point to trim"),
                ),
            ),
            "domfsinfo": (
                "Get information of domain's mounted filesystems.",
                "Get information of domain's mounted filesystems.",
                (_DOM,),
            ),
            "set-user-password": (
                "set the user password inside the domain",
                "changes the password of the specified user inside the domain",
                (
                    _DOM,
                    ("user", "DATA", "REQ", "the username"),
                    ("password", "DATA", "REQ", "the new password"),
                    ("encrypted", "BOOL", "", "the password is already encrypted"),
                ),
            ),
            "send-process-signal": (
                "Send signals to processes",
                "Send signals to processes in the guest",
                (
                    _DOM,
                    ("pid", "DATA", "REQ", "the process ID"),
                    ("signame", "DATA", "REQ", "the signal number or name"),
                ),
            ),
            "set-lifecycle-action": (
                "change lifecycle actions",
                "Change lifecycle actions for the guest domain.",
                (
                    _DOM,
                    ("type", "DATA", "REQ", "lifecycle type to modify"),
                    ("action", "DATA", "REQ", "lifecycle action to set"),
                    *_IMPACT,
                ),
            ),
        },
    )
)
GROUPS.append(
    (
        "Domain Monitoring",
        "monitor",
        "domain",
        {
            "domblkinfo": (
                "domain block device size information",
                "Get block device size info for a domain.",
                (
                    ("domain", "DATA", "REQ", "domain name, id or uuid"),
                    ("device", "STRING", "", "block device"),
                    ("human", "BOOL", "", "Human readable output"),
                    ("all", "BOOL", "", "display all block devices info"),
                ),
            ),
            "domblklist": (
                "list all domain blocks",
                "Get the summary of block devices for a domain.",
                (
                    ("domain", "DATA", "REQ", "domain name, id or uuid"),
                    ("inactive", "BOOL", "", "get inactive rather than running configuration"),
                    ("details", "BOOL", "", "additionally display the type and device value"),
                ),
            ),
            "domblkstat": (
                "get device block stats for a domain",
                "Get device block stats for a running domain. See man page or use --human for explanation of fields",
                (
                    ("domain", "DATA", "REQ", "domain name, id or uuid"),
                    ("device", "STRING", "EMPTY_OK", "block device"),
                    ("human", "BOOL", "", "print a more human readable output"),
                ),
            ),
            "domifaddr": (
                "Get network interfaces' addresses for a running domain",
                "Get network interfaces' addresses for a running domain",
                (
                    ("domain", "DATA", "REQ", "domain name, id or uuid"),
                    ("interface", "STRING", "", "network interface name"),
                    ("full", "BOOL", "", "always display names and MACs of interfaces"),
                    ("source", "STRING", "", "address source: 'lease', 'agent', or 'arp'"),
                ),
            ),
            "domiflist": (
                "list all domain virtual interfaces",
                "Get the summary of virtual interfaces for a domain.",
                (
                    ("domain", "DATA", "REQ", "domain name, id or uuid"),
                    ("inactive", "BOOL", "", "get inactive rather than running configuration"),
                ),
            ),
            "domifstat": (
                "get network interface stats for a domain",
                "Get network interface stats for a running domain.",
                (
                    ("domain", "DATA", "REQ", "domain name, id or uuid"),
                    (
                        "interface",
                        "DATA",
                        "REQ",
                        "interface device specified by name or MAC Address",
                    ),
                ),
            ),
            "dominfo": (
                "domain information",
                "Returns basic information about the domain.",
                (("domain", "DATA", "REQ", "domain name, id or uuid"),),
            ),
            "dommemstat": (
                "get memory statistics for a domain",
                "Get memory statistics for a running domain.",
                (
                    ("domain", "DATA", "REQ", "domain name, id or uuid"),
                    ("period", "INT", "REQ_OPT", "period in seconds to set collection"),
                    ("config", "BOOL", "", "affect next boot"),
                    ("live", "BOOL", "", "affect running domain"),
                    ("current", "BOOL", "", "affect current domain"),
                ),
            ),
            "domstate": (
                "domain state",
                "Returns state about a domain.",
                (
                    ("domain", "DATA", "REQ", "domain name, id or uuid"),
                    ("reason", "BOOL", "", "also print reason for the state"),
                ),
            ),
            "domstats": (
                "get statistics about one or multiple domains",
                "Gets statistics about one or more (or all) domains",
                (
                    ("state", "BOOL", "", "report domain state"),
                    ("cpu-total", "BOOL", "", "report domain physical cpu usage"),
                    ("balloon", "BOOL", "", "report domain balloon statistics"),
                    ("vcpu", "BOOL", "", "report domain virtual cpu information"),
                    ("interface", "BOOL", "", "report domain network interface information"),
                    ("block", "BOOL", "", "report domain block device statistics"),
                    ("perf", "BOOL", "", "report domain perf event statistics"),
                    ("iothread", "BOOL", "", "report domain IOThread information"),
                    ("memory", "BOOL", "", "report domain memory usage"),
                    ("dirtyrate", "BOOL", "", "report domain dirty rate information"),
                    ("vm", "BOOL", "", "report hypervisor-specific statistics"),
                    ("list-active", "BOOL", "", "list only active domains"),
                    ("list-inactive", "BOOL", "", "list only inactive domains"),
                    ("list-persistent", "BOOL", "", "list only persistent domains"),
                    ("list-transient", "BOOL", "", "list only transient domains"),
                    ("list-running", "BOOL", "", "list only running domains"),
                    ("list-paused", "BOOL", "", "list only paused domains"),
                    ("list-shutoff", "BOOL", "", "list only shutoff domains"),
                    ("list-other", "BOOL", "", "list only domains in other states"),
                    ("raw", "BOOL", "", "do not pretty-print the fields"),
                    ("enforce", "BOOL", "", "enforce requested stats parameters"),
                    ("backing", "BOOL", "", "add backing chain information to block stats"),
                    ("nowait", "BOOL", "", "report only stats that are accessible instantly"),
                    ("domain", "ARGV", "", "list of domains to get stats for"),
                ),
            ),
            "list": (
                "list domains",
                "Returns list of domains.",
                (
                    ("inactive", "BOOL", "", "list inactive domains"),
                    ("all", "BOOL", "", "list inactive & active domains"),
                    ("transient", "BOOL", "", "list transient domains"),
                    ("persistent", "BOOL", "", "list persistent domains"),
                    ("with-snapshot", "BOOL", "", "list domains with existing snapshot"),
                    ("without-snapshot", "BOOL", "", "list domains without a snapshot"),
                    ("with-checkpoint", "BOOL", "", "list domains with existing checkpoint"),
                    ("without-checkpoint", "BOOL", "", "list domains without a checkpoint"),
                    ("state-running", "BOOL", "", "list domains in running state"),
                    ("state-paused", "BOOL", "", "list domains in paused state"),
                    ("state-shutoff", "BOOL", "", "list domains in shutoff state"),
                    ("state-other", "BOOL", "", "list domains in other states"),
                    ("autostart", "BOOL", "", "list domains with autostart enabled"),
                    ("no-autostart", "BOOL", "", "list domains with autostart disabled"),
                    ("with-managed-save", "BOOL", "", "list domains with managed save state"),
                    ("without-managed-save", "BOOL", "", "list domains without managed save"),
                    ("uuid", "BOOL", "", "list uuid's only"),
                    ("name", "BOOL", "", "list domain names only"),
                    ("id", "BOOL", "", "list domain IDs only"),
                    ("table", "BOOL", "", "list table (default)"),
                    ("managed-save", "BOOL", "", "mark inactive domains with managed save state"),
                    ("title", "BOOL", "", "show domain title"),
                ),
            ),
        },
    )
)

_META_IMPACT = (
    ("live", "BOOL", "", "modify/get running state"),
    ("config", "BOOL", "", "modify/get persistent configuration"),
    ("current", "BOOL", "", "modify/get current state configuration"),
)
GROUPS.append(
    (
        "Domain Management",
        "domain",
        "domupdate",
        {
            "change-media": (
                "Change media of CD or floppy drive",
                "Change media of CD or floppy drive.",
                (
                    _DOM,
                    ("path", "DATA", "REQ", "Fully-qualified path or target of disk device"),
                    ("source", "STRING", "", "source of the media"),
                    ("eject", "BOOL", "", "Eject the media"),
                    ("insert", "BOOL", "", "Insert the media"),
                    ("update", "BOOL", "", "Update the media"),
                    ("current", "BOOL", "", "can be either or both of --live and --config, depends on implementation hypervisor driver"),
                    ("live", "BOOL", "", "alter live configuration of running domain"),
                    ("config", "BOOL", "", "alter persistent configuration, effect observed on next boot"),
                    ("force", "BOOL", "", "force media changing"),
                    ("print-xml", "BOOL", "", "print XML document rather than change media"),
                    ("block", "BOOL", "", "source media is a block device"),
                ),
            ),
            "desc": (
                "show or set domain's description or title",
                "Allows setting or modifying the description or title of a domain.",
                (
                    _DOM,
                    *_META_IMPACT,
                    ("title", "BOOL", "", "modify/get the title instead of description"),
                    ("edit", "BOOL", "", "open an editor to modify the description"),
                    ("new-desc", "ARGV", "", "message"),
                ),
            ),
            "domif-setlink": (
                "set link state of a virtual interface",
                "Set link state of a domain's virtual interface. This command wraps usage of update-device command.",
                (
                    _DOM,
                    ("interface", "DATA", "REQ", "interface device (MAC Address)"),
                    ("state", "DATA", "REQ", "new state of the device"),
                    ("config", "BOOL", "", "affect next boot"),
                    ("print-xml", "BOOL", "", "print XML document rather than set the interface link state"),
                ),
            ),
            "metadata": (
                "show or set domain's custom XML metadata",
                "Shows or modifies the XML metadata of a domain.",
                (
                    _DOM,
                    ("uri", "DATA", "REQ", "URI of the namespace"),
                    *_META_IMPACT,
                    ("edit", "BOOL", "", "use an editor to change the metadata"),
                    ("key", "STRING", "", "key to be used as a namespace identifier"),
                    ("set", "STRING", "", "new metadata to set"),
                    ("remove", "BOOL", "", "remove the metadata corresponding to an uri"),
                ),
            ),
            "update-device": (
                "update device from an XML file",
                "Update device from an XML <file>.",
                (
                    _DOM,
                    ("file", "DATA", "REQ", "XML file"),
                    ("persistent", "BOOL", "", "make live change persistent"),
                    ("config", "BOOL", "", "affect next boot"),
                    ("live", "BOOL", "", "affect running domain"),
                    ("current", "BOOL", "", "affect current domain"),
                    ("force", "BOOL", "", "force device update"),
                ),
            ),
        },
    )
)
GROUPS.append(
    (
        "Domain Monitoring",
        "monitor",
        "domupdate",
        {
            "domif-getlink": (
                "get link state of a virtual interface",
                "Get link state of a domain's virtual interface.",
                (
                    _DOM,
                    ("interface", "DATA", "REQ", "interface device (MAC Address)"),
                    ("config", "BOOL", "", "Get persistent interface state"),
                ),
            ),
        },
    )
)

# The guest-side monitoring commands of virsh's "Domain Monitoring" group, also in cli/domtuning.py.
GROUPS.append(
    (
        "Domain Monitoring",
        "monitor",
        "domtuning",
        {
            "domblkerror": (
                "Show errors on block devices",
                "Show block device errors",
                (_DOM,),
            ),
            "domtime": (
                "domain time",
                "Gets or sets the domain's system time",
                (
                    _DOM,
                    ("now", "BOOL", "", "set to the time of the host running virsh"),
                    ("pretty", "BOOL", "", "print domain's time in human readable form"),
                    ("sync", "BOOL", "", "instead of setting given time, synchronize from domain's RTC"),
                    ("time", "INT", "", "time to set"),
                ),
            ),
        },
    )
)


GROUPS.append(
    (
        "Domain Events",
        "events",
        "events",
        {
            "event": (
                "Domain Events",
                "List event types, or wait for domain events to occur",
                (
                    ("domain", "STRING", "", "filter by domain name, id or uuid"),
                    ("event", "STRING", "", "which event type to wait for"),
                    ("all", "BOOL", "", "wait for all events instead of just one type"),
                    ("loop", "BOOL", "", "loop until timeout or interrupt, rather than one-shot"),
                    ("timeout", "INT", "", "timeout seconds"),
                    ("list", "BOOL", "", "list valid event types"),
                    ("timestamp", "BOOL", "", "show timestamp for each printed event"),
                ),
            ),
        },
    )
)

GROUPS.append(
    (
        "Networking",
        "network",
        "network",
        {
            "net-autostart": (
                "autostart a network",
                "Configure a network to be automatically started at boot.",
                (
                    ("network", "DATA", "REQ", "network name or uuid"),
                    ("disable", "BOOL", "", "disable autostarting"),
                ),
            ),
            "net-create": (
                "create a network from an XML file",
                "Create a network.",
                (
                    ("file", "DATA", "REQ", "file containing an XML network description"),
                    ("validate", "BOOL", "", "validate the XML against the schema"),
                ),
            ),
            "net-define": (
                "define an inactive persistent virtual network or modify an existing persistent one from an XML file",
                "Define or modify a persistent virtual network.",
                (
                    ("file", "DATA", "REQ", "file containing an XML network description"),
                    ("validate", "BOOL", "", "validate the XML against the schema"),
                ),
            ),
            "net-destroy": (
                "destroy (stop) a network",
                "Forcefully stop a given network.",
                (("network", "DATA", "REQ", "network name or uuid"),),
            ),
            "net-dhcp-leases": (
                "print lease info for a given network",
                "Print lease info for a given network",
                (
                    ("network", "DATA", "REQ", "network name or uuid"),
                    ("mac", "STRING", "", "MAC address"),
                ),
            ),
            "net-dumpxml": (
                "network information in XML",
                "Output the network information as an XML dump to stdout.",
                (
                    ("network", "DATA", "REQ", "network name or uuid"),
                    ("inactive", "BOOL", "", "show inactive defined XML"),
                    ("xpath", "STRING", "REQ_OPT", "xpath expression to filter the XML document"),
                    ("wrap", "BOOL", "", "wrap xpath results in an common root element"),
                ),
            ),
            "net-edit": (
                "edit XML configuration for a network",
                "Edit the XML configuration for a network.",
                (("network", "DATA", "REQ", "network name or uuid"),),
            ),
            "net-event": (
                "Network Events",
                "List event types, or wait for network events to occur",
                (
                    ("network", "STRING", "", "filter by network name or uuid"),
                    ("event", "STRING", "", "which event type to wait for"),
                    ("loop", "BOOL", "", "loop until timeout or interrupt, rather than one-shot"),
                    ("timeout", "INT", "", "timeout seconds"),
                    ("list", "BOOL", "", "list valid event types"),
                    ("timestamp", "BOOL", "", "show timestamp for each printed event"),
                ),
            ),
            "net-info": (
                "network information",
                "Returns basic information about the network",
                (("network", "DATA", "REQ", "network name or uuid"),),
            ),
            "net-list": (
                "list networks",
                "Returns list of networks.",
                (
                    ("inactive", "BOOL", "", "list inactive networks"),
                    ("all", "BOOL", "", "list inactive & active networks"),
                    ("persistent", "BOOL", "", "list persistent networks"),
                    ("transient", "BOOL", "", "list transient networks"),
                    ("autostart", "BOOL", "", "list networks with autostart enabled"),
                    ("no-autostart", "BOOL", "", "list networks with autostart disabled"),
                    ("uuid", "BOOL", "", "list uuid's only"),
                    ("name", "BOOL", "", "list network names only"),
                    ("table", "BOOL", "", "list table (default)"),
                ),
            ),
            "net-name": (
                "convert a network UUID to network name",
                None,
                (("network", "DATA", "REQ", "network uuid"),),
            ),
            "net-start": (
                "start a (previously defined) inactive network",
                "Start a network.",
                (("network", "DATA", "REQ", "network name or uuid"),),
            ),
            "net-undefine": (
                "undefine a persistent network",
                "Undefine the configuration for a persistent network.",
                (("network", "DATA", "REQ", "network name or uuid"),),
            ),
            "net-update": (
                "update parts of an existing network's configuration",
                "Update part of an existing network's configuration.",
                (
                    ("network", "DATA", "REQ", "network name or uuid"),
                    ("command", "DATA", "REQ",
                     "type of update (add-first, add-last (add), delete, or modify)"),
                    ("section", "DATA", "REQ",
                     "which section of network configuration to update"),
                    ("xml", "DATA", "REQ",
                     "name of file containing xml (or, if it starts with '<', the complete xml "
                     "element itself) to add/modify, or to be matched for search"),
                    ("parent-index", "INT", "", "which parent object to search through"),
                    ("config", "BOOL", "", "affect next network startup"),
                    ("live", "BOOL", "", "affect running network"),
                    ("current", "BOOL", "", "affect current state of network"),
                ),
            ),
            "net-uuid": (
                "convert a network name to network UUID",
                None,
                (("network", "DATA", "REQ", "network name"),),
            ),
            "net-port-list": (
                "list network ports",
                "Returns list of network ports.",
                (
                    ("network", "DATA", "REQ", "network name or uuid"),
                    ("uuid", "BOOL", "", "list uuid's only"),
                    ("table", "BOOL", "", "list table (default)"),
                ),
            ),
            "net-port-create": (
                "create a network port from an XML file",
                "Create a network port.",
                (
                    ("network", "DATA", "REQ", "network name or uuid"),
                    ("file", "DATA", "REQ", "file containing an XML network port description"),
                    ("validate", "BOOL", "", "validate the XML against the schema"),
                ),
            ),
            "net-port-dumpxml": (
                "network port information in XML",
                "Output the network port information as an XML dump to stdout.",
                (
                    ("network", "DATA", "REQ", "network name or uuid"),
                    ("port", "DATA", "REQ", "port UUID"),
                    ("xpath", "STRING", "REQ_OPT", "xpath expression to filter the XML document"),
                    ("wrap", "BOOL", "", "wrap xpath results in an common root element"),
                ),
            ),
            "net-port-delete": (
                "delete the specified network port",
                "Delete the specified network port.",
                (
                    ("network", "DATA", "REQ", "network name or uuid"),
                    ("port", "DATA", "REQ", "port UUID"),
                ),
            ),
        },
    )
)

GROUPS.append(
    (
        "Interface",
        "interface",
        "interface",
        {
            "iface-begin": (
                "create a snapshot of current interfaces settings, which can be later committed (iface-commit) or restored (iface-rollback)",
                "Create a restore point for interfaces settings",
                (),
            ),
            "iface-commit": (
                "commit changes made since iface-begin and free restore point",
                "commit changes and free restore point",
                (),
            ),
            "iface-define": (
                "define an inactive persistent physical host interface or modify an existing persistent one from an XML file",
                "Define or modify a persistent physical host interface.",
                (
                    ("file", "DATA", "REQ", "file containing an XML interface description"),
                    ("validate", "BOOL", "", "validate the XML against the schema"),
                ),
            ),
            "iface-destroy": (
                "destroy a physical host interface (disable it / \"if-down\")",
                "forcefully stop a physical host interface.",
                (("interface", "DATA", "REQ", "interface name or MAC address"),),
            ),
            "iface-dumpxml": (
                "interface information in XML",
                "Output the physical host interface information as an XML dump to stdout.",
                (
                    ("interface", "DATA", "REQ", "interface name or MAC address"),
                    ("inactive", "BOOL", "", "show inactive defined XML"),
                    ("xpath", "STRING", "", "xpath expression to filter the XML document"),
                    ("wrap", "BOOL", "", "wrap xpath results in an common root element"),
                ),
            ),
            "iface-list": (
                "list physical host interfaces",
                "Returns list of physical host interfaces.",
                (
                    ("inactive", "BOOL", "", "list inactive interfaces"),
                    ("all", "BOOL", "", "list inactive & active interfaces"),
                ),
            ),
            "iface-mac": (
                "convert an interface name to interface MAC address",
                None,
                (("interface", "DATA", "REQ", "interface name"),),
            ),
            "iface-name": (
                "convert an interface MAC address to interface name",
                None,
                (("interface", "DATA", "REQ", "interface mac"),),
            ),
            "iface-rollback": (
                "rollback to previous saved configuration created via iface-begin",
                "rollback to previous restore point",
                (),
            ),
            "iface-start": (
                "start a physical host interface (enable it / \"if-up\")",
                "start a physical host interface.",
                (("interface", "DATA", "REQ", "interface name or MAC address"),),
            ),
            "iface-undefine": (
                "undefine a physical host interface (remove it from configuration)",
                "undefine an interface.",
                (("interface", "DATA", "REQ", "interface name or MAC address"),),
            ),
        },
    )
)

GROUPS.append(
    (
        "Network Filter",
        "filter",
        "nwfilter",
        {
            "nwfilter-define": (
                "define or update a network filter from an XML file",
                "Define a new network filter or update an existing one.",
                (
                    ("file", "DATA", "REQ", "file containing an XML network filter description"),
                    ("validate", "BOOL", "", "validate the XML against the schema"),
                ),
            ),
            "nwfilter-dumpxml": (
                "network filter information in XML",
                "Output the network filter information as an XML dump to stdout.",
                (
                    ("nwfilter", "DATA", "REQ", "network filter name or uuid"),
                    ("xpath", "STRING", "", "xpath expression to filter the XML document"),
                    ("wrap", "BOOL", "", "wrap xpath results in an common root element"),
                ),
            ),
            "nwfilter-edit": (
                "edit XML configuration for a network filter",
                "Edit the XML configuration for a network filter.",
                (("nwfilter", "DATA", "REQ", "network filter name or uuid"),),
            ),
            "nwfilter-list": ("list network filters", "Returns list of network filters.", ()),
            "nwfilter-undefine": (
                "undefine a network filter",
                "Undefine a given network filter.",
                (("nwfilter", "DATA", "REQ", "network filter name or uuid"),),
            ),
            "nwfilter-binding-create": (
                "create a network filter binding from an XML file",
                "Create a new network filter binding.",
                (
                    ("file", "DATA", "REQ",
                     "file containing an XML network filter binding description"),
                    ("validate", "BOOL", "", "validate the XML against the schema"),
                ),
            ),
            "nwfilter-binding-delete": (
                "delete a network filter binding",
                "Delete a given network filter binding.",
                (("binding", "DATA", "REQ", "network filter binding port dev"),),
            ),
            "nwfilter-binding-dumpxml": (
                "network filter information in XML",
                "Output the network filter information as an XML dump to stdout.",
                (
                    ("binding", "DATA", "REQ", "network filter binding portdev"),
                    ("xpath", "STRING", "", "xpath expression to filter the XML document"),
                    ("wrap", "BOOL", "", "wrap xpath results in an common root element"),
                ),
            ),
            "nwfilter-binding-list": (
                "list network filter bindings",
                "Returns list of network filter bindings.",
                (),
            ),
        },
    )
)

GROUPS.append(
    (
        "Node Device",
        "nodedev",
        "nodedev",
        {
            "nodedev-create": (
                "create a device defined by an XML file on the node",
                "Create a device on the node.  Note that this command creates devices on the physical host that can then be assigned to a virtual machine.",
                (
                    ("file", "DATA", "REQ", "file containing an XML description of the device"),
                    ("validate", "BOOL", "", "validate the XML against the schema"),
                ),
            ),
            "nodedev-destroy": (
                "destroy (stop) a device on the node",
                "Destroy a device on the node.  Note that this command destroys devices on the physical host",
                (
                    ("name", "ALIAS", "", "device"),
                    ("device", "DATA", "REQ", "device name or wwn pair in 'wwnn,wwpn' format"),
                ),
            ),
            "nodedev-dumpxml": (
                "node device details in XML",
                "Output the node device details as an XML dump to stdout.",
                (
                    ("device", "DATA", "REQ", "device name or wwn pair in 'wwnn,wwpn' format"),
                    ("xpath", "STRING", "", "xpath expression to filter the XML document"),
                    ("wrap", "BOOL", "", "wrap xpath results in an common root element"),
                ),
            ),
            "nodedev-list": (
                "enumerate devices on this host",
                "",
                (
                    ("tree", "BOOL", "", "list devices in a tree"),
                    ("cap", "STRING", "", "capability names, separated by comma"),
                    ("inactive", "BOOL", "", "list inactive devices"),
                    ("all", "BOOL", "", "list inactive & active devices"),
                ),
            ),
            "nodedev-event": (
                "Node Device Events",
                "List event types, or wait for node device events to occur",
                (
                    ("device", "STRING", "", "filter by node device name"),
                    ("event", "STRING", "", "which event type to wait for"),
                    ("loop", "BOOL", "", "loop until timeout or interrupt, rather than one-shot"),
                    ("timeout", "INT", "", "timeout seconds"),
                    ("list", "BOOL", "", "list valid event types"),
                    ("timestamp", "BOOL", "", "show timestamp for each printed event"),
                ),
            ),
            "nodedev-info": (
                "node device information",
                "Returns basic information about the node device",
                (("device", "DATA", "REQ", "device name or wwn pair in 'wwnn,wwpn' format"),),
            ),
            "nodedev-detach": (
                "detach node device from its device driver",
                "Detach node device from its device driver before assigning to a domain.",
                (
                    ("device", "DATA", "REQ", "device key"),
                    ("driver", "STRING", "", "pci device assignment backend driver (e.g. 'vfio' or 'xen')"),
                ),
            ),
            "nodedev-reattach": (
                "reattach node device to its device driver",
                "Reattach node device to its device driver once released by the domain.",
                (("device", "DATA", "REQ", "device key"),),
            ),
            "nodedev-reset": (
                "reset node device",
                "Reset node device before or after assigning to a domain.",
                (("device", "DATA", "REQ", "device key"),),
            ),
        },
    )
)

GROUPS.append(
    (
        "Secret",
        "secret",
        "secret",
        {
            "secret-define": (
                "define or modify a secret from an XML file",
                "Define or modify a secret.",
                (
                    ("file", "DATA", "REQ", "file containing secret attributes in XML"),
                    ("validate", "BOOL", "", "validate the XML against the schema"),
                ),
            ),
            "secret-dumpxml": (
                "secret attributes in XML",
                "Output attributes of a secret as an XML dump to stdout.",
                (
                    ("secret", "DATA", "REQ", "secret UUID"),
                    ("xpath", "STRING", "", "xpath expression to filter the XML document"),
                    ("wrap", "BOOL", "", "wrap xpath results in an common root element"),
                ),
            ),
            "secret-event": (
                "Secret Events",
                "List event types, or wait for secret events to occur",
                (
                    ("secret", "STRING", "", "filter by secret name or uuid"),
                    ("event", "STRING", "", "which event type to wait for"),
                    ("loop", "BOOL", "", "loop until timeout or interrupt, rather than one-shot"),
                    ("timeout", "INT", "", "timeout seconds"),
                    ("list", "BOOL", "", "list valid event types"),
                    ("timestamp", "BOOL", "", "show timestamp for each printed event"),
                ),
            ),
            "secret-get-value": (
                "Output a secret value",
                "Output a secret value to stdout.",
                (
                    ("secret", "DATA", "REQ", "secret UUID"),
                    ("plain", "BOOL", "", "get value without converting to base64"),
                ),
            ),
            "secret-list": (
                "list secrets",
                "Returns a list of secrets",
                (
                    ("ephemeral", "BOOL", "", "list ephemeral secrets"),
                    ("no-ephemeral", "BOOL", "", "list non-ephemeral secrets"),
                    ("private", "BOOL", "", "list private secrets"),
                    ("no-private", "BOOL", "", "list non-private secrets"),
                ),
            ),
            "secret-set-value": (
                "set a secret value",
                "Set a secret value.",
                (
                    ("secret", "DATA", "REQ", "secret UUID"),
                    ("file", "STRING", "", "read secret from file"),
                    ("plain", "BOOL", "", "read the secret from file without converting from base64"),
                    ("interactive", "BOOL", "", "read the secret from the terminal"),
                    ("base64", "STRING", "", "base64-encoded secret value"),
                ),
            ),
            "secret-undefine": (
                "undefine a secret",
                "Undefine a secret.",
                (("secret", "DATA", "REQ", "secret UUID"),),
            ),
        },
    )
)

GROUPS.append(
    (
        "Snapshot",
        "snapshot",
        "snapshot",
        {
            "snapshot-create-as": (
                "Create a snapshot from a set of args",
                "Create a snapshot (disk and RAM) from arguments",
                (
                    ("domain", "DATA", "REQ", "domain name, id or uuid"),
                    ("name", "STRING", "", "name of snapshot"),
                    ("description", "STRING", "", "description of snapshot"),
                    ("print-xml", "BOOL", "", "print XML document rather than create"),
                    ("no-metadata", "BOOL", "", "take snapshot but create no metadata"),
                    ("halt", "BOOL", "", "halt domain after snapshot is created"),
                    ("disk-only", "BOOL", "", "capture disk state but not vm state"),
                    ("reuse-external", "BOOL", "", "reuse any existing external files"),
                    ("quiesce", "BOOL", "", "quiesce guest's file systems"),
                    ("atomic", "BOOL", "", "require atomic operation"),
                    ("live", "BOOL", "", "take a live snapshot"),
                    ("validate", "BOOL", "", "validate the XML against the schema"),
                    (
                        "memspec",
                        "STRING",
                        "REQ_OPT",
                        "memory attributes: [file=]name[,snapshot=type]",
                    ),
                    (
                        "diskspec",
                        "ARGV",
                        "",
                        "disk attributes: disk[,snapshot=type][,driver=type][,stype=type][,file=name]",
                    ),
                ),
            ),
            "snapshot-current": (
                "Get or set the current snapshot",
                "Get or set the current snapshot",
                (
                    ("domain", "DATA", "REQ", "domain name, id or uuid"),
                    ("name", "BOOL", "", "list the name, rather than the full xml"),
                    (
                        "security-info",
                        "BOOL",
                        "",
                        "include security sensitive information in XML dump",
                    ),
                    ("snapshotname", "STRING", "", "name of existing snapshot to make current"),
                ),
            ),
            "snapshot-delete": (
                "Delete a domain snapshot",
                "Snapshot Delete",
                (
                    ("domain", "DATA", "REQ", "domain name, id or uuid"),
                    ("snapshotname", "STRING", "", "snapshot name"),
                    ("current", "BOOL", "", "delete current snapshot"),
                    ("children", "BOOL", "", "delete snapshot and all children"),
                    ("children-only", "BOOL", "", "delete children but not snapshot"),
                    (
                        "metadata",
                        "BOOL",
                        "",
                        "delete only libvirt metadata, leaving snapshot contents behind",
                    ),
                ),
            ),
            "snapshot-list": (
                "List snapshots for a domain",
                "Snapshot List",
                (
                    ("domain", "DATA", "REQ", "domain name, id or uuid"),
                    ("parent", "BOOL", "", "add a column showing parent snapshot"),
                    ("roots", "BOOL", "", "list only snapshots without parents"),
                    ("leaves", "BOOL", "", "list only snapshots without children"),
                    (
                        "no-leaves",
                        "BOOL",
                        "",
                        "list only snapshots that are not leaves (with children)",
                    ),
                    (
                        "metadata",
                        "BOOL",
                        "",
                        "list only snapshots that have metadata that would prevent undefine",
                    ),
                    (
                        "no-metadata",
                        "BOOL",
                        "",
                        "list only snapshots that have no metadata managed by libvirt",
                    ),
                    ("inactive", "BOOL", "", "filter by snapshots taken while inactive"),
                    (
                        "active",
                        "BOOL",
                        "",
                        "filter by snapshots taken while active (full system snapshots)",
                    ),
                    ("disk-only", "BOOL", "", "filter by disk-only snapshots"),
                    ("internal", "BOOL", "", "filter by internal snapshots"),
                    ("external", "BOOL", "", "filter by external snapshots"),
                    ("tree", "BOOL", "", "list snapshots in a tree"),
                    ("from", "STRING", "", "limit list to children of given snapshot"),
                    ("current", "BOOL", "", "limit list to children of current snapshot"),
                    ("descendants", "BOOL", "", "with --from, list all descendants"),
                    ("name", "BOOL", "", "list snapshot names only"),
                    ("topological", "BOOL", "", "sort list topologically rather than by name"),
                ),
            ),
            "snapshot-revert": (
                "Revert a domain to a snapshot",
                "Revert domain to snapshot",
                (
                    ("domain", "DATA", "REQ", "domain name, id or uuid"),
                    ("snapshotname", "STRING", "", "snapshot name"),
                    ("current", "BOOL", "", "revert to current snapshot"),
                    ("running", "BOOL", "", "after reverting, change state to running"),
                    ("paused", "BOOL", "", "after reverting, change state to paused"),
                    ("force", "BOOL", "", "try harder on risky reverts"),
                    ("reset-nvram", "BOOL", "", "re-initialize NVRAM from its pristine template"),
                ),
            ),
        },
    )
)

_POOL_ARG = ("pool", "DATA", "REQ", "pool name or uuid")
_VOL_ARG = ("vol", "DATA", "REQ", "vol name, key or path")
_POOL_OPT = ("pool", "STRING", "", "pool name or uuid")
_BUILD_OPTS = (
    ("build", "BOOL", "", "build the pool as normal"),
    ("no-overwrite", "BOOL", "", "do not overwrite any existing data"),
    ("overwrite", "BOOL", "", "overwrite any existing data"),
)
_PREALLOC = ("prealloc-metadata", "BOOL", "", "preallocate metadata (for qcow2 instead of full allocation)")
_VALIDATE = ("validate", "BOOL", "", "validate the XML against the schema")
_STORAGE = "to be used for underlying storage"
_VHBA = "to be used for underlying vHBA storage"
# virsh's VIRSH_COMMON_OPT_POOL_X_AS: the options of pool-create-as and pool-define-as
_POOL_X_AS = (
    ("name", "DATA", "REQ", "name of the pool"),
    ("type", "DATA", "REQ", "type of the pool"),
    ("print-xml", "BOOL", "", "print XML document, but don't define/create"),
    ("source-host", "STRING", "", "source-host for underlying storage"),
    ("source-path", "STRING", "", "source path for underlying storage"),
    ("source-dev", "STRING", "", "source device for underlying storage"),
    ("source-name", "STRING", "", "source name for underlying storage"),
    ("target", "STRING", "", "target for underlying storage"),
    ("source-format", "STRING", "", "format for underlying storage"),
    ("auth-type", "STRING", "", f"auth type {_STORAGE}"),
    ("auth-username", "STRING", "", f"auth username {_STORAGE}"),
    ("secret-usage", "STRING", "", f"auth secret usage {_STORAGE}"),
    ("secret-uuid", "STRING", "", f"auth secret UUID {_STORAGE}"),
    ("adapter-name", "STRING", "", f"adapter name {_STORAGE}"),
    ("adapter-wwnn", "STRING", "", f"adapter wwnn {_STORAGE}"),
    ("adapter-wwpn", "STRING", "", f"adapter wwpn {_STORAGE}"),
    ("adapter-parent", "STRING", "", f"adapter parent scsi_hostN {_VHBA}"),
    ("adapter-parent-wwnn", "STRING", "", f"adapter parent scsi_hostN wwnn {_VHBA}"),
    ("adapter-parent-wwpn", "STRING", "", f"adapter parent scsi_hostN wwpn {_VHBA}"),
    ("adapter-parent-fabric-wwn", "STRING", "", f"adapter parent scsi_hostN fabric_wwn {_VHBA}"),
    ("source-protocol-ver", "STRING", "", "nfsvers value for NFS pool mount option"),
    ("source-initiator", "STRING", "", "initiator iqn for underlying storage"),
)

# Both storage groups in virsh's table order (that is the order `help pool` lists them in).
GROUPS.append(
    (
        "Storage Pool",
        "pool",
        "storage",
        {
            "find-storage-pool-sources-as": (
                "find potential storage pool sources",
                "Returns XML <sources> document.",
                (
                    ("type", "DATA", "REQ", "type of storage pool sources to find"),
                    ("host", "STRING", "", "optional host to query"),
                    ("port", "STRING", "", "optional port to query"),
                    ("initiator", "STRING", "", "optional initiator IQN to use for query"),
                ),
            ),
            "find-storage-pool-sources": (
                "discover potential storage pool sources",
                "Returns XML <sources> document.",
                (
                    ("type", "DATA", "REQ", "type of storage pool sources to discover"),
                    ("srcSpec", "STRING", "", "optional file of source xml to query for pools"),
                ),
            ),
            "pool-autostart": (
                "autostart a pool",
                "Configure a pool to be automatically started at boot.",
                (_POOL_ARG, ("disable", "BOOL", "", "disable autostarting")),
            ),
            "pool-build": (
                "build a pool",
                "Build a given pool.",
                (_POOL_ARG, *_BUILD_OPTS[1:]),
            ),
            "pool-create-as": (
                "create a pool from a set of args",
                "Create a pool.",
                (*_POOL_X_AS, *_BUILD_OPTS),
            ),
            "pool-create": (
                "create a pool from an XML file",
                "Create a pool.",
                (("file", "DATA", "REQ", "file containing an XML pool description"), *_BUILD_OPTS),
            ),
            "pool-define-as": (
                "define a pool from a set of args",
                "Define a pool.",
                _POOL_X_AS,
            ),
            "pool-define": (
                "define an inactive persistent storage pool or modify an existing persistent one from an XML file",
                "Define or modify a persistent storage pool.",
                (("file", "DATA", "REQ", "file containing an XML pool description"), _VALIDATE),
            ),
            "pool-delete": ("delete a pool", "Delete a given pool.", (_POOL_ARG,)),
            "pool-destroy": (
                "destroy (stop) a pool",
                "Forcefully stop a given pool. Raw data in the pool is untouched",
                (_POOL_ARG,),
            ),
            "pool-dumpxml": (
                "pool information in XML",
                "Output the pool information as an XML dump to stdout.",
                (
                    _POOL_ARG,
                    ("inactive", "BOOL", "", "show inactive defined XML"),
                    ("xpath", "STRING", "REQ_OPT", "xpath expression to filter the XML document"),
                    ("wrap", "BOOL", "", "wrap xpath results in an common root element"),
                ),
            ),
            "pool-edit": (
                "edit XML configuration for a storage pool",
                "Edit the XML configuration for a storage pool.",
                (_POOL_ARG,),
            ),
            "pool-info": (
                "storage pool information",
                "Returns basic information about the storage pool.",
                (_POOL_ARG, ("bytes", "BOOL", "", "Return pool info in bytes")),
            ),
            "pool-list": (
                "list pools",
                "Returns list of pools.",
                (
                    ("inactive", "BOOL", "", "list inactive pools"),
                    ("all", "BOOL", "", "list inactive & active pools"),
                    ("transient", "BOOL", "", "list transient pools"),
                    ("persistent", "BOOL", "", "list persistent pools"),
                    ("autostart", "BOOL", "", "list pools with autostart enabled"),
                    ("no-autostart", "BOOL", "", "list pools with autostart disabled"),
                    ("type", "STRING", "", "only list pool of specified type(s) (if supported)"),
                    ("details", "BOOL", "", "display extended details for pools"),
                    ("uuid", "BOOL", "", "list UUID of active pools only"),
                    ("name", "BOOL", "", "list name of active pools only"),
                ),
            ),
            "pool-name": ("convert a pool UUID to pool name", None, (_POOL_ARG,)),
            "pool-refresh": ("refresh a pool", "Refresh a given pool.", (_POOL_ARG,)),
            "pool-start": (
                "start a (previously defined) inactive pool",
                "Start a pool.",
                (_POOL_ARG, *_BUILD_OPTS),
            ),
            "pool-undefine": (
                "undefine an inactive pool",
                "Undefine the configuration for an inactive pool.",
                (_POOL_ARG,),
            ),
            "pool-uuid": ("convert a pool name to pool UUID", None, (_POOL_ARG,)),
            "pool-event": (
                "Storage Pool Events",
                "List event types, or wait for storage pool events to occur",
                (
                    ("pool", "STRING", "", "filter by storage pool name or uuid"),
                    ("event", "STRING", "", "which event type to wait for"),
                    ("loop", "BOOL", "", "loop until timeout or interrupt, rather than one-shot"),
                    ("timeout", "INT", "", "timeout seconds"),
                    ("list", "BOOL", "", "list valid event types"),
                    ("timestamp", "BOOL", "", "show timestamp for each printed event"),
                ),
            ),
            "pool-capabilities": (
                "storage pool capabilities",
                "Returns capabilities of storage pool support.",
                (),
            ),
        },
    )
)

GROUPS.append(
    (
        "Storage Volume",
        "volume",
        "storage",
        {
            "vol-clone": (
                "clone a volume.",
                "Clone an existing volume within the parent pool.",
                (
                    _VOL_ARG,
                    ("newname", "DATA", "REQ", "clone name"),
                    _POOL_OPT,
                    _PREALLOC,
                    ("reflink", "BOOL", "", "use btrfs COW lightweight copy"),
                    ("print-xml", "BOOL", "", "print XML document rather than clone the volume"),
                ),
            ),
            "vol-create-as": (
                "create a volume from a set of args",
                "Create a vol.",
                (
                    ("pool", "DATA", "REQ", "pool name"),
                    ("name", "DATA", "REQ", "name of the volume"),
                    ("capacity", "DATA", "REQ", "size of the vol, as scaled integer (default bytes)"),
                    ("allocation", "STRING", "", "initial allocation size, as scaled integer (default bytes)"),
                    ("format", "STRING", "", "file format type raw,bochs,qcow,qcow2,qed,vmdk"),
                    ("backing-vol", "STRING", "", "the backing volume if taking a snapshot"),
                    ("backing-vol-format", "STRING", "", "format of backing volume if taking a snapshot"),
                    _PREALLOC,
                    ("print-xml", "BOOL", "", "print XML document, but don't define/create"),
                ),
            ),
            "vol-create": (
                "create a vol from an XML file",
                "Create a vol.",
                (
                    ("pool", "DATA", "REQ", "pool name"),
                    ("file", "DATA", "REQ", "file containing an XML vol description"),
                    _PREALLOC,
                    _VALIDATE,
                ),
            ),
            "vol-create-from": (
                "create a vol, using another volume as input",
                "Create a vol from an existing volume.",
                (
                    _POOL_ARG,
                    ("file", "DATA", "REQ", "file containing an XML vol description"),
                    _VOL_ARG,
                    ("inputpool", "STRING", "", "pool name or uuid of the input volume's pool"),
                    _PREALLOC,
                    ("reflink", "BOOL", "", "use btrfs COW lightweight copy"),
                    _VALIDATE,
                ),
            ),
            "vol-delete": (
                "delete a vol",
                "Delete a given vol.",
                (
                    _VOL_ARG,
                    _POOL_OPT,
                    ("delete-snapshots", "BOOL", "", "delete snapshots associated with volume (must be supported by storage driver)"),
                ),
            ),
            "vol-download": (
                "download volume contents to a file",
                "Download volume contents to a file.",
                (
                    _VOL_ARG,
                    ("file", "DATA", "REQ", "file"),
                    _POOL_OPT,
                    ("offset", "INT", "", "volume offset to download from"),
                    ("length", "INT", "", "amount of data to download"),
                    ("sparse", "BOOL", "", "preserve sparseness of volume"),
                ),
            ),
            "vol-dumpxml": (
                "vol information in XML",
                "Output the vol information as an XML dump to stdout.",
                (
                    _VOL_ARG,
                    _POOL_OPT,
                    ("xpath", "STRING", "REQ_OPT", "xpath expression to filter the XML document"),
                    ("wrap", "BOOL", "", "wrap xpath results in an common root element"),
                ),
            ),
            "vol-info": (
                "storage vol information",
                "Returns basic information about the storage vol.",
                (
                    _VOL_ARG,
                    _POOL_OPT,
                    ("bytes", "BOOL", "", "sizes are represented in bytes rather than pretty units"),
                    ("physical", "BOOL", "", "return the physical size of the volume in allocation field"),
                ),
            ),
            "vol-key": (
                "returns the volume key for a given volume name or path",
                None,
                (("vol", "DATA", "REQ", "volume name or path"), _POOL_OPT),
            ),
            "vol-list": (
                "list vols",
                "Returns list of vols by pool.",
                (_POOL_ARG, ("details", "BOOL", "", "display extended details for volumes")),
            ),
            "vol-name": (
                "returns the volume name for a given volume key or path",
                None,
                (("vol", "DATA", "REQ", "volume key or path"),),
            ),
            "vol-path": (
                "returns the volume path for a given volume name or key",
                None,
                (("vol", "DATA", "REQ", "volume name or key"), _POOL_OPT),
            ),
            "vol-pool": (
                "returns the storage pool for a given volume key or path",
                None,
                (
                    ("vol", "DATA", "REQ", "volume key or path"),
                    ("uuid", "BOOL", "", "return the pool uuid rather than pool name"),
                ),
            ),
            "vol-resize": (
                "resize a vol",
                "Resizes a storage volume. This is safe only for storage volumes not in use by "
                "an active guest.\nSee blockresize for live resizing.",
                (
                    _VOL_ARG,
                    ("capacity", "DATA", "REQ", "new capacity for the vol, as scaled integer (default bytes)"),
                    _POOL_OPT,
                    ("allocate", "BOOL", "", "allocate the new capacity, rather than leaving it sparse"),
                    ("delta", "BOOL", "", "use capacity as a delta to current size, rather than the new size"),
                    ("shrink", "BOOL", "", "allow the resize to shrink the volume"),
                ),
            ),
            "vol-upload": (
                "upload file contents to a volume",
                "Upload file contents to a volume",
                (
                    _VOL_ARG,
                    ("file", "DATA", "REQ", "file"),
                    _POOL_OPT,
                    ("offset", "INT", "", "volume offset to upload to"),
                    ("length", "INT", "", "amount of data to upload"),
                    ("sparse", "BOOL", "", "preserve sparseness of volume"),
                ),
            ),
            "vol-wipe": (
                "wipe a vol",
                "Ensure data previously on a volume is not accessible to future reads",
                (_VOL_ARG, _POOL_OPT, ("algorithm", "STRING", "", "perform selected wiping algorithm")),
            ),
        },
    )
)


# virtkit's own (not virsh's): virtkitd's SASL user database; no connection needed.
_SASL_DB_OPT = ("db", "STRING", "", "the user database (default: /etc/libvirt/virtkit-sasl.db under $VIRTKIT_ROOT)")
GROUPS.append(
    (
        "SASL Users (virtkit)",
        "sasl",
        "sasl",
        {
            "sasl-user-add": (
                "add a SASL user or change its password",
                "Store a SCRAM-SHA-256 verifier (salted, never the password) for USER in virtkitd's SASL database. The password comes from --password-file (\"-\" = stdin), a prompt on a terminal, or the first line of stdin.",
                (
                    ("user", "DATA", "REQ", "user name"),
                    ("password-file", "STRING", "", "read the password from the first line of this file"),
                    ("iterations", "INT", "", "PBKDF2 iteration count (default 10000)"),
                    _SASL_DB_OPT,
                ),
            ),
            "sasl-user-delete": (
                "delete a SASL user",
                "Remove USER from virtkitd's SASL database.",
                (
                    ("user", "DATA", "REQ", "user name"),
                    _SASL_DB_OPT,
                ),
            ),
            "sasl-user-list": (
                "list SASL users",
                "List the users of virtkitd's SASL database.",
                (_SASL_DB_OPT,),
            ),
        },
    )
)


# virtkit's own (not virsh's): certificates for the TLS transport; no connection needed.
_PKI_COMMON = (
    ("days", "INT", "", "validity in days (default 3650 for the CA, 1095 otherwise)"),
    ("bits", "INT", "", "RSA key size in bits (default 3072)"),
    ("dir", "STRING", "", "write into this directory, as ?pkipath= reads it, instead of /etc/pki"),
    ("root", "STRING", "", "prefix for the /etc/pki layout (e.g. a virtkitd --root)"),
    ("force", "BOOL", "", "overwrite existing files"),
)
_PKI_CA_DIR = ("ca-dir", "STRING", "", "directory holding cacert.pem and cakey.pem (default: --dir, else /etc/pki/CA)")
GROUPS.append(
    (
        "TLS Certificates (virtkit)",
        "pki",
        "pki",
        {
            "pki-ca": (
                "create a certificate authority for TLS",
                "Create the CA that signs the server's and clients' TLS certificates: /etc/pki/CA/cacert.pem and /etc/pki/CA/private/cakey.pem (or cacert.pem and cakey.pem in --dir). Copy cacert.pem, never cakey.pem, to servers and clients.",
                (("dn", "STRING", "", "distinguished name of the CA (default O=virtkit,CN=virtkit CA)"), *_PKI_COMMON),
            ),
            "pki-server": (
                "issue a TLS server certificate",
                "Issue the server certificate (TLS Web Server, subjectAltName for every host name and address given) and its key: /etc/pki/libvirt/servercert.pem and /etc/pki/libvirt/private/serverkey.pem (or servercert.pem and serverkey.pem in --dir, with a copy of cacert.pem). Clients check the host name of their URI against it.",
                (
                    ("host", "DATA", "REQ", "host names and IP addresses of the server, comma separated"),
                    ("dn", "STRING", "", "distinguished name (default O=<the CA's O>,CN=<first host>)"),
                    _PKI_CA_DIR,
                    *_PKI_COMMON,
                ),
            ),
            "pki-qemu": (
                "issue QEMU's TLS certificates for migration",
                "Issue the server and client certificates QEMU uses for TLS migration (libvirt's migrate_tls_x509_cert_dir, /etc/pki/qemu): ca-cert.pem, server-cert.pem, server-key.pem, client-cert.pem and client-key.pem in /etc/pki/qemu under --root (or in --dir). The server certificate names every host name and address given, as the source checks them against the migration URI's host or --tls-destination.",
                (
                    ("host", "DATA", "REQ", "host names and IP addresses of this host, comma separated"),
                    ("client-dn", "STRING", "", "distinguished name of the client certificate (default O=<the CA's O>,CN=<first host>)"),
                    _PKI_CA_DIR,
                    *_PKI_COMMON,
                ),
            ),
            "pki-client": (
                "issue a TLS client certificate",
                "Issue a client certificate (TLS Web Client) with the distinguished name given, as tls_allowed_dn_list matches it, and its key: /etc/pki/libvirt/clientcert.pem and /etc/pki/libvirt/private/clientkey.pem (or clientcert.pem and clientkey.pem in --dir, with a copy of cacert.pem; ~/.pki/libvirt for a non-root user).",
                (
                    ("dn", "DATA", "REQ", "distinguished name, e.g. C=GB,O=Example,CN=admin"),
                    _PKI_CA_DIR,
                    *_PKI_COMMON,
                ),
            ),
        },
    )
)

_MIG_DOM = ("domain", "DATA", "REQ", "domain name, id or uuid")
GROUPS.append(
    (
        "Domain Management",
        "domain",
        "migrate",
        {
            "migrate": (
                "migrate domain to another host",
                "Migrate domain to another host.  Add --live for live migration.",
                (
                    _MIG_DOM,
                    ("desturi", "DATA", "REQ", "connection URI of the destination host as seen from the client(normal migration) or source(p2p migration)"),
                    ("live", "BOOL", "", "live migration"),
                    ("offline", "BOOL", "", "offline migration"),
                    ("p2p", "BOOL", "", "peer-2-peer migration"),
                    ("direct", "BOOL", "", "direct migration"),
                    ("tunneled", "ALIAS", "", "tunnelled"),
                    ("tunnelled", "BOOL", "", "tunnelled migration"),
                    ("persistent", "BOOL", "", "persist VM on destination"),
                    ("undefinesource", "BOOL", "", "undefine VM on source"),
                    ("suspend", "BOOL", "", "do not restart the domain on the destination host"),
                    ("copy-storage-all", "BOOL", "", "migration with non-shared storage with full disk copy"),
                    ("copy-storage-inc", "BOOL", "", "migration with non-shared storage with incremental copy (same base image shared between source and destination)"),
                    ("copy-storage-synchronous-writes", "BOOL", "", "force guest disk writes to be synchronously written to the destination to improve storage migration convergence"),
                    ("change-protection", "BOOL", "", "prevent any configuration changes to domain until migration ends"),
                    ("unsafe", "BOOL", "", "force migration even if it may be unsafe"),
                    ("verbose", "BOOL", "", "display the progress of migration"),
                    ("compressed", "BOOL", "", "compress repeated pages during live migration"),
                    ("auto-converge", "BOOL", "", "force convergence during live migration"),
                    ("rdma-pin-all", "BOOL", "", "pin all memory before starting RDMA live migration"),
                    ("abort-on-error", "BOOL", "", "abort on soft errors during migration"),
                    ("postcopy", "BOOL", "", "enable post-copy migration; switch to it using migrate-postcopy command"),
                    ("postcopy-after-precopy", "BOOL", "", "automatically switch to post-copy migration after one pass of pre-copy"),
                    ("postcopy-resume", "BOOL", "", "resume failed post-copy migration"),
                    ("zerocopy", "BOOL", "", "use zero-copy mechanism for migrating memory pages"),
                    ("migrateuri", "STRING", "", "migration URI, usually can be omitted"),
                    ("graphicsuri", "STRING", "", "graphics URI to be used for seamless graphics migration"),
                    ("listen-address", "STRING", "", "listen address that destination should bind to for incoming migration"),
                    ("dname", "STRING", "", "rename to new name during migration (if supported)"),
                    ("timeout", "INT", "", "run action specified by --timeout-* option (suspend by default) if live migration exceeds timeout (in seconds)"),
                    ("timeout-suspend", "BOOL", "", "suspend the guest after timeout"),
                    ("timeout-postcopy", "BOOL", "", "switch to post-copy after timeout"),
                    ("xml", "STRING", "", "filename containing updated XML for the target"),
                    ("migrate-disks", "STRING", "", "comma separated list of disks to be migrated"),
                    ("disks-port", "INT", "", "port to use by target server for incoming disks migration"),
                    ("disks-uri", "STRING", "", "URI to use for disks migration (overrides --disks-port)"),
                    ("comp-methods", "STRING", "", "comma separated list of compression methods to be used"),
                    ("comp-mt-level", "INT", "", "compress level for multithread compression"),
                    ("comp-mt-threads", "INT", "", "number of compression threads for multithread compression"),
                    ("comp-mt-dthreads", "INT", "", "number of decompression threads for multithread compression"),
                    ("comp-xbzrle-cache", "INT", "", "page cache size for xbzrle compression"),
                    ("auto-converge-initial", "INT", "", "initial CPU throttling rate for auto-convergence"),
                    ("auto-converge-increment", "INT", "", "CPU throttling rate increment for auto-convergence"),
                    ("persistent-xml", "STRING", "", "filename containing updated persistent XML for the target"),
                    ("tls", "BOOL", "", "use TLS for migration"),
                    ("postcopy-bandwidth", "INT", "", "post-copy migration bandwidth limit in MiB/s"),
                    ("parallel", "BOOL", "", "enable parallel migration"),
                    ("parallel-connections", "INT", "", "number of connections for parallel migration"),
                    ("bandwidth", "INT", "", "migration bandwidth limit in MiB/s"),
                    ("tls-destination", "STRING", "", "override the destination host name used for TLS verification"),
                ),
            ),
            "migrate-setmaxdowntime": (
                "set maximum tolerable downtime",
                "Set maximum tolerable downtime of a domain which is being live-migrated to another host.",
                (_MIG_DOM, ("downtime", "INT", "REQ", "maximum tolerable downtime (in milliseconds) for migration")),
            ),
            "migrate-getmaxdowntime": (
                "get maximum tolerable downtime",
                "Get maximum tolerable downtime of a domain which is being live-migrated to another host.",
                (_MIG_DOM,),
            ),
            "migrate-setspeed": (
                "Set the maximum migration bandwidth",
                "Set the maximum migration bandwidth (in MiB/s) for a domain which is being migrated to another host.",
                (_MIG_DOM, ("bandwidth", "INT", "REQ", "migration bandwidth limit in MiB/s"),
                 ("postcopy", "BOOL", "", "set post-copy migration bandwidth")),
            ),
            "migrate-getspeed": (
                "Get the maximum migration bandwidth",
                "Get the maximum migration bandwidth (in MiB/s) for a domain.",
                (_MIG_DOM, ("postcopy", "BOOL", "", "get post-copy migration bandwidth")),
            ),
            "migrate-compcache": (
                "get/set compression cache size",
                "Get/set size of the cache (in bytes) used for compressing repeatedly transferred memory pages during live migration.",
                (_MIG_DOM, ("size", "INT", "REQ_OPT", "requested size of the cache (in bytes) used for compression")),
            ),
            "migrate-postcopy": (
                "Switch running migration from pre-copy to post-copy",
                "Switch running migration from pre-copy to post-copy. The migration must have been started with --postcopy option.",
                (_MIG_DOM,),
            ),
        },
    )
)
