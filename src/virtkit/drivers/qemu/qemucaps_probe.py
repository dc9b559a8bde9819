"""What a QEMU binary can do, asked over QMP, cached per binary on disk.

``probe(binary, cache_dir)`` starts ``BINARY -machine none -nodefaults -nographic -S
-qmp unix:...`` once per accelerator (TCG always, KVM when ``/dev/kvm`` opens) and
asks it: ``query-version``, ``query-machines``, ``qom-list-types``,
``query-qmp-schema`` (commands and display types), ``query-tpm-models/types``,
``query-kvm``, ``query-sev-capabilities``, ``query-sgx-capabilities``, and per
accelerator ``query-cpu-definitions`` and ``query-cpu-model-expansion`` of
``host`` (KVM) or ``max`` (TCG). As libvirt's capabilities cache, the answer is
kept as JSON in ``CACHE_DIR/capabilities/`` and reused while the binary (path,
size, mtime) and QEMU's modules directory (mtime) are unchanged.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from typing import Any

from virtkit.drivers.qemu.monitor import Monitor
from virtkit.drivers.qemu.qemucaps import kvm_available
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error

__all__ = ["CACHE_FORMAT", "MODULE_DIRS", "probe", "stamp"]

# Bump when the probed data changes shape: older cache files are then re-probed.
CACHE_FORMAT = 1
MODULE_DIRS = ("/usr/lib/x86_64-linux-gnu/qemu", "/usr/lib64/qemu", "/usr/lib/qemu")
_START_TIMEOUT = 30.0

Probe = dict[str, Any]


def stamp(binary: str) -> dict[str, Any]:
    """What invalidates a cached probe: the binary's identity and its modules' mtime.

    Raises VirtError SYSTEM_ERROR "Cannot check QEMU binary ..." as libvirt does.
    """
    try:
        st = os.stat(binary)
    except OSError as exc:
        raise make_error(ErrorCode.SYSTEM_ERROR, ErrorDomain.QEMU,
                         f"Cannot check QEMU binary {binary}: {exc.strerror}") from None
    modules = 0
    for d in MODULE_DIRS:
        with contextlib.suppress(OSError):
            modules = os.stat(d).st_mtime_ns
            break
    return {"format": CACHE_FORMAT, "path": binary, "size": st.st_size,
            "mtime": st.st_mtime_ns, "modules": modules}


def probe(binary: str, cache_dir: str) -> Probe:
    """The probed capabilities of ``binary``, from the cache when still valid."""
    key = stamp(binary)
    name = hashlib.sha256(binary.encode()).hexdigest()[:32] + ".json"
    path = os.path.join(cache_dir, "capabilities", name)
    with contextlib.suppress(OSError, ValueError):
        with open(path, encoding="utf-8") as f:
            cached = json.load(f)
        if isinstance(cached, dict) and cached.get("stamp") == key:
            data: Probe = cached["caps"]
            return data
    caps = _probe_all(binary)
    _write_atomic(path, {"stamp": key, "caps": caps})
    return caps


def _write_atomic(path: str, doc: dict[str, Any]) -> None:
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(doc, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _probe_all(binary: str) -> Probe:
    caps = _run_probe(binary, "tcg", common=True)
    caps["accel"] = {"tcg": caps.pop("cpu")}
    if caps["kvm"]["present"] and kvm_available():
        kvm = _run_probe(binary, "kvm", common=False)
        caps["kvm"]["enabled"] = kvm["kvm"]["enabled"]
        if kvm["kvm"]["enabled"]:
            caps["accel"]["kvm"] = kvm["cpu"]
    else:
        caps["kvm"]["enabled"] = False
    return caps


def _run_probe(binary: str, accel: str, *, common: bool) -> Probe:
    with probe_monitor(binary, accel) as mon:
        return _ask(mon, accel, common=common)


@contextlib.contextmanager
def probe_monitor(binary: str, accel: str = "tcg",
                  timeout: float | None = None) -> Iterator[Monitor]:
    """The QMP monitor of a ``-machine none -S`` QEMU of ``binary`` under ``accel``, as
    libvirt's capabilities probe runs it; QEMU is killed when the block ends. Errors are
    libvirt's: SYSTEM_ERROR "Cannot check QEMU binary", INTERNAL_ERROR "Failed to probe
    capabilities for BINARY: <QEMU's stderr>"."""
    with tempfile.TemporaryDirectory(prefix="virtkit-qmp-") as tmp:
        sock = os.path.join(tmp, "qmp.sock")
        argv = [binary, "-machine", "none", "-accel", accel, "-nodefaults", "-nographic",
                "-S", "-qmp", f"unix:{sock},server=on,wait=off"]
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, start_new_session=True)
        except OSError as exc:
            raise make_error(ErrorCode.SYSTEM_ERROR, ErrorDomain.QEMU,
                             f"Cannot check QEMU binary {binary}: {exc.strerror}") from None
        try:
            try:
                mon = Monitor.connect(sock, timeout=_START_TIMEOUT if timeout is None
                                      else timeout, abort_if=lambda: proc.poll() is not None)
            except VirtError:
                err = b""
                if proc.poll() is not None and proc.stderr is not None:
                    err = proc.stderr.read()
                raise make_error(ErrorCode.INTERNAL_ERROR, ErrorDomain.QEMU,
                                 f"Failed to probe capabilities for {binary}: "
                                 f"{err.decode(errors='replace').strip()}") from None
            try:
                yield mon
            finally:
                mon.close()
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            if proc.stderr is not None:
                proc.stderr.close()


