"""virtkitd's access control driver ``virtkit``: a TOML policy over libvirt's permissions.

libvirt checks every API against an access driver (``access_drivers`` in
libvirtd.conf; the default ``none`` allows everything, ``polkit`` asks polkit).
virtkitd offers the driver ``virtkit``: a policy file (``access_policy_file``,
default ``<confdir>/virtkit-access.toml``) of rules that allow or deny
libvirt's permissions (``domain.read``, ``domain.start``, ``storage-pool.read``
... written as libvirt's polkit action ids ``org.libvirt.api.<object>.<perm>``
write them, the prefix optional, ``_`` or ``-``) to identities, optionally only
for objects whose name (or UUID) matches a glob::

    default = "deny"                 # no rule matches: "deny" (default) or "allow"

    [[rules]]
    effect = "allow"                 # or "deny"
    users = ["alice", "1001"]        # unix user names or uids
    groups = ["virt-viewers"]        # unix groups (primary or supplementary)
    x509_dns = ["CN=ops-*,O=Example"]  # globs on the client certificate's DN
    sasl_users = ["bob"]             # SASL user names
    everyone = false                 # true: every client
    permissions = ["connect.*", "domain.getattr", "domain.read"]
    objects = ["web-*"]              # optional: globs on object names or UUIDs

A rule applies to a request when one of its identities matches the client, one
of its permission globs matches the permission and, if it has ``objects``, one
of them matches the object.  Any applying ``deny`` rule denies; otherwise any
applying ``allow`` rule allows; otherwise ``default`` decides.  Rule order does
not matter.  Object names: a domain, network, pool, interface, node device or
nwfilter by its name (or UUID); a volume as ``pool/volume``; a network port by
its network's name; a secret by its UUID or usage id; an nwfilter binding by
its port device; ``connect.*`` permissions by the hypervisor driver's name
(``QEMU``, ``Test``).

Checks follow libvirt's generated ``vir*EnsureACL`` code: every ``@acl`` rule
of the procedure (flag-conditional ones only when the call's flags match) must
be allowed; list calls keep only the objects their ``@aclfilter`` permission
allows.  A denial is libvirt's ``VIR_ERR_ACCESS_DENIED`` / ``VIR_FROM_ACCESS``
"access denied: '<driver>' denied access" (the reason goes to the log only).
"""

from __future__ import annotations

import contextlib
import fnmatch
import grp
import logging
import os
import threading
import tomllib
import uuid as uuidlib
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree

from virtkit.errors import VirtError, make_error
from virtkit.errtables import ErrorCode, ErrorDomain
from virtkit.rpc.bindings import api_error_domain
from virtkit.rpc.protocol import REMOTE, AclRule, Procedure
from virtkit.rpc.xdr import Struct, VarArray

if TYPE_CHECKING:
    from virtkit.rpc.server import Session

__all__ = [
    "ACCESS_DRIVERS",
    "PERMISSIONS",
    "AccessControl",
    "ObjectRef",
    "Policy",
    "PolicyError",
    "Rule",
    "access_denied",
    "args_object",
    "load_policy",
    "normalize_permission",
    "policy_path",
    "readonly_denial",
    "xml_fallback_identity",
]

log = logging.getLogger("virtkit.daemon.access")

ACCESS_DRIVERS = ("none", "virtkit")
"""Access drivers virtkitd has (libvirt's ``none``, and the policy-file driver)."""

# viraccessperm.c: every permission of every object (libvirt 9.0).
_PERMS: dict[str, tuple[str, ...]] = {
    "connect": ("getattr", "read", "write", "search_domains", "search_networks",
                "search_storage_pools", "search_node_devices", "search_interfaces",
                "search_secrets", "search_nwfilters", "search_nwfilter_bindings",
                "detect_storage_pools", "pm_control", "interface_transaction"),
    "domain": ("getattr", "read", "write", "read_secure", "start", "stop", "reset", "save",
               "delete", "migrate", "checkpoint", "snapshot", "suspend", "hibernate",
               "core_dump", "pm_control", "init_control", "inject_nmi", "send_input",
               "send_signal", "fs_trim", "fs_freeze", "block_read", "block_write", "mem_read",
               "open_graphics", "open_device", "screenshot", "open_namespace", "set_time",
               "set_password"),
    "interface": ("getattr", "read", "write", "save", "delete", "start", "stop"),
    "network": ("getattr", "read", "write", "save", "delete", "start", "stop", "search_ports"),
    "network_port": ("getattr", "read", "write", "create", "delete"),
    "node_device": ("getattr", "read", "write", "start", "stop", "detach", "delete"),
    "nwfilter": ("getattr", "read", "write", "save", "delete"),
    "nwfilter_binding": ("getattr", "read", "create", "delete"),
    "secret": ("getattr", "read", "write", "read_secure", "save", "delete"),
    "storage_pool": ("getattr", "read", "write", "save", "delete", "start", "stop", "refresh",
                     "search_storage_vols", "format"),
    "storage_vol": ("getattr", "read", "create", "delete", "format", "resize", "data_read",
                    "data_write"),
}


