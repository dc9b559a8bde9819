"""virtkit against Debian's virsh 9.0 for snapshot-list (--tree, --from, --current, ...),
snapshot-create-as --memspec/--diskspec, undefine's storage and metadata options, vol-info
--physical/--bytes and dominfo; plus undefine --remove-all-storage on a real dir pool
(qemu:///embed, virtkit only) and dominfo's "Messages:" lines.

The compared runs reuse tests/cli/test_virsh_compat.py's helpers (same masks, same way of
running both tools, stdout and stderr taken together, exit status compared).
"""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_virsh_compat import VIRSH, _mask, _run, _virtkit_argv

pytestmark = pytest.mark.interop

URI = "test:///default"

# A snapshot tree on the test domain: s1 -> (s2 -> s3, s4 -> (s5, a6)); a6 is current.
SNAP_TREE = (
    "snapshot-create-as test s1; snapshot-create-as test s2; snapshot-create-as test s3; "
    "snapshot-revert test s1; snapshot-create-as test s4; snapshot-create-as test s5; "
    "snapshot-revert test s4; snapshot-create-as test a6"
)

# A domain whose disks are: two volumes of the test driver's default pool by path, a file no
# pool manages, a pool/volume disk, a volume of a pool that does not exist, an empty cdrom.
STORAGE_DOMAIN = """<domain type='test'>
  <name>st</name>
  <memory unit='KiB'>1048576</memory>
  <vcpu>1</vcpu>
  <os><type arch='i686'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'><source file='/default-pool/a.img'/><target dev='vda'/></disk>
    <disk type='file' device='disk'><source file='/default-pool/b.img'/><target dev='vdb'/></disk>
    <disk type='file' device='disk'><source file='/elsewhere/c.img'/><target dev='vdc'/></disk>
    <disk type='volume' device='disk'>
      <source pool='default-pool' volume='d.img'/><target dev='vdd'/>
    </disk>
    <disk type='volume' device='disk'>
      <source pool='nopool' volume='e.img'/><target dev='vde'/>
    </disk>
    <disk type='file' device='cdrom'><target dev='hdc'/></disk>
  </devices>
</domain>
"""
STORAGE_SETUP = (
    "vol-create-as default-pool a.img 1M; vol-create-as default-pool b.img 1M; "
    "vol-create-as default-pool d.img 1M; define {st}"
)
AFTER = "vol-list default-pool; list --all --name"


