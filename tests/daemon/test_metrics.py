"""virtkitd's Prometheus endpoint: off by default, the same figures as domstats and
nodecpustats, HTTP errors for anything but GET/HEAD /metrics, bad settings refused."""

from __future__ import annotations

import http.client
import re
from pathlib import Path

import pytest

import virtkit
from virtkit.daemon.config import ConfigError, parse_config
from virtkit.daemon.metrics import parse_listen, render
from virtkit.testing.peers import free_port, start_virtkitd

SAMPLE = re.compile(r'^(\w+)(\{[^}]*\})? (\S+)$')

DOMAIN_XML = """<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices><disk type='file' device='disk'><driver name='qemu' type='raw'/>
    <source file='{disk}'/><target dev='vda' bus='virtio'/></disk></devices>
</domain>"""


def samples(text: str) -> dict[tuple[str, str], float]:
    out: dict[tuple[str, str], float] = {}
    families = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            name = line.split()[2]
            assert name not in families, f"{name} declared twice"
            families.add(name)
            continue
        if line.startswith("#") or not line:
            continue
        m = SAMPLE.match(line)
        assert m, f"not an exposition line: {line!r}"
        assert m.group(1) in families, f"{m.group(1)} has no TYPE line"
        out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out


def test_render_the_test_driver_matches_its_domstats() -> None:
    conn = virtkit.open("test:///default")
    try:
        text = render(conn.tables)
        stats = {dom.name: params for dom, params in conn.all_domain_stats()}
    finally:
        conn.close()
    got = samples(text)
    assert got[("virtkit_up", "")] == 1
    label = '{domain="test",uuid="6695eb01-f6a4-8304-79aa-97f2502e193f"}'
    assert got[("virtkit_domain_state", label)] == stats["test"]["state.state"]
    assert got[("virtkit_domains_running", "")] == 1
    cpu = {k[1]: v for k, v in got.items() if k[0] == "virtkit_node_cpu_seconds_total"}
    assert set(cpu) <= {f'{{mode="{m}"}}' for m in ("user", "kernel", "idle", "iowait")}


def test_labels_are_escaped() -> None:
    conn = virtkit.open("test:///default")
    try:
        conn.define_domain("<domain type='test'><name>we\"ird\\name</name><memory>1024</memory>"
                           "<os><type>hvm</type></os></domain>")
        text = render(conn.tables)
    finally:
        conn.close()
    assert 'domain="we\\"ird\\\\name"' in text
    samples(text)  # every line still parses


@pytest.mark.parametrize("value", ["9177", "host:", ":9177", "host:0", "host:65536",
                                   "host:port"])
def test_bad_listen_values_are_refused(value: str) -> None:
    with pytest.raises(ValueError):
        parse_listen(value)
    with pytest.raises(ConfigError, match="prometheus_listen"):
        parse_config(f'prometheus_listen = "{value}"\n', "libvirtd.conf")


def test_listen_values() -> None:
    assert parse_listen("127.0.0.1:9177") == ("127.0.0.1", 9177)
    assert parse_listen("[::1]:9177") == ("::1", 9177)
    assert parse_config("").prometheus_listen is None  # off by default


def _get(port: int, method: str = "GET", path: str = "/metrics") -> tuple[int, str, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(method, path)
        reply = conn.getresponse()
        return reply.status, reply.getheader("Content-Type") or "", reply.read().decode()
    finally:
        conn.close()


def test_daemon_serves_the_figures_virsh_domstats_shows(tmp_path: Path) -> None:
    port = free_port()
    disk = tmp_path / "d.raw"
    disk.write_bytes(b"\0" * 1048576)
    with start_virtkitd(tmp_path / "root",
                        extra_conf=f'prometheus_listen = "127.0.0.1:{port}"\n'
                        'log_level = 2\nlog_outputs = "2:stderr"\n') as daemon:
        conn = virtkit.open(daemon.uri("unix", "/system", "qemu"))
        try:
            dom = conn.define_domain(DOMAIN_XML.format(name="m1", disk=disk))
            stats = conn.all_domain_stats()
        finally:
            conn.close()
        status, ctype, text = _get(port)
        assert status == 200 and ctype.startswith("text/plain; version=0.0.4")
        got = samples(text)
        assert got[("virtkit_up", "")] == 1
        label = f'{{domain="m1",uuid="{dom.uuid}"}}'
        params = next(p for d, p in stats if d.name == "m1")
        assert got[("virtkit_domain_state", label)] == params["state.state"]
        assert got[("virtkit_domain_memory_maximum_bytes", label)] == 64 * 1024 * 1024
        disk_label = f'{{domain="m1",uuid="{dom.uuid}",device="vda"}}'
        assert got[("virtkit_domain_block_capacity_bytes", disk_label)] == 1048576
        assert got[("virtkit_node_memory_total_bytes", "")] > 0
        assert _get(port, "HEAD")[:2] == (200, ctype)
        assert _get(port, "GET", "/")[0] == 404
        assert _get(port, "POST")[0] == 405
    assert "metrics on http://127.0.0.1" in (tmp_path / "root" / "virtkitd.log").read_text()


def test_daemon_without_the_setting_serves_nothing(tmp_path: Path) -> None:
    with start_virtkitd(tmp_path / "root",
                        extra_conf='log_level = 2\nlog_outputs = "2:stderr"\n') as daemon:
        assert daemon.proc.poll() is None
        log = (tmp_path / "root" / "virtkitd.log").read_text()
    assert "listening on" in log  # the log says what the daemon serves ...
    assert "metrics on" not in log  # ... and metrics are not among it