def _perm_id(obj: str, perm: str) -> str:
    """libvirt's polkit spelling without the prefix: ``storage-pool.search-storage-vols``."""
    return f"{obj}.{perm}".replace("_", "-")


PERMISSIONS: frozenset[str] = frozenset(
    _perm_id(o, p) for o, perms in _PERMS.items() for p in perms)
"""All 105 permission names, as the policy writes them (``domain.read-secure``)."""

# The flag names the @acl annotations test (libvirt 9.0 public headers).
_FLAG_VALUES: dict[str, int] = {
    "VIR_DOMAIN_AFFECT_LIVE": 1,
    "VIR_DOMAIN_AFFECT_CONFIG": 2,
    "VIR_DOMAIN_VCPU_GUEST": 8,
    "VIR_DOMAIN_XML_SECURE": 1,
    "VIR_DOMAIN_XML_MIGRATABLE": 8,
    "VIR_DOMAIN_SAVE_IMAGE_XML_SECURE": 1,
    "VIR_DOMAIN_REBOOT_GUEST_AGENT": 2,
    "VIR_DOMAIN_SHUTDOWN_GUEST_AGENT": 2,
    "VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE": 64,
    "VIR_DOMAIN_SNAPSHOT_XML_SECURE": 1,
    "VIR_DOMAIN_CHECKPOINT_CREATE_QUIESCE": 2,
    "VIR_DOMAIN_CHECKPOINT_XML_SECURE": 1,
    "VIR_NETWORK_UPDATE_AFFECT_LIVE": 1,
    "VIR_NETWORK_UPDATE_AFFECT_CONFIG": 2,
    "VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT": 1,
}

_POLKIT_PREFIX = "org.libvirt.api."


class PolicyError(Exception):
    """A policy file that cannot be used (the daemon refuses to start)."""


def normalize_permission(text: str) -> str:
    """``org.libvirt.api.storage_pool.read`` / ``storage-pool.read`` -> ``storage-pool.read``."""
    text = text.strip()
    if text.startswith(_POLKIT_PREFIX):
        text = text[len(_POLKIT_PREFIX):]
    return text.replace("_", "-")


def access_denied(driver: str) -> VirtError:
    """libvirt's sanitised denial (viraccessmanager.c), whatever the reason."""
    return make_error(ErrorCode.ACCESS_DENIED, ErrorDomain.ACCESS,
                      f"'{driver}' denied access")


# ---------------------------------------------------------------- objects


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """The object a permission is checked on: its ACL type, name and UUID (either may be
    unknown: ``None``)."""

    type: str
    name: str | None = None
    uuid: str | None = None

    def as_dict(self) -> dict[str, str]:
        out = {"type": self.type}
        if self.name is not None:
            out["name"] = self.name
        if self.uuid is not None:
            out["uuid"] = self.uuid
        return out


def _uuid_text(raw: Any) -> str | None:
    if isinstance(raw, (bytes, bytearray)) and len(raw) == 16:
        return str(uuidlib.UUID(bytes=bytes(raw)))
    if isinstance(raw, str):
        return raw
    return None


