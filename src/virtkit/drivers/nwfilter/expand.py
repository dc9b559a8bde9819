"""Resolve a filter tree for one port: filterrefs followed, variables bound, lists expanded.

The result is a flat list of concrete rules (no variables left), each tagged
with the chain it belongs in (``root`` or a sub-chain such as ``arp-ip``), the
chain's priority and the filter it came from, in tree order.

Variables follow libvirt: a filterref's parameters override the caller's; a
plain ``$V`` means ``$V[@0]``; all variables on the same iterator advance
together (their lists must have the same length); different iterators give
every combination; ``$V[n]`` picks one element; repeated combinations are
skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from virtkit.conf.nwfilter import (
    ATTRIBUTES,
    Item,
    NWFilterDef,
    Rule,
    VarAccess,
    nwfilter_error,
    parse_attr,
)
from virtkit.errors import ErrorCode

Vars = dict[str, list[str]]
Lookup = Callable[[str], NWFilterDef | None]


@dataclass
class PlacedRule:
    """A concrete rule and where it goes."""

    rule: Rule
    chain: str  # 'root' or the filter's chain name
    chain_prefix: str
    chain_priority: int
    filter: str


def _combinations(rule: Rule, vars: Vars) -> Iterator[dict[VarAccess, str]]:
    """libvirt's virNWFilterVarCombIter: every value assignment of the rule's variables."""
    accesses = rule.variables()
    # groups: (iterator key, [names], min, max); iterator 0 always exists
    keys: list[object] = [0]
    names: dict[object, list[str]] = {0: []}
    bounds: dict[object, tuple[int, int]] = {0: (0, 0)}
    for n, acc in enumerate(accesses):
        values = vars[acc.name]
        if acc.iterator:
            key: object = acc.index
            lo, hi = 0, len(values) - 1
        else:
            key = ("elem", n)
            lo = hi = acc.index
        if key not in names:
            keys.append(key)
            names[key] = []
            bounds[key] = (lo, hi)
        elif names[key] and bounds[key][1] != hi:
            raise nwfilter_error(ErrorCode.INTERNAL_ERROR,
                                 "Cardinality of list items must be the same for processing "
                                 "them in parallel")
        if not names[key]:
            bounds[key] = (lo, hi)
        names[key].append(acc.name)
    cur = {k: bounds[k][0] for k in keys}

    def unique(k: object) -> bool:
        group = names[k]
        c = cur[k]
        first = vars[group[0]]
        for i in range(c):
            if first[i] == first[c] and all(vars[g][i] == vars[g][c] for g in group[1:]):
                return False
        return True

    while True:
        yield {acc: vars[acc.name][cur[(acc.index if acc.iterator else ("elem", n))]]
               for n, acc in enumerate(accesses)}
        for k in keys:
            advanced = False
            while True:
                cur[k] += 1
                if cur[k] <= bounds[k][1]:
                    if not unique(k):
                        continue
                    advanced = True
                    break
                cur[k] = bounds[k][0]
                break
            if advanced:
                break
        else:
            return


def _missing(rule: Rule, vars: Vars) -> list[str]:
    out = []
    for acc in rule.variables():
        values = vars.get(acc.name)
        if values is None or (not acc.iterator and acc.index >= len(values)):
            out.append(str(acc))
    return out


def _bind(rule: Rule, values: dict[VarAccess, str]) -> Rule:
    specs = {s.name: s for s in ATTRIBUTES[rule.protocol or ""]} if rule.protocol else {}
    items: dict[str, Item] = {}
    for name, item in rule.items.items():
        if item.var is None:
            items[name] = item
        else:
            items[name] = parse_attr(specs[name], values[item.var], item.neg)
    return Rule(rule.action, rule.direction, rule.priority, rule.statematch, rule.protocol,
                items)


def expand(lookup: Lookup, filtername: str, vars: Vars) -> list[PlacedRule]:
    """The concrete rules of ``filtername`` with ``vars`` (VIR_ERR_* on what cannot be)."""
    out: list[PlacedRule] = []
    missing: list[str] = []
    _walk(lookup, filtername, vars, out, missing, [])
    if missing:
        uniq = list(dict.fromkeys(missing))
        raise nwfilter_error(
            ErrorCode.INTERNAL_ERROR,
            "Cannot instantiate filter due to unresolvable variables or unavailable list "
            f"elements: {', '.join(uniq)}")
    return out


def _walk(lookup: Lookup, name: str, vars: Vars, out: list[PlacedRule], missing: list[str],
          path: list[str]) -> None:
    if name in path:
        raise nwfilter_error(ErrorCode.OPERATION_FAILED, "filter would introduce a loop")
    d = lookup(name)
    if d is None:
        raise nwfilter_error(ErrorCode.INTERNAL_ERROR, f"referenced filter '{name}' is missing")
    prefix = d.chain_prefix
    for entry in d.entries:
        if isinstance(entry, Rule):
            lack = _missing(entry, vars)
            if lack:
                missing.extend(lack)
                continue
            for values in _combinations(entry, vars):
                out.append(PlacedRule(_bind(entry, values), d.chain, prefix, d.priority, d.name))
        else:
            child = dict(vars)
            child.update(entry.params)
            _walk(lookup, entry.filter, child, out, missing, [*path, name])
