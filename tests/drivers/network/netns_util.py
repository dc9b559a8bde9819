"""Network namespaces for the network driver tests: the host's network is never touched.

Every driver call runs in a fresh Python process inside the test's namespace
(``ip netns exec NS python -c ...``), on the test's root: each call is a new driver
instance re-attaching to what the previous one left running, as after a daemon restart.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import textwrap
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
UDHCPC_LEASE = os.path.join(HERE, "udhcpc_lease.sh")  # busybox udhcpc with a reporting script

PRELUDE = """
import json, os, sys
from virtkit.drivers.network.driver import BridgeNetworkDriver
from virtkit.drivers.network.node import node_for
from virtkit.drivers.network.paths import NetworkPaths
from virtkit.drivers.network import bridge as br, dnsmasq, firewall
from virtkit.errors import VirtError
from virtkit.types import NetworkIdent
node = node_for(NetworkPaths.embed(sys.argv[1]))
drv = BridgeNetworkDriver(node)
out = {}
def net(name):
    return drv.network_lookup_by_name(name)
def err(fn, *a):
    try:
        fn(*a)
    except VirtError as e:
        return [int(e.code), int(e.domain), str(e)]
    return None
"""


def sh(*argv: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr}")
    return proc


class NetNS:
    """A named network namespace with lo up; ``close()`` kills what runs in it and deletes it."""

    def __init__(self, prefix: str = "vkt") -> None:
        self.name = f"{prefix}-{secrets.token_hex(4)}"
        sh("ip", "netns", "add", self.name)
        sh("ip", "-n", self.name, "link", "set", "lo", "up")

    def exec(self, *argv: str, check: bool = True, timeout: float = 30
             ) -> subprocess.CompletedProcess[str]:
        return sh("ip", "netns", "exec", self.name, *argv, check=check, timeout=timeout)

    def pids(self) -> list[int]:
        res = sh("ip", "netns", "pids", self.name, check=False)
        return [int(p) for p in res.stdout.split()]

    def close(self) -> None:
        pids = self.pids()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not any(_running(p) for p in pids), 5)
        sh("ip", "netns", "del", self.name, check=False)


class DriverNS(NetNS):
    """The namespace the driver runs in, with its root directory."""

    def __init__(self, root: str) -> None:
        super().__init__()
        self.root = root
        os.chmod(root, 0o755)  # dnsmasq reads its hosts files unprivileged

    def py(self, code: str, timeout: float = 60) -> dict[str, Any]:
        """Run ``code`` after PRELUDE in a new process in the namespace; returns ``out``."""
        script = PRELUDE + textwrap.dedent(code) + "\nprint('@@OUT@@' + json.dumps(out))\n"
        res = self.exec(sys.executable, "-c", script, self.root, check=False, timeout=timeout)
        if res.returncode != 0:
            raise AssertionError(f"driver script failed:\n{res.stderr}")
        line = next(x for x in reversed(res.stdout.splitlines()) if x.startswith("@@OUT@@"))
        result: dict[str, Any] = json.loads(line[len("@@OUT@@"):])
        return result

    def nft(self) -> str:
        return self.exec("nft", "list", "ruleset").stdout

    def link_names(self) -> list[str]:
        res = self.exec("ip", "-j", "link", "show")
        return [link["ifname"] for link in json.loads(res.stdout)]


def attach_client(host: NetNS, bridge: str, client: NetNS, mac: str) -> str:
    """A veth pair: one end on ``bridge`` in ``host``, ``eth0`` (with ``mac``) in ``client``.
    Returns the host-side name."""
    hname = f"vh{secrets.token_hex(3)}"
    sh("ip", "link", "add", hname, "netns", host.name, "type", "veth", "peer", "name", "eth0",
       "netns", client.name)
    sh("ip", "-n", host.name, "link", "set", hname, "master", bridge, "up")
    sh("ip", "-n", client.name, "link", "set", "eth0", "address", mac, "up")
    return hname


def dhcp(client: NetNS, hostname: str, timeout: int = 20) -> tuple[str, str]:
    """busybox udhcpc in ``client`` on eth0, sending ``hostname``: (address/prefix, router)."""
    res = client.exec(UDHCPC_LEASE, "eth0", hostname, str(timeout), check=False,
                      timeout=timeout + 10)
    return parse_lease(res)


def parse_lease(res: subprocess.CompletedProcess[str]) -> tuple[str, str]:
    """(address/prefix, router) from what ``udhcpc_lease.sh`` printed."""
    lines = [x.split() for x in res.stdout.splitlines() if x.startswith("lease ")]
    assert res.returncode == 0 and len(lines) == 1, f"no DHCP lease: {res.stdout}{res.stderr}"
    return lines[0][1], lines[0][2] if len(lines[0]) > 2 else ""


def configure(client: NetNS, addr: str, router: str) -> None:
    client.exec("ip", "addr", "add", addr, "dev", "eth0")
    if router:
        client.exec("ip", "route", "add", "default", "via", router)


def tcp_reachable(src: NetNS, dst: NetNS, addr: str, port: int = 7777,
                  timeout: float = 2.0) -> str | None:
    """Connect from ``src`` to a one-shot server in ``dst``; returns the peer address the
    server saw (None when the connection failed)."""
    server = textwrap.dedent(f"""
        import socket
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(('0.0.0.0', {port})); s.listen(1); s.settimeout({timeout + 3})
        print('ready', flush=True)
        c, peer = s.accept(); c.sendall(peer[0].encode()); c.close()
    """)
    srv = subprocess.Popen(["ip", "netns", "exec", dst.name, sys.executable, "-c", server],
                           stdout=subprocess.PIPE, text=True)
    try:
        assert srv.stdout is not None
        assert srv.stdout.readline().strip() == "ready"
        client = textwrap.dedent(f"""
            import socket, sys
            try:
                c = socket.create_connection(('{addr}', {port}), timeout={timeout})
                print(c.recv(100).decode())
            except OSError as e:
                print('FAIL', e); sys.exit(1)
        """)
        res = src.exec(sys.executable, "-c", client, check=False, timeout=timeout + 10)
        return res.stdout.strip() if res.returncode == 0 else None
    finally:
        srv.kill()
        srv.wait()


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_for(pred: Any, timeout: float = 10.0, step: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)