def _from_wire(obj_type: str, wire_type: str, value: Any) -> ObjectRef | None:
    """An ObjectRef of ``obj_type`` from a decoded ``remote_nonnull_*`` value, if it holds one."""
    if not isinstance(value, Mapping):
        return None
    t = wire_type.removeprefix("remote_nonnull_")
    if t in ("domain_snapshot", "domain_checkpoint"):
        return _from_wire(obj_type, "remote_nonnull_domain", value.get("dom"))
    if obj_type == "network_port":
        if t == "network_port":
            net = value.get("net") or {}
            return ObjectRef(obj_type, net.get("name"), _uuid_text(value.get("uuid")))
        if t == "network":
            return ObjectRef(obj_type, value.get("name"))
        return None
    if obj_type == "storage_pool" and t == "storage_vol":
        return ObjectRef(obj_type, value.get("pool"))
    if obj_type == "network" and t == "network_port":
        net = value.get("net") or {}
        return ObjectRef(obj_type, net.get("name"), _uuid_text(net.get("uuid")))
    if t != obj_type:
        return None
    if t == "storage_vol":
        return ObjectRef(t, f"{value.get('pool')}/{value.get('name')}", value.get("key"))
    if t == "secret":
        return ObjectRef(t, value.get("usageID"), _uuid_text(value.get("uuid")))
    if t == "nwfilter_binding":
        return ObjectRef(t, value.get("portdev"))
    return ObjectRef(t, value.get("name"), _uuid_text(value.get("uuid")))


def _fields(t: Any) -> tuple[tuple[str, Any], ...]:
    return t.fields if isinstance(t, Struct) else ()


def xml_fallback_identity(text: Any) -> tuple[str | None, str | None]:
    """``(name, uuid)`` of an object's XML read as libvirt reads it: the first ``<name>``
    and ``<uuid>`` child elements (attributes of the root are not names); a binding by
    its port device, a secret by its usage.  For objects without a conf parser."""
    if not isinstance(text, str) or len(text) > 4 << 20:
        return None, None
    try:
        root = ElementTree.fromstring(text)
    except (ElementTree.ParseError, ValueError):
        return None, None
    name = root.findtext("name")
    if name is None and root.tag == "filterbinding":
        portdev = root.find("portdev")
        name = portdev.get("name") if portdev is not None else None
    if name is None and root.tag == "secret":
        name = root.findtext("usage/name") or root.findtext("usage/volume") or root.findtext(
            "usage/target")
    uuid = root.findtext("uuid")
    return (name.strip() if name else None), (uuid.strip() if uuid else None)


def args_object(proc: Procedure, obj_type: str, args: Any, xml: bool = True
                ) -> ObjectRef | None:
    """The ``obj_type`` object a call's arguments name, or None when they do not
    (lookups by UUID...); ``xml``: also read a document's name and UUID (best effort,
    for the audit log: access checks parse documents with the driver's parser)."""
    if not isinstance(args, Mapping):
        return None
    fields = _fields(proc.args)
    for fname, ftype in fields:
        tname = getattr(ftype, "name", "")
        if tname.startswith("remote_nonnull_") and tname != "remote_nonnull_string":
            ref = _from_wire(obj_type, tname, args.get(fname))
            if ref is not None:
                return ref
    names = dict(fields)
    name = args.get("name") if "name" in names else None
    uid = _uuid_text(args.get("uuid")) if "uuid" in names else None
    if obj_type == "storage_vol" and isinstance(name, str):  # lookup in a pool
        pool = _from_wire("storage_pool", "remote_nonnull_storage_pool", args.get("pool"))
        if pool is not None:
            return ObjectRef(obj_type, f"{pool.name}/{name}")
        return None
    if isinstance(name, str) or uid is not None:
        return ObjectRef(obj_type, name if isinstance(name, str) else None, uid)
    if not xml:
        return None
    for key in ("xml", "xml_desc", "xmlDesc"):
        if key in names:
            xname, xuuid = xml_fallback_identity(args.get(key))
            if obj_type == "storage_vol" and xname is not None:
                pool = _from_wire("storage_pool", "remote_nonnull_storage_pool",
                                  args.get("pool"))
                xname = f"{pool.name}/{xname}" if pool is not None else None
            if xname is not None or xuuid is not None:
                return ObjectRef(obj_type, xname, xuuid)
    return None


def ret_object(proc: Procedure, obj_type: str, ret: Any) -> ObjectRef | None:
    """The ``obj_type`` object a reply carries (a lookup's result), or None."""
    if not isinstance(ret, Mapping):
        return None
    for fname, ftype in _fields(proc.ret):
        tname = getattr(ftype, "name", "")
        if tname.startswith("remote_nonnull_"):
            ref = _from_wire(obj_type, tname, ret.get(fname))
            if ref is not None:
                return ref
    return None


