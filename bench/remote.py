"""Remote figures: virtkitd against Debian's libvirtd, side by side (`bench/run.py --remote`).

Both daemons are started here (fresh roots in a temporary directory, test driver,
unix sockets) and stopped at the end. The clients are libvirt-python, in one
persistent /usr/bin/python3 worker (remote_worker.py) holding a connection to each
daemon, and virtkit's own client, in this process. Each figure alternates the two
daemons block by block (virtkitd, libvirtd, libvirtd, virtkitd, ...) through
harness.interleave, and compares medians.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import (
    BENCH_DIR,
    SYSTEM_PYTHON,
    InProcessSide,
    WorkerSide,
    interleave,
)

DAEMONS = ("virtkitd", "libvirtd")
LATENCY_GOAL = 1.0  # virtkitd / libvirtd median round-trip time


@dataclass(frozen=True)
class RemoteSpec:
    """One remote figure: a client benchmark run against each daemon."""

    key: str
    title: str
    client: str  # "libvirt-python" (worker) or "virtkit" (this process)
    bench: str  # benchmark name in remote_worker.py / VIRTKIT_BENCHES
    mode: str  # "calls": per-call times; "batch": n ops timed together; "window": n ms
    n: int  # calls per block, ops per batch, or window milliseconds
    quick_n: int
    measures: str

    @property
    def show(self) -> str:
        """"time" (per call, lower is better) or "rate" (per second, higher is better)."""
        return "time" if self.mode == "calls" or self.bench == "list_all" else "rate"


SPECS = [
    RemoteSpec(
        "remote_latency", "getLibVersion round trip", "libvirt-python", "latency", "calls",
        200, 100, "conn.getLibVersion(), each call timed alone",
    ),
    RemoteSpec(
        "remote_lookup_info", "lookup + info", "libvirt-python", "lookup_info", "batch",
        400, 100, 'conn.lookupByName("test").info()',
    ),
    RemoteSpec(
        "remote_list_all", "list {list_count} defined domains", "libvirt-python", "list_all",
        "batch", 10, 3, "conn.listAllDomains(0)",
    ),
    RemoteSpec(
        "remote_concurrent", "{clients} clients lookup + info", "libvirt-python", "concurrent",
        "window", 400, 150,
        '{clients} threads in one process, one connection each, lookupByName("test").info() '
        "in a loop; total calls per second",
    ),
    RemoteSpec(
        "remote_latency_vk", "getLibVersion round trip", "virtkit", "latency", "calls",
        200, 100, "conn.lib_version, each call timed alone",
    ),
    RemoteSpec(
        "remote_lookup_info_vk", "lookup + info", "virtkit", "lookup_info", "batch",
        400, 100, 'conn.lookup_domain("test").info()',
    ),
]

KEYS = [s.key for s in SPECS]


# --- virtkit's client, in this process -------------------------------------------------


class VirtkitLatency:
    """conn.lib_version (virConnectGetLibVersion) round trips, each timed alone."""

    def __init__(self, params: dict[str, Any]) -> None:
        import virtkit

        self.conn = virtkit.open(params["uri"])

    def run(self, n: int) -> dict[str, Any]:
        conn, clock = self.conn, time.perf_counter
        times = [0.0] * n
        t_start = clock()
        for i in range(n):
            t0 = clock()
            conn.lib_version  # noqa: B018 - the property is the remote call
            times[i] = clock() - t0
        return {"elapsed": clock() - t_start, "ops": n, "times": times}

    def teardown(self) -> None:
        self.conn.close()


class VirtkitLookupInfo(VirtkitLatency):
    """conn.lookup_domain("test").info() pairs."""

    def run(self, n: int) -> dict[str, Any]:
        conn = self.conn
        t0 = time.perf_counter()
        for _ in range(n):
            conn.lookup_domain("test").info()
        return {"elapsed": time.perf_counter() - t0, "ops": n}


VIRTKIT_BENCHES: dict[str, Any] = {"latency": VirtkitLatency, "lookup_info": VirtkitLookupInfo}


# --- the two kinds of client side ------------------------------------------------------


class ClientWorker(WorkerSide):
    """remote_worker.py: named benchmark instances, results with op counts."""

    def setup_named(self, name: str, bench: str, params: dict[str, Any]) -> None:
        self._call(op="setup", name=name, bench=bench, params=params)

    def run_named(self, name: str, n: int) -> dict[str, Any]:
        return self._call(op="run", name=name, n=n)

    def teardown_named(self, name: str) -> None:
        self._call(op="teardown", name=name)


class VirtkitClient(InProcessSide):
    """virtkit's client in this process, with the same named-instance interface."""

    def __init__(self) -> None:
        super().__init__("virtkit", VIRTKIT_BENCHES)

    def setup_named(self, name: str, bench: str, params: dict[str, Any]) -> None:
        self._live[name] = self._benches[bench](params)

    def run_named(self, name: str, n: int) -> dict[str, Any]:
        result: dict[str, Any] = self._live[name].run(n)
        return result

    def teardown_named(self, name: str) -> None:
        self.teardown(name)


