"""qemu-img create options of new volumes (virtkit.drivers.storage.qemuimg_opts), by
assertion; the images themselves are compared with libvirtd's in
test_storage_details_oracle.py."""

from __future__ import annotations

import pytest

from virtkit.drivers.storage.qemuimg_opts import ImgOptions, create_options, size_arg
from virtkit.errors import ErrorCode, VirtError

MiB = 1024 * 1024


def test_qcow2_defaults_to_compat_0_10() -> None:
    assert create_options(ImgOptions("qcow2", MiB)) == ["compat=0.10"]
    assert create_options(ImgOptions("qed", MiB)) == []


def test_libvirt_order_and_values() -> None:
    opts = ImgOptions("qcow2", 3 * MiB, 0, prealloc=True, compat="1.1", cluster_size=4096,
                      features=("extended_l2", "lazy_refcounts"), nocow=True,
                      backing_fmt="raw", encryption=("encrypt.format=luks",))
    assert create_options(opts) == [
        "backing_fmt=raw", "encrypt.format=luks", "preallocation=metadata", "nocow=on",
        "compat=1.1", "cluster_size=4096", "lazy_refcounts", "extended_l2=on"]


def test_preallocation_falloc_when_allocation_covers_capacity() -> None:
    assert create_options(ImgOptions("qcow2", MiB, MiB, prealloc=True))[0] == \
        "preallocation=falloc"
    # compared in KiB rounded up, as libvirt does
    assert create_options(ImgOptions("qcow2", 1500, 1025, prealloc=True))[0] == \
        "preallocation=falloc"


@pytest.mark.parametrize("opts,message", [
    (ImgOptions("qed", MiB, prealloc=True), "metadata preallocation only available with qcow2"),
    (ImgOptions("qed", MiB, compat="1.1"), "compatibility option only available with qcow2"),
    (ImgOptions("vmdk", MiB, features=()), "format features only available with qcow2"),
    (ImgOptions("qcow2", MiB, compat="0.10", features=("lazy_refcounts",)),
     "lazy_refcounts not supported with compat level 0.10"),
    (ImgOptions("qcow2", MiB, compat="0.10", features=("extended_l2",)),
     "'extended_l2' not supported with compat level 0.10"),
])
def test_refusals(opts: ImgOptions, message: str) -> None:
    with pytest.raises(VirtError) as exc:
        create_options(opts)
    assert exc.value.code == ErrorCode.CONFIG_UNSUPPORTED and exc.value.message.endswith(message)


def test_size_in_kib_rounded_up() -> None:
    assert size_arg(0) == "0K"
    assert size_arg(1000000) == "977K"
    assert size_arg(1024) == "1K"
