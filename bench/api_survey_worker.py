"""The libvirt-python side of bench/api_survey.py: every public method, one daemon.

Run by Debian's /usr/bin/python3 (libvirt-python 9.0):

    python3 api_survey_worker.py SPEC.json OUT.json

SPEC (written by api_survey.py) names the daemon's URI, the domain, pool, network,
secret and filter XML to set up, the files they use and an optional ``only`` regex.
OUT receives ``{"results": [...], "events": [...], "libvirt_version": N}``; one result
per method: ``{"method": "virDomain.info", "outcome": "ok"|"libvirt"|"client"|"broken"|
"hang"|"not_run", "code": "VIR_ERR_...", "message": ..., "reason": ...}``.

Methods are enumerated from the libvirt module with ``inspect``. Read-only calls run on
the long-lived objects (the running guest ``survey``, an active dir pool and its
volume, an inactive network, a secret, a filter, the ``lo`` interface, a node device);
state-changing calls run in a fixed order (SEQUENCE) on scratch objects (the domain
``survey-scratch``, the pool ``survey-pool2``, definitions made for the purpose), or are
listed as not run with the reason (NOT_RUN). Each call runs in a thread with a hang
guard; a call that breaks or hangs the connection is recorded and the worker opens a
new connection and carries on. At the end everything made here is destroyed and
undefined (those clean-up calls are not counted).
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import re
import socket
import sys
import threading
import time
import uuid as uuidlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import libvirt  # Debian's python3-libvirt

CALL_TIMEOUT_S = 90.0
BOOT_TIMEOUT_S = 300.0
CLASSES = ("virConnect", "virDomain", "virDomainSnapshot", "virDomainCheckpoint",
           "virStoragePool", "virStorageVol", "virNetwork", "virNetworkPort", "virNodeDevice",
           "virSecret", "virNWFilter", "virNWFilterBinding", "virInterface")

# Error codes by number (libvirt's names; VIR_ERR_* preferred over VIR_WAR_*).
ERR_NAMES: dict[int, str] = {}
for _n in sorted(dir(libvirt), key=lambda n: (not n.startswith("VIR_ERR_"), n)):
    if _n.startswith(("VIR_ERR_", "VIR_WAR_")) and isinstance(getattr(libvirt, _n), int):
        ERR_NAMES.setdefault(getattr(libvirt, _n), _n)
ERR_NAMES.pop(0, None)
ERR_NAMES[libvirt.VIR_ERR_OK] = "VIR_ERR_OK"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def methods(cls_name: str) -> list[str]:
    cls = getattr(libvirt, cls_name)
    return [n for n, _ in inspect.getmembers(cls, inspect.isfunction) if not n.startswith("_")]


# --- steps ------------------------------------------------------------------------------


@dataclass
class Step:
    """One counted call: ``target`` names the object (a Ctx key), ``args`` builds the
    arguments, ``state`` is what the scratch domain must be first, ``after`` runs once
    the call returned (not counted: it puts things back)."""

    method: str  # "virDomain.blockStats"
    target: str = ""
    args: Callable[[Ctx], tuple[Any, ...]] | tuple[Any, ...] = ()
    state: str | None = None  # scratch domain: running | booted | off | paused
    after: Callable[[Ctx, Any], None] | None = None


class NoObject(Exception):
    """The object a step needs does not exist on this daemon (its setup call failed)."""


def _noop_cb(*_a: Any) -> None:
    return None


class Ctx:
    """The connection, the objects the steps use (by key) and how to find them again."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.uri: str = spec["uri"]
        self.conn = libvirt.open(self.uri)
        self.objs: dict[str, Any] = {}
        self.resolvers: dict[str, Callable[[Any], Any]] = {}
        self.vals: dict[str, Any] = {}  # results a later step uses (event ids, xml ...)
        self.boots = {"survey": 0, "survey-scratch": 0}
        self.agent_waited: dict[str, int] = {}  # guest -> the boot its agent answered on
        self.events: list[str] = []

    def put(self, key: str, obj: Any, resolver: Callable[[Any], Any]) -> Any:
        self.objs[key] = obj
        self.resolvers[key] = resolver
        return obj

    def get(self, key: str) -> Any:
        if key == "conn":
            return self.conn
        if key not in self.objs:
            raise NoObject(f"no {key} object on this daemon")
        return self.objs[key]

    def reconnect(self) -> None:
        for _ in range(20):
            try:
                self.conn = libvirt.open(self.uri)
                break
            except libvirt.libvirtError as exc:
                log(f"reconnect failed: {exc}")
                time.sleep(1)
        else:
            raise RuntimeError(f"cannot reconnect to {self.uri}")
        for key, resolve in list(self.resolvers.items()):
            try:
                self.objs[key] = resolve(self.conn)
            except Exception as exc:
                log(f"after reconnect, {key} not found again: {exc}")
                self.objs.pop(key, None)

    # helpers for steps

    @property
    def dom(self) -> Any:
        return self.get("dom")

    @property
    def scratch(self) -> Any:
        return self.get("scratch")

    def path(self, name: str) -> str:
        return os.path.join(self.spec["files"], name)

    def cpumap(self) -> tuple[bool, ...]:
        return (True,) * self.conn.getInfo()[2]


# --- classification ---------------------------------------------------------------------


def classify(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, libvirt.libvirtError):
        code = exc.get_error_code() or 0
        return {"outcome": "libvirt", "code": ERR_NAMES.get(code, str(code)),
                "message": str(exc.get_error_message() or exc)}
    return {"outcome": "client", "code": type(exc).__name__, "message": str(exc)}


def alive(conn: Any) -> bool:
    try:
        return bool(conn.isAlive()) and conn.getLibVersion() > 0
    except Exception:
        return False


def run_call(ctx: Ctx, fn: Callable[[], Any]) -> tuple[dict[str, Any], Any]:
    """Call ``fn`` in a thread under the hang guard; its classified outcome and result."""
    box: dict[str, Any] = {}

    def body() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:  # every failure is an outcome
            box["exc"] = exc

    t = threading.Thread(target=body, daemon=True)
    t.start()
    t.join(CALL_TIMEOUT_S)
    if t.is_alive():
        return {"outcome": "hang", "message": f"no answer after {CALL_TIMEOUT_S:.0f} s"}, None
    if "exc" in box:
        return classify(box["exc"]), None
    return {"outcome": "ok"}, box.get("result")


# --- the scratch domain's states --------------------------------------------------------


def console_count(ctx: Ctx, name: str) -> int:
    try:
        with open(ctx.spec["console"][name], errors="replace") as f:
            return f.read().count(ctx.spec["ready_marker"])
    except OSError:
        return 0


