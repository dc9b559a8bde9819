"""The QEMU driver's files: persistent definitions, autostart links, live status.

Layout (libvirt's, directories given by the caller):

- ``CONFIG_DIR/NAME.xml``: the persistent definition, headed by libvirt's
  "AUTO-GENERATED FILE ... virsh edit NAME" comment;
- ``CONFIG_DIR/autostart/NAME.xml``: a symlink to the definition;
- ``STATUS_DIR/NAME.xml``: the live status of a running domain (written before
  its QEMU is spawned: ``paused``/``starting up``, pid 0),
  ``<domstatus state= reason= pid=>`` with ``<monitor path= type='unix'/>``,
  ``<vcpus>``, what virtkit needs to re-attach (``<process>`` with the
  ``pidfile``, ``<job async=>`` while a save or snapshot runs, ``<ptys>``),
  then the live ``<domain>``.

Every write is atomic (temp file in the same directory, fsync, rename, fsync
of the directory). Reading is tolerant: a file that does not parse is moved
aside to ``NAME.xml.corrupt-<timestamp>`` and reported, never deleted.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from lxml import etree

from virtkit.conf.xmlutil import dump_element, parse_xml, start_tag, write_raw
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, XMLError, make_error

__all__ = [
    "NAME_MAX_BYTES",
    "ConfigStore",
    "DomainStatus",
    "LoadError",
    "StatusStore",
    "check_name",
    "quarantine",
    "write_atomic",
]

log = logging.getLogger(__name__)

# A name becomes NAME.xml, NAME.xml.corrupt-<timestamp>, temp files and
# libvirt's domain-ID-NAME: keep well under NAME_MAX (255 bytes).
NAME_MAX_BYTES = 200

_SUFFIX = ".xml"
_DOMAIN = ErrorDomain.QEMU


def check_name(name: str, domain: int = _DOMAIN) -> None:
    """Refuse a domain name that cannot safely become a file name.

    '/' gets libvirt's own error ("XML error: name a/b cannot contain '/'");
    NUL, newline (libvirt's qemu driver refuses it on define), '.', '..',
    the empty name and over-long names are refused with VIR_ERR_XML_ERROR too.
    """
    if "/" in name:
        raise make_error(ErrorCode.XML_ERROR, domain, f"name {name} cannot contain '/'")
    for ch in ("\0", "\n"):
        if ch in name:
            raise XMLError(f"invalid char in name: {ch}", code=ErrorCode.XML_DETAIL, domain=domain)
    if name in ("", ".", ".."):
        raise make_error(ErrorCode.XML_ERROR, domain, f"name '{name}' is not a valid domain name")
    if len(name.encode("utf-8", "surrogatepass")) > NAME_MAX_BYTES:
        raise make_error(ErrorCode.XML_ERROR, domain,
                         f"name {name[:40]}... is longer than {NAME_MAX_BYTES} bytes")


def write_atomic(path: str, data: bytes | str, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` atomically and durably.

    The data goes to a temp file in the same directory, which is fsynced and
    renamed over ``path``; the directory is then fsynced so the rename itself
    survives a crash. A reader sees the old file or the new one, never a mix.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        try:
            os.fchmod(fd, mode)
            view = memoryview(raw)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


def _fsync_dir(directory: str) -> None:
    dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def quarantine(path: str) -> str:
    """Move a bad file aside to ``PATH.corrupt-<timestamp>`` and return the new path."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    target = f"{path}.corrupt-{stamp}"
    n = 1
    while os.path.lexists(target):
        n += 1
        target = f"{path}.corrupt-{stamp}.{n}"
    os.rename(path, target)
    _fsync_dir(os.path.dirname(os.path.abspath(path)))
    return target


@dataclass(frozen=True)
class LoadError:
    """A file that could not be loaded: reported, and moved aside when corrupt."""

    name: str
    path: str
    reason: str
    quarantined_to: str | None = None


def _system_error(message: str, exc: OSError) -> VirtError:
    detail = f"{message}: {exc.strerror or exc}"
    return VirtError(detail, code=ErrorCode.SYSTEM_ERROR, domain=_DOMAIN,
                     int1=exc.errno or 0)


def _warning(name: str, uuid: str | None) -> str:
    """libvirt's comment at the top of files it writes (virXMLEmitWarning)."""
    unsafe = set("\r\t\n !\"#$&'()*;<>?[\\]^`{|}~")
    pick = None
    for cand in (name, uuid):
        if cand and not (unsafe & set(cand)) and "--" not in cand:
            pick = cand
            break
    target = f"edit {pick}" if pick else "edit"
    return ("<!--\n"
            "WARNING: THIS IS AN AUTO-GENERATED FILE. CHANGES TO IT ARE LIKELY TO BE\n"
            "OVERWRITTEN AND LOST. Changes to this xml configuration should be made using:\n"
            f"  virsh {target}\n"
            "or other application using the libvirt API.\n"
            "-->\n\n")


def _sweep_temps(directory: str) -> None:
    """Remove temp files of writes that a crash interrupted (the target is intact)."""
    try:
        entries = os.listdir(directory)
    except OSError:
        return
    for entry in entries:
        if entry.startswith(".") and entry.endswith(".tmp") and _SUFFIX in entry:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(directory, entry))
                log.info("removed %s, left by an interrupted write",
                         os.path.join(directory, entry))


