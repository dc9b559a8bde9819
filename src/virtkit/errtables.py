"""libvirt 9.0 error numbers, error domains and message templates (virterror.h, virerror.c)."""
# Generated from libvirt 9.0.0 include/libvirt/virterror.h and src/util/virerror.c: data only.
from enum import IntEnum


class ErrorCode(IntEnum):
    """virErrorNumber."""

    OK = 0
    INTERNAL_ERROR = 1
    NO_MEMORY = 2
    NO_SUPPORT = 3
    UNKNOWN_HOST = 4
    NO_CONNECT = 5
    INVALID_CONN = 6
    INVALID_DOMAIN = 7
    INVALID_ARG = 8
    OPERATION_FAILED = 9
    GET_FAILED = 10
    POST_FAILED = 11
    HTTP_ERROR = 12
    SEXPR_SERIAL = 13
    NO_XEN = 14
    XEN_CALL = 15
    OS_TYPE = 16
    NO_KERNEL = 17
    NO_ROOT = 18
    NO_SOURCE = 19
    NO_TARGET = 20
    NO_NAME = 21
    NO_OS = 22
    NO_DEVICE = 23
    NO_XENSTORE = 24
    DRIVER_FULL = 25
    CALL_FAILED = 26
    XML_ERROR = 27
    DOM_EXIST = 28
    OPERATION_DENIED = 29
    OPEN_FAILED = 30
    READ_FAILED = 31
    PARSE_FAILED = 32
    CONF_SYNTAX = 33
    WRITE_FAILED = 34
    XML_DETAIL = 35
    INVALID_NETWORK = 36
    NETWORK_EXIST = 37
    SYSTEM_ERROR = 38
    RPC = 39
    GNUTLS_ERROR = 40
    NO_DOMAIN = 42
    NO_NETWORK = 43
    INVALID_MAC = 44
    AUTH_FAILED = 45
    INVALID_STORAGE_POOL = 46
    INVALID_STORAGE_VOL = 47
    NO_STORAGE_POOL = 49
    NO_STORAGE_VOL = 50
    INVALID_NODE_DEVICE = 52
    NO_NODE_DEVICE = 53
    NO_SECURITY_MODEL = 54
    OPERATION_INVALID = 55
    NO_INTERFACE = 57
    INVALID_INTERFACE = 58
    MULTIPLE_INTERFACES = 59
    INVALID_NWFILTER = 61
    NO_NWFILTER = 62
    BUILD_FIREWALL = 63
    INVALID_SECRET = 65
    NO_SECRET = 66
    CONFIG_UNSUPPORTED = 67
    OPERATION_TIMEOUT = 68
    MIGRATE_PERSIST_FAILED = 69
    HOOK_SCRIPT_FAILED = 70
    INVALID_DOMAIN_SNAPSHOT = 71
    NO_DOMAIN_SNAPSHOT = 72
    INVALID_STREAM = 73
    ARGUMENT_UNSUPPORTED = 74
    STORAGE_PROBE_FAILED = 75
    STORAGE_POOL_BUILT = 76
    SNAPSHOT_REVERT_RISKY = 77
    OPERATION_ABORTED = 78
    AUTH_CANCELLED = 79
    NO_DOMAIN_METADATA = 80
    MIGRATE_UNSAFE = 81
    OVERFLOW = 82
    BLOCK_COPY_ACTIVE = 83
    OPERATION_UNSUPPORTED = 84
    SSH = 85
    AGENT_UNRESPONSIVE = 86
    RESOURCE_BUSY = 87
    ACCESS_DENIED = 88
    DBUS_SERVICE = 89
    STORAGE_VOL_EXIST = 90
    CPU_INCOMPATIBLE = 91
    XML_INVALID_SCHEMA = 92
    MIGRATE_FINISH_OK = 93
    AUTH_UNAVAILABLE = 94
    NO_SERVER = 95
    NO_CLIENT = 96
    AGENT_UNSYNCED = 97
    LIBSSH = 98
    DEVICE_MISSING = 99
    INVALID_NWFILTER_BINDING = 100
    NO_NWFILTER_BINDING = 101
    INVALID_DOMAIN_CHECKPOINT = 102
    NO_DOMAIN_CHECKPOINT = 103
    NO_DOMAIN_BACKUP = 104
    INVALID_NETWORK_PORT = 105
    NETWORK_PORT_EXIST = 106
    NO_NETWORK_PORT = 107
    NO_HOSTNAME = 108
    CHECKPOINT_INCONSISTENT = 109
    MULTIPLE_DOMAINS = 110


