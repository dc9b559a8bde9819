"""virtkit side of the benchmarks: the same operations as libvirt_worker.py, in-process.

Each class mirrors the libvirt class of the same benchmark name; run(n) times its own
batch with time.perf_counter().
"""

from __future__ import annotations

import importlib
import time
from typing import Any

import domxml

import virtkit

URI = "test:///default"


class Bench:
    """One benchmark on one private connection."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params
        self.conn = virtkit.open(URI)

    def run(self, n: int) -> float:
        raise NotImplementedError

    def teardown(self) -> None:
        self.conn.close()


class LookupInfo(Bench):
    """lookup_domain("test") + info()."""

    def run(self, n: int) -> float:
        conn = self.conn
        t0 = time.perf_counter()
        for _ in range(n):
            conn.lookup_domain("test").info()
        return time.perf_counter() - t0


class Lifecycle(Bench):
    """define_domain + start + destroy + undefine of a small domain."""

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(params)
        self.xml = domxml.small_domain("bench-cycle")

    def run(self, n: int) -> float:
        conn, xml = self.conn, self.xml
        t0 = time.perf_counter()
        for _ in range(n):
            dom = conn.define_domain(xml)
            dom.start()
            dom.destroy()
            dom.undefine()
        return time.perf_counter() - t0


class ListAll(Bench):
    """list_domains() on a node holding `count` extra defined domains."""

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(params)
        self.count = int(params["count"])
        for i in range(self.count):
            self.conn.define_domain(domxml.small_domain(f"bench-list-{i}"))

    def run(self, n: int) -> float:
        conn = self.conn
        # keep every result until the clock stops: freeing 10k handles is not the call
        t0 = time.perf_counter()
        results = [conn.list_domains() for _ in range(n)]
        elapsed = time.perf_counter() - t0
        doms = results[-1]
        if len(doms) < self.count:
            raise RuntimeError(f"listed {len(doms)} domains, expected >= {self.count}")
        return elapsed

    def teardown(self) -> None:
        for i in range(self.count):
            self.conn.lookup_domain(f"bench-list-{i}").undefine()
        super().teardown()


class LargeXml(Bench):
    """define_domain(large XML) + xml(): the test driver parses, stores and formats."""

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(params)
        self.xml = domxml.large_domain("bench-xml", int(params["disks"]), int(params["nics"]))

    def run(self, n: int) -> float:
        conn, xml = self.conn, self.xml
        t0 = time.perf_counter()
        for _ in range(n):
            conn.define_domain(xml).xml()
        return time.perf_counter() - t0

    def teardown(self) -> None:
        self.conn.lookup_domain("bench-xml").undefine()
        super().teardown()


def domain_model() -> Any:
    """The domain config model class (virtkit.conf.domain), found lazily."""
    mod = importlib.import_module("virtkit.conf.domain")
    for name in ("DomainDef", "Domain", "DomainConfig"):
        cls = getattr(mod, name, None)
        if cls is not None and hasattr(cls, "from_xml"):
            return cls
    raise RuntimeError("virtkit.conf.domain has no domain model class with from_xml()")


class ParseFormat:
    """Pure config layer: DomainDef.from_xml(large XML).to_xml(), no connection."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.model = domain_model()
        self.xml = domxml.large_domain("bench-xml", int(params["disks"]), int(params["nics"]))

    def run(self, n: int) -> float:
        model, xml = self.model, self.xml
        t0 = time.perf_counter()
        for _ in range(n):
            model.from_xml(xml).to_xml()
        return time.perf_counter() - t0

    def teardown(self) -> None:
        pass


BENCHES: dict[str, Any] = {
    "lookup_info": LookupInfo,
    "lifecycle": Lifecycle,
    "list_all": ListAll,
    "large_xml": LargeXml,
    "parse_format": ParseFormat,
}


def version() -> str:
    """virtkit's package version."""
    from importlib.metadata import version as dist_version

    return dist_version("virtkit")