def cases() -> list[str]:
    storage = STORAGE_SETUP
    return [
        # snapshot-list: tree drawing, --from/--current/--descendants, parent column, filters
        f"{SNAP_TREE}; snapshot-list test --tree; snapshot-list test --parent; "
        "snapshot-list test --tree --from s1; snapshot-list test --tree --current",
        f"{SNAP_TREE}; snapshot-list test --from s1; snapshot-list test --from s1 --descendants; "
        "snapshot-list test --current --descendants --name; snapshot-list test --from s4 --name",
        f"{SNAP_TREE}; snapshot-list test --topological --name; "
        "snapshot-list test --from s1 --descendants --topological --name; "
        "snapshot-list test --tree --topological; snapshot-list test --roots --topological",
        f"{SNAP_TREE}; snapshot-list test --leaves --name; "
        "snapshot-list test --no-leaves --parent; "
        "snapshot-list test --metadata --name; snapshot-list test --no-metadata; "
        "snapshot-list test --active --name; snapshot-list test --inactive; "
        "snapshot-list test --internal --name; snapshot-list test --external; "
        "snapshot-list test --disk-only; snapshot-list test --roots --name",
        f"{SNAP_TREE}; snapshot-delete test s4; snapshot-list test --tree; "
        "snapshot-list test --tree --topological; snapshot-list test --from s1 --parent",
        # snapshot-list errors, in virsh's order of checks
        "snapshot-list test --tree; snapshot-list test --current; snapshot-list test --tree --name",
        "snapshot-list test --roots --parent; snapshot-list test --tree --leaves; "
        "snapshot-list test --from x --current; snapshot-list test --roots --from x",
        "snapshot-list test --descendants; snapshot-list test --from nope; "
        "snapshot-list test --tree --roots; snapshot-list test --tree --parent",
        "snapshot-list test --roots --current; snapshot-list test --tree --external; "
        "snapshot-list test --from ''; snapshot-list test --tree --no-leaves",
        # snapshot-create-as --memspec/--diskspec: the XML virsh builds ...
        "snapshot-create-as test --print-xml --memspec /m.img,snapshot=external "
        "--diskspec vda,snapshot=external,driver=qcow2,file=/a,,b.img "
        "--diskspec 'hdb,stype=block,file=/dev/x' --diskspec vdc --name 'a<b' "
        "--description 'x&y'; "
        "snapshot-create-as test --print-xml --memspec file=/m --diskspec 'vdd,stype=file'",
        "snapshot-create-as test --memspec bogus; "
        "snapshot-create-as test --diskspec vda,stype=net; "
        "snapshot-create-as test --diskspec vda,foo=1; "
        "snapshot-create-as test --memspec snapshot=no,snapshot=x; "
        "snapshot-create-as test --memspec ''",
        # ... and what the test driver makes of it
        "snapshot-create-as test s1 --memspec /tmp/m.img,snapshot=external; "
        "snapshot-create-as test s2 --memspec snapshot=internal; "
        "snapshot-create-as test s3 --diskspec vda,snapshot=external,file=/tmp/x.qcow2; "
        "snapshot-create-as test s4 --diskspec hda,snapshot=no; "
        "snapshot-create-as test s5 --disk-only --diskspec vda,snapshot=external,file=/tmp/y; "
        "snapshot-create-as test s6 --memspec snapshot=no; "
        "snapshot-create-as test s7 --memspec snapshot=bogus; "
        "snapshot-create-as test s8 --diskspec vda,driver=qcow2; snapshot-list test --parent",
        "snapshot-create-as test s9 --diskspec vda,snapshot=internal --diskspec vda; "
        "snapshot-create-as test s10 --diskspec vda,snapshot=manual; "
        "snapshot-create-as test s11 --memspec /x,snapshot=no; "
        "snapshot-create-as test s12 --memspec snapshot=external; "
        "snapshot-create-as test s13 --diskspec vda,stype=block,file=/dev/sda; "
        "snapshot-create-as test s14 --diskspec /guest/diskimage1; "
        "snapshot-create-as test s14 --diskspec vdz; snapshot-current test; "
        "destroy test; snapshot-create-as test s15 --memspec snapshot=internal; "
        "snapshot-create-as test s16 --diskspec vda,snapshot=no; snapshot-current test",
        # undefine: storage removal
        f"{storage}; undefine st --remove-all-storage; {AFTER}",
        f"{storage}; undefine st --storage vda,/default-pool/b.img,vdz,/x; {AFTER}",
        f"{storage}; undefine st --storage vda --remove-all-storage; {AFTER}",
        f"{storage}; start st; undefine st --storage vda; {AFTER}",
        f"{storage}; undefine st --storage vdb --wipe-storage; {AFTER}",
        f"{storage}; undefine st --remove-all-storage --delete-storage-volume-snapshots; {AFTER}",
        f"{storage}; undefine st --wipe-storage; undefine st --storage ''; {AFTER}",
        f"{storage}; undefine st --storage vdd,vde,vdc,hdc; {AFTER}",
        f"{storage}; undefine st --storage 'a,,b'; undefine st --storage vda,vda; {AFTER}",
        f"{storage}; undefine st --remove-all-storage --keep-tpm --wipe-storage; {AFTER}",
        # undefine: managed save, snapshot metadata, nvram/tpm/checkpoints flags
        "define {st}; start st; managedsave st; undefine st; "
        "undefine st --keep-nvram; undefine st --nvram; undefine st --managed-save; list --all",
        "define {st}; snapshot-create-as st x; undefine st; undefine st --keep-tpm; "
        "undefine st --snapshots-metadata; list --all",
        "define {st}; start st; managedsave st; snapshot-create-as st s; undefine st; "
        "undefine st --managed-save --snapshots-metadata --keep-nvram; list --all",
        "define {st}; undefine st --nvram --keep-nvram; undefine st --tpm --keep-tpm; "
        "undefine st --nvram; undefine st --tpm",
        "define {st}; undefine st --checkpoints-metadata; define {st}; undefine st --keep-nvram",
        "define {st}; start st; undefine st --tpm; list --all; undefine st --delete-snapshots",
        "undefine nope --remove-all-storage",
        # vol-info --physical / --bytes
        "vol-create-as default-pool a.img 10M --allocation 1M; "
        "vol-info --physical a.img --pool default-pool; "
        "vol-info --bytes a.img --pool default-pool; "
        "vol-info a.img --pool default-pool; vol-info --bytes --physical /default-pool/a.img",
        # dominfo (with libvirt 9.0's Messages: lines when there are any)
        "dominfo test; define {st}; dominfo st",
    ]


def _case_ids() -> list[str]:
    return [f"{i:02d}-{c.split(';')[0][:28]}" for i, c in enumerate(cases())]


@pytest.mark.parametrize("index", range(len(cases())), ids=_case_ids())
def test_same_as_virsh(index: int, tmp_path: Path) -> None:
    st = tmp_path / "st.xml"
    st.write_text(STORAGE_DOMAIN)
    batch = cases()[index].replace("{st}", str(st))
    assert VIRSH is not None, "Debian's virsh (libvirt-clients) must be installed"
    want, want_rc = _run([VIRSH, "-c", URI, batch], {}, tmp_path, tries=3)
    got, got_rc = _run([*_virtkit_argv(), "-c", URI, batch], {}, tmp_path)
    assert _mask(got) == _mask(want), f"batch: {batch}"
    assert got_rc == want_rc, f"batch: {batch}"


