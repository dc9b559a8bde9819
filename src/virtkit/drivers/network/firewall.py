"""A virtual network's firewall rules, in virtkit's own nftables tables.

virtkit never touches rules it does not own. Its rules live in

- ``table ip virtkit_nat`` (and ``table ip6 virtkit_nat`` for ``<nat ipv6='yes'>``),
  chain ``postrouting`` (type nat, hook postrouting, priority srcnat);
- ``table inet virtkit_filter``, chains ``forward``, ``input`` and ``output``
  (type filter, priority filter, policy accept),

and every rule of a network carries the comment ``virtkit:BRIDGE``. The rules are
libvirt's iptables rules in nftables form: per address, forwarding from the subnet
out of the bridge and (nat: established/related, route: all) back in; masquerading
of the subnet to anything outside it (nat); between ports of the bridge allowed, every
other forwarding from/to the bridge rejected; DHCP and DNS to the host allowed.
Removal deletes the network's rules by handle, then any of our chains and tables
left empty. All changes go through ``nft -j -f -`` (JSON: no quoting of names).
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess
import threading
from typing import Any

from virtkit.conf.network import NetworkDef, generated_file_values, ip_interface
from virtkit.conf.safechars import check_values
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error

__all__ = ["FILTER_TABLE", "NAT_TABLE", "add_rules", "list_rules", "remove_rules"]

NAT_TABLE = "virtkit_nat"
FILTER_TABLE = "virtkit_filter"
_NET = ErrorDomain.NETWORK
_lock = threading.Lock()

Expr = dict[str, Any]

_CHAINS: dict[tuple[str, str], dict[str, Any]] = {
    ("ip", "postrouting"): {"type": "nat", "hook": "postrouting", "prio": 100},
    ("ip6", "postrouting"): {"type": "nat", "hook": "postrouting", "prio": 100},
    ("inet", "forward"): {"type": "filter", "hook": "forward", "prio": 0},
    ("inet", "input"): {"type": "filter", "hook": "input", "prio": 0},
    ("inet", "output"): {"type": "filter", "hook": "output", "prio": 0},
}


def comment_for(bridge: str) -> str:
    return f"virtkit:{bridge}"


def _nft(commands: list[dict[str, Any]] | None, *args: str) -> str:
    nft = shutil.which("nft") or "/usr/sbin/nft"
    data = json.dumps({"nftables": commands}) if commands is not None else None
    try:
        proc = subprocess.run([nft, "-j", *args], input=data, capture_output=True, text=True,
                              timeout=30)
    except FileNotFoundError:
        raise make_error(ErrorCode.OPERATION_FAILED, _NET,
                         "Cannot find 'nft' on PATH: install nftables to run virtual networks"
                         ) from None
    if proc.returncode != 0:
        raise VirtError(f"nftables: {proc.stderr.strip() or proc.stdout.strip()}",
                        code=ErrorCode.INTERNAL_ERROR, domain=_NET)
    return proc.stdout


def _match(left: Expr, right: Any, op: str = "==") -> Expr:
    return {"match": {"op": op, "left": left, "right": right}}


def _meta(key: str) -> Expr:
    return {"meta": {"key": key}}


def _addr(fam: str, field: str) -> Expr:
    return {"payload": {"protocol": fam, "field": field}}


def _prefix(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> Expr:
    return {"prefix": {"addr": str(net.network_address), "len": net.prefixlen}}


_ACCEPT: Expr = {"accept": None}
_REJECT: Expr = {"reject": {"type": "icmpx", "expr": "port-unreachable"}}
_RETURN: Expr = {"return": None}


def _rule(family: str, chain: str, bridge: str, expr: list[Expr]) -> dict[str, Any]:
    table = NAT_TABLE if chain == "postrouting" else FILTER_TABLE
    return {"add": {"rule": {"family": family, "table": table, "chain": chain,
                             "comment": comment_for(bridge), "expr": expr}}}


def build_rules(d: NetworkDef) -> list[dict[str, Any]]:
    """The ``add rule`` commands for network ``d`` (empty for open and bridge modes)."""
    check_values(generated_file_values(d), ErrorDomain.NETWORK)
    mode = d.forward_mode
    bridge = d.bridge_name or ""
    if mode not in (None, "nat", "route"):
        return []
    fwd = d.forward
    dev = fwd.first_dev() if fwd is not None else None
    nat_v6 = fwd is not None and fwd.nat is not None and fwd.nat.ipv6 == "yes"
    iif, oif = _meta("iifname"), _meta("oifname")
    rules: list[dict[str, Any]] = []
    # DHCP and DNS from the guests to the host, DHCP replies back (libvirt's INPUT/OUTPUT).
    for proto, port in (("udp", 53), ("tcp", 53), ("udp", 67), ("udp", 547)):
        rules.append(_rule("inet", "input", bridge, [
            _match(iif, bridge), _match(_meta("l4proto"), proto),
            _match({"payload": {"protocol": "th", "field": "dport"}}, port), _ACCEPT]))
    rules.append(_rule("inet", "output", bridge, [
        _match(oif, bridge), _match(_meta("l4proto"), "udp"),
        _match({"payload": {"protocol": "th", "field": "dport"}}, 68), _ACCEPT]))
    if mode in ("nat", "route"):
        for ip in d.ips:
            iface = ip_interface(ip)
            net, fam = iface.network, "ip" if iface.version == 4 else "ip6"
            if iface.version == 6 and mode == "nat" and not nat_v6:
                continue  # libvirt: no IPv6 forwarding in nat mode unless <nat ipv6='yes'>
            out = [_match(_addr(fam, "saddr"), _prefix(net)), _match(iif, bridge)]
            if dev:
                out.append(_match(oif, dev))
            rules.append(_rule("inet", "forward", bridge, [*out, _ACCEPT]))
            back = [_match(_addr(fam, "daddr"), _prefix(net)), _match(oif, bridge)]
            if dev:
                back.append(_match(iif, dev))
            if mode == "nat":
                back.append(_match({"ct": {"key": "state"}}, ["established", "related"], "in"))
            rules.append(_rule("inet", "forward", bridge, [*back, _ACCEPT]))
            if mode == "nat":
                rules.extend(_nat_rules(d, fam, net, bridge, dev))
    rules.append(_rule("inet", "forward", bridge, [_match(iif, bridge), _match(oif, bridge),
                                                   _ACCEPT]))
    rules.append(_rule("inet", "forward", bridge, [_match(oif, bridge), _REJECT]))
    rules.append(_rule("inet", "forward", bridge, [_match(iif, bridge), _REJECT]))
    return rules


def _nat_rules(d: NetworkDef, fam: str, net: ipaddress.IPv4Network | ipaddress.IPv6Network,
               bridge: str, dev: str | None) -> list[dict[str, Any]]:
    src = _match(_addr(fam, "saddr"), _prefix(net))
    base = [src]
    if dev:
        base.append(_match(_meta("oifname"), dev))
    rules = []
    # Multicast and broadcast stay untouched (libvirt's RETURN rules).
    keep = ("224.0.0.0/24", "255.255.255.255/32") if fam == "ip" else ("ff02::/16",)
    for dst in keep:
        rules.append(_rule(fam, "postrouting", bridge, [
            *base, _match(_addr(fam, "daddr"), _prefix(ipaddress.ip_network(dst))), _RETURN]))
    outside = _match(_addr(fam, "daddr"), _prefix(net), "!=")
    nat = d.forward.nat if d.forward is not None else None
    addr_range = None
    if fam == "ip" and nat is not None and nat.address is not None and nat.address.start:
        addr_range = [nat.address.start, nat.address.end or nat.address.start]
    ports = [1024, 65535]
    if nat is not None and nat.port is not None and nat.port.start:
        ports = [int(nat.port.start), int(nat.port.end or nat.port.start)]
    for proto in ("tcp", "udp", None):
        expr = [*base, outside]
        if proto:
            expr.append(_match(_meta("l4proto"), proto))
        stmt: Expr
        if addr_range:
            target: dict[str, Any] = {"addr": {"range": addr_range}}
            if proto:
                target["port"] = {"range": ports}
            stmt = {"snat": target}
        else:
            stmt = {"masquerade": {"port": {"range": ports}} if proto else None}
        rules.append(_rule(fam, "postrouting", bridge, [*expr, stmt]))
    return rules


def _setup_commands(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``add table``/``add chain`` for each table and chain the rules use (idempotent)."""
    cmds: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for r in rules:
        rule = r["add"]["rule"]
        fam, table, chain = rule["family"], rule["table"], rule["chain"]
        if (fam, table) not in seen:
            seen.add((fam, table))
            cmds.append({"add": {"table": {"family": fam, "name": table}}})
        if (fam, chain) not in seen:
            seen.add((fam, chain))
            spec = _CHAINS[(fam, chain)]
            cmds.append({"add": {"chain": {"family": fam, "table": table, "name": chain,
                                           "policy": "accept", **spec}}})
    return cmds


