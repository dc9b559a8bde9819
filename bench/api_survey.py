"""Every libvirt-python method against libvirtd 9.0 and virtkitd, side by side.

    .venv/bin/python bench/api_survey.py [--json FILE] [--only REGEX]

Starts Debian's libvirtd with its QEMU driver (bench/qemu_peers.py: private mount
namespace, under a subreaper, in a network namespace of its own, with the storage,
network, nodedev, secret, interface and nwfilter modules that load) and a virtkitd,
each in its own short root under /tmp. Against each, api_survey_worker.py (Debian's
/usr/bin/python3, libvirt-python) defines and starts the same test guest (TCG, 256
MiB: a qcow2 disk, a CD-ROM, a user-mode NIC, a serial console, VNC, the guest agent
channel), waits for its READY marker and its agent, and calls every public method of
virConnect, virDomain, virDomainSnapshot, virDomainCheckpoint, virStoragePool,
virStorageVol, virNetwork, virNetworkPort, virNodeDevice, virSecret, virNWFilter,
virNWFilterBinding and virInterface (see the worker for the argument table, the
ordered state-changing calls on scratch objects, and the calls not run and why).

Prints the table (method, libvirtd outcome, virtkitd outcome), the totals ("N methods
succeed on libvirtd, M of them succeed on virtkitd") and the methods that succeed on
libvirtd but not on virtkitd, grouped by error. A connection virtkitd dropped or a call
it never answered is listed first: that is a bug. ``--only`` limits the run to methods
("virDomain.info") the regex finds; ``--json`` writes the raw results. Every process
started here is stopped by pid at the end; the daemons are checked to be serving
before they are stopped.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(ROOT / "tests" / "drivers" / "qemu"))

import qemu_e2e  # noqa: E402
import qemu_peers  # noqa: E402
from harness import SYSTEM_PYTHON  # noqa: E402

from virtkit.testing.peers import Daemon, start_virtkitd  # noqa: E402

WORKER = BENCH_DIR / "api_survey_worker.py"
DAEMONS = ("libvirtd", "virtkitd")
MODULES = ("storage", "network", "nodedev", "secret", "interface", "nwfilter")
MAC = "52:54:00:5a:00:01"
NODEDEV = "computer"  # the one node device every host has, on both daemons
WORKER_TIMEOUT_S = 3600.0
OK = "ok"


# --- what each daemon gets ---------------------------------------------------------------


def _nic(xml: str) -> str:
    return xml.replace("<interface type='user'><model type='virtio'/></interface>",
                       f"<interface type='user'><mac address='{MAC}'/>"
                       "<model type='virtio'/></interface>")


def _described(xml: str, name: str) -> str:
    return xml.replace(f"<name>{name}</name>",
                       f"<name>{name}</name>\n  <description>virtkit API survey</description>", 1)


def _devices(cdrom: str) -> str:
    return (f"{cdrom}<graphics type='vnc' autoport='yes' listen='127.0.0.1'/>"
            "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/>"
            "</channel>")


def build_spec(guest: Any, files: Path, uri: str, only: str | None) -> dict[str, Any]:
    """The worker's input: URI, files, and every XML it defines."""
    files.mkdir(parents=True)
    files.chmod(0o755)
    main_disk = guest.copy_disk(files / "main.qcow2")
    # the scratch disk is an overlay, so that block commit and pull have a chain to work on
    base = guest.copy_disk(files / "base.qcow2")
    scratch_disk = files / "scratch.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(base),
                    str(scratch_disk)], check=True)
    for name, size in (("a.iso", 1 << 20), ("b.iso", 2 << 20)):
        with open(files / name, "wb") as f:
            f.truncate(size)
    (files / "pool").mkdir()
    (files / "pool3").mkdir()
    cd_sata = (f"<disk type='file' device='cdrom'><driver name='qemu' type='raw'/>"
               f"<source file='{files / 'a.iso'}'/><target dev='sda' bus='sata'/>"
               f"<readonly/></disk>")
    cd_ide = cd_sata.replace("dev='sda' bus='sata'", "dev='hdc' bus='ide'")

    def dom(name: str, **kw: Any) -> str:
        # the console log is appended to, never truncated: a guest's READY markers are
        # counted across QEMU restarts (revert, restore)
        xml = qemu_e2e.domain_xml(guest, files, name, **kw)
        log = f"<log file='{qemu_e2e.console_log(files, name)}'/>"
        xml = xml.replace(log, log.replace("/>", " append='on'/>"))
        return _described(_nic(xml), name)

    def pool(name: str, path: Path) -> str:
        return (f"<pool type='dir'><name>{name}</name><target><path>{path}</path></target>"
                "</pool>")

    def vol(name: str, fmt: str) -> str:
        return (f"<volume><name>{name}</name><capacity unit='MiB'>2</capacity>"
                f"<target><format type='{fmt}'/></target></volume>")

    def net(name: str, n: int) -> str:
        return (f"<network><name>{name}</name><bridge name='vksurvey{n}'/>"
                f"<ip address='192.168.{250 + n}.1' netmask='255.255.255.0'><dhcp>"
                f"<range start='192.168.{250 + n}.10' end='192.168.{250 + n}.50'/>"
                "</dhcp></ip></network>")

    def secret(path: str) -> str:
        return (f"<secret ephemeral='no' private='no'><description>survey</description>"
                f"<usage type='volume'><volume>{path}</volume></usage></secret>")

    def nwfilter(name: str) -> str:
        return (f"<filter name='{name}' chain='ipv4'><rule action='accept' direction='out'>"
                "<ip protocol='tcp' dstportstart='22'/></rule></filter>")

    return {
        "uri": uri,
        "files": str(files),
        "only": only,
        "nodedev": NODEDEV,
        "ready_marker": guest.READY_MARKER,
        "console": {n: str(qemu_e2e.console_log(files, n)) for n in ("survey", "survey-scratch")},
        "xml": {
            "main": dom("survey", disk=main_disk, memory_mib=256,
                        extra_devices=_devices(cd_sata)),
            "scratch": dom("survey-scratch", disk=scratch_disk, memory_mib=128, machine="pc",
                           extra_devices=_devices(cd_ide)),
            "transient": dom("survey-transient", memory_mib=128),
            "def1": dom("survey-def1", memory_mib=128),
            "def2": dom("survey-def2", memory_mib=128),
            "pool": pool("survey-pool", files / "pool"),
            "pool2": pool("survey-pool2", files / "pool2"),
            "pool3": pool("survey-pool3", files / "pool3"),
            "vol": vol("v1.qcow2", "qcow2"),
            "vol_n1": vol("n1", "raw"),
            "vol_n2": vol("n2", "raw"),
            "net": net("survey-net", 0),
            "net2": net("survey-net2", 1),
            "net3": net("survey-net3", 2),
            "secret": secret(str(files / "secret-vol.img")),
            "secret2": secret(str(files / "secret-vol2.img")),
            "filter": nwfilter("survey-filter"),
            "filter2": nwfilter("survey-filter2"),
            "filter3": nwfilter("survey-filter3"),
        },
    }