def test_tree_drawing_is_virsh_layout() -> None:
    """The exact characters of vshTreePrint (independent of virsh being installed)."""
    from virtkit.cli.snapshot import tree_lines

    names = ["a", "b", "c", "d", "e"]
    parents: list[str | None] = [None, "a", "b", "a", "d"]
    assert tree_lines(names, parents, 0) == [
        "a",
        "  |",
        "  +- b",
        "  |   |",
        "  |   +- c",
        "  |     ",
        "  +- d",
        "      |",
        "      +- e",
        "        ",
    ]
    assert tree_lines(["x"], [None], 0) == ["x", ""]


def test_split_commas_keeps_doubled_commas() -> None:
    from virtkit.cli.snapshot import split_commas

    assert split_commas("vda,file=/a,,b,snapshot=no") == ["vda", "file=/a,b", "snapshot=no"]
    assert split_commas("a,") == ["a", ""]
    assert split_commas("a,,") == ["a,"]


def _run_cli(uri: str, batch: str) -> tuple[str, str, int]:
    """One in-process CLI run: (stdout, stderr, exit status)."""
    from virtkit.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["-c", uri, batch])
    return out.getvalue(), err.getvalue(), rc


def test_undefine_remove_all_storage_on_a_dir_pool(tmp_path: Path) -> None:
    """qemu:///embed, a real dir pool: the defined domain's volume files are deleted."""
    pool = tmp_path / "pool"
    pool.mkdir()
    disk = pool / "d1.img"
    xml = tmp_path / "vm.xml"
    xml.write_text(
        "<domain type='qemu'><name>vm1</name><memory unit='KiB'>131072</memory>"
        "<vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os><devices>"
        f"<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
        f"<source file='{disk}'/><target dev='vda' bus='virtio'/></disk>"
        "<disk type='volume' device='disk'><driver name='qemu' type='raw'/>"
        "<source pool='p' volume='d2.img'/><target dev='vdb' bus='virtio'/></disk>"
        f"<disk type='file' device='disk'><source file='{tmp_path}/loose.img'/>"
        "<target dev='vdc' bus='virtio'/></disk>"
        "</devices></domain>"
    )
    (tmp_path / "loose.img").write_bytes(b"x")
    uri = f"qemu:///embed?root={tmp_path / 'root'}"
    out, err, rc = _run_cli(
        uri,
        f"pool-define-as p dir --target {pool}; pool-start p; vol-create-as p d1.img 1M; "
        f"vol-create-as p d2.img 1M; vol-create-as p keep.img 1M; define {xml}; "
        "undefine vm1 --remove-all-storage --wipe-storage; list --all --name",
    )
    assert rc == 0, err
    assert "Domain 'vm1' has been undefined\n" in out
    assert f"Wiping volume 'vda'({disk}) ... Done.\nVolume 'vda'({disk}) removed.\n" in out
    assert "Volume 'vdb'(d2.img) removed.\n" in out
    assert (
        f"error: Storage volume 'vdc'({tmp_path}/loose.img) is not managed by libvirt. "
        "Remove it manually.\n" in err
    )
    assert "vm1" not in out.split("has been undefined")[1]
    assert not disk.exists()
    assert not (pool / "d2.img").exists()
    assert (pool / "keep.img").exists()
    assert (tmp_path / "loose.img").exists()


def test_undefine_storage_names_no_disk_on_a_dir_pool(tmp_path: Path) -> None:
    """A --storage entry that names no disk: error, nothing undefined, nothing deleted."""
    pool = tmp_path / "pool"
    pool.mkdir()
    xml = tmp_path / "vm.xml"
    xml.write_text(
        "<domain type='qemu'><name>vm2</name><memory unit='KiB'>131072</memory>"
        "<vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os><devices>"
        f"<disk type='file' device='disk'><source file='{pool}/d1.img'/>"
        "<target dev='vda' bus='virtio'/></disk></devices></domain>"
    )
    uri = f"qemu:///embed?root={tmp_path / 'root'}"
    out, err, rc = _run_cli(
        uri,
        f"pool-define-as p dir --target {pool}; pool-start p; vol-create-as p d1.img 1M; "
        f"define {xml}; undefine vm2 --storage vda,vdq",
    )
    assert rc == 1
    assert "error: Volume 'vdq' was not found in domain's definition.\n\n" in err
    assert (pool / "d1.img").exists()
    out, err, rc = _run_cli(uri, "list --all --name")
    assert "vm2" in out
