"""libvirt-python client side of the remote benchmarks, run by Debian's /usr/bin/python3.

bench/remote.py starts this script once and drives it over a pipe, one JSON object
per line, like libvirt_worker.py; every benchmark instance has its own name and
connects to the daemon URI given in its params, so one worker serves both daemons:

    {"op": "setup", "name": ID, "bench": KIND, "params": {"uri": URI, ...}} -> {"ok": true}
    {"op": "run", "name": ID, "n": N}
        -> {"ok": true, "elapsed": SECONDS, "ops": CALLS[, "times": [SECONDS, ...]]}
    {"op": "teardown", "name": ID}                                         -> {"ok": true}
    {"op": "version"}          -> {"ok": true, "version": LIBVIRT_VERSION, "python": "3.11.2"}
    {"op": "quit"}

Benchmarks (KIND):
    latency     N getLibVersion() calls, each timed on its own ("times")
    lookup_info N lookupByName("test").info() pairs, timed as a batch
    list_all    N listAllDomains(0), after setup defined params["count"] domains
    concurrent  params["clients"] threads, each with its own connection, doing
                lookup+info for N milliseconds; "ops" is the total over all threads

All timing is done here with time.perf_counter(); the pipe is outside the timed region.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

import domxml  # bench/ is sys.path[0] when this file runs as a script
import libvirt


def _quiet(_ctx: object, _err: object) -> None:
    """Swallow libvirt's default print-to-stderr error handler."""


def _result(elapsed: float, ops: int, **extra: Any) -> dict[str, Any]:
    return {"elapsed": elapsed, "ops": ops, **extra}


class Bench:
    """One benchmark on one private connection to params["uri"]."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params
        self.conn = libvirt.open(params["uri"])

    def run(self, n: int) -> dict[str, Any]:
        raise NotImplementedError

    def teardown(self) -> None:
        self.conn.close()


class Latency(Bench):
    """getLibVersion() round trips, each call timed on its own."""

    def run(self, n: int) -> dict[str, Any]:
        call, clock = self.conn.getLibVersion, time.perf_counter
        times = [0.0] * n
        t_start = clock()
        for i in range(n):
            t0 = clock()
            call()
            times[i] = clock() - t0
        return _result(clock() - t_start, n, times=times)


class LookupInfo(Bench):
    """lookupByName("test") + info() pairs."""

    def run(self, n: int) -> dict[str, Any]:
        conn = self.conn
        t0 = time.perf_counter()
        for _ in range(n):
            conn.lookupByName("test").info()
        return _result(time.perf_counter() - t0, n)


class ListAll(Bench):
    """listAllDomains(0) on a node holding params["count"] extra persistent domains."""

    PREFIX = "bench-rlist-"

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(params)
        self.count = int(params["count"])
        for i in range(self.count):
            self.conn.defineXML(domxml.small_domain(f"{self.PREFIX}{i}"))

    def run(self, n: int) -> dict[str, Any]:
        conn = self.conn
        # keep every result until the clock stops: freeing the handles is not the call
        t0 = time.perf_counter()
        results = [conn.listAllDomains(0) for _ in range(n)]
        elapsed = time.perf_counter() - t0
        if len(results[-1]) < self.count:
            raise RuntimeError(f"listed {len(results[-1])} domains, expected >= {self.count}")
        return _result(elapsed, n)

    def teardown(self) -> None:
        for i in range(self.count):
            self.conn.lookupByName(f"{self.PREFIX}{i}").undefine()
        super().teardown()


class Concurrent:
    """params["clients"] threads, one connection each, lookup+info for a time window.

    The threads live as long as the benchmark and wait on a barrier between windows,
    so thread start-up and connection set-up are never timed.
    """

    def __init__(self, params: dict[str, Any]) -> None:
        self.clients = int(params["clients"])
        self.conns = [libvirt.open(params["uri"]) for _ in range(self.clients)]
        self.start = threading.Barrier(self.clients + 1)
        self.done = threading.Barrier(self.clients + 1)
        self.deadline = 0.0
        self.quit = False
        self.counts = [0] * self.clients
        self.errors: list[str] = []
        self.threads = [
            threading.Thread(target=self._loop, args=(i,), daemon=True)
            for i in range(self.clients)
        ]
        for t in self.threads:
            t.start()

    def _loop(self, idx: int) -> None:
        conn, clock = self.conns[idx], time.perf_counter
        while True:
            self.start.wait()
            if self.quit:
                return
            deadline, count = self.deadline, 0
            try:
                while clock() < deadline:
                    conn.lookupByName("test").info()
                    count += 1
            except libvirt.libvirtError as exc:
                self.errors.append(str(exc))
            self.counts[idx] = count
            self.done.wait()

    def run(self, n: int) -> dict[str, Any]:
        self.counts = [0] * self.clients
        t0 = time.perf_counter()
        self.deadline = t0 + n / 1000.0
        self.start.wait()
        self.done.wait()
        elapsed = time.perf_counter() - t0
        if self.errors:
            raise RuntimeError(f"{len(self.errors)} client(s) failed: {self.errors[0]}")
        return _result(elapsed, sum(self.counts), per_client=self.counts)

    def teardown(self) -> None:
        self.quit = True
        self.start.wait()
        for t in self.threads:
            t.join(10)
        for conn in self.conns:
            conn.close()


BENCHES: dict[str, Any] = {
    "latency": Latency,
    "lookup_info": LookupInfo,
    "list_all": ListAll,
    "concurrent": Concurrent,
}


def handle(live: dict[str, Any], req: dict[str, Any]) -> dict[str, Any]:
    op = req["op"]
    if op == "setup":
        live[req["name"]] = BENCHES[req["bench"]](req.get("params", {}))
        return {"ok": True}
    if op == "run":
        return {"ok": True, **live[req["name"]].run(int(req["n"]))}
    if op == "teardown":
        live.pop(req["name"]).teardown()
        return {"ok": True}
    if op == "version":
        return {"ok": True, "version": libvirt.getVersion(), "python": sys.version.split()[0]}
    raise ValueError(f"unknown op {op!r}")


def main() -> int:
    libvirt.registerErrorHandler(_quiet, None)
    live: dict[str, Any] = {}
    for line in sys.stdin:
        req = json.loads(line)
        if req["op"] == "quit":
            break
        try:
            reply = handle(live, req)
        except Exception as exc:
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
    return 0  # connections and client threads end with the process


if __name__ == "__main__":
    sys.exit(main())