# --- the daemons -------------------------------------------------------------------------


@contextlib.contextmanager
def netns() -> Iterator[str]:
    """A network namespace (loopback up) for libvirtd's network and firewall drivers."""
    name = f"vks-{secrets.token_hex(4)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def start_libvirtd(root: Path, ns: str) -> tuple[qemu_peers.LibvirtdQemu, list[str]]:
    """libvirtd with every module of MODULES that loads (dropping, from the end, those
    that keep it from starting); the daemon and the modules it has."""
    modules = list(MODULES)
    while True:
        try:
            lv = qemu_peers.start_libvirtd_qemu(root / f"lv{len(modules)}",
                                                extra_modules=tuple(modules), netns=ns,
                                                timeout=60)
            return lv, modules
        except RuntimeError as exc:
            if not modules:
                raise
            print(f"libvirtd did not start with {modules}: {str(exc)[:300]}", file=sys.stderr)
            modules.pop()


def serving(uri: str) -> str | None:
    """None if the daemon answers a libvirt-python client, else what went wrong."""
    code = "import libvirt, sys; c = libvirt.open(sys.argv[1]); c.getLibVersion(); c.close()"
    try:
        r = subprocess.run([SYSTEM_PYTHON, "-c", code, uri], capture_output=True, text=True,
                           timeout=60, check=False)
    except subprocess.TimeoutExpired:
        return "no answer in 60 s"
    return None if r.returncode == 0 else (r.stderr.strip().splitlines() or ["?"])[-1]


