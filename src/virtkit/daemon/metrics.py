"""Node and domain metrics in Prometheus' text format, served by virtkitd.

Off unless ``prometheus_listen = "HOST:PORT"`` is set in the daemon's config (libvirt
users run a separate exporter for this). ``GET /metrics`` answers from the same calls
a client makes: ``virNodeGetInfo``, ``virNodeGetCPUStats``, ``virNodeGetMemoryStats``
and ``virConnectGetAllDomainStats`` on a read-only connection to the daemon's own
hypervisor driver (``qemu:///system``), so every figure is what ``virsh domstats`` and
``virsh nodecpustats`` show. Anyone who can reach the port reads every domain's name
and figures: listen on loopback, or on an address only the monitoring host reaches.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from virtkit.constants import ConnectFlags, DomainState
from virtkit.drivers.base import DriverTables
from virtkit.drivers.state import OpenContext
from virtkit.errors import ErrorCode, VirtError
from virtkit.types import DomainStatsRecord, TypedValue

__all__ = ["MetricsServer", "SystemTables", "parse_listen", "render"]

log = logging.getLogger("virtkit.daemon.metrics")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_NS_PER_S = 1_000_000_000
_KIB = 1024


@dataclass(frozen=True)
class _Rule:
    """How one domstats key becomes a sample: ``pattern``'s groups are the labels."""

    pattern: re.Pattern[str]
    metric: str
    kind: str  # "gauge" or "counter"
    help: str
    labels: tuple[str, ...] = ()
    scale: float = 1.0


def _rule(pattern: str, metric: str, kind: str, help: str, labels: tuple[str, ...] = (),
          scale: float = 1.0) -> _Rule:
    return _Rule(re.compile(pattern + r"\Z"), metric, kind, help, labels, scale)


_N = r"(\d+)"
# domstats key -> metric. Names follow Prometheus' conventions (base units, _total for
# counters); the label of an indexed key is the name the record gives it (vda, vnet0).
_DOMAIN_RULES = (
    _rule(r"state\.state", "virtkit_domain_state", "gauge",
          "virDomainState: 1 running, 3 paused, 5 shut off, ..."),
    _rule(r"cpu\.time", "virtkit_domain_cpu_seconds_total", "counter",
          "CPU time the domain's process used", scale=1 / _NS_PER_S),
    _rule(r"cpu\.user", "virtkit_domain_cpu_user_seconds_total", "counter",
          "user CPU time of the domain's process", scale=1 / _NS_PER_S),
    _rule(r"cpu\.system", "virtkit_domain_cpu_system_seconds_total", "counter",
          "system CPU time of the domain's process", scale=1 / _NS_PER_S),
    _rule(r"balloon\.current", "virtkit_domain_memory_balloon_bytes", "gauge",
          "memory the guest has (balloon size)", scale=_KIB),
    _rule(r"balloon\.maximum", "virtkit_domain_memory_maximum_bytes", "gauge",
          "the domain's maximum memory", scale=_KIB),
    _rule(r"balloon\.rss", "virtkit_domain_memory_rss_bytes", "gauge",
          "resident memory of the domain's process", scale=_KIB),
    _rule(r"balloon\.usable", "virtkit_domain_memory_usable_bytes", "gauge",
          "memory the guest could use without swapping", scale=_KIB),
    _rule(r"balloon\.unused", "virtkit_domain_memory_unused_bytes", "gauge",
          "memory the guest leaves unused", scale=_KIB),
    _rule(r"vcpu\.current", "virtkit_domain_vcpus", "gauge", "vCPUs online"),
    _rule(r"vcpu\.maximum", "virtkit_domain_vcpus_maximum", "gauge", "vCPUs at most"),
    _rule(rf"vcpu\.{_N}\.time", "virtkit_domain_vcpu_seconds_total", "counter",
          "CPU time of one vCPU thread", ("vcpu",), 1 / _NS_PER_S),
    _rule(rf"vcpu\.{_N}\.delay", "virtkit_domain_vcpu_delay_seconds_total", "counter",
          "time one vCPU thread waited for a host CPU", ("vcpu",), 1 / _NS_PER_S),
    _rule(rf"net\.{_N}\.rx\.bytes", "virtkit_domain_interface_receive_bytes_total",
          "counter", "bytes the guest received on an interface", ("interface",)),
    _rule(rf"net\.{_N}\.rx\.pkts", "virtkit_domain_interface_receive_packets_total",
          "counter", "packets the guest received on an interface", ("interface",)),
    _rule(rf"net\.{_N}\.rx\.drop", "virtkit_domain_interface_receive_drops_total",
          "counter", "received packets dropped", ("interface",)),
    _rule(rf"net\.{_N}\.tx\.bytes", "virtkit_domain_interface_transmit_bytes_total",
          "counter", "bytes the guest sent on an interface", ("interface",)),
    _rule(rf"net\.{_N}\.tx\.pkts", "virtkit_domain_interface_transmit_packets_total",
          "counter", "packets the guest sent on an interface", ("interface",)),
    _rule(rf"net\.{_N}\.tx\.drop", "virtkit_domain_interface_transmit_drops_total",
          "counter", "sent packets dropped", ("interface",)),
    _rule(rf"block\.{_N}\.rd\.bytes", "virtkit_domain_block_read_bytes_total", "counter",
          "bytes read from a disk", ("device",)),
    _rule(rf"block\.{_N}\.rd\.reqs", "virtkit_domain_block_read_requests_total", "counter",
          "read requests to a disk", ("device",)),
    _rule(rf"block\.{_N}\.wr\.bytes", "virtkit_domain_block_write_bytes_total", "counter",
          "bytes written to a disk", ("device",)),
    _rule(rf"block\.{_N}\.wr\.reqs", "virtkit_domain_block_write_requests_total",
          "counter", "write requests to a disk", ("device",)),
    _rule(rf"block\.{_N}\.capacity", "virtkit_domain_block_capacity_bytes", "gauge",
          "a disk's size as the guest sees it", ("device",)),
    _rule(rf"block\.{_N}\.allocation", "virtkit_domain_block_allocation_bytes", "gauge",
          "the highest offset written on a disk's image", ("device",)),
    _rule(rf"block\.{_N}\.physical", "virtkit_domain_block_physical_bytes", "gauge",
          "host storage a disk's image takes", ("device",)),
)
# which record key names the object an indexed key belongs to
_INDEX_NAMES = {"interface": "net.{}.name", "device": "block.{}.name", "vcpu": None}
_NODE_CPU_MODES = ("user", "kernel", "idle", "iowait")
_NODE_MEMORY = ("total", "free", "buffers", "cached")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    text = ",".join(f'{k}="{_escape(v)}"' for k, v in pairs)
    return "{" + text + "}" if text else ""


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class _Family:
    """One metric's HELP/TYPE header and its samples, in the order they came."""

    def __init__(self, name: str, kind: str, help: str) -> None:
        self.name, self.kind, self.help = name, kind, help
        self.samples: list[str] = []

    def add(self, labels: Iterable[tuple[str, str]], value: float) -> None:
        self.samples.append(f"{self.name}{_labels(labels)} {_number(value)}")

    def text(self) -> str:
        head = f"# HELP {self.name} {self.help}\n# TYPE {self.name} {self.kind}\n"
        return head + "".join(s + "\n" for s in self.samples)