class ErrorDomain(IntEnum):
    """virErrorDomain."""

    NONE = 0
    XEN = 1
    XEND = 2
    XENSTORE = 3
    SEXPR = 4
    XML = 5
    DOM = 6
    RPC = 7
    PROXY = 8
    CONF = 9
    QEMU = 10
    NET = 11
    TEST = 12
    REMOTE = 13
    OPENVZ = 14
    XENXM = 15
    STATS_LINUX = 16
    LXC = 17
    STORAGE = 18
    NETWORK = 19
    DOMAIN = 20
    UML = 21
    NODEDEV = 22
    XEN_INOTIFY = 23
    SECURITY = 24
    VBOX = 25
    INTERFACE = 26
    ONE = 27
    ESX = 28
    PHYP = 29
    SECRET = 30
    CPU = 31
    XENAPI = 32
    NWFILTER = 33
    HOOK = 34
    DOMAIN_SNAPSHOT = 35
    AUDIT = 36
    SYSINFO = 37
    STREAMS = 38
    VMWARE = 39
    EVENT = 40
    LIBXL = 41
    LOCKING = 42
    HYPERV = 43
    CAPABILITIES = 44
    URI = 45
    AUTH = 46
    DBUS = 47
    PARALLELS = 48
    DEVICE = 49
    SSH = 50
    LOCKSPACE = 51
    INITCTL = 52
    IDENTITY = 53
    CGROUP = 54
    ACCESS = 55
    SYSTEMD = 56
    BHYVE = 57
    CRYPTO = 58
    FIREWALL = 59
    POLKIT = 60
    THREAD = 61
    ADMIN = 62
    LOGGING = 63
    XENXL = 64
    PERF = 65
    LIBSSH = 66
    RESCTRL = 67
    FIREWALLD = 68
    DOMAIN_CHECKPOINT = 69
    TPM = 70
    BPF = 71
    CH = 72


class ErrorLevel(IntEnum):
    """virErrorLevel."""

    NONE = 0
    WARNING = 1
    ERROR = 2