Client = ClientWorker | VirtkitClient


def client_worker() -> ClientWorker:
    """Start remote_worker.py under Debian's interpreter."""
    return ClientWorker("libvirt-python", [SYSTEM_PYTHON, str(BENCH_DIR / "remote_worker.py")])


# --- measuring -------------------------------------------------------------------------


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (from /proc, clock-tick resolution)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Target:
    """One daemon under test: its client URI and its pid (for its CPU time)."""

    uri: str
    pid: int


def measure(
    spec: RemoteSpec, client: Client, targets: dict[str, Target], params: dict[str, Any], n: int,
    samples: int,
) -> dict[str, Any]:
    """Set up the benchmark against both daemons, interleave, return per-daemon results."""
    names = {d: f"{spec.key}@{d}" for d in DAEMONS}
    pooled: dict[str, list[float]] = {d: [] for d in DAEMONS}
    extra: dict[str, list[Any]] = {d: [] for d in DAEMONS}
    cpu = {d: [0.0, 0] for d in DAEMONS}  # daemon CPU seconds, ops (warm-up included)

    def runner(daemon: str) -> Callable[[], float]:
        def run() -> float:
            before = cpu_seconds(targets[daemon].pid)
            res = client.run_named(names[daemon], n)
            cpu[daemon][0] += cpu_seconds(targets[daemon].pid) - before
            cpu[daemon][1] += int(res["ops"])
            if spec.mode == "calls":
                times = [float(t) for t in res["times"]]
                pooled[daemon].extend(times)
                return statistics.median(times)
            if "per_client" in res:
                extra[daemon].append(res["per_client"])
            return float(res["elapsed"]) / max(1, int(res["ops"]))

        return run

    ready: list[str] = []
    try:
        for d in DAEMONS:
            client.setup_named(names[d], spec.bench, {**params, "uri": targets[d].uri})
            ready.append(d)
        res = interleave({d: runner(d) for d in DAEMONS}, samples)
    finally:
        for d in ready:
            client.teardown_named(names[d])
    out: dict[str, Any] = {}
    for d in DAEMONS:
        side: dict[str, Any] = res[d].to_json()
        if spec.mode == "calls":
            # the figure is the median over every timed call; samples are block medians
            calls = pooled[d][n:] if len(pooled[d]) > n else pooled[d]  # drop the warm-up block
            side["median_s_per_op"] = statistics.median(calls)
            side["ops_per_s"] = 1.0 / side["median_s_per_op"]
            side["calls"] = len(calls)
            side["p90_s_per_op"] = quantile(calls, 0.9)
        # the daemon's own CPU per call: what the server costs, apart from the client
        side["daemon_cpu_s_per_op"] = cpu[d][0] / cpu[d][1] if cpu[d][1] else None
        if extra[d]:
            side["per_client_calls_last_window"] = extra[d][-1]
        out[d] = side
    return out