def _names_in(directory: str) -> list[str]:
    try:
        entries = os.listdir(directory)
    except FileNotFoundError:
        return []
    # A leading dot is a valid name (libvirt's virDirRead skips only '.' and '..');
    # temp files end in ".tmp", never in ".xml".
    names = [entry[: -len(_SUFFIX)] for entry in entries if entry.endswith(_SUFFIX)]
    return sorted(n for n in names if n not in ("", ".", ".."))


def _uuid_of(root: etree._Element) -> str | None:
    uuid = root.findtext("uuid")
    return uuid.strip() if uuid else None


# -- persistent definitions ---------------------------------------------------------


class ConfigStore:
    """Persistent domain definitions (``NAME.xml``) and autostart links."""

    def __init__(self, config_dir: str, autostart_dir: str | None = None) -> None:
        self.config_dir = config_dir
        self.autostart_dir = autostart_dir or os.path.join(config_dir, "autostart")

    def path(self, name: str) -> str:
        check_name(name)
        return os.path.join(self.config_dir, name + _SUFFIX)

    def autostart_path(self, name: str) -> str:
        check_name(name)
        return os.path.join(self.autostart_dir, name + _SUFFIX)

    def save(self, name: str, xml: str, uuid: str | None = None) -> None:
        """Write the definition of ``name`` (``xml`` is the formatted ``<domain>``)."""
        path = self.path(name)
        try:
            os.makedirs(self.config_dir, mode=0o755, exist_ok=True)
            write_atomic(path, _warning(name, uuid) + xml)
        except OSError as exc:
            raise _system_error(f"cannot write config file '{path}'", exc) from None

    def load(self, name: str) -> str | None:
        """The stored XML of ``name`` (comment stripped), or None if there is none.

        A file that does not parse is quarantined and VIR_ERR_XML_DETAIL raised.
        """
        path = self.path(name)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _system_error(f"cannot read config file '{path}'", exc) from None
        try:
            parse_xml(data, path, _DOMAIN)
        except XMLError:
            moved = quarantine(path)
            log.error("config file %s does not parse; moved to %s", path, moved)
            raise
        text = data.decode("utf-8")
        if text.startswith("<!--"):  # the AUTO-GENERATED warning
            text = text[text.index("-->") + 3:].lstrip("\n")
        return text

    def delete(self, name: str) -> None:
        """Remove the definition and its autostart link (missing files are fine)."""
        with contextlib.suppress(OSError):
            os.unlink(self.autostart_path(name))
        path = self.path(name)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise _system_error(f"cannot remove config {path}", exc) from None
        with contextlib.suppress(OSError):
            _fsync_dir(self.config_dir)

    def names(self) -> list[str]:
        """Names with a stored definition."""
        return _names_in(self.config_dir)

    def load_all(self) -> tuple[dict[str, str], list[LoadError]]:
        """Every definition by name, and what could not be loaded (call at start-up).

        Temp files left by interrupted writes are removed first.
        Unparseable files are quarantined; a file whose ``<name>`` differs from
        its file name is reported and left alone (libvirt skips it too).
        """
        found: dict[str, str] = {}
        errors: list[LoadError] = []
        _sweep_temps(self.config_dir)
        for name in self.names():
            path = os.path.join(self.config_dir, name + _SUFFIX)
            err = _check_file_name(name, path)
            if err is not None:
                errors.append(err)
                continue
            try:
                xml = self.load(name)
            except XMLError as exc:
                errors.append(LoadError(name, path, str(exc), _latest_quarantine(path)))
                continue
            except VirtError as exc:
                errors.append(LoadError(name, path, str(exc)))
                continue
            if xml is None:
                continue
            inner = parse_xml(xml).findtext("name")
            if inner != name:
                reason = f"Domain config filename '{path}' does not match domain name '{inner}'"
                log.error("%s", reason)
                errors.append(LoadError(name, path, reason))
                continue
            found[name] = xml
        return found, errors

    def autostart(self, name: str) -> bool:
        """Whether the autostart link of ``name`` exists."""
        return os.path.islink(self.autostart_path(name))

    def set_autostart(self, name: str, on: bool) -> None:
        """Create or remove ``autostart/NAME.xml`` -> ``NAME.xml``."""
        link = self.autostart_path(name)
        target = self.path(name)
        if on:
            try:
                os.makedirs(self.autostart_dir, mode=0o755, exist_ok=True)
            except OSError as exc:
                raise _system_error(
                    f"cannot create autostart directory {self.autostart_dir}", exc) from None
            if os.path.islink(link) and os.readlink(link) == target:
                return
            try:
                tmp = f"{link}.new"
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                os.symlink(target, tmp)
                os.rename(tmp, link)
            except OSError as exc:
                raise _system_error(f"Failed to create symlink '{link}' to '{target}'",
                                    exc) from None
        else:
            try:
                os.unlink(link)
            except FileNotFoundError:
                return
            except OSError as exc:
                raise _system_error(f"Failed to delete symlink '{link}'", exc) from None
        with contextlib.suppress(OSError):
            _fsync_dir(self.autostart_dir)