# code -> (message without detail, message template with one %s for the detail)
MESSAGES: dict[int, tuple[str, str]] = {
    ErrorCode.INTERNAL_ERROR: ('internal error', 'internal error: %s'),
    ErrorCode.NO_MEMORY: ('out of memory', 'out of memory: %s'),
    ErrorCode.NO_SUPPORT: ('this function is not supported by the connection driver', 'this function is not supported by the connection driver: %s'),
    ErrorCode.UNKNOWN_HOST: ('unknown host', 'unknown host %s'),
    ErrorCode.NO_CONNECT: ('no connection driver available', 'no connection driver available for %s'),
    ErrorCode.INVALID_CONN: ('invalid connection pointer in', 'invalid connection pointer in %s'),
    ErrorCode.INVALID_DOMAIN: ('invalid domain pointer in', 'invalid domain pointer in %s'),
    ErrorCode.INVALID_ARG: ('invalid argument', 'invalid argument: %s'),
    ErrorCode.OPERATION_FAILED: ('operation failed', 'operation failed: %s'),
    ErrorCode.GET_FAILED: ('GET operation failed', 'GET operation failed: %s'),
    ErrorCode.POST_FAILED: ('POST operation failed', 'POST operation failed: %s'),
    ErrorCode.HTTP_ERROR: ('got unknown HTTP error code', 'got unknown HTTP error code %s'),
    ErrorCode.SEXPR_SERIAL: ('failed to serialize S-Expr', 'failed to serialize S-Expr: %s'),
    ErrorCode.NO_XEN: ('could not use Xen hypervisor entry', 'could not use Xen hypervisor entry %s'),
    ErrorCode.XEN_CALL: ('failed Xen syscall', 'failed Xen syscall %s'),
    ErrorCode.OS_TYPE: ('unknown OS type', 'unknown OS type %s'),
    ErrorCode.NO_KERNEL: ('missing kernel information', 'missing kernel information: %s'),
    ErrorCode.NO_ROOT: ('missing root device information', 'missing root device information in %s'),
    ErrorCode.NO_SOURCE: ('missing source information for device', 'missing source information for device %s'),
    ErrorCode.NO_TARGET: ('missing target information for device', 'missing target information for device %s'),
    ErrorCode.NO_NAME: ('missing name information', 'missing name information in %s'),
    ErrorCode.NO_OS: ('missing operating system information', 'missing operating system information for %s'),
    ErrorCode.NO_DEVICE: ('missing devices information', 'missing devices information for %s'),
    ErrorCode.NO_XENSTORE: ('could not connect to Xen Store', 'could not connect to Xen Store %s'),
    ErrorCode.DRIVER_FULL: ('too many drivers registered', 'too many drivers registered in %s'),
    ErrorCode.CALL_FAILED: ('library call failed', 'library call failed: %s'),
    ErrorCode.XML_ERROR: ('XML description is invalid or not well formed', 'XML error: %s'),
    ErrorCode.DOM_EXIST: ('this domain exists already', 'domain %s exists already'),
    ErrorCode.OPERATION_DENIED: ('operation forbidden for read only access', 'operation forbidden: %s'),
    ErrorCode.OPEN_FAILED: ('failed to open configuration file', 'failed to open configuration file %s'),
    ErrorCode.READ_FAILED: ('failed to read configuration file', 'failed to read configuration file %s'),
    ErrorCode.PARSE_FAILED: ('failed to parse configuration file', 'failed to parse configuration file %s'),
    ErrorCode.CONF_SYNTAX: ('configuration file syntax error', 'configuration file syntax error: %s'),
    ErrorCode.WRITE_FAILED: ('failed to write configuration file', 'failed to write configuration file: %s'),
    ErrorCode.INVALID_NETWORK: ('invalid network pointer in', 'invalid network pointer in %s'),
    ErrorCode.NETWORK_EXIST: ('this network exists already', 'network %s exists already'),
    ErrorCode.NO_DOMAIN: ('Domain not found', 'Domain not found: %s'),
    ErrorCode.NO_NETWORK: ('Network not found', 'Network not found: %s'),
    ErrorCode.INVALID_MAC: ('invalid MAC address', 'invalid MAC address: %s'),
    ErrorCode.AUTH_FAILED: ('authentication failed', 'authentication failed: %s'),
    ErrorCode.INVALID_STORAGE_POOL: ('invalid storage pool pointer in', 'invalid storage pool pointer in %s'),
    ErrorCode.INVALID_STORAGE_VOL: ('invalid storage volume pointer in', 'invalid storage volume pointer in %s'),
    ErrorCode.NO_STORAGE_POOL: ('Storage pool not found', 'Storage pool not found: %s'),
    ErrorCode.NO_STORAGE_VOL: ('Storage volume not found', 'Storage volume not found: %s'),
    ErrorCode.INVALID_NODE_DEVICE: ('invalid node device pointer', 'invalid node device pointer in %s'),
    ErrorCode.NO_NODE_DEVICE: ('Node device not found', 'Node device not found: %s'),
    ErrorCode.NO_SECURITY_MODEL: ('Security model not found', 'Security model not found: %s'),
    ErrorCode.OPERATION_INVALID: ('Requested operation is not valid', 'Requested operation is not valid: %s'),
    ErrorCode.NO_INTERFACE: ('Interface not found', 'Interface not found: %s'),
    ErrorCode.INVALID_INTERFACE: ('invalid interface pointer in', 'invalid interface pointer in %s'),
    ErrorCode.MULTIPLE_INTERFACES: ('multiple matching interfaces found', 'multiple matching interfaces found: %s'),
    ErrorCode.INVALID_NWFILTER: ('Invalid network filter', 'Invalid network filter: %s'),
    ErrorCode.NO_NWFILTER: ('Network filter not found', 'Network filter not found: %s'),
    ErrorCode.BUILD_FIREWALL: ('Error while building firewall', 'Error while building firewall: %s'),
    ErrorCode.INVALID_SECRET: ('Invalid secret', 'Invalid secret: %s'),
    ErrorCode.NO_SECRET: ('Secret not found', 'Secret not found: %s'),
    ErrorCode.CONFIG_UNSUPPORTED: ('unsupported configuration', 'unsupported configuration: %s'),
    ErrorCode.OPERATION_TIMEOUT: ('Timed out during operation', 'Timed out during operation: %s'),
    ErrorCode.MIGRATE_PERSIST_FAILED: ('Failed to make domain persistent after migration', 'Failed to make domain persistent after migration: %s'),
    ErrorCode.HOOK_SCRIPT_FAILED: ('Hook script execution failed', 'Hook script execution failed: %s'),
    ErrorCode.INVALID_DOMAIN_SNAPSHOT: ('Invalid domain snapshot', 'Invalid domain snapshot: %s'),
    ErrorCode.NO_DOMAIN_SNAPSHOT: ('Domain snapshot not found', 'Domain snapshot not found: %s'),
    ErrorCode.INVALID_STREAM: ('invalid stream pointer', 'invalid stream pointer in %s'),
    ErrorCode.ARGUMENT_UNSUPPORTED: ('argument unsupported', 'argument unsupported: %s'),
    ErrorCode.STORAGE_PROBE_FAILED: ('Storage pool probe failed', 'Storage pool probe failed: %s'),
    ErrorCode.STORAGE_POOL_BUILT: ('Storage pool already built', 'Storage pool already built: %s'),
    ErrorCode.SNAPSHOT_REVERT_RISKY: ('revert requires force', 'revert requires force: %s'),
    ErrorCode.OPERATION_ABORTED: ('operation aborted', 'operation aborted: %s'),
    ErrorCode.AUTH_CANCELLED: ('authentication cancelled', 'authentication cancelled: %s'),
    ErrorCode.NO_DOMAIN_METADATA: ('metadata not found', 'metadata not found: %s'),
    ErrorCode.MIGRATE_UNSAFE: ('Unsafe migration', 'Unsafe migration: %s'),
    ErrorCode.OVERFLOW: ('numerical overflow', 'numerical overflow: %s'),
    ErrorCode.BLOCK_COPY_ACTIVE: ('block copy still active', 'block copy still active: %s'),
    ErrorCode.OPERATION_UNSUPPORTED: ('Operation not supported', 'Operation not supported: %s'),
    ErrorCode.SSH: ('SSH transport error', 'SSH transport error: %s'),
    ErrorCode.AGENT_UNRESPONSIVE: ('Guest agent is not responding', 'Guest agent is not responding: %s'),
    ErrorCode.RESOURCE_BUSY: ('resource busy', 'resource busy: %s'),
    ErrorCode.ACCESS_DENIED: ('access denied', 'access denied: %s'),
    ErrorCode.DBUS_SERVICE: ('error from service', 'error from service: %s'),
    ErrorCode.STORAGE_VOL_EXIST: ('this storage volume exists already', 'storage volume %s exists already'),
    ErrorCode.CPU_INCOMPATIBLE: ('the CPU is incompatible with host CPU', 'the CPU is incompatible with host CPU: %s'),
    ErrorCode.XML_INVALID_SCHEMA: ('XML document failed to validate against schema', 'XML document failed to validate against schema: %s'),
    ErrorCode.MIGRATE_FINISH_OK: ('migration successfully aborted', 'migration successfully aborted: %s'),
    ErrorCode.AUTH_UNAVAILABLE: ('authentication unavailable', 'authentication unavailable: %s'),
    ErrorCode.NO_SERVER: ('Server not found', 'Server not found: %s'),
    ErrorCode.NO_CLIENT: ('Client not found', 'Client not found: %s'),
    ErrorCode.AGENT_UNSYNCED: ('guest agent replied with wrong id to guest-sync command', 'guest agent replied with wrong id to guest-sync command: %s'),
    ErrorCode.LIBSSH: ('libssh transport error', 'libssh transport error: %s'),
    ErrorCode.DEVICE_MISSING: ('device not found', 'device not found: %s'),
    ErrorCode.INVALID_NWFILTER_BINDING: ('Invalid network filter binding', 'Invalid network filter binding: %s'),
    ErrorCode.NO_NWFILTER_BINDING: ('Network filter binding not found', 'Network filter binding not found: %s'),
    ErrorCode.INVALID_DOMAIN_CHECKPOINT: ('Invalid domain checkpoint', 'Invalid domain checkpoint: %s'),
    ErrorCode.NO_DOMAIN_CHECKPOINT: ('Domain checkpoint not found', 'Domain checkpoint not found: %s'),
    ErrorCode.NO_DOMAIN_BACKUP: ('Domain backup job id not found', 'Domain backup job id not found: %s'),
    ErrorCode.INVALID_NETWORK_PORT: ('Invalid network port pointer', 'Invalid network port pointer: %s'),
    ErrorCode.NETWORK_PORT_EXIST: ('this network port exists already', 'network port %s exists already'),
    ErrorCode.NO_NETWORK_PORT: ('network port not found', 'network port not found: %s'),
    ErrorCode.NO_HOSTNAME: ('no hostname found', 'no hostname found: %s'),
    ErrorCode.CHECKPOINT_INCONSISTENT: ('checkpoint inconsistent', 'checkpoint inconsistent: %s'),
    ErrorCode.MULTIPLE_DOMAINS: ('multiple matching domains found', 'multiple matching domains found: %s'),
    ErrorCode.XML_DETAIL: ('parser error', '%s'),
    ErrorCode.SYSTEM_ERROR: ('system call error', '%s'),
    ErrorCode.RPC: ('RPC error', '%s'),
    ErrorCode.GNUTLS_ERROR: ('GNUTLS call error', '%s'),
}
