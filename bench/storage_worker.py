"""libvirt-python client side of the storage benchmarks, run by Debian's /usr/bin/python3.

bench/storage_bench.py starts the two daemons and runs this script once with a JSON
plan on argv[1]; it prints one JSON object with the per-round figures. The same
client (libvirt-python) talks to both daemons, so the ratios compare the daemons and
their wire handling. Every figure alternates the daemons round by round (A B, B A, ...).

Figures:
    upload    1 GiB from a file (on tmpfs) into a raw volume: vol.upload + sendAll
    download  the same volume back: vol.download + recvAll into a counter (no disk)
    sparse    a volume of the same size holding 64 extents of 256 KiB (16 MiB of data)
              and holes: vol.download with VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM and
              sparseRecvAll (holes counted, not written)
    refresh   pool.refresh() of a dir pool holding plan["refresh_count"] files
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import libvirt


def _quiet(_ctx: object, _err: object) -> None:
    """Swallow libvirt's default print-to-stderr error handler."""


def _upload(conn: Any, vol: Any, source: str, size: int) -> float:
    with open(source, "rb") as f:
        t0 = time.perf_counter()
        st = conn.newStream(0)
        vol.upload(st, 0, size, 0)
        st.sendAll(lambda _st, n, fh: fh.read(n), f)
        st.finish()
        return time.perf_counter() - t0


def _download(conn: Any, vol: Any, size: int) -> float:
    got = [0]

    def sink(_st: Any, buf: bytes, _opaque: Any) -> int:
        got[0] += len(buf)
        return len(buf)

    t0 = time.perf_counter()
    st = conn.newStream(0)
    vol.download(st, 0, size, 0)
    st.recvAll(sink, None)
    st.finish()
    elapsed = time.perf_counter() - t0
    if got[0] != size:
        raise RuntimeError(f"downloaded {got[0]} bytes, expected {size}")
    return elapsed


SPARSE_EXTENTS, SPARSE_EXTENT = 64, 256 * 1024


def _sparse_file(path: str, size: int) -> None:
    """``size`` bytes, data in SPARSE_EXTENTS extents spread evenly, holes between."""
    step = size // SPARSE_EXTENTS
    block = bytes(range(256)) * (SPARSE_EXTENT // 256)
    with open(path, "wb") as f:
        f.truncate(size)
        for i in range(SPARSE_EXTENTS):
            f.seek(i * step)
            f.write(block)


def _sparse_download(conn: Any, vol: Any, size: int) -> float:
    got = [0, 0]

    def sink(_st: Any, buf: bytes, _opaque: Any) -> int:
        got[0] += len(buf)
        return len(buf)

    def hole(_st: Any, length: int, _opaque: Any) -> int:
        got[1] += length
        return 0

    t0 = time.perf_counter()
    st = conn.newStream(0)
    vol.download(st, 0, size, libvirt.VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM)
    st.sparseRecvAll(sink, hole, None)
    st.finish()
    elapsed = time.perf_counter() - t0
    if got[0] + got[1] != size or got[0] < SPARSE_EXTENTS * SPARSE_EXTENT:
        raise RuntimeError(f"sparse download: {got[0]} data + {got[1]} hole bytes, "
                           f"expected {size} with {SPARSE_EXTENTS * SPARSE_EXTENT} of data")
    return elapsed


def _pool(conn: Any, name: str, path: str) -> Any:
    return conn.storagePoolCreateXML(
        f"<pool type='dir'><name>{name}</name><target><path>{path}</path></target></pool>",
        libvirt.VIR_STORAGE_POOL_CREATE_WITH_BUILD)


def main() -> int:
    libvirt.registerErrorHandler(_quiet, None)
    plan = json.loads(sys.argv[1])
    size = plan["size"]
    conns = {name: libvirt.open(uri) for name, uri in plan["uris"].items()}
    names = list(conns)
    out: dict[str, Any] = {"upload": {n: [] for n in names}, "download": {n: [] for n in names},
                           "sparse": {n: [] for n in names}, "refresh": {n: [] for n in names}}
    xfer = {}
    for name, conn in conns.items():
        pool = _pool(conn, "benchxfer", plan["dirs"][name]["xfer"])
        vol = pool.createXML(f"<volume><name>big.raw</name><capacity>{size}</capacity>"
                             "<allocation>0</allocation><target><format type='raw'/>"
                             "</target></volume>", 0)
        _sparse_file(f"{plan['dirs'][name]['xfer']}/sparse.raw", size)
        pool.refresh(0)
        xfer[name] = (pool, vol)
    for rnd in range(plan["warmup"] + plan["rounds"]):
        order = names if rnd % 2 == 0 else names[::-1]
        for name in order:
            _pool_obj, vol = xfer[name]
            up = _upload(conns[name], vol, plan["source"], size)
            down = _download(conns[name], vol, size)
            sparse = _sparse_download(conns[name], _pool_obj.storageVolLookupByName("sparse.raw"),
                                      size)
            if rnd >= plan["warmup"]:
                out["upload"][name].append(up)
                out["download"][name].append(down)
                out["sparse"][name].append(sparse)
    for name in names:
        pool, vol = xfer[name]
        vol.delete(0)
        pool.storageVolLookupByName("sparse.raw").delete(0)
        pool.destroy()

    refresh_pools = {name: _pool(conn, "benchrefresh", plan["dirs"][name]["refresh"])
                     for name, conn in conns.items()}
    for rnd in range(1 + plan["refresh_rounds"]):
        order = names if rnd % 2 == 0 else names[::-1]
        for name in order:
            t0 = time.perf_counter()
            refresh_pools[name].refresh(0)
            elapsed = time.perf_counter() - t0
            if rnd >= 1:
                out["refresh"][name].append(elapsed)
    out["refresh_volumes"] = {name: pool.numOfVolumes() for name, pool in refresh_pools.items()}
    for pool in refresh_pools.values():
        pool.destroy()
    for conn in conns.values():
        conn.close()
    out["libvirt_version"] = libvirt.getVersion()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