def run_worker(spec: dict[str, Any], work: Path, daemon: str) -> dict[str, Any]:
    spec_path, out_path = work / f"{daemon}-spec.json", work / f"{daemon}-out.json"
    spec_path.write_text(json.dumps(spec))
    print(f"--- {daemon}: {spec['uri']}", file=sys.stderr, flush=True)
    proc = subprocess.run([SYSTEM_PYTHON, str(WORKER), str(spec_path), str(out_path)],
                          timeout=WORKER_TIMEOUT_S, check=False)
    if proc.returncode != 0 or not out_path.exists():
        raise RuntimeError(f"the {daemon} worker failed (status {proc.returncode})")
    data: dict[str, Any] = json.loads(out_path.read_text())
    return data


def kill_stragglers(root: Path) -> list[int]:
    left = qemu_e2e.qemu_pids(str(root))
    for pid in left:
        qemu_e2e.kill_pid(pid)
        qemu_e2e.wait_gone(pid, 10)
    return left


# --- the report --------------------------------------------------------------------------


def label(rec: dict[str, Any] | None) -> str:
    """One outcome as a short word: ok, the error code name, client:TYPE, broken, hang,
    not run."""
    if rec is None:
        return "-"
    out = rec["outcome"]
    if out == OK:
        return OK
    if out == "libvirt":
        return str(rec["code"])
    if out == "client":
        return f"client:{rec['code']}"
    if out == "broken":
        return f"broken({rec.get('broken_by')})"
    if out == "hang":
        return "hang"
    return "not run"