def add_rules(d: NetworkDef) -> bool:
    """Install the rules of ``d`` in one transaction (after removing stale ones of its
    bridge). Returns whether there were any."""
    rules = build_rules(d)
    remove_rules(d.bridge_name or "")
    if not rules:
        return False
    with _lock:
        _nft(_setup_commands(rules) + rules, "-f", "-")
    return True


def _ours() -> list[dict[str, Any]]:
    """Every table, chain and rule of virtkit's tables."""
    out: list[dict[str, Any]] = []
    for fam, table in (("ip", NAT_TABLE), ("ip6", NAT_TABLE), ("inet", FILTER_TABLE)):
        try:
            text = _nft(None, "list", "table", fam, table)
        except VirtError:
            continue  # no such table
        out.extend(json.loads(text).get("nftables", []))
    return out


def list_rules(bridge: str | None = None) -> list[dict[str, Any]]:
    """Our rules (JSON objects), only those of ``bridge`` if given."""
    rules = [o["rule"] for o in _ours() if "rule" in o]
    if bridge is not None:
        rules = [r for r in rules if r.get("comment") == comment_for(bridge)]
    return rules


def remove_rules(bridge: str) -> None:
    """Delete the rules of ``bridge``, then our chains and tables that are left empty."""
    if not bridge:
        return
    with _lock:
        objs = _ours()
        mine = comment_for(bridge)
        cmds: list[dict[str, Any]] = []
        remaining: dict[tuple[str, str], int] = {}
        chains: dict[tuple[str, str], str] = {}
        tables: dict[str, str] = {}
        for o in objs:
            if "table" in o:
                tables[o["table"]["family"]] = o["table"]["name"]
            elif "chain" in o:
                c = o["chain"]
                chains[(c["family"], c["name"])] = c["table"]
                remaining.setdefault((c["family"], c["name"]), 0)
            elif "rule" in o:
                r = o["rule"]
                key = (r["family"], r["chain"])
                if r.get("comment") == mine:
                    cmds.append({"delete": {"rule": {"family": r["family"], "table": r["table"],
                                                     "chain": r["chain"],
                                                     "handle": r["handle"]}}})
                else:
                    remaining[key] = remaining.get(key, 0) + 1
        empty_tables = set(tables)
        for (fam, chain), table in chains.items():
            if remaining.get((fam, chain), 0) == 0:
                cmds.append({"delete": {"chain": {"family": fam, "table": table, "name": chain}}})
            else:
                empty_tables.discard(fam)
        for fam in sorted(empty_tables):
            cmds.append({"delete": {"table": {"family": fam, "name": tables[fam]}}})
        if cmds:
            _nft(cmds, "-f", "-")