def has_goal(spec: RemoteSpec) -> bool:
    """Issue 3 sets one goal: libvirt-python's round trip to virtkitd within 1x libvirtd's."""
    return spec.bench == "latency" and spec.client == "libvirt-python"


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_spec(
    spec: RemoteSpec, client: Client, targets: dict[str, Target], args: Any
) -> dict[str, Any]:
    params = {"count": args.remote_list_count, "clients": args.remote_clients}
    fmt = {"list_count": f"{args.remote_list_count:,}", "clients": args.remote_clients}
    n = args.iterations or (spec.quick_n if args.quick else spec.n)
    row: dict[str, Any] = {
        "key": spec.key,
        "title": spec.title.format(**fmt),
        "kind": "remote",
        "client": spec.client,
        "measures": spec.measures.format(**fmt),
        "mode": spec.mode,
        "show": spec.show,
        {"calls": "calls_per_block", "batch": "ops_per_batch", "window": "window_ms"}[spec.mode]: n,
        "ratio_of": "time" if spec.show == "time" else "throughput",
        "goal": f"<= {LATENCY_GOAL} virtkitd/libvirtd time" if has_goal(spec) else None,
        "loadavg_before": loadavg(),
    }
    try:
        res = measure(spec, client, targets, params, n, args.samples)
    except Exception as exc:  # report and go on with the other figures
        row["error"] = f"{type(exc).__name__}: {exc}"
        return row
    finally:
        row["loadavg_after"] = loadavg()
    vk, lv = res["virtkitd"], res["libvirtd"]
    row["virtkitd"], row["libvirtd"] = vk, lv
    if spec.show == "time":
        row["ratio"] = vk["median_s_per_op"] / lv["median_s_per_op"]
    else:
        row["ratio"] = lv["median_s_per_op"] / vk["median_s_per_op"]
    row["met"] = row["ratio"] <= LATENCY_GOAL if row["goal"] else None
    return row