def _try(mon: Monitor, cmd: str, args: dict[str, Any] | None = None) -> Any:
    """The reply of ``cmd``, or None when QEMU refuses it (absent, not enabled)."""
    try:
        return mon.execute(cmd, args)
    except VirtError:
        return None


def _ask(mon: Monitor, accel: str, *, common: bool) -> Probe:
    out: Probe = {}
    kvm = _try(mon, "query-kvm") or {}
    out["kvm"] = {"present": bool(kvm.get("present")), "enabled": bool(kvm.get("enabled"))}
    defs = _try(mon, "query-cpu-definitions") or []
    cpu_model = "host" if accel == "kvm" else "max"
    expansion = _try(mon, "query-cpu-model-expansion",
                     {"type": "full", "model": {"name": cpu_model}}) or {}
    props = expansion.get("model", {}).get("props", {})
    out["cpu"] = {
        "models": [[d["name"], not d.get("unavailable-features")] for d in defs],
        "expansion": {"model": cpu_model,
                      "features": sorted(k for k, v in props.items() if v is True)},
    }
    if not common:
        return out
    version = mon.execute("query-version")["qemu"]
    out["version"] = [version["major"], version["minor"], version["micro"]]
    out["machines"] = [
        {"name": m["name"], "alias": m.get("alias"), "cpu_max": m.get("cpu-max", 1),
         "default": bool(m.get("is-default"))}
        for m in mon.execute("query-machines")
    ]
    out["types"] = sorted(t["name"] for t in mon.execute("qom-list-types"))
    schema = mon.execute("query-qmp-schema")
    out["commands"] = sorted(e["name"] for e in schema if e.get("meta-type") == "command")
    out["display_types"] = _display_types(schema)
    out["tpm_models"] = _try(mon, "query-tpm-models") or []
    out["tpm_types"] = _try(mon, "query-tpm-types") or []
    out["sev"] = _try(mon, "query-sev-capabilities") is not None
    out["sgx"] = _try(mon, "query-sgx-capabilities") is not None
    return out


def _display_types(schema: list[dict[str, Any]]) -> list[str]:
    """The values of QAPI's DisplayType enum (type names are masked in the schema)."""
    for entry in schema:
        if entry.get("meta-type") != "enum":
            continue
        values = entry.get("values") or [m.get("name") for m in entry.get("members", [])]
        if "egl-headless" in values and "none" in values and "gtk" in values:
            return [str(v) for v in values]
    for entry in schema:
        if entry.get("meta-type") == "enum":
            values = entry.get("values") or []
            if "none" in values and "vnc" in values and "curses" in values:
                return [str(v) for v in values]
    return []