def _flags_match(cond: str, value: int) -> bool:
    """gendispatch.pl: ``A|B`` -> (flags & (A|B)) == (A|B); ``!A|B`` -> (flags & (A|B)) == 0."""
    negate = cond.startswith("!")
    mask = 0
    for name in cond.lstrip("!").split("|"):
        mask |= _FLAG_VALUES.get(name.strip(), 0)
    return (value & mask) == 0 if negate else (value & mask) == mask


def rule_applies(rule: AclRule, args: Any) -> bool:
    """Whether a (possibly flag- or parameter-conditional) @acl rule applies to a call."""
    if rule.flag is not None:
        flags = args.get("flags", 0) if isinstance(args, Mapping) else 0
        if not _flags_match(rule.flag, int(flags or 0)):
            return False
    if rule.param is not None and rule.value is not None:
        got = args.get(rule.param, 0) if isinstance(args, Mapping) else 0
        neg = rule.value.startswith("!")
        want = _FLAG_VALUES.get(rule.value.lstrip("!"), 0)
        return (got != want) if neg else (got == want)
    return True


# ---------------------------------------------------------------- read-only connections

# libvirt's public API files and their VIR_FROM_THIS, by procedure prefix (longest first)
def readonly_denial(proc: Procedure, args: Any, api: str) -> VirtError | None:
    """What libvirt's API (``api``, e.g. virDomainGetXMLDesc) answers a read-only
    connection, or None when the call is allowed: state-changing procedures are refused,
    and so are read-only ones whose flags bring in an ``@acl`` rule beyond reading
    (``domain:read_secure:VIR_DOMAIN_XML_SECURE``, ``domain:write:VIR_DOMAIN_VCPU_GUEST``)."""
    domain = api_error_domain(proc.name)
    if not proc.readonly:
        return make_error(ErrorCode.OPERATION_DENIED, domain, f"read only access prevents {api}")
    for rule in proc.acl:
        if not rule.conditional or rule.anonymous or not rule_applies(rule, args):
            continue
        text = (f"{api} with secure flag" if rule.perm == "read_secure"
                else f"read only access prevents {api}")
        return make_error(ErrorCode.OPERATION_DENIED, domain, text)
    return None


# ---------------------------------------------------------------- policy


@dataclass(frozen=True, slots=True)
class Rule:
    """One ``[[rules]]`` entry."""

    effect: str
    users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    x509_dns: tuple[str, ...] = ()
    sasl_users: tuple[str, ...] = ()
    everyone: bool = False
    permissions: tuple[str, ...] = ()
    objects: tuple[str, ...] | None = None
    index: int = 0

    def matches_identity(self, ident: Mapping[str, str], groups: Callable[[], frozenset[str]]
                         ) -> bool:
        if self.everyone:
            return True
        uid, user = ident.get("unix-user-id"), ident.get("user-name")
        if uid is not None and any(u in (user, uid) for u in self.users):
            return True
        dn = ident.get("x509-distinguished-name")
        if dn is not None and any(fnmatch.fnmatchcase(dn, g) for g in self.x509_dns):
            return True
        sasl = ident.get("sasl-user-name")
        if sasl is not None and sasl in self.sasl_users:
            return True
        if self.groups and uid is not None:
            mine = groups()
            return any(g in mine for g in self.groups)
        return False

    def matches_permission(self, perm: str) -> bool:
        return any(fnmatch.fnmatchcase(perm, p) for p in self.permissions)

    def matches_object(self, obj: ObjectRef | None) -> bool | None:
        """True/False; None when the rule is scoped and the object is unknown."""
        if self.objects is None:
            return True
        if obj is None or (obj.name is None and obj.uuid is None):
            return None
        return any(fnmatch.fnmatchcase(v, g) for g in self.objects
                   for v in (obj.name, obj.uuid) if v is not None)


@dataclass(frozen=True, slots=True)
class Policy:
    """A loaded policy: rules and the default decision."""

    rules: tuple[Rule, ...]
    default_allow: bool = False
    source: str = ""

    def decide(self, ident: Mapping[str, str], groups: Callable[[], frozenset[str]],
               perm: str, obj: ObjectRef | None) -> tuple[bool, str]:
        """``(allowed, reason)``.  Deny wins; an unknown object is matched by scoped deny
        rules but not by scoped allow rules (the safe side)."""
        allow: Rule | None = None
        for rule in self.rules:
            if not rule.matches_permission(perm) or not rule.matches_identity(ident, groups):
                continue
            scoped = rule.matches_object(obj)
            if rule.effect == "deny" and scoped is not False:
                return False, f"denied by rule {rule.index}"
            if rule.effect == "allow" and scoped is True and allow is None:
                allow = rule
        if allow is not None:
            return True, f"allowed by rule {allow.index}"
        return self.default_allow, "default " + ("allow" if self.default_allow else "deny")


