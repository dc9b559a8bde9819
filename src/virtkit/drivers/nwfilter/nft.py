"""nwfilter rules as nftables rules, in one ``bridge`` family table.

Layout (``table bridge virtkit_nwfilter``)::

    chain l2-forward  { type filter hook forward priority -200;
                        iifname vmap @l2-from; oifname vmap @l2-to }
    chain l2-input    { type filter hook input   priority -200; iifname vmap @l2-from }
    chain l2-output   { type filter hook output  priority -200; oifname vmap @l2-to }
    chain l3-forward / l3-input / l3-output: the same at priority 0 with @l3-from / @l3-to
    map l2-from { type ifname : verdict; elements = { "vnet0" : jump l2-o-vnet0 } } ...

libvirt filters in two layers, ebtables (mac, vlan, stp, arp, rarp, ip, ipv6
rules) then iptables/ip6tables (tcp, udp, icmp, all, ... rules); a packet must
pass both. Here the two layers are the ``l2-*`` and ``l3-*`` base chains: an
``accept`` in the L2 layer ends that layer only. libvirt's direction ``out``
is traffic from the VM (it enters the bridge on the tap: ``iifname``), ``in``
is traffic to the VM (``oifname``).

Per port: ``l2-o-TAP`` / ``l2-i-TAP`` (root chains, rules and jumps to
sub-chains sorted by priority), ``l2-o-TAP-SUFFIX`` (a filter's own chain, e.g.
``arp-ip``, entered for its protocol only), ``l3-o-TAP`` / ``l3-i-TAP``.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field

from virtkit.conf.nwfilter import (
    IP_PROTOCOLS,
    IPV4_PROTOCOLS,
    IPV6_PROTOCOLS,
    L2_PROTOCOLS,
    MAC_PROTOCOLS,
    STATES,
    TCP_FLAGS,
    Item,
    Rule,
    format_ip,
    nwfilter_error,
)
from virtkit.conf.safechars import refuse_control
from virtkit.drivers.nwfilter.expand import PlacedRule
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error

TABLE = "virtkit_nwfilter"
FAMILY = "bridge"

# Sub-chain entry match by chain prefix (libvirt's ebtables "-p PROTO -j CHAIN").
_CHAIN_MATCH = {"mac": "", "stp": "ether daddr 01:80:c2:00:00:00 ", "vlan": "ether type vlan ",
                "arp": "ether type arp ", "rarp": "ether type 0x8035 ",
                "ipv4": "ether type ip ", "ipv6": "ether type ip6 "}
_TCP_FLAG_NAMES = [(v, k.lower()) for k, v in TCP_FLAGS.items() if v in (1, 2, 4, 8, 16, 32)]
# Attributes the nft translation cannot express yet: refused, never ignored.
_UNSUPPORTED = {"connlimit-above", "ipset", "ipsetflags", "option", "gratuitous", "type",
                "flags", "root-priority", "root-priority-hi", "root-address",
                "root-address-mask", "root-cost", "root-cost-hi", "sender-priority",
                "sender-priority-hi", "sender-address", "sender-address-mask", "port",
                "port-hi", "age", "age-hi", "max-age", "max-age-hi", "hello-time",
                "hello-time-hi", "forward-delay", "forward-delay-hi"}


def _unsupported(what: str) -> VirtError:
    return nwfilter_error(ErrorCode.CONFIG_UNSUPPORTED,
                          f"nwfilter on nftables does not support {what} yet")


def _cmp(lhs: str, item: Item, value: str) -> str:
    return f"{lhs} {'!= ' if item.neg else ''}{value}"


def _net(item: Item, mask: Item | None, width: int) -> str:
    addr = format_ip(item.value)
    bits = mask.value if mask is not None else width
    if bits == width:
        return addr
    net = ipaddress.ip_network(f"{addr}/{bits}", strict=False)
    return str(net)


def _ports(rule: Rule, lhs: str, start: str, end: str) -> list[str]:
    s = rule.items.get(start)
    if s is None:
        return []
    e = rule.items.get(end)
    value = str(s.value) if e is None or e.value == s.value else f"{s.value}-{e.value}"
    return [_cmp(lhs, s, value)]


def _mac(rule: Rule, lhs: str, addr: str, mask: str) -> list[str]:
    a = rule.items.get(addr)
    if a is None:
        return []
    m = rule.items.get(mask)
    if m is None or m.value == "ff:ff:ff:ff:ff:ff":
        return [_cmp(lhs, a, a.value)]
    av = int(a.value.replace(":", ""), 16) & int(m.value.replace(":", ""), 16)
    masked = ":".join(f"{(av >> (8 * i)) & 0xFF:02x}" for i in range(5, -1, -1))
    return [f"{lhs} & {m.value} {'!=' if a.neg else '=='} {masked}"]


def _raw(rule: Rule, lhs: str, name: str, conv: str = "int", mask_name: str = "") -> list[str]:
    item = rule.items.get(name)
    if item is None:
        return []
    if conv == "mac":
        value = int(item.value.replace(":", ""), 16)
    elif conv == "ip":
        value = int.from_bytes(item.value, "big")
    else:
        value = int(item.value)
    mask = rule.items.get(mask_name) if mask_name else None
    if mask is not None and mask.value < 32:
        m = (0xFFFFFFFF << (32 - mask.value)) & 0xFFFFFFFF
        return [f"{lhs} & 0x{m:08x} {'!=' if item.neg else '=='} 0x{value & m:08x}"]
    return [_cmp(lhs, item, f"0x{value:x}")]


def _ip_fields(rule: Rule, fam: str, width: int) -> list[str]:
    out = []
    for side in ("src", "dst"):
        lhs = f"{fam} {side[0]}addr"
        a = rule.items.get(f"{side}ipaddr")
        if a is not None:
            out.append(_cmp(lhs, a, _net(a, rule.items.get(f"{side}ipmask"), width)))
        f = rule.items.get(f"{side}ipfrom")
        t = rule.items.get(f"{side}ipto")
        if f is not None and t is not None:
            if len(f.value) != len(t.value):
                raise _unsupported(f"{side}ipfrom/{side}ipto of different address families")
            out.append(_cmp(lhs, f, f"{format_ip(f.value)}-{format_ip(t.value)}"))
        elif f is not None:
            out.append(_cmp(lhs, f, format_ip(f.value)))
    d = rule.items.get("dscp")
    if d is not None:
        out.append(_cmp(f"{fam} dscp", d, str(d.value)))
    return out


def _state(rule: Rule) -> list[str]:
    s = rule.items.get("state")
    if s is None or s.value & STATES["NONE"] or not s.value:
        return []
    names = [n.lower() for n, bit in STATES.items() if s.value & bit and n != "NONE"]
    return [_cmp("ct state", s, ",".join(names))]


def match_exprs(rule: Rule) -> list[str]:
    """The nft match expressions of one concrete rule (no variables left)."""
    p = rule.protocol
    if p is None:
        return []
    for name in rule.items:
        if name in _UNSUPPORTED and not (name in ("type", "flags") and p in (
                "icmp", "icmpv6", "ipv6", "tcp")):
            raise _unsupported(f"attribute '{name}' of <{p}>")
    out: list[str] = []
    if p == "stp":
        out.append("ether daddr 01:80:c2:00:00:00")
    out += _mac(rule, "ether saddr", "srcmacaddr", "srcmacmask")
    out += _mac(rule, "ether daddr", "dstmacaddr", "dstmacmask")
    if p == "mac":
        pid = rule.items.get("protocolid")
        if pid is not None:
            out.append(_cmp("ether type", pid, f"0x{pid.value:04x}"))
    elif p == "vlan":
        out.append("ether type vlan")
        vid = rule.items.get("vlanid")
        if vid is not None:
            out.append(_cmp("vlan id", vid, str(vid.value)))
        enc = rule.items.get("encap-protocol")
        if enc is not None:
            out.append(_cmp("vlan type", enc, f"0x{enc.value:04x}"))
    elif p in ("arp", "rarp"):
        out.append("ether type arp" if p == "arp" else "ether type 0x8035")
        out += _raw(rule, "@nh,0,16", "hwtype")
        out += _raw(rule, "@nh,16,16", "protocoltype")
        out += _raw(rule, "@nh,48,16", "opcode")
        out += _raw(rule, "@nh,64,48", "arpsrcmacaddr", "mac")
        out += _raw(rule, "@nh,112,32", "arpsrcipaddr", "ip", "arpsrcipmask")
        out += _raw(rule, "@nh,144,48", "arpdstmacaddr", "mac")
        out += _raw(rule, "@nh,192,32", "arpdstipaddr", "ip", "arpdstipmask")
    elif p in ("ip", "ipv6"):
        v6 = p == "ipv6"
        out.append("ether type ip6" if v6 else "ether type ip")
        out += _ip_fields(rule, "ip6" if v6 else "ip", 128 if v6 else 32)
        proto = rule.items.get("protocol")
        if proto is not None:
            out.append(_cmp("meta l4proto", proto, str(proto.value)))
        out += _l4(rule, proto.value if proto is not None else 0)
        if v6:
            for field_, start, end in (("type", "type", "typeend"), ("code", "code", "codeend")):
                s = rule.items.get(start)
                if s is not None:
                    e = rule.items.get(end)
                    val = str(s.value) if e is None else f"{s.value}-{e.value}"
                    out.append(_cmp(f"icmpv6 {field_}", s, val))
    elif p in IPV4_PROTOCOLS or p in IPV6_PROTOCOLS:
        v6 = p in IPV6_PROTOCOLS
        base = p.removesuffix("-ipv6")
        out.append("ether type ip6" if v6 else "ether type ip")
        out += _ip_fields(rule, "ip6" if v6 else "ip", 128 if v6 else 32)
        num = IP_PROTOCOLS.get(base, 0)
        if base != "all":
            out.append(f"meta l4proto {num}")
        out += _l4(rule, num)
        if base in ("icmp", "icmpv6"):
            fam = "icmpv6" if v6 else "icmp"
            for name in ("type", "code"):
                it = rule.items.get(name)
                if it is not None:
                    out.append(_cmp(f"{fam} {name}", it, str(it.value)))
        out += _state(rule)
    return out


def _l4(rule: Rule, proto: int) -> list[str]:
    out = _ports(rule, "th sport", "srcportstart", "srcportend")
    out += _ports(rule, "th dport", "dstportstart", "dstportend")
    fl = rule.items.get("flags")
    if fl is not None and proto == 6 and rule.protocol == "tcp":
        mask, flags = fl.value
        if mask:
            def names(bits: int) -> str:
                return "|".join(n for b, n in _TCP_FLAG_NAMES if bits & b) or "0x0"
            op = "!=" if fl.neg else "=="
            out.append(f"tcp flags & ({names(mask)}) {op} {names(flags) if flags else '0x0'}")
    return out


def verdict(rule: Rule, direction: str) -> str:
    a = rule.action
    if a == "reject":
        # nft's bridge reject works for IP traffic on the input/forward hooks only.
        return "reject" if direction == "o" and rule.protocol not in L2_PROTOCOLS - {
            "ip", "ipv6"} else "drop"
    return a


def _comment(rule: Rule) -> str:
    c = rule.items.get("comment")
    if c is None:
        return ""
    refuse_control(str(c.value), "<rule> attribute 'comment'", ErrorDomain.NWFILTER)
    text = str(c.value).replace('"', "'").replace("\\", "/")[:120]
    return f' comment "{text}"'


# What an nft chain name may hold unquoted (libvirt's VALID_CHAINNAME, without ':').
_IDENT = re.compile(r"[A-Za-z0-9_.-]+")


def safe_ident(value: str, where: str) -> str:
    """``value`` if it is safe in an nft chain name or quoted set element (no quote,
    semicolon, brace, space or control character), else VIR_ERR_XML_DETAIL."""
    if not _IDENT.fullmatch(value):
        raise make_error(ErrorCode.XML_DETAIL, ErrorDomain.NWFILTER,
                         f"{where} '{value!r}' cannot be used in an nftables ruleset")
    return value


def rule_text(rule: Rule, direction: str) -> str:
    """One nft rule (matches, then verdict), e.g. ``ether saddr != 52:54:00:00:00:01 drop``."""
    return " ".join([*match_exprs(rule), verdict(rule, direction)]) + _comment(rule)


# ----------------------------------------------------------------------------- per-port program


@dataclass
class PortProgram:
    """Every chain of one port and its rules (nft rule text)."""

    port: str
    chains: dict[str, list[str]] = field(default_factory=dict)

    def chain_names(self) -> list[str]:
        return list(self.chains)


def chain_name(layer: str, direction: str, port: str, suffix: str = "") -> str:
    safe_ident(port, "port device name")
    if suffix:
        safe_ident(suffix, "filter chain name")
    return f"{layer}-{direction}-{port}" + (f"-{suffix}" if suffix else "")


def build(port: str, placed: list[PlacedRule]) -> PortProgram:
    """Lay out the rules of one port into chains, in libvirt's priority order."""
    prog = PortProgram(port)
    for d in ("o", "i"):
        want = ("out", "inout") if d == "o" else ("in", "inout")
        l2: list[tuple[int, int, int, str]] = []  # (priority, kind, seq, text) of the root
        subs: dict[str, list[tuple[int, int, str]]] = {}
        sub_meta: dict[str, tuple[int, str]] = {}
        l3: list[tuple[int, int, str]] = []
        for seq, pr in enumerate(placed):
            r = pr.rule
            if r.direction not in want:
                continue
            text = rule_text(r, d)
            if r.protocol is not None and r.protocol not in L2_PROTOCOLS:
                l3.append((r.priority, seq, text))
            elif pr.chain_prefix == "root":
                l2.append((r.priority, 1, seq, text))
            else:
                subs.setdefault(pr.chain, []).append((r.priority, seq, text))
                sub_meta.setdefault(pr.chain, (pr.chain_priority, pr.chain_prefix))
        root = chain_name("l2", d, port)
        for seq, (name, (prio, prefix)) in enumerate(sub_meta.items()):
            sub = chain_name("l2", d, port, name)
            l2.append((prio, 0, seq, f"{_CHAIN_MATCH[prefix]}jump {sub}"))
        prog.chains[root] = [t for *_, t in sorted(l2, key=lambda x: x[:3])]
        for name, rules in subs.items():
            prog.chains[chain_name("l2", d, port, name)] = [t for *_, t in sorted(rules)]
        prog.chains[chain_name("l3", d, port)] = [t for *_, t in sorted(l3)]
    return prog


