"""Storage driver behaviour against libvirtd 9.0's: a dir pool and its volumes."""

from __future__ import annotations

import pytest
from oracle_harness import PEERS, Case, Step, ok

pytestmark = [pytest.mark.slow, pytest.mark.interop]

MiB = 1024 * 1024
POOL_XML = """<pool type='dir'>
  <name>opool</name>
  <target>
    <path>@CASE@/pool</path>
  </target>
</pool>
"""


def vol_xml(name: str, fmt: str, capacity: int, allocation: int | None = None) -> str:
    alloc = "" if allocation is None else f"<allocation unit='bytes'>{allocation}</allocation>"
    return (f"<volume><name>{name}</name><capacity unit='bytes'>{capacity}</capacity>{alloc}"
            f"<target><format type='{fmt}'/></target></volume>")


def pool(call: str, *args: object, id: str | None = None, norm: tuple[str, ...] = ()) -> Step:
    step: Step = {"on": "pool:opool", "call": call, "args": list(args)}
    if id:
        step["id"] = id
    if norm:
        step["norm"] = list(norm)
    return step


def vol(name: str, call: str, *args: object, id: str | None = None) -> Step:
    step: Step = {"on": f"vol:opool/{name}", "call": call, "args": list(args)}
    if id:
        step["id"] = id
    return step


POOL_NORM = ("generated_uuids", "fs_sizes")
VOL_NORM = ("timestamps",)


def test_dir_pool_build_refresh_and_errors(oracle: Case) -> None:
    """define/build/start/refresh a dir pool, its XML and info at each step; pool errors."""
    oracle.compare([
        {"call": "storagePoolDefineXML", "args": [POOL_XML, 0]},
        pool("XMLDesc", 0, id="xml-defined", norm=POOL_NORM),
        pool("build", 0, id="build"),
        pool("create", 0, id="start"),
        pool("XMLDesc", 0, id="xml-started", norm=POOL_NORM),
        pool("refresh", 0, id="refresh"),
        pool("XMLDesc", 0, id="xml-refreshed", norm=POOL_NORM),
        pool("isActive", id="active"),
        pool("numOfVolumes", id="volumes-empty"),
        pool("create", 0, id="error-start-twice"),
        {"call": "storagePoolDefineXML", "args": [POOL_XML.replace("opool", "opool2"), 0],
         "id": "error-duplicate-target"},
        {"call": "storagePoolDefineXML",
         "args": [POOL_XML.replace("<name>", "<uuid>0f7a3e5c-54f9-4e1b-8d1e-5a0f14a0c001</uuid>"
                                   "<name>"), 0],
         "id": "error-duplicate-name", "norm": ["generated_uuids"]},
        {"call": "storagePoolLookupByName", "args": ["nosuchpool"], "id": "error-lookup"},
        pool("autostart", id="autostart"),
        pool("destroy", id="destroy"),
        pool("createXML", vol_xml("v.raw", "raw", MiB), 0, id="error-vol-on-inactive"),
        pool("XMLDesc", 0, id="xml-inactive", norm=POOL_NORM),
        pool("delete", 0, id="delete"),
        pool("undefine", id="undefine"),
    ])
    oracle.verify()


def test_dir_volumes_create_resize_clone_delete(oracle: Case) -> None:
    """raw and qcow2 volumes: XML after create, resize and clone; the errors of each."""
    qcow2_clone = vol_xml("clone.qcow2", "qcow2", 64 * MiB)
    steps: list[Step] = [
        {"call": "storagePoolDefineXML", "args": [POOL_XML, 0]},
        pool("build", 0),
        pool("create", 0),
        pool("createXML", vol_xml("sparse.raw", "raw", 10 * MiB, 0), 0, id="create-sparse-raw"),
        pool("createXML", vol_xml("full.raw", "raw", 4 * MiB, 4 * MiB), 0, id="create-full-raw"),
        pool("createXML", vol_xml("disk.qcow2", "qcow2", 64 * MiB), 0, id="create-qcow2"),
        vol("sparse.raw", "XMLDesc", 0, id="xml-sparse-raw"),
        vol("full.raw", "XMLDesc", 0, id="xml-full-raw"),
        vol("disk.qcow2", "XMLDesc", 0, id="xml-qcow2"),
        vol("sparse.raw", "info", id="info-sparse-raw"),
        vol("full.raw", "info", id="info-full-raw"),
        vol("disk.qcow2", "info", id="info-qcow2"),
        vol("disk.qcow2", "path", id="path-qcow2"),
        vol("disk.qcow2", "key", id="key-qcow2"),
        pool("createXML", vol_xml("disk.qcow2", "raw", MiB), 0, id="error-duplicate-volume"),
        vol("sparse.raw", "resize", 20 * MiB, 0, id="resize-grow"),
        vol("sparse.raw", "XMLDesc", 0, id="xml-after-grow"),
        vol("sparse.raw", "resize", 5 * MiB, 0, id="error-shrink-without-flag"),
        vol("sparse.raw", "resize", 8 * MiB, 4, id="resize-shrink"),  # SHRINK
        vol("sparse.raw", "info", id="info-after-shrink"),
        vol("disk.qcow2", "resize", 128 * MiB, 0, id="resize-qcow2"),
        vol("disk.qcow2", "XMLDesc", 0, id="xml-qcow2-after-resize"),
        vol("full.raw", "resize", MiB, 1, id="resize-delta"),  # DELTA: grows by 1 MiB
        vol("full.raw", "info", id="info-after-delta"),
        pool("createXMLFrom", qcow2_clone, {"vol": "opool/disk.qcow2"}, 0, id="clone"),
        vol("clone.qcow2", "XMLDesc", 0, id="xml-clone"),
        pool("numOfVolumes", id="volumes"),
        vol("clone.qcow2", "delete", 0, id="delete"),
        vol("clone.qcow2", "delete", 0, id="error-delete-missing"),
        pool("storageVolLookupByName", "clone.qcow2", id="error-lookup-missing"),
        pool("createXML", vol_xml("a/b", "raw", MiB), 0, id="error-name-with-slash"),
        pool("createXML", vol_xml("..", "raw", MiB), 0, id="error-name-dotdot"),
        pool("createXML", vol_xml("big.raw", "raw", 1 << 60, 1 << 60), 0,
             id="error-allocation-beyond-free-space"),
    ]
    for step in steps:
        if step["call"] == "XMLDesc" and step["on"].startswith("vol:"):
            step["norm"] = list(VOL_NORM)
    oracle.compare(steps)
    # a file made behind the daemons' back appears on refresh, probed as libvirt probes it
    for p in PEERS:
        (oracle.dirs[p] / "pool" / "outside.img").write_bytes(b"\0" * 3 * MiB)
    oracle.compare([
        pool("refresh", 0, id="refresh-after-outside-file"),
        vol("outside.img", "XMLDesc", 0, id="xml-outside-file"),
        {**pool("listVolumes", id="list-after-refresh"), "sort": True},
    ], VOL_NORM)
    results = oracle.run([pool("destroy"), pool("undefine")])
    for p in PEERS:
        for r in results[p]:
            ok(r)
    oracle.verify()
