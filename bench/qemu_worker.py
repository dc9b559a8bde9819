"""The client side of the QEMU benchmarks, and the helpers every side shares.

Run by Debian's /usr/bin/python3 as the libvirt-python worker (bench/qemu_bench.py
starts it once and drives it over a pipe, one JSON object per line, like
remote_worker.py). bench/qemu_bench.py also imports this module to drive
virtkit's own client in its process with the same code, so both clients are
timed and polled for the boot marker the same way.

    {"op": "boot", "uri": URI, "name": N, "xml": XML, "log": SERIAL_LOG, "marker": M,
     "timeout": S}
        -> {"ok": true, "create_s": .., "marker_s": .., "destroy_s": .., "gone_s": .., "argv": [..]}
    {"op": "many_start", "uri": URI, "guests": [[NAME, XML, LOG], ...], "marker": M, "timeout": S}
        -> {"ok": true, "all_s": .., "create_s": [..], "marker_s": [..]}   (guests left running)
    {"op": "many_stop"}                                               -> {"ok": true}
    {"op": "version"}           -> {"ok": true, "version": LIBVIRT_VERSION, "python": "3.11.2"}
    {"op": "quit"}

Timing is done in the process that makes the API call, with time.perf_counter();
the pipe is outside every timed region. Nothing here imports virtkit or libvirt at
module level.
"""

from __future__ import annotations

import json
import os
import select
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

POLL_S = 0.001  # serial log polling period


# --- shared helpers ----------------------------------------------------------------------


def domain_xml(name: str, kernel: str, initrd: str, cmdline: str, serial_log: str) -> str:
    """The benchmark guest: TCG, q35, 256 MiB, 1 vcpu, direct kernel boot, logged serial."""
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>{kernel}</kernel>
    <initrd>{initrd}</initrd>
    <cmdline>{cmdline}</cmdline>
  </os>
  <features><acpi/></features>
  <devices>
    <serial type='pty'><log file='{serial_log}'/></serial>
    <console type='pty'/>
  </devices>