def _strings(where: str, key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PolicyError(f"{where}: '{key}' must be a string or a list of strings")
    return tuple(value)


_RULE_KEYS = {"effect", "users", "groups", "x509_dns", "sasl_users", "everyone", "permissions",
              "objects", "comment"}


def parse_policy(text: str, source: str = "policy") -> Policy:
    """Parse a policy file's TOML text; raises :class:`PolicyError` naming what is wrong."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise PolicyError(f"{source}: {e}") from None
    unknown = set(doc) - {"default", "rules"}
    if unknown:
        raise PolicyError(f"{source}: unknown key(s) {', '.join(sorted(unknown))}")
    default = doc.get("default", "deny")
    if default not in ("allow", "deny"):
        raise PolicyError(f"{source}: 'default' must be \"allow\" or \"deny\"")
    raw_rules = doc.get("rules", [])
    if not isinstance(raw_rules, list):
        raise PolicyError(f"{source}: 'rules' must be an array of tables ([[rules]])")
    rules: list[Rule] = []
    for i, raw in enumerate(raw_rules, 1):
        where = f"{source}: rule {i}"
        if not isinstance(raw, dict):
            raise PolicyError(f"{where}: not a table")
        bad = set(raw) - _RULE_KEYS
        if bad:
            raise PolicyError(f"{where}: unknown key(s) {', '.join(sorted(bad))}")
        effect = raw.get("effect")
        if effect not in ("allow", "deny"):
            raise PolicyError(f"{where}: 'effect' must be \"allow\" or \"deny\"")
        perms = tuple(normalize_permission(p) for p in
                      _strings(where, "permissions", raw.get("permissions", [])))
        if not perms:
            raise PolicyError(f"{where}: no 'permissions'")
        for p in perms:
            if not any(fnmatch.fnmatchcase(known, p) for known in PERMISSIONS):
                raise PolicyError(f"{where}: unknown permission '{p}'")
        everyone = raw.get("everyone", False)
        if not isinstance(everyone, bool):
            raise PolicyError(f"{where}: 'everyone' must be true or false")
        rule = Rule(
            effect=effect,
            users=_strings(where, "users", raw.get("users", [])),
            groups=_strings(where, "groups", raw.get("groups", [])),
            x509_dns=_strings(where, "x509_dns", raw.get("x509_dns", [])),
            sasl_users=_strings(where, "sasl_users", raw.get("sasl_users", [])),
            everyone=everyone,
            permissions=perms,
            objects=_strings(where, "objects", raw["objects"]) if "objects" in raw else None,
            index=i,
        )
        if not (rule.everyone or rule.users or rule.groups or rule.x509_dns
                or rule.sasl_users):
            raise PolicyError(f"{where}: no identity (users, groups, x509_dns, sasl_users "
                              "or everyone = true)")
        rules.append(rule)
    return Policy(tuple(rules), default == "allow", source)


def load_policy(path: str) -> Policy:
    """Read and parse the policy file at ``path``."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read(10 << 20)
    except OSError as e:
        raise PolicyError(f"cannot read access policy '{path}': {e.strerror}") from None
    except UnicodeDecodeError:
        raise PolicyError(f"{path}: not valid UTF-8") from None
    return parse_policy(text, path)


def policy_path(config: Any, paths: Any) -> str:
    """``access_policy_file`` (under the daemon's ``--root``), or the default."""
    configured = getattr(config, "access_policy_file", None)
    if configured:
        return str(paths.under(configured))
    return os.path.join(paths.config_dir, "virtkit-access.toml")


# ---------------------------------------------------------------- the checks


def _client_groups(ident: Mapping[str, str]) -> frozenset[str]:
    """The unix groups (names and gids) of a client: its primary group and its user's
    supplementary groups."""
    out: set[str] = set()
    gid = ident.get("unix-group-id")
    if gid is not None:
        out.add(gid)
        name = ident.get("group-name")
        if name:
            out.add(name)
    user = ident.get("user-name")
    if user and gid is not None and gid.isdigit():
        try:
            gids = os.getgrouplist(user, int(gid))
        except OSError:
            gids = []
        for g in gids:
            out.add(str(g))
            with contextlib.suppress(KeyError):
                out.add(grp.getgrgid(g).gr_name)
    return frozenset(out)


def _list_field(proc: Procedure) -> tuple[str, Any] | None:
    for fname, ftype in _fields(proc.ret):
        if isinstance(ftype, VarArray):
            return fname, ftype
    return None


class AccessControl:
    """The ``virtkit`` access driver: checks calls and filters listings for a policy."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._groups: weakref.WeakKeyDictionary[Any, frozenset[str]] = (
            weakref.WeakKeyDictionary())
        self._lock = threading.Lock()

    # -- decisions

    def _groups_of(self, session: Session) -> Callable[[], frozenset[str]]:
        def get() -> frozenset[str]:
            with self._lock:
                cached = self._groups.get(session)
            if cached is None:
                cached = _client_groups(session.identity)
                with self._lock:
                    self._groups[session] = cached
            return cached
        return get

    def allowed(self, session: Session, perm: str, obj: ObjectRef | None) -> bool:
        """One permission on one object (no logging)."""
        ok, _ = self.policy.decide(session.identity, self._groups_of(session),
                                   normalize_permission(perm), obj)
        return ok

    def ensure(self, session: Session, proc: Procedure, args: Any, driver: str,
               obj: ObjectRef | None, rules: Iterable[AclRule] | None = None) -> None:
        """Every applying @acl rule of ``proc`` must be allowed, else ACCESS_DENIED (logged)."""
        groups = self._groups_of(session)
        for rule in proc.acl if rules is None else rules:
            if not rule_applies(rule, args):
                continue
            perm = _perm_id(rule.object, rule.perm)
            target = ObjectRef("connect", driver) if rule.object == "connect" else obj
            ok, why = self.policy.decide(session.identity, groups, perm, target)
            if not ok:
                log.warning("access denied: client=%s identity=%s procedure=%s "
                            "permission=%s object=%s (%s)", session.id,
                            _ident_text(session.identity), proc.name, perm,
                            target.as_dict() if target else "?", why)
                raise access_denied(driver)

    # -- listings

    def filter_ret(self, session: Session, proc: Procedure, args: Any, ret: Any,
                   lookup_id: Callable[[int], ObjectRef | None]) -> Any:
        """``ret`` of a listing call with only the objects ``proc.aclfilter`` allows."""
        if not proc.aclfilter or not isinstance(ret, Mapping):
            return ret
        obj_type, perm = proc.aclfilter[0].split(":")
        perm_id = _perm_id(obj_type, perm)
        found = _list_field(proc)
        if found is None:
            return ret
        lname, ltype = found
        elem_name = getattr(ltype.elem, "name", "")
        pool = None
        if obj_type == "storage_vol":
            ref = args_object(proc, "storage_pool", args)
            pool = ref.name if ref else None
        groups = self._groups_of(session)

        def obj_of(item: Any) -> ObjectRef | None:
            if isinstance(item, Mapping):
                if "dom" in item and elem_name == "remote_domain_stats_record":
                    return _from_wire(obj_type, "remote_nonnull_domain", item["dom"])
                return _from_wire(obj_type, elem_name, item)
            if isinstance(item, int):
                return lookup_id(item)
            if isinstance(item, str):
                if obj_type == "storage_vol":
                    return ObjectRef(obj_type, f"{pool}/{item}")
                if obj_type == "secret":
                    return ObjectRef(obj_type, None, item)
                return ObjectRef(obj_type, item)
            return None

        kept = []
        for item in ret.get(lname, []):
            obj = obj_of(item)
            if obj is not None and self.policy.decide(session.identity, groups, perm_id,
                                                      obj)[0]:
                kept.append(item)
        out = dict(ret)
        out[lname] = kept
        if "ret" in out:
            out["ret"] = len(kept)
        return out


def _ident_text(ident: Mapping[str, str]) -> str:
    keys = ("user-name", "unix-user-id", "sasl-user-name", "x509-distinguished-name")
    return ",".join(f"{k}={ident[k]}" for k in keys if k in ident) or "anonymous"


def num_to_list(proc: Procedure) -> Procedure | None:
    """The listing procedure behind a ``*_num_of_*`` call (to count visible objects)."""
    if "num_of" not in proc.name:
        return None
    name = proc.name.replace("num_of", "list")
    return REMOTE.by_name.get(name)