def _check_file_name(name: str, path: str) -> LoadError | None:
    try:
        check_name(name)
    except VirtError as exc:
        log.error("ignoring %s: %s", path, exc)
        return LoadError(name, path, str(exc))
    return None


def _latest_quarantine(path: str) -> str | None:
    directory, base = os.path.split(path)
    moved = sorted(e for e in os.listdir(directory) if e.startswith(base + ".corrupt-"))
    return os.path.join(directory, moved[-1]) if moved else None


# -- live status ---------------------------------------------------------------------


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
            kids.append(_element("job", type="none", **{"async": self.job}))
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


class StatusStore:
    """Live status files (``STATUS_DIR/NAME.xml``) of running domains."""

    def __init__(self, status_dir: str) -> None:
        self.status_dir = status_dir

    def path(self, name: str) -> str:
        check_name(name)
        return os.path.join(self.status_dir, name + _SUFFIX)

    def save(self, status: DomainStatus, uuid: str | None = None) -> None:
        """Write (replace) the status file of ``status.name``."""
        path = self.path(status.name)
        try:
            os.makedirs(self.status_dir, mode=0o755, exist_ok=True)
            write_atomic(path, _warning(status.name, uuid) + status.to_xml())
        except OSError as exc:
            raise _system_error(f"cannot write status file '{path}'", exc) from None

    def load(self, name: str) -> DomainStatus | None:
        """The status of ``name``, or None without a file.

        A file that is not a status document is quarantined and the error raised.
        """
        path = self.path(name)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _system_error(f"cannot read status file '{path}'", exc) from None
        try:
            return DomainStatus.from_xml(name, data, path)
        except VirtError:
            moved = quarantine(path)
            log.error("status file %s is corrupt; moved to %s", path, moved)
            raise

    def delete(self, name: str) -> None:
        """Remove the status file of ``name`` (a missing file is fine)."""
        path = self.path(name)
        try:
            os.unlink(path)
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise _system_error(f"cannot remove status file {path}", exc) from None
        with contextlib.suppress(OSError):
            _fsync_dir(self.status_dir)

    def names(self) -> list[str]:
        return _names_in(self.status_dir)

    def load_all(self) -> tuple[list[DomainStatus], list[LoadError]]:
        """Every readable status, and an error entry for each file that is not.

        Call at start-up: temp files left by interrupted writes are removed first.
        """
        found: list[DomainStatus] = []
        errors: list[LoadError] = []
        _sweep_temps(self.status_dir)
        for name in self.names():
            path = os.path.join(self.status_dir, name + _SUFFIX)
            err = _check_file_name(name, path)
            if err is not None:
                errors.append(err)
                continue
            try:
                st = self.load(name)
            except VirtError as exc:
                moved = _latest_quarantine(path) if not os.path.exists(path) else None
                errors.append(LoadError(name, path, str(exc), moved))
                continue
            if st is not None:
                found.append(st)
        return found, errors