def compare(raw: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The side-by-side rows, the totals and the regressions grouped by virtkitd's error."""
    by = {d: {r["method"]: r for r in raw[d]["results"]} for d in DAEMONS}
    names = sorted(set(by["libvirtd"]) | set(by["virtkitd"]))
    rows = [{"method": n, "libvirtd": by["libvirtd"].get(n), "virtkitd": by["virtkitd"].get(n)}
            for n in names]
    lv_ok = [r["method"] for r in rows if r["libvirtd"] and r["libvirtd"]["outcome"] == OK]
    both = [n for n in lv_ok if by["virtkitd"].get(n, {}).get("outcome") == OK]
    missing: dict[str, list[str]] = defaultdict(list)
    for n in lv_ok:
        if n not in both:
            missing[label(by["virtkitd"].get(n))].append(n)
    vk_only = [r["method"] for r in rows if r["virtkitd"] and r["virtkitd"]["outcome"] == OK
               and r["method"] not in lv_ok]
    conn = {d: [r for r in raw[d]["results"] if r["outcome"] in ("broken", "hang")]
            for d in DAEMONS}
    return {
        "rows": rows,
        "totals": {"methods": len(rows), "libvirtd_ok": len(lv_ok), "both_ok": len(both),
                   "virtkitd_ok": sum(1 for r in rows if r["virtkitd"]
                                      and r["virtkitd"]["outcome"] == OK),
                   "virtkitd_only_ok": len(vk_only),
                   "not_run": sum(1 for r in rows if r["libvirtd"]
                                  and r["libvirtd"]["outcome"] == "not_run")},
        "missing_on_virtkitd": {k: sorted(v) for k, v in sorted(
            missing.items(), key=lambda kv: (-len(kv[1]), kv[0]))},
        "virtkitd_only_ok": vk_only,
        "connection_problems": conn,
    }


def render(report: dict[str, Any], alive: dict[str, str | None]) -> str:
    lines = []
    conn = report["connection_problems"]
    if conn["virtkitd"] or alive.get("virtkitd"):
        lines.append("!!! virtkitd BUGS: connection dropped or call never answered:")
        for r in conn["virtkitd"]:
            lines.append(f"!!!   {r['method']}: {r['outcome']} {r.get('message', '')}")
        if alive.get("virtkitd"):
            lines.append(f"!!!   virtkitd not serving at the end: {alive['virtkitd']}")
        lines.append("")
    if conn["libvirtd"]:
        lines.append("libvirtd dropped the connection or did not answer on: "
                     + ", ".join(r["method"] for r in conn["libvirtd"]))
        lines.append("")
    width = max((len(r["method"]) for r in report["rows"]), default=10)
    lines.append(f"{'method':<{width}}  {'libvirtd':<32}  virtkitd")
    for r in report["rows"]:
        a, b = label(r["libvirtd"]), label(r["virtkitd"])
        mark = " " if a != OK or b == OK else "*"
        lines.append(f"{r['method']:<{width}}  {a:<32}  {b}{'' if mark == ' ' else '  *'}")
    t = report["totals"]
    lines += ["", f"{t['methods']} methods; {t['not_run']} not run (see the JSON for why).",
              f"{t['libvirtd_ok']} methods succeed on libvirtd, {t['both_ok']} of them succeed"
              f" on virtkitd ({t['virtkitd_ok']} succeed on virtkitd in all,"
              f" {t['virtkitd_only_ok']} of them only there).",
              "", "Succeed on libvirtd but not on virtkitd, by virtkitd's outcome:"]
    for code, methods in report["missing_on_virtkitd"].items():
        lines.append(f"  {code} ({len(methods)}): {', '.join(methods)}")
    lines.append("")
    for d in DAEMONS:
        for ev in report.get("events", {}).get(d, []):
            lines.append(f"{d}: {ev}")
    lines.append("daemons serving at the end: " + ", ".join(
        f"{d}={'yes' if alive.get(d) is None else 'NO (' + str(alive[d]) + ')'}"
        for d in DAEMONS))
    return "\n".join(lines)


# --- main --------------------------------------------------------------------------------


def survey(only: str | None) -> dict[str, Any]:
    guest = qemu_e2e.tg.ensure_guest()
    work = Path(tempfile.mkdtemp(prefix="vks-", dir="/tmp"))
    work.chmod(0o755)
    print(f"api survey in {work}", file=sys.stderr, flush=True)
    started = time.time()
    raw: dict[str, dict[str, Any]] = {}
    alive: dict[str, str | None] = {}
    meta: dict[str, Any] = {"only": only, "work": str(work)}
    vk: Daemon | None = None
    lv: qemu_peers.LibvirtdQemu | None = None
    try:
        with netns() as ns:
            try:
                lv, modules = start_libvirtd(work, ns)
                vk = start_virtkitd(work / "vk")
                uris = {"libvirtd": lv.uri, "virtkitd": vk.uri("unix", "/system", "qemu")}
                meta.update(uris=uris, libvirtd_modules=modules)
                for daemon in DAEMONS:
                    spec = build_spec(guest, work / f"{daemon[0]}f", uris[daemon], only)
                    raw[daemon] = run_worker(spec, work, daemon)
                    kill_stragglers(work / f"{daemon[0]}f")
                alive = {d: serving(uris[d]) for d in DAEMONS}
            finally:
                if vk is not None:
                    vk.stop()
                if lv is not None:
                    lv.stop()
                left = kill_stragglers(work)
                meta["stragglers_killed"] = left
    finally:
        shutil.rmtree(work, ignore_errors=True)
    meta["elapsed_s"] = round(time.time() - started, 1)
    meta["libvirt_python_version"] = raw["libvirtd"]["libvirt_version"]
    report = compare(raw)
    report["events"] = {d: raw[d]["events"] for d in DAEMONS}
    return {"meta": meta, **report, "daemons_alive_at_end": {d: alive.get(d) is None
                                                             for d in DAEMONS},
            "daemon_problems": alive,
            "cleanup_problems": {d: raw[d]["cleanup_problems"] for d in DAEMONS}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", type=Path, help="write the raw results here")
    ap.add_argument("--only", help="run only the methods ('virDomain.info') this regex finds")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("api_survey.py runs libvirtd's QEMU driver as root: run it as root",
              file=sys.stderr)
        return 2
    data = survey(args.only)
    print(render(data, data["daemon_problems"]))
    if args.json is not None:
        args.json.write_text(json.dumps(data, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
