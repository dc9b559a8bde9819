"""``<compat>``, ``<clusterSize>`` and ``<features>`` of qcow2 volumes (libvirt 9.0's rules).

The header probe reads them as libvirt's storage_file_probe.c does (version 3: compat 1.1
and its lazy_refcounts / extended_l2 bits; version 2: the cluster size only); a new
volume shows what its definition said until a pool refresh re-reads the header.
(test_vol_target_facts_oracle.py compares the same with libvirtd itself.)
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from storage_helpers import dir_pool_xml

from virtkit.drivers.storage import volumes
from virtkit.drivers.storage.backend import TargetFacts
from virtkit.drivers.storage.driver import HostStorageDriver

MiB = 1024 * 1024


def _img(path: Path, *opts: str) -> None:
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", *opts, str(path), "1M"],
                   check=True, capture_output=True, timeout=60)


def test_header_probe(tmp_path: Path) -> None:
    cases = {
        "v2": (("-o", "compat=0.10"), TargetFacts(None, 65536, None)),
        "v3": (("-o", "compat=1.1"), TargetFacts("1.1", 65536, ())),
        "lazy": (("-o", "lazy_refcounts=on,cluster_size=4096"),
                 TargetFacts("1.1", 4096, ("lazy_refcounts",))),
        "l2": (("-o", "extended_l2=on,cluster_size=131072"),
               TargetFacts("1.1", 131072, ("extended_l2",))),
        "both": (("-o", "lazy_refcounts=on,extended_l2=on"),
                 TargetFacts("1.1", 65536, ("lazy_refcounts", "extended_l2"))),
    }
    for name, (opts, want) in cases.items():
        _img(tmp_path / name, *opts)
        vol = volumes.probe(name, str(tmp_path / name))
        assert vol is not None and vol.header == want, name
    (tmp_path / "raw").write_bytes(bytes(4096))
    raw = volumes.probe("raw", str(tmp_path / "raw"))
    assert raw is not None and raw.header is None


def _target(xml: str) -> str:
    return xml.split("</timestamps>\n", 1)[1].split("  </target>", 1)[0]


def test_created_then_refreshed(drv: HostStorageDriver, tmp_path: Path) -> None:
    p = drv.storage_pool_define_xml(dir_pool_xml("p", tmp_path / "p"))
    drv.storage_pool_build(p)
    drv.storage_pool_create(p)
    plain = drv.storage_vol_create_xml(p, "<volume><name>a.qcow2</name><capacity>1048576"
                                          "</capacity><target><format type='qcow2'/></target>"
                                          "</volume>")
    lazy = drv.storage_vol_create_xml(p, "<volume><name>b.qcow2</name><capacity>1048576"
                                         "</capacity><target><format type='qcow2'/><features>"
                                         "<lazy_refcounts/></features></target></volume>")
    old = drv.storage_vol_create_xml(p, "<volume><name>c.qcow2</name><capacity>1048576"
                                        "</capacity><target><format type='qcow2'/>"
                                        "<compat>0.10</compat></target></volume>")
    # as created: the definition's elements (none, or compat 1.1 implied by <features>)
    assert _target(drv.storage_vol_get_xml_desc(plain)) == ""
    assert _target(drv.storage_vol_get_xml_desc(lazy)) == (
        "    <compat>1.1</compat>\n    <features>\n      <lazy_refcounts/>\n"
        "    </features>\n")
    assert _target(drv.storage_vol_get_xml_desc(old)) == "    <compat>0.10</compat>\n"
    drv.storage_vol_resize(lazy, 2 * MiB)  # a volume refresh keeps them
    assert "<lazy_refcounts/>" in drv.storage_vol_get_xml_desc(lazy)
    drv.storage_pool_refresh(p)  # the header's now
    assert _target(drv.storage_vol_get_xml_desc(plain)) == (
        "    <clusterSize unit='B'>65536</clusterSize>\n")
    assert _target(drv.storage_vol_get_xml_desc(lazy)) == (
        "    <compat>1.1</compat>\n    <clusterSize unit='B'>65536</clusterSize>\n"
        "    <features>\n      <lazy_refcounts/>\n    </features>\n")
    assert _target(drv.storage_vol_get_xml_desc(old)) == (
        "    <clusterSize unit='B'>65536</clusterSize>\n")