class _Families:
    def __init__(self) -> None:
        self._by_name: dict[str, _Family] = {}

    def get(self, name: str, kind: str, help: str) -> _Family:
        family = self._by_name.get(name)
        if family is None:
            family = self._by_name[name] = _Family(name, kind, help)
        return family

    def text(self) -> str:
        return "".join(f.text() for f in self._by_name.values())


def _domain_samples(families: _Families, record: DomainStatsRecord) -> None:
    dom = record.domain
    base = (("domain", dom.name), ("uuid", dom.uuid))
    params: dict[str, TypedValue] = record.params
    families.get("virtkit_domain_info", "gauge",
                 "1 for each domain; its id is -1 when it is not running").add(
        (*base, ("id", str(dom.id))), 1)
    for key, value in params.items():
        if isinstance(value, str | bool):
            continue
        for rule in _DOMAIN_RULES:
            match = rule.pattern.match(key)
            if match is None:
                continue
            labels = list(base)
            for label, index in zip(rule.labels, match.groups(), strict=True):
                name_key = _INDEX_NAMES.get(label)
                named = params.get(name_key.format(index)) if name_key else None
                labels.append((label, str(named) if named is not None else index))
            families.get(rule.metric, rule.kind, rule.help).add(labels, value * rule.scale)
            break


def _node_samples(families: _Families, tables: DriverTables) -> None:
    hv = tables.hypervisor
    info = hv.node_get_info()
    families.get("virtkit_node_cpus", "gauge", "host CPUs").add((), info.cpus)
    families.get("virtkit_node_memory_total_bytes", "gauge", "host memory").add(
        (), info.memory * _KIB)


def _node_cpu_samples(families: _Families, tables: DriverTables) -> None:
    cpu = tables.hypervisor.node_get_cpu_stats(-1, 0)
    seconds = families.get("virtkit_node_cpu_seconds_total", "counter",
                           "host CPU time by mode (virNodeGetCPUStats)")
    for mode in _NODE_CPU_MODES:
        if mode in cpu:
            seconds.add((("mode", mode),), cpu[mode] / _NS_PER_S)