def _base_lines() -> list[str]:
    t = f"{FAMILY} {TABLE}"
    lines = [f"add table {t}"]
    for layer, prio in (("l2", -200), ("l3", 0)):
        for m in ("from", "to"):
            lines.append(f"add map {t} {layer}-{m} {{ type ifname : verdict; }}")
        for hook in ("forward", "input", "output"):
            lines.append(f"add chain {t} {layer}-{hook} {{ type filter hook {hook} "
                         f"priority {prio}; policy accept; }}")
            lines.append(f"flush chain {t} {layer}-{hook}")
            if hook != "output":
                lines.append(f"add rule {t} {layer}-{hook} iifname vmap @{layer}-from")
            if hook != "input":
                lines.append(f"add rule {t} {layer}-{hook} oifname vmap @{layer}-to")
    return lines


def script(prog: PortProgram, existing: set[str], mapped: set[tuple[str, str]]) -> str:
    """An nft transaction that makes the port's chains exactly ``prog``.

    ``existing``: chain names of this port already in the table; ``mapped``:
    (map, port) pairs already present. Chains that are no longer used are
    flushed and deleted after their referrers were rewritten.
    """
    t = f"{FAMILY} {TABLE}"
    safe_ident(prog.port, "port device name")
    for rule_line in (r for rules in prog.chains.values() for r in rules):
        refuse_control(rule_line, "an nftables rule", ErrorDomain.NWFILTER)
    lines = _base_lines()
    for name in prog.chains:
        lines.append(f"add chain {t} {name}")
    for name in sorted(existing):
        lines.append(f"flush chain {t} {name}")
    for name, rules in prog.chains.items():
        if name not in existing:
            lines.append(f"flush chain {t} {name}")
        for r in rules:
            lines.append(f"add rule {t} {name} {r}")
    for layer in ("l2", "l3"):
        for m, d in (("from", "o"), ("to", "i")):
            if (f"{layer}-{m}", prog.port) not in mapped:
                lines.append(f'add element {t} {layer}-{m} {{ "{prog.port}" : jump '
                             f'{chain_name(layer, d, prog.port)} }}')
    for name in sorted(existing - set(prog.chains)):
        lines.append(f"delete chain {t} {name}")
    return "\n".join(lines) + "\n"