def run_remote(wanted: set[str], args: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Start both daemons, run the wanted remote figures, stop the daemons."""
    from virtkit.testing.peers import start_libvirtd, start_virtkitd

    specs = [s for s in SPECS if s.key in wanted]
    meta: dict[str, Any] = {
        "transport": "unix socket (test+unix:///default?socket=...), same machine",
        "samples": args.samples,
        "list_count": args.remote_list_count,
        "clients": args.remote_clients,
        "concurrency": "threads in one /usr/bin/python3 process, one libvirt connection each",
        "loadavg_before": loadavg(),
        "cpus": os.cpu_count(),
    }
    # --calibrate: a second libvirtd takes virtkitd's place (A/A check of the harness)
    calibrate = bool(getattr(args, "calibrate", False))
    meta["calibration"] = calibrate
    rows: list[dict[str, Any]] = []
    use_tls = bool(getattr(args, "remote_tls", False))
    if use_tls:
        meta["transport"] = ("TLS on 127.0.0.1 (test+tls://...?pkipath=...), client "
                             "certificates from `virtkit pki-*`, same machine")
    with tempfile.TemporaryDirectory(prefix="virtkit-bench-") as tmp:
        pki = _make_pki(Path(tmp)) if use_tls else None
        vkd = (start_libvirtd if calibrate else start_virtkitd)(Path(tmp) / "virtkitd", tls=pki)
        try:
            lvd = start_libvirtd(Path(tmp) / "libvirtd", tls=pki)
            try:
                def uri(d: Any) -> str:
                    return f"{d.uri('tls')}?pkipath={pki}" if pki else d.uri("unix")

                targets = {
                    "virtkitd": Target(uri(vkd), vkd.pid),
                    "libvirtd": Target(uri(lvd), lvd.pid),
                }
                meta["uris"] = {d: t.uri for d, t in targets.items()}
                clients: dict[str, Client] = {}
                try:
                    for spec in specs:
                        if spec.client not in clients:
                            clients[spec.client] = (
                                client_worker() if spec.client == "libvirt-python"
                                else VirtkitClient())
                        print(f"... {spec.key}", file=sys.stderr, flush=True)
                        rows.append(run_spec(spec, clients[spec.client], targets, args))
                finally:
                    for c in clients.values():
                        if isinstance(c, ClientWorker):
                            c.close()
            finally:
                lvd.stop()
        finally:
            vkd.stop()
    meta["loadavg_after"] = loadavg()
    return rows, meta


def _make_pki(tmp: Path) -> Path:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, all in one
    directory that serves as the daemons' key/cert/CA and as the clients' pkipath."""
    import subprocess

    pki = tmp / "pki"
    for argv in (["pki-ca", "--dir", str(tmp / "ca")],
                 ["pki-server", "127.0.0.1", "--dir", str(pki), "--ca-dir", str(tmp / "ca")],
                 ["pki-client", "C=GB,O=virtkit,CN=bench", "--dir", str(pki),
                  "--ca-dir", str(tmp / "ca")]):
        subprocess.run([sys.executable, "-m", "virtkit.cli.main", *argv, "--bits", "2048"],
                       check=True, capture_output=True)
    return pki


# --- output ----------------------------------------------------------------------------


def fmt_value(per_op: float, show: str) -> str:
    if show == "rate":
        rate = 1.0 / per_op
        return f"{rate / 1000:,.2f}k/s" if rate >= 10_000 else f"{rate:,.0f}/s"
    if per_op < 1e-3:
        return f"{per_op * 1e6:,.0f} us"
    return f"{per_op * 1000:.2f} ms"


def cpu_us(side: dict[str, Any]) -> str:
    value = side.get("daemon_cpu_s_per_op")
    return "?" if value is None else f"{value * 1e6:,.0f}"


def render(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    first = "libvirtd again (calibration)" if meta.get("calibration") else "virtkitd"
    lines = [
        f"Remote: {first} vs libvirtd 9.0.0 (test driver, {meta['transport']})",
        f"medians of {meta['samples']} interleaved blocks per daemon; "
        f"{meta['clients']} concurrent clients = {meta['concurrency']}; "
        f"host load {meta['loadavg_before']} -> {meta['loadavg_after']}",
        "",
        f"{'figure':<34} {'client':<15} {'virtkitd':>11} {'libvirtd':>11} {'ratio':>7}  "
        f"{'daemon CPU/call':>17}  result",
        "-" * 108,
    ]
    for row in rows:
        if "error" in row:
            lines.append(f"{row['title']:<34} {row.get('client', ''):<15} ERROR: {row['error']}")
            continue
        how = row["show"]
        vk = fmt_value(row["virtkitd"]["median_s_per_op"], how)
        lv = fmt_value(row["libvirtd"]["median_s_per_op"], how)
        verdict = "-" if row["met"] is None else ("ok (<=1x)" if row["met"] else "MISSED (<=1x)")
        cpu = f"{cpu_us(row['virtkitd'])} / {cpu_us(row['libvirtd'])}"
        lines.append(
            f"{row['title']:<34} {row['client']:<15} {vk:>11} {lv:>11} {row['ratio']:>6.2f}x  "
            f"{cpu:>17}  {verdict}"
        )
    lines += [
        "",
        "ratio = virtkitd / libvirtd: of time per call on us/ms rows (lower is better),",
        "of calls per second on /s rows (higher is better).",
        "daemon CPU/call: virtkitd / libvirtd user+system CPU per call, in microseconds.",
        "Goal (issue 3): libvirt-python's round trip to virtkitd <= 1x libvirtd's.",
    ]
    return "\n".join(lines)
