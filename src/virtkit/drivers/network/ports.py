"""Status files of an active network's ports: ``STATUS_DIR/NAME/ports/UUID.xml``.

libvirt's layout (virNetworkObjGetPortStatusDir): one ``<networkport>`` per file,
written when the port is created or changed, removed when it is deleted and all
together when the network stops. The next driver instance reads them back.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil

from virtkit.conf.networkport import NetworkPortDef
from virtkit.drivers.persist import check_name, quarantine, write_atomic
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error

__all__ = ["PortFiles"]

log = logging.getLogger(__name__)
_NET = ErrorDomain.NETWORK


class PortFiles:
    """The port status directory of one network."""

    def __init__(self, status_dir: str, network: str) -> None:
        check_name(network, _NET)
        self.network_dir = os.path.join(status_dir, network)
        self.dir = os.path.join(self.network_dir, "ports")

    def path(self, uuid: str) -> str:
        return os.path.join(self.dir, f"{uuid}.xml")

    def save(self, port: NetworkPortDef) -> None:
        assert port.uuid is not None
        path = self.path(port.uuid)
        try:
            os.makedirs(self.dir, mode=0o755, exist_ok=True)
            write_atomic(path, port.to_xml())
        except OSError as exc:
            raise make_error(ErrorCode.SYSTEM_ERROR, _NET,
                             f"cannot write status file '{path}': {exc.strerror}") from None

    def delete(self, uuid: str) -> None:
        path = self.path(uuid)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise make_error(ErrorCode.SYSTEM_ERROR, _NET,
                             f"Unable to delete {path}: {exc.strerror}") from None

    def delete_all(self) -> None:
        """Remove every port file and the network's directory (best effort)."""
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(self.network_dir)

    def load_all(self) -> list[NetworkPortDef]:
        """Every readable port; a file that is not one is quarantined and logged."""
        try:
            entries = sorted(os.listdir(self.dir))
        except (FileNotFoundError, NotADirectoryError):
            return []
        out = []
        for entry in entries:
            if not entry.endswith(".xml") or entry.startswith("."):
                continue
            path = os.path.join(self.dir, entry)
            try:
                with open(path, "rb") as f:
                    port = NetworkPortDef.from_xml(f.read())
                if port.uuid != entry[:-4]:
                    raise make_error(ErrorCode.INTERNAL_ERROR, _NET,
                                     f"port uuid '{port.uuid}' does not match the file name")
                out.append(port)
            except VirtError as exc:
                log.error("network port status %s unreadable (%s); moved to %s", path, exc,
                          quarantine(path))
            except OSError as exc:
                log.error("cannot read network port status %s: %s", path, exc)
        return out