def teardown_script(port: str, existing: set[str], mapped: set[tuple[str, str]],
                    last: bool) -> str:
    t = f"{FAMILY} {TABLE}"
    safe_ident(port, "port device name")
    if last:
        return f"delete table {t}\n"
    lines = [f'delete element {t} {m} {{ "{p}" }}' for m, p in sorted(mapped) if p == port]
    lines += [f"flush chain {t} {name}" for name in sorted(existing)]
    lines += [f"delete chain {t} {name}" for name in sorted(existing)]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- running nft


class Nft:
    """Runs ``nft`` (found on PATH) and reads the table's state."""

    def __init__(self, binary: str | None = None) -> None:
        self.binary = binary

    def _nft(self) -> str:
        path = self.binary or shutil.which("nft")
        if path is None:
            raise nwfilter_error(ErrorCode.BUILD_FIREWALL, "cannot find 'nft' on PATH")
        return path

    def run(self, text: str) -> None:
        r = subprocess.run([self._nft(), "-f", "-"], input=text, capture_output=True,
                           text=True, timeout=60)
        if r.returncode != 0:
            raise nwfilter_error(ErrorCode.BUILD_FIREWALL,
                                 f"nft failed: {r.stderr.strip()}")

    def state(self) -> tuple[set[str], set[tuple[str, str]]]:
        """Chain names in the table and (map, ifname) elements; empty when there is no table."""
        r = subprocess.run([self._nft(), "-j", "list", "table", FAMILY, TABLE],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            return set(), set()
        chains: set[str] = set()
        mapped: set[tuple[str, str]] = set()
        for obj in json.loads(r.stdout).get("nftables", []):
            if "chain" in obj:
                chains.add(obj["chain"]["name"])
            elif "map" in obj:
                for elem in obj["map"].get("elem", []):
                    key = elem[0] if isinstance(elem, list) else elem
                    mapped.add((obj["map"]["name"], str(key)))
        return chains, mapped

    def apply(self, prog: PortProgram) -> None:
        chains, mapped = self.state()
        mine = {c for c in chains if _owned(c, prog.port)}
        self.run(script(prog, mine, mapped))

    def remove(self, port: str) -> None:
        chains, mapped = self.state()
        if not chains:
            return
        mine = {c for c in chains if _owned(c, port)}
        others = {p for _, p in mapped if p != port}
        self.run(teardown_script(port, mine, mapped, last=not others))


def _owned(chain: str, port: str) -> bool:
    for prefix in ("l2-o-", "l2-i-", "l3-o-", "l3-i-"):
        if chain == prefix + port or chain.startswith(prefix + port + "-"):
            return True
    return False


__all__ = [
    "MAC_PROTOCOLS",
    "Nft",
    "PortProgram",
    "build",
    "match_exprs",
    "rule_text",
    "script",
    "teardown_script",
]
