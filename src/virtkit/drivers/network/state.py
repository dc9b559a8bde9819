"""The live status file of an active network (``STATUS_DIR/NAME.xml``).

libvirt's ``<networkstatus>`` wrapping the live ``<network>``, plus one ``<runtime>``
element recording what virtkit made for it, so that the next driver instance can
take the network back (or clean up exactly that)::

    <networkstatus>
      <runtime bridge='virbr0' bridgeCreated='yes' dnsmasqPid='1234' firewall='yes'/>
      <network>...</network>
    </networkstatus>
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass

from virtkit.conf.xmlutil import dump_element, escape_attr, parse_xml
from virtkit.drivers.persist import check_name, quarantine, write_atomic
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error

__all__ = ["NetworkStatus", "StatusFiles"]

log = logging.getLogger(__name__)
_NET = ErrorDomain.NETWORK


@dataclass
class NetworkStatus:
    """What an active network is made of."""

    name: str
    network_xml: str  # the live <network>
    bridge: str | None = None  # the bridge the network uses
    bridge_created: bool = False  # whether virtkit created it (and deletes it on stop)
    dnsmasq_pid: int | None = None
    firewall: bool = False  # whether rules were installed
    # An intent record: written before the first part is made, cleared when all are up.
    # A restart that finds it set removes what the interrupted start made.
    starting: bool = False

    def to_xml(self) -> str:
        a = escape_attr
        attrs = ""
        if self.bridge:
            attrs += f" bridge='{a(self.bridge)}'"
        attrs += f" bridgeCreated='{'yes' if self.bridge_created else 'no'}'"
        if self.dnsmasq_pid:
            attrs += f" dnsmasqPid='{self.dnsmasq_pid}'"
        attrs += f" firewall='{'yes' if self.firewall else 'no'}'"
        if self.starting:
            attrs += " starting='yes'"
        body = "".join(f"  {line}\n" if line else "\n"
                       for line in self.network_xml.strip("\n").split("\n"))
        return f"<networkstatus>\n  <runtime{attrs}/>\n{body}</networkstatus>\n"

    @classmethod
    def from_xml(cls, name: str, text: str | bytes, context: str) -> NetworkStatus:
        root = parse_xml(text, context, _NET)

        def bad(why: str) -> VirtError:
            return make_error(ErrorCode.INTERNAL_ERROR, _NET, f"{context}: {why}")

        if root.tag != "networkstatus":
            raise bad(f"unexpected root element <{root.tag}>, expecting <networkstatus>")
        net = root.find("network")
        if net is None:
            raise bad("no <network> in status")
        if net.findtext("name") != name:
            raise bad(f"network name '{net.findtext('name')}' does not match the file name")
        rt = root.find("runtime")
        st = cls(name=name, network_xml=dump_element(net, 0))
        if rt is not None:
            st.bridge = rt.get("bridge")
            st.bridge_created = rt.get("bridgeCreated") == "yes"
            st.firewall = rt.get("firewall") == "yes"
            st.starting = rt.get("starting") == "yes"
            pid = rt.get("dnsmasqPid")
            if pid:
                try:
                    st.dnsmasq_pid = int(pid)
                except ValueError:
                    raise bad(f"invalid dnsmasqPid '{pid}'") from None
        return st


class StatusFiles:
    """Status files of active networks."""

    def __init__(self, status_dir: str) -> None:
        self.status_dir = status_dir

    def path(self, name: str) -> str:
        check_name(name, _NET)
        return os.path.join(self.status_dir, f"{name}.xml")

    def save(self, status: NetworkStatus) -> None:
        path = self.path(status.name)
        try:
            os.makedirs(self.status_dir, mode=0o755, exist_ok=True)
            write_atomic(path, status.to_xml())
        except OSError as exc:
            raise make_error(ErrorCode.SYSTEM_ERROR, _NET,
                             f"cannot write status file '{path}': {exc.strerror}") from None

    def delete(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path(name))

    def load_all(self) -> list[NetworkStatus]:
        """Every readable status; a file that is not one is quarantined and logged."""
        try:
            entries = sorted(os.listdir(self.status_dir))
        except FileNotFoundError:
            return []
        out = []
        for entry in entries:
            if not entry.endswith(".xml") or entry in (".xml", "..xml", "...xml"):
                continue  # a leading dot is a valid name; temp files end in ".tmp"
            name, path = entry[:-4], os.path.join(self.status_dir, entry)
            try:
                check_name(name, _NET)
                with open(path, "rb") as f:
                    out.append(NetworkStatus.from_xml(name, f.read(), path))
            except VirtError as exc:
                log.error("network status %s unreadable (%s); moved to %s", path, exc,
                          quarantine(path))
            except OSError as exc:
                log.error("cannot read network status %s: %s", path, exc)
        return out
