"""``<storagepoolCapabilities>``: libvirt's virStoragePoolCapsFormat for this driver.

Every pool type libvirt knows is listed, in virStoragePoolType order, with the format
enums of libvirt's pool/volume option tables (storage_conf.c); ``supported`` says
whether this driver has a backend for the type.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = ["POOL_TYPES", "pool_capabilities_xml"]

# virStoragePoolType, in enum order
POOL_TYPES = ("dir", "fs", "netfs", "logical", "disk", "iscsi", "iscsi-direct", "scsi",
              "mpath", "rbd", "sheepdog", "gluster", "zfs", "vstorage")

# virStorageFileFormat up to VIR_STORAGE_FILE_LAST (the file volume formats)
_FILE_FORMATS = ("none", "raw", "dir", "bochs", "cloop", "dmg", "iso", "vpc", "vdi", "fat",
                 "vhd", "ploop", "cow", "qcow", "qcow2", "qed", "vmdk")
_FS_FORMATS = ("auto", "ext2", "ext3", "ext4", "ufs", "iso9660", "udf", "gfs", "gfs2",
               "vfat", "hfs+", "xfs", "ocfs2", "vmfs")
_NETFS_FORMATS = ("auto", "nfs", "glusterfs", "cifs")
_LOGICAL_FORMATS = ("unknown", "lvm2")
_DISK_FORMATS = ("unknown", "dos", "dvh", "gpt", "mac", "bsd", "pc98", "sun", "lvm2")
_PART_FORMATS = ("none", "linux", "fat16", "fat32", "linux-swap", "linux-lvm", "linux-raid",
                 "extended")

# type -> (default, values) of the pool's source formats / of its volumes' formats
_POOL_OPTIONS: dict[str, tuple[str, Sequence[str]]] = {
    "fs": ("auto", _FS_FORMATS),
    "netfs": ("auto", _NETFS_FORMATS),
    "logical": ("lvm2", _LOGICAL_FORMATS),
    "disk": ("unknown", _DISK_FORMATS),
}
_VOL_OPTIONS: dict[str, tuple[str, Sequence[str]]] = {
    "dir": ("raw", _FILE_FORMATS),
    "fs": ("raw", _FILE_FORMATS),
    "netfs": ("raw", _FILE_FORMATS),
    "disk": ("none", _PART_FORMATS),
    "rbd": ("raw", ()),  # libvirt lists no rbd formats (its lastFormat is 0)
    "gluster": ("raw", _FILE_FORMATS),
    "vstorage": ("raw", _FILE_FORMATS),
}


def _options(tag: str, enum: str, default: str, values: Iterable[str]) -> list[str]:
    lines = [f"    <{tag}>", f"      <defaultFormat type='{default}'/>",
             f"      <enum name='{enum}'>"]
    lines += [f"        <value>{v}</value>" for v in values]
    lines += ["      </enum>", f"    </{tag}>"]
    return lines


def pool_capabilities_xml(supported: Iterable[str]) -> str:
    """The document, byte for byte as libvirt formats it; ``supported``: pool types
    with a backend here."""
    have = set(supported)
    lines = ["<storagepoolCapabilities>"]
    for t in POOL_TYPES:
        lines.append(f"  <pool type='{t}' supported='{'yes' if t in have else 'no'}'>")
        if t in _POOL_OPTIONS:
            lines += _options("poolOptions", "sourceFormatType", *_POOL_OPTIONS[t])
        if t in _VOL_OPTIONS:
            lines += _options("volOptions", "targetFormatType", *_VOL_OPTIONS[t])
        lines.append("  </pool>")
    lines.append("</storagepoolCapabilities>")
    return "\n".join(lines) + "\n"
