"""The nwfilter driver: filter definitions, bindings, and their nftables rules.

Filters live in ``ROOT/etc/libvirt/nwfilter/NAME.xml`` (the standard filters
are defined in every instance; a stored file of the same name replaces one);
bindings in ``ROOT/run/libvirt/nwfilter-binding/PORTDEV.xml``. A binding is one
port's instantiated filter; redefining a filter re-instantiates every binding
whose filter tree uses it, and goes back to the old definition if that fails.
On start the stored bindings are instantiated again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading

from virtkit.conf.common import parse_uuid
from virtkit.conf.nwfilter import NWFilterDef, nwfilter_error, walk_refs
from virtkit.conf.nwfilter_binding import NWFilterBindingDef
from virtkit.drivers.base import NWFilterDriver
from virtkit.drivers.nwfilter import nft
from virtkit.drivers.nwfilter.expand import expand
from virtkit.drivers.nwfilter.standard import standard_filters
from virtkit.drivers.persist import check_name, quarantine, write_atomic
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, invalid_flags
from virtkit.types import NWFilterBindingIdent, NWFilterIdent

log = logging.getLogger(__name__)

_WARNING = ("<!--\nWARNING: THIS IS AN AUTO-GENERATED FILE. CHANGES TO IT ARE LIKELY TO BE\n"
            "OVERWRITTEN AND LOST. Changes to this xml configuration should be made using:\n"
            "  virsh nwfilter-edit {name}\nor other application using the libvirt API.\n"
            "-->\n\n")


class Firewall:
    """What the driver needs from the packet filter (nftables by default)."""

    def apply(self, prog: nft.PortProgram) -> None:
        nft.Nft().apply(prog)

    def remove(self, port: str) -> None:
        nft.Nft().remove(port)


class NWFilterDriverImpl(NWFilterDriver):
    """virNWFilterDriver with bindings, on nftables."""

    def __init__(self, root: str = "/", firewall: Firewall | None = None) -> None:
        self.config_dir = os.path.join(root, "etc/libvirt/nwfilter")
        self.binding_dir = os.path.join(root, "run/libvirt/nwfilter-binding")
        self.firewall = firewall or Firewall()
        self._lock = threading.RLock()
        self.filters: dict[str, NWFilterDef] = standard_filters()
        self.bindings: dict[str, NWFilterBindingDef] = {}
        self._load()

    # ------------------------------------------------------------------ persistence

    def _read_dir(self, directory: str) -> list[tuple[str, str]]:
        try:
            names = sorted(os.listdir(directory))
        except FileNotFoundError:
            return []
        out = []
        for entry in names:
            if entry.endswith(".xml") and entry not in (".xml", "..xml", "...xml"):
                path = os.path.join(directory, entry)
                with open(path, encoding="utf-8") as f:
                    out.append((path, f.read()))
        return out

    def _load(self) -> None:
        for path, text in self._read_dir(self.config_dir):
            try:
                d = NWFilterDef.from_xml(text)
            except VirtError as exc:
                log.error("cannot load nwfilter %s: %s; moved to %s", path, exc,
                          quarantine(path))
                continue
            self.filters[d.name] = d
        for path, text in self._read_dir(self.binding_dir):
            try:
                b = NWFilterBindingDef.from_xml(text)
                self.bindings[b.portdev_name] = b
                self._instantiate(b)
            except VirtError as exc:
                log.error("cannot restore nwfilter binding %s: %s", path, exc)

    def _save_filter(self, d: NWFilterDef) -> None:
        os.makedirs(self.config_dir, mode=0o755, exist_ok=True)
        write_atomic(os.path.join(self.config_dir, d.name + ".xml"),
                     _WARNING.format(name=d.name) + d.to_xml())

    def _save_binding(self, b: NWFilterBindingDef) -> None:
        os.makedirs(self.binding_dir, mode=0o755, exist_ok=True)
        write_atomic(os.path.join(self.binding_dir, b.portdev_name + ".xml"), b.to_xml())

    # ------------------------------------------------------------------ instantiation

    def program(self, b: NWFilterBindingDef) -> nft.PortProgram:
        """The nft chains of a binding (its filter tree resolved and expanded)."""
        vars = {k: list(v) for k, v in b.params.items()}
        if "MAC" not in vars and b.mac is not None and b.mac.address:
            vars["MAC"] = [b.mac.address]
        placed = expand(self.filters.get, b.filter_name, vars)
        return nft.build(b.portdev_name, placed)

    def _instantiate(self, b: NWFilterBindingDef) -> None:
        self.firewall.apply(self.program(b))

    def _uses(self, b: NWFilterBindingDef, name: str) -> bool:
        return name in walk_refs(self.filters.get, b.filter_name)

    # ------------------------------------------------------------------ filters

    @staticmethod
    def _ident(d: NWFilterDef) -> NWFilterIdent:
        return NWFilterIdent(d.name, d.uuid)

    def connect_list_all_nwfilters(self, flags: int = 0) -> list[NWFilterIdent]:
        if flags:
            raise invalid_flags(flags, "virConnectListAllNWFilters")
        with self._lock:
            return [self._ident(d) for _, d in sorted(self.filters.items())]

    def connect_num_of_nwfilters(self) -> int:
        return len(self.filters)

    def connect_list_nwfilters(self, maxnames: int = -1) -> list[str]:
        names = sorted(self.filters)
        return names if maxnames < 0 else names[:maxnames]

    def _get(self, ident: NWFilterIdent) -> NWFilterDef:
        d = self.filters.get(ident.name)
        if d is None or d.uuid != ident.uuid:
            for cand in self.filters.values():
                if cand.uuid == ident.uuid:
                    return cand
            raise nwfilter_error(ErrorCode.NO_NWFILTER,
                                 f"no nwfilter with matching uuid '{ident.uuid}'")
        return d

    def nwfilter_lookup_by_name(self, name: str) -> NWFilterIdent:
        d = self.filters.get(name)
        if d is None:
            raise nwfilter_error(ErrorCode.NO_NWFILTER,
                                 f"no nwfilter with matching name '{name}'")
        return self._ident(d)

    def nwfilter_lookup_by_uuid(self, uuid: str) -> NWFilterIdent:
        canon = parse_uuid(uuid) or uuid
        for d in self.filters.values():
            if d.uuid == canon:
                return self._ident(d)
        raise nwfilter_error(ErrorCode.NO_NWFILTER, f"no nwfilter with matching uuid '{uuid}'")

    def nwfilter_define_xml(self, xml: str, flags: int = 0) -> NWFilterIdent:
        if flags & ~1:  # VIR_NWFILTER_DEFINE_VALIDATE
            raise invalid_flags(flags, "virNWFilterDefineXMLFlags")
        d = NWFilterDef.from_xml(xml)
        check_name(d.name, ErrorDomain.NWFILTER)
        with self._lock:
            old = self.filters.get(d.name)
            for other in self.filters.values():
                if other.uuid == d.uuid and other.name != d.name:
                    raise nwfilter_error(
                        ErrorCode.OPERATION_FAILED,
                        f"filter with same UUID but different name ('{other.name}') "
                        "already exists")
            if old is not None:
                if not d.uuid_specified:
                    d.uuid = old.uuid
                elif old.uuid != d.uuid:
                    raise nwfilter_error(ErrorCode.OPERATION_FAILED,
                                         f"filter '{d.name}' already exists with uuid "
                                         f"{old.uuid}")
            self.filters[d.name] = d
            try:
                self._check_loop(d.name)
                self._rebuild(d.name)
            except VirtError:
                if old is None:
                    del self.filters[d.name]
                else:
                    self.filters[d.name] = old
                self._rebuild(d.name, best_effort=True)
                raise
            self._save_filter(d)
            return self._ident(d)

    def _check_loop(self, name: str) -> None:
        def visit(n: str, path: list[str]) -> None:
            d = self.filters.get(n)
            if d is None:
                return
            for ref in d.refs():
                if ref.filter in path or ref.filter == n:
                    raise nwfilter_error(ErrorCode.OPERATION_FAILED,
                                         "filter would introduce a loop")
                visit(ref.filter, [*path, n])
        visit(name, [])

    def _rebuild(self, name: str, best_effort: bool = False) -> None:
        for b in list(self.bindings.values()):
            if self._uses(b, name):
                try:
                    self._instantiate(b)
                except VirtError:
                    if not best_effort:
                        raise
                    log.exception("cannot restore the rules of %s", b.portdev_name)

    def nwfilter_undefine(self, ident: NWFilterIdent) -> None:
        with self._lock:
            d = self._get(ident)
            for b in self.bindings.values():
                if self._uses(b, d.name):
                    raise nwfilter_error(ErrorCode.OPERATION_INVALID, "nwfilter is in use")
            del self.filters[d.name]
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.config_dir, d.name + ".xml"))

    def nwfilter_get_xml_desc(self, ident: NWFilterIdent, flags: int = 0) -> str:
        if flags:
            raise invalid_flags(flags, "virNWFilterGetXMLDesc")
        return self._get(ident).to_xml()

    # ------------------------------------------------------------------ bindings

    @staticmethod
    def _bident(b: NWFilterBindingDef) -> NWFilterBindingIdent:
        return NWFilterBindingIdent(b.portdev_name, b.filter_name)

    def connect_list_all_nwfilter_bindings(self, flags: int = 0) -> list[NWFilterBindingIdent]:
        if flags:
            raise invalid_flags(flags, "virConnectListAllNWFilterBindings")
        with self._lock:
            return [self._bident(b) for _, b in sorted(self.bindings.items())]

    def nwfilter_binding_lookup_by_port_dev(self, portdev: str) -> NWFilterBindingIdent:
        b = self.bindings.get(portdev)
        if b is None:
            raise nwfilter_error(ErrorCode.NO_NWFILTER_BINDING,
                                 f"no nwfilter binding for port dev '{portdev}'")
        return self._bident(b)

    def nwfilter_binding_create_xml(self, xml: str, flags: int = 0) -> NWFilterBindingIdent:
        if flags & ~1:  # VIR_NWFILTER_BINDING_CREATE_VALIDATE
            raise invalid_flags(flags, "virNWFilterBindingCreateXML")
        b = NWFilterBindingDef.from_xml(xml)
        port = b.portdev_name
        if "/" in port or port in (".", "..") or len(port) > 15:
            raise nwfilter_error(ErrorCode.INVALID_ARG, f"invalid port device name '{port}'")
        nft.safe_ident(port, "<portdev name>")  # it names nftables chains
        with self._lock:
            if port in self.bindings:
                raise nwfilter_error(ErrorCode.OPERATION_INVALID,
                                     f"Filter already present for NIC '{port}'")
            if b.filter_name not in self.filters:
                raise nwfilter_error(ErrorCode.NO_NWFILTER,
                                     f"no nwfilter with matching name '{b.filter_name}'")
            self._instantiate(b)
            self.bindings[port] = b
            self._save_binding(b)
            return self._bident(b)

    def _binding(self, ident: NWFilterBindingIdent) -> NWFilterBindingDef:
        b = self.bindings.get(ident.portdev)
        if b is None:
            raise nwfilter_error(ErrorCode.NO_NWFILTER_BINDING,
                                 f"no nwfilter binding for port dev '{ident.portdev}'")
        return b

    def nwfilter_binding_delete(self, ident: NWFilterBindingIdent) -> None:
        with self._lock:
            b = self._binding(ident)
            self.firewall.remove(b.portdev_name)
            del self.bindings[b.portdev_name]
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.binding_dir, b.portdev_name + ".xml"))

    def nwfilter_binding_get_xml_desc(self, ident: NWFilterBindingIdent, flags: int = 0) -> str:
        if flags:
            raise invalid_flags(flags, "virNWFilterBindingGetXMLDesc")
        return self._binding(ident).to_xml()


_drivers: dict[str, NWFilterDriverImpl] = {}
_drivers_lock = threading.Lock()


def driver_for(root: str) -> NWFilterDriverImpl:
    """The nwfilter driver of ``root`` in this process (one: bindings are node state)."""
    with _drivers_lock:
        driver = _drivers.get(root)
        if driver is None:
            driver = _drivers[root] = NWFilterDriverImpl(root=root)
        return driver
