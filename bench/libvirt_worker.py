"""libvirt-python side of the benchmarks, run by Debian's /usr/bin/python3.

libvirt-python is installed only for the system interpreter, so bench/run.py starts
this script once as a persistent subprocess and drives it over a pipe with one JSON
object per line:

    {"op": "setup", "bench": NAME, "params": {...}}  -> {"ok": true}
    {"op": "run", "bench": NAME, "n": N}             -> {"ok": true, "elapsed": SECONDS}
    {"op": "teardown", "bench": NAME}                -> {"ok": true}
    {"op": "version"}          -> {"ok": true, "version": LIBVIRT_VERSION, "python": "3.11.2"}
    {"op": "quit"}

Each "run" times its own batch of N iterations with time.perf_counter() inside this
process; the pipe round trip is outside the timed region.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import domxml  # bench/ is sys.path[0] when this file runs as a script
import libvirt

URI = "test:///default"


def _quiet(_ctx: object, _err: object) -> None:
    """Swallow libvirt's default print-to-stderr error handler."""


class Bench:
    """One benchmark on one private connection."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params
        self.conn = libvirt.open(URI)

    def run(self, n: int) -> float:
        raise NotImplementedError

    def teardown(self) -> None:
        self.conn.close()


class LookupInfo(Bench):
    """lookupByName("test") + info()."""

    def run(self, n: int) -> float:
        conn = self.conn
        t0 = time.perf_counter()
        for _ in range(n):
            conn.lookupByName("test").info()
        return time.perf_counter() - t0


class Lifecycle(Bench):
    """defineXML + create + destroy + undefine of a small domain."""

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(params)
        self.xml = domxml.small_domain("bench-cycle")

    def run(self, n: int) -> float:
        conn, xml = self.conn, self.xml
        t0 = time.perf_counter()
        for _ in range(n):
            dom = conn.defineXML(xml)
            dom.create()
            dom.destroy()
            dom.undefine()
        return time.perf_counter() - t0


class ListAll(Bench):
    """listAllDomains(0) on a node holding `count` extra defined domains."""

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(params)
        self.count = int(params["count"])
        for i in range(self.count):
            self.conn.defineXML(domxml.small_domain(f"bench-list-{i}"))

    def run(self, n: int) -> float:
        conn = self.conn
        # keep every result until the clock stops: freeing 10k handles is not the call
        t0 = time.perf_counter()
        results = [conn.listAllDomains(0) for _ in range(n)]
        elapsed = time.perf_counter() - t0
        doms = results[-1]
        if len(doms) < self.count:
            raise RuntimeError(f"listed {len(doms)} domains, expected >= {self.count}")
        return elapsed

    def teardown(self) -> None:
        for i in range(self.count):
            self.conn.lookupByName(f"bench-list-{i}").undefine()
        super().teardown()


class LargeXml(Bench):
    """defineXML(large XML) + XMLDesc(0): the test driver parses, stores and formats."""

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(params)
        self.xml = domxml.large_domain("bench-xml", int(params["disks"]), int(params["nics"]))

    def run(self, n: int) -> float:
        conn, xml = self.conn, self.xml
        t0 = time.perf_counter()
        for _ in range(n):
            conn.defineXML(xml).XMLDesc(0)
        return time.perf_counter() - t0

    def teardown(self) -> None:
        self.conn.lookupByName("bench-xml").undefine()
        super().teardown()


BENCHES: dict[str, type[Bench]] = {
    "lookup_info": LookupInfo,
    "lifecycle": Lifecycle,
    "list_all": ListAll,
    "large_xml": LargeXml,
}


def handle(live: dict[str, Bench], req: dict[str, Any]) -> dict[str, Any]:
    op = req["op"]
    if op == "setup":
        live[req["bench"]] = BENCHES[req["bench"]](req.get("params", {}))
        return {"ok": True}
    if op == "run":
        return {"ok": True, "elapsed": live[req["bench"]].run(int(req["n"]))}
    if op == "teardown":
        live.pop(req["bench"]).teardown()
        return {"ok": True}
    if op == "version":
        return {"ok": True, "version": libvirt.getVersion(), "python": sys.version.split()[0]}
    raise ValueError(f"unknown op {op!r}")


def main() -> int:
    libvirt.registerErrorHandler(_quiet, None)
    live: dict[str, Bench] = {}
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