</domain>
"""


def wait_markers(logs: Sequence[str], marker: str, t0: float, timeout: float,
                 abort: Callable[[], str | None] | None = None) -> list[float]:
    """Poll every serial log until each holds ``marker``; seconds from ``t0`` for each.

    Files are opened once they exist and read incrementally; the period is POLL_S.
    ``abort`` (checked every period) returning a message stops the wait with an error.
    """
    needle = marker.encode()
    bufs = [b""] * len(logs)
    files: list[Any] = [None] * len(logs)
    found: list[float | None] = [None] * len(logs)
    deadline = t0 + timeout
    try:
        while True:
            for i, path in enumerate(logs):
                if found[i] is not None:
                    continue
                if files[i] is None:
                    try:
                        files[i] = open(path, "rb")  # noqa: SIM115 - closed below
                    except FileNotFoundError:
                        continue
                chunk = files[i].read()
                if chunk:
                    bufs[i] = bufs[i][-len(needle):] + chunk
                    if needle in bufs[i]:
                        found[i] = time.perf_counter() - t0
            if all(f is not None for f in found):
                return [float(f) for f in found if f is not None]
            if abort is not None and (why := abort()):
                raise RuntimeError(why)
            if time.perf_counter() > deadline:
                missing = [logs[i] for i, f in enumerate(found) if f is None]
                raise TimeoutError(f"no boot marker after {timeout} s in {missing[:3]}")
            time.sleep(POLL_S)
    finally:
        for f in files:
            if f is not None:
                f.close()


def qemu_pid(name: str) -> int | None:
    """The pid of the QEMU running guest ``name`` (by its ``-name guest=NAME,`` argument)."""
    want = f"guest={name},".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"qemu-system-x86_64") and any(
            a.startswith(want) for a in argv
        ):
            return int(entry)
    return None


def proc_argv(pid: int) -> list[str]:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return [a.decode(errors="replace") for a in f.read().split(b"\0")[:-1]]


def wait_gone(pidfd: int, t0: float, timeout: float = 30.0) -> float:
    """Seconds from ``t0`` until the process behind ``pidfd`` has exited."""
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    if not poller.poll(timeout * 1000):
        raise TimeoutError("QEMU still running after destroy")
    return time.perf_counter() - t0


# --- the client APIs ---------------------------------------------------------------------


class Api:
    """One client library: libvirt-python or virtkit, behind the same few calls."""

    def open(self, uri: str) -> Any: ...
    def close(self, conn: Any) -> None: ...
    def create(self, conn: Any, xml: str) -> Any: ...
    def define(self, conn: Any, xml: str) -> Any: ...
    def start(self, dom: Any) -> None: ...
    def destroy(self, dom: Any) -> None: ...
    def undefine(self, dom: Any) -> None: ...


class LibvirtApi(Api):
    def __init__(self) -> None:
        import libvirt  # type: ignore[import-not-found]  # Debian's python3 only

        self.libvirt = libvirt

    def open(self, uri: str) -> Any:
        return self.libvirt.open(uri)

    def close(self, conn: Any) -> None:
        conn.close()

    def create(self, conn: Any, xml: str) -> Any:
        return conn.createXML(xml, 0)

    def define(self, conn: Any, xml: str) -> Any:
        return conn.defineXML(xml)

    def start(self, dom: Any) -> None:
        dom.create()

    def destroy(self, dom: Any) -> None:
        dom.destroy()

    def undefine(self, dom: Any) -> None:
        dom.undefine()


class VirtkitApi(Api):
    def __init__(self) -> None:
        import virtkit

        self.virtkit = virtkit

    def open(self, uri: str) -> Any:
        return self.virtkit.open(uri)

    def close(self, conn: Any) -> None:
        conn.close()

    def create(self, conn: Any, xml: str) -> Any:
        return conn.create_domain(xml)

    def define(self, conn: Any, xml: str) -> Any:
        return conn.define_domain(xml)

    def start(self, dom: Any) -> None:
        dom.start()

    def destroy(self, dom: Any) -> None:
        dom.destroy()

    def undefine(self, dom: Any) -> None:
        dom.undefine()


class Client:
    """The benchmarks, for one client API; connections are opened outside timed regions."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.conns: dict[str, Any] = {}
        self._many: list[tuple[Any, Any]] = []  # (conn, dom) left running by many_start

    def conn(self, uri: str) -> Any:
        if uri not in self.conns:
            self.conns[uri] = self.api.open(uri)
        return self.conns[uri]

    def boot(self, uri: str, name: str, xml: str, log: str, marker: str,
             timeout: float) -> dict[str, Any]:
        """createXML -> return -> boot marker; then destroy -> return -> QEMU exited."""
        conn, api, clock = self.conn(uri), self.api, time.perf_counter
        t0 = clock()
        dom = api.create(conn, xml)
        create_s = clock() - t0
        try:
            marker_s = wait_markers([log], marker, t0, timeout)[0]
        except BaseException:
            api.destroy(dom)
            raise
        pid = qemu_pid(name)
        if pid is None:
            api.destroy(dom)
            raise RuntimeError(f"no QEMU process found for guest {name}")
        argv = proc_argv(pid)
        pidfd = os.pidfd_open(pid)
        try:
            t1 = clock()
            api.destroy(dom)
            destroy_s = clock() - t1
            gone_s = wait_gone(pidfd, t1)
        finally:
            os.close(pidfd)
        return {"create_s": create_s, "marker_s": marker_s, "destroy_s": destroy_s,
                "gone_s": gone_s, "argv": argv}

    def many_start(self, uri: str, guests: Sequence[Sequence[str]], marker: str,
                   timeout: float) -> dict[str, Any]:
        """One thread and connection per guest, released together: defineXML + create."""
        n = len(guests)
        conns = [self.api.open(uri) for _ in range(n)]
        gate = threading.Barrier(n + 1)
        create_s: list[float] = [0.0] * n
        doms: list[Any] = [None] * n
        errors: list[str] = []
        t0_box = [0.0]

        def one(i: int) -> None:
            gate.wait()
            try:
                dom = self.api.define(conns[i], guests[i][1])
                self.api.start(dom)
                doms[i] = dom
                create_s[i] = time.perf_counter() - t0_box[0]
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")

        threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(n)]
        for t in threads:
            t.start()
        t0_box[0] = time.perf_counter()
        gate.wait()
        try:
            marker_s = wait_markers([g[2] for g in guests], marker, t0_box[0], timeout,
                                    abort=lambda: errors[0] if errors else None)
        finally:
            for t in threads:
                t.join(timeout)
            self._many = [(c, d) for c, d in zip(conns, doms, strict=True)]
        if errors:
            raise RuntimeError(f"{len(errors)} guest(s) failed: {errors[0]}")
        return {"all_s": max(marker_s), "create_s": create_s, "marker_s": marker_s}

    def many_stop(self) -> None:
        first: Exception | None = None
        for conn, dom in self._many:
            try:
                if dom is not None:
                    self.api.destroy(dom)
                    self.api.undefine(dom)
            except Exception as exc:
                first = first or exc
            self.api.close(conn)
        self._many = []
        if first is not None:
            raise first

    def close(self) -> None:
        for conn in self.conns.values():
            self.api.close(conn)
        self.conns.clear()


def handle(client: Client, req: dict[str, Any], version: Callable[[], int]) -> dict[str, Any]:
    op = req["op"]
    if op == "boot":
        return {"ok": True, **client.boot(req["uri"], req["name"], req["xml"], req["log"],
                                          req["marker"], float(req["timeout"]))}
    if op == "many_start":
        return {"ok": True, **client.many_start(req["uri"], req["guests"], req["marker"],
                                                float(req["timeout"]))}
    if op == "many_stop":
        client.many_stop()
        return {"ok": True}
    if op == "version":
        return {"ok": True, "version": version(), "python": sys.version.split()[0]}
    raise ValueError(f"unknown op {op!r}")


def main() -> int:
    import libvirt

    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    client = Client(LibvirtApi())
    for line in sys.stdin:
        req = json.loads(line)
        if req["op"] == "quit":
            break
        try:
            reply = handle(client, req, libvirt.getVersion)
        except Exception as exc:
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
    client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