def _node_memory_samples(families: _Families, tables: DriverTables) -> None:
    memory = tables.hypervisor.node_get_memory_stats(-1, 0)
    mem = families.get("virtkit_node_memory_bytes", "gauge",
                       "host memory by kind (virNodeGetMemoryStats)")
    for kind in _NODE_MEMORY:
        if kind in memory:
            mem.add((("kind", kind),), memory[kind] * _KIB)


def render(tables: DriverTables) -> str:
    """The exposition text for the node behind ``tables``. A figure the driver does not
    support (VIR_ERR_NO_SUPPORT) is left out; any other error sets ``virtkit_up`` to 0."""
    families = _Families()
    up = families.get("virtkit_up", "gauge", "1 when every figure below could be read")
    ok = True

    def read(part: Callable[[_Families, DriverTables], None]) -> None:
        nonlocal ok
        try:
            part(families, tables)
        except VirtError as exc:
            if exc.code != ErrorCode.NO_SUPPORT:
                log.warning("metrics: %s", exc.message)
                ok = False

    read(_node_samples)
    read(_node_cpu_samples)
    read(_node_memory_samples)
    records: list[DomainStatsRecord] = []

    def domains(_families: _Families, tables: DriverTables) -> None:
        records.extend(tables.hypervisor.connect_get_all_domain_stats(None, 0, 0))

    read(domains)
    for record in records:
        _domain_samples(families, record)
    running = families.get("virtkit_domains_running", "gauge", "domains running")
    running.add((), sum(1 for r in records
                        if r.params.get("state.state") == DomainState.RUNNING))
    up.add((), 1 if ok else 0)
    return families.text()


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6) -> (host, port); ValueError when malformed."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536 or not host:
        raise ValueError(f"prometheus_listen must be HOST:PORT, not {value!r}")
    return host.strip("[]"), int(port)


class SystemTables:
    """A read-only connection to the daemon's ``qemu:///system``, opened at the first
    scrape (the state drivers may still be starting when the daemon listens) and
    closed with the server."""

    def __init__(self, ctx: OpenContext, uri: str = "qemu:///system") -> None:
        self._ctx, self._uri = ctx, uri
        self._tables: DriverTables | None = None
        self._lock = threading.Lock()

    def __call__(self) -> DriverTables:
        from virtkit.drivers.registry import open_tables
        from virtkit.uri import parse_uri

        with self._lock:
            if self._tables is None:
                uri = parse_uri(self._uri)
                assert uri is not None
                self._tables = open_tables(uri, ConnectFlags.RO, self._ctx)
            return self._tables

    def close(self) -> None:
        with self._lock:
            tables, self._tables = self._tables, None
        if tables is not None:
            tables.hypervisor.connect_close()


class MetricsServer:
    """A minimal HTTP/1.1 server for ``GET /metrics`` (one request per connection)."""

    def __init__(self, tables: Callable[[], DriverTables],
                 release: Callable[[], None] | None = None) -> None:
        self._tables = tables
        self._release = release or getattr(tables, "close", None)
        self._server: asyncio.Server | None = None

    async def listen(self, host: str, port: int) -> int:
        self._server = await asyncio.start_server(self._client, host, port)
        bound: int = self._server.sockets[0].getsockname()[1]
        log.info("metrics on http://%s:%d/metrics", host, bound)
        return bound

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._release is not None:
            await asyncio.to_thread(self._release)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            words = request.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
            method, target = [*words, "", ""][:2]
            if method not in ("GET", "HEAD"):
                await self._reply(writer, 405, "method not allowed\n", head=False)
            elif target.split("?", 1)[0] != "/metrics":
                await self._reply(writer, 404, "not found: try /metrics\n", head=False)
            else:
                body = await asyncio.to_thread(self._render)
                await self._reply(writer, 200, body, head=method == "HEAD",
                                  content_type=CONTENT_TYPE)
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ConnectionError, UnicodeDecodeError):
            pass
        finally:
            writer.close()

    def _render(self) -> str:
        try:
            return render(self._tables())
        except VirtError as exc:
            log.warning("metrics: cannot open the hypervisor driver: %s", exc.message)
            return "# HELP virtkit_up 1 when every figure below could be read\n" \
                   "# TYPE virtkit_up gauge\nvirtkit_up 0\n"

    @staticmethod
    async def _reply(writer: asyncio.StreamWriter, status: int, body: str, *, head: bool,
                     content_type: str = "text/plain; charset=utf-8") -> None:
        reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed"}[status]
        data = body.encode()
        headers = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
                   f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n")
        writer.write(headers.encode() + (b"" if head else data))
        await writer.drain()