def wait_booted(ctx: Ctx, name: str, dom: Any) -> None:
    """Until the guest printed its READY marker for its latest start, and its agent answers."""
    deadline = time.monotonic() + BOOT_TIMEOUT_S
    while console_count(ctx, name) < ctx.boots[name]:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name}: no READY marker #{ctx.boots[name]}")
        time.sleep(0.2)
    import libvirt_qemu

    if ctx.agent_waited.get(name) == ctx.boots[name]:
        return  # this boot's agent was waited for already
    ctx.agent_waited[name] = ctx.boots[name]
    agent_deadline = min(deadline, time.monotonic() + 60)
    while time.monotonic() < agent_deadline:
        try:
            libvirt_qemu.qemuAgentCommand(dom, '{"execute": "guest-ping"}', 5, 0)
            return
        except libvirt.libvirtError as exc:
            if exc.get_error_code() not in (libvirt.VIR_ERR_AGENT_UNRESPONSIVE,
                                            libvirt.VIR_ERR_AGENT_UNSYNCED,
                                            libvirt.VIR_ERR_OPERATION_TIMEOUT):
                break  # no agent pass-through on this daemon: give qemu-ga time
            time.sleep(0.5)
    if not alive(ctx.conn):
        ctx.reconnect()
    time.sleep(3)


def start(ctx: Ctx, name: str, dom: Any) -> None:
    try:
        dom.create()
    except libvirt.libvirtError as exc:  # e.g. a VNC port another guest took meanwhile
        ctx.events.append(f"starting {name} failed once, retried: {exc}")
        log(f"starting {name} failed, retrying: {exc}")
        time.sleep(1)
        dom.create()
    ctx.boots[name] = console_count(ctx, name) + 1


