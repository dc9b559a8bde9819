"""Driver state on disk, for every driver: atomic writes, quarantine, name checks, stores.

Layout (libvirt's, directories given by the caller):

- ``CONFIG_DIR/NAME.xml``: a persistent definition, headed by libvirt's
  "AUTO-GENERATED FILE ... virsh edit NAME" comment (``ConfigStore``);
- ``CONFIG_DIR/autostart/NAME.xml``: a symlink to the definition;
- ``STATUS_DIR/NAME.xml``: the live status of an active object, a document the
  driver defines (``StatusStore``, given how to parse it).

Every write is atomic (temp file in the same directory, fsync, rename, fsync
of the directory). Reading is tolerant: a file that does not parse is moved
aside to ``NAME.xml.corrupt-<timestamp>`` and reported, never deleted.

Errors carry the error domain the store was made with (``ErrorDomain.QEMU``
unless given: the QEMU driver was the first user and the others kept it).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from virtkit.conf.xmlutil import parse_xml
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, XMLError, make_error

__all__ = [
    "NAME_MAX_BYTES",
    "ConfigStore",
    "LoadError",
    "StatusDocument",
    "StatusStore",
    "check_name",
    "fsync_dir",
    "quarantine",
    "write_atomic",
]

log = logging.getLogger(__name__)

# A name becomes NAME.xml, NAME.xml.corrupt-<timestamp>, temp files and
# libvirt's domain-ID-NAME: keep well under NAME_MAX (255 bytes).
NAME_MAX_BYTES = 200

_SUFFIX = ".xml"
_DEFAULT_DOMAIN = ErrorDomain.QEMU


def check_name(name: str, domain: int = _DEFAULT_DOMAIN) -> None:
    """Refuse an object name that cannot safely become a file name.

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
    fsync_dir(directory)


def fsync_dir(directory: str) -> None:
    """Make a rename or unlink in ``directory`` durable."""
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
    fsync_dir(os.path.dirname(os.path.abspath(path)))
    return target


@dataclass(frozen=True)
class LoadError:
    """A file that could not be loaded: reported, and moved aside when corrupt."""

    name: str
    path: str
    reason: str
    quarantined_to: str | None = None


def _system_error(message: str, exc: OSError, domain: int) -> VirtError:
    detail = f"{message}: {exc.strerror or exc}"
    return VirtError(detail, code=ErrorCode.SYSTEM_ERROR, domain=domain, int1=exc.errno or 0)


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


def _check_file_name(name: str, path: str, domain: int) -> LoadError | None:
    try:
        check_name(name, domain)
    except VirtError as exc:
        log.error("ignoring %s: %s", path, exc)
        return LoadError(name, path, str(exc))
    return None


def _stored_files(directory: str, domain: int,
                  errors: list[LoadError]) -> Iterator[tuple[str, str]]:
    """(name, path) of each stored file of a store, at start-up: temp files of interrupted
    writes are removed first, and a file whose name is no valid name goes to ``errors``."""
    _sweep_temps(directory)
    for name in _names_in(directory):
        path = os.path.join(directory, name + _SUFFIX)
        err = _check_file_name(name, path, domain)
        if err is not None:
            errors.append(err)
            continue
        yield name, path


def _latest_quarantine(path: str) -> str | None:
    directory, base = os.path.split(path)
    moved = sorted(e for e in os.listdir(directory) if e.startswith(base + ".corrupt-"))
    return os.path.join(directory, moved[-1]) if moved else None


# -- persistent definitions ---------------------------------------------------------


class ConfigStore:
    """Persistent definitions (``NAME.xml``) and autostart links."""

    def __init__(self, config_dir: str, autostart_dir: str | None = None, *,
                 domain: int = _DEFAULT_DOMAIN) -> None:
        self.config_dir = config_dir
        self.autostart_dir = autostart_dir or os.path.join(config_dir, "autostart")
        self.domain = domain

    def path(self, name: str) -> str:
        check_name(name, self.domain)
        return os.path.join(self.config_dir, name + _SUFFIX)

    def autostart_path(self, name: str) -> str:
        check_name(name, self.domain)
        return os.path.join(self.autostart_dir, name + _SUFFIX)

    def save(self, name: str, xml: str, uuid: str | None = None) -> None:
        """Write the definition of ``name`` (``xml`` is the formatted document)."""
        path = self.path(name)
        try:
            os.makedirs(self.config_dir, mode=0o755, exist_ok=True)
            write_atomic(path, _warning(name, uuid) + xml)
        except OSError as exc:
            raise _system_error(f"cannot write config file '{path}'", exc, self.domain) from None

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
            raise _system_error(f"cannot read config file '{path}'", exc, self.domain) from None
        try:
            parse_xml(data, path, self.domain)
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
            raise _system_error(f"cannot remove config {path}", exc, self.domain) from None
        with contextlib.suppress(OSError):
            fsync_dir(self.config_dir)

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
        for name, path in _stored_files(self.config_dir, self.domain, errors):
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
                raise _system_error(f"cannot create autostart directory {self.autostart_dir}",
                                    exc, self.domain) from None
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
                                    exc, self.domain) from None
        else:
            try:
                os.unlink(link)
            except FileNotFoundError:
                return
            except OSError as exc:
                raise _system_error(f"Failed to delete symlink '{link}'", exc,
                                    self.domain) from None
        with contextlib.suppress(OSError):
            fsync_dir(self.autostart_dir)


# -- live status ---------------------------------------------------------------------


class StatusDocument(Protocol):
    """What a status store keeps: a named document that formats itself."""

    @property
    def name(self) -> str: ...

    def to_xml(self) -> str: ...


DocT = TypeVar("DocT", bound=StatusDocument)

class StatusStore(Generic[DocT]):
    """Live status files (``STATUS_DIR/NAME.xml``) of active objects."""

    def __init__(self, status_dir: str, parse: Callable[[str, bytes, str], DocT], *,
                 domain: int = _DEFAULT_DOMAIN) -> None:
        self.status_dir = status_dir
        self.parse = parse
        self.domain = domain

    def path(self, name: str) -> str:
        check_name(name, self.domain)
        return os.path.join(self.status_dir, name + _SUFFIX)

    def save(self, status: DocT, uuid: str | None = None) -> None:
        """Write (replace) the status file of ``status.name``."""
        path = self.path(status.name)
        try:
            os.makedirs(self.status_dir, mode=0o755, exist_ok=True)
            write_atomic(path, _warning(status.name, uuid) + status.to_xml())
        except OSError as exc:
            raise _system_error(f"cannot write status file '{path}'", exc, self.domain) from None

    def load(self, name: str) -> DocT | None:
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
            raise _system_error(f"cannot read status file '{path}'", exc, self.domain) from None
        try:
            return self.parse(name, data, path)
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
                raise _system_error(f"cannot remove status file {path}", exc,
                                    self.domain) from None
        with contextlib.suppress(OSError):
            fsync_dir(self.status_dir)

    def names(self) -> list[str]:
        return _names_in(self.status_dir)

    def load_all(self) -> tuple[list[DocT], list[LoadError]]:
        """Every readable status, and an error entry for each file that is not.

        Call at start-up: temp files left by interrupted writes are removed first.
        """
        found: list[DocT] = []
        errors: list[LoadError] = []
        for name, path in _stored_files(self.status_dir, self.domain, errors):
            try:
                st = self.load(name)
            except VirtError as exc:
                moved = _latest_quarantine(path) if not os.path.exists(path) else None
                errors.append(LoadError(name, path, str(exc), moved))
                continue
            if st is not None:
                found.append(st)
        return found, errors
