"""The libvirt 9.0 ``admin`` program (``virt-admin``'s protocol): types and procedure table.

Declared from libvirt's ``src/admin/admin_protocol.x`` (facts: names, numbers,
field orders, types, maxima), the way :mod:`virtkit.rpc.remote_procs` declares
the ``remote`` program.  The program is small enough to be written out here
rather than generated.
"""

from __future__ import annotations

from virtkit.rpc.protocol import Procedure, Program
from virtkit.rpc.xdr import (
    DOUBLE,
    HYPER,
    INT,
    UHYPER,
    UINT,
    VOID,
    Optional,
    String,
    Struct,
    Union,
    VarArray,
    XDRType,
)

__all__ = [
    "ADMIN",
    "ADMIN_CLIENT_INFO_PARAMETERS_MAX",
    "ADMIN_CLIENT_LIST_MAX",
    "ADMIN_PROGRAM",
    "ADMIN_PROTOCOL_VERSION",
    "ADMIN_SERVER_CLIENT_LIMITS_MAX",
    "ADMIN_SERVER_LIST_MAX",
    "ADMIN_SERVER_THREADPOOL_PARAMETERS_MAX",
    "ADMIN_STRING_MAX",
]

# --- constants ---
ADMIN_STRING_MAX = 4194304
ADMIN_SERVER_LIST_MAX = 16384
ADMIN_SERVER_THREADPOOL_PARAMETERS_MAX = 32
ADMIN_CLIENT_LIST_MAX = 16384
ADMIN_CLIENT_INFO_PARAMETERS_MAX = 64
ADMIN_SERVER_CLIENT_LIMITS_MAX = 32
ADMIN_PROGRAM = 0x06900690
ADMIN_PROTOCOL_VERSION = 1

# --- types ---
admin_nonnull_string = String(ADMIN_STRING_MAX, "admin_nonnull_string")
admin_string = Optional(admin_nonnull_string, "admin_string")
admin_typed_param_value = Union("admin_typed_param_value", INT, {
    1: ("i", INT),
    2: ("ui", UINT),
    3: ("l", HYPER),
    4: ("ul", UHYPER),
    5: ("d", DOUBLE),
    6: ("b", INT),
    7: ("s", admin_nonnull_string),
})
admin_typed_param = Struct("admin_typed_param", [
    ("field", admin_nonnull_string),
    ("value", admin_typed_param_value),
])
admin_nonnull_server = Struct("admin_nonnull_server", [
    ("name", admin_nonnull_string),
])
admin_nonnull_client = Struct("admin_nonnull_client", [
    ("srv", admin_nonnull_server),
    ("id", UHYPER),
    ("timestamp", HYPER),
    ("transport", UINT),
])


def _params(limit: int) -> XDRType:
    return VarArray(admin_typed_param, limit)


def _flags_only(name: str) -> Struct:
    return Struct(name, [("flags", UINT)])


def _server_flags(name: str) -> Struct:
    return Struct(name, [("srv", admin_nonnull_server), ("flags", UINT)])


admin_connect_open_args = _flags_only("admin_connect_open_args")
admin_connect_get_lib_version_ret = Struct("admin_connect_get_lib_version_ret", [
    ("libVer", UHYPER),
])
admin_connect_list_servers_args = Struct("admin_connect_list_servers_args", [
    ("need_results", UINT),
    ("flags", UINT),
])
admin_connect_list_servers_ret = Struct("admin_connect_list_servers_ret", [
    ("servers", VarArray(admin_nonnull_server, ADMIN_SERVER_LIST_MAX)),
    ("ret", UINT),
])
admin_connect_lookup_server_args = Struct("admin_connect_lookup_server_args", [
    ("name", admin_nonnull_string),
    ("flags", UINT),
])
admin_connect_lookup_server_ret = Struct("admin_connect_lookup_server_ret", [
    ("srv", admin_nonnull_server),
])
admin_server_get_threadpool_parameters_args = _server_flags(
    "admin_server_get_threadpool_parameters_args")
admin_server_get_threadpool_parameters_ret = Struct(
    "admin_server_get_threadpool_parameters_ret", [
        ("params", _params(ADMIN_SERVER_THREADPOOL_PARAMETERS_MAX)),
    ])
admin_server_set_threadpool_parameters_args = Struct(
    "admin_server_set_threadpool_parameters_args", [
        ("srv", admin_nonnull_server),
        ("params", _params(ADMIN_SERVER_THREADPOOL_PARAMETERS_MAX)),
        ("flags", UINT),
    ])
