"""The QEMU domain's live status document (``STATUS_DIR/NAME.xml``) and its store.

``<domstatus state= reason= pid=>`` with ``<monitor path= type='unix'/>``,
``<vcpus>``, what virtkit needs to re-attach (``<process>`` with the
``pidfile``, ``<job async= phase=>`` while a save, snapshot or migration runs, ``<ptys>``),
then the live ``<domain>``. It is written before QEMU is spawned
(``paused``/``starting up``, pid 0). Files, atomic writes and quarantine are
``drivers/persist.py``'s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from lxml import etree

from virtkit.conf.xmlutil import dump_element, parse_xml, start_tag, write_raw
from virtkit.drivers import persist
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error

__all__ = ["DomainStatus", "StatusStore"]

_DOMAIN = ErrorDomain.QEMU


@dataclass
class DomainStatus:
    """What the status file holds about one running domain.

    ``state`` and ``reason`` are libvirt's strings (``running``/``booted``,
    ``paused``/``user``, ...). ``start_time`` is the QEMU process's start time
    in clock ticks since boot (/proc/PID/stat field 22) and ``argv0`` its
    ``argv[0]``: together with ``pid`` they identify the process after a
    daemon restart. ``domain_xml`` is the live ``<domain>``.
    """

    name: str
    pid: int
    domain_xml: str
    state: str = "running"
    reason: str = "booted"
    start_time: int = 0
    argv0: str = ""
    monitor_path: str = ""
    log_file: str = ""
    log_pos: int = 0
    ptys: dict[str, str] = field(default_factory=dict)  # chardev alias -> /dev/pts/N
    vcpus: dict[int, int] = field(default_factory=dict)  # vCPU id -> thread id
    # <disk type='volume'> translations: (pool, volume) -> ("file" or "block", path)
    volumes: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    pid_file: str = ""  # the -pidfile QEMU writes (and keeps locked while it runs)
    job: str = ""  # libvirt's async job in progress ("save", "snapshot"), "" for none
    job_phase: str = ""  # its phase ("begin3", "perform3", ...: migration jobs have them)
    job_flags: int = 0  # the flags of the API that started it (libvirt's apiFlags)

    @property
    def starting(self) -> bool:
        """Whether the start had not finished (paused, starting up; pid 0: not spawned)."""
        return self.pid <= 0 or (self.state, self.reason) == ("paused", "starting up")

    def to_xml(self) -> str:
        """The status document (libvirt's ``<domstatus>`` shape)."""
        out = [start_tag("domstatus", (("state", self.state), ("reason", self.reason),
                                       ("pid", str(self.pid)))) + ">\n"]
        for child in self._children():
            write_raw(child, 2, out)
        for line in self.domain_xml.strip("\n").split("\n"):
            out.append(f"  {line}\n" if line else "\n")
        out.append("</domstatus>\n")
        return "".join(out)

    def _children(self) -> list[etree._Element]:
        """The elements before ``<domain>``: monitor, vCPUs, process, job, ptys, volumes."""
        kids: list[etree._Element] = []
        if self.monitor_path:
            kids.append(_element("monitor", path=self.monitor_path, type="unix"))
        if self.vcpus:
            kids.append(_element("vcpus", *(_element("vcpu", id=str(i), pid=str(t))
                                            for i, t in sorted(self.vcpus.items()))))
        proc = _element("process", starttime=str(self.start_time), argv0=self.argv0,
                        log=self.log_file, logpos=str(self.log_pos))
        if self.pid_file:
            proc.set("pidfile", self.pid_file)
        kids.append(proc)
        if self.job:
            job = _element("job", type="none", **{"async": self.job})
            if self.job_phase:
                job.set("phase", self.job_phase)
            if self.job_flags:
                job.set("flags", hex(self.job_flags))
            kids.append(job)
        if self.ptys:
            kids.append(_element("ptys", *(_element("pty", alias=k, path=v)
                                           for k, v in sorted(self.ptys.items()))))
        if self.volumes:
            kids.append(_element("volumes", *(
                _element("volume", pool=p, name=v, type=k, path=path)
                for (p, v), (k, path) in sorted(self.volumes.items()))))
        return kids

    @classmethod
    def from_xml(cls, name: str, text: str | bytes, context: str = "status") -> DomainStatus:
        """Parse a status document; VIR_ERR_XML_DETAIL/INTERNAL_ERROR when it is not one."""
        root = parse_xml(text, context, _DOMAIN)

        def bad(why: str) -> VirtError:
            return make_error(ErrorCode.INTERNAL_ERROR, _DOMAIN, f"{context}: {why}")

        if root.tag != "domstatus":
            raise bad(f"unexpected root element <{root.tag}>, expecting <domstatus>")
        dom = root.find("domain")
        if dom is None:
            raise bad("no <domain> in status")
        pid = _int(root.get("pid"), bad, "pid")
        st = cls(name=name, pid=pid, domain_xml=dump_element(dom, 0),
                 state=root.get("state", "running"), reason=root.get("reason", "unknown"))
        mon = root.find("monitor")
        if mon is not None:
            st.monitor_path = mon.get("path", "")
        proc = root.find("process")
        if proc is not None:
            st.start_time = _int(proc.get("starttime", "0"), bad, "starttime")
            st.argv0 = proc.get("argv0", "")
            st.log_file = proc.get("log", "")
            st.log_pos = _int(proc.get("logpos", "0"), bad, "logpos")
            st.pid_file = proc.get("pidfile", "")
        job = root.find("job")
        if job is not None:
            st.job = job.get("async", "") if job.get("async") != "none" else ""
            st.job_phase = job.get("phase", "") if st.job else ""
            try:
                st.job_flags = int(job.get("flags", "0"), 0) if st.job else 0
            except ValueError:
                raise bad(f"invalid job flags '{job.get('flags')}'") from None
        for v in root.iterfind("vcpus/vcpu"):
            st.vcpus[_int(v.get("id"), bad, "vcpu id")] = _int(v.get("pid"), bad, "vcpu pid")
        for p in root.iterfind("ptys/pty"):
            alias, path = p.get("alias"), p.get("path")
            if alias and path:
                st.ptys[alias] = path
        for v in root.iterfind("volumes/volume"):
            pool, vol, kind, path = (v.get(k) for k in ("pool", "name", "type", "path"))
            if pool and vol and kind in ("file", "block") and path:
                st.volumes[(pool, vol)] = (kind, path)
        inner = dom.findtext("name")
        if inner != name:
            raise bad(f"domain name '{inner}' does not match the file name '{name}'")
        return st


def _element(tag: str, *children: etree._Element, **attrs: str) -> etree._Element:
    el = etree.Element(tag)
    for key, value in attrs.items():
        el.set(key, value)
    el.extend(children)
    return el


def _int(value: str | None, bad: Callable[[str], VirtError], what: str) -> int:
    try:
        if value is None:
            raise ValueError
        return int(value)
    except ValueError:
        raise bad(f"invalid {what} '{value}'") from None


class StatusStore(persist.StatusStore[DomainStatus]):
    """Live status files (``STATUS_DIR/NAME.xml``) of running QEMU domains."""

    def __init__(self, status_dir: str) -> None:
        super().__init__(status_dir, DomainStatus.from_xml, domain=_DOMAIN)