def wait_state(dom: Any, states: tuple[int, ...], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(libvirt.libvirtError):
            if dom.state()[0] in states:
                return True
        time.sleep(0.2)
    return False


def ensure(ctx: Ctx, state: str) -> None:
    """Bring the scratch domain into ``state`` with the basic calls (not counted)."""
    dom = ctx.scratch
    cur = dom.state()[0]
    if state == "off":
        if cur != libvirt.VIR_DOMAIN_SHUTOFF:
            dom.destroy()
        if dom.hasManagedSaveImage(0):
            dom.managedSaveRemove(0)
        return
    if cur == libvirt.VIR_DOMAIN_PAUSED and state in ("running", "booted"):
        with contextlib.suppress(libvirt.libvirtError):
            dom.resume()
        cur = dom.state()[0]
    if cur not in (libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_PAUSED) or (
            cur == libvirt.VIR_DOMAIN_PAUSED and state != "paused"):
        if cur != libvirt.VIR_DOMAIN_SHUTOFF:
            dom.destroy()
        if dom.hasManagedSaveImage(0):
            dom.managedSaveRemove(0)
        start(ctx, "survey-scratch", dom)
    if state == "paused" and dom.state()[0] != libvirt.VIR_DOMAIN_PAUSED:
        dom.suspend()
    if state == "booted":
        wait_booted(ctx, "survey-scratch", dom)


def wait_no_job(dom: Any, disk: str = "vda", timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if not dom.blockJobInfo(disk, 0):
                return
        except libvirt.libvirtError:
            return
        time.sleep(0.2)
    with contextlib.suppress(libvirt.libvirtError):
        dom.blockJobAbort(disk, 0)


def wait_job_done(dom: Any, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if dom.jobInfo()[0] == libvirt.VIR_DOMAIN_JOB_NONE:
                return
        except libvirt.libvirtError:
            return
        time.sleep(0.2)
    with contextlib.suppress(libvirt.libvirtError):
        dom.abortJob()


# --- argument builders ------------------------------------------------------------------

MAC = "52:54:00:5a:00:01"
MEMORY_PARAM_UNLIMITED = 2**53 - 1  # libvirt's VIR_DOMAIN_MEMORY_PARAM_UNLIMITED (not exported)
NS = "http://example.org/virtkit-survey"
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJmZWJmZWJmZWJmZWJmZWJmZWJmZWJmZWJmZWJmZWJm survey"


def host_cpu_xml(ctx: Ctx) -> str:
    try:
        caps = ctx.conn.getCapabilities()
        m = re.search(r"<host>.*?(<cpu>.*?</cpu>)", caps, re.S)
        if m:
            return m.group(1)
    except libvirt.libvirtError:
        pass
    return "<cpu><arch>x86_64</arch><model>qemu64</model></cpu>"


def params_or(getter: Callable[[], dict[str, Any]], fallback: dict[str, Any]) -> dict[str, Any]:
    try:
        got = getter()
    except libvirt.libvirtError:
        return fallback
    return got or fallback


def disk_xml(ctx: Ctx, target: str, alias: str = "") -> str:
    path = ctx.path(f"hot-{target}.raw")
    with open(path, "wb") as f:
        f.truncate(1 << 20)
    al = f"<alias name='{alias}'/>" if alias else ""
    return (f"<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
            f"<source file='{path}'/><target dev='{target}' bus='virtio'/>{al}</disk>")


def close_stream(_ctx: Ctx, _res: Any, st: Any) -> None:
    with contextlib.suppress(Exception):
        st.abort()


def stream_args(ctx: Ctx, *head: Any, tail: tuple[Any, ...] = ()) -> tuple[Any, ...]:
    st = ctx.conn.newStream(0)
    ctx.vals["stream"] = st
    return (*head, st, *tail)


def abort_stream(ctx: Ctx, _res: Any) -> None:
    st = ctx.vals.pop("stream", None)
    if st is not None:
        with contextlib.suppress(Exception):
            st.abort()


def drain_stream(ctx: Ctx, _res: Any) -> None:
    st = ctx.vals.pop("stream", None)
    if st is None:
        return
    try:
        while st.recv(1 << 16):
            pass
        st.finish()
    except Exception:
        with contextlib.suppress(Exception):
            st.abort()


def upload_stream(ctx: Ctx, _res: Any) -> None:
    st = ctx.vals.pop("stream", None)
    if st is None:
        return
    try:
        st.send(b"\0" * 65536)
        st.finish()
    except Exception:
        with contextlib.suppress(Exception):
            st.abort()


def graphics_args(ctx: Ctx) -> tuple[Any, ...]:
    a, b = socket.socketpair()
    ctx.vals["gsock"] = (a, b)
    return (0, a.fileno(), libvirt.VIR_DOMAIN_OPEN_GRAPHICS_SKIPAUTH)


def close_graphics(ctx: Ctx, _res: Any) -> None:
    for s in ctx.vals.pop("gsock", ()):
        s.close()


def close_fd(_ctx: Ctx, res: Any) -> None:
    if isinstance(res, int) and res >= 0:
        with contextlib.suppress(OSError):
            os.close(res)


def destroy_result(_ctx: Ctx, res: Any) -> None:
    with contextlib.suppress(Exception):
        if res.isActive():
            res.destroy()


def undefine_result(_ctx: Ctx, res: Any) -> None:
    with contextlib.suppress(Exception):
        res.undefine()


def keep(key: str) -> Callable[[Ctx, Any], None]:
    def store(ctx: Ctx, res: Any) -> None:
        ctx.vals[key] = res

    return store


def autostart_off(target: str) -> Callable[[Ctx, Any], None]:
    def off(ctx: Ctx, _res: Any) -> None:
        with contextlib.suppress(Exception):
            ctx.get(target).setAutostart(0)

    return off


def booted_again(ctx: Ctx, _res: Any) -> None:
    """After a reboot or reset the guest boots once more."""
    ctx.boots["survey-scratch"] += 1


def booted_fresh(ctx: Ctx, _res: Any) -> None:
    """After a counted start the guest boots from the beginning."""
    ctx.boots["survey-scratch"] = console_count(ctx, "survey-scratch") + 1


def wait_off(ctx: Ctx, _res: Any) -> None:
    if not wait_state(ctx.scratch, (libvirt.VIR_DOMAIN_SHUTOFF,), 90):
        log("scratch did not power off after shutdown: destroying it")
        with contextlib.suppress(libvirt.libvirtError):
            ctx.scratch.destroy()


def gone(target: str) -> Callable[[Ctx, Any], None]:
    """After a detach (asynchronous: the guest lets go later): until ``target`` is gone."""

    def wait(ctx: Ctx, _res: Any) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(libvirt.libvirtError):
                if f"dev='{target}'" not in ctx.scratch.XMLDesc(0):
                    return
            time.sleep(0.2)
        ctx.events.append(f"{target} still attached 30 s after its detach")

    return wait


def pivot(ctx: Ctx, _res: Any) -> None:
    """After an active commit: once the job is ready, pivot to the base."""
    dom = ctx.scratch
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            info = dom.blockJobInfo("vda", 0)
        except libvirt.libvirtError:
            return
        if not info:
            return
        if info.get("end", 0) > 0 and info.get("cur") == info.get("end"):
            break
        time.sleep(0.2)
    try:
        dom.blockJobAbort("vda", libvirt.VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT)
    except libvirt.libvirtError as exc:
        ctx.events.append(f"pivot after blockCommit: {exc}")
    wait_no_job(dom)


def then_wait_job(ctx: Ctx, _res: Any) -> None:
    wait_no_job(ctx.scratch)


def uuid_bytes(obj_key: str) -> Callable[[Ctx], tuple[Any, ...]]:
    return lambda c: (c.get(obj_key).UUID(),)


def uuid_str(obj_key: str) -> Callable[[Ctx], tuple[Any, ...]]:
    return lambda c: (c.get(obj_key).UUIDString(),)


# Read-only calls that need arguments: "Class.method" -> (target, args[, after]).
ARGS: dict[str, tuple[str, Any] | tuple[str, Any, Callable[[Ctx, Any], None]]] = {
    "virConnect.baselineCPU": ("conn", lambda c: ([host_cpu_xml(c)], 0)),
    "virConnect.baselineHypervisorCPU": ("conn", lambda c: (None, "x86_64", None, "qemu",
                                                            [host_cpu_xml(c)], 0)),
    "virConnect.compareCPU": ("conn", lambda c: (host_cpu_xml(c), 0)),
    "virConnect.compareHypervisorCPU": ("conn", lambda c: (None, "x86_64", None, "qemu",
                                                           host_cpu_xml(c), 0)),
    "virConnect.domainListGetStats": ("conn", lambda c: ([c.dom], 0, 0)),
    "virConnect.domainXMLFromNative": ("conn", ("qemu-argv",
                                                "qemu-system-x86_64 -m 128 -nographic", 0)),
    "virConnect.domainXMLToNative": ("conn", lambda c: ("qemu-argv", c.dom.XMLDesc(0), 0)),
    "virConnect.findStoragePoolSources": ("conn", ("logical", None, 0)),
    "virConnect.getCPUModelNames": ("conn", ("x86_64", 0)),
    "virConnect.getCPUStats": ("conn", (libvirt.VIR_NODE_CPU_STATS_ALL_CPUS, 0)),
    "virConnect.getCellsFreeMemory": ("conn", (0, 1)),
    "virConnect.getFreePages": ("conn", ([4], 0, 1, 0)),
    "virConnect.getMaxVcpus": ("conn", ("qemu",)),
    "virConnect.getMemoryStats": ("conn", (libvirt.VIR_NODE_MEMORY_STATS_ALL_CELLS, 0)),
    "virConnect.interfaceLookupByMACString": ("conn", lambda c: (c.get("iface").MACString(),)),
    "virConnect.interfaceLookupByName": ("conn", ("lo",)),
    "virConnect.listDevices": ("conn", (None, 0)),
    "virConnect.numOfDevices": ("conn", (None, 0)),
    "virConnect.lookupByID": ("conn", lambda c: (c.dom.ID(),)),
    "virConnect.lookupByName": ("conn", ("survey",)),
    "virConnect.lookupByUUID": ("conn", uuid_bytes("dom")),
    "virConnect.lookupByUUIDString": ("conn", uuid_str("dom")),
    "virConnect.networkLookupByName": ("conn", ("survey-net",)),
    "virConnect.networkLookupByUUID": ("conn", uuid_bytes("net")),
    "virConnect.networkLookupByUUIDString": ("conn", uuid_str("net")),
    "virConnect.nodeDeviceLookupByName": ("conn", lambda c: (c.spec["nodedev"],)),
    "virConnect.nodeDeviceLookupSCSIHostByWWN": ("conn", ("2001001b32a9da4e",
                                                          "2101001b32a9da4e", 0)),
    "virConnect.nwfilterBindingLookupByPortDev": ("conn", ("vnet-survey",)),
    "virConnect.nwfilterLookupByName": ("conn", ("survey-filter",)),
    "virConnect.nwfilterLookupByUUID": ("conn", uuid_bytes("nwfilter")),
    "virConnect.nwfilterLookupByUUIDString": ("conn", uuid_str("nwfilter")),
    "virConnect.secretLookupByUUID": ("conn", uuid_bytes("secret")),
    "virConnect.secretLookupByUUIDString": ("conn", uuid_str("secret")),
    "virConnect.secretLookupByUsage": ("conn", lambda c: (libvirt.VIR_SECRET_USAGE_TYPE_VOLUME,
                                                          c.path("secret-vol.img"))),
    "virConnect.setKeepAlive": ("conn", (5, 3)),
    "virConnect.storagePoolLookupByName": ("conn", ("survey-pool",)),
    "virConnect.storagePoolLookupByTargetPath": ("conn", lambda c: (c.path("pool"),)),
    "virConnect.storagePoolLookupByUUID": ("conn", uuid_bytes("pool")),
    "virConnect.storagePoolLookupByUUIDString": ("conn", uuid_str("pool")),
    "virConnect.storageVolLookupByKey": ("conn", lambda c: (c.get("vol").key(),)),
    "virConnect.storageVolLookupByPath": ("conn", lambda c: (c.get("vol").path(),)),
    "virConnect.newStream": ("conn", (0,), lambda c, st: close_stream(c, None, st)),
    # the running guest
    "virDomain.blockInfo": ("dom", ("vda", 0)),
    "virDomain.blockIoTune": ("dom", ("vda", 0)),
    "virDomain.blockJobInfo": ("dom", ("vda", 0)),
    "virDomain.blockPeek": ("dom", ("sda", 0, 512, 0)),  # raw: libvirt peeks only there
    "virDomain.blockStats": ("dom", ("vda",)),
    "virDomain.blockStatsFlags": ("dom", ("vda", 0)),
    "virDomain.getCPUStats": ("dom", (True, 0)),
    "virDomain.interfaceAddresses": ("dom", (libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT,
                                             0)),
    "virDomain.interfaceParameters": ("dom", (MAC, 0)),
    "virDomain.interfaceStats": ("dom", (MAC,)),
    "virDomain.memoryPeek": ("dom", (0, 512, libvirt.VIR_MEMORY_PHYSICAL)),
    "virDomain.metadata": ("dom", (libvirt.VIR_DOMAIN_METADATA_DESCRIPTION, None, 0)),
    "virDomain.openChannel": ("dom", lambda c: stream_args(c, "org.qemu.guest_agent.0",
                                                           tail=(0,)), abort_stream),
    "virDomain.openConsole": ("dom", lambda c: stream_args(c, None, tail=(0,)), abort_stream),
    "virDomain.openGraphics": ("dom", graphics_args, close_graphics),
    "virDomain.openGraphicsFD": ("dom", (0, libvirt.VIR_DOMAIN_OPEN_GRAPHICS_SKIPAUTH),
                                 close_fd),
    "virDomain.screenshot": ("dom", lambda c: stream_args(c, tail=(0, 0)), abort_stream),
    "virStoragePool.storageVolLookupByName": ("pool", ("v1.qcow2",)),
    "virStorageVol.download": ("vol", lambda c: stream_args(c, tail=(0, 0, 0)), drain_stream),
    "virNetwork.portLookupByUUID": ("net", (uuidlib.UUID(int=1).bytes,)),
    "virNetwork.portLookupByUUIDString": ("net", (str(uuidlib.UUID(int=1)),)),
}

# Read-only by name but meaningful only where the scratch domain's snapshot or checkpoint
# exists: they run in SEQUENCE instead.
_SNAP_DOM = ("hasCurrentSnapshot", "listAllSnapshots", "snapshotCurrent", "snapshotListNames",
             "snapshotNum", "snapshotLookupByName", "listAllCheckpoints",
             "checkpointLookupByName")

NOT_RUN: dict[str, str] = {
    "virConnect.allocPages": "changes the host's huge page pools",
    "virConnect.suspendForDuration": "suspends the host",
    "virConnect.setMemoryParameters": "changes the host's KSM tuning",
    "virConnect.networkCreateXML": "starts a network: bridge and firewall rules in the host's"
                                   " network namespace (virtkitd is not in a private one)",
    "virConnect.networkCreateXMLFlags": "as networkCreateXML",
    "virConnect.nwfilterBindingCreateXML": "installs firewall rules in the host's network"
                                           " namespace",
    "virConnect.interfaceDefineXML": "writes the host's network configuration",
    "virConnect.nodeDeviceCreateXML": "mediated devices only; the host has no mdev parent",
    "virConnect.nodeDeviceDefineXML": "mediated devices only; the host has no mdev parent",
    "virDomain.migrate": "needs a second host (bench/migration_bench.py measures migration)",
    "virDomain.migrate2": "as migrate", "virDomain.migrate3": "as migrate",
    "virDomain.migrateToURI": "as migrate", "virDomain.migrateToURI2": "as migrate",
    "virDomain.migrateToURI3": "as migrate",
    "virNetwork.create": "starts a network in the host's network namespace",
    "virNetwork.destroy": "the survey network is never started (see create)",
    "virNetwork.portCreateXML": "needs an active network",
    "virNodeDevice.create": "mediated devices only", "virNodeDevice.destroy":
        "mediated devices only", "virNodeDevice.undefine": "mediated devices only",
    "virNodeDevice.setAutostart": "mediated devices only",
    "virNodeDevice.detachFlags": "unbinds a host PCI device from its driver",
    "virNodeDevice.dettach": "unbinds a host PCI device from its driver",
    "virNodeDevice.reAttach": "rebinds a host PCI device", "virNodeDevice.reset":
        "resets a host PCI device",
    "virInterface.create": "brings a host interface up or down",
    "virInterface.destroy": "brings a host interface down",
    "virInterface.undefine": "removes a host interface's configuration",
}
for _m in methods("virNetworkPort"):
    NOT_RUN[f"virNetworkPort.{_m}"] = "no network port: it needs an active network"
for _m in methods("virNWFilterBinding"):
    NOT_RUN[f"virNWFilterBinding.{_m}"] = "no binding: creating one installs firewall rules"


def _xml(key: str) -> Callable[[Ctx], str]:
    return lambda c: c.spec["xml"][key]


def _snap_xml() -> str:
    return "<domainsnapshot><name>s1</name><description>survey</description></domainsnapshot>"


def _backup_xml(c: Ctx) -> str:
    return (f"<domainbackup><disks><disk name='vda' type='file'><driver type='qcow2'/>"
            f"<target file='{c.path('backup.qcow2')}'/></disk>"
            f"<disk name='hdc' backup='no'/></disks></domainbackup>")


def _check_snapshot(c: Ctx, res: Any) -> None:
    if res is not None:
        c.put("snap", res, lambda conn: conn.lookupByName("survey-scratch")
              .snapshotLookupByName("s1", 0))


def _check_checkpoint(c: Ctx, res: Any) -> None:
    if res is not None:
        c.put("checkpoint", res, lambda conn: conn.lookupByName("survey-scratch")
              .checkpointLookupByName("c1", 0))


def _make_pool_vol(c: Ctx, res: Any) -> None:
    if res is not None:
        c.put("vol2", res, lambda conn: conn.storagePoolLookupByName("survey-pool2")
              .storageVolLookupByName("n1"))


def _renamed_back(c: Ctx, _res: Any) -> None:
    with contextlib.suppress(libvirt.libvirtError):
        c.conn.lookupByName("survey-scratch2").rename("survey-scratch", 0)
    c.objs["scratch"] = c.conn.lookupByName("survey-scratch")


def _save_params(name: str) -> Callable[[Ctx], tuple[Any, ...]]:
    return lambda c: ({libvirt.VIR_DOMAIN_SAVE_PARAM_FILE: c.path(name)}, 0)


def _dom_seq() -> list[Step]:
    """State-changing virDomain calls on the scratch domain, and its snapshot/checkpoint."""
    S, D = "scratch", "virDomain."
    live = libvirt.VIR_DOMAIN_AFFECT_LIVE
    steps = [
        Step(D + "create", S, (), "off", booted_fresh),
        Step(D + "setTime", S, ({"seconds": int(time.time()), "nseconds": 0}, 0), "booted"),
        Step(D + "fsFreeze", S, (None, 0), "booted"),
        Step(D + "fsThaw", S, (None, 0), "booted"),
        Step(D + "fSTrim", S, (None, 0, 0), "booted"),
        Step(D + "setUserPassword", S, ("root", "survey-pw", 0), "booted"),
        Step(D + "authorizedSSHKeysSet", S, ("root", [SSH_KEY], 0), "booted"),
        Step(D + "authorizedSSHKeysGet", S, ("root", 0), "booted"),
        Step(D + "setGuestVcpus", S, ("0", 1, 0), "booted"),
        Step(D + "agentSetResponseTimeout", S, (10, 0), "booted"),
        Step(D + "sendKey", S, (libvirt.VIR_KEYCODE_SET_LINUX, 0, [42], 1, 0), "booted"),
        Step(D + "injectNMI", S, (0,), "booted"),
        Step(D + "sendProcessSignal", S, (1, libvirt.VIR_DOMAIN_PROCESS_SIGNAL_NOP, 0),
             "booted"),
        Step(D + "setMemoryStatsPeriod", S, (5, live), "running"),
        Step(D + "setMemory", S, lambda c: (c.scratch.info()[2],), "running"),
        Step(D + "setMemoryFlags", S, lambda c: (c.scratch.info()[2], live), "running"),
        Step(D + "setSchedulerParameters", S,
             lambda c: (params_or(c.scratch.schedulerParameters, {"cpu_shares": 1024}),),
             "running"),
        Step(D + "setSchedulerParametersFlags", S,
             lambda c: (params_or(c.scratch.schedulerParameters, {"cpu_shares": 1024}), live),
             "running"),
        Step(D + "setBlkioParameters", S, ({"weight": 100}, live), "running"),
        Step(D + "setMemoryParameters", S,
             lambda c: ({"hard_limit": params_or(c.scratch.memoryParameters, {}).get(
                 "hard_limit", MEMORY_PARAM_UNLIMITED)}, live), "running"),
        Step(D + "setNumaParameters", S, ({"numa_nodeset": "0"}, live), "running"),
        Step(D + "setInterfaceParameters", S, (MAC, {"inbound.average": 1000}, live), "running"),
        Step(D + "setBlockIoTune", S, ("vda", {"total_bytes_sec": 10**9}, live), "running"),
        Step(D + "setBlockThreshold", S, ("vda", 1 << 30, 0), "running"),
        Step(D + "pinVcpu", S, lambda c: (0, c.cpumap()), "running"),
        Step(D + "pinVcpuFlags", S, lambda c: (0, c.cpumap(), live), "running"),
        Step(D + "pinEmulator", S, lambda c: (c.cpumap(), live), "running"),
        Step(D + "addIOThread", S, (1, live), "running"),
        Step(D + "pinIOThread", S, lambda c: (1, c.cpumap(), live), "running"),
        Step(D + "setIOThreadParams", S, (1, {"poll_max_ns": 0}, live), "running"),
        Step(D + "delIOThread", S, (1, live), "running"),
        Step(D + "setPerfEvents", S, ({"cpu_cycles": False}, live), "running"),
        Step(D + "setLifecycleAction", S, (libvirt.VIR_DOMAIN_LIFECYCLE_POWEROFF,
                                           libvirt.VIR_DOMAIN_LIFECYCLE_ACTION_DESTROY, live),
             "running"),
        Step(D + "setMetadata", S, (libvirt.VIR_DOMAIN_METADATA_ELEMENT, "<s>1</s>", "survey",
                                    NS, live), "running"),
        Step(D + "setAutostart", S, (1,), "running", autostart_off(S)),
        Step(D + "migrateSetMaxDowntime", S, (500, 0), "running"),
        Step(D + "migrateSetMaxSpeed", S, (1000, 0), "running"),
        Step(D + "migrateSetCompressionCache", S, (64 << 20, 0), "running"),
        Step(D + "migrateStartPostCopy", S, (0,), "running"),
        Step(D + "startDirtyRateCalc", S, (1, 0), "running"),
        Step(D + "setLaunchSecurityState", S, ({}, 0), "running"),
        Step(D + "FDAssociate", S, lambda c: ("survey-fd", [_fd(c)], 0), "running",
             lambda c, _r: _close_fds(c)),
        Step(D + "attachDevice", S, lambda c: (disk_xml(c, "vdb"),), "booted"),
        Step(D + "detachDevice", S, lambda c: (disk_xml(c, "vdb"),), "booted", gone("vdb")),
        Step(D + "attachDeviceFlags", S, lambda c: (disk_xml(c, "vdc"), live), "booted"),
        Step(D + "detachDeviceFlags", S, lambda c: (disk_xml(c, "vdc"), live), "booted",
             gone("vdc")),
        Step(D + "detachDeviceAlias", S, lambda c: _attach_for_alias(c), "booted", gone("vdd")),
        Step(D + "updateDeviceFlags", S, lambda c: (
            f"<disk type='file' device='cdrom'><driver name='qemu' type='raw'/>"
            f"<source file='{c.path('b.iso')}'/><target dev='hdc' bus='ide'/><readonly/>"
            f"</disk>", live), "running"),
        Step(D + "blockCopy", S, lambda c: (
            "vda", f"<disk type='file'><source file='{c.path('copy.qcow2')}'/>"
                   f"<driver type='qcow2'/></disk>", None,
            libvirt.VIR_DOMAIN_BLOCK_COPY_TRANSIENT_JOB), "running"),
        Step(D + "blockJobSetSpeed", S, ("vda", 1, 0), "running"),
        Step(D + "blockJobAbort", S, ("vda", 0), "running", then_wait_job),
        # vda is an overlay on base.qcow2: commit it (active commit, pivoted), then pull
        # and rebase (nothing left below: QEMU finishes those at once)
        Step(D + "blockCommit", S, ("vda", None, None, 0,
                                    libvirt.VIR_DOMAIN_BLOCK_COMMIT_ACTIVE), "running",
             pivot),
        Step(D + "blockPull", S, ("vda", 0, 0), "running", then_wait_job),
        Step(D + "blockRebase", S, ("vda", None, 0, 0), "running", then_wait_job),
        Step(D + "blockResize", S, (
            "vda", 80 << 20, libvirt.VIR_DOMAIN_BLOCK_RESIZE_BYTES), "running"),
        Step(D + "checkpointCreateXML", S, (
            "<domaincheckpoint><name>c1</name></domaincheckpoint>", 0), "running",
             _check_checkpoint),
        Step(D + "checkpointLookupByName", S, ("c1", 0), "running"),
        Step(D + "listAllCheckpoints", S, (0,), "running"),
        *[Step(f"virDomainCheckpoint.{m}", "checkpoint", _CP_ARGS.get(m, ()), "running")
          for m in methods("virDomainCheckpoint") if m != "delete"],
        Step(D + "backupBegin", S, lambda c: (_backup_xml(c), None, 0), "running"),
        Step(D + "backupGetXMLDesc", S, (0,), "running"),
        Step(D + "abortJob", S, (), "running"),
        Step(D + "abortJobFlags", S, (0,), "running", lambda c, _r: wait_job_done(c.scratch)),
        Step("virDomainCheckpoint.delete", "checkpoint", (0,), "running"),
        Step(D + "snapshotCreateXML", S, (_snap_xml(), 0), "running", _check_snapshot),
        Step(D + "hasCurrentSnapshot", S, (0,), "running"),
        Step(D + "listAllSnapshots", S, (0,), "running"),
        Step(D + "snapshotCurrent", S, (0,), "running"),
        Step(D + "snapshotListNames", S, (0,), "running"),
        Step(D + "snapshotNum", S, (0,), "running"),
        Step(D + "snapshotLookupByName", S, ("s1", 0), "running"),
        *[Step(f"virDomainSnapshot.{m}", "snap", _SNAP_ARGS.get(m, ()), "running")
          for m in methods("virDomainSnapshot") if m != "delete"],
        Step(D + "revertToSnapshot", S, lambda c: (c.get("snap"), 0), "running"),
        Step("virDomainSnapshot.delete", "snap", (0,), "running"),
        Step(D + "coreDump", S, lambda c: (c.path("core1"), libvirt.VIR_DUMP_MEMORY_ONLY),
             "running", lambda c, _r: _rm(c, "core1")),
        Step(D + "coreDumpWithFormat", S, lambda c: (
            c.path("core2"), libvirt.VIR_DOMAIN_CORE_DUMP_FORMAT_RAW,
            libvirt.VIR_DUMP_MEMORY_ONLY), "running", lambda c, _r: _rm(c, "core2")),
        Step(D + "suspend", S, (), "running"),
        Step(D + "resume", S, (), "paused"),
        Step(D + "pMSuspendForDuration", S, (libvirt.VIR_NODE_SUSPEND_TARGET_MEM, 0, 0),
             "booted"),
        Step(D + "pMWakeup", S, (0,), None),
        Step(D + "setVcpus", S, (1,), "running"),
        Step(D + "setVcpusFlags", S, (1, live), "running"),
        Step(D + "setVcpu", S, ("0", 1, live), "running"),
        Step(D + "reboot", S, (0,), "booted", booted_again),
        Step(D + "shutdown", S, (), "booted", wait_off),
        Step(D + "createWithFlags", S, (0,), "off", booted_fresh),
        Step(D + "shutdownFlags", S, (0,), "booted", wait_off),
        Step(D + "reset", S, (0,), "running", booted_again),
        Step(D + "destroy", S, (), "running"),
        Step(D + "createWithFiles", S, ([], 0), "off", booted_fresh),
        Step(D + "destroyFlags", S, (libvirt.VIR_DOMAIN_DESTROY_GRACEFUL,), "running"),
        Step(D + "managedSave", S, (0,), "running"),
        Step(D + "managedSaveGetXMLDesc", S, (0,), None, keep("msxml")),
        Step(D + "managedSaveDefineXML", S, lambda c: (
            c.vals.get("msxml") or c.scratch.XMLDesc(libvirt.VIR_DOMAIN_XML_SECURE), 0), None),
        Step(D + "managedSaveRemove", S, (0,), None),
        Step(D + "save", S, lambda c: (c.path("save1"),), "running"),
        Step("virConnect.saveImageGetXMLDesc", "conn", lambda c: (c.path("save1"), 0), None,
             keep("savexml")),
        Step("virConnect.saveImageDefineXML", "conn", lambda c: (
            c.path("save1"), c.vals.get("savexml") or c.scratch.XMLDesc(
                libvirt.VIR_DOMAIN_XML_SECURE), 0), None),
        Step("virConnect.restore", "conn", lambda c: (c.path("save1"),), None),
        Step(D + "saveFlags", S, lambda c: (c.path("save2"), None, 0), "running"),
        Step("virConnect.restoreFlags", "conn", lambda c: (c.path("save2"), None, 0), None),
        Step(D + "saveParams", S, _save_params("save3"), "running"),
        Step("virConnect.restoreParams", "conn", _save_params("save3"), None),
        Step(D + "setMaxMemory", S, lambda c: (c.scratch.maxMemory(),), "off"),
        Step(D + "rename", S, ("survey-scratch2", 0), "off", _renamed_back),
        Step("virConnect.defineXML", "conn", lambda c: (c.spec["xml"]["def1"],), None,
             keep("def1")),
        Step(D + "undefine", "def1", (), None),
        Step("virConnect.defineXMLFlags", "conn", lambda c: (c.spec["xml"]["def2"], 0), None,
             keep("def2")),
        Step(D + "undefineFlags", "def2", (0,), None),
        Step("virConnect.createXML", "conn", lambda c: (c.spec["xml"]["transient"], 0), None,
             destroy_result),
        Step("virConnect.createLinux", "conn", lambda c: (c.spec["xml"]["transient"], 0), None,
             destroy_result),
        Step("virConnect.createXMLWithFiles", "conn", lambda c: (
            c.spec["xml"]["transient"], [], 0), None, destroy_result),
    ]
    return steps


_CP_ARGS: dict[str, tuple[Any, ...]] = {"getParent": (0,), "getXMLDesc": (0,),
                                         "listAllChildren": (0,)}
_SNAP_ARGS: dict[str, tuple[Any, ...]] = {"getParent": (0,), "getXMLDesc": (0,),
                                          "hasMetadata": (0,), "isCurrent": (0,),
                                          "listAllChildren": (0,), "listChildrenNames": (0,),
                                          "numChildren": (0,)}


def _fd(c: Ctx) -> int:
    fd = os.open(c.path("a.iso"), os.O_RDONLY)
    c.vals.setdefault("fds", []).append(fd)
    return fd


def _close_fds(c: Ctx) -> None:
    for fd in c.vals.pop("fds", []):
        with contextlib.suppress(OSError):
            os.close(fd)


def _rm(c: Ctx, name: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(c.path(name))


def _attach_for_alias(c: Ctx) -> tuple[Any, ...]:
    c.scratch.attachDeviceFlags(disk_xml(c, "vdd", "ua-survey"), libvirt.VIR_DOMAIN_AFFECT_LIVE)
    return ("ua-survey", libvirt.VIR_DOMAIN_AFFECT_LIVE)


def _other_seq() -> list[Step]:
    """State-changing calls of the connection and the other objects, in order."""
    C = "virConnect."
    cb_dom = lambda *_a: None  # noqa: E731
    steps = [
        Step(C + "domainEventRegisterAny", "conn", lambda c: (
            None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, _noop_cb, None), None, keep("ev_dom")),
        Step(C + "domainEventDeregisterAny", "conn", lambda c: (c.vals.get("ev_dom", -1),)),
        Step(C + "domainEventRegister", "conn", (cb_dom, None)),
        Step(C + "domainEventDeregister", "conn", (cb_dom,)),
        Step(C + "networkEventRegisterAny", "conn", lambda c: (
            None, libvirt.VIR_NETWORK_EVENT_ID_LIFECYCLE, _noop_cb, None), None,
             keep("ev_net")),
        Step(C + "networkEventDeregisterAny", "conn", lambda c: (c.vals.get("ev_net", -1),)),
        Step(C + "storagePoolEventRegisterAny", "conn", lambda c: (
            None, libvirt.VIR_STORAGE_POOL_EVENT_ID_LIFECYCLE, _noop_cb, None), None,
             keep("ev_pool")),
        Step(C + "storagePoolEventDeregisterAny", "conn", lambda c: (
            c.vals.get("ev_pool", -1),)),
        Step(C + "nodeDeviceEventRegisterAny", "conn", lambda c: (
            None, libvirt.VIR_NODE_DEVICE_EVENT_ID_LIFECYCLE, _noop_cb, None), None,
             keep("ev_dev")),
        Step(C + "nodeDeviceEventDeregisterAny", "conn", lambda c: (c.vals.get("ev_dev", -1),)),
        Step(C + "secretEventRegisterAny", "conn", lambda c: (
            None, libvirt.VIR_SECRET_EVENT_ID_LIFECYCLE, _noop_cb, None), None,
             keep("ev_sec")),
        Step(C + "secretEventDeregisterAny", "conn", lambda c: (c.vals.get("ev_sec", -1),)),
        Step(C + "registerCloseCallback", "conn", (_noop_cb, None)),
        Step(C + "unregisterCloseCallback", "conn", ()),
        Step(C + "changeBegin", "conn", (0,)),
        Step(C + "changeRollback", "conn", (0,)),
        Step(C + "changeCommit", "conn", (0,)),
        # storage: the second pool, built, started, filled, emptied, removed
        Step(C + "storagePoolDefineXML", "conn", lambda c: (c.spec["xml"]["pool2"], 0), None,
             lambda c, r: r is not None and c.put(
                 "pool2", r, lambda conn: conn.storagePoolLookupByName("survey-pool2"))),
        Step("virStoragePool.build", "pool2", (0,)),
        Step("virStoragePool.create", "pool2", (0,)),
        Step("virStoragePool.setAutostart", "pool2", (1,), None, autostart_off("pool2")),
        Step("virStoragePool.createXML", "pool2", lambda c: (c.spec["xml"]["vol_n1"], 0), None,
             _make_pool_vol),
        Step("virStoragePool.createXMLFrom", "pool2", lambda c: (
            c.spec["xml"]["vol_n2"], c.get("vol2"), 0), None, keep("vol_n2")),
        Step("virStorageVol.upload", "vol2", lambda c: stream_args(c, tail=(0, 65536, 0)),
             None, upload_stream),
        Step("virStorageVol.resize", "vol2", (4 << 20, 0)),
        Step("virStorageVol.wipe", "vol2", (0,)),
        Step("virStorageVol.wipePattern", "vol2", (libvirt.VIR_STORAGE_VOL_WIPE_ALG_ZERO, 0)),
        Step("virStorageVol.delete", "vol2", (0,), None,
             lambda c, _r: c.vals.get("vol_n2") and c.vals["vol_n2"].delete(0)),
        Step("virStoragePool.destroy", "pool2", ()),
        Step("virStoragePool.delete", "pool2", (0,)),
        Step("virStoragePool.undefine", "pool2", ()),
        Step(C + "storagePoolCreateXML", "conn", lambda c: (c.spec["xml"]["pool3"], 0), None,
             lambda c, r: _destroy_pool(r)),
        # network (defined, never started), secret, filter
        Step("virNetwork.setAutostart", "net", (1,), None, autostart_off("net")),
        Step("virNetwork.update", "net", (
            libvirt.VIR_NETWORK_UPDATE_COMMAND_ADD_LAST, libvirt.VIR_NETWORK_SECTION_IP_DHCP_HOST,
            -1, "<host mac='52:54:00:00:00:99' ip='192.168.251.99'/>",
            libvirt.VIR_NETWORK_UPDATE_AFFECT_CONFIG)),
        Step(C + "networkDefineXML", "conn", lambda c: (c.spec["xml"]["net2"],), None,
             keep("net2")),
        Step("virNetwork.undefine", "net2", ()),
        Step(C + "networkDefineXMLFlags", "conn", lambda c: (c.spec["xml"]["net3"], 0), None,
             undefine_result),
        Step("virSecret.setValue", "secret", (b"survey-value-2", 0)),
        Step(C + "secretDefineXML", "conn", lambda c: (c.spec["xml"]["secret2"], 0), None,
             keep("secret2")),
        Step("virSecret.undefine", "secret2", ()),
        Step(C + "nwfilterDefineXML", "conn", lambda c: (c.spec["xml"]["filter2"],), None,
             keep("filter2")),
        Step("virNWFilter.undefine", "filter2", ()),
        Step(C + "nwfilterDefineXMLFlags", "conn", lambda c: (c.spec["xml"]["filter3"], 0), None,
             undefine_result),
        # a connection of its own for the calls that change or end one
        Step(C + "setIdentity", "conn2", ({}, 0)),
        Step(C + "close", "conn2", ()),
    ]
    return steps


def _destroy_pool(pool: Any) -> None:
    with contextlib.suppress(Exception):
        pool.destroy()


# objects a step may name that are vals rather than long-lived objects
_VAL_TARGETS = ("def1", "def2", "net2", "secret2", "filter2")


def sequence() -> list[Step]:
    return [*_other_seq(), *_dom_seq()]


def read_only_steps() -> list[Step]:
    seq = {s.method for s in sequence()}
    steps = []
    default_target = {"virConnect": "conn", "virDomain": "dom", "virStoragePool": "pool",
                      "virStorageVol": "vol", "virNetwork": "net", "virNodeDevice": "nodedev",
                      "virSecret": "secret", "virNWFilter": "nwfilter", "virInterface": "iface"}
    for cls in CLASSES:
        if cls not in default_target:
            continue  # snapshot and checkpoint methods run in the sequence
        for m in methods(cls):
            name = f"{cls}.{m}"
            if name in seq or name in NOT_RUN or (cls == "virDomain" and m in _SNAP_DOM):
                continue
            spec = ARGS.get(name)
            if spec is not None:
                after = spec[2] if len(spec) > 2 else None  # type: ignore[misc]
                steps.append(Step(name, spec[0], spec[1], None, after))
            else:
                steps.append(Step(name, default_target[cls]))
    return steps


def all_methods() -> list[str]:
    return [f"{cls}.{m}" for cls in CLASSES for m in methods(cls)]


# --- set-up and clean-up ----------------------------------------------------------------


def setup(ctx: Ctx) -> None:
    """The long-lived objects (not counted). What fails is logged; its steps are not run."""
    conn, x = ctx.conn, ctx.spec["xml"]

    def attempt(what: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except libvirt.libvirtError as exc:
            log(f"setup: {what} failed: {exc}")
            ctx.events.append(f"setup: {what} failed: {exc}")
            return None

    dom = conn.defineXML(x["main"])
    start(ctx, "survey", dom)
    ctx.put("dom", dom, lambda c: c.lookupByName("survey"))
    scratch = conn.defineXML(x["scratch"])
    ctx.put("scratch", scratch, lambda c: c.lookupByName("survey-scratch"))
    pool = attempt("pool", lambda: conn.storagePoolDefineXML(x["pool"], 0))
    if pool is not None:
        attempt("pool start", lambda: pool.create(0))
        ctx.put("pool", pool, lambda c: c.storagePoolLookupByName("survey-pool"))
        vol = attempt("volume", lambda: pool.createXML(x["vol"], 0))
        if vol is not None:
            ctx.put("vol", vol, lambda c: c.storagePoolLookupByName("survey-pool")
                    .storageVolLookupByName("v1.qcow2"))
    net = attempt("network", lambda: conn.networkDefineXML(x["net"]))
    if net is not None:
        ctx.put("net", net, lambda c: c.networkLookupByName("survey-net"))
    sec = attempt("secret", lambda: conn.secretDefineXML(x["secret"], 0))
    if sec is not None:
        attempt("secret value", lambda: sec.setValue(b"survey-value", 0))
        uid = sec.UUIDString()
        ctx.put("secret", sec, lambda c: c.secretLookupByUUIDString(uid))
    flt = attempt("nwfilter", lambda: conn.nwfilterDefineXML(x["filter"]))
    if flt is not None:
        ctx.put("nwfilter", flt, lambda c: c.nwfilterLookupByName("survey-filter"))
    iface = attempt("interface lo", lambda: conn.interfaceLookupByName("lo"))
    if iface is not None:
        ctx.put("iface", iface, lambda c: c.interfaceLookupByName("lo"))
    dev = attempt("node device", lambda: conn.nodeDeviceLookupByName(ctx.spec["nodedev"]))
    if dev is not None:
        ctx.put("nodedev", dev, lambda c: c.nodeDeviceLookupByName(ctx.spec["nodedev"]))
    ctx.put("conn2", libvirt.open(ctx.uri), lambda _c: libvirt.open(ctx.uri))
    wait_booted(ctx, "survey", dom)


def cleanup(ctx: Ctx) -> list[str]:
    """Destroy and undefine everything this run made; what could not be removed."""
    problems = []
    conn = ctx.conn
    if not alive(conn):
        with contextlib.suppress(Exception):
            ctx.reconnect()
            conn = ctx.conn

    def attempt(what: str, fn: Callable[[], Any]) -> None:
        try:
            fn()
        except libvirt.libvirtError as exc:
            if exc.get_error_code() not in (libvirt.VIR_ERR_NO_DOMAIN, libvirt.VIR_ERR_NO_NETWORK,
                                            libvirt.VIR_ERR_NO_STORAGE_POOL,
                                            libvirt.VIR_ERR_NO_SECRET,
                                            libvirt.VIR_ERR_NO_NWFILTER):
                problems.append(f"{what}: {exc}")

    def drop_domain(name: str) -> None:
        try:
            d = conn.lookupByName(name)
        except libvirt.libvirtError:
            return
        if d.isActive():
            attempt(f"destroy {name}", d.destroy)
        for snap in _safe(lambda: d.listAllSnapshots(0)) or []:
            attempt(f"snapshot of {name}", lambda s=snap: s.delete(
                libvirt.VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY))
        for cp in _safe(lambda: d.listAllCheckpoints(0)) or []:
            attempt(f"checkpoint of {name}", lambda c=cp: c.delete(
                libvirt.VIR_DOMAIN_CHECKPOINT_DELETE_METADATA_ONLY))
        if d.isPersistent():
            attempt(f"undefine {name}", lambda: d.undefineFlags(
                libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
                | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
                | libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA))

    for name in ("survey", "survey-scratch", "survey-scratch2", "survey-transient",
                 "survey-def1", "survey-def2"):
        drop_domain(name)
    for name in ("survey-pool", "survey-pool2", "survey-pool3"):
        try:
            p = conn.storagePoolLookupByName(name)
        except libvirt.libvirtError:
            continue
        if p.isActive():
            for v in _safe(lambda p=p: p.listAllVolumes(0)) or []:
                attempt(f"volume {v.name()}", lambda v=v: v.delete(0))
            attempt(f"destroy pool {name}", p.destroy)
        if p.isPersistent():
            attempt(f"undefine pool {name}", p.undefine)
    for name in ("survey-net", "survey-net2", "survey-net3"):
        with contextlib.suppress(libvirt.libvirtError):
            n = conn.networkLookupByName(name)
            attempt(f"undefine network {name}", n.undefine)
    for sec in _safe(lambda: conn.listAllSecrets(0)) or []:
        if "survey" in (_safe(sec.XMLDesc) or ""):
            attempt("undefine secret", sec.undefine)
    for name in ("survey-filter", "survey-filter2", "survey-filter3"):
        with contextlib.suppress(libvirt.libvirtError):
            f = conn.nwfilterLookupByName(name)
            attempt(f"undefine filter {name}", f.undefine)
    return problems


def _safe(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except libvirt.libvirtError:
        return None


# --- the run ----------------------------------------------------------------------------


def run_step(ctx: Ctx, step: Step) -> dict[str, Any]:
    rec: dict[str, Any] = {"method": step.method, "target": step.target}
    if step.state is not None:
        try:
            ensure(ctx, step.state)
        except (NoObject, libvirt.libvirtError, RuntimeError) as exc:
            rec.update(outcome="not_run", reason=f"scratch domain not {step.state}: {exc}")
            return rec
    try:
        if step.target in _VAL_TARGETS:
            obj = ctx.vals.get(step.target)
            if obj is None:
                raise NoObject(f"no {step.target} object on this daemon (its define failed)")
        else:
            obj = ctx.get(step.target)
        args = step.args(ctx) if callable(step.args) else step.args
    except NoObject as exc:
        rec.update(outcome="not_run", reason=str(exc))
        return rec
    except Exception as exc:  # an argument builder's own call failed
        rec.update(outcome="not_run", reason=f"argument builder: {type(exc).__name__}: {exc}")
        return rec
    meth = step.method.split(".", 1)[1]
    fn = getattr(obj, meth)
    result, value = run_call(ctx, lambda: fn(*args))
    rec.update(result)
    if step.after is not None and rec["outcome"] == "ok":
        try:
            step.after(ctx, value)
        except Exception as exc:
            ctx.events.append(f"after {step.method}: {type(exc).__name__}: {exc}")
    if rec["outcome"] == "hang" or (rec["outcome"] != "ok" and not alive(ctx.conn)):
        if rec["outcome"] != "hang":
            rec["outcome"], rec["broken_by"] = "broken", rec.get("code")
        ctx.events.append(f"{step.method}: connection {rec['outcome']}; reconnecting")
        log(f"{step.method}: connection {rec['outcome']}: reconnecting")
        ctx.reconnect()
    return rec


def main(argv: list[str]) -> int:
    with open(argv[1]) as f:
        spec = json.load(f)
    out_path = argv[2]
    only = re.compile(spec["only"]) if spec.get("only") else None
    libvirt.virEventRegisterDefaultImpl()

    def loop() -> None:
        while True:
            libvirt.virEventRunDefaultImpl()

    threading.Thread(target=loop, daemon=True).start()
    libvirt.registerErrorHandler(lambda *_a: None, None)  # no stderr noise per failed call
    ctx = Ctx(spec)
    results: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    try:
        setup(ctx)
        steps = [*read_only_steps(), *sequence()]
        for step in steps:
            if only is not None and not only.search(step.method):
                continue
            if step.method in results:
                continue
            rec = run_step(ctx, step)
            results[step.method] = rec
            log(f"{step.method}: {rec['outcome']} {rec.get('code', '')} {rec.get('reason', '')}")
        for name in all_methods():
            if name in results or (only is not None and not only.search(name)):
                continue
            reason = NOT_RUN.get(name, "no argument builder")
            results[name] = {"method": name, "outcome": "not_run", "reason": reason}
    finally:
        try:
            problems = cleanup(ctx)
        except Exception as exc:
            problems = [f"cleanup: {type(exc).__name__}: {exc}"]
    with open(out_path, "w") as f:
        json.dump({"results": sorted(results.values(), key=lambda r: r["method"]),
                   "events": ctx.events, "cleanup_problems": problems,
                   "libvirt_version": libvirt.getVersion()}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