admin_server_list_clients_args = Struct("admin_server_list_clients_args", [
    ("srv", admin_nonnull_server),
    ("need_results", UINT),
    ("flags", UINT),
])
admin_server_list_clients_ret = Struct("admin_server_list_clients_ret", [
    ("clients", VarArray(admin_nonnull_client, ADMIN_CLIENT_LIST_MAX)),
    ("ret", UINT),
])
admin_server_lookup_client_args = Struct("admin_server_lookup_client_args", [
    ("srv", admin_nonnull_server),
    ("id", UHYPER),
    ("flags", UINT),
])
admin_server_lookup_client_ret = Struct("admin_server_lookup_client_ret", [
    ("clnt", admin_nonnull_client),
])
admin_client_get_info_args = Struct("admin_client_get_info_args", [
    ("clnt", admin_nonnull_client),
    ("flags", UINT),
])
admin_client_get_info_ret = Struct("admin_client_get_info_ret", [
    ("params", _params(ADMIN_CLIENT_INFO_PARAMETERS_MAX)),
])
admin_client_close_args = Struct("admin_client_close_args", [
    ("clnt", admin_nonnull_client),
    ("flags", UINT),
])
admin_server_get_client_limits_args = _server_flags("admin_server_get_client_limits_args")
admin_server_get_client_limits_ret = Struct("admin_server_get_client_limits_ret", [
    ("params", _params(ADMIN_SERVER_CLIENT_LIMITS_MAX)),
])
admin_server_set_client_limits_args = Struct("admin_server_set_client_limits_args", [
    ("srv", admin_nonnull_server),
    ("params", _params(ADMIN_SERVER_CLIENT_LIMITS_MAX)),
    ("flags", UINT),
])
admin_server_update_tls_files_args = _server_flags("admin_server_update_tls_files_args")
admin_connect_get_logging_outputs_args = _flags_only("admin_connect_get_logging_outputs_args")
admin_connect_get_logging_outputs_ret = Struct("admin_connect_get_logging_outputs_ret", [
    ("outputs", admin_nonnull_string),
    ("noutputs", UINT),
])
admin_connect_get_logging_filters_args = _flags_only("admin_connect_get_logging_filters_args")
admin_connect_get_logging_filters_ret = Struct("admin_connect_get_logging_filters_ret", [
    ("filters", admin_string),
    ("nfilters", UINT),
])
admin_connect_set_logging_outputs_args = Struct("admin_connect_set_logging_outputs_args", [
    ("outputs", admin_string),
    ("flags", UINT),
])
admin_connect_set_logging_filters_args = Struct("admin_connect_set_logging_filters_args", [
    ("filters", admin_string),
    ("flags", UINT),
])
admin_connect_set_daemon_timeout_args = Struct("admin_connect_set_daemon_timeout_args", [
    ("timeout", UINT),
    ("flags", UINT),
])

# (number, NAME, args, ret); every admin procedure is an ordinary call.
PROCEDURES: tuple[tuple[int, str, XDRType, XDRType], ...] = (
    (1, "CONNECT_OPEN", admin_connect_open_args, VOID),
    (2, "CONNECT_CLOSE", VOID, VOID),
    (3, "CONNECT_GET_LIB_VERSION", VOID, admin_connect_get_lib_version_ret),
    (4, "CONNECT_LIST_SERVERS", admin_connect_list_servers_args,
     admin_connect_list_servers_ret),
    (5, "CONNECT_LOOKUP_SERVER", admin_connect_lookup_server_args,
     admin_connect_lookup_server_ret),
    (6, "SERVER_GET_THREADPOOL_PARAMETERS", admin_server_get_threadpool_parameters_args,
     admin_server_get_threadpool_parameters_ret),
    (7, "SERVER_SET_THREADPOOL_PARAMETERS", admin_server_set_threadpool_parameters_args, VOID),
    (8, "SERVER_LIST_CLIENTS", admin_server_list_clients_args, admin_server_list_clients_ret),
    (9, "SERVER_LOOKUP_CLIENT", admin_server_lookup_client_args,
     admin_server_lookup_client_ret),
    (10, "CLIENT_GET_INFO", admin_client_get_info_args, admin_client_get_info_ret),
    (11, "CLIENT_CLOSE", admin_client_close_args, VOID),
    (12, "SERVER_GET_CLIENT_LIMITS", admin_server_get_client_limits_args,
     admin_server_get_client_limits_ret),
    (13, "SERVER_SET_CLIENT_LIMITS", admin_server_set_client_limits_args, VOID),
    (14, "CONNECT_GET_LOGGING_OUTPUTS", admin_connect_get_logging_outputs_args,
     admin_connect_get_logging_outputs_ret),
    (15, "CONNECT_GET_LOGGING_FILTERS", admin_connect_get_logging_filters_args,
     admin_connect_get_logging_filters_ret),
    (16, "CONNECT_SET_LOGGING_OUTPUTS", admin_connect_set_logging_outputs_args, VOID),
    (17, "CONNECT_SET_LOGGING_FILTERS", admin_connect_set_logging_filters_args, VOID),
    (18, "SERVER_UPDATE_TLS_FILES", admin_server_update_tls_files_args, VOID),
    (19, "CONNECT_SET_DAEMON_TIMEOUT", admin_connect_set_daemon_timeout_args, VOID),
)

ADMIN = Program("admin", ADMIN_PROGRAM, ADMIN_PROTOCOL_VERSION, [
    Procedure(ADMIN_PROGRAM, num, name.lower(), args, ret)
    for num, name, args, ret in PROCEDURES
])
"""The admin program: procedures by number (``ADMIN.get(n)``) and by snake-case name."""
